"""Qualitative grids of a run: chosen images, every method's saved prediction side by side."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from benchmark.io import read_alpha
from benchmark.runner import _label, _open_dataset
from metrics import InputError
from reports.figures import qualitative_grid

__all__ = ["run_grid"]


def run_grid(
    run_dir: str | Path,
    names: Sequence[str],
    *,
    dataset: str | None = None,
    zoom: tuple[int, int, int, int] | None = None,
) -> list[Path]:
    """Write ``RUN_DIR/figures/grid_<dataset>.{png,pdf}`` for the images ``names``.

    Columns: input, trimap, ground truth, then the 8-bit prediction each method of the run
    saved (``<dataset>/<method>/pred/<name>.png``), in the run's method order.
    """
    run_dir = Path(run_dir)
    cfg = json.loads((run_dir / "config.json").read_text())
    specs = {d["name"]: d for d in cfg["datasets"]}
    if dataset is None:
        if len(specs) != 1:
            raise InputError(
                f"the run has datasets {sorted(specs)}: choose one with --grid-dataset"
            )
        dataset = next(iter(specs))
    if dataset not in specs:
        raise InputError(f"the run has no dataset {dataset!r} (it has {sorted(specs)})")
    ds = _open_dataset(specs[dataset])
    methods = [_label(m) for m in cfg["methods"]]
    rows = []
    known = set(ds.names())
    for name in names:
        if name not in known:
            raise InputError(f"{dataset}: no sample named {name!r}")
        s = ds.load(name)
        if s.image is None or s.alpha is None or s.trimap is None:
            raise InputError(f"{dataset}/{name}: a grid needs the image, trimap and ground truth")
        preds = {}
        for m in methods:
            p = run_dir / dataset / m / "pred" / f"{name}.png"
            if not p.is_file():
                raise InputError(f"{p}: no saved prediction (has the run finished?)")
            preds[m] = read_alpha(p)
        rows.append(
            {"name": name, "image": s.image, "trimap": s.trimap, "gt": s.alpha, "preds": preds}
        )
    return qualitative_grid(rows, run_dir / "figures" / f"grid_{dataset}", zoom=zoom)
