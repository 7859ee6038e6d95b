"""Reduced-width networks (``create_model(..., width_mult=...)``), spec composition and the
pruning pipeline's shared selection (``selection_dir``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from baselines import create_model  # noqa: E402
from baselines.models import save_checkpoint  # noqa: E402
from baselines.pruning import ChannelSpec  # noqa: E402
from baselines.pruning.surgery import count_params  # noqa: E402
from benchmark.prune_pipeline import PruneConfig, prune  # noqa: E402
from metrics import InputError  # noqa: E402


@pytest.mark.parametrize("name", ["gca", "dim", "indexnet", "sdnet", "pspnet50"])
def test_width_mult_narrows_and_round_trips(name: str, tmp_path: Path) -> None:
    kw = {"aux": False} if name == "pspnet50" else {}
    full = count_params(create_model(name, **kw))
    torch.manual_seed(0)
    narrow = create_model(name, width_mult=0.25, **kw)
    n = count_params(narrow)
    assert n < 0.2 * full  # roughly width^2 for most layers
    spec = narrow.mattebench_channel_spec
    assert all(round(0.25 * spec.teacher_widths[k]) <= w or w == 1 for k, w in spec.widths.items())
    path = tmp_path / "narrow.pt"
    save_checkpoint(narrow, path, name=name)  # stores the spec by itself
    again = create_model(name, checkpoint=path, **kw)
    assert count_params(again) == n
    for (ka, a), (kb, b) in zip(
        narrow.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(a, b)


def test_width_mult_checked() -> None:
    for bad in (0.0, 1.5, "half", True):
        with pytest.raises(InputError, match="width_mult"):
            create_model("sdnet", width_mult=bad)
    assert count_params(create_model("sdnet", width_mult=1.0)) == 2_036_078


def test_compose_restates_a_student_against_the_full_model() -> None:
    base = ChannelSpec("toy", {"a": 3, "b": 2}, {"a": [1, 4, 6], "b": [0, 3]}, {"a": 8, "b": 4})
    top = ChannelSpec("toy", {"a": 1}, {"a": [2]}, {"a": 3}, {"criterion": "ns"})
    c = top.compose(base)
    assert c.widths == {"a": 1, "b": 2} and c.kept == {"a": [6], "b": [0, 3]}
    assert c.teacher_widths == {"a": 8, "b": 4} and c.meta["criterion"] == "ns"
    with pytest.raises(InputError, match="had 5 channels"):
        ChannelSpec("toy", {"a": 1}, {"a": [0]}, {"a": 5}).compose(base)
    with pytest.raises(InputError, match="cannot compose"):
        ChannelSpec("other", {"a": 1}, {"a": [0]}, {"a": 3}).compose(base)


SMALL = dict(ratio=0.5, sparsity_iters=2, finetune_iters=2, size=32, crop=32, batch=2)


def test_student_of_a_narrow_teacher_rebuilds_from_the_registry(tmp_path: Path) -> None:
    torch.manual_seed(0)
    teacher = create_model("gca", width_mult=0.25)
    tpath = tmp_path / "teacher.pt"
    save_checkpoint(teacher, tpath, name="gca")
    cfg = PruneConfig(model="gca", method="ns", kd="nst", teacher=str(tpath), **SMALL)
    res = prune(cfg, tmp_path / "a", progress=False)
    student = create_model("gca", checkpoint=tmp_path / "a" / "model.pt")
    assert count_params(student) == res["params_student"] < count_params(teacher)
    # the histogram's spec is relative to the narrow teacher, the checkpoint's to the full net
    local = ChannelSpec.load(tmp_path / "a" / "spec.json")
    stored = student.mattebench_channel_spec
    assert local.widths == stored.widths
    assert local.teacher_widths == teacher.mattebench_channel_spec.widths
    assert stored.teacher_widths == teacher.mattebench_channel_spec.teacher_widths

    # a second run differing only in the distillation reuses the selection
    cfg_b = PruneConfig(
        model="gca", method="ns", kd="ofd", teacher=str(tpath), selection_dir=str(tmp_path / "a"),
        **SMALL,
    )  # fmt: skip
    prune(cfg_b, tmp_path / "b", progress=False)
    assert not (tmp_path / "b" / "sparse.pt").exists()  # no sparsity training of its own
    assert ChannelSpec.load(tmp_path / "b" / "spec.json") == local
    # ... and gives the student a run of its own would give, bit for bit
    prune(replace(cfg_b, selection_dir=None), tmp_path / "d", progress=False)
    sd_b = torch.load(tmp_path / "b" / "model.pt", weights_only=False)["state_dict"]
    sd_d = torch.load(tmp_path / "d" / "model.pt", weights_only=False)["state_dict"]
    assert sd_b.keys() == sd_d.keys() and all(torch.equal(sd_b[k], sd_d[k]) for k in sd_b)
    cfg_c = PruneConfig(
        model="gca", method="ns", kd="ofd", teacher=str(tpath), selection_dir=str(tmp_path / "a"),
        **{**SMALL, "ratio": 0.3},
    )  # fmt: skip
    with pytest.raises(InputError, match=r"differs in \['ratio'\]"):
        prune(cfg_c, tmp_path / "c", progress=False)


def test_cap_sparsity_is_guided_not_ns(tmp_path: Path) -> None:
    """CAP's sparsity stage weights the L1 push of the guided BNs (the last BN of each
    distilled encoder block) by the context vector, so its sparse network differs from NS's
    (before the fix, the pipeline never passed the guide and CAP trained exactly as NS)."""
    torch.manual_seed(0)
    teacher = create_model("gca", width_mult=0.25)
    tpath = tmp_path / "teacher.pt"
    save_checkpoint(teacher, tpath, name="gca")
    nets = {}
    for method in ("ns", "cap"):
        cfg = PruneConfig(model="gca", method=method, teacher=str(tpath), sparsity_s=1e-2,
                          **{**SMALL, "sparsity_iters": 3})  # fmt: skip
        prune(cfg, tmp_path / method, progress=False)
        nets[method] = torch.load(tmp_path / method / "sparse.pt", weights_only=False)["model"]
    guided = "encoder.layer1.2.bn2.weight"  # last BN of the first tap, encoder.layer1
    assert not torch.equal(nets["ns"][guided], nets["cap"][guided])


def test_pspnet_with_aux_head_refuses_a_reduced_width() -> None:
    """The aux head is not in the traced inference graph, so its input would stay at the full
    width: refused with the way out, instead of a shape error in the first training step."""
    with pytest.raises(InputError, match="aux=False"):
        create_model("pspnet50", width_mult=0.125)
    assert create_model("pspnet50", width_mult=0.125, aux=False).aux is None
