"""The evaluation runner: results store, configuration record, resume after interruption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import benchmark.runner as runner
from baselines import MattingMethod, register_method
from baselines.methods import METHODS
from benchmark.datasets import DATASETS, MattingDataset, Sample, register_dataset
from benchmark.runner import RunConfig, load_results, run
from metrics import InputError, evaluate
from tests.conftest import smooth_case

N_IMAGES = 7


if "tiny-test" not in DATASETS:

    @register_dataset("tiny-test")
    class _Tiny(MattingDataset):
        """Seven 40x48 composites made in memory (seeded)."""

        evaluation = "unknown"
        trimap_source = "generated"

        def _scan(self) -> list[str]:
            return [f"img{i:02d}" for i in range(N_IMAGES)]

        def load(self, name: str) -> Sample:
            i = int(name[3:])
            _, gt, tri = smooth_case(40, 48, seed=100 + i)
            rng = np.random.default_rng(i)
            fg = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            bg = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            a = gt[..., None] / 255.0
            img = (a * fg + (1 - a) * bg).astype(np.uint8)
            return Sample(name, image=img, alpha=gt, trimap=tri, fg=fg, bg=bg)


if "blur-test" not in METHODS:

    @register_method("blur-test")
    class _Blur(MattingMethod):
        """Alpha from the image's first channel scaled into [0, 1] (deterministic, not good)."""

        def _predict(self, image: np.ndarray, trimap: np.ndarray | None) -> np.ndarray:
            return image[..., 0] / 255.0


def _cfg(**kw) -> RunConfig:
    base = dict(
        datasets=({"name": "tiny-test", "root": None, "kwargs": {}},),
        methods=({"name": "blur-test", "kwargs": {}},),
    )
    base.update(kw)
    return RunConfig(**base)


def test_run_writes_store_and_matches_metrics(tmp_path: Path) -> None:
    """Every image gets a PNG and a metrics file; values equal metrics.evaluate on the PNG."""
    rows = run(_cfg(), tmp_path, workers=1, progress=False)
    assert len(rows) == N_IMAGES
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["convention"] == "reference" and cfg["force_known"] is True
    ds = DATASETS["tiny-test"](None)
    for r in rows:
        s = ds.load(r["name"])
        pred = runner.read_alpha(tmp_path / "tiny-test" / "blur-test" / "pred" / f"{r['name']}.png")
        # forced and rounded as recorded
        assert (pred[s.trimap == 0] == 0).all() and (pred[s.trimap == 255] == 255).all()
        want = np.rint(s.image[..., 0].astype(float))  # /255*255 then rint
        u = s.trimap == 128
        np.testing.assert_array_equal(pred[u], want[u])
        assert r["metrics"] == pytest.approx(evaluate(pred, s.alpha, s.trimap), nan_ok=True)
        assert set(r["conventions"]) >= {"reference", "gca", "mmagic", "p3m"}
    assert (tmp_path / "results.csv").read_text().count("\n") == N_IMAGES + 1


