"""Deep Image Matting (DIM, Xu et al., CVPR 2017): the two PyTorch re-implementations we use.

Registered models
=================

``"dim"`` -- :class:`DIMModel`
    foamliu/Deep-Image-Matting-PyTorch ``models.DIMModel(n_classes=1, in_channels=4,
    is_unpooling=True, pretrain=False)`` at commit ``db6a96de``; this is the teacher of the
    distillation-based channel pruning paper (Yoon, Park and Cho, ACCV 2022; code
    ``DongGeun-Yoon/DCP``, whose ``DIMModel`` has the identical state_dict). SegNet-style:

    * encoder: VGG16 conv1-conv5 (3x3 conv with bias + BatchNorm + ReLU) on **4 input
      channels**, each block ending in ``MaxPool2d(2, 2, return_indices=True)``; no fc6;
    * decoder: five blocks ``MaxUnpool2d(2, 2)`` (with ``output_size`` = the pre-pool size,
      so odd sizes work) + 5x5 conv (with bias) + BatchNorm, **no ReLU**: 512 -> 512, 256,
      128, 64, 1; the last block is 5x5 conv 64 -> 1 followed by ``BatchNorm2d(1)``;
    * output: ``sigmoid`` of the last block, **squeezed to NxHxW** (``torch.squeeze(dim=1)``),
      exactly as the original. 25,582,595 parameters (encoder ``down*`` 14,723,712; decoder
      ``up*`` 10,858,883). Keys are the original ones (``down1.conv1.cbr_unit.0.weight``, ...).

    ``channel_spec`` builds slimmer students from the same code: 18 widths in DCP's BN order
    (:data:`DCP_BN_ORDER`), with the unpooling ties of :data:`UNPOOL_TIES` enforced.

``"dim-vgg16-fc6"`` -- :class:`DeepMattingFC6`
    poppinace/indexnet_matting ``scripts/hlvggnet.py`` ``hlvgg16()``: VGG16-BN conv1-conv5, a
    fifth pool, fc6 as a 7x7 conv 512 -> 4096 (+ ReLU), ``dconv6`` 1x1 4096 -> 512 (+ ReLU),
    then five ``MaxUnpool2d`` + 5x5 conv + ReLU (no BatchNorm in the decoder) and
    ``alpha_pred`` 5x5 64 -> 1. Output is the **raw** conv map, Nx1xHxW (clipped to [0, 1] at
    test time). 130,545,345 parameters (conv6 alone 102,764,544).

Input, inference, checkpoints
=============================

:func:`dim_preprocess` builds the 4-channel input both models take: RGB ``/ 255`` normalised
with the ImageNet mean/std (torchvision ``ToTensor`` + ``Normalize``), channel 4 = trimap
``/ 255`` (0, 0.502, 1). :func:`dim_infer` runs each model with its own repository's test
protocol (:data:`PROTOCOLS`; :func:`default_protocol` picks it from the model's class):

* ``"foamliu"`` (``"dim"``; foamliu ``test.py``, DCP ``test.py``): the whole image at its own
  size, no padding or resizing, then ``alpha[trimap == 0] = 0`` and
  ``alpha[trimap == 255] = 1``;
* ``"indexnet"`` (``"dim-vgg16-fc6"``; poppinace/indexnet_matting ``scripts/demo_deep_matting.py``
  at full resolution): the normalised input *resized* to ``ceil(side / 32) * 32`` (image
  ``INTER_CUBIC``, trimap ``INTER_NEAREST``), the raw output resized back with ``INTER_CUBIC``
  and clipped to [0, 1], then every pixel that is not unknown (``!= 128``) copied from
  ``trimap / 255``;
* ``"indexnet-half"``: the same script as shipped, which first rescales the input by 0.5 (its
  comment: "for demo use only, formal evaluation should be on the full resolution").

The official ``BEST_checkpoint.tar`` pickles a whole ``nn.DataParallel(DIMModel)`` object, which
``torch.load(weights_only=True)`` refuses. :func:`convert_foamliu_checkpoint` reads it without
importing or running any of its code and writes our own format. CLI wiring: the intended
command is ``mattebench convert-checkpoint dim-foamliu BEST_checkpoint.tar dim.pth``, which
calls ``baselines.models.dim.convert_foamliu_checkpoint(src, dst)``.
"""

from __future__ import annotations

import difflib
import math
import pickle
import types
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from baselines.models.checkpoint import (
    check_state_dict,
    extract_state_dict,
    save_checkpoint,
    strip_prefix,
)
from baselines.models.registry import register_model
from metrics import InputError

__all__ = [
    "DCP_BN_ORDER",
    "TEACHER_WIDTHS",
    "UNPOOL_TIES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DIMModel",
    "DeepMattingFC6",
    "resolve_channel_spec",
    "apply_unpool_ties",
    "count_spec_params",
    "layer_groups",
    "PROTOCOLS",
    "default_protocol",
    "dim_preprocess",
    "dim_infer",
    "PickledObject",
    "read_pickled_checkpoint",
    "pickled_state_dict",
    "convert_foamliu_checkpoint",
]

