"""`mattebench reproduce`: every spec runs end to end in smoke mode; caching, resume,
determinism, the paper profile on a fabricated dataset, the index page, errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

from benchmark.cli import main  # noqa: E402
from benchmark.reproduce import reproduce, settings_for, spec_lines  # noqa: E402
from benchmark.specs import list_specs, load_spec  # noqa: E402
from metrics import InputError  # noqa: E402


@pytest.fixture(scope="module")
def shared_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One output folder for the smoke runs of this module: specs share stages, as they do
    for users (the supplement's tables and Figure 1 share a teacher)."""
    return tmp_path_factory.mktemp("reproduce")


def _quiet(msg: str) -> None:
    pass


def _run(name: str, out: Path, **kw):
    return reproduce(name, out=out, smoke=True, progress=False, log=_quiet, **kw)


# ------------------------------------------------------------------------------ every spec


@pytest.mark.parametrize("name", list_specs())
def test_every_spec_runs_in_smoke_mode(name: str, shared_out: Path) -> None:
    spec = load_spec(name)
    res = _run(name, shared_out)
    dest = shared_out / name
    summary = json.loads((dest / "result.json").read_text())
    assert summary["spec"] == name and summary["smoke"] is True
    assert [r["label"] for r in summary["rows"]] == [r.label for r in spec.rows]
    runnable = [r for r in spec.rows if r.runnable]
    if spec.kind == "table":
        for ext in ("md", "tex", "csv"):
            assert (dest / f"table.{ext}").is_file()
        md = (dest / "table.md").read_text()
        for row in spec.rows:
            assert row.label.replace("|", "/") in md
            for col, text in row.published.items():
                assert text in md, (row.label, col)
        with (dest / "table.csv").open() as fh:
            table = list(csv.DictReader(fh))
        assert len(table) == len(spec.rows)
        cols = [*spec.columns, *spec.metrics]
        for row, line in zip(spec.rows, table, strict=True):
            for c in cols:
                ours = line[f"{c}_ours"]
                if row.runnable:  # ours is a finite number for every runnable row
                    assert ours != "" and np.isfinite(float(ours)), (row.label, c)
                else:
                    assert ours == ""
                assert line[f"{c}_paper"] == row.published.get(c, "")
    else:
        pngs = [f for f in res.files if f.suffix == ".png"]
        pdfs = [f for f in res.files if f.suffix == ".pdf"]
        assert len(pngs) == len(pdfs) == sum(1 for r in runnable if r.prune) >= 1
        for f in pngs:
            img = cv2.imread(str(f))
            assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
        widths = [f for f in res.files if f.suffix == ".csv"]
        lines = widths[0].read_text().splitlines()
        assert lines[0] == "layer,teacher,pruned"
        pairs = [tuple(int(x) for x in ln.split(",")[1:]) for ln in lines[1:]]
        assert all(1 <= p <= t for t, p in pairs) and any(p < t for t, p in pairs)
    index = (shared_out / "index.html").read_text()
    assert f"id='{name}'" in index


def test_list_names_every_spec_and_the_headline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for name in list_specs():
        assert name in out
    heads = [ln.split()[0] for ln in spec_lines() if ln.endswith(" *")]
    assert heads == ["dcp-supp-fig1", "dcp-supp-table1"]


# ------------------------------------------------------------------------------ caching


def test_rerun_is_cached_and_identical(shared_out: Path) -> None:
    name = "dcp-supp-table2"
    first = _run(name, shared_out)
    table = (shared_out / name / "table.csv").read_bytes()
    again = _run(name, shared_out)
    assert again.stages_run == 0 and again.stages_cached >= first.stages_run
    assert (shared_out / name / "table.csv").read_bytes() == table


