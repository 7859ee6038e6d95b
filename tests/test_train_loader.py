"""The training loop's plumbing (:mod:`benchmark.training`): ``DataLoader`` workers give the
serial batches, the VOC-aug segmentation set, SGD and semseg's poly policy, the gradient
scaler in the resume state, the throughput line, and the identity of existing configurations.

The data trees are fabricated under ``tmp_path`` in the real layouts with the helpers of
``tests/test_train_data.py`` (Adobe + COCO) and ``tests/test_train_voc.py`` (VOC2012 + SBD-aug
labels). Models are small (SDNet with a stride-2 stem; PSPNet at ``width_mult=0.125``),
crops 32-33 px, batches of 2, so every test runs in under 3 s on 2 CPU cores.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import benchmark.training as tr  # noqa: E402
from baselines.models.adapters import segmentation_target  # noqa: E402
from baselines.models.checkpoint import save_torch  # noqa: E402
from benchmark.datasets.train_voc import SemsegAugment, VOCAugTrain  # noqa: E402
from benchmark.training import (  # noqa: E402
    TrainConfig,
    batches,
    config_identity,
    load_state,
    make_batch,
    optimizer_for,
    scheduler_for,
    train,
)
from metrics import InputError  # noqa: E402
from metrics.common import UnknownNameError  # noqa: E402
from tests.test_train_data import _adobe, _coco  # noqa: E402
from tests.test_train_voc import IDS, _write_pair  # noqa: E402

#: ``config_identity(TrainConfig())`` as it was before the optimiser, schedule and worker
#: fields were added: the bundled teachers' index and reproduce's stage keys depend on it
IDENTITY = {
    "model": "sdnet",
    "model_kwargs": {},
    "data": "portrait",
    "size": 160,
    "crop": 128,
    "batch": 4,
    "iters": 200,
    "lr": 0.001,
    "milestones": [],
    "gamma": 0.1,
    "sd_mode": "best",
    "lambda_sd": 1.0,
    "val_count": 8,
    "val_every": 50,
    "save_every": 50,
    "seed": 0,
    "device": "cpu",
    "threads": 2,
    "pool": 0,
    "data_seed": 0,
}

#: a small SDNet run: a stride-2 stem, 2.0M parameters, built in 0.05 s (``width_mult=0.125``
#: would have 147k but its pruning surgery takes 0.9 s per build)
TINY = dict(
    model="sdnet",
    model_kwargs={"stem_stride": 2},
    size=40,
    crop=32,
    batch=2,
    lr=3e-3,
    val_count=2,
    threads=2,
)


def _voc(root: Path) -> Path:
    """``root/VOCdevkit/VOC2012``: the 3 pairs of tests/test_train_voc.py (40x50) and a
    bare-id ``train_aug.txt``."""
    base = root / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClassAug", "ImageSets/Segmentation"):
        (base / d).mkdir(parents=True)
    for n in IDS:
        _write_pair(base, n)
    (base / "ImageSets/Segmentation/train_aug.txt").write_text("\n".join(IDS) + "\n")
    return root


def _voc_cfg(root: Path, **kw) -> TrainConfig:
    return TrainConfig(model="pspnet50", crop=33, batch=2, train_set="voc-aug",
                       train_root=str(root), **kw)  # fmt: skip


def test_identity_of_existing_configurations_is_unchanged() -> None:
    assert config_identity(TrainConfig()) == IDENTITY
    assert config_identity(TrainConfig(workers=3)) == IDENTITY  # changes no number
    new = dict(optimizer="sgd", momentum=0.5, weight_decay=1e-4, lr_policy="poly",
               poly_power=1.0)  # fmt: skip
    ident = config_identity(TrainConfig(**new, workers=2))
    assert {k: ident[k] for k in new} == new and "workers" not in ident


def test_bad_settings_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cases = [
        (dict(optimizer="rmsprop"), "optimizer must be one of adam, sgd, got 'rmsprop'"),
        (dict(lr_policy="cosine"), "lr_policy must be one of step, poly, got 'cosine'"),
        (dict(amp="fp8"), "amp must be one of off, bf16, fp16"),
        (dict(workers=-1), "workers must be an integer >= 0"),
        (dict(momentum=0.5), "momentum is SGD's"),
        (dict(poly_power=2.0), "poly_power is the poly policy's"),
        (dict(lr_policy="poly", milestones=(5,)), "milestones are the step policy's"),
        (dict(model="pspnet50", crop=32), "crop 32 does not fit pspnet50.*use 25 or 33"),
        (dict(model="gca", train_set="voc-aug", train_root=str(tmp_path)),
         "it trains segmentation models.*not the matting model 'gca'"),
        (dict(model="pspnet50", crop=33, train_set="voc-aug", train_root=str(tmp_path),
              bg_root=str(tmp_path)), "'voc-aug' composes nothing: it takes no bg_root"),
    ]  # fmt: skip
    for kw, msg in cases:
        with pytest.raises(InputError, match=msg):
            train(TrainConfig(**kw), out, progress=False)
    with pytest.raises(UnknownNameError, match="unknown training set 'voc'.*voc-aug"):
        train(TrainConfig(train_set="voc", train_root="x", bg_root="y"), out, progress=False)
    assert not out.exists()
    with pytest.raises(InputError, match="optimizer must be one of adam, sgd"):
        optimizer_for(TrainConfig(optimizer="lbfgs"), [torch.nn.Parameter(torch.ones(1))])


def test_sgd_and_poly_follow_semseg_and_resume_exactly(tmp_path: Path) -> None:
    """The rate of update ``s`` is ``lr * (1 - s / iters) ** 0.9`` (semseg's
    ``poly_learning_rate`` with its timing); the SGD + poly state saved after 3 updates and
    read back by ``load_state`` (weights_only) continues exactly as an uninterrupted run."""
    cfg = TrainConfig(optimizer="sgd", lr=0.01, weight_decay=1e-4, lr_policy="poly", iters=6)

    def run(steps: range, state: dict | None = None) -> tuple:
        w = torch.nn.Parameter(torch.linspace(-1, 1, 5))
        opt, sched = optimizer_for(cfg, [w]), None
        sched = scheduler_for(cfg, opt)
        if state is not None:
            w.data.copy_(state["w"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
        lrs = []
        for s in steps:
            lrs.append(opt.param_groups[0]["lr"])
            w.grad = torch.sin(w.detach() * (s + 1))
            opt.step()
            sched.step()
        return w, opt, sched, lrs

    w, opt, sched, lrs = run(range(6))
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9
    assert lrs == [0.01 * (1 - s / 6) ** 0.9 for s in range(6)]
    w3, opt3, sched3, first = run(range(3))
    save_torch(tmp_path / "s.pt", {"w": w3.detach(), "optimizer": opt3.state_dict(),
                                   "scheduler": sched3.state_dict()})  # fmt: skip
    w6, _, _, rest = run(range(3, 6), load_state(tmp_path / "s.pt"))
    assert first + rest == lrs and torch.equal(w6, w)
    adam = optimizer_for(TrainConfig(), [torch.nn.Parameter(torch.ones(1))])
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["weight_decay"] == 0.0
    assert isinstance(scheduler_for(TrainConfig(), adam), torch.optim.lr_scheduler.MultiStepLR)


def _same_batches(cfg: TrainConfig, start: int, **rank) -> None:
    serial = list(batches(cfg, start, **rank))
    loaded = list(batches(replace(cfg, workers=2), start, **rank))
    assert [s for s, _ in loaded] == [s for s, _ in serial] == list(range(start, cfg.iters))
    for (s, a), (_, b) in zip(serial, loaded, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), (s, k)
        assert torch.equal(a["image"], make_batch(cfg, s, **rank)["image"])


def test_workers_draw_the_serial_batches(tmp_path: Path) -> None:
    """Synthetic (one process and rank 1 of 2), Adobe composed on COCO, VOC-aug: the same
    batches with 2 workers as without, from the start and from a resumed step."""
    synthetic = TrainConfig(size=40, crop=32, batch=2, iters=4)
    _same_batches(synthetic, 0)
    _same_batches(synthetic, 2, rank=1, world=2)
    adobe = TrainConfig(model="gca", crop=32, batch=2, iters=3, train_set="adobe",
                        train_root=str(_adobe(tmp_path)), bg_root=str(_coco(tmp_path)),
                        per_fg=2)  # fmt: skip
    _same_batches(adobe, 1)
    voc = _voc_cfg(_voc(tmp_path), iters=4)
    _same_batches(voc, 0)
    _same_batches(voc, 3)


def test_a_data_error_in_a_worker_keeps_its_message(tmp_path: Path) -> None:
    """A JPEG damaged after the set was opened: the workers' error is the serial one (same
    type, same message naming the file, raised at the same step), noted as a worker's."""
    cfg = _voc_cfg(_voc(tmp_path), iters=3)
    make_batch(cfg, 0)  # opens the set: every listed file exists
    jpg = tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages" / f"{IDS[0]}.jpg"
    jpg.write_bytes(b"not a jpeg")

    def drain(c: TrainConfig) -> tuple[list[int], InputError]:
        seen = []
        with pytest.raises(InputError) as e:
            for s, _ in batches(c, 0):
                seen.append(s)
        return seen, e.value

    seen, serial = drain(cfg)
    seen_w, worker = drain(replace(cfg, workers=2))
    assert seen_w == seen and type(worker) is type(serial) and str(worker) == str(serial)
    assert f"{IDS[0]}.jpg" in str(worker)
    assert "DataLoader worker" in worker.__notes__[-1]


