"""Shared fixtures: the public golden set (in the repository: ``metrics/golden``), the
architecture fingerprints (``tests/data/arch``) and small synthetic cases."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from metrics import golden

REPO = Path(__file__).resolve().parents[1]
#: The project's shared/ folder (optional: papers, research notes). The golden set and the
#: architecture fingerprints are in the repository itself.
SHARED = Path(os.environ.get("MATTEBENCH_SHARED", REPO.parent / "shared"))
#: ``metrics/golden``: the 30 public golden cases (package data, a copy of
#: ``shared/golden/metrics``; provenance in its README).
GOLDEN = golden.GOLDEN_DIR


def golden_rows() -> dict[str, dict[str, str]]:
    """``reference.csv`` merged with ``reference_details.csv``, keyed by case name."""
    return {name: golden.reference_row(name) for name in golden.cases()}


GOLDEN_ROWS = golden_rows()
GOLDEN_CASES = sorted(GOLDEN_ROWS)

#: ``tests/data/arch``: the official models' key/shape fingerprints (a copy of
#: ``shared/reference/arch``; provenance in its README).
ARCH = REPO / "tests" / "data" / "arch"


def fingerprint(name: str) -> dict:
    """``tests/data/arch/<name>.json``, the official model's key/shape fingerprint."""
    path = ARCH / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())


def conv_record(conv) -> dict:
    """A conv layer in the fingerprints' ``layers`` format (the keys both sides share)."""
    return {
        "in_channels": conv.in_channels,
        "out_channels": conv.out_channels,
        "kernel": list(conv.kernel_size),
        "stride": list(conv.stride),
        "padding": list(conv.padding),
        "dilation": list(conv.dilation),
        "groups": conv.groups,
        "bias": conv.bias is not None,
        "params": sum(p.numel() for p in conv.parameters()),
    }


def load_case(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred, gt, trimap) of a golden case as writable uint8 HxW arrays."""
    c = golden.load(name)
    return c.pred.copy(), c.gt.copy(), c.trimap.copy()


def smooth_case(
    h: int, w: int, seed: int, unknown: float = 0.35
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random smooth matte, a noisy prediction forced to the trimap, about ``unknown`` band."""
    rng = np.random.default_rng(seed)
    from scipy import ndimage

    small = ndimage.gaussian_filter(rng.random((max(h // 8, 4), max(w // 8, 4))), 2.0)
    g = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    g = (g - g.mean()) / (g.std() + 1e-12)
    # a soft band around the 0.5 level set, whose width sets the unknown fraction
    band = np.quantile(np.abs(g), unknown)
    alpha = np.clip(0.5 + g / (2 * band), 0, 1)
    gt = np.round(alpha * 255).astype(np.uint8)
    tri = np.where(gt == 0, 0, np.where(gt == 255, 255, 128)).astype(np.uint8)
    noise = rng.normal(0, 12, (h, w))
    pred = np.clip(gt + noise + 8 * ndimage.gaussian_filter(rng.normal(size=(h, w)), 6), 0, 255)
    pred = np.round(pred).astype(np.uint8)
    pred[tri == 0] = 0
    pred[tri == 255] = 255
    return pred, gt, tri


@pytest.fixture(scope="session")
def small_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return smooth_case(64, 80, seed=1)