def test_selection_shared_across_specs(shared_out: Path) -> None:
    """Figure 1's DCP student and Table 1's 'SPKD / Ours' row prune one teacher with one
    selection: the channel counts in the figure are those of the table's student."""
    _run("dcp-supp-fig1", shared_out)
    _run("dcp-supp-table1", shared_out)
    summary = json.loads((shared_out / "dcp-supp-table1" / "result.json").read_text())
    ours = next(r for r in summary["rows"] if r["label"] == "SPKD / Ours")
    table_spec = Path(ours["checkpoint"]).parent / "spec.json"
    fig_widths = (shared_out / "dcp-supp-fig1" / "channels-ours.csv").read_text().splitlines()
    spec = json.loads(table_spec.read_text())
    assert [f"{k},{spec['teacher_widths'][k]},{v}" for k, v in spec["widths"].items()] == (
        fig_widths[1:]
    )


def test_fresh_folder_gives_the_same_numbers(shared_out: Path, tmp_path: Path) -> None:
    """Determinism: the same command in an empty folder gives the same table, bit for bit."""
    name = "sdnet-table6"
    _run(name, shared_out)
    _run(name, tmp_path)
    assert (tmp_path / name / "table.csv").read_bytes() == (
        shared_out / name / "table.csv"
    ).read_bytes()


def test_interrupted_stage_resumes(tmp_path: Path) -> None:
    """A killed evaluation (some per-image files written, no stage.json) and a killed
    training (no model.pt) resume on the next run and give the uninterrupted numbers."""
    name = "sdnet-table5"
    _run(name, tmp_path / "a")
    ref = (tmp_path / "a" / name / "table.csv").read_bytes()
    b = tmp_path / "b"
    shutil.copytree(tmp_path / "a", b)
    evals = sorted((b / "stages" / "eval").iterdir())
    trains = sorted((b / "stages" / "train").iterdir())
    (evals[0] / "stage.json").unlink()
    metric_files = sorted(evals[0].rglob("metrics/*.json"))
    assert metric_files
    metric_files[0].unlink()  # one image was in flight
    (trains[-1] / "stage.json").unlink()
    (trains[-1] / "model.pt").unlink()
    (b / name / "table.csv").unlink()
    res = _run(name, b)
    assert res.stages_run >= 2
    assert (b / name / "table.csv").read_bytes() == ref


# ------------------------------------------------------------------------------ settings


def test_profile_settings() -> None:
    spec = load_spec("dcp-supp-table1")
    quick = settings_for(spec, "quick")
    assert (quick.dataset, quick.device, quick.width_mult) == ("synthetic-portrait", "cpu", 0.25)
    assert quick.teacher_iters > 0 and quick.train_iters > 0
    smoke = settings_for(spec, "quick", smoke=True)
    assert smoke.train_iters <= 2 and smoke.size == 48 and smoke.smoke
    over = settings_for(spec, "quick", overrides={"train_iters": 7, "seed": 3})
    assert (over.train_iters, over.seed) == (7, 3)
    with pytest.raises(InputError, match="--set colour: unknown setting"):
        settings_for(spec, "quick", overrides={"colour": 1})
    with pytest.raises(InputError, match="train_iters='many' must be a non-negative integer"):
        settings_for(spec, "quick", overrides={"train_iters": "many"})
    with pytest.raises(InputError, match=r"width_mult=2 must be in \(0, 1\]"):
        settings_for(spec, "quick", overrides={"width_mult": 2})
    with pytest.raises(InputError, match="unknown profile"):
        settings_for(spec, "fast")
    paper = settings_for(load_spec("sdnet-table1"), "paper")
    assert paper.dataset == "comp1k" and paper.recorded  # the paper's schedule, recorded
    with pytest.raises(InputError, match="quick profile runs on synthetic data"):
        settings_for(spec, "quick", overrides={"dataset": "comp1k"})


def test_errors_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="no such spec"):
        reproduce("dcp-supp-table9", out=tmp_path, progress=False, log=_quiet)
    with pytest.raises(InputError, match="missing.pt: no such file"):
        missing = {"gca": str(tmp_path / "missing.pt")}
        reproduce("dcp-supp-table1", out=tmp_path, checkpoints=missing, smoke=True, progress=False,
                  log=_quiet)  # fmt: skip
    ck = tmp_path / "x.pt"
    ck.write_bytes(b"")
    assert main(["reproduce", "dcp-supp-table1", "--checkpoint", f"resnet={ck}",
                 "--out", str(tmp_path)]) == 2  # fmt: skip
    assert "no row or model of that name" in capsys.readouterr().err
    with pytest.raises(InputError, match="give its folder with --data-root"):
        reproduce("sdnet-table1", profile="paper", out=tmp_path, progress=False, log=_quiet,
                  checkpoints={"gca": str(ck)})  # fmt: skip


