"""Paper-style tables: arrows, units and order from the registries; best bold; all formats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
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
    assert "knn: MSE is a mean over 2 of 3 images (1 without unknown pixels" in t.caption
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
# (the statistics themselves: tests/test_stats.py)


def test_interval_bounds_to_the_means_decimals() -> None:
    from reports.tables import _fmt_ci

    assert _fmt_ci(0.03568, 0.02912, 0.043) == "0.03568 [0.02912, 0.04300]"
    assert _fmt_ci(-3.0541, -4.0733, -2.1) == "-3.054 [-4.073, -2.100]"
    assert _fmt_ci(0.0, -0.1, 0.1) == "0 [-0.1, 0.1]"


def test_compare_two_methods_of_a_run() -> None:
    from metrics import InputError
    from reports.report import compare_methods

    text = compare_methods(_rows(), "ds", "cf", "knn")
    assert "cf - knn" in text and "Wilcoxon" in text
    assert "| SAD \u2193 | 2.000 | 3.000 | -1.000 [-1.000, -1.000] | 0.25 | n=3 |" in text
    assert "| n=2 | cannot be told apart at 95% |" in text  # MSE: knn's NaN image leaves 2 pairs
    assert text.count("cannot be told apart") == 4  # 3 images: no test can be significant
    with pytest.raises(InputError, match="no method 'nope' on ds in this run.*cf, knn"):
        compare_methods(_rows(), "ds", "cf", "nope")
    with pytest.raises(InputError, match="compared with itself"):
        compare_methods(_rows(), "ds", "cf", "cf")
    lone = [r for r in _rows() if r["method"] == "cf"]
    lone += [dict(r, method="knn", name="other") for r in lone[:1]]
    with pytest.raises(InputError, match="share no image"):
        compare_methods(lone, "ds", "cf", "knn")


def _fabricate_run(root: Path, rows: list[dict], datasets: list[str]) -> Path:
    """A run folder in the runner's layout: config.json + <dataset>/<method>/metrics/*.json
    (NaN stored as null, as the runner writes it)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cfg = dict(CFG, version=1, extra={}, datasets=[{"name": d, "root": None, "kwargs": {}}
               for d in datasets], methods=[{"name": m, "kwargs": {}} for m in methods])  # fmt: skip
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps(cfg))
    for r in rows:
        folder = root / r["dataset"] / r["method"] / "metrics"
        folder.mkdir(parents=True, exist_ok=True)
        clean = json.loads(json.dumps(r).replace("NaN", "null"))
        (folder / f"{r['name']}.json").write_text(json.dumps(clean))
    return root


def _many_rows(dataset: str = "ds") -> list[dict]:
    """20 images; knn's SAD is cf's + 1 + noise (clearly worse), its Grad equal +- noise."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(20):
        base = {"sad": 5 + rng.uniform(), "mse": 0.01, "grad": 3 + rng.uniform(), "conn": 4.0}
        other = dict(base, sad=base["sad"] + 1 + 0.1 * rng.standard_normal(),
                     grad=base["grad"] + rng.choice([-0.05, 0.05]))  # fmt: skip
        for m, vals in (("cf", base), ("knn", other)):
            rows.append({"dataset": dataset, "method": m, "name": f"i{i:02d}", "metrics": vals})
    return rows


def test_cli_report_compare_on_a_run_folder(tmp_path: Path, capsys) -> None:
    from benchmark.cli import main

    run = _fabricate_run(tmp_path / "run", _many_rows(), ["ds"])
    assert main(["report", str(run), "--compare", "cf", "knn"]) == 0
    out = capsys.readouterr().out
    assert "**Paired comparison on ds: cf - knn.**" in out and "the 20 images both have" in out
    lines = {ln.split(" |")[0]: ln for ln in out.splitlines() if ln.startswith("| ")}
    assert lines["| SAD \u2193"].endswith("| n=20 | cf better at 95% |")
    assert lines["| Grad \u2193"].endswith("| cannot be told apart at 95% |")
    assert "| 0 [0, 0] | 1 | n=20 | cannot be told apart" in lines["| MSE \u2193"]  # all equal
    assert main(["report", str(run), "--compare", "knn", "cf"]) == 0
    assert "| n=20 | cf better at 95% |" in capsys.readouterr().out  # either order
    # the main table: intervals, n, written in all three formats
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "| | SAD \u2193 | MSE \u2193 | Grad \u2193 | Conn \u2193 | n |" in out
    assert "| cf | **5." in out and "| **0.01** [0.01, 0.01] |" in out  # ties: both bold
    assert out.rstrip().endswith("| 20 |")  # images per method
    assert (run / "tables" / "ds_main.csv").read_text().startswith("row,sad,sad_lo,sad_hi,sad_n,")
    assert r"\textbf{" in (run / "tables" / "ds_main.tex").read_text()


def test_cli_report_compare_errors(tmp_path: Path, capsys) -> None:
    from benchmark.cli import main

    rows = _many_rows("a") + [r for r in _many_rows("b") if r["method"] == "cf"]
    run = _fabricate_run(tmp_path / "run", rows, ["a", "b"])
    assert main(["report", str(run), "--compare", "cf", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no method 'nope' in this run (it has: cf, knn)" in err
    # a method on some datasets only: compared where both are, --dataset elsewhere is an error
    assert main(["report", str(run), "--compare", "cf", "knn"]) == 0
    out = capsys.readouterr().out
    assert "Paired comparison on a:" in out and "on b:" not in out
    assert main(["report", str(run), "--compare", "cf", "knn", "--dataset", "b"]) == 2
    assert "no method 'knn' on b in this run (it has: cf)" in capsys.readouterr().err
    assert main(["report", str(run), "--compare", "cf", "knn", "--dataset", "c"]) == 2
    assert "no dataset 'c' in this run (a, b)" in capsys.readouterr().err
