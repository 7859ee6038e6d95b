"""Speed benchmarks: the fast kernels against the simple implementations, in one run.

``tox -e bench`` runs them timed on a 2048x2048 case and prints the fast-vs-naive ratios; the
default test run executes each benchmark once on a 512x512 case as a smoke test.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import smooth_case


def _enabled(config: pytest.Config) -> bool:
    """Timed run: ``--benchmark-enable`` (or ``--benchmark-only``) beats the default's
    ``--benchmark-disable``."""
    return bool(
        config.getoption("benchmark_enable", default=False)
        or config.getoption("benchmark_only", default=False)
    )


@pytest.fixture(scope="session")
def bench_case(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth gt, noisy pred forced to the trimap, about 35 % unknown (issue 2's case)."""
    size = 2048 if _enabled(request.config) else 512
    return smooth_case(size, size, seed=2048)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    bs = getattr(config, "_benchmarksession", None)
    if bs is None or not _enabled(config):
        return
    med: dict[tuple[str, str], float] = {}
    for b in bs.benchmarks:
        if b.stats is None:
            continue
        kind = "naive" if "naive" in b.name else "fast"
        med[(b.group, kind)] = b.stats.median
    tr = terminalreporter
    tr.section("fast vs simple implementation (medians, this run)")
    tr.write_line(f"{'metric':<10} {'fast [s]':>10} {'simple [s]':>11} {'ratio':>8}")
    groups = sorted({g for g, _ in med})
    for g in groups:
        f, n = med.get((g, "fast")), med.get((g, "naive"))
        if f is None or n is None:
            continue
        tr.write_line(f"{g:<10} {f:>10.4f} {n:>11.4f} {n / f:>7.1f}x")
