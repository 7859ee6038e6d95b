"""MatteBench metrics: the DIM reference SAD, MSE, Gradient and Connectivity errors, exactly.

Every function takes ``pred``, ``gt`` (2-D ``uint8`` grey levels or float alpha in ``[0, 1]``)
and, where it needs one, an 8-bit ``trimap`` (only ``== 128`` is unknown). ``scale="paper"``
returns what papers print (SAD/1000, MSE as is, Grad/1000, Conn/1000); ``scale="raw"`` the raw
sums. ``convention=`` picks a named re-statement of a popular port (``list_conventions()``).
"""

from __future__ import annotations

from typing import Any

from metrics._version import __version__
from metrics.common import (
    InputError,
    InputWarning,
    LossyImageWarning,
    NoUnknownWarning,
    StrayTrimapWarning,
    UnknownNameError,
)
from metrics.conn import conn, conn_torch, conn_whole, conn_whole_torch
from metrics.conventions import (
    CONVENTIONS,
    Convention,
    get_convention,
    list_conventions,
    register_convention,
)
from metrics.grad import grad, grad_torch, grad_whole, grad_whole_torch
from metrics.miou import confusion_matrix, iou_per_class, miou
from metrics.mse import mse, mse_torch, mse_trimap, mse_trimap_torch, mse_whole, mse_whole_torch
from metrics.regions import force_known, region_mask
from metrics.registry import METRICS, MetricSpec, get_metric, list_metrics, register_metric
from metrics.sad import (
    mad,
    mad_torch,
    mad_trimap,
    mad_trimap_torch,
    sad,
    sad_bg,
    sad_bg_torch,
    sad_fg,
    sad_fg_torch,
    sad_torch,
    sad_trimap,
    sad_trimap_torch,
    sad_whole,
    sad_whole_torch,
)

__all__ = [
    "__version__",
    "CONVENTIONS",
    "METRICS",
    "Convention",
    "InputError",
    "InputWarning",
    "LossyImageWarning",
    "MetricSpec",
    "NoUnknownWarning",
    "StrayTrimapWarning",
    "UnknownNameError",
    "conn",
    "conn_torch",
    "conn_whole",
    "conn_whole_torch",
    "confusion_matrix",
    "evaluate",
    "evaluate_whole",
    "force_known",
    "get_convention",
    "get_metric",
    "grad",
    "grad_torch",
    "grad_whole",
    "grad_whole_torch",
    "iou_per_class",
    "list_conventions",
    "list_metrics",
    "mad",
    "mad_torch",
    "mad_trimap",
    "mad_trimap_torch",
    "miou",
    "mse",
    "mse_torch",
    "mse_trimap",
    "mse_trimap_torch",
    "mse_whole",
    "mse_whole_torch",
    "region_mask",
    "register_convention",
    "register_metric",
    "sad",
    "sad_bg",
    "sad_bg_torch",
    "sad_fg",
    "sad_fg_torch",
    "sad_torch",
    "sad_trimap",
    "sad_trimap_torch",
    "sad_whole",
    "sad_whole_torch",
]


def evaluate(
    pred: Any, gt: Any, trimap: Any, *, convention: str = "reference", scale: str = "paper"
) -> dict[str, float]:
    """SAD, MSE, Grad and Conn of one image from a single validation pass.

    Same conventions and units as :func:`sad`, :func:`mse`, :func:`grad` and :func:`conn`.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((8, 8), np.uint8); gt[:, 4:] = 255
    >>> tri = np.full((8, 8), 128, np.uint8)
    >>> evaluate(gt, gt, tri)
    {'sad': 0.0, 'mse': 0.0, 'grad': 0.0, 'conn': 0.0}
    """
    return get_convention(convention).evaluate(pred, gt, trimap, scale=scale)


def evaluate_whole(
    pred: Any, gt: Any, trimap: Any | None = None, *, scale: str = "paper"
) -> dict[str, float]:
    """The whole-image family for trimap-free benchmarks (P3M / AIM / PPM-100 style).

    Always ``sad_whole``, ``mse_whole``, ``mad``, ``grad_whole`` and ``conn_whole``; with a
    trimap also ``sad_trimap``, ``mse_trimap``, ``mad_trimap``, ``sad_fg`` and ``sad_bg``.
    """
    out = {}
    for name, spec in METRICS.items():
        if spec.region == "unknown" or (spec.needs_trimap and trimap is None):
            continue
        out[name] = spec.compute(pred, gt, trimap, scale=scale)
    return out
