"""SDNet: a compact portrait matting network trained with self-distillation.

Li, Xu, Xie, Tang, Lu, "SDNet: An Extremely Efficient Portrait Matting Model via
Self-Distillation" (``../shared/papers/sdnet-self-distillation-portrait-matting.md``). The
authors released no code; this is a clean-room build from the paper (Sec. 3.1-3.3, Fig. 2-4,
Eq. 2-5) and from the gOctConv / ILBlock structure of CSNet (Cheng, Gao et al., ECCV 2020 /
TPAMI 2021, the paper's ref. [8]), whose code was read for structure only
(``ShangHua-Gao/SOD100K``, ``CSNet/model/csnet.py``); nothing is copied from it.

Layout (``SDNet`` docstring for every choice the paper leaves open)::

    x (N, C, H, W) --pad to a multiple of model.stride-->
    stem ILBlock (3x3 gOctConv, single scale -> 2 scales)
    stage 1: 3 ILBlocks                      (hi, lo) at stride s, 2s        -> F_enc^1
    stage 2: 4 ILBlocks, first stride 2      (hi, lo), merged to one scale   -> F_enc^2
    stage 3: 6 ILBlocks, first stride 2                                      -> F_enc^3
    stage 4: 4 ILBlocks, first stride 2                                      -> F_enc^4
    AMPA_i(F_enc^i) -> 3x3 conv-BN-ReLU -> F_dec^i                  (i = 2, 3, 4)
    Fbar_dec^4 = 1x1(F_dec^4);  Fbar_dec^i = 1x1([UP(Fbar_dec^(i+1)), F_dec^i])  (1 channel)
    side alphas = sigmoid(UP(Fbar_dec^i))                           (deep to shallow)
    chi_4 = gOct(Fbar^4); chi_3, chi_4* = gOct(Fbar^3, chi_4); chi_2 = gOct(Fbar^2, chi_3, chi_4*)
    alpha = sigmoid(UP(1x1(chi_2))), cropped back to H x W

Registered as ``"sdnet"`` (RGB + trimap, 4 channels) and ``"sdnet-trimap-free"`` (RGB).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from baselines.models.registry import register_model
from metrics import InputError
from metrics.common import as_trimap, check_same_shape

__all__ = [
    "SDNet",
    "SDNetOutput",
    "GOctConv",
    "ILBlock",
    "AMPA",
    "SEBlock",
    "layer_groups",
    "sdnet_preprocess",
    "sdnet",
    "sdnet_trimap_free",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PUBLISHED_PARAMS",
]

#: The paper's Table 4 count (2.03 M, 8.1 MB); approximate, so tests use a tolerance.
PUBLISHED_PARAMS = 2_030_000
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _up(x: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinear resize to ``size`` (``align_corners=False``); a no-op at the same size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _split(width: int, ratio: float) -> list[int]:
    """Per-scale channels ``[high, low]`` of a 2-scale feature of ``width`` channels."""
    low = int(round(width * ratio))
    return [width - low, low] if 0 < low < width else [width]


# --------------------------------------------------------------------------------------------
# Generalised octave convolution
# --------------------------------------------------------------------------------------------


class GOctConv(nn.Module):
    """Generalised octave convolution (gOctConv, CSNet [8]) on a list of multi-scale features.

    Input branch ``i`` lives at ``1/2**i`` of branch 0's resolution and has
    ``in_channels[i]`` channels; output branch ``j`` likewise. Every (input, output) pair has
    its own convolution (together exactly the parameters of one dense convolution over all
    channels): a higher-resolution input is max-pooled by ``2**(j - i)`` before the
    convolution, a lower-resolution one is convolved and then bilinearly upsampled to the
    output's size, and all contributions to one output branch are summed. With ``stride=2``
    every input is first 2x2 average-pooled (as in CSNet). Output branch ``j`` has the spatial
    size of input branch ``j`` when it exists, else ``size(branch 0) // 2**j``; the model pads
    its input so these sizes are exact.

    Parameters
    ----------
    in_channels, out_channels
        Channels per scale, highest resolution first. A zero entry means an absent branch.
    kernel_size
        Square kernel (padding ``kernel_size // 2``).
    stride
        1 or 2.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: Sequence[int],
        kernel_size: int = 1,
        stride: int = 1,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.in_channels = [int(c) for c in in_channels]
        self.out_channels = [int(c) for c in out_channels]
        self.stride = stride
        self.convs = nn.ModuleDict()
        for i, ci in enumerate(self.in_channels):
            for j, co in enumerate(self.out_channels):
                if ci and co:
                    self.convs[f"{i}to{j}"] = nn.Conv2d(
                        ci, co, kernel_size, padding=kernel_size // 2, bias=False
                    )

    def forward(self, xs: Sequence[Tensor]) -> list[Tensor]:
        """Convolve the list of scales ``xs`` (highest resolution first)."""
        if len(xs) != len(self.in_channels):
            raise ValueError(f"expected {len(self.in_channels)} scales, got {len(xs)}")
        if self.stride == 2:
            xs = [F.avg_pool2d(x, 2) for x in xs]
        h0, w0 = xs[0].shape[-2:]
        sizes = [
            tuple(xs[j].shape[-2:]) if j < len(xs) else (h0 // 2**j, w0 // 2**j)
            for j in range(len(self.out_channels))
        ]
        outs: list[Tensor] = []
        for j in range(len(self.out_channels)):
            acc: Tensor | None = None
            for i, x in enumerate(xs):
                key = f"{i}to{j}"
                if key not in self.convs:
                    continue
                conv = self.convs[key]
                if i < j:
                    y = conv(F.max_pool2d(x, 2 ** (j - i)))
                elif i > j:
                    y = _up(conv(x), sizes[j])
                else:
                    y = conv(x)
                acc = y if acc is None else acc + y
            if acc is None:
                raise ValueError(f"output scale {j} receives no input")
            outs.append(acc)
        return outs


class GOctCBR(nn.Module):
    """gOctConv + per-scale BatchNorm + PReLU (CSNet's ``gOctaveCBR``)."""

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: Sequence[int],
        kernel_size: int = 1,
        stride: int = 1,
    ) -> None:
        super().__init__()
        self.conv = GOctConv(in_channels, out_channels, kernel_size, stride)
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in out_channels)
        self.acts = nn.ModuleList(nn.PReLU(c) for c in out_channels)

    def forward(self, xs: Sequence[Tensor]) -> list[Tensor]:
        """Convolve, normalise and activate every scale."""
        return [a(b(y)) for y, b, a in zip(self.conv(xs), self.bns, self.acts, strict=True)]