# ------------------------------------------------------------------------------ paper profile


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    path.write_bytes(buf.tobytes())


def _fake_comp1k(root: Path) -> Path:
    """The official Composition-1k test layout, two 64x64 images of one foreground."""
    from benchmark.datasets.synthetic import generate_sample

    test = root / "Combined_Dataset" / "Test_set"
    src = test / "Adobe-licensed images"
    s = generate_sample("portrait", 0, size=64, seed=5, split="test")
    _write(src / "alpha" / "woman (1).png", s.alpha)
    _write(src / "fg" / "woman (1).png", s.fg[..., ::-1])
    for k in range(2):
        _write(src / "trimaps" / f"woman (1)_{k}.png", s.trimap)
        _write(test / "merged" / f"woman (1)_{k}.png", s.image[..., ::-1])
    return root


def test_paper_profile_evaluates_the_checkpoints_given(shared_out: Path, tmp_path: Path) -> None:
    """Paper profile on a real-layout dataset: the row given a checkpoint (a pruned student
    in our format) is evaluated, the others are left empty and the caption says so."""
    _run("dcp-supp-table1", shared_out)
    smoke = json.loads((shared_out / "dcp-supp-table1" / "result.json").read_text())
    student = next(r for r in smoke["rows"] if r["label"] == "SPKD / Ours")["checkpoint"]
    root = _fake_comp1k(tmp_path / "data")
    out = tmp_path / "paper"
    res = reproduce("dcp-supp-table1", profile="paper", data_root=str(root), out=out,
                    checkpoints={"SPKD / Ours": student}, progress=False, log=_quiet)  # fmt: skip
    ours = {r["label"]: r["ours"] for r in res.rows}
    assert set(ours["SPKD / Ours"]) == {"mse", "sad", "grad", "conn"}
    assert all(np.isfinite(v) for v in ours["SPKD / Ours"].values())
    assert all(not v for k, v in ours.items() if k != "SPKD / Ours")
    md = (out / "dcp-supp-table1" / "table.md").read_text()
    assert "Not run (no checkpoint given): Teacher (GCA, unpruned), - / UNI" in md
    run_cfg = next((out / "stages" / "eval").glob("*/config.json"))
    assert json.loads(run_cfg.read_text())["datasets"][0]["name"] == "comp1k"
    # the figure spec draws the channel spec the student's checkpoint carries
    fig = reproduce("dcp-supp-fig1", profile="paper", data_root=str(root), out=out,
                    checkpoints={"Ours": student}, progress=False, log=_quiet)  # fmt: skip
    assert any(f.suffix == ".png" for f in fig.files)
    index = (out / "index.html").read_text()
    assert "id='dcp-supp-table1'" in index and "id='dcp-supp-fig1'" in index
    assert "figure-ours.png" in index


# ------------------------------------------------------------------ seeds, claims, teachers


