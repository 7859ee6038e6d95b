"""Fast kernels vs the deliberately simple implementations (:mod:`metrics.naive`).

Each metric has a ``fast`` and a ``naive`` benchmark in the same group; the terminal summary
prints the ratio of medians. Both sides are checked to agree, so a fast-but-wrong kernel
cannot pass.
"""

from __future__ import annotations

import numpy as np
import pytest

import metrics
from metrics import naive

FAST = {
    "sad": lambda p, g, t: metrics.sad(p, g, t, scale="raw"),
    "mse": lambda p, g, t: metrics.mse(p, g, t, scale="raw"),
    "grad": lambda p, g, t: metrics.grad(p, g, t, scale="raw"),
    "conn": lambda p, g, t: metrics.conn(p, g, t, scale="raw"),
}
NAIVE = {
    "sad": naive.naive_sad,
    "mse": naive.naive_mse,
    "grad": naive.naive_grad,
    "conn": naive.naive_conn,
}


@pytest.mark.parametrize("name", list(FAST))
def test_fast(benchmark, bench_case, name: str) -> None:
    benchmark.group = name
    p, g, t = bench_case
    got = benchmark(FAST[name], p, g, t)
    assert np.isclose(got, NAIVE[name](p, g, t), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(NAIVE))
def test_naive(benchmark, bench_case, name: str) -> None:
    benchmark.group = name
    p, g, t = bench_case
    benchmark.pedantic(NAIVE[name], args=(p, g, t), rounds=3, iterations=1)


def test_fast_all_four(benchmark, bench_case) -> None:
    """``metrics.evaluate``: all four from one validation pass (Conn on a second thread)."""
    benchmark.group = "all4"
    p, g, t = bench_case
    got = benchmark(metrics.evaluate, p, g, t, scale="raw")
    assert np.isclose(got["conn"], metrics.conn(p, g, t, scale="raw"), rtol=1e-12)


def test_naive_all_four(benchmark, bench_case) -> None:
    benchmark.group = "all4"
    p, g, t = bench_case
    benchmark.pedantic(naive.naive_evaluate, args=(p, g, t), rounds=3, iterations=1)
