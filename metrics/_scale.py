"""Units: raw sums versus what papers print."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["PAPER_DIVISORS", "apply_scale", "check_scale"]

#: What the DIM reference drivers (GCA ``evaluate.m``, IndexNet ``hleval.m``) print: SAD is
#: divided by 1000 inside ``compute_sad_loss.m``; Grad and Conn by 1000 in the drivers; MSE is a
#: plain mean. The whole-image family follows the P3M / AIM / GFM ``core/evaluate.py`` units.
PAPER_DIVISORS: Mapping[str, float] = {
    "sad": 1000.0,
    "mse": 1.0,
    "grad": 1000.0,
    "conn": 1000.0,
    "mad": 1.0,
}


def check_scale(scale: str) -> None:
    if scale not in ("paper", "raw"):
        raise ValueError(f"scale must be 'paper' or 'raw', got {scale!r}")


def apply_scale(
    value: float, metric: str, scale: str, divisors: Mapping[str, float] | None = None
) -> float:
    """``value`` as is for ``scale="raw"``; divided by the paper divisor for ``"paper"``."""
    check_scale(scale)
    if scale == "raw":
        return float(value)
    return float(value) / (divisors or PAPER_DIVISORS)[metric]
