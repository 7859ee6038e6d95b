"""Sum of absolute differences (SAD) and mean absolute difference (MAD).

Reference: ``compute_sad_loss.m`` of the DIM MATLAB evaluation code (Ning Xu, 2018-1-1):
``sum(|pred - gt| / 255)`` over ``trimap == 128``, divided by 1000 inside the function. The
whole-image family (whole-image SAD, SAD-Trimap, SAD-FG, SAD-BG, MAD) follows the P3M / AIM /
GFM ``core/evaluate.py`` definitions, re-stated here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics._convention_table import get_convention
from metrics._inputs import prepare
from metrics._ops import abs_diff, count, masked_sum
from metrics._scale import apply_scale
from metrics._torch import as_batch, masked_sum_t, per_image_scale
from metrics.regions import Region, force_known, region_mask

__all__ = [
    "sad",
    "sad_whole",
    "sad_trimap",
    "sad_fg",
    "sad_bg",
    "mad",
    "mad_trimap",
    "sad_raw",
    "sad_torch",
    "sad_whole_torch",
    "sad_fg_torch",
    "sad_bg_torch",
    "sad_trimap_torch",
    "mad_torch",
    "mad_trimap_torch",
    "force_known_t",
]


def sad_raw(p: np.ndarray, g: np.ndarray, mask: np.ndarray | None) -> float:
    """Raw SAD (alpha units, not /1000) of validated, promoted mattes over ``mask``.

    8-bit input is summed exactly on the integers and divided by 255 once.
    """
    s = masked_sum(abs_diff(p, g), mask)
    return s / 255.0 if p.dtype == np.uint8 else float(s)


def sad(
    pred: Any, gt: Any, trimap: Any, *, convention: str = "reference", scale: str = "paper"
) -> float:
    """SAD over the unknown region, as the DIM reference computes it.

    Conventions of ``convention="reference"`` (DIM ``compute_sad_loss.m``):

    * **pixels counted**: ``trimap == 128`` only (127/129 of a resized trimap do not count);
      ``pred`` is *not* forced in the known regions (that is the inference code's job, see
      :func:`metrics.regions.force_known`);
    * **input scaling**: ``|pred - gt| / 255`` for 8-bit input (summed exactly on the
      integers), float alpha in ``[0, 1]`` as is; no min-max normalisation;
    * **aggregation**: a sum per image (average per-image values over a dataset);
    * **unit**: ``scale="paper"`` returns the sum / 1000 (what ``compute_sad_loss`` returns and
      papers print); ``scale="raw"`` the sum itself (the golden ``sad`` column).

    A trimap without any 128 gives 0. Other ``convention`` names reproduce popular ports
    (``mattebench conventions``).

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.array([[0, 255, 255]], np.uint8)
    >>> pred = np.array([[51, 204, 0]], np.uint8)
    >>> tri = np.array([[128, 128, 255]], np.uint8)
    >>> sad(pred, gt, tri, scale="raw")
    0.4
    """
    return get_convention(convention).sad(pred, gt, trimap, scale=scale)


def _region_sad(pred: Any, gt: Any, trimap: Any, region: Region, scale: str) -> float:
    p, g, t = prepare(pred, gt, trimap)
    return apply_scale(sad_raw(p, g, region_mask(t, region)), "sad", scale)


def sad_whole(pred: Any, gt: Any, *, scale: str = "paper") -> float:
    """SAD over the whole image (trimap-free benchmarks: P3M, AIM, PPM-100 style).

    ``sum |pred - gt|`` over every pixel, 8-bit input divided by 255; ``scale="paper"``
    divides by 1000 as P3M / AIM / GFM ``core/evaluate.py`` do.
    """
    return _region_sad(pred, gt, None, "whole", scale)


def sad_fg(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> float:
    """SAD over the foreground of the trimap (``trimap == 255``), /1000 for ``"paper"``.

    P3M / AIM's ``SAD-FG``: how much of the known foreground the prediction gets wrong.
    """
    return _region_sad(pred, gt, trimap, "fg", scale)


def sad_bg(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> float:
    """SAD over the background of the trimap (``trimap == 0``), /1000 for ``"paper"``."""
    return _region_sad(pred, gt, trimap, "bg", scale)


def sad_trimap(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> float:
    """SAD-Trimap (P3M / AIM "SAD-Trans"): force ``pred`` from the trimap, sum the whole image.

    ``pred`` is set to 0 where ``trimap == 0`` and to 1 where ``trimap == 255``, then SAD is
    summed over the **whole image** (so it equals the unknown-region SAD only when ``gt``
    agrees with the trimap's known labels and the trimap has no stray values); /1000 for
    ``"paper"``.
    """
    p, g, t = prepare(pred, gt, trimap)
    return apply_scale(sad_raw(force_known(p, t), g, None), "sad", scale)


def mad(pred: Any, gt: Any, *, scale: str = "paper") -> float:
    """Mean absolute difference over the whole image (MODNet / PPM-100, P3M ``MAD``).

    ``mean |pred - gt|`` in alpha units. No scale is applied (``"paper"`` and ``"raw"`` agree);
    later portrait papers print ``MAD x 1e3``, which the report layer does, not this function.
    """
    p, g, _ = prepare(pred, gt, None)
    return apply_scale(sad_raw(p, g, None) / p.size, "mad", scale)


def mad_trimap(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> float:
    """P3M's ``MAD-Trimap``: forced ``pred``, whole-image sum divided by ``#(trimap == 128)``.

    NaN when the trimap has no 128 pixel.
    """
    p, g, t = prepare(pred, gt, trimap)
    n = count(t == 128, t.shape)
    s = sad_raw(force_known(p, t), g, None)
    return apply_scale(s / n if n else float("nan"), "mad", scale)


# --------------------------------------------------------------------------- torch twins
# pred, gt: (H, W), (B, H, W) or (B, 1, H, W) tensors, uint8 grey levels or float alpha in
# [0, 1] (validated as in numpy); trimap: integer tensor of the same shape. float64 on the
# input's device; a (B,) tensor comes back (0-d for 2-D input).


def sad_torch(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`sad` (reference convention), on any device."""
    p, g, t, squeeze = as_batch(pred, gt, trimap)
    return per_image_scale(masked_sum_t((p - g).abs(), t == 128), "sad", scale, squeeze)


def sad_whole_torch(pred: Any, gt: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`sad_whole`."""
    p, g, _, squeeze = as_batch(pred, gt, None)
    return per_image_scale(masked_sum_t((p - g).abs(), None), "sad", scale, squeeze)


def sad_fg_torch(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`sad_fg`."""
    p, g, t, squeeze = as_batch(pred, gt, trimap)
    return per_image_scale(masked_sum_t((p - g).abs(), t == 255), "sad", scale, squeeze)


def sad_bg_torch(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`sad_bg`."""
    p, g, t, squeeze = as_batch(pred, gt, trimap)
    return per_image_scale(masked_sum_t((p - g).abs(), t == 0), "sad", scale, squeeze)


def force_known_t(p: Any, t: Any) -> Any:
    """Torch twin of :func:`metrics.regions.force_known` on float alpha."""
    return p.masked_fill(t == 0, 0.0).masked_fill(t == 255, 1.0)


def sad_trimap_torch(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`sad_trimap`."""
    p, g, t, squeeze = as_batch(pred, gt, trimap)
    raw = masked_sum_t((force_known_t(p, t) - g).abs(), None)
    return per_image_scale(raw, "sad", scale, squeeze)


def mad_torch(pred: Any, gt: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`mad`."""
    p, g, _, squeeze = as_batch(pred, gt, None)
    raw = masked_sum_t((p - g).abs(), None) / (p.shape[-1] * p.shape[-2])
    return per_image_scale(raw, "mad", scale, squeeze)


def mad_trimap_torch(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`mad_trimap` (NaN where no 128 pixel)."""
    p, g, t, squeeze = as_batch(pred, gt, trimap)
    n = (t == 128).sum(dim=(-2, -1)).to(p.dtype)
    s = masked_sum_t((force_known_t(p, t) - g).abs(), None)
    raw = (s / n).masked_fill(n == 0, float("nan"))
    return per_image_scale(raw, "mad", scale, squeeze)
