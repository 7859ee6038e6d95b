"""Render all tables of a run directory and write them to ``RUN_DIR/tables/``."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.io import atomic_write
from benchmark.runner import load_results
from reports.tables import Format, discrepancy_table, render, summary_table

__all__ = ["write_tables"]


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
