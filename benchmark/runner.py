"""The evaluation runner: methods x datasets -> predictions, per-image metrics, a results store.

A run directory holds::

    config.json                         the resolved configuration (written first)
    <dataset>/<method>/pred/<name>.png  the 8-bit predictions
    <dataset>/<method>/metrics/<name>.json   per-image metrics, one file per image
    results.csv                         every per-image row (rebuilt at the end)

Each per-image file is written atomically (temp file + rename) once its prediction is saved,
so a killed run loses at most the images in flight: starting the same command again skips
every image that has its metrics file and produces the same ``results.csv`` as an
uninterrupted run. A run directory refuses a different configuration.

Per image, the runner predicts (or reads ``--pred-dir``), optionally forces the known regions
from the trimap, quantises to 8 bits (rounding recorded), saves the PNG, re-reads nothing:
the metrics are computed on exactly the 8-bit values written. Metrics follow the dataset's
evaluation convention: the DIM metrics on ``trimap == 128`` ("unknown") or the whole-image
family ("whole"); the DIM metrics are computed under *every* registered convention, so the
discrepancy table needs no second pass.

Sharded evaluation
------------------
``executor="process"`` (the default) runs the pending images in a local process pool.
``executor="dask"`` sends them to a `dask.distributed <https://distributed.dask.org>`_ cluster
instead (``pip install "mattebench[scale]"``), in shards of a few images of one dataset x
method, so each worker process loads a model once and keeps it for its later shards.
On one machine a local cluster of ``--workers`` single-threaded worker processes is started
for the run and closed at its end::

    mattebench eval --dataset comp1k=/data/comp1k --method knn --out runs/knn --executor dask

On several machines, start a scheduler on one host and workers on every node (each with the
repository installed, ``pip install -e ".[scale]"``), then point the run at the scheduler::

    dask scheduler                                            # on HOST, listens on :8786
    dask worker tcp://HOST:8786 --nworkers 4 --nthreads 1     # on each node
    mattebench eval --dataset comp1k=/data/comp1k --method knn --out /shared/runs/knn \
        --executor dask --scheduler tcp://HOST:8786

``--scheduler`` defaults to ``$MATTEBENCH_DASK_SCHEDULER``; without either a local cluster is
used. The workers read the datasets and write the per-image PNG and metrics files themselves,
and the driver then rebuilds ``results.csv`` from those files, so on a multi-node cluster the
run directory, the dataset roots and any ``--pred-dir`` must be on a filesystem every worker
sees, **at the same paths** (give absolute paths: a relative dataset root is resolved in each
worker's working directory). The driver checks that every image's metrics file has appeared
in its run directory and fails with this explanation when one has not. Resuming, the
identical ``results.csv`` and the refusal of a different configuration work as above;
``--workers`` only sizes the local cluster (a remote cluster has the workers it has).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from tqdm import tqdm

from benchmark.datasets import MattingDataset, Sample, get_dataset
from benchmark.pairing import list_images
from metrics import (
    CONVENTIONS,
    METRICS,
    InputError,
    InputWarning,
    evaluate_whole,
    force_known,
    get_convention,
)
from metrics.common import atomic_write, is_lossy, read_alpha, stray_count

__all__ = [
    "RunConfig",
    "run",
    "load_results",
    "load_run",
    "read_config",
    "planned_images",
    "incomplete",
    "write_results_csv",
    "write_tables",
    "run_grid",
    "compare_run",
    "quantise",
    "METRIC_SETS",
    "PRED_SOURCE",
    "EXECUTORS",
    "SCHEDULER_ENV",
]

PRED_SOURCE = "pred-dir"
#: How :func:`run` executes the pending images (see "Sharded evaluation" above).
EXECUTORS = ("process", "dask")
#: Environment variable holding the dask scheduler address when ``scheduler`` is not given.
SCHEDULER_ENV = "MATTEBENCH_DASK_SCHEDULER"
#: Aim for this many shards (dask tasks) per worker: few enough that a shard's model load is
#: amortised over several images, enough that a slow shard does not leave the others idle.
_SHARDS_PER_WORKER = 4
Rounding = Literal["round", "truncate"]

#: The metric columns of each evaluation convention, in table order.
METRIC_SETS: dict[str, tuple[str, ...]] = {
    "unknown": ("sad", "mse", "grad", "conn"),
    "whole": ("sad_whole", "mse_whole", "mad", "grad_whole", "conn_whole"),
    "whole+trimap": (
        "sad_whole",
        "mse_whole",
        "mad",
        "grad_whole",
        "conn_whole",
        "sad_trimap",
        "mse_trimap",
        "mad_trimap",
        "sad_fg",
        "sad_bg",
    ),
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's numbers (written to ``config.json``).

    Attributes
    ----------
    datasets
        ``[{"name": ..., "root": ..., "kwargs": {...}}]``, optionally with ``"evaluation":
        "unknown" | "whole"`` overriding the dataset's own evaluation.
    methods
        ``[{"name": ..., "kwargs": {...}}]``; ``{"name": "pred-dir", "dir": ...}`` scores
        existing predictions instead.
    convention
        The metric convention of the main table (all conventions are stored).
    force_known
        Set the prediction to 0/255 where the trimap says background/foreground before
        saving (what GCA-Matting, MatteFormer and MMagic do); the MATLAB reference does not.
    rounding
        How float predictions become 8-bit: ``"round"`` (``np.rint``: half to even) or
        ``"truncate"`` (``uint8(255 a)``, as GCA-Matting and ViTMatte save theirs).
    """

    datasets: tuple[dict[str, Any], ...]
    methods: tuple[dict[str, Any], ...]
    convention: str = "reference"
    force_known: bool = True
    rounding: Rounding = "round"
    version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), sort_keys=True, default=str))


