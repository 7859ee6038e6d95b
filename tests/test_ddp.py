"""Data-parallel `mattebench train` under torchrun: 2 CPU processes (gloo) on one node.

The runs are tiny (SDNet with a stride-2 stem, 48 px crops, 2 samples per process); each
torchrun launch takes about 6 s on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from benchmark.training import TrainConfig, make_batch, train  # noqa: E402
from metrics import InputError  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is unavailable",
)

ROOT = Path(__file__).resolve().parents[1]
NPROC = 2
# the TrainConfig that the command line of _torchrun builds (val_count: the CLI default 8)
SMALL = dict(
    model="sdnet",
    model_kwargs={"stem_stride": 2},
    size=64,
    crop=48,
    batch=2,
    val_every=2,
    save_every=2,
    threads=1,
)


def _torchrun(out: Path, iters: int) -> str:
    """`torchrun --standalone --nproc_per_node 2 -m benchmark.cli train ...`; its stdout."""
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc_per_node", str(NPROC), "-m", "benchmark.cli", "train",
        "--model", "sdnet", "--model-arg", "stem_stride=2", "--out", str(out),
        "--size", "64", "--crop", "48", "--batch", "2", "--iters", str(iters),
        "--val-every", "2", "--save-every", "2", "--threads", "1", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)  # a pytest started under torchrun must not leak its own group
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, f"torchrun exited {p.returncode}:\n{p.stdout}\n{p.stderr[-4000:]}"
    return p.stdout


def _log_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]


def test_processes_draw_consecutive_single_process_chunks() -> None:
    """Process r of W at step s draws exactly what one process draws at step s * W + r (so
    the processes' samples are disjoint), and world=1 is the single-process stream."""
    cfg = TrainConfig(**SMALL, iters=1)
    for step, rank in [(0, 0), (0, 1), (3, 1)]:
        a = make_batch(cfg, step, rank=rank, world=NPROC)
        b = make_batch(cfg, step * NPROC + rank)
        for k in a:
            assert torch.equal(a[k], b[k]), (step, rank, k)
    a, b = make_batch(cfg, 3), make_batch(cfg, 3, rank=0, world=1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(
        make_batch(cfg, 0, rank=0, world=NPROC)["alpha"],
        make_batch(cfg, 0, rank=1, world=NPROC)["alpha"],
    )


def test_torchrun_two_processes_train_and_resume_exactly(tmp_path: Path) -> None:
    """3 steps at once vs 2 steps, stop, resume to 3 (both with 2 processes): identical
    weights. model.pt is in the single-process format; a single process refuses to resume a
    2-process run."""
    from baselines import create_model

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    stdout = _torchrun(straight, iters=3)
    assert stdout.count("sdnet: 3 steps") == 1, stdout  # process 0 alone reports
    assert _log_steps(straight) == [0, 2, 3]
    m = create_model("sdnet", stem_stride=2, checkpoint=straight / "model.pt")
    assert sum(p.numel() for p in m.parameters()) > 1_000_000
    saved = torch.load(straight / "model.pt", weights_only=False)
    assert saved["meta"]["world_size"] == NPROC and saved["meta"]["steps"] == 3

    _torchrun(resumed, iters=2)
    assert _log_steps(resumed) == [0, 2]
    (resumed / "train_config.json").unlink()  # the config differs in --iters only
    _torchrun(resumed, iters=3)
    assert _log_steps(resumed) == [0, 2, 3]
    sa = torch.load(straight / "last.pt", weights_only=False)
    sb = torch.load(resumed / "last.pt", weights_only=False)
    assert sa["step"] == sb["step"] == 3 and len(sa["torch_rng_ranks"]) == NPROC
    assert sa["model"].keys() == m.state_dict().keys()  # no DDP "module." prefix
    for k in sa["model"]:
        assert torch.equal(sa["model"][k], sb["model"][k]), k
    assert sa["history"] == sb["history"]

    with pytest.raises(InputError, match="2-process run"):
        train(TrainConfig(**SMALL, iters=3), resumed, progress=False)
