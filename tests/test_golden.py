"""The 30 public golden cases: every kernel against the official DIM MATLAB evaluation code.

Source of the expected values: ``metrics/golden/reference.csv`` (a copy of the project's
``shared/golden/metrics``) -- float32 outputs of the
unmodified DIM MATLAB functions (``compute_{sad,mse,gradient}_loss.m``,
``compute_connectivity_error.m``) run under GNU Octave 7.3.0 (see that folder's README). Raw
values (SAD before /1000). Tolerances as the README suggests: ``rtol=1e-5, atol=1e-6``, NaN
equal to NaN, which covers the reference's float32 accumulation (at most 4.2e-6 relative). The
``*_f64`` columns are the same definitions in float64 and are checked at ``rtol=1e-9``.
``conn`` holds the GCA-guard value where the unguarded code fails under Octave; the IndexNet
guard's value is in ``conn_indexnet_guard``.
"""

from __future__ import annotations

import numpy as np
import pytest

import metrics
from metrics import naive
from tests.conftest import GOLDEN_CASES, GOLDEN_ROWS, load_case

KEYS = ("sad", "mse", "grad", "conn")


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    return bool(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_reference_matches_octave(case: str) -> None:
    pred, gt, tri = load_case(case)
    got = metrics.evaluate(pred, gt, tri, scale="raw")
    row = GOLDEN_ROWS[case]
    for k in KEYS:
        want = float(row[k])
        assert _close(got[k], want, 1e-5, 1e-6), f"{case} {k}: {got[k]!r} vs Octave {want!r}"


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_reference_matches_float64_restatement(case: str) -> None:
    pred, gt, tri = load_case(case)
    got = metrics.evaluate(pred, gt, tri, scale="raw")
    row = GOLDEN_ROWS[case]
    for k in KEYS:
        want = float(row[f"{k}_f64"])
        assert _close(got[k], want, 1e-9, 1e-12), f"{case} {k}: {got[k]!r} vs f64 {want!r}"


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_single_functions_and_paper_scale(case: str) -> None:
    pred, gt, tri = load_case(case)
    row = GOLDEN_ROWS[case]
    # what compute_sad_loss returns (float32, /1000 inside the function)
    assert _close(metrics.sad(pred, gt, tri), float(row["sad_div1000_official"]), 1e-5, 1e-9)
    assert _close(metrics.mse(pred, gt, tri), float(row["mse"]), 1e-5, 1e-6)
    assert _close(metrics.grad(pred, gt, tri), float(row["grad"]) / 1000, 1e-5, 1e-9)
    assert _close(metrics.conn(pred, gt, tri), float(row["conn"]) / 1000, 1e-5, 1e-9)


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_guards(case: str) -> None:
    """``reference`` = GCA-Matting's guard; ``matlab-indexnet`` = IndexNet's ``continue``."""
    pred, gt, tri = load_case(case)
    row = GOLDEN_ROWS[case]
    gca = metrics.conn(pred, gt, tri, scale="raw")
    idx = metrics.conn(pred, gt, tri, convention="matlab-indexnet", scale="raw")
    assert _close(gca, float(row["conn_gca_guard"]), 1e-5, 1e-6)
    assert _close(idx, float(row["conn_indexnet_guard"]), 1e-5, 1e-6)


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_float_input_matches(case: str) -> None:
    """``v / 255.0`` in float64 gives the f64 values too (thresholds decided identically)."""
    pred, gt, tri = load_case(case)
    got = metrics.evaluate(pred / 255.0, gt / 255.0, tri, scale="raw")
    row = GOLDEN_ROWS[case]
    for k in KEYS:
        assert _close(got[k], float(row[f"{k}_f64"]), 1e-9, 1e-12), k


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_naive_implementation_matches(case: str) -> None:
    """The simple implementation the benchmarks compare against is itself golden-exact."""
    pred, gt, tri = load_case(case)
    if pred.size > 100_000:
        pytest.skip("the naive labeller is slow on the large case; covered by the others")
    got = naive.naive_evaluate(pred, gt, tri)
    row = GOLDEN_ROWS[case]
    for k in KEYS:
        assert _close(got[k], float(row[f"{k}_f64"]), 1e-9, 1e-12), k


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_torch_twins_match_golden(case: str) -> None:
    torch = pytest.importorskip("torch")
    pred, gt, tri = load_case(case)
    row = GOLDEN_ROWS[case]
    args = (torch.from_numpy(pred), torch.from_numpy(gt), torch.from_numpy(tri))
    for k, fn in (
        ("sad", metrics.sad_torch),
        ("mse", metrics.mse_torch),
        ("grad", metrics.grad_torch),
        ("conn", metrics.conn_torch),
    ):
        got = float(fn(*args, scale="raw"))
        assert _close(got, float(row[k]), 1e-5, 1e-6), f"{case} {k}: {got!r}"
