"""The ``mattebench`` command line: one triplet, folders in the Composition-1k layout, conventions.

Every fixture is a real PNG written under ``tmp_path``; expected values come from
:func:`metrics.evaluate` on the very arrays that were written (PNG is lossless for 8-bit grey).
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import metrics
from benchmark import folders
from benchmark.cli import main

KEYS = ("sad", "mse", "grad", "conn")
SHAPE = (12, 16)
# Composition-1k style foreground names, one with a space and parentheses
FGS = ("boy-1518482_1920", "woman-952506_1920 (1)", "zebra")
N_K = 3


def write_png(path: Path, arr: np.ndarray) -> Path:
    """Encode ``arr`` as PNG and write it (works for any path: spaces, parentheses)."""
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def make_arrays(seed: int, shape: tuple[int, int] = SHAPE, band: int = 3):
    """``(pred, gt, trimap)`` uint8: random mattes, known bands of width ``band`` at both sides.

    ``pred`` is not forced in the known bands, so conventions that force it differ.
    """
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, shape, dtype=np.uint8)
    pred = rng.integers(0, 256, shape, dtype=np.uint8)
    tri = np.full(shape, 128, np.uint8)
    tri[:, :band] = 0
    tri[:, -band:] = 255
    gt[:, :band] = 0
    gt[:, -band:] = 255
    return pred, gt, tri


def expected_line(vals: dict[str, float]) -> str:
    return "  ".join(
        f"{k.upper()} {'nan' if math.isnan(v) else f'{v:.6g}'}" for k, v in vals.items()
    )


# --------------------------------------------------------------------------- one triplet


@pytest.fixture
def triplet(tmp_path: Path):
    arrays = make_arrays(1)
    d = tmp_path / "one triplet (copy)"
    d.mkdir()
    paths = [
        str(write_png(d / f"{n}.png", a))
        for n, a in zip(("pred", "gt", "trimap"), arrays, strict=True)
    ]
    return paths, arrays


def test_metrics_plain_output(triplet, capsys) -> None:
    paths, arrays = triplet
    assert main(["metrics", *paths]) == 0
    cap = capsys.readouterr()
    want = metrics.evaluate(*arrays)
    assert all(v > 0 for v in want.values())  # a case where every metric is non-trivial
    assert cap.out == expected_line(want) + "\n"
    tokens = cap.out.split()
    assert tokens[0::2] == ["SAD", "MSE", "GRAD", "CONN"]
    for tok, k in zip(tokens[1::2], KEYS, strict=True):
        assert float(tok) == pytest.approx(want[k], rel=1e-5)
    assert cap.err == ""


def test_metrics_json(triplet, capsys) -> None:
    paths, arrays = triplet
    assert main(["metrics", *paths, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"sad", "mse", "grad", "conn", "convention", "scale"}
    assert data["convention"] == "reference"
    assert data["scale"] == "paper"
    want = metrics.evaluate(*arrays)
    for k in KEYS:
        assert data[k] == want[k]  # exact: JSON floats round-trip


def test_metrics_scale_raw(triplet, capsys) -> None:
    paths, arrays = triplet
    assert main(["metrics", *paths, "--json", "--scale", "raw"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scale"] == "raw"
    raw = metrics.evaluate(*arrays, scale="raw")
    paper = metrics.evaluate(*arrays)
    for k in KEYS:
        assert data[k] == raw[k]
    # raw sums are 1000x the paper values for SAD, Grad and Conn; MSE is unscaled
    for k in ("sad", "grad", "conn"):
        assert data[k] == pytest.approx(1000 * paper[k], rel=1e-12)
    assert data["mse"] == pytest.approx(paper["mse"], rel=1e-12)


def test_metrics_convention_gca(triplet, capsys) -> None:
    paths, arrays = triplet
    assert main(["metrics", *paths, "--json", "--convention", "gca"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["convention"] == "gca"
    gca = metrics.evaluate(*arrays, convention="gca")
    ref = metrics.evaluate(*arrays)
    for k in KEYS:
        assert data[k] == gca[k]
    # the fixture is one where the convention matters
    assert any(gca[k] != ref[k] for k in KEYS)


def test_metrics_unknown_convention(triplet, capsys) -> None:
    paths, _ = triplet
    assert main(["metrics", *paths, "--convention", "gcaa"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.startswith("mattebench: error: unknown convention 'gcaa'")
    assert "did you mean gca" in cap.err


def test_folder_mode_unknown_convention_fails_before_reading(tmp_path, capsys) -> None:
    missing = str(tmp_path / "nowhere")
    argv = ["metrics", "--pred-dir", missing, "--gt-dir", missing, "--trimap-dir", missing]
    assert main([*argv, "--convention", "refrence"]) == 2
    err = capsys.readouterr().err
    assert "unknown convention 'refrence'" in err
    assert "did you mean reference" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["metrics", "a.png", "b.png"], "needs PRED GT TRIMAP"),
        (["metrics"], "needs PRED GT TRIMAP"),
        (["metrics", "a.png", "--pred-dir", "p", "--gt-dir", "g", "--trimap-dir", "t"], "not both"),
        (
            ["metrics", "--pred-dir", "p", "--gt-dir", "g"],
            "--pred-dir needs --gt-dir and --trimap-dir",
        ),
    ],
)
def test_metrics_bad_arguments(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mattebench: error: ")
    assert message in err


def test_metrics_missing_file(triplet, tmp_path, capsys) -> None:
    paths, _ = triplet
    missing = str(tmp_path / "no pred (1).png")
    assert main(["metrics", missing, paths[1], paths[2]]) == 2
    err = capsys.readouterr().err
    assert "no pred (1).png: no such file" in err


def test_metrics_size_mismatch_names_files(tmp_path, capsys) -> None:
    pred, gt, tri = make_arrays(2)
    p = write_png(tmp_path / "p.png", pred[:10])
    g = write_png(tmp_path / "g.png", gt)
    t = write_png(tmp_path / "t.png", tri)
    assert main(["metrics", str(p), str(g), str(t)]) == 2
    err = capsys.readouterr().err
    assert f"{p} / {g} / {t}: sizes differ: pred is 10x16, gt is 12x16" in err


def test_module_entry_subprocess(triplet, tmp_path) -> None:
    paths, arrays = triplet
    cmd = [sys.executable, "-m", "benchmark.cli", "metrics", *paths, "--json"]
    res = subprocess.run(
        cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    want = metrics.evaluate(*arrays)
    assert {k: data[k] for k in KEYS} == want
    # an error exits with status 2 and a message on stderr
    cmd = [sys.executable, "-m", "benchmark.cli", "metrics", *paths, "--convention", "mmedt"]
    res = subprocess.run(
        cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False
    )
    assert res.returncode == 2
    assert res.stdout == ""
    assert "mattebench: error: unknown convention 'mmedt'" in res.stderr
    assert "did you mean mmedit" in res.stderr


# --------------------------------------------------------------------------- folders


def make_comp1k(root: Path, *, per_fg_trimap: bool = False, fgs=FGS, n_k: int = N_K):
    """Predictions ``<fg>_<k>.png``, GT alphas ``<fg>.png``, trimaps ``<fg>_<k>.png`` (or
    ``<fg>.png`` with ``per_fg_trimap``). Returns the folders and ``{name: (pred, gt, tri)}``."""
    dirs = {n: root / n for n in ("pred", "gt", "trimap")}
    for d in dirs.values():
        d.mkdir()
    arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for i, fg in enumerate(fgs):
        _, gt, tri_fg = make_arrays(100 + i)
        write_png(dirs["gt"] / f"{fg}.png", gt)
        if per_fg_trimap:
            write_png(dirs["trimap"] / f"{fg}.png", tri_fg)
        for k in range(n_k):
            name = f"{fg}_{k}"
            pred, _, tri_k = make_arrays(10 * i + k, band=2 + k)
            if per_fg_trimap:
                tri = tri_fg
            else:
                tri = tri_k
                write_png(dirs["trimap"] / f"{name}.png", tri)
            write_png(dirs["pred"] / f"{name}.png", pred)
            arrays[name] = (pred, gt, tri)
    return dirs, arrays


def folder_argv(dirs: dict[str, Path], *extra: str) -> list[str]:
    return [
        "metrics",
        "--pred-dir",
        str(dirs["pred"]),
        "--gt-dir",
        str(dirs["gt"]),
        "--trimap-dir",
        str(dirs["trimap"]),
        "--no-progress",
        *extra,
    ]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def check_rows(rows: list[dict[str, str]], arrays) -> None:
    """One row per image (sorted by name) with ``metrics.evaluate``'s values, then the mean."""
    assert [r["name"] for r in rows] == [*sorted(arrays), "mean"]
    assert list(rows[0]) == ["name", *KEYS]
    want = {name: metrics.evaluate(*a) for name, a in arrays.items()}
    for r in rows[:-1]:
        for k in KEYS:
            assert float(r[k]) == want[r["name"]][k], (r["name"], k)
    for k in KEYS:
        mean = float(np.mean([w[k] for w in want.values()]))
        assert float(rows[-1][k]) == pytest.approx(mean, rel=1e-12, abs=0)


