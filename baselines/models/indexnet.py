"""IndexNet Matting (Lu, Dai, Shen and Xu, "Indices Matter: Learning to Index for Deep Image
Matting", ICCV 2019), in the configuration of the official demo.

Written from reading the official code (``poppinace/indexnet_matting`` @ 4beb06a,
``scripts/hlmobilenetv2.py`` ``hlMobileNetV2UNetDecoderIndexLearning``, ``hlindex.py``,
``hldecoder.py``, ``hlaspp.py``, ``hlconv.py`` and ``demo.py``), built with the arguments of
``scripts/demo_indexnet_matting.py``::

    hlmobilenetv2(pretrained=False, freeze_bn=True, output_stride=32, apply_aspp=True,
                  conv_operator='std_conv', decoder='indexnet', decoder_kernel_size=5,
                  indexnet='depthwise', index_mode='m2o', use_nonlinear=True, use_context=True)

The state_dict (549 keys, in order) and every conv's hyperparameters equal the fingerprint
``shared/reference/arch/indexnet.json``, so the released ``indexnet_matting.pth.tar`` loads
strictly (after ``module.`` stripping). :func:`convert_state_dict` also accepts MMagic's key
style (``encoder.layers.*`` / ``decoder.decoder_layers.*``, optionally ``backbone.``-prefixed).

**Parameter count.** The released model has 5,953,515 parameters (``published_params``),
confirmed by GitHub issue poppinace/indexnet_matting#11 and by building the official code. The
8.15M (and 6.30 GFLOPs) in the README and paper equals this count with the five index blocks
(2,200,256 parameters, 1.109 G multiply-adds at 224x224) counted twice:
5,953,515 + 2,200,256 = 8,153,771. Why is not established; we report 5,953,515.

Parts (our convention, ``shared/reference/architectures.md`` section 4): the *encoder* is the
MobileNetV2 ``layer0``-``layer7`` (1,812,000), the index blocks (2,200,256) and the ASPP
``dconv_pp`` (627,840), 4,640,096 in all; the *decoder* is ``decoder_layer6``-``0``
(1,312,592) plus ``pred`` (827), 1,313,419 in all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.models.registry import register_model
from metrics import InputError
from metrics.common import as_trimap

__all__ = [
    "IMG_MEAN",
    "IMG_STD",
    "STRIDE",
    "IndexNetMatting",
    "indexnet",
    "convert_state_dict",
    "indexnet_preprocess",
    "indexnet_infer",
    "layer_groups",
]

#: Per-channel mean of the 4-channel input (RGB ImageNet mean; the trimap channel is not shifted).
IMG_MEAN = np.array([0.485, 0.456, 0.406, 0.0])
#: Per-channel std of the 4-channel input (the trimap channel is only divided by 255).
IMG_STD = np.array([0.229, 0.224, 0.225, 1.0])
#: Output stride of the network: input sides must be multiples of this.
STRIDE = 32

# MobileNetV2 settings (expand ratio t, input channels, output channels, blocks n). In this
# configuration every block has stride 1 and dilation 1: the official code sets all strides to
# 1, and downsampling is done by the index blocks (``4 * avg_pool2d(idx_en * x)``).
_MOBILENET = ((1, 32, 16, 1), (6, 16, 24, 2), (6, 24, 32, 3), (6, 32, 64, 4), (6, 64, 96, 3),
              (6, 96, 160, 3), (6, 160, 320, 1))  # fmt: skip
# index blocks: name -> channels of the feature they pool (layer0, 2, 3, 4, 6 outputs)
_INDEX = {"index0": 32, "index2": 24, "index3": 32, "index4": 64, "index6": 160}
# decoder: name -> (input channels = 2 x skip channels, output channels)
_DECODER = {"decoder_layer6": (320, 96), "decoder_layer5": (192, 64), "decoder_layer4": (128, 32),
            "decoder_layer3": (64, 24), "decoder_layer2": (48, 16), "decoder_layer1": (32, 32),
            "decoder_layer0": (64, 32)}  # fmt: skip
_ENCODER_PARTS = tuple(f"layer{i}" for i in range(8)) + tuple(_INDEX) + ("dconv_pp",)


def _conv_bn_relu6(inp: int, oup: int, k: int) -> nn.Sequential:
    """``hlconv.conv_bn``: conv ``k x k`` (stride 1, padding ``k // 2``, no bias) + BN + ReLU6."""
    return nn.Sequential(
        nn.Conv2d(inp, oup, k, 1, padding=k // 2, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


class _InvertedResidual(nn.Module):
    """MobileNetV2 block at stride 1, dilation 1.

    The 3x3 depthwise conv has ``padding=0``; the input is zero-padded by one pixel on each side
    *before* the block (the official ``fixed_padding``), so the expansion 1x1 conv also sees the
    padded input. This is numerically identical to ``padding=1`` on the depthwise conv only
    when ``expand_ratio == 1``; for the other blocks the 1x1 conv + BN + ReLU6 maps the zero
    border to ``relu6(beta - gamma * mean / std)``, not zero, exactly as in the official code.
    The residual is used when input and output widths agree.
    """

    def __init__(self, inp: int, oup: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6(inplace=True)]  # fmt: skip
        layers += [
            nn.Conv2d(hidden, hidden, 3, 1, 0, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(F.pad(x, (1, 1, 1, 1)))
        return x + out if self.use_res_connect else out


class _M2OIndexBlock(nn.Module):
    """Depthwise many-to-one index block with ``use_nonlinear`` and ``use_context``.

    Four branches ``indexnet1..4``, each conv 4x4 stride 2 padding 1 (``inp -> inp``, full, not
    grouped, despite the "depthwise" name) + BN + ReLU6 + conv 1x1 (``inp -> inp``). The four
    outputs are stacked per channel, ``sigmoid`` gives the decoder index, a softmax of that
    sigmoid over the four positions gives the encoder index, and ``pixel_shuffle(2)`` lays the
    four values out as the 2x2 cell they index. Returns ``(idx_en, idx_de)`` at the input size.
    """

    def __init__(self, inp: int) -> None:
        super().__init__()
        for i in range(1, 5):
            self.add_module(
                f"indexnet{i}",
                nn.Sequential(
                    nn.Conv2d(inp, inp, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(inp),
                    nn.ReLU6(inplace=True),
                    nn.Conv2d(inp, inp, 1, 1, 0, bias=False),
                ),
            )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, h, w = x.shape
        branches = (self.indexnet1, self.indexnet2, self.indexnet3, self.indexnet4)
        logits = torch.stack([b(x) for b in branches], dim=2)  # n, c, 4, h/2, w/2
        idx_de = torch.sigmoid(logits)
        idx_en = F.softmax(idx_de, dim=2)
        shape = (n, c * 4, h // 2, w // 2)
        return F.pixel_shuffle(idx_en.reshape(shape), 2), F.pixel_shuffle(idx_de.reshape(shape), 2)


class _ASPPBranch(nn.Module):
    """One ASPP branch (holds ``atrous_conv`` to keep the official key names)."""

    def __init__(self, inp: int, planes: int, dilation: int | None) -> None:
        super().__init__()
        if dilation is None:  # the 1x1 branch
            self.atrous_conv = _conv_bn_relu6(inp, planes, 1)
        else:  # depthwise-separable dilated 3x3
            self.atrous_conv = nn.Sequential(
                nn.Conv2d(
                    inp, inp, 3, 1, padding=dilation, dilation=dilation, groups=inp, bias=False
                ),  # fmt: skip
                nn.BatchNorm2d(inp),
                nn.ReLU6(inplace=True),
                nn.Conv2d(inp, planes, 1, 1, 0, bias=False),
                nn.BatchNorm2d(planes),
                nn.ReLU6(inplace=True),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.atrous_conv(x)


class _ASPP(nn.Module):
    """ASPP at output stride 32 (``hlaspp.ASPP``): dilations 1 (1x1), 2, 4, 8 (depthwise-
    separable 3x3), a global-average branch upsampled with ``nearest``, a 1x1 bottleneck
    ``1280 -> oup`` + BN + ReLU6, then ``Dropout(0.5)`` (identity in eval)."""

    def __init__(self, inp: int = 320, oup: int = 160, planes: int = 256) -> None:
        super().__init__()
        self.aspp1 = _ASPPBranch(inp, planes, None)
        self.aspp2 = _ASPPBranch(inp, planes, 2)
        self.aspp3 = _ASPPBranch(inp, planes, 4)
        self.aspp4 = _ASPPBranch(inp, planes, 8)
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Conv2d(inp, planes, 1, 1, 0, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU6(inplace=True),
        )
        self.bottleneck_conv = _conv_bn_relu6(planes * 5, oup, 1)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2, x3, x4 = self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x)
        pooled = F.interpolate(self.global_avg_pool(x), size=x4.shape[2:], mode="nearest")
        x = torch.cat((x1, x2, x3, x4, pooled), dim=1)
        return self.dropout(self.bottleneck_conv(x))


class _IndexedUpsampling(nn.Module):
    """Decoder block (``hldecoder.IndexedUpsamlping``): upsample ``x`` to the skip's size with
    ``nearest`` and multiply by the decoder index (when there is one), concatenate with the
    skip feature, then conv 5x5 + BN + ReLU6."""

    def __init__(self, inp: int, oup: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.dconv = _conv_bn_relu6(inp, oup, kernel_size)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor, index: torch.Tensor | None = None
    ) -> torch.Tensor:
        if index is not None:
            x = index * F.interpolate(x, size=skip.shape[2:], mode="nearest")
        return self.dconv(torch.cat((x, skip), dim=1))


class IndexNetMatting(nn.Module):
    """IndexNet Matting, demo configuration (MobileNetV2 + depthwise M2O index blocks + ASPP).

    ``forward(x)`` takes ``N x 4 x H x W`` (normalised RGB + trimap / 255, see
    :func:`indexnet_preprocess`) with ``H`` and ``W`` multiples of 32 and returns the raw
    ``N x 1 x H x W`` prediction: **no sigmoid**, not clipped (the official test clips to
    [0, 1] after resizing back).

    Structure (names as in the official state_dict):

    - ``layer0``: conv 3x3 ``4 -> 32`` with stride forced to 1, BN, ReLU6.
    - ``layer1``-``layer7``: MobileNetV2 inverted residuals, all at stride 1.
    - ``index0/2/3/4/6``: M2O index blocks on the outputs of layers 0, 2, 3, 4, 6. Each output
      ``l`` is replaced by ``idx_en * l`` (this indexed feature is also the decoder's skip) and
      downsampled by ``4 * avg_pool2d(., 2)``.
    - ``dconv_pp``: ASPP ``320 -> 160``.
    - ``decoder_layer6``-``0``: 5x5 conv blocks; layers 6, 4, 3, 2, 0 upsample by the index
      ``idx_de`` of the matching encoder stage, layers 5 and 1 only concatenate.
    - ``pred``: conv 5x5 ``32 -> 1`` + BN(1) + ReLU6, then conv 5x5 ``1 -> 1`` without bias.

    Weights are initialised like the official ``_initialize_weights``: every conv from
    ``N(0, sqrt(2 / (k_h * k_w * out_channels)))``, BN weight 1 and bias 0. The official
    ``freeze_bn=True`` only calls ``.eval()`` on the BNs at construction (undone by the first
    ``train()``), so it is not reproduced.
    """

    def __init__(self) -> None:
        super().__init__()
        self.layer0 = _conv_bn_relu6(4, 32, 3)
        for i, (t, inp, oup, n) in enumerate(_MOBILENET, start=1):
            blocks = [_InvertedResidual(inp if j == 0 else oup, oup, t) for j in range(n)]
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
        for name, c in _INDEX.items():
            self.add_module(name, _M2OIndexBlock(c))
        self.dconv_pp = _ASPP(320, 160)
        for name, (inp, oup) in _DECODER.items():
            self.add_module(name, _IndexedUpsampling(inp, oup, 5))
        self.pred = nn.Sequential(
            _conv_bn_relu6(32, 1, 5), nn.Conv2d(1, 1, 5, 1, padding=2, bias=False)
        )
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _index_pool(
        block: nn.Module, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(indexed x, pooled x, idx_de)``: ``x * idx_en`` and ``4 * avg_pool2d`` of it."""
        idx_en, idx_de = block(x)
        x = idx_en * x
        return x, 4 * F.avg_pool2d(x, (2, 2), stride=2), idx_de

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 4:
            raise InputError(f"IndexNet expects N x 4 x H x W input, got {tuple(x.shape)}")
        h, w = x.shape[2:]
        if h % STRIDE or w % STRIDE:
            raise InputError(
                f"IndexNet input sides must be multiples of {STRIDE}, got {h}x{w} "
                "(indexnet_preprocess resizes to them)"
            )
        l0, l0p, idx0 = self._index_pool(self.index0, self.layer0(x))
        l1 = self.layer1(l0p)
        l2, l2p, idx2 = self._index_pool(self.index2, self.layer2(l1))
        l3, l3p, idx3 = self._index_pool(self.index3, self.layer3(l2p))
        l4, l4p, idx4 = self._index_pool(self.index4, self.layer4(l3p))
        l5 = self.layer5(l4p)
        l6, l6p, idx6 = self._index_pool(self.index6, self.layer6(l5))
        out = self.dconv_pp(self.layer7(l6p))
        out = self.decoder_layer6(out, l6, idx6)
        out = self.decoder_layer5(out, l5)
        out = self.decoder_layer4(out, l4, idx4)
        out = self.decoder_layer3(out, l3, idx3)
        out = self.decoder_layer2(out, l2, idx2)
        out = self.decoder_layer1(out, l1)
        out = self.decoder_layer0(out, l0, idx0)
        return self.pred(out)


# ----------------------------------------------------------------------------------------------
# checkpoint keys
# ----------------------------------------------------------------------------------------------

_INDEX_NAMES = tuple(_INDEX)  # MMagic's index_layers.0..4
_CONV_BN = {"conv": "0", "bn": "1"}
# MMagic inverted-residual sub-module -> position in the official ``conv`` Sequential
_IR_EXPAND1 = {"depthwise_conv.conv": 0, "depthwise_conv.bn": 1, "pointwise_conv.conv": 3,
               "pointwise_conv.bn": 4}  # fmt: skip
_IR = {"0.conv": 0, "0.bn": 1, "1.depthwise_conv.conv": 3, "1.depthwise_conv.bn": 4,
       "1.pointwise_conv.conv": 6, "1.pointwise_conv.bn": 7}  # fmt: skip
_SEP = {"depthwise_conv.conv": 0, "depthwise_conv.bn": 1, "pointwise_conv.conv": 3,
        "pointwise_conv.bn": 4}  # fmt: skip
_P = r"(weight|bias|running_mean|running_var|num_batches_tracked)$"


def _ir(m: re.Match[str]) -> str | None:
    layer, block, sub, p = m.groups()
    pos = (_IR_EXPAND1 if layer == "1" else _IR).get(sub)
    return None if pos is None else f"layer{layer}.{block}.conv.{pos}.{p}"


def _sep(m: re.Match[str]) -> str | None:
    k, sub, p = m.groups()
    pos = _SEP.get(sub)
    return None if pos is None else f"dconv_pp.aspp{int(k) + 1}.atrous_conv.{pos}.{p}"


_MMAGIC_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str | None]], ...] = (
    (re.compile(r"^encoder\.layers\.0\.(conv|bn)\." + _P),
     lambda m: f"layer0.{_CONV_BN[m[1]]}.{m[2]}"),
    (re.compile(r"^encoder\.layers\.([1-7])\.(\d+)\.conv\.(.+)\." + _P), _ir),
    (re.compile(r"^encoder\.index_layers\.([0-4])\.index_blocks\.([0-3])\.(0\.conv|0\.bn|1\.conv)\."
                + _P),
     lambda m: f"{_INDEX_NAMES[int(m[1])]}.indexnet{int(m[2]) + 1}."
               f"{ {'0.conv': 0, '0.bn': 1, '1.conv': 3}[m[3]] }.{m[4]}"),
    (re.compile(r"^encoder\.dconv\.convs\.0\.(conv|bn)\." + _P),
     lambda m: f"dconv_pp.aspp1.atrous_conv.{_CONV_BN[m[1]]}.{m[2]}"),
    (re.compile(r"^encoder\.dconv\.convs\.([1-3])\.(.+)\." + _P), _sep),
    (re.compile(r"^encoder\.dconv\.convs\.4\.1\.(conv|bn)\." + _P),
     lambda m: f"dconv_pp.global_avg_pool.{ {'conv': 1, 'bn': 2}[m[1]] }.{m[2]}"),
    (re.compile(r"^encoder\.dconv\.project\.0\.(conv|bn)\." + _P),
     lambda m: f"dconv_pp.bottleneck_conv.{_CONV_BN[m[1]]}.{m[2]}"),
    (re.compile(r"^decoder\.decoder_layers\.([0-6])\.conv\.(conv|bn)\." + _P),
     lambda m: f"decoder_layer{6 - int(m[1])}.dconv.{_CONV_BN[m[2]]}.{m[3]}"),
    (re.compile(r"^decoder\.pred\.0\.(conv|bn)\." + _P),
     lambda m: f"pred.0.{_CONV_BN[m[1]]}.{m[2]}"),
    (re.compile(r"^decoder\.pred\.1\.weight$"), lambda m: "pred.1.weight"),
)  # fmt: skip


def _mmagic_key(key: str) -> str:
    """Our (official) name of an MMagic IndexNet key; unknown keys come back unchanged."""
    for pattern, fn in _MMAGIC_RULES:
        m = pattern.match(key)
        if m:
            out = fn(m)
            return key if out is None else out
    return key


def convert_state_dict(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Map an IndexNet checkpoint's state_dict to our (= the official) key names.

    Accepted key styles, per key:

    - official (``poppinace/indexnet_matting``): ``layer0.0.weight`` ... ``pred.1.weight``,
      with or without the ``module.`` prefix that ``nn.DataParallel`` adds (the released file
      has it; :func:`~baselines.models.checkpoint.extract_state_dict` strips it when every key
      carries it, and this hook strips it per key as the official ``demo.py`` does);
    - MMagic (``IndexNetEncoder`` / ``IndexNetDecoder`` inside ``SimpleEncoderDecoder``):
      ``encoder.layers.*``, ``encoder.index_layers.*``, ``encoder.dconv.*``,
      ``decoder.decoder_layers.*``, ``decoder.pred.*``, with or without the mattor's
      ``backbone.`` prefix. The rules were derived by comparing the fingerprints
      ``indexnet.json`` and ``indexnet_mmagic.json`` position by position (both have 549 keys
      in the same order with equal shapes); MMagic's ``decoder_layers.j`` is our
      ``decoder_layer{6 - j}`` and its ``index_layers.0..4`` our ``index0/2/3/4/6``.

    Unknown keys are passed through unchanged, so the strict loader reports them.

    Examples
    --------
    >>> sorted(convert_state_dict({"backbone.encoder.layers.0.bn.bias": 0,
    ...                            "module.pred.1.weight": 1}))
    ['layer0.1.bias', 'pred.1.weight']
    """
    out: dict[str, Any] = {}
    for key, value in sd.items():
        k = key.removeprefix("module.").removeprefix("backbone.")
        if k.startswith(("encoder.", "decoder.")):
            k = _mmagic_key(k)
        out[k] = value
    return out


@register_model(
    "indexnet",
    task="matting",
    published_params=5_953_515,
    convert_state_dict=convert_state_dict,
    description="IndexNet Matting (ICCV 2019), official demo configuration, 5.95M params",
)
def indexnet(**kwargs: Any) -> IndexNetMatting:
    """IndexNet Matting in the official demo configuration (no options)."""
    if kwargs:
        raise TypeError(f"indexnet takes no options, got {sorted(kwargs)}")
    return IndexNetMatting()


# ----------------------------------------------------------------------------------------------
# test-time protocol
# ----------------------------------------------------------------------------------------------


def _check_inputs(image: Any, trimap: Any) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise InputError(f"image must be HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
    tri = as_trimap(trimap)
    if tri.shape != image.shape[:2]:
        raise InputError(
            f"sizes differ: image is {image.shape[0]}x{image.shape[1]}, "
            f"trimap is {tri.shape[0]}x{tri.shape[1]}"
        )
    return image, tri


def indexnet_preprocess(image: Any, trimap: Any, *, stride: int | None = STRIDE) -> torch.Tensor:
    """The network input of the official ``demo.py``: normalise, then *resize* to ``/stride``.

    Parameters
    ----------
    image
        ``H x W x 3`` ``uint8`` RGB.
    trimap
        ``H x W`` 8-bit trimap (0 bg, 128 unknown, 255 fg).
    stride
        Resize so both sides become ``ceil(side / stride) * stride`` (``utils.image_alignment``
        with ``odd=False``); ``None`` skips the resize.

    Returns
    -------
    torch.Tensor
        ``1 x 4 x H' x W'`` ``float32``. Channels 0-2 are ``(rgb / 255 - mean) / std`` (ImageNet
        mean/std), channel 3 is ``trimap / 255`` (0, 0.502, 1).

    Notes
    -----
    The order follows ``demo.py``: the normalisation is applied first (in float64, then cast to
    float32), and the *normalised* image is resized with ``cv2.INTER_CUBIC`` while the trimap
    channel is resized with ``cv2.INTER_NEAREST``. The resize stretches the image (aspect ratio
    not kept); it does not pad.
    """
    image, tri = _check_inputs(image, trimap)
    x = np.concatenate((image, tri[:, :, None]), axis=2).astype(np.float32)
    x = ((x * (1.0 / 255) - IMG_MEAN) / IMG_STD).astype(np.float32)
    if stride is not None:
        h, w = (int(math.ceil(s / stride) * stride) for s in x.shape[:2])
        rgb = cv2.resize(x[:, :, :3], (w, h), interpolation=cv2.INTER_CUBIC)
        t = cv2.resize(x[:, :, 3], (w, h), interpolation=cv2.INTER_NEAREST)
        x = np.concatenate((rgb, t[:, :, None]), axis=2)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def indexnet_infer(
    model: nn.Module, image: Any, trimap: Any, *, force_known: bool = True
) -> np.ndarray:
    """Alpha matte of one image by the official test protocol (``demo.py``).

    Parameters
    ----------
    model
        An :class:`IndexNetMatting` (or any module with the same input/output contract). It is
        put in eval mode and run under ``torch.no_grad`` on its own device.
    image
        ``H x W x 3`` ``uint8`` RGB, any size.
    trimap
        ``H x W`` 8-bit trimap (0 bg, 128 unknown, 255 fg).
    force_known
        Copy the trimap into every pixel that is not unknown, as the official demo does
        (``alpha = (1 - mask) * trimap + mask * alpha`` with ``mask = trimap == 128``). For a
        clean 0/128/255 trimap this sets bg to 0 and fg to 1; a stray value ``v`` (e.g. 127
        from a resized trimap) becomes ``v / 255``, as in the official code.

    Returns
    -------
    numpy.ndarray
        ``H x W`` ``float64`` alpha in ``[0, 1]``.

    Notes
    -----
    Steps: :func:`indexnet_preprocess` (normalise, resize to ``ceil(/32) * 32`` with
    INTER_CUBIC / INTER_NEAREST), forward, resize the raw output back to ``H x W`` with
    ``cv2.INTER_CUBIC``, ``np.clip(0, 1)``, then the known-region copy. The official demo
    then saves ``uint8(alpha * 255)`` (truncation); we return the float matte unquantised and
    leave quantisation to the evaluation convention.
    """
    image, tri = _check_inputs(image, trimap)
    h, w = tri.shape
    x = indexnet_preprocess(image, tri)
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        out = model(x.to(device))[0, 0].float().cpu().numpy()
    alpha = cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    alpha = np.clip(alpha, 0.0, 1.0)
    if force_known:
        alpha = np.where(tri == 128, alpha, tri / 255.0)
    return alpha


def layer_groups(model: nn.Module) -> dict[str, list[str]]:
    """Names of the top-level children of ``model`` in each part, in registration order.

    ``"encoder"``: ``layer0``-``layer7``, the index blocks ``index0/2/3/4/6`` and the ASPP
    ``dconv_pp`` (the index blocks and ASPP run on encoder features; this is the convention of
    ``architectures.md`` section 4). ``"decoder"``: everything else (``decoder_layer6``-``0``
    and ``pred``).
    """
    names = [n for n, _ in model.named_children()]
    return {
        "encoder": [n for n in names if n in _ENCODER_PARTS],
        "decoder": [n for n in names if n not in _ENCODER_PARTS],
    }
