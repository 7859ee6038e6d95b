"""The two exact Conn level-map methods (one-pass union-find, per-level OpenCV labelling)
agree with each other and with the naive implementation on random and crafted level maps."""

from __future__ import annotations

import numpy as np
import pytest

from metrics import naive
from metrics._conn_uf import AVAILABLE
from metrics.conn import conn_levels, conn_raw

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="numba is not installed")


def _random_levels(seed: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # blocky maps make many equal-size components, so ties are frequent
    small = rng.integers(0, 11, (-(-h // 3), -(-w // 3)))
    m = np.kron(small, np.ones((3, 3), dtype=np.int64))[:h, :w]
    noise = rng.random((h, w)) < 0.1
    m[noise] = rng.integers(0, 11, noise.sum())
    return m.astype(np.uint8)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("tie", ["column_major", "row_major"])
@pytest.mark.parametrize("empty", ["gca", "indexnet"])
def test_union_find_equals_opencv(seed: int, tie: str, empty: str) -> None:
    """Both methods give the same level map, ties and empty-level guards included."""
    h, w = [(1, 1), (1, 9), (7, 1), (9, 13), (31, 17), (40, 40)][seed % 6]
    m = _random_levels(seed, h, w)
    if seed % 4 == 3:
        m = np.minimum(m, 6)  # an empty level below 1.0, where the two guards differ
    uf = conn_levels(m, tie=tie, empty=empty, method="union_find")
    cv = conn_levels(m, tie=tie, empty=empty, method="opencv")
    np.testing.assert_array_equal(uf, cv)


def test_equal_size_tie_column_vs_row_major() -> None:
    """Two 2-pixel components: column-major picks the left one, row-major the top one."""
    m = np.zeros((3, 6), np.uint8)
    m[2, 0:2] = 10  # first in column-major order
    m[0, 4:6] = 10  # first in row-major order
    for method in ("union_find", "opencv"):
        col = conn_levels(m, tie="column_major", method=method)
        row = conn_levels(m, tie="row_major", method=method)
        assert col[2, 0] == 10 and col[0, 4] == 0, method
        assert row[0, 4] == 10 and row[2, 0] == 0, method


@pytest.mark.parametrize("seed", range(6))
def test_conn_raw_methods_and_naive_agree(seed: int) -> None:
    """conn_raw with either method equals the naive per-threshold implementation."""
    rng = np.random.default_rng(seed)
    gt = (np.kron(rng.integers(0, 256, (8, 10)), np.ones((4, 4)))).astype(np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-40, 41, gt.shape), 0, 255).astype(np.uint8)
    tri = np.where(rng.random(gt.shape) < 0.6, 128, 0).astype(np.uint8)
    want = naive.naive_conn(pred, gt, tri)
    for method in ("union_find", "opencv"):
        got = conn_raw(pred, gt, tri == 128, method=method)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12), method


def test_opencv_tie_needs_opencv_method() -> None:
    with pytest.raises(ValueError, match="needs method='opencv'"):
        conn_levels(np.ones((2, 2), np.uint8), tie="opencv", method="union_find")
