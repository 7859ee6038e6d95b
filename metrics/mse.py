"""Mean squared error (MSE).

Reference: ``compute_mse_loss.m`` of the DIM MATLAB evaluation code:
``sum(((pred - gt) / 255)^2)`` over ``trimap == 128`` divided by the number of those pixels,
never scaled; 0/0 = NaN when the trimap has no 128 pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics._convention_table import get_convention
from metrics._inputs import prepare
from metrics._ops import abs_diff, count, masked_sum
from metrics._scale import apply_scale
from metrics._torch import as_batch, masked_sum_t, per_image_scale
from metrics.regions import force_known, region_mask

__all__ = [
    "mse",
    "mse_whole",
    "mse_trimap",
    "sq_sum_raw",
    "mse_torch",
    "mse_whole_torch",
    "mse_trimap_torch",
]


def sq_sum_raw(p: np.ndarray, g: np.ndarray, mask: np.ndarray | None) -> float:
    """Sum of squared differences in alpha units over ``mask`` (exact integers for 8-bit)."""
    d = abs_diff(p, g)
    if p.dtype == np.uint8:
        d16 = d.astype(np.uint16)
        np.multiply(d16, d16, out=d16)  # 255^2 fits in 16 bits: exact
        return masked_sum(d16, mask) / 65025.0
    return masked_sum(d * d, mask)


def mse(
    pred: Any, gt: Any, trimap: Any, *, convention: str = "reference", scale: str = "paper"
) -> float:
    """MSE over the unknown region, as the DIM reference computes it.

    Conventions of ``convention="reference"`` (DIM ``compute_mse_loss.m``):

    * **pixels counted**: ``trimap == 128`` only, numerator and denominator alike;
    * **input scaling**: ``((pred - gt) / 255)^2`` for 8-bit input (exact integer sums), float
      alpha as is;
    * **no unknown pixel**: NaN (the reference computes 0/0); ports that add ``1e-8`` to the
      denominator print 0 instead;
    * **unit**: a plain mean, never scaled (``"paper"`` and ``"raw"`` agree). Some papers print
      ``MSE x 1e3``; the report layer says so where it does.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.array([[0, 255, 255]], np.uint8)
    >>> pred = np.array([[51, 204, 0]], np.uint8)
    >>> tri = np.array([[128, 128, 255]], np.uint8)
    >>> round(mse(pred, gt, tri), 12)
    0.04
    """
    return get_convention(convention).mse(pred, gt, trimap, scale=scale)


def mse_whole(pred: Any, gt: Any, *, scale: str = "paper") -> float:
    """MSE over the whole image (MODNet / PPM-100, P3M ``MSE``): ``mean((pred - gt)^2)``."""
    p, g, _ = prepare(pred, gt, None)
    return apply_scale(sq_sum_raw(p, g, None) / p.size, "mse", scale)


def mse_trimap(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> float:
    """P3M's ``MSE-Trimap``: forced ``pred``, whole-image sum / ``#(trimap == 128)``; NaN if none."""
    p, g, t = prepare(pred, gt, trimap)
    n = count(region_mask(t, "unknown"), t.shape)
    s = sq_sum_raw(force_known(p, t), g, None)
    return apply_scale(s / n if n else float("nan"), "mse", scale)


def mse_torch(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`mse` (reference convention); NaN where no 128 pixel."""
    p, g, t, squeeze = as_batch(pred, gt, trimap)
    u = t == 128
    raw = masked_sum_t((p - g) ** 2, u) / u.sum(dim=(-2, -1))
    return per_image_scale(raw, "mse", scale, squeeze)


def mse_whole_torch(pred: Any, gt: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`mse_whole`."""
    p, g, _, squeeze = as_batch(pred, gt, None)
    raw = masked_sum_t((p - g) ** 2, None) / (p.shape[-1] * p.shape[-2])
    return per_image_scale(raw, "mse", scale, squeeze)


def mse_trimap_torch(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`mse_trimap` (NaN where no 128 pixel)."""
    from metrics.sad import force_known_t

    p, g, t, squeeze = as_batch(pred, gt, trimap)
    n = (t == 128).sum(dim=(-2, -1)).to(p.dtype)
    s = masked_sum_t((force_known_t(p, t) - g) ** 2, None)
    raw = (s / n).masked_fill(n == 0, float("nan"))
    return per_image_scale(raw, "mse", scale, squeeze)