def test_seeds_give_mean_std_every_seed_and_verdicts(tmp_path: Path) -> None:
    """``seeds = 2``: cells read ``mean ± std``, the CSV keeps every seed's value, and every
    claim gets a verdict per metric; the same command with 2 worker processes gives the same
    table, byte for byte."""
    from benchmark.specs import spec_path

    # Table 2 cut to its (1, 1) and (2, 2) rows and their claim: 2 rows x 2 seeds per run
    text = Path(spec_path("dcp-supp-table2")).read_text()
    head, *rows = text.split("\n[[rows]]\n")
    last, *claims = rows[-1].split("\n[[claims]]\n")
    profiles = claims[-1][claims[-1].index("[profiles.quick]") :]
    small = tmp_path / "table2-small.toml"
    small.write_text("\n[[rows]]\n".join([head, rows[2], last]) + "\n[[claims]]\n"
                     + claims[0] + "\n" + profiles)  # fmt: skip
    name = "dcp-supp-table2"
    spec = load_spec(small)
    assert [r.label for r in spec.rows] == ["1 / 1", "2 / 2"] and len(spec.claims) == 1
    _run(str(small), tmp_path / "a", overrides={"seeds": 2}, jobs=2)
    _run(str(small), tmp_path / "b", overrides={"seeds": 2}, jobs=1)
    dest = tmp_path / "a" / name
    assert (dest / "table.csv").read_bytes() == (tmp_path / "b" / name / "table.csv").read_bytes()
    md = (dest / "table.md").read_text()
    assert " ± " in md and "over 2 training seeds" in md and "Claims of the paper" in md
    with (dest / "table.csv").open() as fh:
        table = {r["row"]: r for r in csv.DictReader(fh)}
    row = table["1 / 1"]
    seeds = [float(row["sad_seed0"]), float(row["sad_seed1"])]
    assert float(row["sad_ours"]) == pytest.approx(sum(seeds) / 2)
    assert float(row["sad_ours_std"]) == pytest.approx(abs(seeds[0] - seeds[1]) / 2**0.5)
    summary = json.loads((dest / "result.json").read_text())
    assert summary["seeds"] == [0, 1]
    assert [c["text"] for c in summary["claims"]] == [c.text for c in spec.claims]
    for claim in summary["claims"]:
        for col, m in claim["metrics"].items():
            assert col in spec.metrics
            assert m["verdict"] in ("supports", "contradicts", "cannot separate")
            assert m["lo"] <= m["diff"] <= m["hi"] and m["seeds"] == 2
    assert "lambda_4" in summary["balance_factors"]
    ours = [r for r in summary["rows"] if r["label"] == "2 / 2"][0]
    assert ours["balance"]["lambda_4 (prune_kd_weight)"] == 2.0
    assert ours["balance"]["w_3 (kd_weight)"] == 2.0


def test_claim_interval_and_verdicts() -> None:
    """The crossed bootstrap: a clear gap is separated, a zero-mean difference is not, and the
    sign decides between 'supports' and 'contradicts'."""
    from benchmark.reproduce import claim_interval

    rng = np.random.default_rng(1)
    clear = -0.1 + 0.01 * rng.standard_normal((3, 32))
    m, lo, hi = claim_interval(clear)
    assert hi < 0 and lo < m < hi
    noise = 0.05 * rng.standard_normal((3, 32))
    noise -= noise.mean()
    m, lo, hi = claim_interval(noise)
    assert lo < 0 < hi and abs(m) < 1e-12
    # seed spread: per-seed means +-0.05 around -0.01 are not separable with 3 seeds
    spread = np.array([[-0.06], [0.04], [-0.01]]) + 0.001 * rng.standard_normal((3, 32))
    assert claim_interval(spread)[2] > 0
    assert claim_interval(clear) == claim_interval(clear)  # fixed seed


def test_headline_teacher_is_the_bundled_checkpoint() -> None:
    """The quick profile's GCA teacher is the repository's bundled checkpoint (its sha256
    checked); a change to the headline's teacher settings must come with a new bundle."""
    from benchmark.reproduce import _Runner, bundled_teacher, bundled_teachers
    from benchmark.training import config_identity

    assert [t["model"] for t in bundled_teachers()] == ["gca"]
    for name in ("dcp-supp-table1", "dcp-supp-table2", "dcp-supp-fig1"):
        spec = load_spec(name)
        s = settings_for(spec)
        r = _Runner(spec, s, Path("unused"), checkpoints={}, progress=False,
                    executor="process", scheduler=None, log=_quiet)  # fmt: skip
        cfg = r._train_config("gca", s.teacher_iters, r._model_kwargs("gca"), "best", seed=s.seed,
                              milestones=(s.teacher_milestone,))  # fmt: skip
        found = bundled_teacher(config_identity(cfg))
        assert found is not None and Path(found["path"]).is_file(), name