def test_voc_aug_batches_and_targets(tmp_path: Path) -> None:
    """``image`` in [0, 1] and ``label`` int64 from VOCAugTrain's stream (positions ``step x
    batch + i``); validation from a second stream with semseg's val transform; the loss
    target is the label itself."""
    root = _voc(tmp_path)
    cfg = _voc_cfg(root)
    b = make_batch(cfg, 1)
    assert set(b) == {"image", "label"}
    assert b["image"].shape == (2, 3, 33, 33) and b["image"].dtype == torch.float32
    assert b["label"].shape == (2, 33, 33) and b["label"].dtype == torch.int64
    assert 0 <= float(b["image"].min()) and float(b["image"].max()) <= 1
    assert set(torch.unique(b["label"]).tolist()) <= {1, 2, 255}
    ds = VOCAugTrain(root, crop=33, normalise=False, seed=0)
    for i in range(2):
        assert np.array_equal(b["image"][i].numpy(), ds.draw(2 + i)["image"])
        assert np.array_equal(b["label"][i].numpy(), ds.draw(2 + i)["label"])
    assert torch.equal(segmentation_target(b), b["label"])
    v = make_batch(cfg, 10**6, split="val", indices=[0, 1, 2])
    val = VOCAugTrain(root, augment=SemsegAugment(crop=33, train=False, normalise=False),
                      seed=2**32)  # fmt: skip
    for i in range(3):
        index, _ = val.locate(i)
        raw = val.load(index)[1]
        assert np.array_equal(v["label"][i].numpy(), raw[3:36, 8:41])  # the centre crop
    assert sorted(val.locate(i)[0] for i in range(3)) == [0, 1, 2]  # every image once


