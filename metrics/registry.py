"""The metric registry: one frozen :class:`MetricSpec` per metric.

Reports take labels, arrows, units and column order from here; tests parametrize over it, so a
newly registered metric is tested at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from metrics._scale import PAPER_DIVISORS
from metrics.common import lookup

# the package namespace binds ``metrics.sad`` etc. to the functions, so fetch the modules
_conn = importlib.import_module("metrics.conn")
_grad = importlib.import_module("metrics.grad")
_mse = importlib.import_module("metrics.mse")
_sad = importlib.import_module("metrics.sad")

__all__ = ["MetricSpec", "METRICS", "register_metric", "get_metric", "list_metrics"]


@dataclass(frozen=True)
class MetricSpec:
    """What the suite needs to know about one metric.

    Attributes
    ----------
    name
        Registry key, also the results-column name.
    label
        Column header in tables (``"SAD"``).
    numpy_fn
        ``fn(pred, gt, trimap, *, scale)`` for ``needs_trimap`` metrics, else ``fn(pred, gt, *,
        scale)``.
    torch_fn
        The batched torch twin with the same arguments, or ``None``.
    torch_note
        How exact the twin is (or why there is none).
    higher_is_better
        ``False`` for every error metric.
    paper_divisor
        What ``scale="paper"`` divides the raw value by; the table caption shows it.
    region
        ``"unknown"``, ``"whole"``, ``"fg"``, ``"bg"`` or ``"forced-whole"`` (SAD-Trimap).
    needs_trimap
        Whether the metric reads the trimap.
    convention_aware
        Whether the metric takes ``convention=`` (the four DIM metrics).
    reference
        The definition it follows.
    """

    name: str
    label: str
    numpy_fn: Callable[..., float]
    torch_fn: Callable[..., Any] | None
    torch_note: str
    higher_is_better: bool
    paper_divisor: float
    region: str
    needs_trimap: bool
    convention_aware: bool
    reference: str

    @property
    def arrow(self) -> str:
        """``"↑"`` or ``"↓"`` for table headers."""
        return "\u2191" if self.higher_is_better else "\u2193"

    @property
    def unit(self) -> str:
        """Caption text for the unit of ``scale="paper"`` values (``"SAD/1000"``)."""
        d = self.paper_divisor
        return self.label if d == 1 else f"{self.label}/{d:g}"

    def compute(
        self, pred: Any, gt: Any, trimap: Any = None, *, scale: str = "paper", **kw: Any
    ) -> float:
        """Call the numpy kernel with a uniform signature (``trimap`` ignored when unused)."""
        if self.needs_trimap:
            return self.numpy_fn(pred, gt, trimap, scale=scale, **kw)
        return self.numpy_fn(pred, gt, scale=scale, **kw)

    def compute_torch(self, pred: Any, gt: Any, trimap: Any = None, *, scale: str = "paper") -> Any:
        """Call the torch twin with the same uniform signature."""
        if self.torch_fn is None:
            raise NotImplementedError(f"{self.name} has no torch twin: {self.torch_note}")
        if self.needs_trimap:
            return self.torch_fn(pred, gt, trimap, scale=scale)
        return self.torch_fn(pred, gt, scale=scale)


_REGISTRY: dict[str, MetricSpec] = {}
#: Read-only view of the registry, in registration (= table column) order.
METRICS: Mapping[str, MetricSpec] = MappingProxyType(_REGISTRY)


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add ``spec`` (unique name) to the registry."""
    if spec.name in _REGISTRY:
        raise ValueError(f"metric {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_metric(name: str) -> MetricSpec:
    """Look up a metric; an unknown name fails with the close matches."""
    return lookup(_REGISTRY, name, "metric")


def list_metrics(region: str | None = None) -> list[str]:
    """Registered metric names, optionally only those of one ``region``."""
    return [n for n, s in _REGISTRY.items() if region is None or s.region == region]


_DIM = "DIM MATLAB evaluation code (Xu et al. 2017), compute_{}.m"
_P3M = "P3M / AIM / GFM core/evaluate.py ({})"
_F64 = "exact (float64, agrees with numpy to rounding)"
_CONN_NOTE = (
    "exact (label propagation with pointer jumping to a fixed point; rounds grow with the "
    "longest path inside a component)"
)


def _spec(
    name: str,
    label: str,
    fn: Callable[..., float],
    tfn: Callable[..., Any] | None,
    region: str,
    ref: str,
    *,
    divisor_key: str,
    needs_trimap: bool = True,
    convention_aware: bool = False,
    note: str = _F64,
) -> None:
    register_metric(
        MetricSpec(
            name=name,
            label=label,
            numpy_fn=fn,
            torch_fn=tfn,
            torch_note=note,
            higher_is_better=False,
            paper_divisor=PAPER_DIVISORS[divisor_key],
            region=region,
            needs_trimap=needs_trimap,
            convention_aware=convention_aware,
            reference=ref,
        )
    )


_spec(
    "sad",
    "SAD",
    _sad.sad,
    _sad.sad_torch,
    "unknown",
    _DIM.format("sad_loss"),
    divisor_key="sad",
    convention_aware=True,
)
_spec(
    "mse",
    "MSE",
    _mse.mse,
    _mse.mse_torch,
    "unknown",
    _DIM.format("mse_loss"),
    divisor_key="mse",
    convention_aware=True,
)
_spec(
    "grad",
    "Grad",
    _grad.grad,
    _grad.grad_torch,
    "unknown",
    _DIM.format("gradient_loss"),
    divisor_key="grad",
    convention_aware=True,
)
_spec(
    "conn",
    "Conn",
    _conn.conn,
    _conn.conn_torch,
    "unknown",
    _DIM.format("connectivity_error"),
    divisor_key="conn",
    convention_aware=True,
    note=_CONN_NOTE,
)
_spec(
    "sad_whole",
    "SAD",
    _sad.sad_whole,
    _sad.sad_whole_torch,
    "whole",
    _P3M.format("SAD"),
    divisor_key="sad",
    needs_trimap=False,
)
_spec(
    "mse_whole",
    "MSE",
    _mse.mse_whole,
    _mse.mse_whole_torch,
    "whole",
    _P3M.format("MSE"),
    divisor_key="mse",
    needs_trimap=False,
)
_spec(
    "mad",
    "MAD",
    _sad.mad,
    _sad.mad_torch,
    "whole",
    _P3M.format("MAD; MODNet PPM-100"),
    divisor_key="mad",
    needs_trimap=False,
)
_spec(
    "sad_trimap",
    "SAD-T",
    _sad.sad_trimap,
    _sad.sad_trimap_torch,
    "forced-whole",
    _P3M.format("SAD-Trimap"),
    divisor_key="sad",
)
_spec(
    "mse_trimap",
    "MSE-T",
    _mse.mse_trimap,
    _mse.mse_trimap_torch,
    "forced-whole",
    _P3M.format("MSE-Trimap"),
    divisor_key="mse",
)
_spec(
    "mad_trimap",
    "MAD-T",
    _sad.mad_trimap,
    _sad.mad_trimap_torch,
    "forced-whole",
    _P3M.format("MAD-Trimap"),
    divisor_key="mad",
)
_spec(
    "sad_fg",
    "SAD-FG",
    _sad.sad_fg,
    _sad.sad_fg_torch,
    "fg",
    _P3M.format("SAD-FG"),
    divisor_key="sad",
)
_spec(
    "sad_bg",
    "SAD-BG",
    _sad.sad_bg,
    _sad.sad_bg_torch,
    "bg",
    _P3M.format("SAD-BG"),
    divisor_key="sad",
)
_spec(
    "grad_whole",
    "Grad",
    _grad.grad_whole,
    _grad.grad_whole_torch,
    "whole",
    "DIM reference gradient error summed over the whole image",
    divisor_key="grad",
    needs_trimap=False,
)
_spec(
    "conn_whole",
    "Conn",
    _conn.conn_whole,
    _conn.conn_whole_torch,
    "whole",
    "DIM reference connectivity error summed over the whole image",
    divisor_key="conn",
    needs_trimap=False,
    note=_CONN_NOTE,
)