def quantise(alpha: np.ndarray, rounding: Rounding) -> np.ndarray:
    """Float alpha in [0, 1] -> ``uint8`` (``round``: ``np.rint(255 a)``, half to even;
    ``truncate``: ``floor(255 a)``).

    >>> quantise(np.array([[0.5 / 255, 1.5 / 255, 1.0]]), "round").tolist()
    [[0, 2, 255]]
    >>> quantise(np.array([[0.5 / 255, 1.5 / 255, 1.0]]), "truncate").tolist()
    [[0, 1, 255]]
    """
    if alpha.dtype == np.uint8:
        return alpha
    scaled = np.clip(alpha, 0.0, 1.0) * 255.0
    q = np.rint(scaled) if rounding == "round" else np.floor(scaled)
    return q.astype(np.uint8)


def _metric_set(evaluation: str, has_trimap: bool) -> tuple[str, ...]:
    if evaluation == "unknown":
        return METRIC_SETS["unknown"]
    return METRIC_SETS["whole+trimap" if has_trimap else "whole"]


def score(
    pred: np.ndarray, sample: Sample, evaluation: str, convention: str = "reference"
) -> dict[str, Any]:
    """Per-image metrics of an 8-bit prediction (paper units).

    ``{"metrics": {...}, "conventions": {name: {sad, mse, grad, conn}}, "trimap_stray": n,
    "unknown_pixels": u}``: ``metrics`` under ``convention`` (the main table's), every
    convention for the discrepancy table (unknown-region evaluation only), the number of
    trimap pixels that are neither 0, 128 nor 255 (they count as neither known nor unknown; a
    resized trimap has many) and the number of unknown (== 128) pixels (0: SAD, Grad and Conn
    are 0 and MSE is NaN, left out of its mean). The tables count both.
    """
    if sample.alpha is None:
        raise InputError(f"{sample.name}: the dataset has no ground truth for it")
    if evaluation == "unknown":
        if sample.trimap is None:
            raise InputError(f"{sample.name}: the DIM metrics need a trimap")
        per_conv = {
            c: get_convention(c).evaluate(pred, sample.alpha, sample.trimap) for c in CONVENTIONS
        }
        return {
            "metrics": dict(per_conv[convention]),
            "conventions": per_conv,
            "trimap_stray": _stray(sample.trimap),
            "unknown_pixels": int(np.count_nonzero(sample.trimap == 128)),
        }
    vals = evaluate_whole(pred, sample.alpha, sample.trimap)
    unknown = None if sample.trimap is None else int(np.count_nonzero(sample.trimap == 128))
    return {
        "metrics": vals,
        "conventions": {},
        "trimap_stray": _stray(sample.trimap),
        "unknown_pixels": unknown,
    }