def test_pspnet_trains_on_voc_aug_with_workers(tmp_path: Path, capsys) -> None:
    """PSPNet (x0.125, no aux head) trains 3 SGD + poly steps on VOC-aug drawn by 2 workers;
    the data check, the configuration and the throughput line and record are written."""
    root, out = _voc(tmp_path), tmp_path / "run"
    cfg = _voc_cfg(root, model_kwargs={"aux": False, "width_mult": 0.125}, iters=3,
                   val_count=2, val_every=3, save_every=3, optimizer="sgd", lr=0.01,
                   lr_policy="poly", workers=2)  # fmt: skip
    r = train(cfg, out, progress=True)
    assert r["step"] == 3 and np.isfinite(r["val_loss"])
    data = json.loads((out / "train_data.json").read_text())
    assert data["dataset"]["dataset"] == "voc-aug" and data["validated"]["pairs"] == 3
    ident = json.loads((out / "train_config.json").read_text())
    assert ident["optimizer"] == "sgd" and ident["lr_policy"] == "poly" and "workers" not in ident
    pace = r["throughput"]
    assert pace["steps_measured"] == 2 and pace["images_per_s"] > 0 and pace["eta_s"] == 0
    err = capsys.readouterr().err
    assert "train pspnet50: " in err
    assert "images/s over the first 2 steps (batch 2 x 1 processes); ETA 0:00:00 for the " \
        "remaining 0 steps" in err  # fmt: skip
    meta = torch.load(out / "model.pt", weights_only=True)["meta"]
    assert meta["throughput"] == pace