def test_folders_csv_workers_1_and_2(tmp_path, capsys, monkeypatch) -> None:
    pools: list[int | None] = []

    class SpyPool(folders.ProcessPoolExecutor):
        def __init__(self, max_workers=None, *args, **kwargs) -> None:
            pools.append(max_workers)
            super().__init__(max_workers, *args, **kwargs)

    monkeypatch.setattr(folders, "ProcessPoolExecutor", SpyPool)
    dirs, arrays = make_comp1k(tmp_path)
    assert len(arrays) == len(FGS) * N_K == 9
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"per_image_{workers}.csv"
        assert main(folder_argv(dirs, "--out", str(out), "--workers", str(workers))) == 0
        cap = capsys.readouterr()
        rows = read_csv(out)
        check_rows(rows, arrays)
        outs[workers] = (rows, cap.out)
        assert f"wrote {out} (9 images + mean)" in cap.err
        assert "note:" not in cap.err
        lines = cap.out.splitlines()
        assert (
            lines[0]
            == "9 images, convention reference, paper units (SAD/1000, MSE, Grad/1000, Conn/1000)"
        )
        mean = {k: float(rows[-1][k]) for k in KEYS}
        assert lines[1] == expected_line(mean)
        assert len(lines) == 2
    assert outs[1] == outs[2]
    assert pools == [2]  # --workers 1 scores in-process, --workers 2 uses a 2-process pool
    # the CSV bytes are identical too, and no temporary file is left beside it
    assert (tmp_path / "per_image_1.csv").read_bytes() == (
        tmp_path / "per_image_2.csv"
    ).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gt",
        "per_image_1.csv",
        "per_image_2.csv",
        "pred",
        "trimap",
    ]