#: The 18 BatchNorm layers of :class:`DIMModel` in the order DCP's ``pruning.py`` builds its
#: ``cfg`` (``named_modules`` order: encoder ``down*`` then decoder ``up*``).
DCP_BN_ORDER: tuple[str, ...] = (
    "down1.conv1.cbr_unit.1",
    "down1.conv2.cbr_unit.1",
    "down2.conv1.cbr_unit.1",
    "down2.conv2.cbr_unit.1",
    "down3.conv1.cbr_unit.1",
    "down3.conv2.cbr_unit.1",
    "down3.conv3.cbr_unit.1",
    "down4.conv1.cbr_unit.1",
    "down4.conv2.cbr_unit.1",
    "down4.conv3.cbr_unit.1",
    "down5.conv1.cbr_unit.1",
    "down5.conv2.cbr_unit.1",
    "down5.conv3.cbr_unit.1",
    "up5.conv.cbr_unit.1",
    "up4.conv.cbr_unit.1",
    "up3.conv.cbr_unit.1",
    "up2.conv.cbr_unit.1",
    "up1.conv.cbr_unit.1",
)

#: The teacher's widths in :data:`DCP_BN_ORDER`.
TEACHER_WIDTHS: tuple[int, ...] = (
    64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 256, 128, 64, 1,
)  # fmt: skip

#: ``(encoder, decoder)`` positions whose widths must be equal: the decoder block unpools the
#: previous decoder output with the encoder block's pooling indices, so the two tensors must
#: have the same channel count (DCP ``pruning.py`` forces these pairs to their maximum).
UNPOOL_TIES: tuple[tuple[int, int], ...] = ((1, 16), (3, 15), (6, 14), (9, 13))

#: torchvision's ImageNet statistics (RGB), as used by foamliu's ``data_transforms``.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# encoder blocks as slices of the width list; decoder blocks are positions 13..17
_DOWN_SLICES: tuple[tuple[int, int], ...] = ((0, 2), (2, 4), (4, 7), (7, 10), (10, 13))

FeatureMode = Literal["dcp", "all"]


# --------------------------------------------------------------------------------------------
# channel specs
# --------------------------------------------------------------------------------------------


def resolve_channel_spec(spec: Sequence[int] | Mapping[str, int] | None) -> list[int]:
    """The 18 widths of a :class:`DIMModel` channel spec, validated.

    Parameters
    ----------
    spec
        ``None`` (the teacher), a sequence of 18 output widths in :data:`DCP_BN_ORDER` (DCP's
        ``cfg``), or a mapping from those BN names to widths (names left out keep the
        teacher's width).

    Returns
    -------
    list of int
        The widths in :data:`DCP_BN_ORDER`.

    Raises
    ------
    ValueError
        On a wrong length, an unknown BN name, a width that is not a positive integer, a last
        width other than 1 (the alpha channel), or a violated unpooling tie (the message names
        the tie, e.g. ``cfg[1] == cfg[16]``).

    Examples
    --------
    >>> resolve_channel_spec(None) == list(TEACHER_WIDTHS)
    True
    >>> resolve_channel_spec({"down1.conv1.cbr_unit.1": 32})[:3]
    [32, 64, 128]
    """
    if spec is None:
        widths: list[Any] = list(TEACHER_WIDTHS)
    elif isinstance(spec, Mapping):
        unknown = [k for k in spec if k not in DCP_BN_ORDER]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), DCP_BN_ORDER, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"channel_spec: unknown BN name {unknown[0]!r}{hint}")
        widths = [spec.get(name, w) for name, w in zip(DCP_BN_ORDER, TEACHER_WIDTHS, strict=True)]
    elif isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise ValueError(f"channel_spec must be a list or dict, not {type(spec).__name__}")
    else:
        widths = list(spec)
        if len(widths) != len(DCP_BN_ORDER):
            raise ValueError(
                f"channel_spec has {len(widths)} widths; DIM needs {len(DCP_BN_ORDER)} "
                "(the BN order of DCP_BN_ORDER)"
            )
    for i, w in enumerate(widths):
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1:
            raise ValueError(
                f"channel_spec: cfg[{i}] ({DCP_BN_ORDER[i]}) must be a positive int, got {w!r}"
            )
    widths = [int(w) for w in widths]
    if widths[17] != 1:
        raise ValueError(
            f"channel_spec: cfg[17] ({DCP_BN_ORDER[17]}) is the alpha channel and must be 1, "
            f"got {widths[17]}"
        )
    for enc, dec in UNPOOL_TIES:
        if widths[enc] != widths[dec]:
            raise ValueError(
                f"channel_spec violates the unpooling tie cfg[{enc}] == cfg[{dec}] "
                f"({DCP_BN_ORDER[enc]} = {widths[enc]} vs {DCP_BN_ORDER[dec]} = {widths[dec]}): "
                "the decoder unpools with that encoder block's max-pool indices"
            )
    return widths


def apply_unpool_ties(cfg: Sequence[int]) -> list[int]:
    """DCP's repair of a pruned ``cfg``: each tied pair set to the larger of its two widths.

    Examples
    --------
    >>> c = apply_unpool_ties([8] * 16 + [16, 1])
    >>> c[1], c[16]
    (16, 16)
    """
    out = [int(c) for c in cfg]
    for enc, dec in UNPOOL_TIES:
        out[enc] = out[dec] = max(out[enc], out[dec])
    return out


