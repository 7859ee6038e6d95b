"""Shared plumbing of the batched torch twins (imported lazily: numpy users never load torch).

Input rules mirror :mod:`metrics._inputs`: ``uint8`` grey levels or floating alpha in
``[0, 1]`` (finite); integer trimaps. Shapes ``(H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)``. All
arithmetic is float64 on the input's device, so the twins agree with numpy to rounding.
"""

from __future__ import annotations

from typing import Any

from metrics._scale import PAPER_DIVISORS, check_scale
from metrics.common import InputError

__all__ = ["as_batch", "masked_sum_t", "per_image_scale"]


def _to_bhw(x: Any, name: str) -> Any:
    import torch

    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise InputError(f"{name} must be (H, W), (B, H, W) or (B, 1, H, W); got {tuple(x.shape)}")
    if x.numel() == 0:
        raise InputError(f"{name} is empty (shape {tuple(x.shape)})")
    return x


def _alpha_t(x: Any, name: str) -> Any:
    import torch

    if x.dtype == torch.uint8:
        return x.to(torch.float64) / 255.0
    if x.dtype == torch.bool or not (x.is_floating_point()):
        raise InputError(f"{name} must be uint8 or floating, got {x.dtype}")
    if x.dtype not in (torch.float32, torch.float64):
        raise InputError(f"{name} is {x.dtype}; pass float32/float64 alpha or uint8")
    x = x.to(torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{name} has {'NaN' if bool(torch.isnan(x).any()) else 'inf'}")
    if bool((x < 0).any()) or bool((x > 1).any()):
        raise InputError(f"{name} has float values outside [0, 1]")
    return x


def as_batch(pred: Any, gt: Any, trimap: Any | None) -> tuple[Any, Any, Any, bool]:
    """Validate and convert to float64 ``(B, H, W)`` alphas and an integer trimap batch."""
    import torch

    squeeze = getattr(pred, "ndim", len(getattr(pred, "shape", ()))) == 2
    p = _to_bhw(pred, "pred")
    g = _to_bhw(gt, "gt")
    if p.shape != g.shape:
        raise InputError(f"sizes differ: pred is {tuple(p.shape)}, gt is {tuple(g.shape)}")
    t = None
    if trimap is not None:
        t = _to_bhw(trimap, "trimap")
        if t.is_floating_point() or t.dtype == torch.bool:
            raise InputError(f"trimap must have an integer dtype (0/128/255), got {t.dtype}")
        if t.shape != p.shape:
            raise InputError(f"sizes differ: pred is {tuple(p.shape)}, trimap is {tuple(t.shape)}")
        t = t.to(p.device)
    g = g.to(p.device)
    return _alpha_t(p, "pred"), _alpha_t(g, "gt"), t, squeeze


def masked_sum_t(x: Any, mask: Any | None) -> Any:
    """Per-image sum over ``mask`` of a ``(B, H, W)`` tensor -> ``(B,)``."""
    if mask is not None:
        x = x * mask
    return x.sum(dim=(-2, -1))


def per_image_scale(raw: Any, metric: str, scale: str, squeeze: bool) -> Any:
    check_scale(scale)
    out = raw if scale == "raw" else raw / PAPER_DIVISORS[metric]
    return out[0] if squeeze else out
