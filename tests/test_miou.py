"""mIoU for the segmentation track: pooled confusion matrix, VOC ignore index 255."""

from __future__ import annotations

import numpy as np
import pytest

from metrics import InputError, confusion_matrix, iou_per_class, miou


def test_pooled_over_images() -> None:
    """Two images pooled: IoU per class from the summed confusion matrix, not a mean of means."""
    gt1 = np.array([[0, 0], [1, 1]])
    pr1 = np.array([[0, 1], [1, 1]])
    gt2 = np.array([[2, 2], [255, 0]])
    pr2 = np.array([[2, 0], [1, 0]])
    cm = confusion_matrix(pr1, gt1, 3) + confusion_matrix(pr2, gt2, 3)
    # class 0: tp 2 (1 + 1), fp 1 (img2 pred 0 at gt 2), fn 1 (img1 gt 0 -> 1): 2/4
    # class 1: tp 2, fp 1, fn 0: 2/3 ; class 2: tp 1, fp 0, fn 1: 1/2
    np.testing.assert_allclose(iou_per_class(cm), [0.5, 2 / 3, 0.5])
    assert miou([pr1, pr2], [gt1, gt2], num_classes=3) == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)


def test_absent_class_left_out() -> None:
    """A class absent from both gt and prediction does not count (NaN IoU, skipped)."""
    gt = np.array([[0, 1]])
    assert miou(gt, gt, num_classes=5) == 1.0
    assert np.isnan(iou_per_class(confusion_matrix(gt, gt, 5))[3])


def test_errors() -> None:
    with pytest.raises(InputError, match="sizes differ"):
        miou(np.zeros((2, 2), int), np.zeros((2, 3), int), num_classes=2)
    with pytest.raises(InputError, match="outside 0..1"):
        miou(np.array([[0, 7]]), np.array([[0, 1]]), num_classes=2)
    with pytest.raises(InputError, match="integers"):
        miou(np.zeros((2, 2)), np.zeros((2, 2), int), num_classes=2)
    with pytest.raises(InputError, match="2 predictions but 1"):
        miou([np.zeros((1, 1), int)] * 2, [np.zeros((1, 1), int)], num_classes=2)