def test_folders_json(tmp_path, capsys) -> None:
    dirs, arrays = make_comp1k(tmp_path)
    assert main(folder_argv(dirs, "--json", "--workers", "1")) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"convention", "scale", "images", "mean"}
    assert (data["convention"], data["scale"], data["images"]) == ("reference", "paper", 9)
    assert data["mean"]["name"] == "mean"
    for k in KEYS:
        mean = float(np.mean([metrics.evaluate(*a)[k] for a in arrays.values()]))
        assert data["mean"][k] == pytest.approx(mean, rel=1e-12, abs=0)


@pytest.mark.parametrize("workers", [1, 2])
def test_folders_rows_sorted_by_name(tmp_path, capsys, workers) -> None:
    # file-name order ("cat (1).png" < "cat-2.png" < "cat.png") differs from name order
    dirs = {n: tmp_path / n for n in ("pred", "gt", "trimap")}
    arrays = {}
    for d in dirs.values():
        d.mkdir()
    for i, name in enumerate(("cat", "cat-2", "cat (1)")):
        arrays[name] = make_arrays(50 + i)
        for d, a in zip(dirs.values(), arrays[name], strict=True):
            write_png(d / f"{name}.png", a)
    out = tmp_path / "per_image.csv"
    assert main(folder_argv(dirs, "--out", str(out), "--workers", str(workers))) == 0
    rows = read_csv(out)
    assert [r["name"] for r in rows] == ["cat", "cat (1)", "cat-2", "mean"]
    check_rows(rows, arrays)


