"""Intervals over images and paired comparisons (reports.stats).

Reference values are computed independently in the tests themselves: a plain numpy
percentile bootstrap, the normal-theory interval 2 * 1.96 * sd / sqrt(n), and scipy's
Wilcoxon test called directly. pytest turns warnings into errors, so every call here also
checks that no scipy warning (degenerate data, small samples, ties) leaks out.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from reports.stats import MeanCI, PairedComparison, mean_ci, paired_comparison


def test_mean_ci_width_like_normal_theory_and_deterministic() -> None:
    """Normal sample of 400: percentile interval width within 15 % of 2 * 1.96 * sd / sqrt(n)."""
    x = np.random.default_rng(3).normal(1.0, 0.2, 400)
    r = mean_ci(x)
    want = 2 * 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert r.lo < r.mean < r.hi and r.n == 400 and not r.degenerate
    assert r.mean == pytest.approx(x.mean(), rel=1e-12)
    assert (r.hi - r.lo) == pytest.approx(want, rel=0.15)
    assert mean_ci(x) == r  # same values, same seed: the identical interval
    other = mean_ci(x, seed=1)
    assert other.mean == r.mean and (other.lo, other.hi) != (r.lo, r.hi)


def test_mean_ci_matches_an_independent_percentile_bootstrap() -> None:
    """A plain numpy percentile bootstrap (own generator, 20000 resamples) of a skewed sample:
    the bounds agree within 5 % of the interval width (Monte-Carlo error of both)."""
    x = np.random.default_rng(7).exponential(1.0, 60)
    rng = np.random.default_rng(123)
    means = x[rng.integers(0, x.size, (20000, x.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    r = mean_ci(x)
    assert r.lo == pytest.approx(lo, abs=0.05 * (hi - lo))
    assert r.hi == pytest.approx(hi, abs=0.05 * (hi - lo))


def test_mean_ci_coverage() -> None:
    """300 normal samples of 40 images with a known mean: the 95 % interval covers it in
    90-99 % of them (percentile intervals run slightly narrow at small n)."""
    rng = np.random.default_rng(0)
    hits = 0
    for i in range(300):
        r = mean_ci(rng.normal(5.0, 2.0, 40), seed=i, n_resamples=999)
        hits += r.lo <= 5.0 <= r.hi
    assert 0.90 <= hits / 300 <= 0.99


def test_mean_ci_nan_degenerate_and_unpacking() -> None:
    r = mean_ci([1.0, float("nan"), 3.0, float("nan")])
    assert r.n == 2 and r.mean == 2.0  # NaN left out, counted out of n
    assert mean_ci([2.0, 2.0, 2.0]) == MeanCI(2.0, 2.0, 2.0, 3, degenerate=True)
    assert mean_ci([0.5]) == MeanCI(0.5, 0.5, 0.5, 1, degenerate=True)
    empty = mean_ci([float("nan")])
    assert empty.n == 0 and np.isnan(empty.mean) and empty.degenerate
    mean, lo, hi, n = mean_ci([1.0, 2.0])  # tied resamples, n = 2: no warning leaks
    assert (mean, n) == (1.5, 2) and lo <= mean <= hi


def test_paired_comparison_verdicts() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0.05, 0.3, 50)
    worse = a + 0.1 + 0.01 * rng.standard_normal(50)
    c = paired_comparison(a, worse, higher_is_better=False, names=("A", "B"), metric="sad")
    assert c.better == "A" and c.mean_diff < 0 and c.hi < 0 and c.p_value < 1e-6 and c.n == 50
    assert c.verdict == "A better at 95%"
    swapped = paired_comparison(worse, a, higher_is_better=False, names=("B", "A"))
    assert swapped.better == "A" and swapped.lo > 0
    higher = paired_comparison(a, worse, higher_is_better=True, names=("A", "B"))
    assert higher.better == "B"  # for mIoU-like metrics the larger value wins
    same = paired_comparison(a, a, higher_is_better=False)
    assert same.better is None and same.p_value == 1.0 and same.lo == same.hi == 0.0
    assert same.verdict == "cannot be told apart at 95%"
    noise = a + rng.choice([-0.01, 0.01], 50)
    assert paired_comparison(a, noise, higher_is_better=False).verdict.startswith("cannot")
    assert paired_comparison(a, worse, higher_is_better=False) == paired_comparison(
        a, worse, higher_is_better=False
    )  # deterministic
    with pytest.raises(ValueError, match="differ in length"):
        paired_comparison(a, a[:-1], higher_is_better=False)


def test_paired_comparison_needs_interval_and_test_to_agree() -> None:
    """Five images, each 1.0 better: the interval is [-1, -1] (excludes 0) but the exact
    Wilcoxon p is 2/32 = 0.0625, so no verdict; and a small p alone is not enough either."""
    c = paired_comparison([1.0] * 5, [2.0] * 5, higher_is_better=False)
    assert c.hi < 0 and c.p_value == pytest.approx(0.0625) and c.better is None
    p_only = PairedComparison("A", "B", "sad", -0.1, -0.3, 0.1, 40, 1e-4, False)
    assert p_only.better is None and p_only.verdict == "cannot be told apart at 95%"
    both = PairedComparison("A", "B", "sad", -0.1, -0.3, -0.01, 40, 1e-4, False)
    assert both.verdict == "A better at 95%"


def test_paired_comparison_nan_pairs_and_zero_differences() -> None:
    """NaN on either side drops the pair; the p-value is scipy's Wilcoxon test of the remaining
    differences with zero_method='wilcox' (zeros dropped before ranking; with zeros present
    scipy uses its normal approximation)."""
    rng = np.random.default_rng(5)
    a = rng.uniform(0, 1, 30)
    b = a + rng.normal(0.2, 0.05, 30)
    b[:5] = a[:5]  # five ties
    a[-1], b[-2] = np.nan, np.nan
    c = paired_comparison(a, b, higher_is_better=False)
    assert c.n == 28
    d = (a - b)[:-2]
    assert c.p_value == sps.wilcoxon(d, zero_method="wilcox").pvalue
    assert c.mean_diff == pytest.approx(d.mean())
    assert paired_comparison([np.nan], [1.0], higher_is_better=False).n == 0
