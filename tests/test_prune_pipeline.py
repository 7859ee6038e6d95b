"""`mattebench prune`: every stage runs on each supported family; the student is smaller,
reloads from its checkpoint by its channel spec, and a rerun skips finished stages."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from baselines import create_model  # noqa: E402
from benchmark.prune_pipeline import PruneConfig, prune  # noqa: E402
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


# --- distillation-based pruning (DCP) as the authors' code: the distillation shapes the selection

DCP_TINY = dict(
    model="gca", method="dcp", ratio=0.5, sparsity_iters=6, finetune_iters=0, size=32, crop=32,
    batch=2, pool=16, model_kwargs={"width_mult": 0.125, "zero_init_residual": False},
)  # fmt: skip


def _selection(tmp_path: Path, name: str, **kw) -> tuple[int, dict]:
    from baselines.pruning import ChannelSpec

    r = prune(PruneConfig(**{**DCP_TINY, **kw}), tmp_path / name, progress=False)
    return r["params_student"], ChannelSpec.load(r["spec"]).kept


def test_dcp_selection_is_shaped_by_distillation(tmp_path: Path) -> None:
    """Same seed, same data: the DCP pruning stage with SPKD (lambda_4 = 1) keeps other channels
    than without distillation; Table 2's three (lambda_4, w_3) settings give three selections
    and three parameter counts."""
    plain = _selection(tmp_path, "none", kd="none", teacher_alpha_weight=0.0)
    table2 = {
        lam: _selection(tmp_path, f"l{lam}", kd="spkd", prune_kd_weight=lam, kd_weight=lam)
        for lam in (0.5, 1.0, 2.0)
    }
    assert plain[1] != table2[1.0][1]
    kept = [v[1] for v in table2.values()]
    assert kept[0] != kept[1] and kept[1] != kept[2] and kept[0] != kept[2]
    assert len({v[0] for v in table2.values()}) == 3, {k: v[0] for k, v in table2.items()}


def test_selection_identity_includes_distillation_only_where_it_acts() -> None:
    from benchmark.prune_pipeline import selection_fields

    dcp = PruneConfig(method="dcp")
    assert {"kd", "prune_kd_weight", "teacher_alpha_weight"} <= set(selection_fields(dcp))
    for method in ("ns", "cap", "uni"):  # these do not distil while pruning: rows share one
        fields = set(selection_fields(PruneConfig(method=method)))
        assert not fields & {"kd", "prune_kd_weight", "teacher_alpha_weight", "kd_weight"}
    # the training-stage weight w_3 never changes a selection
    assert "kd_weight" not in selection_fields(dcp)


def test_dcp_pruning_stage_starts_from_scratch_and_records_its_identity(tmp_path: Path) -> None:
    """gamma starts at 0.5 and beta stays frozen at 0 through the pruning stage (DCP
    ``train_prune.py``); the spec's meta names the distillation that shaped it."""
    import json

    cfg = PruneConfig(**{**DCP_TINY, "sparsity_iters": 3}, kd="spkd", prune_kd_weight=2.0)
    r = prune(cfg, tmp_path, progress=False)
    sparse = torch.load(tmp_path / "sparse.pt", weights_only=False)["model"]
    betas = [
        v for k, v in sparse.items() if k.endswith(".bias") and f"{k[:-5]}.running_mean" in sparse
    ]
    gammas = [
        v for k, v in sparse.items() if k.endswith(".weight") and f"{k[:-7]}.running_mean" in sparse
    ]
    assert betas and all(float(b.abs().max()) == 0.0 for b in betas)
    mean_gamma = float(torch.cat([g.flatten() for g in gammas]).mean())
    assert abs(mean_gamma - 0.5) < 0.05  # 3 Adam steps of lr 1e-3 from 0.5
    meta = json.loads((tmp_path / "spec.json").read_text())["meta"]
    assert meta["kd"] == "spkd" and meta["prune_kd_weight"] == 2.0
    assert meta["sparsity_init"] == "scratch" and r["lambda4"] == 2.0


def test_reinit_training_stage_on_gca(tmp_path: Path) -> None:
    """The re-initialised thin network (DCP ``train_pruned.py``) works on GCA's spectral-norm
    layers and trains beta again."""
    cfg = PruneConfig(**{**DCP_TINY, "finetune_iters": 2}, kd="ofd", init="reinit")
    r = prune(cfg, tmp_path, progress=False)
    net = create_model("gca", checkpoint=tmp_path / "model.pt", width_mult=0.125,
                       zero_init_residual=False)  # fmt: skip
    assert sum(p.numel() for p in net.parameters()) == r["params_student"]
    from baselines.models.adapters import get_adapter
    from benchmark.training import TrainConfig, make_batch

    ad = get_adapter("gca")
    batch = make_batch(TrainConfig(model="gca", size=32, crop=32, batch=1), 0)
    with torch.no_grad():
        alpha = ad.alpha(net.eval()(*ad.inputs(batch)))
    assert torch.isfinite(alpha).all() and alpha.shape[-2:] == (32, 32)