def test_folders_per_foreground_trimap(tmp_path, capsys) -> None:
    dirs, arrays = make_comp1k(tmp_path, per_fg_trimap=True)
    assert sorted(p.stem for p in dirs["trimap"].iterdir()) == sorted(FGS)
    out = tmp_path / "per_image.csv"
    assert main(folder_argv(dirs, "--out", str(out), "--workers", "1")) == 0
    check_rows(read_csv(out), arrays)


def test_folders_scale_raw_and_convention(tmp_path, capsys) -> None:
    dirs, arrays = make_comp1k(tmp_path, fgs=FGS[:2], n_k=2)
    out = tmp_path / "raw.csv"
    argv = folder_argv(
        dirs, "--out", str(out), "--workers", "1", "--scale", "raw", "--convention", "gca"
    )
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("4 images, convention gca, raw sums\n")
    rows = read_csv(out)
    for r in rows[:-1]:
        want = metrics.evaluate(*arrays[r["name"]], convention="gca", scale="raw")
        assert {k: float(r[k]) for k in KEYS} == want


def test_folders_missing_prediction_names_trimap(tmp_path, capsys) -> None:
    dirs, _ = make_comp1k(tmp_path)
    (dirs["pred"] / "zebra_2.png").unlink()
    out = tmp_path / "per_image.csv"
    assert main(folder_argv(dirs, "--out", str(out), "--workers", "1")) == 2
    err = capsys.readouterr().err
    assert (
        f"1 trimap(s) in {dirs['trimap']} have no prediction in {dirs['pred']}: zebra_2.png" in err
    )
    assert not out.exists()


def test_folders_prediction_without_gt(tmp_path, capsys) -> None:
    dirs, _ = make_comp1k(tmp_path)
    pred, _, tri = make_arrays(7)
    write_png(dirs["pred"] / "dog (2)_0.png", pred)
    write_png(dirs["trimap"] / "dog (2)_0.png", tri)
    assert main(folder_argv(dirs, "--workers", "1")) == 2
    err = capsys.readouterr().err
    assert f"1 prediction(s) have no ground truth in {dirs['gt']}: dog (2)_0.png" in err


@pytest.mark.parametrize("workers", [1, 2])
def test_folders_size_mismatch(tmp_path, capsys, workers) -> None:
    dirs, arrays = make_comp1k(tmp_path)
    pred = arrays["woman-952506_1920 (1)_1"][0]
    write_png(dirs["pred"] / "woman-952506_1920 (1)_1.png", pred[:, :10])
    out = tmp_path / "per_image.csv"
    assert main(folder_argv(dirs, "--out", str(out), "--workers", str(workers))) == 2
    err = capsys.readouterr().err
    files = (
        dirs["pred"] / "woman-952506_1920 (1)_1.png",
        dirs["gt"] / "woman-952506_1920 (1).png",
        dirs["trimap"] / "woman-952506_1920 (1)_1.png",
    )  # each file once, with its folder: pred and trimap folders hold the same names
    assert f"{' / '.join(map(str, files))}: sizes differ: pred is 12x10, gt is 12x16" in err
    assert not out.exists()


