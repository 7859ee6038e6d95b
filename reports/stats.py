"""Uncertainty of the numbers in a table: intervals over images and paired comparisons.

Every table that compares methods shows how sure its means are. Both tools treat the test
images as the sample (the question: would another draw of test images of this kind give the
same ranking?); training noise (seeds) is covered where a table has several seeds
(``mattebench reproduce --seeds``), not here.

* :func:`mean_ci` -- the mean of per-image values with a 95 % bootstrap interval
  (``scipy.stats.bootstrap``, percentile method, :data:`RESAMPLES` resamples, seed 0 unless
  told, so the same values always give the same interval). NaN values (MSE of an image
  without unknown pixels) are left out and ``n`` counts the values behind the mean. ``n == 1``
  or all values equal: the interval is the mean itself (nothing to resample; ``degenerate``
  says so). No values: mean and interval NaN, ``n == 0``.
* :func:`paired_comparison` -- two methods on the same images: the per-image difference
  ``a - b`` (pairs with a NaN on either side left out), the bootstrap interval of its mean (as
  above) and the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided, scipy's
  default ``zero_method="wilcox"``: zero differences are dropped before ranking; all
  differences zero, or no pairs, gives p = 1). The verdict says ``a`` (or ``b``) is better
  only when both agree: the interval excludes 0 *and* p < 1 - confidence; otherwise the two
  cannot be told apart at that confidence. "Better" follows the metric's direction
  (:attr:`metrics.MetricSpec.higher_is_better`: lower error, higher mIoU).

Why percentile and not BCa (scipy's default): BCa's jackknife acceleration is undefined on
constant data and warns (``DegenerateDataWarning``) on small or tied samples; the percentile
interval is defined for every input and, for the 16-1000 images of our tables, close to the
normal-theory interval (the tests check its width and its coverage).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator, Sequence
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

    def __iter__(self) -> Iterator[float | int]:
        """``mean, lo, hi, n = mean_ci(values)`` unpacks like a tuple."""
        return iter((self.mean, self.lo, self.hi, self.n))


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


def _rng_kw(fn: object, seed: int) -> dict[str, np.random.Generator]:
    """The seeded generator under the name this scipy takes: ``rng`` (1.15+), else
    ``random_state`` (the same draws either way; the old name is on its way out)."""
    name = "rng" if "rng" in inspect.signature(fn).parameters else "random_state"  # type: ignore[arg-type]
    return {name: np.random.default_rng(seed)}


def mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    n_resamples: int = RESAMPLES,
) -> MeanCI:
    """Mean of the non-NaN ``values`` with its percentile bootstrap interval.

    Parameters
    ----------
    values
        One value per image (NaN: the image has no value for this metric; left out).
    confidence
        Coverage of the two-sided interval (0.95: the 2.5th and 97.5th percentiles of the
        resampled means).
    seed
        Seed of the resampling generator: the same values and seed give the same interval.
    n_resamples
        Bootstrap resamples (scipy's default, 9999).

    Returns
    -------
    MeanCI
        ``mean, lo, hi, n`` (unpacks like a tuple) and ``degenerate`` (``n < 2`` or all values
        equal: ``lo == hi == mean``). ``n == 0``: all NaN.

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
        n_resamples=n_resamples,
        method="percentile",
        vectorized=True,
        **_rng_kw(stats.bootstrap, seed),
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
    n_resamples: int = RESAMPLES,
) -> PairedComparison:
    """Compare two methods on the same images (``a[i]`` and ``b[i]`` from image ``i``).

    Pairs with a NaN on either side are left out; ``n`` counts the pairs used. The interval is
    :func:`mean_ci` of the differences ``a - b`` (same ``confidence``, ``seed``,
    ``n_resamples``); the p-value is the two-sided Wilcoxon signed-rank test with scipy's
    default ``zero_method="wilcox"`` (zero differences dropped), 1.0 when every difference is
    zero. :attr:`PairedComparison.verdict` needs both to agree (see the module docstring).

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
    ci = mean_ci(d, confidence=confidence, seed=seed, n_resamples=n_resamples)
    if d.size == 0 or not np.any(d != 0):
        p = 1.0
    else:
        p = float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    return PairedComparison(
        a=names[0], b=names[1], metric=metric, mean_diff=ci.mean, lo=ci.lo, hi=ci.hi,
        n=ci.n, p_value=p, higher_is_better=higher_is_better, confidence=confidence,
    )  # fmt: skip
