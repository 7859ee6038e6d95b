"""Input validation and dtype promotion, decided once for every metric.

The rules (also stated in the docstring of every public metric):

* **Alpha mattes** (``pred`` and ``gt``) are 2-D, non-empty arrays.

  - ``uint8`` holds grey levels 0-255; alpha is ``v / 255``. This is what the reference
    MATLAB code reads from an 8-bit PNG.
  - Other integer dtypes (``int8`` ... ``int64``, ``uint32``, ``uint64``) are accepted when every
    value lies in 0-255 and are then treated exactly like ``uint8``. ``uint16`` is always refused:
    it is what a 16-bit PNG decodes to, and ``/255`` of it would be silently wrong.
  - ``bool`` is refused (is ``True`` 1 or 255?).
  - ``float32`` and ``float64`` hold alpha in ``[0, 1]`` directly; they are promoted to
    ``float64`` and are **not** quantised to 8 bits. NaN, inf and values outside ``[0, 1]`` are
    refused. ``float16`` is refused: it cannot hold ``v / 255`` closely enough (0.4 becomes
    0.3999), which would move pixels across the connectivity thresholds.

  When both mattes are 8-bit the kernels work on the integers (exact sums, exact threshold
  decisions). When either one is floating, both are promoted to ``float64`` alpha (``v / 255``
  for the 8-bit one), so ``f(u8, u8)`` and ``f(u8 / 255.0, u8 / 255.0)`` agree to float64
  rounding, and threshold decisions agree exactly (see :mod:`metrics.conn`).
* **Trimaps** are 2-D arrays of an integer dtype with values 0-255 (``uint16`` is refused). Only
  ``trimap == 128`` is unknown; 0 is background, 255 is foreground, and every other value is
  *neither* (it is not unknown, and not known either). Floating trimaps are refused: a float
  trimap in ``[0, 1]`` cannot hit 128 and would silently evaluate nothing.
* ``pred``, ``gt`` and ``trimap`` must have the same shape.

Legal but surprising input is not refused: it raises an :class:`InputWarning` (printed on
stderr once per call site by Python's default filter; the evaluation runner records the facts
per image and counts them under its tables instead of printing them):

* :class:`StrayTrimapWarning`: the trimap has values other than 0/128/255 (a bilinearly
  resized or anti-aliased trimap). They count as neither known nor unknown, so the metrics
  cover fewer pixels than the trimap's author meant (SAD dropped 14 % on one resized trimap).
* :class:`NoUnknownWarning`: an unknown-region metric got a trimap without a single 128 pixel:
  SAD, Grad and Conn are 0 and MSE is NaN (0/0), which the run tables leave out of the mean.
* :class:`LossyImageWarning` (raised by the file readers of :mod:`metrics.common`): a matte read
  from a JPEG, whose values the compression has changed.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from metrics.common import (
    NoUnknownWarning,
    StrayTrimapWarning,
    as_alpha,
    as_trimap,
    check_same_shape,
    stray_count,
)

# the metric-internal helpers (the shared names they build on are in metrics.common)
__all__ = [
    "promote_pair",
    "to_float",
    "warn_trimap",
    "prepare",
]


def promote_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bring two validated mattes to a common representation.

    Both ``uint8``: returned unchanged. Otherwise both become ``float64`` alpha in ``[0, 1]``.
    """
    if pred.dtype == np.uint8 and gt.dtype == np.uint8:
        return pred, gt
    return to_float(pred), to_float(gt)


def to_float(a: np.ndarray) -> np.ndarray:
    """Alpha in ``[0, 1]`` as ``float64`` (``v / 255`` for ``uint8``)."""
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    return a


def warn_trimap(t: np.ndarray, name: str = "trimap", *, unknown_region: bool = True) -> None:
    """Warn about a validated ``uint8`` trimap's stray values and, for the unknown-region
    metrics, a missing unknown region (:class:`StrayTrimapWarning`, :class:`NoUnknownWarning`)."""
    stray = stray_count(t)
    if stray:
        vals = np.unique(t[(t != 0) & (t != 128) & (t != 255)])
        shown = ", ".join(map(str, vals[:6])) + (", ..." if vals.size > 6 else "")
        warnings.warn(
            StrayTrimapWarning(
                f"{name} has {stray} pixel(s) with values other than 0/128/255 ({shown}): they "
                "count as neither known nor unknown, so they are left out (a resized trimap? "
                "resize trimaps with nearest-neighbour interpolation)"
            ),
            stacklevel=4,
        )
    if unknown_region and not np.count_nonzero(t == 128):
        warnings.warn(
            NoUnknownWarning(
                f"{name} has no unknown (128) pixel: SAD, Grad and Conn are 0 and MSE is NaN"
            ),
            stacklevel=4,
        )


def prepare(
    pred: Any, gt: Any, trimap: Any | None, *, unknown_region: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate ``pred``, ``gt`` and ``trimap`` together and promote the mattes.

    A trimap with stray values warns (:class:`StrayTrimapWarning`); with ``unknown_region``
    (the four DIM metrics) a trimap without any 128 pixel warns too (:class:`NoUnknownWarning`).
    """
    p = as_alpha(pred, "pred")
    g = as_alpha(gt, "gt")
    arrays = {"pred": p, "gt": g}
    t = None
    if trimap is not None:
        t = as_trimap(trimap, "trimap")
        arrays["trimap"] = t
    check_same_shape(**arrays)
    if t is not None:
        warn_trimap(t, unknown_region=unknown_region)
    p, g = promote_pair(p, g)
    return p, g, t
