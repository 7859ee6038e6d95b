"""Scoring folders of predictions: parallel workers, a progress bar, a per-image CSV.

Used by ``mattebench metrics --pred-dir D --gt-dir D --trimap-dir D``.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmark.pairing import Triplet, match_triplets
from metrics import InputError, InputWarning, get_convention
from metrics.common import atomic_write, read_alpha, read_trimap

__all__ = [
    "name_files",
    "score_triplet",
    "score_folders",
    "summarise",
    "write_csv",
    "METRIC_COLUMNS",
]

METRIC_COLUMNS = ("sad", "mse", "grad", "conn")


def score_triplet(
    item: Triplet, convention: str = "reference", scale: str = "paper"
) -> dict[str, Any]:
    """Read one triplet and return ``{"name", "sad", "mse", "grad", "conn", "warnings"}``.

    Kernel errors are re-raised as :class:`InputError` naming the files. Legal but lossy input
    (:class:`metrics.InputWarning`: a JPEG matte, stray trimap values, no unknown pixel) is
    not printed here: ``"warnings"`` holds ``(category name, message naming the file)`` pairs
    for the caller to count.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputWarning)
        pred = read_alpha(item.pred)
        gt = read_alpha(item.gt)
        tri = read_trimap(item.trimap) if item.trimap is not None else None
        if tri is None:
            raise InputError(f"{item.pred}: the DIM metrics need a trimap")
        try:
            vals = get_convention(convention).evaluate(pred, gt, tri, scale=scale)
        except InputError as e:
            raise InputError(f"{item.pred} / {item.gt} / {item.trimap}: {e}") from None
    files = {"pred": item.pred, "gt": item.gt, "trimap": item.trimap}
    notes = []
    for w in caught:
        if not issubclass(w.category, InputWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        notes.append((w.category.__name__, name_files(str(w.message), files)))
    return {"name": item.name, **vals, "warnings": list(dict.fromkeys(notes))}


def name_files(message: str, files: dict[str, Any]) -> str:
    """A kernel's message about ``"trimap"``/``"pred"``/``"gt"`` with the file named instead."""
    head, sep, rest = message.partition(" ")
    if sep and head in files and files[head] is not None:
        return f"{files[head]} {rest}"
    return message


def _score_star(args: tuple[Triplet, str, str]) -> dict[str, Any]:
    return score_triplet(*args)


def score_folders(
    pred_dir: str | Path,
    gt_dir: str | Path,
    trimap_dir: str | Path,
    *,
    convention: str = "reference",
    scale: str = "paper",
    workers: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Score every matched triplet; rows come back sorted by name whatever the worker order."""
    get_convention(convention)  # fail early on a bad name
    items = match_triplets(pred_dir, gt_dir, trimap_dir)
    workers = workers or min(len(items), os.cpu_count() or 1)
    jobs = [(it, convention, scale) for it in items]
    bar = tqdm(total=len(jobs), desc="metrics", unit="img", disable=not progress, file=sys.stderr)
    rows: list[dict[str, Any]] = []
    try:
        if workers <= 1:
            for j in jobs:
                rows.append(_score_star(j))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as ex:
                for r in ex.map(_score_star, jobs, chunksize=max(1, len(jobs) // (8 * workers))):
                    rows.append(r)
                    bar.update()
    finally:
        bar.close()
    rows.sort(key=lambda r: r["name"])
    return rows


def summarise(
    rows: Sequence[dict[str, Any]], columns: Sequence[str] = METRIC_COLUMNS
) -> tuple[dict[str, Any], dict[str, int]]:
    """Mean of per-image values (the reference drivers' aggregation).

    NaN values (MSE of an image without unknown pixels) are left out of the mean; the second
    return value counts them per column so the caller can say so.
    """
    mean: dict[str, Any] = {"name": "mean"}
    skipped: dict[str, int] = {}
    for c in columns:
        vals = [float(r[c]) for r in rows]
        good = [v for v in vals if not math.isnan(v)]
        if len(good) != len(vals):
            skipped[c] = len(vals) - len(good)
        mean[c] = math.fsum(good) / len(good) if good else float("nan")
    return mean, skipped


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Write rows (plus whatever summary rows the caller appended) atomically."""
    with atomic_write(path, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["name", *columns])
        w.writeheader()
        for r in rows:
            w.writerow(
                {
                    k: (repr(v) if isinstance(v, float) else v)
                    for k, v in r.items()
                    if k in ("name", *columns)
                }
            )