class _Interrupt(Exception):
    pass


def _interrupted(cfg: TrainConfig, out: Path, monkeypatch, at_call: int) -> None:
    """Run ``cfg`` in ``out`` until the ``at_call``-th validation (1 = step 0's) raises."""
    real, calls = tr.validation_loss, []

    def validation(*args, **kwargs):
        calls.append(1)
        if len(calls) == at_call:
            raise _Interrupt
        return real(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(tr, "validation_loss", validation)
        with pytest.raises(_Interrupt):
            train(cfg, out, progress=False)


def test_scaler_and_sgd_poly_states_resume_exactly(tmp_path: Path, monkeypatch) -> None:
    """A gradient scaler's state (here a CPU ``GradScaler`` patched in, as torch has no CUDA
    here; its scale doubles after every step, so a lost state shows), SGD momentum and
    the poly schedule go into ``last.pt``, load with weights_only and resume exactly: an
    interrupted run ends with the weights and states of an uninterrupted one."""
    monkeypatch.setattr(
        tr, "_grad_scaler", lambda cfg: torch.amp.GradScaler("cpu", init_scale=1024.0,
                                                             growth_interval=1)
    )  # fmt: skip
    cfg = TrainConfig(**TINY, iters=2, val_every=2, save_every=1, optimizer="sgd",
                      lr_policy="poly")  # fmt: skip
    straight = train(cfg, tmp_path / "a", progress=False)
    _interrupted(cfg, tmp_path / "b", monkeypatch, at_call=2)  # at step 2's validation
    assert load_state(tmp_path / "b" / "last.pt")["step"] == 1
    resumed = train(cfg, tmp_path / "b", progress=False)
    assert resumed["step"] == 2 and resumed["throughput"]["steps_measured"] == 1
    a, b = load_state(tmp_path / "a" / "last.pt"), load_state(tmp_path / "b" / "last.pt")
    assert a["scaler"] == b["scaler"] and a["scaler"]["scale"] == 4096.0
    assert a["scheduler"] == b["scheduler"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for i, st in a["optimizer"]["state"].items():
        assert torch.equal(st["momentum_buffer"], b["optimizer"]["state"][i]["momentum_buffer"])
    assert straight["history"] == resumed["history"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_on_cuda_resumes_with_its_scaler(tmp_path: Path, monkeypatch) -> None:
    """fp16 on CUDA: the real ``GradScaler``'s state is saved and restored (equal scale and
    growth counter after an interruption), and the weights match an uninterrupted run.

    Weights are compared with a tolerance: CUDA kernels such as the upsampling backward
    accumulate with atomics, not bit-reproducible from run to run even with deterministic
    cuDNN; with SGD the drift stays proportional to that noise (a lost state would differ by
    whole updates, ~lr)."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    cfg = TrainConfig(**TINY, iters=3, val_every=1, save_every=2, device="cuda", amp="fp16",
                      optimizer="sgd", workers=2)  # fmt: skip
    train(cfg, tmp_path / "a", progress=False)
    _interrupted(cfg, tmp_path / "b", monkeypatch, at_call=4)
    train(cfg, tmp_path / "b", progress=False)
    a, b = load_state(tmp_path / "a" / "last.pt"), load_state(tmp_path / "b" / "last.pt")
    assert a["step"] == b["step"] == 3
    assert a["scaler"] == b["scaler"] and "scale" in a["scaler"]
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=1e-3, atol=1e-5)


def test_a_batch_of_one_under_a_pooled_batchnorm_is_an_input_error(tmp_path: Path) -> None:
    """IndexNet's ASPP image-pooling BN cannot train on one sample: the run stops with what to
    change instead of torch's ValueError traceback."""
    from benchmark.training import TrainConfig, train

    cfg = TrainConfig(model="indexnet", size=40, crop=32, batch=1, iters=1, val_count=2,
                      val_every=1, save_every=1, threads=1)  # fmt: skip
    with pytest.raises(InputError, match="batch of 2 or more"):
        train(cfg, tmp_path, progress=False)
