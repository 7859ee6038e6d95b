"""Uncertainty of the numbers in a table: intervals over images and paired comparisons.

Every table that compares methods shows how sure its means are. Both tools treat the test
images as the sample (the question: would another draw of test images of this kind give the
same ranking?); training noise (seeds) is covered where a table has several seeds
(``mattebench reproduce --seeds``), not here.

* :func:`mean_ci` -- the mean of per-image values with a 95 % bootstrap interval
  (``scipy.stats.bootstrap``, percentile method, :data:`RESAMPLES` resamples, fixed seed, so
  the same values always give the same interval). NaN values (MSE of an image without unknown
  pixels) are left out and ``n`` counts the values behind the mean. ``n == 1`` or all values
  equal: the interval is the mean itself (nothing to resample), said by ``degenerate``.
* :func:`paired_comparison` -- two methods on the same images: the per-image difference
  ``a - b``, the bootstrap interval of its mean (as above) and the Wilcoxon signed-rank test
  (``scipy.stats.wilcoxon``, two-sided, ``zero_method="wilcox"``: zero differences are
  dropped; all differences zero gives p = 1). The verdict says ``a`` (or ``b``) is better only
  when both agree: the interval excludes 0 *and* p < 1 - confidence; otherwise the two
  cannot be told apart at that confidence. "Better" follows the metric's direction (lower
  error, higher mIoU).

Why percentile and not BCa: BCa's jackknife is undefined on constant data and warns on small
samples; the percentile interval is defined for every input and, for the 16-1000 images of
our tables, close to BCa (checked in the tests against a normal-theory interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MeanCI",
    "PairedComparison",
    "mean_ci",
    "paired_comparison",
    "RESAMPLES",
    "CONFIDENCE",
]

#: Bootstrap resamples of every interval (scipy's default).
RESAMPLES = 9999
#: Confidence level of every interval and test.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class MeanCI:
    """A mean over images with its bootstrap interval and the number of values behind it."""

    mean: float
    lo: float
    hi: float
    n: int
    degenerate: bool = False  # n < 2 or constant: the interval is the mean itself


@dataclass(frozen=True)
class PairedComparison:
    """``a`` vs ``b`` on the images both have: mean of ``a - b``, its interval, the test."""

    a: str
    b: str
    metric: str
    mean_diff: float
    lo: float
    hi: float
    n: int
    p_value: float
    higher_is_better: bool
    confidence: float = CONFIDENCE

    @property
    def better(self) -> str | None:
        """``a``, ``b``, or ``None`` when they cannot be told apart at ``confidence``."""
        if not self.p_value < 1.0 - self.confidence or self.n == 0:
            return None
        if self.lo > 0 or self.hi < 0:
            a_higher = self.lo > 0
            return self.a if a_higher == self.higher_is_better else self.b
        return None

    @property
    def verdict(self) -> str:
        """One sentence: which method is better, or that they cannot be told apart."""
        level = f"{self.confidence:.0%}"
        if self.better is None:
            return f"cannot be told apart at {level}"
        return f"{self.better} better at {level}"


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[~np.isnan(v)]


def mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> MeanCI:
    """Mean of the non-NaN ``values`` with its percentile bootstrap interval.

    Examples
    --------
    >>> r = mean_ci([1.0, 2.0, 3.0, 4.0])
    >>> r.mean, r.n, r.lo < 2.5 < r.hi
    (2.5, 4, True)
    >>> mean_ci([0.5, float("nan")])
    MeanCI(mean=0.5, lo=0.5, hi=0.5, n=1, degenerate=True)
    """
    from scipy import stats

    v = _clean(values)
    n = int(v.size)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0, True)
    mean = float(math.fsum(v.tolist()) / n)
    if n < 2 or float(v.min()) == float(v.max()):
        return MeanCI(mean, mean, mean, n, True)
    res = stats.bootstrap(
        (v,),
        np.mean,
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        random_state=np.random.default_rng(seed),
        vectorized=True,
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return MeanCI(mean, min(lo, mean), max(hi, mean), n)


def paired_comparison(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    higher_is_better: bool,
    names: tuple[str, str] = ("A", "B"),
    metric: str = "",
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> PairedComparison:
    """Compare two methods on the same images (``a[i]`` and ``b[i]`` from image ``i``).

    Pairs with a NaN on either side are left out; ``n`` counts the pairs used.

    Examples
    --------
    >>> a = [0.10, 0.12, 0.11, 0.09, 0.13, 0.10, 0.12, 0.11]
    >>> b = [x + 0.05 for x in a]
    >>> paired_comparison(a, b, higher_is_better=False, names=("cf", "knn")).verdict
    'cf better at 95%'
    """
    from scipy import stats

    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired values differ in length: {x.size} vs {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    d = x[keep] - y[keep]
    ci = mean_ci(d, confidence=confidence, seed=seed)
    if d.size == 0 or not np.any(d != 0):
        p = 1.0
    else:
        p = float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    return PairedComparison(
        a=names[0], b=names[1], metric=metric, mean_diff=ci.mean, lo=ci.lo, hi=ci.hi,
        n=ci.n, p_value=p, higher_is_better=higher_is_better, confidence=confidence,
    )  # fmt: skip
