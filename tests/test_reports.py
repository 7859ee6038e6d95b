"""Paper-style tables: arrows, units and order from the registries; best bold; all formats."""

from __future__ import annotations

import math

import pytest

from metrics import CONVENTIONS
from reports import discrepancy_table, render, summary_table

CFG = {"convention": "reference", "force_known": True, "rounding": "round"}


def _rows() -> list[dict]:
    rows = []
    for m, base in (("cf", 1.0), ("knn", 2.0)):
        for i in range(3):
            vals = {"sad": base + i, "mse": base / 100, "grad": base * 3, "conn": base * 2 - i}
            if m == "knn" and i == 2:
                vals["mse"] = math.nan
            conv = {
                c: {k: v * (1.5 if c == "gca" else 1.0) for k, v in vals.items()}
                for c in CONVENTIONS
            }
            rows.append(
                {
                    "dataset": "ds",
                    "method": m,
                    "name": f"i{i}",
                    "metrics": vals,
                    "conventions": conv,
                }
            )
    return rows


def test_summary_means_bold_and_caption() -> None:
    t = summary_table(_rows(), "ds", run_config=CFG)
    assert list(t.frame.columns) == ["sad", "mse", "grad", "conn"]
    assert t.frame.loc["cf", "sad"] == pytest.approx(2.0)  # (1 + 2 + 3) / 3
    assert t.frame.loc["knn", "mse"] == pytest.approx(0.02)  # NaN left out
    assert "knn: 1 image(s) without unknown pixels left out of MSE" in t.caption
    assert "SAD/1000, MSE, Grad/1000, Conn/1000" in t.caption
    md = render(t, "md")
    assert "| | SAD \u2193 | MSE \u2193 | Grad \u2193 | Conn \u2193 | n |" in md
    assert "| cf | **2.000** [1.000, 3.000] |" in md  # lower SAD is bold; interval of 1, 2, 3
    assert "0.02 [0.02, 0.02] (n=2)" in md  # knn's MSE: one NaN image left out, said per cell
    assert md.rstrip().endswith("| 3 |")  # images per method
    tex = render(t, "tex")
    assert r"SAD $\downarrow$" in tex and r"\textbf{2.000} [1.000, 3.000]" in tex
    csv = render(t, "csv")
    assert csv.splitlines()[0].startswith("row,sad,sad_lo,sad_hi,sad_n,mse,")
    assert "95% bootstrap interval over images" in t.caption


def test_discrepancy_rows_per_convention() -> None:
    t = discrepancy_table(_rows(), "ds")
    assert len(t.frame) == 2 * len(CONVENTIONS)
    assert t.frame.loc["cf / gca", "sad"] == pytest.approx(3.0)
    assert t.frame.loc["cf / reference", "sad"] == pytest.approx(2.0)
    md = render(t, "md")
    assert "| **" not in md  # no best-value bold across conventions
    assert "SAD/1000, MSE, Grad/10, Conn/1000 for p3m, dim-pytorch" in t.caption


def test_unknown_dataset_and_format() -> None:
    with pytest.raises(ValueError, match="no results"):
        summary_table(_rows(), "other", run_config=CFG)
    with pytest.raises(ValueError, match="unknown format"):
        render(summary_table(_rows(), "ds", run_config=CFG), "html")  # type: ignore[arg-type]


# ------------------------------------------------------------------ intervals, comparisons


def test_mean_ci_covers_like_normal_theory_and_is_deterministic() -> None:
    """Independent check: for a normal sample of 400 the percentile interval's width is
    within 15 % of 2 * 1.96 * sd / sqrt(n); same values -> same interval."""
    import numpy as np

    from reports.stats import mean_ci

    x = np.random.default_rng(3).normal(1.0, 0.2, 400)
    r = mean_ci(x)
    want = 2 * 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert r.lo < r.mean < r.hi and r.n == 400
    assert (r.hi - r.lo) == pytest.approx(want, rel=0.15)
    assert mean_ci(x) == r
    assert mean_ci([2.0, 2.0, 2.0]).degenerate and mean_ci([]).n == 0


def test_paired_comparison_verdicts() -> None:
    import numpy as np

    from reports.stats import paired_comparison

    rng = np.random.default_rng(0)
    a = rng.uniform(0.05, 0.3, 50)
    worse = a + 0.1 + 0.01 * rng.standard_normal(50)
    c = paired_comparison(a, worse, higher_is_better=False, names=("A", "B"), metric="sad")
    assert c.better == "A" and c.mean_diff < 0 and c.hi < 0 and c.p_value < 1e-6
    assert c.verdict == "A better at 95%"
    higher = paired_comparison(a, worse, higher_is_better=True, names=("A", "B"))
    assert higher.better == "B"  # for mIoU-like metrics the larger value wins
    same = paired_comparison(a, a, higher_is_better=False)
    assert same.better is None and same.p_value == 1.0
    noise = a + rng.choice([-0.01, 0.01], 50)
    assert paired_comparison(a, noise, higher_is_better=False).verdict.startswith("cannot")
    with pytest.raises(ValueError, match="differ in length"):
        paired_comparison(a, a[:-1], higher_is_better=False)


def test_compare_two_methods_of_a_run() -> None:
    from reports.report import compare_methods

    text = compare_methods(_rows(), "ds", "cf", "knn")
    assert "cf - knn" in text and "SAD" in text and "n=3" in text
    assert "cannot be told apart" in text  # 3 images: no test can be significant
    from metrics import InputError

    with pytest.raises(InputError, match="no method 'nope'.*cf, knn"):
        compare_methods(_rows(), "ds", "cf", "nope")
