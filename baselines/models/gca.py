"""GCA-Matting (Li & Lu, AAAI 2020, "Natural Image Matting via Guided Contextual Attention"),
configuration ``gca-dist``.

A from-scratch re-implementation whose ``state_dict()`` equals the official one key for key and
shape for shape (578 keys; reference: ``Yaoyi-Li/GCA-Matting`` @ 5a999be,
``networks.get_generator('resnet_gca_encoder_29', 'res_gca_decoder_22')`` with
``trimap_channel=3``), so an official ``gca-dist.pth`` loads strictly. MMagic's re-implementation
(``configs/gca/gca_r34_4xb10-200k_comp1k.py``) loads too, through :func:`convert_state_dict`.

Architecture (``../shared/reference/architectures.md`` sections 4-8):

* **Encoder** ``encoder.*`` (ResNet-D-34-like, "resnet_gca_encoder_29"): stem of three 3x3 convs
  (6->32 s2, 32->32, 32->64 s2), each conv->BN->ReLU; ``layer1`` (3 BasicBlocks, 64),
  ``layer2`` (4, 128, s2), ``layer3`` (4, 256, s2), ``layer_bottleneck`` (2, 512, s2). Strided
  blocks downsample the identity with AvgPool2d(2) + 1x1 conv + BN (ResNet-D). A guidance head
  (three reflect-padded 3x3 s2 convs 3->16->32->128 on the RGB channels, conv->ReLU->BN) feeds the
  guided contextual attention block ``encoder.gca`` applied after ``layer2`` (1/8 scale). Five
  shortcut branches (two 3x3 convs each, conv->ReLU->BN) tap the input and the 1/2 ... 1/16
  features; they are consumed by the decoder.
* **Decoder** ``decoder.*`` ("res_gca_decoder_22"): ``layer1``-``layer4`` (2, 3, 3, 2 BasicBlocks;
  256, 128, 64, 32 channels), each starting with a spectral-norm ConvTranspose2d (k4, s2, p1) and
  a nearest-upsample + 1x1 conv + BN identity path; LeakyReLU(0.2) throughout; the shortcut
  features are added after each layer; ``decoder.gca`` follows ``layer2``; then
  ConvTranspose2d 32->32 (k4 s2) + BN + LeakyReLU (+ shortcut of the input), and a plain 3x3
  conv 32->1 with bias. Output ``alpha = (tanh(x) + 1) / 2``.
* **Spectral norm** on 70 of the 75 convs, in the official (SA-GAN style) form
  :class:`SpectralNorm`: ``weight_bar`` trainable, ``weight_u`` / ``weight_v`` stored as
  ``nn.Parameter(requires_grad=False)``. Hence ``parameters()`` counts 25,269,144 values (the
  published 25.27M) of which 25,164,529 are trainable.

Public helpers: :func:`trimap_onehot`, :func:`gca_preprocess`, :func:`gca_infer` (the official
test-time protocol), :func:`layer_groups` (BN names by encoder/decoder, for pruning histograms),
:func:`convert_state_dict` (official and MMagic key styles).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from baselines.models.registry import register_model
from metrics import InputError

__all__ = [
    "GCAMatting",
    "GCAEncoder",
    "GCADecoder",
    "GuidedCxtAtten",
    "SpectralNorm",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TRIMAP_BG_BELOW",
    "TRIMAP_FG_FROM",
    "trimap_onehot",
    "gca_preprocess",
    "gca_infer",
    "layer_groups",
    "convert_state_dict",
    "mmagic_key_to_official",
    "gca",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: 8-bit trimap classes as in the official ``dataloader/data_generator.py`` ``ToTensor``:
#: background ``< 85``, foreground ``>= 170``, unknown otherwise.
TRIMAP_BG_BELOW = 85
TRIMAP_FG_FROM = 170

#: Official names of the five spectral-norm ConvTranspose2d layers (k4, s2, p1).
_TRANSPOSED_SN = (
    "decoder.layer1.0.conv1",
    "decoder.layer2.0.conv1",
    "decoder.layer3.0.conv1",
    "decoder.layer4.0.conv1",
    "decoder.conv1",
)


# --------------------------------------------------------------------------------------------
# Spectral norm (official ops.SpectralNorm semantics)
# --------------------------------------------------------------------------------------------


def _l2normalize(v: Tensor, eps: float = 1e-12) -> Tensor:
    # official ops.l2normalize: v / (||v|| + eps)  (eps added, not max'ed as in torch's version)
    return v / (v.norm() + eps)


class SpectralNorm(nn.Module):
    """Spectral normalisation wrapper with the official GCA-Matting parameter layout.

    The wrapped convolution ``module`` loses its ``weight`` and gets, in this registration
    order, ``weight_u`` (``out0``), ``weight_v`` (``prod(shape[1:])``) and ``weight_bar`` (the
    unnormalised weight), so keys read ``<name>.module.weight_u|weight_v|weight_bar``. ``u`` and
    ``v`` are ``nn.Parameter(requires_grad=False)`` as in the official ``ops.SpectralNorm``
    (MMagic / ``torch.nn.utils.spectral_norm`` keep them as buffers instead).

    The weight used is ``W = weight_bar / sigma`` with ``sigma = u . (W_mat v)`` where
    ``W_mat = weight_bar.reshape(shape[0], -1)``; note that for ``ConvTranspose2d`` this is the
    *input*-channel dimension (official behaviour; ``torch.nn.utils.spectral_norm`` uses dim 1
    there). In training mode (of the wrapped module) ``power_iterations`` steps
    ``v <- normalise(W_mat^T u)``, ``u <- normalise(W_mat v)`` update ``u`` and ``v`` in place
    first (no gradient through them); in eval mode the stored ``u`` and ``v`` are used as they
    are, with no normalisation. ``normalise(x) = x / (||x|| + 1e-12)``.

    Parameters
    ----------
    module
        A bias-free ``nn.Conv2d`` or ``nn.ConvTranspose2d`` with zero padding mode. Its current
        weight becomes ``weight_bar``; ``u`` and ``v`` start as normalised N(0, 1) draws.
    power_iterations
        Power-iteration steps per training forward (official: 1).
    """

    def __init__(self, module: nn.Conv2d | nn.ConvTranspose2d, power_iterations: int = 1) -> None:
        super().__init__()
        if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            raise TypeError(f"SpectralNorm wraps Conv2d/ConvTranspose2d, not {type(module)}")
        if module.bias is not None or module.padding_mode != "zeros":
            raise ValueError("SpectralNorm here supports bias-free, zero-padded convolutions")
        w = module.weight.detach().clone()
        del module._parameters["weight"]
        height = w.shape[0]
        width = w[0].numel()
        module.register_parameter(
            "weight_u", nn.Parameter(_l2normalize(w.new_empty(height).normal_()), False)
        )
        module.register_parameter(
            "weight_v", nn.Parameter(_l2normalize(w.new_empty(width).normal_()), False)
        )
        module.register_parameter("weight_bar", nn.Parameter(w))
        self.module = module
        self.power_iterations = int(power_iterations)

    @torch.no_grad()
    def power_iterate(self, steps: int = 1) -> None:
        """Run ``steps`` power-iteration updates of ``u`` and ``v`` (whatever the mode)."""
        m = self.module
        mat = m.weight_bar.reshape(m.weight_bar.shape[0], -1)
        for _ in range(steps):
            m.weight_v.copy_(_l2normalize(mat.t().mv(m.weight_u)))
            m.weight_u.copy_(_l2normalize(mat.mv(m.weight_v)))

    def effective_weight(self) -> Tensor:
        """The normalised weight ``weight_bar / sigma`` (runs the power iteration in training)."""
        m = self.module
        w_bar: Tensor = m.weight_bar
        u: Tensor = m.weight_u
        v: Tensor = m.weight_v
        mat = w_bar.reshape(w_bar.shape[0], -1)
        if m.training:
            self.power_iterate(self.power_iterations)
            # clones: a later in-place update must not invalidate this graph (cf. torch's SN)
            u, v = u.clone(), v.clone()
        sigma = torch.dot(u, mat.mv(v))
        return w_bar / sigma

    def forward(self, x: Tensor) -> Tensor:
        m = self.module
        w = self.effective_weight()
        if isinstance(m, nn.ConvTranspose2d):
            return F.conv_transpose2d(
                x, w, None, m.stride, m.padding, m.output_padding, m.groups, m.dilation
            )
        return F.conv2d(x, w, None, m.stride, m.padding, m.dilation, m.groups)


def _sn_conv(
    cin: int, cout: int, k: int, stride: int = 1, padding: int | None = None
) -> SpectralNorm:
    pad = k // 2 if padding is None else padding
    return SpectralNorm(nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False))


def _sn_deconv(c: int) -> SpectralNorm:
    return SpectralNorm(nn.ConvTranspose2d(c, c, 4, stride=2, padding=1, bias=False))


# --------------------------------------------------------------------------------------------
# Guided contextual attention
# --------------------------------------------------------------------------------------------


class GuidedCxtAtten(nn.Module):
    """Guided contextual attention block (GCA), written from the paper and the official op.

    Given guidance features ``g`` (from the image, ``guidance_channels``), features ``a`` to
    propagate (``out_channels``) and the unknown mask, all at the same resolution HxW (1/8 of
    the input in GCA-Matting):

    1. ``g <- guidance_conv(g)`` (1x1, halves the channels, with bias), then nearest
       downsampling by ``rate`` (every ``rate``-th pixel, i.e. ``F.interpolate(scale_factor=
       1/rate, mode='nearest')`` for sizes divisible by ``rate``), giving ``h x w`` positions.
    2. **Keys**: the 3x3 patch of ``g`` around every position (reflect padding 1). The
       similarity of source patch ``l`` and target position ``p`` is
       ``<k_l, k_p> / max(||k_l||, 1e-4)`` (only the source patch is normalised, as in the
       official op).
    3. **Unknown mask and scales**: the mask is downsampled like ``g``; a source patch is
       *unknown* if any pixel of its 3x3 (reflect-padded) neighbourhood is unknown. Per image,
       ``u = mean(mask)``, ``k = 1 - u``; logits of unknown sources are multiplied by
       ``clamp(sqrt(u / k), 0.1, 10)``, of known sources by ``clamp(sqrt(k / u), 0.1, 10)``
       (``u = 0`` or ``1`` gives ``inf``/``0``, clamped; no NaN). Without a mask every patch is
       unknown and both scales equal ``softmax_scale``.
    4. **Self-mask**: ``-1e4`` is added to the logit of a position attending to itself when that
       source patch is unknown (additive, as the official one-hot mask; known sources may
       attend to themselves).
    5. Softmax over the ``h*w`` sources, at every target position (known and unknown alike;
       the paper's restriction to unknown targets is not applied in the official code either).
    6. **Values**: the ``2*rate`` x ``2*rate`` patches of ``a`` with stride ``rate`` (reflect
       padding 1 for rate 2), recombined with the attention weights by overlap-add (the
       official ``conv_transpose2d(attn, patches, stride=rate, padding=1)``), divided by 4.
    7. Output ``W(y) + a`` with ``W`` = 1x1 conv (no bias) + BN; ``W``'s BN gamma is
       initialised to 1e-3 so the block starts close to identity.

    The official op loops over the batch and builds an ``(hw)^2`` one-hot self-mask; this
    version is batched (``bmm``/``unfold``/``fold``) and adds the self-mask on the diagonal,
    which is the same computation up to floating-point summation order. Memory is
    ``O(N (hw)^2)``, as in the official op. Only ``rate=2`` (the published setting) is
    supported.

    Parameters
    ----------
    out_channels
        Channels of the propagated features (128 in GCA-Matting).
    guidance_channels
        Channels of the guidance features (128); the key features have half of them.
    rate
        Downsampling rate of the attention grid (2).
    """

    def __init__(self, out_channels: int = 128, guidance_channels: int = 128, rate: int = 2):
        super().__init__()
        if rate != 2:
            raise ValueError("only rate=2 (the published setting) is implemented")
        self.rate = rate
        self.guidance_conv = nn.Conv2d(guidance_channels, guidance_channels // 2, 1)
        self.W = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        )
        nn.init.xavier_uniform_(self.guidance_conv.weight)
        nn.init.zeros_(self.guidance_conv.bias)
        nn.init.xavier_uniform_(self.W[0].weight)
        nn.init.constant_(self.W[1].weight, 1e-3)
        nn.init.zeros_(self.W[1].bias)

    def forward(
        self,
        guidance: Tensor,
        feature: Tensor,
        unknown: Tensor | None = None,
        *,
        softmax_scale: float = 1.0,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Attend; return ``(W(y) + feature, (offsets, softmax_scales))``.

        ``offsets`` (N x 2 x h x w, int64) is the (row, column) of the most attended source
        patch minus ``(h // 2, w // 2)`` (the official "absolute position" visualisation);
        ``softmax_scales`` is N x 2 (unknown, known).
        """
        r = self.rate
        n, c, h_full, w_full = feature.shape
        if h_full % r or w_full % r:
            raise InputError(
                f"GCA features must have sizes divisible by {r}, got {h_full}x{w_full}"
            )
        g = self.guidance_conv(guidance)[:, :, ::r, ::r]
        h, w = g.shape[-2:]
        if (h * r, w * r) != (h_full, w_full):
            raise InputError(
                f"guidance {tuple(guidance.shape[-2:])} and features {(h_full, w_full)} differ"
            )
        length = h * w

        # values: (N, C*k*k, L), k = 2r, reflect padding ((k-r+1)//2, (k-r)//2) = (1, 1)
        k = 2 * r
        pl, pr = (k - r + 1) // 2, (k - r) // 2
        values = F.unfold(F.pad(feature, (pl, pr, pl, pr), mode="reflect"), k, stride=r)

        # keys: 3x3 patches of g, (N, Cg*9, L)
        keys = F.unfold(F.pad(g, (1, 1, 1, 1), mode="reflect"), 3)

        if unknown is not None:
            unk = unknown[:, :1, ::r, ::r].to(feature)
            u_mean = unk.mean(dim=(2, 3))
            k_mean = 1 - u_mean
            scales = torch.cat(
                [
                    torch.clamp(torch.sqrt(u_mean / k_mean), 0.1, 10),
                    torch.clamp(torch.sqrt(k_mean / u_mean), 0.1, 10),
                ],
                dim=1,
            )
            src_unknown = F.unfold(F.pad(unk, (1, 1, 1, 1), mode="reflect"), 3).mean(1) > 0
        else:
            scales = feature.new_tensor([softmax_scale, softmax_scale]).expand(n, 2)
            src_unknown = torch.ones(n, length, dtype=torch.bool, device=feature.device)

        norms = keys.pow(2).sum(dim=1, keepdim=True).sqrt().clamp_min(1e-4)
        logits = torch.bmm((keys / norms).transpose(1, 2), keys)  # (N, L_src, L_tgt)
        src_scale = torch.where(src_unknown, scales[:, :1], scales[:, 1:])  # (N, L_src)
        logits = logits * src_scale.unsqueeze(2)
        diag = torch.arange(length, device=feature.device)
        self_mask = torch.zeros_like(logits)
        self_mask[:, diag, diag] = -1e4 * src_unknown.to(logits)
        attn = F.softmax(logits + self_mask, dim=1)

        best = attn.argmax(dim=1).view(n, h, w)
        offsets = torch.stack([best // w - h // 2, best % w - w // 2], dim=1)

        y = F.fold(torch.bmm(values, attn), (h_full, w_full), k, stride=r, padding=pl) / 4.0
        return self.W(y) + feature, (offsets, scales)


# --------------------------------------------------------------------------------------------
# Encoder / decoder
# --------------------------------------------------------------------------------------------


class _EncBlock(nn.Module):
    """ResNet BasicBlock: SN conv3x3 (stride) -> BN -> ReLU -> SN conv3x3 -> BN, + identity."""

    def __init__(self, cin: int, cout: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _sn_conv(cin, cout, 3, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = _sn_conv(cout, cout, 3)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class _DecBlock(nn.Module):
    """Decoder BasicBlock: (SN ConvTranspose k4 s2 | SN conv3x3) -> BN -> LeakyReLU(0.2) ->
    SN conv3x3 -> BN, + identity (optionally upsampled), LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, upsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _sn_deconv(cin) if stride > 1 else _sn_conv(cin, cin, 3)
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv2 = _sn_conv(cin, cout, 3)
        self.bn2 = nn.BatchNorm2d(cout)
        self.upsample = upsample

    def forward(self, x: Tensor) -> Tensor:
        out = F.leaky_relu(self.bn1(self.conv1(x)), 0.2)
        out = self.bn2(self.conv2(out))
        identity = x if self.upsample is None else self.upsample(x)
        return F.leaky_relu(out + identity, 0.2)


def _enc_layer(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
    down = None
    if stride != 1:  # ResNet-D: average pooling, then a 1x1 conv (keys downsample.1 / .2)
        down = nn.Sequential(nn.AvgPool2d(2, stride), _sn_conv(cin, cout, 1), nn.BatchNorm2d(cout))
    elif cin != cout:
        down = nn.Sequential(_sn_conv(cin, cout, 1), nn.BatchNorm2d(cout))
    layers = [_EncBlock(cin, cout, stride, down)]
    layers += [_EncBlock(cout, cout) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def _dec_layer(cin: int, cout: int, blocks: int) -> nn.Sequential:
    up = nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"), _sn_conv(cin, cout, 1), nn.BatchNorm2d(cout)
    )
    layers = [_DecBlock(cin, cout, 2, up)]
    layers += [_DecBlock(cout, cout) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def _shortcut(cin: int, cout: int) -> nn.Sequential:
    # conv -> ReLU -> BN twice (keys .0 / .2 / .3 / .5)
    return nn.Sequential(
        _sn_conv(cin, cout, 3),
        nn.ReLU(),
        nn.BatchNorm2d(cout),
        _sn_conv(cout, cout, 3),
        nn.ReLU(),
        nn.BatchNorm2d(cout),
    )


def _init_official(module: nn.Module, *, zero_last_bn: type[nn.Module] | None) -> None:
    """Official ``ResNet_D`` / ``ResNet_D_Dec`` init: xavier-uniform ``weight_bar`` of every
    (spectral-norm) ``nn.Conv2d`` (``ConvTranspose2d`` keeps PyTorch's default), xavier weight
    of plain ``Conv2d``, BN gamma 1 / beta 0, and gamma 0 for each block's ``bn2``."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight_bar if hasattr(m, "weight_bar") else m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_last_bn is None:
        return
    for m in module.modules():
        if isinstance(m, zero_last_bn):
            nn.init.zeros_(m.bn2.weight)


class GCAEncoder(nn.Module):
    """``ResGuidedCxtAtten`` encoder ("resnet_gca_encoder_29", layers 3-4-4-2).

    ``forward(x)`` takes the 6-channel input (RGB + one-hot trimap) and returns the 1/32
    bottleneck and a dict with ``shortcut`` (five features at 1/1 ... 1/16), ``image_fea``
    (guidance features, 1/8), ``unknown`` (trimap channel 1 sampled at every 8th pixel, i.e.
    nearest 1/8 downsampling) and ``offset_1`` (attention info). Initialisation follows the
    official code, including the zeroed trimap channels of ``conv1`` (the guidance head and
    shortcuts keep PyTorch's default init, as in the official code, because its init loop only
    catches bare ``nn.Conv2d`` modules).
    """

    def __init__(self, in_channels: int = 6, zero_init_residual: bool = True) -> None:
        super().__init__()
        self.conv1 = _sn_conv(in_channels, 32, 3, 2)
        self.conv2 = _sn_conv(32, 32, 3, 1)
        self.conv3 = _sn_conv(32, 64, 3, 2)
        self.bn1 = nn.BatchNorm2d(32)
        self.bn2 = nn.BatchNorm2d(32)
        self.bn3 = nn.BatchNorm2d(64)
        self.layer1 = _enc_layer(64, 64, 3, 1)
        self.layer2 = _enc_layer(64, 128, 4, 2)
        self.layer3 = _enc_layer(128, 256, 4, 2)
        self.layer_bottleneck = _enc_layer(256, 512, 2, 2)
        _init_official(self, zero_last_bn=_EncBlock if zero_init_residual else None)
        with torch.no_grad():
            self.conv1.module.weight_bar[:, 3:] = 0
        self.shortcut = nn.ModuleList(
            _shortcut(cin, cout)
            for cin, cout in zip(
                (in_channels, 32, 64, 128, 256), (32, 32, 64, 128, 256), strict=True
            )
        )
        self.guidance_head = nn.Sequential(
            nn.ReflectionPad2d(1),
            _sn_conv(3, 16, 3, 2, padding=0),
            nn.ReLU(),
            nn.BatchNorm2d(16),
            nn.ReflectionPad2d(1),
            _sn_conv(16, 32, 3, 2, padding=0),
            nn.ReLU(),
            nn.BatchNorm2d(32),
            nn.ReflectionPad2d(1),
            _sn_conv(32, 128, 3, 2, padding=0),
            nn.ReLU(),
            nn.BatchNorm2d(128),
        )
        self.gca = GuidedCxtAtten(128, 128)

    def forward(self, x: Tensor) -> tuple[Tensor, dict[str, Any]]:
        out = F.relu(self.bn1(self.conv1(x)))
        x1 = F.relu(self.bn2(self.conv2(out)))  # 1/2, 32
        out = F.relu(self.bn3(self.conv3(x1)))  # 1/4, 64
        im_fea = self.guidance_head(x[:, :3])  # 1/8, 128
        unknown = x[:, 4:5, ::8, ::8]  # one-hot channel 1 = unknown, nearest 1/8
        x2 = self.layer1(out)  # 1/4, 64
        x3 = self.layer2(x2)  # 1/8, 128
        x3, offset = self.gca(im_fea, x3, unknown)
        x4 = self.layer3(x3)  # 1/16, 256
        out = self.layer_bottleneck(x4)  # 1/32, 512
        feas = (
            self.shortcut[0](x),
            self.shortcut[1](x1),
            self.shortcut[2](x2),
            self.shortcut[3](x3),
            self.shortcut[4](x4),
        )
        return out, {"shortcut": feas, "image_fea": im_fea, "unknown": unknown, "offset_1": offset}


class GCADecoder(nn.Module):
    """``ResGuidedCxtAtten_Dec`` decoder ("res_gca_decoder_22", layers 2-3-3-2).

    Returns ``(alpha, info)`` with ``alpha = (tanh(x) + 1) / 2`` (N x 1 x H x W) and ``info``
    holding ``offset_1`` (encoder attention) and ``offset_2`` (decoder attention).
    """

    def __init__(self, zero_init_residual: bool = True) -> None:
        super().__init__()
        self.conv1 = _sn_deconv(32)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 1, 3, padding=1)
        self.layer1 = _dec_layer(512, 256, 2)
        self.layer2 = _dec_layer(256, 128, 3)
        self.layer3 = _dec_layer(128, 64, 3)
        self.layer4 = _dec_layer(64, 32, 2)
        _init_official(self, zero_last_bn=_DecBlock if zero_init_residual else None)
        self.gca = GuidedCxtAtten(128, 128)

    def forward(self, x: Tensor, mid: Mapping[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        fea1, fea2, fea3, fea4, fea5 = mid["shortcut"]
        x = self.layer1(x) + fea5  # 1/16
        x = self.layer2(x) + fea4  # 1/8
        x, offset = self.gca(mid["image_fea"], x, mid["unknown"])
        x = self.layer3(x) + fea3  # 1/4
        x = self.layer4(x) + fea2  # 1/2
        x = F.leaky_relu(self.bn1(self.conv1(x)), 0.2) + fea1  # 1/1
        x = self.conv2(x)
        alpha = (torch.tanh(x) + 1.0) / 2.0
        return alpha, {"offset_1": mid["offset_1"], "offset_2": offset}


class GCAMatting(nn.Module):
    """GCA-Matting generator (official ``Generator`` with the gca-dist encoder/decoder).

    ``model(image, trimap)`` with ``image`` N x 3 x H x W (RGB, ImageNet-normalised, see
    :func:`gca_preprocess`) and ``trimap`` N x 3 x H x W one-hot (bg, unknown, fg; see
    :func:`trimap_onehot`); H and W must be multiples of 32 (checked; pad with
    :func:`gca_infer`). Returns alpha N x 1 x H x W in [0, 1]; with ``return_info=True`` also
    the attention info dict (``offset_1``, ``offset_2``: (offsets, softmax scales)), which the
    official forward always returns.

    Parameters
    ----------
    init_power_iterations
        Power-iteration steps run on every spectral-norm ``u``/``v`` after the (official)
        weight init. **Deviation from the official code**, which leaves ``u``/``v`` as random
        unit vectors: then ``sigma = u . (W v)`` of a fresh model is near zero or negative for
        some layers and its eval-mode forward overflows to NaN. The steps make a freshly built
        model usable in eval mode; they change neither the keys nor the weights, and any
        loaded checkpoint overwrites ``u``/``v``. ``0`` gives the official init.
    zero_init_residual
        The official init sets each residual block's last BN scale (``bn2``) to 0 (default).
        ``False`` leaves it at 1: after a short training run (the quick profile of
        ``mattebench reproduce``) the zeroed scales are still near 0, so every BN-scale
        pruning criterion removes the residual streams first, whatever it is; a trained
        checkpoint does not have that problem.
    """

    def __init__(self, init_power_iterations: int = 5, zero_init_residual: bool = True) -> None:
        super().__init__()
        self.encoder = GCAEncoder(6, zero_init_residual=zero_init_residual)
        self.decoder = GCADecoder(zero_init_residual=zero_init_residual)
        for m in self.modules():
            if isinstance(m, SpectralNorm):
                m.power_iterate(init_power_iterations)

    def forward(
        self, image: Tensor, trimap: Tensor, *, return_info: bool = False
    ) -> Tensor | tuple[Tensor, dict[str, Any]]:
        if image.ndim != 4 or image.shape[1] != 3 or trimap.ndim != 4 or trimap.shape[1] != 3:
            raise InputError(
                f"GCA expects image and one-hot trimap as N x 3 x H x W, got "
                f"{tuple(image.shape)} and {tuple(trimap.shape)}"
            )
        if image.shape[-2:] != trimap.shape[-2:] or image.shape[0] != trimap.shape[0]:
            raise InputError(f"sizes {tuple(image.shape)} vs {tuple(trimap.shape)}")
        h, w = image.shape[-2:]
        if h % 32 or w % 32:
            raise InputError(f"GCA needs H and W divisible by 32, got {h}x{w} (see gca_infer)")
        emb, mid = self.encoder(torch.cat((image, trimap.to(image)), dim=1))
        alpha, info = self.decoder(emb, mid)
        return (alpha, info) if return_info else alpha


# --------------------------------------------------------------------------------------------
# Pre-processing, inference protocol, layer groups
# --------------------------------------------------------------------------------------------


def _trimap_classes(trimap: np.ndarray | Tensor, name: str = "trimap") -> Tensor:
    t = torch.as_tensor(trimap)
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.is_complex():
        raise InputError(f"{name} must be 8-bit (integer 0..255), got {t.dtype}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) > 255):
        raise InputError(f"{name} has values outside 0..255 ({int(t.min())}..{int(t.max())})")
    t = t.long()
    return torch.where(t < TRIMAP_BG_BELOW, 0, torch.where(t >= TRIMAP_FG_FROM, 2, 1))


def trimap_onehot(trimap: np.ndarray | Tensor) -> Tensor:
    """The 3-channel one-hot trimap GCA takes: channel 0 background (``< 85``), 1 unknown,
    2 foreground (``>= 170``), from an 8-bit trimap.

    Parameters
    ----------
    trimap
        Integer array/tensor with values 0..255, shaped H x W, N x H x W or N x 1 x H x W. Float
        input is rejected (no guessing whether it is /255-scaled).

    Returns
    -------
    torch.Tensor
        float32, N x 3 x H x W (N = 1 for an H x W input).

    Examples
    --------
    >>> import numpy as np
    >>> trimap_onehot(np.array([[0, 84, 85], [128, 169, 170]], np.uint8))[0].argmax(0).tolist()
    [[0, 0, 1], [1, 1, 2]]
    """
    cls = _trimap_classes(trimap)
    if cls.ndim == 2:
        cls = cls[None]
    elif cls.ndim == 4 and cls.shape[1] == 1:
        cls = cls[:, 0]
    elif cls.ndim != 3:
        raise InputError(f"trimap must be HxW, NxHxW or Nx1xHxW, got {tuple(cls.shape)}")
    return F.one_hot(cls, num_classes=3).permute(0, 3, 1, 2).float()


def gca_preprocess(image_uint8_rgb: np.ndarray, trimap_uint8: np.ndarray) -> tuple[Tensor, Tensor]:
    """Official GCA input tensors from an 8-bit RGB image and an 8-bit trimap.

    Follows ``dataloader/data_generator.py`` ``ToTensor`` (test phase): float32 ``/255``, then
    ``(x - mean) / std`` with ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225),
    in float32; trimap classes bg ``< 85``, fg ``>= 170``, unknown otherwise, one-hot. The
    official loader reads BGR with OpenCV and flips to RGB; here the caller passes RGB. No
    padding is done here (see :func:`gca_infer`).

    Parameters
    ----------
    image_uint8_rgb
        H x W x 3 uint8, RGB order.
    trimap_uint8
        H x W uint8 (0 / 128 / 255 or any 8-bit values, thresholded as above).

    Returns
    -------
    tuple of torch.Tensor
        ``image`` 1 x 3 x H x W float32 and ``trimap`` 1 x 3 x H x W float32 one-hot.

    Raises
    ------
    InputError
        On a non-uint8 image, a wrong number of channels, or mismatched sizes.
    """
    img, tri = _check_pair(image_uint8_rgb, trimap_uint8)
    x = img.transpose(2, 0, 1).astype(np.float32)
    x /= 255.0
    t = torch.from_numpy(np.ascontiguousarray(x))
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    t = t.sub_(mean).div_(std)
    return t[None], trimap_onehot(tri)


def _check_pair(image: Any, trimap: Any) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(image)
    tri = np.asarray(trimap)
    if img.dtype != np.uint8:
        raise InputError(f"image must be uint8, got {img.dtype}")
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"image must be HxWx3 RGB, got shape {img.shape}")
    if tri.ndim != 2:
        raise InputError(f"trimap must be HxW, got shape {tri.shape}")
    if tri.shape != img.shape[:2]:
        raise InputError(
            f"sizes {img.shape[0]}x{img.shape[1]} (image) vs {tri.shape[0]}x{tri.shape[1]} (trimap)"
        )
    return img, tri


def gca_infer(
    model: nn.Module,
    image: np.ndarray,
    trimap: np.ndarray,
    *,
    force_known: bool = True,
    protocol: Literal["tester", "demo"] = "tester",
) -> np.ndarray:
    """Predict one alpha matte with the official GCA test-time protocol.

    ``protocol="tester"`` (default; ``tester.py`` with ``scale="origin"``, used for the paper's
    numbers): reflect-pad bottom and right up to the next multiple of 32 (``np.pad(...,
    mode="reflect")`` on the 8-bit image and trimap, as ``OriginScale``; no padding when already
    a multiple), forward under ``torch.no_grad()`` in eval mode, crop ``[:h, :w]``.
    ``protocol="demo"`` (``demo.py``): reflect-pad 32 px on every side plus up to the multiple
    of 32, crop ``[32:h+32, 32:w+32]``. Both then, with ``force_known``, set alpha to 1 where
    the trimap is foreground (``>= 170``) and 0 where background (``< 85``). The official code
    then multiplies by 255 (``demo.py`` truncates to uint8); this function returns floats and
    leaves quantisation to the caller.

    Parameters
    ----------
    model
        A :class:`GCAMatting` (or any module with the same call signature). It is switched
        to eval mode for the call and every submodule's previous mode is restored afterwards;
        inputs go to the device of its first parameter.
    image
        H x W x 3 uint8 RGB.
    trimap
        H x W uint8.
    force_known
        Copy the known trimap regions into the result.
    protocol
        ``"tester"`` or ``"demo"`` padding, as above.

    Returns
    -------
    numpy.ndarray
        H x W float32 alpha in [0, 1].
    """
    img, tri = _check_pair(image, trimap)
    cls = _trimap_classes(tri).numpy()
    h, w = tri.shape
    ph, pw = -h % 32, -w % 32
    if protocol == "tester":
        top = left = 0
    elif protocol == "demo":
        top = left = 32
    else:
        raise InputError(f"protocol must be 'tester' or 'demo', got {protocol!r}")
    pads = ((top, ph + top), (left, pw + left))
    if any(p for pair in pads for p in pair):
        img = np.pad(img, (*pads, (0, 0)), mode="reflect")
        tri = np.pad(tri, pads, mode="reflect")
    x, t = gca_preprocess(img, tri)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            out = model(x.to(device), t.to(device))
    finally:
        for m, mode in modes:  # restore every submodule's own mode (e.g. frozen BNs)
            m.training = mode
    alpha = out[0] if isinstance(out, tuple) else out
    alpha = alpha[0, 0].float().cpu().numpy()[top : top + h, left : left + w].copy()
    if force_known:
        alpha[cls == 2] = 1.0
        alpha[cls == 0] = 0.0
    return alpha.astype(np.float32, copy=False)


def layer_groups(model: nn.Module) -> dict[str, list[str]]:
    """BatchNorm layer names of a GCA model split into ``encoder`` and ``decoder``.

    The split is by the ``encoder.`` / ``decoder.`` prefix (``architectures.md`` section 4): the
    encoder group includes the 10 shortcut BNs (whose features the decoder consumes), the 3
    guidance-head BNs and ``encoder.gca.W.1``; the decoder group includes ``decoder.gca.W.1``.
    Names are in registration order (that of ``gca.json: bn_layers``); the official model has
    46 encoder BNs (7,856 channels) and 26 decoder BNs (3,424 channels).

    Parameters
    ----------
    model
        A :class:`GCAMatting` (names are relative to it; a wrapper's prefix is not stripped).

    Returns
    -------
    dict
        ``{"encoder": [...], "decoder": [...]}``.
    """
    groups: dict[str, list[str]] = {"encoder": [], "decoder": []}
    for name, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            part = name.split(".", 1)[0]
            if part not in groups:
                raise InputError(f"BN layer {name!r} is neither under encoder. nor decoder.")
            groups[part].append(name)
    return groups


# --------------------------------------------------------------------------------------------
# Checkpoint key styles
# --------------------------------------------------------------------------------------------

_MM_SN_LEAF = {"weight_orig": "weight_bar", "weight_u": "weight_u", "weight_v": "weight_v"}
_MM_KEY = re.compile(r"(?P<mod>.+)\.(?P<kind>conv|bn)\.(?P<leaf>[^.]+)")


def _mm_convmodule(mod: str, key: str) -> tuple[str, str]:
    """Official (conv path, bn path) of an MMagic ``ConvModule`` path (after layer renames)."""
    if m := re.fullmatch(r"(.+)\.conv(\d)", mod):  # stem, block conv1/conv2, decoder conv1/2
        return mod, f"{m[1]}.bn{m[2]}"
    if m := re.fullmatch(r"(.+\.(?:downsample|upsample))\.1", mod):
        return mod, f"{m[1]}.2"
    if m := re.fullmatch(r"encoder\.shortcut\.(\d+)\.([01])", mod):
        i = int(m[2])
        return f"encoder.shortcut.{m[1]}.{3 * i}", f"encoder.shortcut.{m[1]}.{3 * i + 2}"
    if m := re.fullmatch(r"encoder\.guidance_head\.([012])", mod):
        i = int(m[1])
        return f"encoder.guidance_head.{4 * i + 1}", f"encoder.guidance_head.{4 * i + 3}"
    if m := re.fullmatch(r"(.+\.gca)\.out_conv", mod):
        return f"{m[1]}.W.0", f"{m[1]}.W.1"
    raise InputError(f"unrecognised MMagic GCA key {key!r}")


def mmagic_key_to_official(key: str) -> str:
    """Map one MMagic ``ResGCAEncoder``/``ResGCADecoder`` key to the official key.

    Rules (derived from ``gca_mmagic.json`` vs ``gca.json``; every one of the 578 keys is
    covered by the tests): ``encoder.layer4`` -> ``encoder.layer_bottleneck``;
    ``interpolation`` -> ``downsample`` (encoder) / ``upsample`` (decoder); a ``ConvModule``
    ``X.conv.weight_orig|weight_u|weight_v`` -> ``X'.module.weight_bar|weight_u|weight_v`` and
    ``X.bn.*`` -> the BN that follows it in the official layout (``convN`` -> ``bnN``,
    ``…sample.1`` -> ``…sample.2``, ``shortcut.S.i`` -> ``shortcut.S.{3i}`` / ``{3i+2}``,
    ``guidance_head.i`` -> ``guidance_head.{4i+1}`` / ``{4i+3}``, ``gca.out_conv`` ->
    ``gca.W.0`` / ``gca.W.1``); non-spectral-norm ``X.conv.weight|bias`` -> ``X'.weight|bias``.

    Examples
    --------
    >>> mmagic_key_to_official("encoder.layer4.0.interpolation.1.bn.running_var")
    'encoder.layer_bottleneck.0.downsample.2.running_var'
    >>> mmagic_key_to_official("encoder.guidance_head.2.conv.weight_orig")
    'encoder.guidance_head.9.module.weight_bar'
    """
    k = key
    if k.startswith("encoder.layer4."):
        k = "encoder.layer_bottleneck." + k[len("encoder.layer4.") :]
    if ".interpolation." in k:
        k = k.replace(
            ".interpolation.", ".downsample." if k.startswith("encoder.") else ".upsample."
        )
    m = _MM_KEY.fullmatch(k)
    if m is None:  # gca.guidance_conv.weight|bias: same name in both
        return k
    conv_path, bn_path = _mm_convmodule(m["mod"], key)
    if m["kind"] == "bn":
        return f"{bn_path}.{m['leaf']}"
    if m["leaf"] in _MM_SN_LEAF:
        return f"{conv_path}.module.{_MM_SN_LEAF[m['leaf']]}"
    return f"{conv_path}.{m['leaf']}"


def _is_mmagic(sd: Mapping[str, Any]) -> bool:
    return any(k.endswith(".weight_orig") or ".out_conv." in k for k in sd)


def _refit_transposed_uv(sd: dict[str, Tensor], name: str) -> None:
    """Make official-layout ``u``/``v`` reproduce an MMagic transposed conv's eval weight.

    ``torch.nn.utils.spectral_norm`` (MMagic) normalises a ``ConvTranspose2d`` weight
    (in x out x k x k) over dim 1, ``sigma_mm = u . (W.transpose(0, 1).reshape(out, -1) v)``,
    while the official op uses ``W.reshape(in, -1)``: the two ``u``/``v`` live in different
    spaces and cannot be copied. ``weight_bar`` is kept; ``v`` and ``u`` become the top singular
    pair of the official matrix (30 float64 power-iteration steps from a vector of ones), ``u``
    then scaled so that ``u . (W v)`` equals ``sigma_mm``: the eval-mode weight is then
    MMagic's (up to float rounding), and the first training step renormalises ``u`` (official
    semantics from there on).
    """
    w = sd[f"{name}.module.weight_bar"]
    u_mm = sd[f"{name}.module.weight_u"]
    v_mm = sd[f"{name}.module.weight_v"]
    wd = w.detach().double()
    sigma_mm = torch.dot(
        u_mm.double(), wd.transpose(0, 1).reshape(w.shape[1], -1).mv(v_mm.double())
    )
    mat = wd.reshape(w.shape[0], -1)
    u = torch.ones(mat.shape[0], dtype=torch.float64)  # deterministic start
    for _ in range(30):  # power iteration: (approximately) the top singular pair
        v_new = _l2normalize(mat.t().mv(u))
        u = _l2normalize(mat.mv(v_new))
    s = torch.dot(u, mat.mv(v_new))
    if s.abs() < 1e-30:
        raise InputError(f"{name}: degenerate transposed-conv weight, cannot refit u/v")
    u_new = u * (sigma_mm / s)
    sd[f"{name}.module.weight_u"] = u_new.to(u_mm.dtype)
    sd[f"{name}.module.weight_v"] = v_new.to(v_mm.dtype)


def convert_state_dict(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Official or MMagic GCA state_dict -> ours (= the official key style).

    * Official (``gca-dist.pth``'s ``["state_dict"]``): identity, after dropping a leading
      ``module.`` from each key (the official ``utils.remove_prefix_state_dict``).
    * MMagic: a leading ``backbone.`` is dropped, ``data_preprocessor.*`` entries (not model
      weights) are ignored, every key is renamed by :func:`mmagic_key_to_official`, and the
      five transposed convs get refitted ``u``/``v`` (:func:`_refit_transposed_uv`) because
      MMagic normalises them over the other weight dimension. Detected by any key ending in
      ``.weight_orig`` or containing ``.out_conv.``.

    Unknown or missing keys are left for the strict loader to report.
    """
    out = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in sd.items()}
    if not _is_mmagic(out):
        return out
    out = {
        (k[len("backbone.") :] if k.startswith("backbone.") else k): v
        for k, v in out.items()
        if not k.startswith("data_preprocessor.")
    }
    out = {mmagic_key_to_official(k): v for k, v in out.items()}
    for name in _TRANSPOSED_SN:
        if all(f"{name}.module.{leaf}" in out for leaf in ("weight_bar", "weight_u", "weight_v")):
            _refit_transposed_uv(out, name)
    return out


@register_model(
    "gca",
    published_params=25_269_144,
    convert_state_dict=convert_state_dict,
    description="GCA-Matting (Li & Lu, AAAI 2020), gca-dist; RGB + one-hot trimap, 25.27M",
)
def gca(*, zero_init_residual: bool = True) -> GCAMatting:
    """GCA-Matting, official ``gca-dist`` architecture (random init; load with ``checkpoint=``).

    The published 25.27M counts the spectral-norm ``u``/``v`` vectors (25,269,144 values in
    ``parameters()``; 25,164,529 trainable). ``zero_init_residual``: see :class:`GCAMatting`.
    """
    return GCAMatting(zero_init_residual=zero_init_residual)
