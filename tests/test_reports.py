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
    assert "| | SAD \u2193 | MSE \u2193 | Grad \u2193 | Conn \u2193 |" in md
    assert "| cf | **2.000** |" in md  # lower SAD is bold
    tex = render(t, "tex")
    assert r"SAD $\downarrow$" in tex and r"\textbf{2.000}" in tex
    csv = render(t, "csv")
    assert csv.splitlines()[0] == "row,sad,mse,grad,conn"


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
