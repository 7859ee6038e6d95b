"""Regression tools for users' CI: ``mattebench golden``, ``mattebench compare``, the pytest
fixtures, and the errors and warnings of ``report`` on runs that are not whole."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmark.cli import main
from benchmark.regress import compare_results, parse_tolerances, read_results
from metrics import InputError, golden

# ------------------------------------------------------------------------------ golden


def test_golden_cli_passes_on_our_kernels(capsys) -> None:
    assert main(["golden"]) == 0
    out = capsys.readouterr().out
    assert "PASS: 120 of 120 comparisons" in out and "FAIL" not in out


def test_golden_set_is_complete() -> None:
    """The 30 cases of the README with their three PNGs and both CSVs' rows."""
    names = golden.cases()
    assert len(names) == 30 and "conn_tie_48" in names and "trimap_no_unknown" in names
    for n in names:
        c = golden.load(n)
        assert c.pred.dtype == np.uint8 and c.pred.shape == c.gt.shape == c.trimap.shape
        assert "conn_indexnet_guard" in golden.reference_row(n)
    assert golden.load("large_600x800").pred.shape == (600, 800)


WRONG = '''
import numpy as np

def evaluate(pred, gt, trimap):
    """A typical port bug: everything that is not 0/255 in the trimap counts as unknown."""
    u = (trimap != 0) & (trimap != 255)
    return {"sad": float(np.abs(pred[u].astype(float) - gt[u]).sum() / 255)}
'''


def test_golden_cli_fails_on_a_wrong_implementation_naming_cases(tmp_path, capsys) -> None:
    mod = tmp_path / "wrong_metrics.py"
    mod.write_text(WRONG)
    assert main(["golden", "--impl", f"{mod}:evaluate", "--metric", "sad"]) == 1
    out = capsys.readouterr().out
    assert "FAIL trimap_odd_values" in out and "sad" in out
    assert "FAIL: 29 of 30 comparisons" in out
    # a metric the implementation does not return is a failure, never a skip
    assert main(["golden", "--impl", f"{mod}:evaluate", "--metric", "conn"]) == 1
    assert "not given" in capsys.readouterr().out


def test_golden_values_csv_paper_scale_and_conventions(tmp_path, capsys) -> None:
    """A user's CSV of paper-unit values under a port's convention: passes when right, fails
    naming the case when one value is off by one grey level's worth."""
    path = tmp_path / "mine.csv"
    rows = {n: golden.expected(n, "mmagic", "paper") for n in golden.cases()}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case", "sad", "conn"])
        for n, v in rows.items():
            w.writerow([n, repr(v["sad"]), repr(v["conn"])])
    argv = ["golden", "--values", str(path), "--convention", "mmagic", "--scale", "paper"]
    assert main([*argv, "--metric", "sad", "--metric", "conn"]) == 0
    capsys.readouterr()
    text = path.read_text().replace(repr(rows["smooth_64x64"]["sad"]), "0.123")
    path.write_text(text)
    assert main([*argv, "--metric", "sad"]) == 1
    assert "FAIL smooth_64x64" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("case,sad\nnot_a_case,1\n")
    assert main(["golden", "--values", str(bad)]) == 2
    assert "unknown golden case 'not_a_case'" in capsys.readouterr().err


def test_golden_check_api_and_export(tmp_path) -> None:
    rep = golden.check(lambda p, g, t: {"mse": float(np.mean(((p / 255.0) - g / 255.0) ** 2))},
                       metrics=("mse",))  # fmt: skip
    assert not rep.passed  # the whole-image mean is not the unknown-region mean
    assert {r.case for r in rep.failures} >= {"smooth_64x64"}
    dest = golden.export(tmp_path / "g", convention="gca")
    with open(dest / "expected.csv", newline="") as fh:
        exp = {r["case"]: r for r in csv.DictReader(fh)}
    assert len(exp) == 30 and (dest / "cases" / "tiny_5x7" / "trimap.png").is_file()
    assert float(exp["conn_tie_48"]["conn"]) == golden.expected("conn_tie_48", "gca")["conn"]
    with pytest.raises(InputError, match="expected MODULE:FUNCTION"):
        golden.load_callable("nocolon")


def test_pytest_fixture(golden_case) -> None:
    """The plugin's fixture, used as a lab would use it (here with our own kernels)."""
    import metrics

    c = golden_case
    vals = metrics.evaluate(c.pred, c.gt, c.trimap, scale="raw")
    c.assert_close(vals)
    if c.name == "smooth_64x64":
        with pytest.raises(pytest.fail.Exception, match="FAIL smooth_64x64"):
            c.assert_close({"sad": vals["sad"] * 1.001})


# ------------------------------------------------------------------------------ compare


def _rows(**over: float) -> dict:
    base = {("ds", "m"): {f"im{i}": {"sad": 10.0 + i, "mse": 0.01, "grad": 1.0, "conn": 9.0}
                          for i in range(4)}}  # fmt: skip
    for k, v in over.items():
        name, metric = k.split("__")
        base[("ds", "m")][name][metric] = v
    return base


