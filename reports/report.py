"""Render all tables of a run directory and write them to ``RUN_DIR/tables/``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.io import atomic_write
from benchmark.runner import load_results
from metrics import METRICS, InputError
from reports.stats import CONFIDENCE, paired_comparison
from reports.tables import Format, _fmt, discrepancy_table, render, summary_table

__all__ = ["write_tables", "compare_methods", "compare_run"]


def write_tables(run_dir: str | Path, *, fmt: Format = "md", write: bool = True) -> str:
    """Main table per dataset and, for unknown-region datasets, the conventions table.

    Returns the tables rendered in ``fmt`` (what the CLI prints); with ``write`` also saves
    every table in all three formats as ``tables/<dataset>_{main,conventions}.{md,tex,csv}``.
    """
    run_dir = Path(run_dir)
    cfg = json.loads((run_dir / "config.json").read_text())
    rows = load_results(run_dir)
    out = []
    for ds in dict.fromkeys(d["name"] for d in cfg["datasets"]):
        tables = {"main": summary_table(rows, ds, run_config=cfg)}
        if any(r["dataset"] == ds and r.get("conventions") for r in rows):
            tables["conventions"] = discrepancy_table(rows, ds)
        for kind, table in tables.items():
            out.append(render(table, fmt))
            if write:
                for f in ("md", "tex", "csv"):
                    with atomic_write(run_dir / "tables" / f"{ds}_{kind}.{f}") as fh:
                        fh.write(render(table, f))
    return "\n".join(out)


def compare_methods(
    rows: Sequence[dict[str, Any]], dataset: str, a: str, b: str, *, confidence: float = CONFIDENCE
) -> str:
    """Markdown: methods ``a`` and ``b`` of ``dataset`` compared image by image, per metric.

    For every metric: both means over the images the two share, the mean of the per-image
    difference ``a - b`` with its bootstrap interval, the Wilcoxon signed-rank p-value and the
    verdict (:func:`reports.stats.paired_comparison`).
    """
    rows = [r for r in rows if r["dataset"] == dataset]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for m in (a, b):
        if m not in methods:
            raise InputError(
                f"--compare: no method {m!r} on {dataset} in this run (it has: "
                f"{', '.join(methods) or 'none'})"
            )
    if a == b:
        raise InputError(f"--compare: {a!r} compared with itself")
    by = {m: {r["name"]: r["metrics"] for r in rows if r["method"] == m} for m in (a, b)}
    names = sorted(set(by[a]) & set(by[b]))
    metrics = [k for k in METRICS if names and k in by[a][names[0]] and k in by[b][names[0]]]
    level = f"{confidence:.0%}"
    lines = [
        f"**Paired comparison on {dataset}: {a} - {b}.** Per-image differences on the "
        f"{len(names)} images both have (of {len(by[a])} / {len(by[b])}); mean difference with "
        f"its {level} bootstrap interval over images; Wilcoxon signed-rank test, two-sided; "
        f"'better' needs both the interval to exclude 0 and p < {1 - confidence:.2g}.",
        "",
        f"| Metric | {a} | {b} | {a} - {b} [{level} CI] | Wilcoxon p | n | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for k in metrics:
        spec = METRICS[k]
        va = [float(by[a][n][k]) for n in names]
        vb = [float(by[b][n][k]) for n in names]
        c = paired_comparison(va, vb, higher_is_better=spec.higher_is_better, names=(a, b),
                              metric=k, confidence=confidence)  # fmt: skip
        pairs = [(x, y) for x, y in zip(va, vb, strict=True) if x == x and y == y]
        ma = sum(x for x, _ in pairs) / len(pairs) if pairs else float("nan")
        mb = sum(y for _, y in pairs) / len(pairs) if pairs else float("nan")
        lines.append(
            f"| {spec.label} {spec.arrow} | {_fmt(ma)} | {_fmt(mb)} | {c.mean_diff:+.4g} "
            f"[{c.lo:+.4g}, {c.hi:+.4g}] | {c.p_value:.3g} | n={c.n} | {c.verdict} |"
        )
    return "\n".join(lines) + "\n"


def compare_run(run_dir: str | Path, a: str, b: str, *, dataset: str | None = None) -> str:
    """:func:`compare_methods` for a run directory (every dataset, or ``dataset``)."""
    run_dir = Path(run_dir)
    cfg = json.loads((run_dir / "config.json").read_text())
    rows = load_results(run_dir)
    names = list(dict.fromkeys(d["name"] for d in cfg["datasets"]))
    if dataset is not None:
        if dataset not in names:
            raise InputError(f"--compare: no dataset {dataset!r} in {run_dir} ({', '.join(names)})")
        names = [dataset]
    return "\n".join(compare_methods(rows, ds, a, b) for ds in names)