class _DepthwiseBR(nn.Module):
    """Simplified gOctConv: a per-scale depthwise 3x3 conv + BN + PReLU, no scale exchange."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False) for c in channels
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in channels)
        self.acts = nn.ModuleList(nn.PReLU(c) for c in channels)

    def forward(self, xs: Sequence[Tensor]) -> list[Tensor]:
        return [a(b(c(x))) for x, c, b, a in zip(xs, self.convs, self.bns, self.acts, strict=True)]


class ILBlock(nn.Module):
    """Inception-like block of CSNet: gOctConv-BN-PReLU, then two depthwise 3x3 per scale.

    The gOctConv is 1x1 (the pointwise, cross-scale mixing) except for the network's first
    block and stride-2 blocks, where it is 3x3. No residual connection (as in CSNet).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: Sequence[int],
        *,
        stride: int = 1,
        first: bool = False,
    ) -> None:
        super().__init__()
        k = 3 if first or stride == 2 else 1
        self.goct = GOctCBR(in_channels, out_channels, kernel_size=k, stride=stride)
        self.dw1 = _DepthwiseBR(out_channels)
        self.dw2 = _DepthwiseBR(out_channels)

    def forward(self, xs: Sequence[Tensor]) -> list[Tensor]:
        """Map a list of scales to a list of scales."""
        return self.dw2(self.dw1(self.goct(xs)))


# --------------------------------------------------------------------------------------------
# AMPA
# --------------------------------------------------------------------------------------------