def test_resume_after_interruption_gives_identical_results(tmp_path: Path, monkeypatch) -> None:
    """Stop after 3 images (as a kill would), run again: same results.csv as one clean run."""
    clean = tmp_path / "clean"
    run(_cfg(), clean, workers=1, progress=False)

    broken = tmp_path / "broken"
    real = runner._work
    calls = {"n": 0}

    def flaky(*a, **k):
        if calls["n"] == 3:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(runner, "_work", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(_cfg(), broken, workers=1, progress=False)
    done = list((broken / "tiny-test" / "blur-test" / "metrics").glob("*.json"))
    assert len(done) == 3
    monkeypatch.setattr(runner, "_work", real)
    # the resumed run only does the remaining images
    seen = []
    monkeypatch.setattr(runner, "_work", lambda *a, **k: seen.append(a[3]) or real(*a, **k))
    run(_cfg(), broken, workers=1, progress=False)
    assert len(seen) == N_IMAGES - 3
    assert (broken / "results.csv").read_bytes() == (clean / "results.csv").read_bytes()
    assert not list(broken.rglob("*.tmp"))


def test_parallel_workers_same_results(tmp_path: Path) -> None:
    run(_cfg(), tmp_path / "a", workers=1, progress=False)
    run(_cfg(), tmp_path / "b", workers=2, progress=False)
    assert (tmp_path / "a" / "results.csv").read_bytes() == (
        tmp_path / "b" / "results.csv"
    ).read_bytes()


def test_different_config_refused(tmp_path: Path) -> None:
    run(_cfg(), tmp_path, workers=1, progress=False)
    with pytest.raises(InputError, match="different configuration"):
        run(_cfg(rounding="truncate"), tmp_path, workers=1, progress=False)


def test_rounding_and_forcing_options(tmp_path: Path) -> None:
    """truncate vs round and --no-force-known change the saved PNGs as documented."""
    run(_cfg(rounding="truncate", force_known=False), tmp_path, workers=1, progress=False)
    ds = DATASETS["tiny-test"](None)
    s = ds.load("img00")
    pred = runner.read_alpha(tmp_path / "tiny-test" / "blur-test" / "pred" / "img00.png")
    np.testing.assert_array_equal(pred, s.image[..., 0])  # floor(v/255*255) == v, unforced
    rows = load_results(tmp_path)
    assert rows[0]["metrics"] == pytest.approx(evaluate(pred, s.alpha, s.trimap), nan_ok=True)


def test_pred_dir_scoring(tmp_path: Path) -> None:
    """--pred-dir scores existing PNGs; a missing prediction is an error naming the image."""
    import cv2

    ds = DATASETS["tiny-test"](None)
    pdir = tmp_path / "mypreds"
    pdir.mkdir()
    for n in ds.names():
        cv2.imwrite(str(pdir / f"{n}.png"), ds.load(n).alpha)
    cfg = _cfg(methods=runner.method_specs([], [str(pdir)]))
    rows = run(cfg, tmp_path / "run", workers=1, progress=False)
    assert all(r["metrics"]["sad"] == 0 for r in rows)
    (pdir / "img03.png").unlink()
    with pytest.raises(InputError, match="no prediction for img03"):
        run(cfg, tmp_path / "run2", workers=1, progress=False)


def test_cli_eval_and_report(tmp_path: Path, capsys) -> None:
    """`mattebench eval` prints the main and the conventions tables and writes them."""
    from benchmark.cli import main

    out = tmp_path / "run"
    argv = ["eval", "--dataset", "tiny-test", "--method", "blur-test", "--out", str(out)]
    assert main([*argv, "--workers", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "| blur-test |" in text and "SAD \u2193" in text
    assert "blur-test / gca" in text  # the discrepancy table
    for kind in ("main", "conventions"):
        for f in ("md", "tex", "csv"):
            assert (out / "tables" / f"tiny-test_{kind}.{f}").is_file()
    assert main(["report", str(out), "--format", "tex", "--no-write"]) == 0
    assert r"\begin{tabular}" in capsys.readouterr().out
    # intervals, image counts, and a paired comparison of two methods of one run
    both = tmp_path / "both"
    argv = ["eval", "--dataset", "tiny-test", "--method", "blur-test", "--method", "trimap-only",
            "--out", str(both), "--workers", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "95% bootstrap interval over images" in text and "| n |" in text
    assert main(["report", str(both), "--compare", "blur-test", "trimap-only"]) == 0
    text = capsys.readouterr().out
    assert "blur-test - trimap-only" in text and "Wilcoxon" in text
    assert text.count("| n=") == 4 and ("better at 95%" in text or "cannot be told" in text)
    assert main(["report", str(both), "--compare", "blur-test", "nope"]) == 2
    assert "no method 'nope'" in capsys.readouterr().err
    assert main(["eval", "--dataset", "nope", "--method", "blur-test", "--out", str(out)]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_sigkill_mid_run_then_resume(tmp_path: Path) -> None:
    """`mattebench eval` killed with SIGKILL mid-run, started again: same results.csv as an
    uninterrupted run (real process, real kill; folder dataset + --pred-dir)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import cv2

    n = 150
    d = tmp_path / "data"
    for sub in ("images", "alpha", "trimaps", "preds"):
        (d / sub).mkdir(parents=True)
    for i in range(n):
        pred, gt, tri = smooth_case(40, 44, seed=1000 + i)
        name = f"s{i:03d}.png"
        cv2.imwrite(str(d / "images" / name), np.dstack([gt, pred, tri]))
        cv2.imwrite(str(d / "alpha" / name), gt)
        cv2.imwrite(str(d / "trimaps" / name), tri)
        cv2.imwrite(str(d / "preds" / name), pred)

    def cmd(out: Path) -> list[str]:
        return [
            sys.executable, "-m", "benchmark.cli", "eval", "--dataset", "folder",
            "--set", f"images={d / 'images'}", "--set", f"alphas={d / 'alpha'}",
            "--set", f"trimaps={d / 'trimaps'}", "--pred-dir", str(d / "preds"),
            "--out", str(out), "--workers", "1", "--no-progress",
        ]  # fmt: skip

    clean = tmp_path / "clean"
    subprocess.run(cmd(clean), check=True, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics_dir = killed / "folder" / "preds" / "metrics"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = len(list(metrics_dir.glob("*.json"))) if metrics_dir.is_dir() else 0
        if done >= 20:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(metrics_dir.glob("*.json")))
    assert 20 <= done < n, f"the kill did not land mid-run ({done} of {n} done)"
    assert not (killed / "results.csv").exists()
    subprocess.run(cmd(killed), check=True, capture_output=True)
    assert (killed / "results.csv").read_bytes() == (clean / "results.csv").read_bytes()


def test_main_table_follows_the_run_convention(tmp_path: Path) -> None:
    """--convention gca: the main metrics are the gca values; all conventions are kept."""
    rows = run(_cfg(convention="gca"), tmp_path, workers=1, progress=False)
    for r in rows:
        assert r["metrics"] == r["conventions"]["gca"]
    assert any(r["metrics"]["conn"] != r["conventions"]["reference"]["conn"] for r in rows)
    assert all(r["trimap_stray"] == 0 for r in rows)


def test_neural_model_as_method(tmp_path: Path) -> None:
    """--method model:sdnet with --method-arg checkpoint=...: the runner scores it; without a
    checkpoint it refuses (an untrained network is no baseline)."""
    import torch

    from baselines import create_model
    from baselines.models import save_checkpoint

    torch.manual_seed(0)
    ckpt = tmp_path / "sdnet.pt"
    save_checkpoint(create_model("sdnet", stem_stride=2), ckpt, name="sdnet")
    methods = runner.method_specs(
        ["model:sdnet"], (), {"model:sdnet": {"checkpoint": str(ckpt), "stem_stride": 2}}
    )
    rows = run(_cfg(methods=methods), tmp_path / "run", workers=1, progress=False)
    assert len(rows) == N_IMAGES and all(r["method"] == "model:sdnet" for r in rows)
    assert all(0 < r["metrics"]["sad"] for r in rows)
    with pytest.raises(InputError, match="needs a checkpoint"):
        run(
            _cfg(methods=runner.method_specs(["model:sdnet"])),
            tmp_path / "r2",
            workers=1,
            progress=False,
        )
    with pytest.raises(InputError, match="not run: knn"):
        runner.method_specs(["model:sdnet"], (), {"knn": {}})


def test_cli_method_arg(tmp_path: Path, capsys) -> None:
    """`--method-arg METHOD KEY=VALUE` reaches that method; for a method not run it is an error."""
    from benchmark.cli import main

    base = ["eval", "--dataset", "tiny-test", "--out", str(tmp_path / "r"), "--workers", "1"]
    assert main([*base, "--method", "model:sdnet", "--no-progress"]) == 2
    assert "needs a checkpoint" in capsys.readouterr().err
    argv = [*base, "--method", "blur-test", "--method-arg", "knn", "x=1"]
    assert main(argv) == 2
    assert "not run: knn" in capsys.readouterr().err


def test_report_qualitative_grid(tmp_path: Path, capsys) -> None:
    """`mattebench report RUN --grid a,b --zoom ...` writes the grid from the saved PNGs."""
    from benchmark.cli import main

    run(_cfg(), tmp_path, workers=1, progress=False)
    argv = ["report", str(tmp_path), "--grid", "img00,img03", "--zoom", "4,4,16,16", "--no-write"]
    assert main(argv) == 0
    assert (tmp_path / "figures" / "grid_tiny-test.png").is_file()
    assert (tmp_path / "figures" / "grid_tiny-test.pdf").read_bytes().startswith(b"%PDF")
    assert main(["report", str(tmp_path), "--grid", "nope", "--no-write"]) == 2
    assert "no sample named 'nope'" in capsys.readouterr().err


def test_neural_method_in_worker_processes(tmp_path: Path) -> None:
    """A neural method with --workers 2 finishes (workers forked after the driver loaded torch
    used to hang: they are spawned now) and gives the numbers of a single-process run."""
    import subprocess
    import sys

    torch = pytest.importorskip("torch")
    from baselines import create_model
    from baselines.models import save_checkpoint

    torch.manual_seed(0)
    ck = tmp_path / "sd.pt"
    save_checkpoint(create_model("sdnet", stem_stride=2, width_mult=0.25), ck, name="sdnet")
    cache = tmp_path / "cache"
    outs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        cmd = [sys.executable, "-m", "benchmark.cli", "eval", "--dataset", "synthetic-portrait",
               "--set", "count=3", "--set", "size=48", "--method", "model:sdnet",
               "--method-arg", "model:sdnet", f"checkpoint={ck}",
               "--method-arg", "model:sdnet", "stem_stride=2", "--method-arg", "model:sdnet",
               "threads=1", "--workers", workers, "--out", str(out), "--no-progress"]  # fmt: skip
        env = {**__import__("os").environ, "MATTEBENCH_CACHE": str(cache)}
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        assert res.returncode == 0, res.stderr[-2000:]
        outs[workers] = (out / "results.csv").read_text()
    assert outs["1"] == outs["2"]