def test_folders_nan_left_out_of_mean(tmp_path, capsys) -> None:
    dirs, arrays = make_comp1k(tmp_path)
    name = "boy-1518482_1920_1"
    pred, gt, tri = arrays[name]
    tri = np.where(tri == 128, 255, tri).astype(np.uint8)  # no unknown pixel
    write_png(dirs["trimap"] / f"{name}.png", tri)
    arrays[name] = (pred, gt, tri)
    assert math.isnan(metrics.evaluate(pred, gt, tri)["mse"])

    out = tmp_path / "per_image.csv"
    assert main(folder_argv(dirs, "--out", str(out), "--workers", "1")) == 0
    cap = capsys.readouterr()
    assert (
        "note: mse: 1 image(s) gave NaN (no unknown pixel) and are left out of the mean" in cap.err
    )
    assert cap.err.count("note:") == 1
    rows = read_csv(out)
    by_name = {r["name"]: r for r in rows}
    assert by_name[name]["mse"] == "nan"
    assert float(by_name[name]["sad"]) == 0.0
    want = {n: metrics.evaluate(*a) for n, a in arrays.items()}
    good_mse = [w["mse"] for n, w in want.items() if n != name]
    assert len(good_mse) == 8
    assert float(by_name["mean"]["mse"]) == pytest.approx(float(np.mean(good_mse)), rel=1e-12)
    # the other columns average over all 9 images (the NaN image's SAD 0 included)
    all_sad = [w["sad"] for w in want.values()]
    assert float(by_name["mean"]["sad"]) == pytest.approx(float(np.mean(all_sad)), rel=1e-12)
    assert "nan" not in cap.out.lower()


# --------------------------------------------------------------------------- conventions


def test_conventions_one_line_each(capsys) -> None:
    assert main(["conventions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(metrics.CONVENTIONS)
    assert [ln.split()[0] for ln in lines] == list(metrics.CONVENTIONS)
    assert lines[0].startswith("reference ")
    gca = metrics.CONVENTIONS["gca"]
    assert f"({len(gca.differences)} differences)" in lines[list(metrics.CONVENTIONS).index("gca")]


def test_conventions_verbose_prints_sources(capsys) -> None:
    assert main(["conventions", "-v"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert sum("source: " in ln for ln in lines) == len(metrics.CONVENTIONS)
    n_diff = sum(len(c.differences) for c in metrics.CONVENTIONS.values())
    n_checked = sum(bool(c.checked) for c in metrics.CONVENTIONS.values())
    assert n_checked >= 4  # gca, matteformer, mmedit, mmagic were run against their ports
    assert len(lines) == 2 * len(metrics.CONVENTIONS) + n_diff + n_checked
    for conv in metrics.CONVENTIONS.values():
        assert f"source: {conv.source}" in out
        for d in conv.differences:
            assert f"- {d}" in out
        if conv.checked:
            assert f"checked: {conv.checked}" in out


def test_version_flag(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("mattebench ")


def test_metrics_json_nan_is_valid_json(tmp_path, capsys) -> None:
    pred, gt, tri = make_arrays(5)
    tri = np.where(tri == 128, 255, tri).astype(np.uint8)
    paths = [
        str(write_png(tmp_path / f"{n}.png", a))
        for n, a in zip("pgt", (pred, gt, tri), strict=True)
    ]
    assert main(["metrics", *paths, "--json"]) == 0
    out = capsys.readouterr().out

    def refuse(const: str) -> float:
        raise ValueError(f"non-standard JSON constant {const}")

    data = json.loads(out, parse_constant=refuse)
    assert data["mse"] is None  # NaN (no unknown pixel) is written as null
    assert data["sad"] == 0.0


def test_folders_progress_bar_goes_to_stderr(tmp_path, capsys) -> None:
    dirs, _ = make_comp1k(tmp_path, fgs=FGS[:1], n_k=2)
    argv = [a for a in folder_argv(dirs, "--workers", "1") if a != "--no-progress"]
    assert main(argv) == 0
    cap = capsys.readouterr()
    assert "metrics" in cap.err
    assert "2/2" in cap.err
    assert cap.out.startswith("2 images, convention reference")
