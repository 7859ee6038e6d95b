"""The dask executor of the evaluation runner (single node): same results as the process pool,
resume, a worker's error named in the driver, the CLI flags.

The datasets come from the package's registry (``synthetic-portrait``, generated into
``tmp_path``), never from a test-registered one: the dask workers are spawned processes that
import the package afresh, so classes registered by a test module do not exist there.
One module-scoped :class:`distributed.LocalCluster` serves the tests that pass its address
(``scheduler=`` or ``$MATTEBENCH_DASK_SCHEDULER``); one test lets the runner start and close its
own cluster.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

import benchmark.runner as runner
from benchmark.cli import main
from benchmark.datasets import get_dataset
from benchmark.runner import SCHEDULER_ENV, RunConfig, run
from metrics import InputError

distributed = pytest.importorskip("distributed")

COUNT, SIZE = 6, 48


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 6-image synthetic-portrait cache and a folder of (noisy) predictions for it."""
    base = tmp_path_factory.mktemp("dask-data")
    ds = get_dataset("synthetic-portrait", None, count=COUNT, size=SIZE, cache_dir=base / "cache")
    preds = base / "preds"
    preds.mkdir()
    rng = np.random.default_rng(0)
    for n in ds.names():
        gt = ds.load(n).alpha
        noisy = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255)
        cv2.imwrite(str(preds / f"{n}.png"), noisy.astype(np.uint8))
    return {"cache": base / "cache", "preds": preds}


def _cfg(data: dict[str, Path], pred_dir: Path | None = None) -> RunConfig:
    kwargs = {"count": COUNT, "size": SIZE, "cache_dir": str(data["cache"])}
    return RunConfig(
        datasets=({"name": "synthetic-portrait", "root": None, "kwargs": kwargs},),
        methods=runner.method_specs(["trimap-only"], [str(pred_dir or data["preds"])]),
    )


@pytest.fixture(scope="module")
def reference(data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same configuration run by the (default) process executor."""
    out = tmp_path_factory.mktemp("process") / "run"
    run(_cfg(data), out, workers=2, progress=False)
    return out


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The address of a two-worker local cluster shared by this module's tests."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c.scheduler_address


@pytest.fixture(autouse=True)
def _no_scheduler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)  # tox passes MATTEBENCH_* through


def _files(run_dir: Path, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob(pattern))}


def test_own_local_cluster_matches_process_executor(data, reference, tmp_path: Path) -> None:
    """executor="dask" with no scheduler starts a 2-worker cluster for the run: results.csv
    and every saved prediction are byte-identical to the process executor's."""
    out = tmp_path / "run"
    rows = run(_cfg(data), out, workers=2, progress=False, executor="dask")
    assert len(rows) == 2 * COUNT
    assert (out / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()
    assert _files(out, "*.png") == _files(reference, "*.png")
    assert not list(out.rglob("*.tmp"))


def test_resume_computes_only_the_missing_images(data, reference, cluster, tmp_path) -> None:
    """A dask run over a half-finished directory leaves the finished images' files alone
    (same inode: atomic writes replace a file, so a recomputed one would get a new inode)."""
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    (out / "results.csv").unlink()
    metrics = sorted(out.rglob("metrics/*.json"))
    removed = metrics[::3]
    for m in removed:
        m.unlink()
    kept = {m: os.stat(m).st_ino for m in metrics if m not in removed}
    run(_cfg(data), out, progress=False, executor="dask", scheduler=cluster)
    assert all(m.is_file() for m in removed)
    assert {m: os.stat(m).st_ino for m in kept} == kept
    assert (out / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()


def test_worker_error_names_the_image(data, cluster, tmp_path: Path) -> None:
    """A prediction missing from a --pred-dir fails on a worker; the driver re-raises it."""
    preds = tmp_path / "preds"
    shutil.copytree(data["preds"], preds)
    (preds / "portrait_0003.png").unlink()
    with pytest.raises(InputError, match="no prediction for portrait_0003"):
        run(_cfg(data, preds), tmp_path / "run", progress=False, executor="dask", scheduler=cluster)


def test_shard_errors_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the shard function: an InputError not naming the image gets it as a prefix, any
    other exception keeps its type and gets a note naming it."""
    jobs = [("r", {"name": "ds"}, {"label": "m"}, n, True, "round", "reference") for n in "ab"]

    def fail(*a):
        if a[3] == "b":
            raise err

    monkeypatch.setattr(runner, "_work", fail)
    err = InputError("pred has NaN")
    with pytest.raises(InputError, match=r"^ds x m, image b: pred has NaN$"):
        runner._eval_shard(jobs)
    err = RuntimeError("out of memory")
    with pytest.raises(RuntimeError, match="out of memory") as info:
        runner._eval_shard(jobs)
    assert info.value.__notes__ == ["mattebench: while evaluating ds x m, image b on a dask worker"]


def test_cli_executor_flag(data, reference, cluster, tmp_path, monkeypatch, capsys) -> None:
    """`mattebench eval --executor dask` (scheduler from $MATTEBENCH_DASK_SCHEDULER, then
    from --scheduler); an unknown executor is refused."""
    argv = [
        "eval", "--dataset", "synthetic-portrait", "--set", f"count={COUNT}",
        "--set", f"size={SIZE}", "--set", f"cache_dir={data['cache']}",
        "--method", "trimap-only", "--pred-dir", str(data["preds"]), "--no-progress",
    ]  # fmt: skip
    monkeypatch.setenv(SCHEDULER_ENV, cluster)
    out = tmp_path / "env"
    assert main([*argv, "--out", str(out), "--executor", "dask"]) == 0
    assert "| trimap-only |" in capsys.readouterr().out
    assert (out / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()
    monkeypatch.delenv(SCHEDULER_ENV)
    out = tmp_path / "flag"
    assert main([*argv, "--out", str(out), "--executor", "dask", "--scheduler", cluster]) == 0
    assert (out / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(tmp_path / "x"), "--executor", "spark"])
    assert "invalid choice: 'spark'" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "x"), "--scheduler", cluster]) == 2
    assert "needs executor 'dask'" in capsys.readouterr().err


def test_bad_executor_and_missing_dask(data, tmp_path, monkeypatch) -> None:
    """run() refuses an unknown executor, and without dask installed says what to install
    (before touching the run directory)."""
    with pytest.raises(InputError, match="unknown executor 'spark'; choose one of process, dask"):
        run(_cfg(data), tmp_path / "a", executor="spark")
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    with pytest.raises(InputError, match=r'pip install "mattebench\[scale\]"'):
        run(_cfg(data), tmp_path / "b", executor="dask")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_unreachable_scheduler(data, tmp_path) -> None:
    """A scheduler address nobody listens on is an InputError naming it (after the connect
    timeout, shortened here from dask's 30 s)."""
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(InputError, match="cannot reach the dask scheduler at tcp://127.0.0.1:1"),
    ):
        run(_cfg(data), tmp_path / "run", executor="dask", scheduler="tcp://127.0.0.1:1")