class SEBlock(nn.Module):
    """Squeeze-and-excitation: GAP -> FC(C, C/r) -> ReLU -> FC(C/r, C) -> sigmoid -> scale."""

    def __init__(self, channels: int, reduction: int = 4, min_hidden: int = 8) -> None:
        super().__init__()
        hidden = max(min_hidden, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return x * w


class AMPA(nn.Module):
    """Adaptive Multi-Perspective Aggregation (paper Sec. 3.2, Eq. 2-3, Fig. 3).

    ``out = x + P(SE(Q(ReLU(BN([B_dws(x), B_atr(x), B_asy(x)])))))`` where the three parallel
    branches keep ``C`` channels each: ``B_dws`` a depthwise-separable conv (depthwise 3x3 then
    1x1), ``B_atr`` a depthwise 3x3 atrous conv (dilation ``atrous_rate``), ``B_asy`` a depthwise
    asymmetric pair (``k x 1`` then ``1 x k``, ``k = asym_kernel``); ``Q`` is the 1x1 squeeze
    ``3C -> C``, ``SE`` a squeeze-and-excitation block, ``P`` a 1x1 conv ``C -> C``.
    The atrous and asymmetric branches are depthwise (the paper does not say); the squeeze
    mixes channels after the concatenation.
    """

    def __init__(
        self,
        channels: int,
        *,
        atrous_rate: int = 2,
        asym_kernel: int = 5,
        se_reduction: int = 4,
    ) -> None:
        super().__init__()
        c, k = channels, asym_kernel
        self.dws = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
        )
        self.atrous = nn.Conv2d(
            c, c, 3, padding=atrous_rate, dilation=atrous_rate, groups=c, bias=False
        )
        self.asym = nn.Sequential(
            nn.Conv2d(c, c, (k, 1), padding=(k // 2, 0), groups=c, bias=False),
            nn.Conv2d(c, c, (1, k), padding=(0, k // 2), groups=c, bias=False),
        )
        self.bn = nn.BatchNorm2d(3 * c)
        self.squeeze = nn.Conv2d(3 * c, c, 1)
        self.se = SEBlock(c, se_reduction)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = torch.cat([self.dws(x), self.atrous(x), self.asym(x)], dim=1)
        y = F.relu(self.bn(y))
        return x + self.proj(self.se(self.squeeze(y)))


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


class SDNetOutput(NamedTuple):
    """What :meth:`SDNet.forward` returns.

    Attributes
    ----------
    alpha
        Final matte ``N x 1 x H x W`` in ``[0, 1]`` (sigmoid of the aggregation head).
    side_alphas
        Three side mattes ``sigmoid(UP(Fbar_dec^i))``, ``i = 4, 3, 2`` (deep to shallow), each
        ``N x 1 x H x W`` in ``[0, 1]``; the paper supervises all three with ``L_alpha``.
    features
        ``[Fbar_dec^4, Fbar_dec^3, Fbar_dec^2]`` (deep to shallow): the 1-channel pre-sigmoid
        decoder maps that the paper's self-distillation compares by cosine similarity
        ("best teacher": ``Fbar_dec^2`` teaches the other two). Each at its native resolution
        (strides ``8s, 4s, 2s`` for stem stride ``s``), cropped to ``ceil(H / stride)`` x
        ``ceil(W / stride)``; resize before comparing levels.
    level_features
        ``[F_dec^4, F_dec^3, F_dec^2]``: the wider (``decoder_width``-channel) maps after each
        level's 3x3 conv, same sizes as ``features``. Not used by the paper; for feature
        distillation losses that need channels (SP, OFD, NST).
    """

    alpha: Tensor
    side_alphas: list[Tensor]
    features: list[Tensor]
    level_features: list[Tensor]


class SDNet(nn.Module):
    """SDNet (Li et al.): ILBlock/gOctConv encoder, AMPA, multi-level aggregation decoder.

    Default configuration: **2,036,078 parameters** for ``in_channels=4`` (8.14 MB as float32,
    1 MB = 10^6 bytes; +0.30 %) and 2,035,583 for ``in_channels=3`` (+0.28 %), against the
    paper's "2.03 M / 8.1 MB" (Table 4). The paper gives only this rounded total, so the registry's
    ``published_params=2_030_000`` is an approximate reference: tests compare within a 3 %
    tolerance, never for equality. Without AMPA (``use_ampa=False``, the Table 6 ablation):
    1,416,751 parameters (the three AMPA modules hold 619,327).

    Choices where the paper is silent (each one a constructor argument where it is a number):

    * **Input / where the trimap enters.** Early fusion: the trimap is concatenated to the
      ImageNet-normalised RGB as one channel ``trimap / 255`` (0, 0.5, 1), so the trimap-based
      model has ``in_channels=4`` (``in_channels=6`` takes a one-hot trimap; see
      :func:`sdnet_preprocess`). The trimap-free model has ``in_channels=3``. The network does
      not overwrite known trimap regions; callers that want that do it on ``alpha``.
    * **Widths** ``widths=(55, 110, 220, 220)``: CSNet's ``base * (1, 2, 4, 4)`` pattern with
      ``base=55``, the base whose total is closest to 2.03 M (54 gives 1.97 M, 56 gives 2.10 M).
    * **gOctConv split** ``split=0.5``: every encoder feature has two scales (full and half
      resolution of its stage), half the channels each (CSNet's ``[0.5, 0.5]``; an odd width
      puts the extra channel on the low scale: 55 = 27 + 28). The last block
      of stages 2, 3, 4 merges both scales into one (as in CSNet), so ``F_enc^i`` is a plain
      tensor; the paper's "each stage outputs (H_i, W_i) and (H_i/2, W_i/2) features" is the
      two-scale state inside the stage.
    * **Stem / strides.** A stem ILBlock (3x3 gOctConv) with ``stem_stride=1`` then stages at
      strides 1, 2, 4, 8 (the CSNet layout); ``F_enc^2..4`` are at strides 2, 4, 8 and the
      final alpha is predicted at stride 2 and bilinearly upsampled. Conv MACs at 512x512:
      23.9 G; ``stem_stride=2`` halves every resolution (6.0 G, same parameters). The stem
      is one ILBlock in addition to the paper's 3, 4, 6, 4 (as in CSNet); ILBlocks have no
      residual connection (as in CSNet).
    * **Activations.** PReLU in the encoder and gOctConv blocks (as CSNet), ReLU elsewhere.
    * **AMPA** (one per decoder level ``i = 2, 3, 4``, since Eq. 2 applies it to the
      feature "at each stage"): depthwise atrous and asymmetric branches, ``atrous_rate=2``,
      asymmetric ``asym_kernel=5`` (``5x1`` then ``1x5``), SE reduction ``se_reduction=4``
      (hidden ``max(8, C/4)``), BatchNorm after the concatenation (Eq. 2 writes "LN", the
      text says BN; BN is chosen: it is what channel pruning ranks), 1x1 convs with bias.
    * **Decoder.** The 3x3 convs producing ``F_dec^i`` have ``decoder_width=32`` channels, +BN
      +ReLU. ``Fbar_dec^i`` has **one channel**, as the paper states (the side output is its
      sigmoid). The three aggregation gOctConvs are 3x3 gOctConv-BN-PReLU with
      ``agg_width=32`` channels per scale; ``alpha_f`` is a 1x1 conv with bias.
    * **Upsampling**: bilinear, ``align_corners=False``, everywhere (logits are upsampled,
      then the sigmoid is applied).
    * **Output range**: sigmoid, so ``alpha`` and ``side_alphas`` lie in ``[0, 1]``.
    * **Sizes that are not multiples of the stride.** The input is replicate-padded on the
      bottom and right to a multiple of :attr:`stride` (``16 * stem_stride``: stage 4's
      half-resolution branch) and every output is cropped back, so any ``H, W >= 1`` works.
    * **Initialisation**: PyTorch defaults.

    Parameters
    ----------
    in_channels
        3 (RGB), 4 (RGB + trimap / 255) or 6 (RGB + one-hot trimap); any positive count works.
    use_ampa
        ``False`` builds the no-AMPA ablation (``F_enc^i`` goes straight to the decoder).
    widths
        Channels of stages 1-4 (the stem has ``widths[0]``).
    blocks
        ILBlocks per stage (the paper: 3, 4, 6, 4).
    split
        Fraction of each encoder feature's channels on the half-resolution scale.
    stem_stride
        1 or 2.
    decoder_width, agg_width
        Channels of ``F_dec^i`` and of each aggregation gOctConv scale.
    atrous_rate, asym_kernel, se_reduction
        AMPA settings.
    """

    def __init__(
        self,
        in_channels: int = 4,
        *,
        use_ampa: bool = True,
        widths: Sequence[int] = (55, 110, 220, 220),
        blocks: Sequence[int] = (3, 4, 6, 4),
        split: float = 0.5,
        stem_stride: int = 1,
        decoder_width: int = 32,
        agg_width: int = 32,
        atrous_rate: int = 2,
        asym_kernel: int = 5,
        se_reduction: int = 4,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        if len(widths) != 4 or len(blocks) != 4 or min(blocks) < 1:
            raise ValueError(f"need 4 widths and 4 positive block counts, got {widths}, {blocks}")
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
        self.in_channels = in_channels
        self.use_ampa = use_ampa
        self.widths = tuple(int(w) for w in widths)
        self.blocks = tuple(int(b) for b in blocks)
        self.stem_stride = stem_stride
        #: Inputs are padded to a multiple of this (stage 4's low branch is at 16 x stem).
        self.stride = 16 * stem_stride

        # Encoder -------------------------------------------------------------------------
        w = self.widths
        self.stem = ILBlock([in_channels], _split(w[0], split), stride=stem_stride, first=True)
        stages = []
        prev = _split(w[0], split)
        for s in range(4):
            layers = []
            for b in range(self.blocks[s]):
                merge = s > 0 and b == self.blocks[s] - 1
                out = [w[s]] if merge else _split(w[s], split)
                stride = 2 if s > 0 and b == 0 else 1
                layers.append(ILBlock(prev, out, stride=stride))
                prev = out
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)

        # AMPA (levels 2, 3, 4) ------------------------------------------------------------
        level_ch = [w[1], w[2], w[3]]
        self.ampa = nn.ModuleList(
            AMPA(c, atrous_rate=atrous_rate, asym_kernel=asym_kernel, se_reduction=se_reduction)
            if use_ampa
            else nn.Identity()
            for c in level_ch
        )

        # Decoder (index 0, 1, 2 = levels 2, 3, 4) -----------------------------------------
        d = decoder_width
        self.dec_convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, d, 3, padding=1, bias=False), nn.BatchNorm2d(d), nn.ReLU())
            for c in level_ch
        )
        self.side_heads = nn.ModuleList(
            [nn.Conv2d(d + 1, 1, 1), nn.Conv2d(d + 1, 1, 1), nn.Conv2d(d, 1, 1)]
        )
        m = agg_width
        self.agg4 = GOctCBR([1], [m], kernel_size=3)
        self.agg3 = GOctCBR([1, m], [m, m], kernel_size=3)
        self.agg2 = GOctCBR([1, m, m], [m], kernel_size=3)
        self.head = nn.Conv2d(m, 1, 1)

    def forward(self, x: Tensor) -> SDNetOutput:
        """Predict the matte of ``x`` (``N x in_channels x H x W``, see :func:`sdnet_preprocess`).

        Returns
        -------
        SDNetOutput
            ``alpha`` and three ``side_alphas`` at ``H x W``, plus the decoder ``features``.

        Raises
        ------
        InputError
            If ``x`` is not 4-D with ``in_channels`` channels.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(f"expected N x {self.in_channels} x H x W input, got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        ph, pw = -h % self.stride, -w % self.stride
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        size = x.shape[-2:]

        feats = self.stem([x])
        enc = []
        for s, stage in enumerate(self.stages):
            feats = stage(feats)
            if s > 0:
                enc.append(feats[0])  # F_enc^2, F_enc^3, F_enc^4 (single scale)

        dec = [conv(ampa(f)) for f, ampa, conv in zip(enc, self.ampa, self.dec_convs, strict=True)]
        f4 = self.side_heads[2](dec[2])
        f3 = self.side_heads[1](torch.cat([_up(f4, dec[1].shape[-2:]), dec[1]], dim=1))
        f2 = self.side_heads[0](torch.cat([_up(f3, dec[0].shape[-2:]), dec[0]], dim=1))

        (chi4,) = self.agg4([f4])
        chi3, chi4s = self.agg3([f3, chi4])
        (chi2,) = self.agg2([f2, chi3, chi4s])
        logit = self.head(chi2)

        def full(t: Tensor) -> Tensor:
            return torch.sigmoid(_up(t, size)[..., :h, :w])

        def native(t: Tensor) -> Tensor:
            s = size[0] // t.shape[-2]
            return t[..., : -(-h // s), : -(-w // s)]

        side = [f4, f3, f2]
        return SDNetOutput(
            alpha=full(logit),
            side_alphas=[full(t) for t in side],
            features=[native(t) for t in side],
            level_features=[native(t) for t in dec[::-1]],
        )


def layer_groups(model: SDNet) -> dict[str, list[str]]:
    """Names of the BatchNorm layers of ``model``, grouped ``{"encoder": ..., "decoder": ...}``.

    ``encoder`` is the ILBlock backbone (``stem``, ``stages``); ``decoder`` is everything after
    it: the AMPA modules, the level convs and the aggregation gOctConvs (the two groups a
    DCP-style pruner thresholds separately). Names are ``model.named_modules()`` keys, in
    registration order.

    Examples
    --------
    >>> g = layer_groups(SDNet(3))
    >>> len(g["encoder"]), len(g["decoder"]), g["decoder"][0]
    (99, 10, 'ampa.0.bn')
    """
    groups: dict[str, list[str]] = {"encoder": [], "decoder": []}
    for name, mod in model.named_modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            enc = name.startswith(("stem.", "stages."))
            groups["encoder" if enc else "decoder"].append(name)
    return groups


def sdnet_preprocess(
    image: np.ndarray,
    trimap: np.ndarray | None = None,
    *,
    trimap_encoding: Literal["scalar", "onehot"] = "scalar",
) -> Tensor:
    """Build SDNet's input tensor ``1 x C x H x W`` (float32) from an RGB image and a trimap.

    The RGB is scaled to ``[0, 1]`` (``uint8 / 255``; a floating image must already be in
    ``[0, 1]``) and normalised with the ImageNet mean and std. With a trimap (``uint8`` 0 bg,
    128 unknown, 255 fg, as :func:`metrics.common.read_trimap` gives), the trimap channel(s)
    follow, not normalised: ``"scalar"`` appends ``trimap / 255`` (``C = 4``, the ``"sdnet"``
    model), ``"onehot"`` appends ``[trimap == 0, other values, trimap == 255]`` (``C = 6``).

    Raises
    ------
    InputError
        If the image is not ``H x W x 3``, a float image leaves ``[0, 1]`` or has NaN, the
        trimap is not a valid 8-bit trimap, or the sizes differ.

    Examples
    --------
    >>> img = np.full((2, 3, 3), 255, np.uint8)
    >>> tri = np.array([[0, 128, 255], [0, 0, 255]], np.uint8)
    >>> x = sdnet_preprocess(img, tri)
    >>> tuple(x.shape), round(float(x[0, 0, 0, 0]), 4), x[0, 3, 0].tolist()
    ((1, 4, 2, 3), 2.2489, [0.0, 0.501960813999176, 1.0])
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        raise InputError(f"image must be H x W x 3 RGB, got shape {img.shape}")
    if img.dtype == np.uint8:
        rgb = img.astype(np.float32) / 255.0
    elif img.dtype.kind == "f":
        if not np.isfinite(img).all():
            raise InputError("image has NaN or inf")
        if img.min() < 0 or img.max() > 1:
            raise InputError(
                f"float image must be in [0, 1], got [{img.min():.4g}, {img.max():.4g}]"
            )
        rgb = img.astype(np.float32)
    else:
        raise InputError(f"image has unsupported dtype {img.dtype} (use uint8 or float in [0, 1])")
    rgb = (rgb - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
    chans = [rgb.transpose(2, 0, 1)]
    if trimap is not None:
        t = as_trimap(trimap)
        check_same_shape(image=img[..., 0], trimap=t)
        if trimap_encoding == "scalar":
            chans.append(t[None].astype(np.float32) / 255.0)
        elif trimap_encoding == "onehot":
            bg, fg = t == 0, t == 255
            chans.append(np.stack([bg, ~(bg | fg), fg]).astype(np.float32))
        else:
            raise InputError(
                f"trimap_encoding must be 'scalar' or 'onehot', got {trimap_encoding!r}"
            )
    return torch.from_numpy(np.ascontiguousarray(np.concatenate(chans, axis=0)))[None]


@register_model(
    "sdnet",
    published_params=PUBLISHED_PARAMS,
    description="SDNet (Li et al.), trimap-based: RGB + trimap/255 (4 channels), ~2.03M params",
)
def sdnet(**kwargs: Any) -> SDNet:
    """SDNet, trimap-based: input RGB + ``trimap / 255`` (4 channels)."""
    kwargs.setdefault("in_channels", 4)
    return SDNet(**kwargs)


@register_model(
    "sdnet-trimap-free",
    published_params=PUBLISHED_PARAMS,
    description="SDNet (Li et al.), trimap-free: RGB only (3 channels), ~2.03M params",
)
def sdnet_trimap_free(**kwargs: Any) -> SDNet:
    """SDNet, trimap-free: input RGB only (3 channels)."""
    kwargs.setdefault("in_channels", 3)
    return SDNet(**kwargs)