def count_spec_params(spec: Sequence[int] | Mapping[str, int] | None, in_channels: int = 4) -> int:
    """Trainable parameters of a :class:`DIMModel` with ``spec``, from the widths alone.

    Each encoder layer is a 3x3 conv with bias plus a BN (``9*cin*cout + cout + 2*cout``);
    each decoder layer a 5x5 conv with bias plus a BN (``25*cin*cout + cout + 2*cout``).

    Examples
    --------
    >>> count_spec_params(None)
    25582595
    """
    w = resolve_channel_spec(spec)
    total, cin = 0, in_channels
    for i, cout in enumerate(w):
        k2 = 9 if i < 13 else 25
        total += k2 * cin * cout + 3 * cout
        cin = cout
    return total


# --------------------------------------------------------------------------------------------
# "dim": foamliu DIMModel
# --------------------------------------------------------------------------------------------


class _ConvBN(nn.Module):
    """Conv + BatchNorm (+ ReLU) as one ``nn.Sequential`` named ``cbr_unit`` (original keys)."""

    def __init__(self, cin: int, cout: int, kernel: int, *, relu: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel_size=kernel, stride=1, padding=kernel // 2, bias=True),
            nn.BatchNorm2d(cout),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        self.cbr_unit = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cbr_unit(x)


class _Down(nn.Module):
    """Two or three 3x3 conv-BN-ReLU layers, then a 2x2 max-pool returning its indices."""

    def __init__(self, cin: int, widths: Sequence[int]) -> None:
        super().__init__()
        for i, w in enumerate(widths, start=1):
            self.add_module(f"conv{i}", _ConvBN(cin, w, 3, relu=True))
            cin = w
        self.n_convs = len(widths)
        self.maxpool_with_argmax = nn.MaxPool2d(2, 2, return_indices=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Size]:
        for i in range(1, self.n_convs + 1):
            x = getattr(self, f"conv{i}")(x)
        size = x.size()
        pooled, indices = self.maxpool_with_argmax(x)
        return pooled, indices, size


class _Up(nn.Module):
    """2x2 max-unpool to the encoder's pre-pool size, then a 5x5 conv + BN (no ReLU)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.conv = _ConvBN(cin, cout, 5, relu=False)

    def forward(self, x: torch.Tensor, indices: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return self.conv(self.unpool(x, indices, output_size=size))


class DIMModel(nn.Module):
    """foamliu's DIM (the DCP teacher), optionally slimmed by a channel spec.

    Parameters
    ----------
    channel_spec
        ``None`` for the teacher, else 18 widths (list, DCP's ``cfg``) or ``{BN name: width}``
        in :data:`DCP_BN_ORDER`; see :func:`resolve_channel_spec`. A student built this way
        has exactly DCP ``DIMModel_student``'s down/up layers (without its ``feature*`` /
        ``feature_trans*`` connector convs, which belong to the distillation code).
    return_features
        ``False``: ``forward`` returns alpha only (foamliu). ``True`` or ``"dcp"``: returns
        ``(features, alpha)`` like DCP's teacher, ``features = [down2, down3, down4, down5]``,
        the pooled (post-ReLU, post-max-pool) outputs of encoder blocks 2-5, shapes
        ``N x cfg[3|6|9|12] x H/4|8|16|32``. ``"all"``: ``(features, alpha)`` with a dict of
        every block output: ``down1``-``down5`` (pooled encoder outputs) and ``up5``-``up2``
        (decoder conv+BN outputs, no activation), plus ``logits`` (``up1`` before the sigmoid,
        Nx1xHxW).

    Notes
    -----
    Input ``Nx4xHxW`` (see :func:`dim_preprocess`), any ``H, W >= 32`` (five floor-mode
    max-pools; unpooling restores the exact sizes). Output alpha is ``sigmoid`` in (0, 1),
    shape **NxHxW** (channel squeezed, as the original; DCP's code relies on it).
    Initialisation is PyTorch's default (foamliu with ``pretrain=False``).
    """

    def __init__(
        self,
        channel_spec: Sequence[int] | Mapping[str, int] | None = None,
        *,
        return_features: bool | FeatureMode = False,
    ) -> None:
        super().__init__()
        if return_features not in (False, True, "dcp", "all"):
            raise ValueError(
                f"return_features must be False, True, 'dcp' or 'all', not {return_features!r}"
            )
        w = resolve_channel_spec(channel_spec)
        self.widths: tuple[int, ...] = tuple(w)
        self.return_features = return_features
        cin = 4
        for b, (lo, hi) in enumerate(_DOWN_SLICES, start=1):
            self.add_module(f"down{b}", _Down(cin, w[lo:hi]))
            cin = w[hi - 1]
        for b, pos in zip((5, 4, 3, 2, 1), range(13, 18), strict=True):
            self.add_module(f"up{b}", _Up(cin, w[pos]))
            cin = w[pos]
        self.sigmoid = nn.Sigmoid()

    @property
    def channel_spec(self) -> dict[str, int]:
        """The widths as ``{BN name: width}`` (what a checkpoint stores)."""
        return dict(zip(DCP_BN_ORDER, self.widths, strict=True))

    @property
    def is_teacher(self) -> bool:
        """Whether this is the unpruned architecture."""
        return self.widths == TEACHER_WIDTHS

    def bn_groups(self) -> dict[str, list[str]]:
        """BN names by part, DCP's rule: ``'down'`` in the name -> encoder, ``'up'`` -> decoder."""
        groups: dict[str, list[str]] = {"encoder": [], "decoder": []}
        for name, m in self.named_modules():
            if isinstance(m, nn.BatchNorm2d):
                if "down" in name:
                    groups["encoder"].append(name)
                elif "up" in name:
                    groups["decoder"].append(name)
        return groups

    def forward(self, x: torch.Tensor) -> Any:
        """Alpha ``NxHxW``, or ``(features, alpha)`` with ``return_features`` (see class)."""
        feats: dict[str, torch.Tensor] = {}
        pools: list[tuple[torch.Tensor, torch.Size]] = []
        for b in range(1, 6):
            x, idx, size = getattr(self, f"down{b}")(x)
            pools.append((idx, size))
            feats[f"down{b}"] = x
        for b in range(5, 0, -1):
            idx, size = pools[b - 1]
            x = getattr(self, f"up{b}")(x, idx, size)
            feats[f"up{b}"] = x
        alpha = self.sigmoid(torch.squeeze(x, dim=1))
        if not self.return_features:
            return alpha
        if self.return_features == "all":
            feats["logits"] = feats.pop("up1")
            return feats, alpha
        return [feats["down2"], feats["down3"], feats["down4"], feats["down5"]], alpha


# --------------------------------------------------------------------------------------------
# "dim-vgg16-fc6": IndexNet repo's DeepMatting
# --------------------------------------------------------------------------------------------

_VGG_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


class DeepMattingFC6(nn.Module):
    """The IndexNet repo's DIM: VGG16-BN encoder + fc6 as a 7x7 conv, BN-free decoder.

    Notes
    -----
    Keys follow ``hlvggnet.DeepMatting``: ``conv11``/``bn11`` ... ``conv53``/``bn53``,
    ``conv6`` (7x7, 512 -> 4096, on the pool5 output), ``dconv6`` (1x1, 4096 -> 512),
    ``dconv5`` ... ``dconv1`` (5x5, after each unpool), ``alpha_pred`` (5x5, 64 -> 1). Every
    conv except ``alpha_pred`` is followed by ReLU. Output: raw ``Nx1xHxW`` (no sigmoid).

    Unlike the original, unpooling is given the encoder's pre-pool size, so any ``H, W >= 32``
    works; for sizes divisible by 32 (the original's requirement) the result is identical.
    Initialisation follows the original: Kaiming-uniform (fan_in, ReLU) convs, BN 1/0. The
    original calls ``eval()`` on its BNs at construction (``freeze_bn``); we do not, since the
    next ``train()`` undoes it anyway.
    """

    def __init__(self) -> None:
        super().__init__()
        cin = 4
        for b, (width, n) in enumerate(_VGG_BLOCKS, start=1):
            for i in range(1, n + 1):
                self.add_module(f"conv{b}{i}", nn.Conv2d(cin, width, kernel_size=3, padding=1))
                self.add_module(f"bn{b}{i}", nn.BatchNorm2d(width))
                cin = width
            self.add_module(f"pool{b}", nn.MaxPool2d(2, 2, return_indices=True))
        self.conv6 = nn.Conv2d(512, 4096, kernel_size=7, padding=3)
        self.dconv6 = nn.Conv2d(4096, 512, kernel_size=1)
        cin = 512
        for b, cout in zip((5, 4, 3, 2, 1), (512, 256, 128, 64, 64), strict=True):
            self.add_module(f"unpool{b}", nn.MaxUnpool2d(2, 2))
            self.add_module(f"dconv{b}", nn.Conv2d(cin, cout, kernel_size=5, padding=2))
            cin = cout
        self.alpha_pred = nn.Conv2d(64, 1, kernel_size=5, padding=2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def bn_groups(self) -> dict[str, list[str]]:
        """All 13 BNs are in the encoder; the decoder has none."""
        names = [n for n, m in self.named_modules() if isinstance(m, nn.BatchNorm2d)]
        return {"encoder": names, "decoder": []}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw alpha prediction ``Nx1xHxW``."""
        pools: list[tuple[torch.Tensor, torch.Size]] = []
        for b, (_, n) in enumerate(_VGG_BLOCKS, start=1):
            for i in range(1, n + 1):
                x = torch.relu(getattr(self, f"bn{b}{i}")(getattr(self, f"conv{b}{i}")(x)))
            size = x.size()
            x, idx = getattr(self, f"pool{b}")(x)
            pools.append((idx, size))
        x = torch.relu(self.dconv6(torch.relu(self.conv6(x))))
        for b in range(5, 0, -1):
            idx, size = pools[b - 1]
            x = getattr(self, f"unpool{b}")(x, idx, output_size=size)
            x = torch.relu(getattr(self, f"dconv{b}")(x))
        return self.alpha_pred(x)


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------


@register_model(
    "dim",
    published_params=25_582_595,
    description="DIM, foamliu DIMModel (SegNet VGG16-BN, no fc6); the DCP teacher",
)
def dim(
    channel_spec: Sequence[int] | Mapping[str, int] | None = None,
    return_features: bool | FeatureMode = False,
) -> DIMModel:
    """DIM, foamliu ``DIMModel`` (the DCP teacher); see :class:`DIMModel`."""
    return DIMModel(channel_spec, return_features=return_features)


@register_model(
    "dim-vgg16-fc6",
    published_params=130_545_345,
    description="DIM, IndexNet repo re-implementation (VGG16-BN + fc6 as 7x7 conv)",
)
def dim_vgg16_fc6() -> DeepMattingFC6:
    """DIM, IndexNet repo ``hlvgg16``; see :class:`DeepMattingFC6`."""
    return DeepMattingFC6()


def layer_groups(model: nn.Module) -> dict[str, list[str]]:
    """BN layer names by part, in DCP's order (``named_modules`` order).

    Parameters
    ----------
    model
        A :class:`DIMModel` or :class:`DeepMattingFC6`, bare or wrapped in
        ``nn.DataParallel`` (names are then given without the ``module.`` prefix).

    Returns
    -------
    dict
        ``{"encoder": [...], "decoder": [...]}``. For :class:`DIMModel` these are the ``down*``
        and ``up*`` BNs (13 and 5; concatenated they equal :data:`DCP_BN_ORDER`); for
        :class:`DeepMattingFC6` all 13 BNs are encoder and the decoder list is empty.
    """
    inner = getattr(model, "module", model)
    if not hasattr(inner, "bn_groups"):
        raise TypeError(f"layer_groups: not a DIM model ({type(inner).__name__})")
    return inner.bn_groups()


# --------------------------------------------------------------------------------------------
# input and inference
# --------------------------------------------------------------------------------------------


#: The test-time protocols :func:`dim_infer` knows, each with the source file it follows.
PROTOCOLS: dict[str, str] = {
    "foamliu": "foamliu/Deep-Image-Matting-PyTorch test.py (also DCP test.py): whole image",
    "indexnet": (
        "poppinace/indexnet_matting scripts/demo_deep_matting.py (@4beb06a) at full "
        "resolution: resize to a multiple of 32 (cubic; trimap nearest) and back (cubic)"
    ),
    "indexnet-half": (
        "poppinace/indexnet_matting scripts/demo_deep_matting.py as shipped: image_rescale "
        "by 0.5 first, then as 'indexnet'"
    ),
}


def default_protocol(model: nn.Module) -> str:
    """The test protocol of the repository whose checkpoints ``model`` loads.

    ``"indexnet"`` for :class:`DeepMattingFC6` (``"dim-vgg16-fc6"``, the IndexNet repository's
    DIM), ``"foamliu"`` for everything else (:class:`DIMModel`). A ``DataParallel`` wrapper is
    looked through.
    """
    inner = getattr(model, "module", model)
    return "indexnet" if isinstance(inner, DeepMattingFC6) else "foamliu"


def _check_pair(image: Any, trimap: Any) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    trimap = np.asarray(trimap)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"DIM: image must be HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
    if trimap.ndim != 2 or trimap.dtype != np.uint8:
        raise InputError(f"DIM: trimap must be HxW uint8, got {trimap.shape} {trimap.dtype}")
    if trimap.shape != image.shape[:2]:
        raise InputError(f"DIM: sizes differ: image {image.shape[:2]}, trimap {trimap.shape}")
    return image, trimap


def dim_preprocess(image: np.ndarray, trimap: np.ndarray) -> torch.Tensor:
    """The 4-channel network input of DIM (foamliu / DCP test code; also the IndexNet-repo DIM).

    Parameters
    ----------
    image
        HxWx3 ``uint8`` **RGB** (foamliu reads BGR with OpenCV and flips it to RGB first).
    trimap
        HxW ``uint8`` (0 background, 128 unknown, 255 foreground; other values pass through).

    Returns
    -------
    torch.Tensor
        ``1x4xHxW`` float32: channels 0-2 are ``(image / 255 - mean) / std`` with
        :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`; channel 3 is ``trimap / 255``
        (so 128 -> 0.50196).

    Raises
    ------
    InputError
        On wrong shapes, dtypes or mismatched sizes.

    Examples
    --------
    >>> x = dim_preprocess(np.zeros((2, 3, 3), np.uint8), np.full((2, 3), 128, np.uint8))
    >>> tuple(x.shape), round(float(x[0, 3, 0, 0]), 5), round(float(x[0, 0, 0, 0]), 5)
    ((1, 4, 2, 3), 0.50196, -2.1179)
    """
    image, trimap = _check_pair(image, trimap)
    rgb = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255.0)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    tri = torch.from_numpy(trimap.astype(np.float64) / 255.0).float()
    x = torch.cat([(rgb - mean) / std, tri[None]], dim=0)
    return x[None].contiguous()


def dim_infer(
    model: nn.Module,
    image: np.ndarray,
    trimap: np.ndarray,
    *,
    force_known: bool = True,
    protocol: Literal["foamliu", "indexnet", "indexnet-half"] | None = None,
) -> np.ndarray:
    """Alpha of one image by the model's own repository's test protocol (:data:`PROTOCOLS`).

    ``protocol="foamliu"`` (foamliu ``test.py``; DCP ``test.py``): the whole image goes through
    the network at its own size, no padding, no resizing (unpooling restores odd sizes
    exactly); the output is clipped to [0, 1]; ``force_known`` sets ``alpha[trimap == 0] = 0``
    and ``alpha[trimap == 255] = 1``.

    ``protocol="indexnet"`` (poppinace/indexnet_matting ``scripts/demo_deep_matting.py`` with
    ``utils.image_alignment``, the test script of the repository whose checkpoint
    ``"dim-vgg16-fc6"`` loads): :func:`baselines.models.indexnet.indexnet_preprocess` (the
    4-channel input normalised in float64 and cast to float32, then *resized* to
    ``ceil(side / 32) * 32``: the image channels ``INTER_CUBIC``, the trimap channel
    ``INTER_NEAREST``; aspect ratio not kept), forward, the raw output resized back to
    ``H x W`` with ``INTER_CUBIC`` and clipped to [0, 1]; ``force_known`` then copies
    ``trimap / 255`` into every pixel that is not unknown (the script's
    ``(1 - mask) * trimap + mask * alpha`` with ``mask = trimap == 128``; a stray trimap value
    ``v`` becomes ``v / 255``). The script saves ``uint8(alpha * 255)`` (truncation); we
    return the float matte and leave quantisation to the evaluation convention.
    ``protocol="indexnet-half"``: the script as shipped, which first rescales the normalised
    input by 0.5 (``utils.image_rescale``: ``cv2.resize(fx=fy=0.5)``, image cubic, trimap
    nearest) before the alignment; the output is still resized back to ``H x W``.

    The model runs in ``eval()`` mode under ``no_grad`` (its previous mode is restored
    afterwards), on the device of its first parameter.

    Parameters
    ----------
    model
        :class:`DIMModel` (sigmoid output, NxHxW; a ``(features, alpha)`` output is accepted)
        or :class:`DeepMattingFC6` (raw Nx1xHxW output).
    image, trimap
        As for :func:`dim_preprocess`; both sides at least 32 pixels (for every protocol:
        the foamliu network pools five times, and we keep one rule for both models).
    force_known
        Copy the known trimap regions into the result, as the protocol does (above).
    protocol
        ``None`` (default): :func:`default_protocol` -- ``"indexnet"`` for
        :class:`DeepMattingFC6`, ``"foamliu"`` otherwise.

    Returns
    -------
    numpy.ndarray
        HxW float32 alpha in [0, 1].
    """
    image, trimap = _check_pair(image, trimap)
    h, w = trimap.shape
    if min(h, w) < 32:
        raise InputError(f"DIM: image is {h}x{w}; both sides must be >= 32 (five 2x2 pools)")
    if protocol is None:
        protocol = default_protocol(model)  # type: ignore[assignment]
    if protocol == "foamliu":
        x = dim_preprocess(image, trimap)
    elif protocol in ("indexnet", "indexnet-half"):
        x = _indexnet_repo_input(image, trimap, 0.5 if protocol == "indexnet-half" else 1.0)
    else:
        raise InputError(f"DIM: protocol must be one of {sorted(PROTOCOLS)}, got {protocol!r}")
    param = next(model.parameters(), None)
    if param is not None:
        x = x.to(param.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        model.train(was_training)
    if isinstance(out, tuple):
        out = out[-1]
    if protocol == "foamliu":
        alpha = out.reshape(h, w).float().cpu().numpy().clip(0.0, 1.0).astype(np.float32)
        if force_known:
            alpha[trimap == 0] = 0.0
            alpha[trimap == 255] = 1.0
        return alpha
    import cv2

    raw = out.reshape(x.shape[-2:]).float().cpu().numpy()
    alpha = np.clip(cv2.resize(raw, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    if force_known:
        alpha = np.where(trimap == 128, alpha, trimap.astype(np.float32) / np.float32(255.0))
    return alpha.astype(np.float32, copy=False)


def _indexnet_repo_input(image: np.ndarray, trimap: np.ndarray, scale: float) -> torch.Tensor:
    """``demo_deep_matting.py``'s network input: ``Normalize``, ``image_rescale(scale)`` (only
    when ``scale != 1``), ``image_alignment(32)``; 1x4xH'xW' float32."""
    from baselines.models.indexnet import STRIDE, indexnet_preprocess

    if scale == 1.0:
        return indexnet_preprocess(image, trimap, stride=STRIDE)
    import cv2

    x = indexnet_preprocess(image, trimap, stride=None)[0].permute(1, 2, 0).numpy()
    rgb = cv2.resize(x[:, :, :3], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    tri = cv2.resize(x[:, :, 3], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    h, w = (int(math.ceil(s / STRIDE) * STRIDE) for s in tri.shape)
    rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_CUBIC)
    tri = cv2.resize(tri, (w, h), interpolation=cv2.INTER_NEAREST)
    x = np.concatenate((rgb, tri[:, :, None]), axis=2)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


# --------------------------------------------------------------------------------------------
# pickled-module checkpoints, read without running foreign code
# --------------------------------------------------------------------------------------------


class PickledObject:
    """Stand-in for an object whose class the restricted unpickler refuses to import.

    It records what pickle hands it: constructor arguments (``args``), the ``__setstate__``
    state (``state``; for an ``nn.Module`` its ``__dict__`` with ``_parameters``,
    ``_buffers``, ``_modules``), and items/elements pushed by ``SETITEMS``/``APPENDS``.
    ``origin`` is the ``module.qualname`` the pickle named. Calling a stand-in (a pickle may
    call what an earlier reduce returned) only returns another stand-in recording the call.
    """

    origin: str = "?"
    dump_patches = False  # read by torch's legacy loader; never write patch files

    def __new__(cls, *args: Any, **kwargs: Any) -> PickledObject:
        obj = object.__new__(cls)
        obj.__dict__.update(args=args, kwargs=kwargs, state=None, items={}, elements=[])
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state

    def __call__(self, *args: Any, **kwargs: Any) -> PickledObject:
        # a pickle may call what it built (e.g. ``getattr(cls, "f")(...)``): record that too
        call = type("call", (PickledObject,), {"origin": f"{self.origin}(...)"})
        return call(*args, **kwargs)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.elements.append(value)

    def extend(self, values: Any) -> None:
        self.elements.extend(values)

    def __repr__(self) -> str:
        return f"<pickled {self.origin}>"

    @property
    def attrs(self) -> dict[str, Any]:
        """The recorded ``__dict__`` (``{}`` when the state was not a dict)."""
        st = self.state
        if isinstance(st, tuple) and len(st) == 2 and isinstance(st[0], dict):
            st = st[0]
        return st if isinstance(st, dict) else {}


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` limited to stand-in classes (protocol 0/1 pickles)."""
    if isinstance(cls, type) and issubclass(cls, PickledObject):
        return cls(state) if state is not None else cls()
    raise pickle.UnpicklingError(f"refusing copyreg._reconstructor for {cls!r}")


def _allowed_global(module: str, name: str) -> Any:
    """Real objects the restricted unpickler may return; ``None`` for everything else."""
    import collections

    import torch._utils as tu

    table: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("copyreg", "_reconstructor"): _safe_reconstructor,
        ("torch", "Size"): torch.Size,
        ("torch", "UntypedStorage"): torch.UntypedStorage,
        ("torch._utils", "_rebuild_tensor"): getattr(tu, "_rebuild_tensor", None),
        ("torch._utils", "_rebuild_tensor_v2"): getattr(tu, "_rebuild_tensor_v2", None),
        ("torch._utils", "_rebuild_parameter"): getattr(tu, "_rebuild_parameter", None),
        ("torch._utils", "_rebuild_parameter_with_state"): getattr(
            tu, "_rebuild_parameter_with_state", None
        ),
    }
    if (module, name) in table:
        return table[(module, name)]
    if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
        return getattr(torch, name)
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that imports nothing: see :func:`read_pickled_checkpoint`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._standins: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed_global(module, name)
        if obj is not None:
            return obj
        key = (module, name)
        if key not in self._standins:
            # a fresh class per global; its __module__ names no importable module, so
            # inspect (torch's legacy source check) cannot resolve it either
            self._standins[key] = type(
                name.rsplit(".", 1)[-1],
                (PickledObject,),
                {"origin": f"{module}.{name}", "__module__": f"<pickled {module}>"},
            )
        return self._standins[key]


def _restricted_load(file: Any, **kwargs: Any) -> Any:
    return _RestrictedUnpickler(file, **kwargs).load()


#: The ``pickle_module`` handed to ``torch.load``: torch's own loader does the file format
#: (zip or legacy) and the storages (``persistent_load``); every global goes through
#: :meth:`_RestrictedUnpickler.find_class`.
_RESTRICTED_PICKLE = types.ModuleType("mattebench_restricted_pickle")
_RESTRICTED_PICKLE.Unpickler = _RestrictedUnpickler  # type: ignore[attr-defined]
_RESTRICTED_PICKLE.load = _restricted_load  # type: ignore[attr-defined]
_RESTRICTED_PICKLE.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]


def read_pickled_checkpoint(path: str | Path) -> Any:
    """Load a checkpoint that pickles whole objects, without importing or running its code.

    ``torch.load(weights_only=False, pickle_module=...)`` is given a restricted pickle module,
    so torch still handles both file formats (the zip format and the pre-1.6 legacy format)
    and rebuilds storages through its own ``persistent_load``, but every global the pickle
    names goes through our ``find_class``:

    * allowed, real: ``collections.OrderedDict``, ``set``/``frozenset``, ``torch.Size``,
      ``torch`` dtypes, ``torch.UntypedStorage`` and the tensor/parameter rebuild functions
      in ``torch._utils`` -- the same kind of globals ``torch.load(weights_only=True)``
      allows; storage classes are mapped by torch itself to its inert ``StorageType``;
    * everything else (``models.DIMModel``, ``torch.nn.*`` modules, ``DataParallel``,
      ``torch.device``, optimizers, ``builtins.getattr``, ``os.system``, ...) becomes a fresh
      :class:`PickledObject` subclass that only *records* its arguments and state. Nothing is
      imported, so no module-level code of the checkpoint's project runs, and no method of a
      foreign class is ever called.

    TorchScript archives (which ``torch.load`` would hand to ``torch.jit.load``) are refused.
    Torch's legacy loader warns that it cannot check the (stand-in) classes' source; those
    warnings are silenced here.

    Raises
    ------
    InputError
        When the file is missing, is a TorchScript archive, or cannot be unpickled.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such checkpoint file")
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as zf:
            if any(n.endswith("constants.pkl") for n in zf.namelist()):
                raise InputError(f"{p.name}: a TorchScript archive, not a pickled checkpoint")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(
                p, map_location="cpu", weights_only=False, pickle_module=_RESTRICTED_PICKLE
            )
    except Exception as e:
        raise InputError(f"{p.name}: cannot be read ({type(e).__name__}: {str(e)[:200]})") from None


def _module_tensors(rec: Any, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """``state_dict`` of a pickled ``nn.Module`` record: own params, own buffers, children."""
    attrs = rec.attrs if isinstance(rec, PickledObject) else {}
    skip = attrs.get("_non_persistent_buffers_set") or ()
    if not isinstance(skip, (set, frozenset)):
        skip = ()
    for kind in ("_parameters", "_buffers"):
        for k, v in dict(attrs.get(kind) or {}).items():
            if v is None or (kind == "_buffers" and k in skip):
                continue
            if not isinstance(v, torch.Tensor):
                raise InputError(f"{prefix}{k} is not a tensor ({v!r})")
            out[prefix + k] = v.detach()
    for k, child in dict(attrs.get("_modules") or {}).items():
        if child is not None:
            _module_tensors(child, f"{prefix}{k}.", out)


def pickled_state_dict(obj: Any, *, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state_dict inside an object returned by :func:`read_pickled_checkpoint`.

    Looks under a ``"model"``/``"state_dict"``/... entry, unwraps ``DataParallel`` /
    ``DistributedDataParallel`` (their ``module`` child), and walks ``_modules`` collecting
    ``_parameters`` and persistent ``_buffers`` with dotted names, in ``state_dict`` order.
    A plain tensor dict is accepted too.
    """
    if isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("model", "state_dict", "net", "model_state_dict"):
            if key in obj:
                obj = obj[key]
                break
    if isinstance(obj, PickledObject):
        while obj.origin.endswith("DataParallel") and "module" in obj.attrs.get("_modules", {}):
            obj = obj.attrs["_modules"]["module"]
        if "_modules" not in obj.attrs:
            raise InputError(f"{source}: {obj.origin} is not a pickled nn.Module")
        sd: dict[str, torch.Tensor] = {}
        _module_tensors(obj, "", sd)
        if not sd:
            raise InputError(f"{source}: the pickled {obj.origin} holds no tensors")
        return strip_prefix(sd, "module.") if all(k.startswith("module.") for k in sd) else sd
    return extract_state_dict(obj, source=source)


def _strict_load(model: nn.Module, sd: Mapping[str, torch.Tensor], source: str) -> None:
    check_state_dict(model, sd, source)
    model.load_state_dict(sd, strict=True)


def convert_foamliu_checkpoint(path: str | Path, out_path: str | Path) -> dict[str, Any]:
    """Convert foamliu's ``BEST_checkpoint.tar`` (a pickled ``DataParallel(DIMModel)``) to ours.

    CLI: ``mattebench convert-checkpoint dim-foamliu BEST_checkpoint.tar dim.pth``.

    The file is read by :func:`read_pickled_checkpoint` (no foreign code is imported or run),
    the parameters and buffers are collected from the pickled module records
    (:func:`pickled_state_dict`), loaded **strictly** into a :class:`DIMModel` (the widths
    are read from the BN shapes, so a pruned student of the same architecture converts too),
    and written with :func:`baselines.models.checkpoint.save_checkpoint` under the name
    ``"dim"``. Afterwards ``create_model("dim", checkpoint=out_path)`` loads it (a student
    needs ``channel_spec=`` as stored in the file).

    Parameters
    ----------
    path
        The official checkpoint.
    out_path
        Where to write ours (atomically).

    Returns
    -------
    dict
        The ``meta`` written: source file name, the original ``epoch`` / ``loss`` /
        ``epochs_since_improvement`` when they are plain numbers, the wrapper class, the
        tensor count.

    Raises
    ------
    InputError
        When the file cannot be read or does not hold a DIM state_dict.
    """
    p = Path(path)
    obj = read_pickled_checkpoint(p)
    sd = pickled_state_dict(obj, source=p.name)
    try:
        widths = [int(sd[f"{name}.weight"].shape[0]) for name in DCP_BN_ORDER]
        spec = None if tuple(widths) == TEACHER_WIDTHS else widths
        model = DIMModel(spec)
    except (KeyError, ValueError) as e:
        raise InputError(f"{p.name}: not a DIM (foamliu) state_dict ({e})") from None
    _strict_load(model, sd, p.name)
    meta: dict[str, Any] = {"source": p.name, "converted_by": "convert_foamliu_checkpoint"}
    if isinstance(obj, Mapping):
        for key in ("epoch", "epochs_since_improvement", "loss"):
            v = obj.get(key)
            if isinstance(v, torch.Tensor) and v.numel() == 1:
                v = v.item()
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                meta[key] = v
        wrapped = obj.get("model")
        if isinstance(wrapped, PickledObject):
            meta["pickled_class"] = wrapped.origin
    meta["n_tensors"] = len(sd)
    save_checkpoint(
        model,
        out_path,
        name="dim",
        channel_spec=None if model.is_teacher else model.channel_spec,
        meta=meta,
    )
    return meta
