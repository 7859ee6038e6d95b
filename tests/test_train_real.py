"""``mattebench train --dataset adobe=ROOT --bg-root DIR``: a real training set in its official
layout (fabricated tiny here) feeds the training loop; bad data stops before training; the
configuration identity of synthetic runs is unchanged; mixed precision runs on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from benchmark.cli import main  # noqa: E402
from benchmark.training import TrainConfig, config_identity, make_batch  # noqa: E402
from tests.test_train_data import _adobe, _coco  # noqa: E402


def _argv(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    adobe, coco = _adobe(tmp_path), _coco(tmp_path)
    return ["train", "--model", "sdnet", "--dataset", f"adobe={adobe}", "--bg-root", str(coco),
            "--per-fg", "2", "--crop", "32", "--batch", "2", "--iters", "2", "--val-every", "2",
            "--save-every", "2", "--threads", "1", "--out", str(out), "--no-progress", *extra]  # fmt: skip


def test_train_on_a_real_layout(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(_argv(tmp_path, out)) == 0
    assert "sdnet: 2 steps" in capsys.readouterr().out
    data = json.loads((out / "train_data.json").read_text())
    assert data["dataset"]["family"] == "gca" and data["validated"]
    cfg = json.loads((out / "train_config.json").read_text())
    assert cfg["train_set"] == "adobe" and "amp" not in cfg  # amp at its default: not identity
    assert (out / "model.pt").is_file()


def test_batches_from_the_real_set_are_deterministic(tmp_path: Path) -> None:
    adobe, coco = _adobe(tmp_path), _coco(tmp_path)
    cfg = TrainConfig(model="gca", crop=32, batch=2, train_set="adobe", train_root=str(adobe),
                      bg_root=str(coco), per_fg=2)  # fmt: skip
    a, b = make_batch(cfg, 3), make_batch(cfg, 3)
    assert a["image"].shape == (2, 3, 32, 32)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert set(torch.unique(a["trimap"]).tolist()) <= {0.0, 128.0, 255.0}
    assert not torch.equal(make_batch(cfg, 4)["image"], a["image"])


def test_bad_training_data_stops_before_training(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    argv = _argv(tmp_path, out)
    fg = tmp_path / "Combined_Dataset" / "Training_set" / "Adobe-licensed images" / "fg" / "b.png"
    fg.unlink()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "mattebench: error:" in err and "b.png" in err
    assert not (out / "last.pt").exists()
    assert main(["train", "--model", "sdnet", "--out", str(out), "--bg-root", "x"]) == 2
    assert "--bg-root needs --dataset" in capsys.readouterr().err


def test_identity_of_synthetic_runs_is_unchanged() -> None:
    """New fields at their defaults stay out of the identity: the bundled teacher still
    matches and existing run folders resume (test_reproduce checks the bundle itself)."""
    ident = config_identity(TrainConfig())
    assert not {"train_set", "bg_root", "family", "amp", "per_fg"} & set(ident)
    assert config_identity(TrainConfig(amp="bf16"))["amp"] == "bf16"


def test_bf16_autocast_trains_on_cpu(tmp_path: Path, capsys) -> None:
    out = tmp_path / "amp"
    argv = ["train", "--model", "sdnet", "--size", "40", "--crop", "32", "--batch", "2",
            "--iters", "1", "--val-every", "1", "--save-every", "1", "--threads", "1",
            "--amp", "bf16", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 1 and log[-1]["total"] == log[-1]["total"]  # finite, not NaN
    assert json.loads((out / "train_config.json").read_text())["amp"] == "bf16"
