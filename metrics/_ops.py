"""Small array helpers shared by the kernels (masked sums on the integer and float paths)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["abs_diff", "masked_sum", "count"]


def abs_diff(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``|p - g|``: ``uint8`` grey-level differences (no wrap-around) or ``float64`` alpha."""
    if p.dtype == np.uint8:
        return cv2.absdiff(p, g)
    return np.abs(p - g)


def masked_sum(x: np.ndarray, mask: np.ndarray | None) -> float | int:
    """Sum of ``x`` over ``mask`` (``None`` = everywhere); exact ``int`` for integer ``x``."""
    if x.dtype.kind in "iu":
        if mask is None:
            return int(x.sum(dtype=np.int64))
        # x * mask keeps x's dtype and is several times faster than where= or x[mask]
        return int(np.multiply(x, mask).sum(dtype=np.int64))
    if mask is None:
        return float(x.sum())
    return float(np.multiply(x, mask).sum())


def count(mask: np.ndarray | None, shape: tuple[int, ...]) -> int:
    """Number of pixels in ``mask`` (``None`` = the whole image of ``shape``)."""
    if mask is None:
        return int(np.prod(shape))
    return int(np.count_nonzero(mask))
