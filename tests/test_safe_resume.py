"""Resume states load with ``torch.load(weights_only=True)``: a run folder from elsewhere cannot
run code (issue 11, item 8).

Each test plants a pickle whose ``__reduce__`` would create a marker file when unpickled (first
shown to be live: an unrestricted ``torch.load`` creates it), as the state file of a stage, and
checks that the run refuses it with an ``InputError`` naming the file, and that the marker is not
created. A state in the format every version has written (model, fused-Adam and ``MultiStepLR``
state dicts, the torch RNG state tensor, step, history) loads unchanged; byte-identical resuming
is checked in ``test_training.py`` / ``test_ddp.py``.
"""

from __future__ import annotations

import pathlib
from pathlib import Path

import pytest
import torch

from baselines.models.checkpoint import save_torch
from benchmark.prune_pipeline import PruneConfig, prune
from benchmark.training import TrainConfig, load_state, train
from metrics import InputError


class _Payload:
    """Unpickling this calls ``Path(marker).touch()``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _plant(path: Path, marker: Path) -> None:
    """A state file that looks like ours but runs code when loaded unrestricted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {}, "step": 1, "extra": _Payload(marker)}, path)
    torch.load(path, weights_only=False)  # the payload is live: it touches the marker
    assert marker.exists()
    marker.unlink()


def test_training_refuses_a_planted_state(tmp_path: Path) -> None:
    marker = tmp_path / "ran-code"
    _plant(tmp_path / "run" / "last.pt", marker)
    cfg = TrainConfig(model="sdnet", model_kwargs={"stem_stride": 2}, size=32, crop=32, batch=2,
                      iters=2, threads=1)  # fmt: skip
    with pytest.raises(InputError, match=r"last\.pt: refused to load .* could run code"):
        train(cfg, tmp_path / "run", progress=False)
    assert not marker.exists()


@pytest.mark.parametrize(("method", "state"), [("ns", "sparse.pt"), ("uni", "student_last.pt")])
def test_pruning_refuses_a_planted_state(tmp_path: Path, method: str, state: str) -> None:
    """The pruning stage's ``sparse.pt`` (NS) and the training stage's ``student_last.pt``."""
    marker = tmp_path / "ran-code"
    _plant(tmp_path / "run" / state, marker)
    cfg = PruneConfig(model="sdnet", method=method, sparsity_iters=2, finetune_iters=2, size=32,
                      crop=32, batch=2, threads=1, model_kwargs={"stem_stride": 2})  # fmt: skip
    with pytest.raises(InputError, match=rf"{state.replace('.', '[.]')}: refused to load"):
        prune(cfg, tmp_path / "run", progress=False)
    assert not marker.exists()


def test_states_as_written_load_and_garbage_is_named(tmp_path: Path) -> None:
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
    written = {
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "step": 1,
        "history": [{"step": 0, "val_loss": 0.5}],
        "extra": None,
        "world_size": 2,
        "torch_rng_ranks": [torch.get_rng_state()] * 2,
    }
    save_torch(tmp_path / "last.pt", written)
    back = load_state(tmp_path / "last.pt")
    assert back["scheduler"] == written["scheduler"] and back["history"] == written["history"]
    assert torch.equal(back["torch_rng"], written["torch_rng"])
    opt.load_state_dict(back["optimizer"])  # what resuming does
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(InputError, match=r"bad\.pt: "):
        load_state(tmp_path / "bad.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(InputError, match=r"list\.pt: not a resume state"):
        load_state(tmp_path / "list.pt")
