"""`mattebench prune`: every stage runs on each supported family; the student is smaller,
reloads from its checkpoint by its channel spec, and a rerun skips finished stages."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from baselines.models import create_model  # noqa: E402
from baselines.prune_pipeline import PruneConfig, prune  # noqa: E402
from metrics import InputError  # noqa: E402

TINY = dict(sparsity_iters=2, finetune_iters=2, size=64, crop=64, batch=2)


@pytest.mark.parametrize(
    ("model", "method", "kd", "kwargs"),
    [
        ("sdnet", "dcp", "spkd", {"stem_stride": 2}),
        ("sdnet", "ns", "ofd", {"stem_stride": 2}),
        ("sdnet", "cap", "nst", {"stem_stride": 2}),
        ("sdnet", "uni", "sp", {"stem_stride": 2}),
        ("dim", "dcp", "spkd", {}),
        ("indexnet", "uni", "nst", {}),
        ("gca", "uni", "spkd", {}),
    ],
)
def test_pipeline_produces_a_reloadable_smaller_student(
    model: str, method: str, kd: str, kwargs: dict, tmp_path: Path
) -> None:
    cfg = PruneConfig(model=model, method=method, kd=kd, model_kwargs=kwargs or None, **TINY)
    r = prune(cfg, tmp_path, progress=False)
    assert r["params_student"] < 0.6 * r["params_teacher"]
    again = create_model(model, checkpoint=tmp_path / "model.pt", **kwargs)
    assert sum(p.numel() for p in again.parameters()) == r["params_student"]
    assert (tmp_path / "spec.json").is_file() and (tmp_path / "result.json").is_file()


def test_rerun_skips_finished_stages_and_config_is_guarded(tmp_path: Path, monkeypatch) -> None:
    cfg = PruneConfig(
        model="sdnet", method="dcp", kd="none", model_kwargs={"stem_stride": 2}, **TINY
    )
    first = prune(cfg, tmp_path, progress=False)
    import baselines.pruning.criteria as crit

    def boom(*a, **k):  # selection must not run again: spec.json is cached
        raise AssertionError("selection ran twice")

    monkeypatch.setattr(crit.Criterion, "select", boom)
    assert prune(cfg, tmp_path, progress=False)["params_student"] == first["params_student"]
    with pytest.raises(InputError, match="different configuration"):
        prune(PruneConfig(**{**cfg.__dict__, "ratio": 0.3}), tmp_path, progress=False)


def test_cli_and_unsupported_model(tmp_path: Path, capsys) -> None:
    from benchmark.cli import main

    argv = ["prune", "--model", "sdnet", "--method", "UNI", "--ratio", "0.5", "--kd", "SPKD",
            "--out", str(tmp_path), "--sparsity-iters", "0", "--finetune-iters", "1",
            "--crop", "64", "--size", "64", "--model-arg", "stem_stride=2", "--no-progress",
            "--measure-size", "64"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "sdnet UNI + SPKD: 2,036,078 ->" in out and "x" in out.splitlines()[-1]
    assert (tmp_path / "channels.png").is_file() and (tmp_path / "channels.pdf").is_file()
    table = (tmp_path / "pruned_table.md").read_text()
    assert "| sdnet UNI+SPKD |" in table and table.rstrip().endswith("x |")
    with pytest.raises(InputError, match="no distillation taps"):
        prune(PruneConfig(model="sdnet-x"), tmp_path / "p", progress=False)


def test_pspnet_segmentation_track(tmp_path: Path) -> None:
    """PSPNet-50 (no aux head) through the pipeline with OFD, on 65 px crops (8k + 1)."""
    cfg = PruneConfig(model="pspnet50", method="ns", kd="ofd", sparsity_iters=1, finetune_iters=1,
                      size=80, crop=65, batch=2)  # fmt: skip
    r = prune(cfg, tmp_path, progress=False)
    assert r["params_student"] < 0.6 * r["params_teacher"]
    again = create_model("pspnet50", aux=False, checkpoint=tmp_path / "model.pt")
    assert sum(p.numel() for p in again.parameters()) == r["params_student"]