def _stray(trimap: np.ndarray | None) -> int:
    return 0 if trimap is None else stray_count(trimap)


# --------------------------------------------------------------------------- one work item


#: One work item: the positional arguments of :func:`_work`.
_Job = tuple[str, dict[str, Any], dict[str, Any], str, bool, Rounding, str]


def _item_paths(run_dir: Path, dataset: str, method: str, name: str) -> tuple[Path, Path]:
    base = run_dir / dataset / method
    return base / "pred" / f"{name}.png", base / "metrics" / f"{name}.json"


def _write_png(path: Path, img: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_write(path, "wb") as fh:
        fh.write(buf.tobytes())


def _work(
    run_dir: str,
    ds_spec: dict[str, Any],
    method_spec: dict[str, Any],
    name: str,
    force: bool,
    rounding: Rounding,
    convention: str = "reference",
) -> dict[str, Any]:
    """Predict, save and score one image; returns its row (also written to disk)."""
    ds = _open_dataset(ds_spec)
    sample = ds.load(name)
    t0 = time.perf_counter()
    lossy = False
    if method_spec["name"] == PRED_SOURCE:
        pred_file = _find_pred(Path(method_spec["dir"]), name)
        lossy = is_lossy(pred_file)
        with warnings.catch_warnings():  # counted in the row and under the table instead
            warnings.simplefilter("ignore", InputWarning)
            pred = read_alpha(pred_file)
        if sample.alpha is not None and pred.shape != sample.alpha.shape:
            ph, pw = pred.shape
            gh, gw = sample.alpha.shape
            raise InputError(
                f"{pred_file.name}: sizes differ: prediction {ph}x{pw}, ground truth {gh}x{gw}"
            )
        alpha = pred
    else:
        method = _open_method(method_spec)
        if sample.image is None:
            raise InputError(f"{sample.name}: the dataset has no input image")
        alpha = method.predict(sample.image, sample.trimap)
    seconds = time.perf_counter() - t0
    pred8 = quantise(alpha, rounding)
    if force and sample.trimap is not None:
        pred8 = force_known(pred8, sample.trimap)
    pred_path, metrics_path = _item_paths(
        Path(run_dir), ds_spec["name"], method_spec["label"], name
    )
    _write_png(pred_path, pred8)
    with warnings.catch_warnings():  # the row records the facts; the tables count them
        warnings.simplefilter("ignore", InputWarning)
        result = score(pred8, sample, ds.evaluation, convention)
    row = {
        "dataset": ds_spec["name"],
        "method": method_spec["label"],
        "name": name,
        "seconds": seconds,
        "pred_lossy": lossy,
        **result,
    }
    with atomic_write(metrics_path) as fh:
        json.dump(_nan_to_none(row), fh, sort_keys=True)
    return row


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    return obj


def _none_to_nan(obj: Any) -> Any:
    if obj is None:
        return float("nan")
    if isinstance(obj, dict):
        return {k: _none_to_nan(v) for k, v in obj.items()}
    return obj


_DATASET_CACHE: dict[str, MattingDataset] = {}


def _open_dataset(spec: dict[str, Any]) -> MattingDataset:
    """The dataset of a config entry; ``"evaluation"`` (``"unknown"`` or ``"whole"``)
    overrides the dataset's own, e.g. whole-image metrics for trimap-free rows of a table."""
    key = json.dumps(spec, sort_keys=True, default=str)
    if key not in _DATASET_CACHE:
        ds = get_dataset(spec["name"], spec.get("root"), **spec.get("kwargs", {}))
        ev = spec.get("evaluation")
        if ev is not None:
            if ev not in ("unknown", "whole"):
                raise InputError(
                    f"{spec['name']}: evaluation must be 'unknown' or 'whole', got {ev!r}"
                )
            if ev == "unknown" and ds.trimap_source == "none":
                raise InputError(f"{spec['name']}: has no trimaps for the unknown-region metrics")
            ds.evaluation = ev
        _DATASET_CACHE[key] = ds
    return _DATASET_CACHE[key]


_METHOD_CACHE: dict[str, Any] = {}


def _open_method(spec: dict[str, Any]) -> Any:
    from baselines import get_method

    key = json.dumps(spec, sort_keys=True, default=str)
    if key not in _METHOD_CACHE:
        _METHOD_CACHE[key] = get_method(spec["name"], **spec.get("kwargs", {}))
    return _METHOD_CACHE[key]


def _find_pred(folder: Path, name: str) -> Path:
    table = list_images(folder, "prediction folder")
    if name not in table:
        raise InputError(f"prediction folder {folder}: no prediction for {name}")
    return table[name]


# --------------------------------------------------------------------------- the run


def _check_config(run_dir: Path, cfg: RunConfig) -> None:
    path = run_dir / "config.json"
    want = cfg.to_json()
    if path.exists():
        have = json.loads(path.read_text())
        if have != want:
            raise InputError(
                f"{path} holds a different configuration; use another --out directory or "
                "delete it to start over"
            )
        return
    with atomic_write(path) as fh:
        json.dump(want, fh, indent=2, sort_keys=True)


def _write_environment(run_dir: Path, cfg: RunConfig) -> None:
    """``environment.json``: versions and each dataset's own record (informational; a resumed
    run rewrites it)."""
    import platform

    from metrics import __version__

    env: dict[str, Any] = {
        "mattebench": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "datasets": [_open_dataset(d).config() for d in cfg.datasets],
    }
    with atomic_write(run_dir / "environment.json") as fh:
        json.dump(env, fh, indent=2, sort_keys=True, default=str)


def _label(spec: dict[str, Any]) -> str:
    return spec.get("label") or spec["name"]


def run(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    workers: int | None = None,
    progress: bool = True,
    executor: str = "process",
    scheduler: str | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) ``cfg`` in ``run_dir``; return every per-image row, sorted.

    Work items already finished (their metrics file exists) are skipped.

    Parameters
    ----------
    cfg
        The run's configuration.
    run_dir
        The run directory (created; a directory holding another configuration is refused).
    workers
        ``executor="process"``: > 1 runs items in that many separate processes;
        ``executor="dask"``: the size of the local cluster. Default: the number of CPUs.
    progress
        Show a tqdm bar (per image; per finished shard with dask).
    executor
        ``"process"`` (a local process pool) or ``"dask"`` (shards on a dask.distributed
        cluster; see "Sharded evaluation" in the module docstring).
    scheduler
        ``executor="dask"`` only: the address of a running scheduler, e.g.
        ``"tcp://host:8786"``; default ``$MATTEBENCH_DASK_SCHEDULER``, and without it a local
        cluster started for this run.
    """
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if scheduler is not None and executor != "dask":
        raise InputError(f"a dask scheduler ({scheduler}) needs executor 'dask', not {executor!r}")
    if executor == "dask":
        _import_distributed()  # fail on a missing extra before any work
    run_dir = Path(run_dir)
    get_convention(cfg.convention)
    methods = [dict(m, label=_label(m)) for m in cfg.methods]
    for ds_spec in cfg.datasets:  # fail on a bad name or layout before touching run_dir
        _open_dataset(ds_spec)
    for m in methods:
        if m["name"] != PRED_SOURCE:
            _open_method(m)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_config(run_dir, cfg)
    _write_environment(run_dir, cfg)
    jobs: list[_Job] = []
    planned = {d["name"]: list(_open_dataset(d).names()) for d in cfg.datasets}
    with atomic_write(run_dir / "images.json") as fh:
        json.dump(planned, fh, indent=1, sort_keys=True)
    for ds_spec in cfg.datasets:
        ds = _open_dataset(ds_spec)
        for m in methods:
            for name in ds.names():
                _, metrics_path = _item_paths(run_dir, ds_spec["name"], m["label"], name)
                if not metrics_path.exists():
                    jobs.append(
                        (
                            str(run_dir),
                            ds_spec,
                            m,
                            name,
                            cfg.force_known,
                            cfg.rounding,
                            cfg.convention,
                        )
                    )
    workers = max(1, workers or (os.cpu_count() or 1))
    bar = tqdm(
        total=len(jobs), desc="eval", unit="img", disable=not progress or not jobs, file=sys.stderr
    )
    try:
        if executor == "dask":
            if jobs:
                _run_dask(jobs, workers=workers, scheduler=scheduler, bar=bar)
        elif workers == 1 or len(jobs) <= 1:
            for j in jobs:
                _work(*j)
                bar.update()
        else:
            # torch's thread pool does not survive fork(): a worker forked after the driver
            # loaded a neural method hangs, so those runs start their workers fresh (spawn)
            neural = any(str(m["name"]).startswith("model:") for m in methods)
            ctx = multiprocessing.get_context("spawn") if neural else None
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as ex:
                pending = {ex.submit(_work, *j) for j in jobs}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()  # re-raise a worker's error here
                        bar.update()
    finally:
        bar.close()
    rows = load_results(run_dir)
    write_results_csv(run_dir, rows)
    return rows


# --------------------------------------------------------------------------- dask executor


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:
        raise InputError(
            'executor "dask" needs dask.distributed: pip install "mattebench[scale]"'
        ) from e
    return distributed


def _shards(jobs: Sequence[_Job], slots: int) -> list[list[_Job]]:
    """Split ``jobs`` into shards of consecutive images of one dataset x method, about
    :data:`_SHARDS_PER_WORKER` shards per worker slot (every shard of a group but its last
    has the same size).

    >>> jobs = [("r", {"name": "d"}, {"label": m}, f"i{k}", True, "round", "reference")
    ...         for m in ("a", "b") for k in range(5)]
    >>> [[j[3] for j in s] for s in _shards(jobs, slots=1)]
    [['i0', 'i1', 'i2'], ['i3', 'i4'], ['i0', 'i1', 'i2'], ['i3', 'i4']]
    """
    size = max(1, math.ceil(len(jobs) / (max(1, slots) * _SHARDS_PER_WORKER)))
    groups: dict[tuple[str, str], list[_Job]] = {}
    for j in jobs:
        groups.setdefault((j[1]["name"], j[2]["label"]), []).append(j)
    return [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]


def _eval_shard(jobs: Sequence[_Job]) -> int:
    """Evaluate one shard on a dask worker (it writes the per-image files); returns its size.

    An error is re-raised naming the image: an :class:`InputError` whose message does not
    name it gets the image as a prefix, any other exception a note (shown in its traceback).
    """
    for job in jobs:
        try:
            _work(*job)
        except Exception as e:
            where = f"{job[1]['name']} x {job[2]['label']}, image {job[3]}"
            if isinstance(e, InputError) and job[3] not in str(e):
                raise InputError(f"{where}: {e}") from e
            e.add_note(f"mattebench: while evaluating {where} on a dask worker")
            raise
    return len(jobs)


def _run_dask(jobs: Sequence[_Job], *, workers: int, scheduler: str | None, bar: tqdm) -> None:
    """Evaluate ``jobs`` on a dask.distributed cluster (see the module docstring)."""
    distributed = _import_distributed()
    address = scheduler or os.environ.get(SCHEDULER_ENV) or None
    run_dir = Path(jobs[0][0]).resolve()  # workers elsewhere need the absolute path
    jobs = [(str(run_dir), *j[1:]) for j in jobs]
    with contextlib.ExitStack() as stack:
        if address:
            try:
                client = stack.enter_context(distributed.Client(address))
            except (OSError, ValueError) as e:  # unreachable; malformed address
                raise InputError(f"cannot reach the dask scheduler at {address}: {e}") from e
        else:
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=min(workers, len(jobs)),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        slots = sum(client.nthreads().values()) or workers
        futures = {
            client.submit(_eval_shard, shard, pure=False): len(shard)
            for shard in _shards(jobs, slots)
        }
        try:
            for fut in distributed.as_completed(list(futures)):
                fut.result()  # re-raise a worker's error (naming the image) here
                bar.update(futures[fut])
        except BaseException:
            client.cancel(list(futures))
            raise
    missing = [
        j[3]
        for j in jobs
        if not _item_paths(run_dir, j[1]["name"], j[2]["label"], j[3])[1].exists()
    ]
    if missing:
        raise InputError(
            f"the dask workers finished {len(jobs)} images but {len(missing)} metrics files "
            f"(e.g. {missing[0]}) are not in {run_dir}: the run directory must be on a "
            "filesystem every worker sees, at the same path"
        )


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``config.json``; :class:`InputError` naming the folder when it is not a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run folder")
    path = run_dir / "config.json"
    if not path.is_file():
        raise InputError(
            f"{run_dir}: not a run folder (it has no config.json; `mattebench eval --out DIR` "
            "makes one)"
        )
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(cfg, dict) or not {"datasets", "methods"} <= set(cfg):
        raise InputError(
            f"{path}: not a MatteBench run configuration (no 'datasets' and 'methods')"
        )
    return cfg


def load_results(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every per-image row of a run, sorted by dataset, method, name."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    rows = []
    for ds_spec in cfg["datasets"]:
        for m in cfg["methods"]:
            folder = run_dir / ds_spec["name"] / _label(m) / "metrics"
            if not folder.is_dir():
                continue
            for f in sorted(folder.glob("*.json")):
                try:
                    rows.append(_none_to_nan(json.loads(f.read_text())))
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    raise InputError(f"{f}: damaged per-image result ({e}); delete it and "
                                     "run the eval command again") from None  # fmt: skip
    rows.sort(key=lambda r: (r["dataset"], r["method"], r["name"]))
    return rows


def planned_images(run_dir: str | Path, cfg: dict[str, Any]) -> dict[tuple[str, str], int] | None:
    """``(dataset, method) -> images a complete run has`` from ``images.json`` (written when
    the run starts); ``None`` for a run made before that file existed."""
    path = Path(run_dir) / "images.json"
    if not path.is_file():
        return None
    planned = json.loads(path.read_text())
    return {
        (d["name"], _label(m)): len(planned.get(d["name"], []))
        for d in cfg["datasets"]
        for m in cfg["methods"]
    }


def load_run(run_dir: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(rows, config)`` of a run that has at least one result; :class:`InputError` for a
    folder that is not a run or a run killed before its first image."""
    cfg = read_config(run_dir)
    rows = load_results(run_dir)
    if not rows:
        raise InputError(
            f"{run_dir}: the run has no results yet (stopped before its first image?); run "
            "the same eval command again to resume it"
        )
    return rows, cfg


def incomplete(
    rows: Sequence[dict[str, Any]], planned: dict[tuple[str, str], int] | None
) -> list[str]:
    """``"comp1k/knn: 20 of 50 images"`` for every (dataset, method) short of its plan."""
    if planned is None:
        return []
    have: dict[tuple[str, str], int] = {}
    for r in rows:
        have[(r["dataset"], r["method"])] = have.get((r["dataset"], r["method"]), 0) + 1
    return [
        f"{ds}/{m}: {have.get((ds, m), 0)} of {n} images"
        for (ds, m), n in planned.items()
        if have.get((ds, m), 0) < n
    ]


def write_results_csv(
    run_dir: str | Path, rows: Sequence[dict[str, Any]], *, path: str | Path | None = None
) -> Path:
    """``results.csv`` (or ``path``): one row per image and method, the main convention's
    metrics, written atomically in the given row order."""
    present = {k for r in rows for k in r["metrics"]}
    cols = [k for k in METRICS if k in present]  # the registry's (= table) column order
    path = Path(run_dir) / "results.csv" if path is None else Path(path)
    with atomic_write(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dataset", "method", "name", *cols])
        for r in rows:
            w.writerow(
                [
                    r["dataset"],
                    r["method"],
                    r["name"],
                    *(repr(float(r["metrics"].get(c, float("nan")))) for c in cols),
                ]
            )
    return path


def write_tables(
    run_dir: str | Path,
    *,
    fmt: str = "md",
    write: bool = True,
    loaded: tuple[list[dict[str, Any]], dict[str, Any]] | None = None,
) -> str:
    """A run's tables (:func:`reports.report.run_tables`): every mean with its 95 % interval
    over images and its image count.

    Returns the tables rendered in ``fmt`` (what the CLI prints); with ``write`` also saves
    every table in all three formats as ``tables/<dataset>_{main,conventions}.{md,tex,csv}``.
    ``loaded`` is the run's :func:`load_run` when the caller has read it already.
    """
    from reports.report import run_tables
    from reports.tables import render

    run_dir = Path(run_dir)
    rows, cfg = load_run(run_dir) if loaded is None else loaded
    out = []
    for (ds, kind), table in run_tables(rows, cfg, planned_images(run_dir, cfg)).items():
        out.append(render(table, fmt))  # type: ignore[arg-type]
        if write:
            for f in ("md", "tex", "csv"):
                with atomic_write(run_dir / "tables" / f"{ds}_{kind}.{f}") as fh:
                    fh.write(render(table, f))  # type: ignore[arg-type]
    return "\n".join(out)


def compare_run(run_dir: str | Path, a: str, b: str, *, dataset: str | None = None) -> str:
    """Methods ``a`` and ``b`` of a run compared image by image
    (:func:`reports.report.compare_datasets`: ``dataset``, or every dataset with both)."""
    from reports.report import compare_datasets

    rows, cfg = load_run(run_dir)
    names = list(dict.fromkeys(d["name"] for d in cfg["datasets"]))
    return compare_datasets(rows, names, a, b, dataset=dataset)


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
    from reports.figures import qualitative_grid

    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
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


def method_specs(
    names: Iterable[str],
    pred_dirs: Iterable[str] = (),
    kwargs: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], ...]:
    """Method entries of a :class:`RunConfig` from ``--method`` names (with their
    ``--method-arg`` keywords) and ``--pred-dir`` folders."""
    names = list(names)
    kwargs = kwargs or {}
    stray = sorted(set(kwargs) - set(names))
    if stray:
        raise InputError(f"--method-arg for a method that is not run: {', '.join(stray)}")
    out: list[dict[str, Any]] = [{"name": n, "kwargs": dict(kwargs.get(n, {}))} for n in names]
    for d in pred_dirs:
        p = Path(d)
        out.append({"name": PRED_SOURCE, "dir": str(p.resolve()), "label": p.name or "predictions"})
    if not out:
        raise InputError("give at least one --method or --pred-dir")
    labels = [_label(m) for m in out]
    if len(set(labels)) != len(labels):
        raise InputError(f"two methods share a name in this run: {labels}")
    return tuple(out)
