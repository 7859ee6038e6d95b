"""``mattebench reproduce SPEC --profile paper --train-root ...``: the paper profile trains
every stage (teacher, pruning stage, training stage) on a real training set and evaluates on
the real test set -- here fabricated, tiny, in the official layouts (Adobe training set + COCO
backgrounds + Composition-1k; VOC 2012 + SBD train_aug + VOC val), a few steps each on the CPU.
The same code paths run on CUDA with ``--set device=cuda`` (the CUDA test skips here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

import torch  # noqa: E402

from benchmark.cli import main  # noqa: E402
from benchmark.reproduce import reproduce, settings_for  # noqa: E402
from benchmark.specs import load_spec  # noqa: E402
from metrics import InputError  # noqa: E402
from tests.test_train_data import _adobe, _coco, _rgb  # noqa: E402

#: a tiny run: every stage a few steps at 32 px on networks at width x0.125
TINY = {
    "teacher_iters": 2, "prune_iters": 2, "train_iters": 2, "crop": 32, "teacher_crop": 32,
    "teacher_batch": 2, "batch_size": 2, "width_mult": 0.125, "threads": 1,
}  # fmt: skip


def _quiet(msg: str) -> None:
    pass


def _cut(name: str, labels: set[str], tmp: Path) -> str:
    """The bundled spec ``name`` cut to the rows ``labels`` (claims dropped; same id and
    profiles), as a file: the tests run every kind of stage at a fraction of the time."""
    from benchmark.specs import spec_path

    text = Path(spec_path(name)).read_text()
    head, *rows = text.split("\n[[rows]]\n")
    tail = rows[-1][rows[-1].index("\n[") :] if "\n[" in rows[-1] else ""
    rows[-1] = rows[-1][: len(rows[-1]) - len(tail)] if tail else rows[-1]
    keep = [r for r in rows if r.split("\n", 1)[0].split("=", 1)[1].strip().strip('"') in labels]
    assert len(keep) == len(labels), labels
    profiles = tail[tail.index("[profiles.") :]
    path = tmp / f"{name}-cut.toml"
    path.write_text("\n[[rows]]\n".join([head, *keep]) + "\n" + profiles)
    return str(path)


#: Table 1 cut to one row per kind of stage: the teacher, UNI (no pruning stage), CAP (a
#: pruning stage), a row sharing CAP's selection, DCP with distillation
TABLE1_ROWS = {"Teacher (GCA, unpruned)", "- / UNI", "- / CAP", "NST / CAP", "SPKD / Ours"}


def _comp1k(root: Path, h: int = 40, w: int = 48) -> Path:
    """Composition-1k, flattened layout: 2 foregrounds x 1 composite."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:h, 0:w]
    for i, fg in enumerate(("beach-747750_1280", "woman-952506_1920 (1)")):
        d = np.hypot(yy - h / 2, xx - w / 2 - 3 * i)
        alpha = np.clip((14.0 - d) * 40.0, 0, 255).astype(np.uint8)
        tri = np.where(alpha == 0, 0, np.where(alpha == 255, 255, 128)).astype(np.uint8)
        for sub, arr in (("alpha", alpha), ("fg", _rgb(40 + i, h, w))):
            (root / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(root / sub / f"{fg}.png")
        for sub, arr in (("merged", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)),
                         ("trimaps", tri)):  # fmt: skip
            (root / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(root / sub / f"{fg}_0.png")
    return root


def _voc(root: Path, h: int = 40, w: int = 50) -> Path:
    """VOCdevkit/VOC2012 with 3 train_aug pairs (SegmentationClassAug) and 2 val pairs
    (SegmentationClass, ImageSets/Segmentation/val.txt): person on background."""
    base = root / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClassAug", "SegmentationClass", "ImageSets/Segmentation"):
        (base / d).mkdir(parents=True, exist_ok=True)
    splits = {"train_aug": ["2007_000032", "2007_000039", "2008_000002"],
              "val": ["2007_000033", "2007_000042"]}  # fmt: skip
    for split, ids in splits.items():
        for k, n in enumerate(ids):
            img = _rgb(60 + k + 10 * (split == "val"), h, w)
            label = np.zeros((h, w), np.uint8)
            label[8:32, 10 + 5 * k : 30 + 5 * k] = 15  # a person
            label[:2] = 255
            Image.fromarray(img).save(base / "JPEGImages" / f"{n}.jpg", quality=95)
            folder = "SegmentationClassAug" if split == "train_aug" else "SegmentationClass"
            Image.fromarray(label, mode="L").save(base / folder / f"{n}.png")
        (base / "ImageSets/Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


@pytest.fixture(scope="module")
def matting_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    tmp = tmp_path_factory.mktemp("paper")
    adobe, coco, test = _adobe(tmp), _coco(tmp), _comp1k(tmp / "comp1k")
    out = tmp / "out"
    lines: list[str] = []
    res = reproduce(
        _cut("dcp-supp-table1", TABLE1_ROWS, tmp), profile="paper", data_root=str(test), out=out,
        overrides={**TINY, "per_fg": 2},
        train_root=str(adobe), bg_root=str(coco), progress=False, log=lines.append,
    )  # fmt: skip
    return out, tmp, (res, lines)


def test_matting_paper_profile_trains_prunes_and_evaluates(matting_run) -> None:
    out, _, (res, lines) = matting_run
    summary = json.loads((out / "dcp-supp-table1" / "result.json").read_text())
    assert summary["profile"] == "paper" and not summary["smoke"]
    # every row filled: the teacher trained here, each pruned row pruned, trained, evaluated
    for row in summary["rows"]:
        assert set(row["ours"]) == {"mse", "sad", "grad", "conn"}, row["label"]
        assert all(np.isfinite(v) for v in row["ours"].values()), row["label"]
    stages = {p.parent.name for p in (out / "stages").glob("*/*/stage.json")}
    kinds = {p.parent.parent.name for p in (out / "stages").glob("*/*/stage.json")}
    assert {"teacher", "prune", "eval"} <= kinds and len(stages) >= 1 + 4 + 5
    # the stages drew from the real training set, every file checked first
    teacher = next((out / "stages" / "teacher").iterdir())
    data = json.loads((teacher / "train_data.json").read_text())
    assert data["dataset"]["dataset"] == "adobe" and data["validated"]
    prune_dirs = list((out / "stages" / "prune").iterdir())
    assert all((d / "train_data.json").is_file() for d in prune_dirs)
    cfg = json.loads((prune_dirs[0] / "prune_config.json").read_text())
    assert cfg["train_set"] == "adobe" and cfg["per_fg"] == 2 and cfg["crop"] == 32
    # the plan: printed first, kept in result.json with its measurements
    assert lines[1].startswith("plan: 5 training stage(s)")
    assert any("teacher gca: 2 steps x batch 2" in ln for ln in lines)
    plan = summary["plan"]
    assert [p["stage"] for p in plan] == ["teacher"] + ["prune"] * 4
    assert plan[0]["steps"] == 2 and all(p["steps_train"] == 2 for p in plan[1:])
    # UNI has no pruning stage; NST / CAP shares CAP's selection (row order)
    assert [p["steps_prune"] for p in plan[1:]] == [0, 2, 0, 2]
    assert all("throughput" in p for p in plan if p["stage"] == "prune")
    cap = summary["caption"]
    assert "trained here on adobe" in cap and "teacher_iters" in cap, cap
    table = (out / "dcp-supp-table1" / "table.md").read_text()
    assert "SPKD / Ours" in table and "52.61" in table  # ours beside the published value


def test_paper_profile_rerun_is_cached(matting_run) -> None:
    out, tmp, (res, _) = matting_run
    again = reproduce(
        _cut("dcp-supp-table1", TABLE1_ROWS, tmp), profile="paper", data_root=str(tmp / "comp1k"), out=out,
        overrides={**TINY, "per_fg": 2},
        train_root=str(tmp / "Combined_Dataset"), bg_root=str(tmp / "coco"), progress=False,
        log=_quiet,
    )  # fmt: skip
    assert again.stages_run == 0 and again.rows == res.rows


def test_checkpoint_skips_the_rows_training(matting_run, tmp_path: Path) -> None:
    """``--checkpoint gca=...`` replaces the teacher's training; a row's own checkpoint
    skips its pruning and training (here: Figure 1 from the Table 1 run's networks)."""
    out, tmp, (res, _) = matting_run
    teacher = next(r for r in res.rows if r["label"].startswith("Teacher"))["checkpoint"]
    ours = next(r for r in res.rows if r["label"] == "SPKD / Ours")["checkpoint"]
    lines: list[str] = []
    r2 = reproduce(
        "dcp-supp-fig1", profile="paper", data_root=str(tmp / "comp1k"), out=tmp_path,
        overrides={**TINY, "per_fg": 2}, train_root=str(tmp / "Combined_Dataset"),
        bg_root=str(tmp / "coco"), progress=False, log=lines.append,
        checkpoints={"gca": teacher, "Ours": ours},
    )  # fmt: skip
    assert not (tmp_path / "stages" / "teacher").exists()
    assert not (tmp_path / "stages" / "prune").exists()
    summary = json.loads((tmp_path / "dcp-supp-fig1" / "result.json").read_text())
    assert summary["plan"] == [] and "plan: 0 training stage(s)" in lines
    assert next(r for r in r2.rows if r["label"] == "Ours")["checkpoint"] == ours


def test_segmentation_paper_profile(tmp_path: Path) -> None:
    voc = _voc(tmp_path)
    res = reproduce(
        _cut("dcp-segmentation", {"NS", "Ours-OFD"}, tmp_path), profile="paper",
        data_root=str(voc), out=tmp_path / "out", overrides={**TINY, "crop": 33,
        "teacher_crop": 33}, train_root=str(voc), progress=False, log=_quiet,
    )  # fmt: skip
    assert [r["label"] for r in res.rows] == ["NS", "Ours-OFD"]
    for row in res.rows:
        assert 0.0 <= row["ours"]["miou"] <= 100.0, row
    summary = json.loads((res.out_dir / "result.json").read_text())
    teacher = next((tmp_path / "out" / "stages" / "teacher").iterdir())
    cfg = json.loads((teacher / "train_config.json").read_text())
    # semseg's teacher recipe from the spec; VOC-aug's class maps
    assert cfg["optimizer"] == "sgd" and cfg["lr_policy"] == "poly" and cfg["crop"] == 33
    assert cfg["train_set"] == "voc-aug" and "bg_root" not in cfg
    assert json.loads((teacher / "train_data.json").read_text())["dataset"]["n"] == 3
    prune = json.loads(next((tmp_path / "out" / "stages" / "prune").glob("*/prune_config.json"))
                       .read_text())  # fmt: skip
    assert prune["weight_decay"] == 0.0001 and prune["train_set"] == "voc-aug"
    assert [p["stage"] for p in summary["plan"]] == ["teacher"] + ["prune"] * 2


def test_schedule_from_epochs(tmp_path: Path) -> None:
    """Without explicit step counts the spec's epochs set them: ceil(epochs x samples /
    batch); the SDNet milestones keep their place in the run."""
    from benchmark.reproduce import _Runner

    adobe, coco = _adobe(tmp_path), _coco(tmp_path)
    spec = load_spec("dcp-supp-table1")
    s = settings_for(spec, "paper", train_root=str(adobe), bg_root=str(coco),
                     overrides={"per_fg": 2})  # fmt: skip
    r = _Runner(spec, s, tmp_path, checkpoints={}, progress=False, executor="process",
                scheduler=None, log=_quiet)  # fmt: skip
    assert r.samples_per_epoch("gca") == 3 * 2  # 3 foregrounds x 2 backgrounds
    assert r.steps("teacher", "gca") == 200000  # GCA-Matting's step count, recorded as such
    assert r.steps("prune", "gca") == 15 * 6 and r.steps("finetune", "gca") == 30 * 6  # batch 1
    sd = load_spec("sdnet-table1")
    names = tmp_path / "names.txt"
    names.write_text("b.png\nc.png\n")
    s2 = settings_for(sd, "paper", train_root=str(adobe), bg_root=str(coco), names=str(names),
                      overrides={"per_fg": 2})  # fmt: skip
    r2 = _Runner(sd, s2, tmp_path, checkpoints={}, progress=False, executor="process",
                 scheduler=None, log=_quiet)  # fmt: skip
    n = r2.steps("train", "sdnet")
    assert n == -(-120 * 2 * 2 // 4)  # 120 epochs of 2 portraits x 2 backgrounds, batch 4
    assert r2.milestones(n) == (round(75 / 120 * n), round(100 / 120 * n))


def test_bad_training_data_stops_before_training(tmp_path: Path, capsys) -> None:
    adobe, coco, test = _adobe(tmp_path), _coco(tmp_path), _comp1k(tmp_path / "comp1k")
    base = ["reproduce", "dcp-supp-table1", "--profile", "paper", "--data-root", str(test),
            "--out", str(tmp_path / "out"), "--no-progress", "--jobs", "1",
            *[a for k, v in TINY.items() for a in ("--set", f"{k}={v}")], "--set", "per_fg=2"]  # fmt: skip
    # no backgrounds
    assert main([*base, "--train-root", str(adobe)]) == 2
    assert "give --bg-root" in capsys.readouterr().err
    # an SDNet table without the portrait names
    sd = ["reproduce", "sdnet-table1", "--profile", "paper", "--data-root", str(test),
          "--out", str(tmp_path / "out"), "--train-root", str(adobe), "--bg-root", str(coco)]  # fmt: skip
    assert main(sd) == 2
    assert "--names FILE" in capsys.readouterr().err
    # a corrupt background JPEG: named, and nothing was trained
    bad = next((coco / "train2014").iterdir())
    bad.write_bytes(bad.read_bytes()[:200])
    assert main([*base, "--train-root", str(adobe), "--bg-root", str(coco)]) == 2
    err = capsys.readouterr().err
    assert bad.name in err, err
    assert not list((tmp_path / "out" / "stages").glob("*/*/model.pt"))
    # --train-root outside the paper profile, and a folder that is not there
    with pytest.raises(InputError, match="--profile paper"):
        settings_for(load_spec("dcp-supp-table1"), "quick", train_root=str(adobe))
    with pytest.raises(InputError, match="not a folder"):
        settings_for(load_spec("dcp-supp-table1"), "paper", train_root=str(tmp_path / "nope"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_paper_profile_on_cuda_with_amp(tmp_path: Path) -> None:
    """The same run on the GPU under bf16 autocast with two loader workers."""
    voc = _voc(tmp_path)
    res = reproduce(
        "dcp-segmentation", profile="paper", data_root=str(voc), out=tmp_path / "out",
        overrides={**TINY, "crop": 33, "teacher_crop": 33,
                   "device": "cuda", "amp": "bf16", "loader_workers": 2},
        train_root=str(voc), progress=False, log=_quiet,
    )  # fmt: skip
    assert all(0.0 <= row["ours"]["miou"] <= 100.0 for row in res.rows)


def test_prune_command_on_a_real_set_with_workers(tmp_path: Path, capsys) -> None:
    """``mattebench prune --dataset adobe=ROOT --bg-root DIR``: both stages draw from the real
    set (checked first, recorded); loader workers change nothing in the student."""
    from benchmark.training import load_state

    adobe, coco = _adobe(tmp_path), _coco(tmp_path)
    argv = ["prune", "--model", "sdnet", "--method", "ns", "--kd", "nst", "--dataset",
            f"adobe={adobe}", "--bg-root", str(coco), "--per-fg", "2", "--crop", "32",
            "--batch", "2", "--sparsity-iters", "2", "--finetune-iters", "2",
            "--measure-size", "0", "--model-arg", "width_mult=0.125", "--threads", "1",
            "--no-progress", "--no-figures"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "w0")]) == 0
    assert main([*argv, "--workers", "2", "--out", str(tmp_path / "w2")]) == 0
    cfg = json.loads((tmp_path / "w0" / "prune_config.json").read_text())
    assert cfg["train_set"] == "adobe" and "workers" not in cfg
    assert json.loads((tmp_path / "w2" / "train_data.json").read_text())["validated"]
    assert not (tmp_path / "w0" / "channels.png").exists()  # --no-figures
    a = load_state(tmp_path / "w0" / "student_last.pt")["model"]
    b = load_state(tmp_path / "w2" / "student_last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a listed foreground missing: named before anything trains
    (adobe / "Training_set" / "Adobe-licensed images" / "fg" / "b.png").unlink()
    assert main([*argv, "--out", str(tmp_path / "w3")]) == 2
    assert "b.png" in capsys.readouterr().err
    assert not (tmp_path / "w3" / "sparse.pt").exists()
