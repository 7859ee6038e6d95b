"""PSPNet-50 for PASCAL VOC 2012 (Zhao et al., "Pyramid Scene Parsing Network", CVPR 2017), as
implemented in ``hszhao/semseg``.

Written from reading ``hszhao/semseg`` @ 4f274c3 (``model/pspnet.py``, ``model/resnet.py``,
``tool/test.py``, ``config/voc2012/voc2012_pspnet50.yaml``), i.e.
``PSPNet(layers=50, bins=(1, 2, 3, 6), dropout=0.1, classes=21, zoom_factor=8, use_ppm=True)``.
The state_dict (370 keys, in order) and every conv's hyperparameters equal the fingerprint
``shared/reference/arch/pspnet50.json``, so the released ``train_epoch_50.pth`` loads strictly
after ``module.`` stripping.

**Parameter count.** 49,081,578 with the auxiliary head (``published_params``; the official
model always builds it, because ``self.training`` is True in ``__init__``, and its checkpoint
carries the ``aux.*`` keys), 46,716,373 without it (``aux=False``). Split: backbone
``layer0``-``layer4`` 23,631,808; PPM 4,198,400; ``cls`` 18,886,165; ``aux`` 2,365,205. The CAP
README's 51.45M (Cityscapes PSPNet-50) comes from a different implementation or count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.models.registry import register_model
from metrics import InputError

__all__ = [
    "MEAN",
    "STD",
    "PSPNet",
    "pspnet50",
    "convert_state_dict",
    "drop_aux",
    "pspnet_preprocess",
    "pspnet_infer",
    "layer_groups",
]

#: ImageNet mean and std on the 0-1 scale; the network sees ``(x - MEAN * 255) / (STD * 255)``.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
_ENCODER_PARTS = ("layer0", "layer1", "layer2", "layer3", "layer4")


class _Bottleneck(nn.Module):
    """ResNet bottleneck (``model/resnet.py``): 1x1, 3x3 (carries stride and dilation, padding
    = dilation), 1x1 ``x4``, each + BN; ReLU after the first two and after the residual sum."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation,
                               bias=False)  # fmt: skip
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)  # after, as official
        return self.relu(out + residual)


