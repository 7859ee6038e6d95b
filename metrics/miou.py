"""Mean intersection over union for the segmentation track (PASCAL VOC style).

Convention: a confusion matrix is accumulated over **all pixels of all images** (pooled, as the
VOC devkit and semseg's ``intersectionAndUnion`` do), pixels whose ground truth equals
``ignore_index`` (VOC's 255 border) are skipped, IoU_c = TP / (TP + FP + FN), and mIoU is the
mean over the classes whose union is non-empty (a class absent from both prediction and ground
truth is left out rather than counted as 0 or 1). Returned as a fraction in [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from metrics.common import InputError

__all__ = ["confusion_matrix", "iou_per_class", "miou"]


def confusion_matrix(
    pred: Any, gt: Any, num_classes: int, *, ignore_index: int | None = 255
) -> np.ndarray:
    """``num_classes x num_classes`` counts, rows = ground truth, columns = prediction.

    Raises
    ------
    InputError
        On a shape mismatch, non-integer labels, or labels outside ``[0, num_classes)`` (other
        than ``ignore_index`` in ``gt``).
    """
    p = np.asarray(pred)
    g = np.asarray(gt)
    if p.shape != g.shape:
        raise InputError(f"sizes differ: pred is {p.shape}, gt is {g.shape}")
    if p.dtype.kind not in "iu" or g.dtype.kind not in "iu":
        raise InputError(f"labels must be integers, got pred {p.dtype} and gt {g.dtype}")
    p = p.ravel().astype(np.int64)
    g = g.ravel().astype(np.int64)
    keep = np.ones(g.shape, dtype=bool) if ignore_index is None else g != ignore_index
    p, g = p[keep], g[keep]
    for name, a in (("gt", g), ("pred", p)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            bad = sorted(set(np.unique(a[(a < 0) | (a >= num_classes)]).tolist()))[:5]
            raise InputError(f"{name} has labels outside 0..{num_classes - 1}: {bad}")
    return np.bincount(g * num_classes + p, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """IoU of each class from a confusion matrix; NaN where the union is empty."""
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def miou(
    pred: Any | Sequence[Any],
    gt: Any | Sequence[Any],
    *,
    num_classes: int = 21,
    ignore_index: int | None = 255,
) -> float:
    """Mean IoU of one label map or of a dataset of them (pooled confusion matrix).

    Parameters
    ----------
    pred, gt
        One integer label map each, or equal-length sequences of them.
    num_classes
        21 for VOC 2012 (background + 20 classes).
    ignore_index
        Ground-truth label to skip (VOC: 255); ``None`` keeps every pixel.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.array([[0, 0, 1, 255]])
    >>> pred = np.array([[0, 1, 1, 1]])
    >>> miou(pred, gt, num_classes=2)
    0.5
    """
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(pred, np.ndarray) or not isinstance(pred, Sequence):
        pairs = [(pred, gt)]
    else:
        if len(pred) != len(gt):
            raise InputError(f"{len(pred)} predictions but {len(gt)} ground truths")
        pairs = zip(pred, gt, strict=True)
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    for p, g in pairs:
        cm += confusion_matrix(p, g, num_classes, ignore_index=ignore_index)
    return miou_from_confusion(cm)


def miou_from_confusion(cm: np.ndarray) -> float:
    """Mean IoU over the classes with a non-empty union of a pooled confusion matrix (NaN when
    no class has one): the last step of :func:`miou`, for callers that pool as they stream.

    >>> miou_from_confusion(np.array([[1, 1], [0, 1]]))
    0.5
    """
    iou = iou_per_class(cm)
    if np.all(np.isnan(iou)):
        return float("nan")
    return float(np.nanmean(iou))