def test_compare_rules() -> None:
    base = _rows()
    assert compare_results(_rows(), base).passed
    worse = compare_results(_rows(im0__sad=12.0), base)  # mean 11.5 -> 12.0
    assert not worse.passed and [c.metric for c in worse.failed] == ["sad"]
    assert compare_results(_rows(im0__sad=12.0), base, {"sad": 0.05}).passed  # 4.3 % < 5 %
    better = compare_results(_rows(im0__sad=8.0), base)
    assert better.passed and better.means[0].status == "improved"
    # one image worse, the mean unchanged: listed; fails only with per_image
    mixed = _rows(im0__sad=11.0, im1__sad=10.0)
    assert compare_results(mixed, base).passed
    assert not compare_results(mixed, base, per_image=True).passed
    lost = _rows()
    del lost[("ds", "m")]["im3"]
    rep = compare_results(lost, base)
    assert not rep.passed and "1 of 4 images (im3)" in rep.missing[0]
    nan_run = _rows(im0__mse=math.nan)
    assert not compare_results(nan_run, base, per_image=True).passed
    assert parse_tolerances(["sad=0.01", "0.5"]) == {"sad": 0.01, "*": 0.5}
    with pytest.raises(InputError, match="unknown metric 'sadd'"):
        parse_tolerances(["sadd=0.1"])


def _folder_run(tmp_path: Path, name: str, noise: int) -> Path:
    """A tiny eval run: the generic folder dataset scored from a prediction folder."""
    root = tmp_path / "ds"
    rng = np.random.default_rng(0)
    for sub in ("images", "alphas", "trimaps"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(4):
        a = np.zeros((24, 24), np.uint8)
        a[:, 12:] = 255
        a[:, 10:14] = rng.integers(0, 256, (24, 4))
        t = np.where(a == 255, 255, 0).astype(np.uint8)
        t[:, 8:16] = 128
        cv2.imwrite(str(root / "images" / f"im{i}.png"), np.dstack([a, a, a]))
        cv2.imwrite(str(root / "alphas" / f"im{i}.png"), a)
        cv2.imwrite(str(root / "trimaps" / f"im{i}.png"), t)
    preds = tmp_path / name / "preds"
    preds.mkdir(parents=True)
    for i in range(4):
        a = cv2.imread(str(root / "alphas" / f"im{i}.png"), cv2.IMREAD_UNCHANGED)
        p = np.clip(a.astype(int) + noise * (i + 1), 0, 255).astype(np.uint8)
        cv2.imwrite(str(preds / f"im{i}.png"), p)
    out = tmp_path / name / "run"
    argv = ["eval", "--dataset", f"folder={root}", "--set", "images=images", "--set",
            "alphas=alphas", "--set", "trimaps=trimaps", "--pred-dir", str(preds), "--out",
            str(out), "--no-progress", "--workers", "1"]  # fmt: skip
    assert main(argv) == 0
    return out


def test_compare_cli_on_runs_and_csv(tmp_path, capsys) -> None:
    good = _folder_run(tmp_path, "good", 3)
    worse = _folder_run(tmp_path, "worse", 9)
    capsys.readouterr()
    assert main(["compare", str(good), str(good)]) == 0
    assert "PASS: 4 mean(s) compared" in capsys.readouterr().out
    assert main(["compare", str(worse), str(good)]) == 1
    out = capsys.readouterr().out
    assert "folder/preds  sad" in out and "REGRESSION" in out and out.rstrip().endswith("0 missing")
    baseline = tmp_path / "baseline.csv"
    assert main(["compare", str(good), str(baseline), "--write-baseline"]) == 0
    res, conv = read_results(baseline)
    assert conv is None and len(res[("folder", "preds")]) == 4
    assert main(["compare", str(good), str(baseline), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["passed"] is True
    assert main(["compare", str(worse), str(baseline), "--tolerance", "10"]) == 0
    # a run that lost an image cannot pass on a mean over fewer
    (good / "folder" / "preds" / "metrics" / "im2.json").unlink()
    assert main(["compare", str(good), str(baseline)]) == 1
    assert "MISSING in the run: folder/preds: 1 of 4 images (im2)" in capsys.readouterr().out
    assert main(["compare", str(tmp_path), str(baseline)]) == 2
    assert "not a run folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------ report


def test_report_errors_and_partial_runs(tmp_path, capsys) -> None:
    run = _folder_run(tmp_path, "r", 3)
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mattebench: error: ") and "not a run folder" in err
    assert "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(run / "config.json", empty / "config.json")
    assert main(["report", str(empty)]) == 2
    assert "has no results yet" in capsys.readouterr().err
    (run / "folder" / "preds" / "metrics" / "im1.json").unlink()
    assert main(["report", str(run), "--no-write"]) == 0
    cap = capsys.readouterr()
    assert "preds: 3 of 4 images (INCOMPLETE run" in cap.out
    assert "warning: incomplete run: folder/preds: 3 of 4 images" in cap.err
    assert main(["report", str(run), "--require-complete"]) == 2
    assert "incomplete run (folder/preds: 3 of 4 images)" in capsys.readouterr().err