def _make_layer(
    inplanes: int, planes: int, blocks: int, stride: int, dilation: int
) -> nn.Sequential:
    """A ResNet stage; the first block has the 1x1 projection shortcut (stride ``stride``)."""
    downsample = nn.Sequential(
        nn.Conv2d(inplanes, planes * 4, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(planes * 4),
    )
    layers = [_Bottleneck(inplanes, planes, stride, dilation, downsample)]
    layers += [_Bottleneck(planes * 4, planes, 1, dilation) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def _conv3x3_bn_relu(inp: int, oup: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(inp, oup, 3, stride, padding=1, bias=False), nn.BatchNorm2d(oup),
            nn.ReLU(inplace=True)]  # fmt: skip


class _PPM(nn.Module):
    """Pyramid pooling: for each bin, adaptive average pool to ``bin x bin``, 1x1 conv
    ``in_dim -> reduction_dim`` + BN + ReLU, bilinear upsampling (``align_corners=True``) back
    to the input size; output is the input concatenated with the branches."""

    def __init__(self, in_dim: int, reduction_dim: int, bins: Sequence[int]) -> None:
        super().__init__()
        self.features = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(b),
                nn.Conv2d(in_dim, reduction_dim, kernel_size=1, bias=False),
                nn.BatchNorm2d(reduction_dim),
                nn.ReLU(inplace=True),
            )
            for b in bins
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        out = [x] + [
            F.interpolate(f(x), size, mode="bilinear", align_corners=True) for f in self.features
        ]
        return torch.cat(out, 1)


def _head(inp: int, mid: int, classes: int, dropout: float) -> nn.Sequential:
    """Conv 3x3 ``inp -> mid`` + BN + ReLU + Dropout2d + conv 1x1 ``mid -> classes`` (bias)."""
    return nn.Sequential(
        nn.Conv2d(inp, mid, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Dropout2d(p=dropout),
        nn.Conv2d(mid, classes, kernel_size=1),
    )


class PSPNet(nn.Module):
    """PSPNet with a deep-base, dilated ResNet-50 (output stride 8).

    Parameters
    ----------
    classes
        Number of classes (VOC: 21).
    aux
        Build the auxiliary head on ``layer3`` (``1024 -> 256 -> classes``). The official model
        always has it; it only runs in training mode (loss weight 0.4 in the VOC config).
    dropout
        ``Dropout2d`` rate in both heads (0.1).
    bins
        PPM bin sizes; each branch reduces 2048 channels to ``2048 / len(bins)``.

    Notes
    -----
    - ``layer0``: conv 3x3 ``3 -> 64`` stride 2, ``64 -> 64``, ``64 -> 128``, each + BN + ReLU,
      then max-pool 3x3 stride 2 padding 1 (``nn.Sequential`` positions 0-9, as the official
      ``layer0``).
    - ``layer1``-``layer4``: bottleneck stages (3, 4, 6, 3 blocks). ``layer3`` and ``layer4``
      run at stride 1 with dilation 2 and 4 in every ``conv2`` (padding = dilation), and their
      shortcut convs have stride 1: output stride 8.
    - ``forward(x)``: ``x`` is ``N x 3 x H x W`` normalised RGB (:func:`pspnet_preprocess`)
      with ``(H - 1) % 8 == 0`` and ``(W - 1) % 8 == 0`` (the official assertion, e.g. 473);
      returns logits ``N x classes x H x W``, upsampled from ``(H - 1) / 8 + 1`` by bilinear
      interpolation with ``align_corners=True``. In training mode with ``aux``, returns
      ``(logits, aux_logits)``; the loss is left to the caller (official: cross-entropy with
      ``ignore_index=255``, ``main + 0.4 * aux``).
    - Initialisation as ``model/resnet.py``: backbone convs Kaiming-normal (``fan_out``,
      ReLU), BN weight 1, bias 0; the PPM and heads keep PyTorch's default init.
    """

    def __init__(
        self,
        classes: int = 21,
        *,
        aux: bool = True,
        dropout: float = 0.1,
        bins: Sequence[int] = (1, 2, 3, 6),
    ) -> None:
        super().__init__()
        if 2048 % len(bins):
            raise ValueError(f"2048 is not divisible by len(bins) = {len(bins)}")
        self.classes = classes
        self.layer0 = nn.Sequential(
            *_conv3x3_bn_relu(3, 64, 2),
            *_conv3x3_bn_relu(64, 64),
            *_conv3x3_bn_relu(64, 128),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.layer1 = _make_layer(128, 64, 3, stride=1, dilation=1)
        self.layer2 = _make_layer(256, 128, 4, stride=2, dilation=1)
        self.layer3 = _make_layer(512, 256, 6, stride=1, dilation=2)
        self.layer4 = _make_layer(1024, 512, 3, stride=1, dilation=4)
        for m in self.modules():  # only the backbone exists at this point
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.ppm = _PPM(2048, 2048 // len(bins), bins)
        self.cls = _head(4096, 512, classes, dropout)
        self.aux = _head(1024, 256, classes, dropout) if aux else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise InputError(f"PSPNet expects N x 3 x H x W input, got {tuple(x.shape)}")
        h, w = x.shape[2:]
        if (h - 1) % 8 or (w - 1) % 8:
            raise InputError(f"PSPNet input sides must be 8k+1 (e.g. 473), got {h}x{w}")
        size = (h, w)  # official: (H - 1) / 8 * zoom_factor + 1 with zoom_factor 8, i.e. H
        x = self.layer2(self.layer1(self.layer0(x)))
        x_aux = self.layer3(x)
        out = self.cls(self.ppm(self.layer4(x_aux)))
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=True)
        if self.training and self.aux is not None:
            aux = F.interpolate(self.aux(x_aux), size=size, mode="bilinear", align_corners=True)
            return out, aux
        return out


def convert_state_dict(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Map a ``hszhao/semseg`` PSPNet checkpoint to our keys (they are the same names).

    Strips a ``module.`` prefix per key (the released file was saved from ``DataParallel``).
    The ``aux.*`` keys are kept: the default model (``aux=True``) has them. To load an official
    checkpoint into ``PSPNet(aux=False)``, pass :func:`drop_aux` as the converter of
    :func:`~baselines.models.checkpoint.load_checkpoint`.

    Examples
    --------
    >>> list(convert_state_dict({"module.cls.4.bias": 0}))
    ['cls.4.bias']
    """
    return {k.removeprefix("module."): v for k, v in sd.items()}


def drop_aux(sd: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`convert_state_dict`, then drop the auxiliary head's ``aux.*`` keys.

    Examples
    --------
    >>> list(drop_aux({"module.aux.4.bias": 0, "module.cls.4.bias": 1}))
    ['cls.4.bias']
    """
    return {k: v for k, v in convert_state_dict(sd).items() if not k.startswith("aux.")}


@register_model(
    "pspnet50",
    task="segmentation",
    published_params=49_081_578,
    convert_state_dict=convert_state_dict,
    description="PSPNet-50 (hszhao/semseg), VOC 21 classes, 49.08M params with the aux head",
    optional_prefixes=("aux.",),
)
def pspnet50(*, classes: int = 21, aux: bool = True, dropout: float = 0.1) -> PSPNet:
    """PSPNet-50 as in ``hszhao/semseg``'s VOC2012 config (``aux=False``: 46,716,373 params)."""
    return PSPNet(classes, aux=aux, dropout=dropout)


# ----------------------------------------------------------------------------------------------
# test-time protocol (tool/test.py)
# ----------------------------------------------------------------------------------------------


def _as_rgb_float(image: Any) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise InputError(f"image must be HxWx3 RGB, got shape {image.shape}")
    if image.dtype != np.uint8 and image.dtype.kind != "f":
        raise InputError(f"image must be uint8 or float (0-255) RGB, got {image.dtype}")
    out = image.astype(np.float32)
    if not np.isfinite(out).all():
        raise InputError("image has NaN or inf")
    return out


def pspnet_preprocess(image: Any) -> torch.Tensor:
    """Network input of ``tool/test.py``'s ``net_process``.

    Parameters
    ----------
    image
        ``H x W x 3`` RGB, ``uint8`` or float on the 0-255 scale (the official loader reads
        with OpenCV, converts BGR to RGB and to ``float32``; no division by 255).

    Returns
    -------
    torch.Tensor
        ``1 x 3 x H x W`` ``float32``: channel ``c`` is ``(x - MEAN[c] * 255) / (STD[c] * 255)``,
        computed in float32 as the official in-place ``sub_`` / ``div_``.

    Examples
    --------
    >>> import numpy as np
    >>> x = pspnet_preprocess(np.full((1, 1, 3), 255, np.uint8))
    >>> [round(v, 4) for v in x.flatten().tolist()]
    [2.2489, 2.4286, 2.64]
    """
    x = torch.from_numpy(np.ascontiguousarray(_as_rgb_float(image).transpose(2, 0, 1)))
    for t, m, s in zip(x, MEAN, STD, strict=True):
        t.sub_(m * 255).div_(s * 255)
    return x[None]


def _net_process(model: nn.Module, crop: np.ndarray, flip: bool) -> np.ndarray:
    """Softmax probabilities ``h x w x classes`` of one crop (averaged with its mirror)."""
    x = pspnet_preprocess(crop).to(next(model.parameters()).device)
    if flip:
        x = torch.cat([x, x.flip(3)], 0)
    with torch.no_grad():
        out = model(x)
    if out.shape[2:] != x.shape[2:]:
        out = F.interpolate(out, x.shape[2:], mode="bilinear", align_corners=True)
    out = F.softmax(out, dim=1)
    out = (out[0] + out[1].flip(2)) / 2 if flip else out[0]
    return out.float().cpu().numpy().transpose(1, 2, 0)


def _scale_process(
    model: nn.Module, image: np.ndarray, crop: int, h: int, w: int, flip: bool, stride_rate: float
) -> np.ndarray:
    """``scale_process``: pad, slide, average, unpad, resize the probabilities to ``h x w``."""
    ori_h, ori_w = image.shape[:2]
    pad_h, pad_w = max(crop - ori_h, 0), max(crop - ori_w, 0)
    ph, pw = pad_h // 2, pad_w // 2
    if pad_h or pad_w:
        mean = [m * 255 for m in MEAN]
        image = cv2.copyMakeBorder(image, ph, pad_h - ph, pw, pad_w - pw, cv2.BORDER_CONSTANT,
                                   value=mean)  # fmt: skip
    new_h, new_w = image.shape[:2]
    stride = int(math.ceil(crop * stride_rate))
    grid_h = int(math.ceil((new_h - crop) / stride) + 1)
    grid_w = int(math.ceil((new_w - crop) / stride) + 1)
    pred: np.ndarray | None = None
    count = np.zeros((new_h, new_w), dtype=np.float64)
    for ih in range(grid_h):
        for iw in range(grid_w):
            e_h = min(ih * stride + crop, new_h)
            e_w = min(iw * stride + crop, new_w)
            s_h, s_w = e_h - crop, e_w - crop
            prob = _net_process(model, image[s_h:e_h, s_w:e_w].copy(), flip)
            if pred is None:
                pred = np.zeros((new_h, new_w, prob.shape[2]), dtype=np.float64)
            count[s_h:e_h, s_w:e_w] += 1
            pred[s_h:e_h, s_w:e_w, :] += prob
    assert pred is not None
    pred /= count[:, :, None]
    pred = pred[ph : ph + ori_h, pw : pw + ori_w]
    return cv2.resize(pred, (w, h), interpolation=cv2.INTER_LINEAR)


def valid_side(n: int) -> int:
    """The largest PSPNet input side ``<= n`` (``(side - 1) % 8 == 0``; 473 for 480).

    >>> valid_side(480), valid_side(473), valid_side(32)
    (473, 473, 25)
    """
    return n - (n - 1) % 8


def pspnet_infer(
    model: nn.Module,
    image: Any,
    *,
    base_size: int = 512,
    crop: int = 473,
    scales: Sequence[float] = (1.0,),
    flip: bool = True,
    stride_rate: float = 2 / 3,
) -> np.ndarray:
    """Label map of one image by ``hszhao/semseg``'s ``tool/test.py`` protocol.

    Parameters
    ----------
    model
        A :class:`PSPNet` (or any module mapping ``N x 3 x h x w`` to ``N x C x h x w``
        logits). It is put in eval mode and run under ``torch.no_grad`` on its own device.
    image
        ``H x W x 3`` RGB, ``uint8`` or float on the 0-255 scale.
    base_size
        For each scale, the long side is resized to ``round(scale * base_size)`` and the other
        side to ``round(long / H * W)`` (Python rounding, ``cv2.INTER_LINEAR``), upsampling too.
    crop
        Sliding-window side (473 for VOC); must be ``8k + 1``.
    scales
        Test scales; the official VOC single-scale setting is ``(1.0,)``, multi-scale
        ``(0.5, 0.75, 1.0, 1.25, 1.5, 1.75)``.
    flip
        Also run each window mirrored left-right (a batch of 2) and average the two softmaxes.
    stride_rate
        Window stride is ``ceil(crop * stride_rate)`` (316 for 473).

    Returns
    -------
    numpy.ndarray
        ``H x W`` ``int64`` class indices (argmax; ties go to the lower index).

    Notes
    -----
    Per scale (``scale_process``): the resized image is padded with the constant mean colour
    (``MEAN * 255``, i.e. 0 after normalisation) split evenly top/bottom and left/right until
    both sides are at least ``crop``; windows start at multiples of the stride and the last one
    in each direction is pushed back inside the image; softmax probabilities are summed and
    divided by the per-pixel window count, the padding is cut off, and the ``C``-channel
    probability map is resized to ``H x W`` with ``cv2.INTER_LINEAR``. Scale results are
    averaged, then the argmax is taken.
    """
    img = _as_rgb_float(image)
    if crop < 1 or (crop - 1) % 8:
        raise InputError(f"crop must be 8k+1 (e.g. 473), got {crop}")
    if not scales:
        raise InputError("scales is empty")
    h, w = img.shape[:2]
    model.eval()
    total: np.ndarray | None = None
    for scale in scales:
        long_size = round(scale * base_size)
        new_h = new_w = long_size
        if h > w:
            new_w = round(long_size / float(h) * w)
        else:
            new_h = round(long_size / float(w) * h)
        scaled = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        prob = _scale_process(model, scaled, crop, h, w, flip, stride_rate)
        total = prob if total is None else total + prob
    assert total is not None
    return np.argmax(total / len(scales), axis=2)


def layer_groups(model: nn.Module) -> dict[str, list[str]]:
    """Names of the top-level children of ``model`` in each part, in registration order.

    ``"encoder"``: the backbone ``layer0``-``layer4``. ``"decoder"``: ``ppm``, ``cls`` and, when
    built, ``aux`` (``architectures.md`` section 4).
    """
    names = [n for n, _ in model.named_children()]
    return {
        "encoder": [n for n in names if n in _ENCODER_PARTS],
        "decoder": [n for n in names if n not in _ENCODER_PARTS],
    }
