"""No silent surprises: legal-but-lossy input warns (and is counted under run tables), broken
files fail naming the file once with the decoder's words and nothing else on stderr, and every
command explains its options."""

from __future__ import annotations

import argparse
import warnings

import cv2
import numpy as np
import pytest

import metrics
from benchmark.cli import build_parser, main
from metrics import InputError, LossyImageWarning, NoUnknownWarning, StrayTrimapWarning
from metrics.common import read_alpha, read_grey


def _case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gt = np.zeros((20, 20), np.uint8)
    gt[:, 10:] = 255
    gt[:, 8:12] = 100
    tri = np.where(gt == 255, 255, 0).astype(np.uint8)
    tri[:, 6:14] = 128
    pred = np.clip(gt.astype(int) + 20, 0, 255).astype(np.uint8)
    return pred, gt, tri


def test_stray_trimap_values_warn_and_are_left_out() -> None:
    pred, gt, tri = _case()
    clean = metrics.sad(pred, gt, tri, scale="raw")
    resized = tri.copy()
    resized[:, 6] = 127  # what a bilinear resize leaves at a band edge
    with pytest.warns(StrayTrimapWarning, match=r"trimap has 20 pixel\(s\) .* \(127\)"):
        got = metrics.sad(pred, gt, resized, scale="raw")
    assert got < clean  # the column is left out, as the reference does
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean trimap warns about nothing
        metrics.evaluate(pred, gt, tri)


def test_no_unknown_pixel_warns_for_the_unknown_region_metrics() -> None:
    pred, gt, tri = _case()
    known = np.where(gt > 127, 255, 0).astype(np.uint8)
    with pytest.warns(NoUnknownWarning, match="no unknown"):
        vals = metrics.evaluate(pred, gt, known)
    assert np.isnan(vals["mse"]) and vals["sad"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # whole-image metrics do not need an unknown region
        metrics.sad_trimap(pred, gt, known)


def test_jpeg_matte_warns(tmp_path) -> None:
    pred, _, _ = _case()
    cv2.imwrite(str(tmp_path / "p.jpg"), pred)
    with pytest.warns(LossyImageWarning, match=r"p\.jpg is a JPEG"):
        read_alpha(tmp_path / "p.jpg")


def test_cli_names_each_file_in_its_warnings(tmp_path, capsys) -> None:
    pred, gt, tri = _case()
    tri[0, 0] = 129
    for name, img in (("p.jpg", pred), ("g.png", gt), ("t.png", tri)):
        cv2.imwrite(str(tmp_path / name), img)
    files = [str(tmp_path / f) for f in ("p.jpg", "g.png", "t.png")]
    assert main(["metrics", *files]) == 0
    err = capsys.readouterr().err
    assert f"mattebench: warning: {files[0]} is a JPEG" in err
    assert f"mattebench: warning: {files[2]} has 1 pixel(s) with values other" in err
    assert "Warning:" not in err  # our words, not Python's warning format


def test_runner_counts_input_problems_under_the_table(tmp_path, capsys) -> None:
    root = tmp_path / "ds"
    for sub in ("images", "alphas", "trimaps"):
        (root / sub).mkdir(parents=True)
    preds = tmp_path / "preds"
    preds.mkdir()
    pred, gt, tri = _case()
    for i in range(3):
        t = tri.copy()
        if i == 1:
            t[:, 6] = 127
        if i == 2:
            t = np.where(gt > 127, 255, 0).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"im{i}.png"), np.dstack([gt] * 3))
        cv2.imwrite(str(root / "alphas" / f"im{i}.png"), gt)
        cv2.imwrite(str(root / "trimaps" / f"im{i}.png"), t)
        cv2.imwrite(str(preds / f"im{i}.{'jpg' if i == 0 else 'png'}"), pred)
    out = tmp_path / "run"
    argv = ["eval", "--dataset", f"folder={root}", "--set", "images=images", "--set",
            "alphas=alphas", "--set", "trimaps=trimaps", "--pred-dir", str(preds), "--out",
            str(out), "--no-progress", "--workers", "1"]  # fmt: skip
    assert main(argv) == 0
    cap = capsys.readouterr()
    assert "1 trimap(s) have 20 pixel(s) with values other than 0/128/255" in cap.out
    assert "1 image(s) have no unknown pixel" in cap.out
    assert "MSE is a mean over 2 of 3 images" in cap.out
    assert "1 prediction(s) read from JPEG" in cap.out
    assert cap.err.count("warning: folder: ") == 3  # one counted line each, no per-image spam


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, b"", b"\xff\xd8\xff\xe0 truncated jpeg"],
    ids=["bad-png", "empty", "bad-jpeg"],
)
def test_undecodable_file_named_once_and_no_decoder_noise(tmp_path, capfd, data) -> None:
    path = tmp_path / "broken file.png"
    path.write_bytes(data)
    with pytest.raises(InputError) as e:
        read_grey(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: cannot be decoded as an image (")
    assert msg.count("broken file.png") == 1
    assert capfd.readouterr().err == ""  # libpng's / OpenCV's own lines do not reach the user


def test_truncated_png_says_what_the_decoder_said(tmp_path) -> None:
    ok, buf = cv2.imencode(".png", np.full((64, 64), 7, np.uint8))
    raw = bytearray(buf.tobytes())
    raw[40] ^= 0xFF  # damage the compressed data
    (tmp_path / "x.png").write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"x\.png: cannot be decoded as an image \(.+\)"):
        read_grey(tmp_path / "x.png")


# ------------------------------------------------------------------------------ CLI help


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    ap = build_parser()
    (sub,) = [a for a in ap._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_has_help_and_shows_its_default(command: str) -> None:
    sp = _subparsers()[command]
    text = sp.format_help()
    for action in sp._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.option_strings or action.dest}: no help text"
        d = action.default
        if action.option_strings and d not in (None, False, [], argparse.SUPPRESS):
            shown = " ".join(text.split())  # argparse wraps long lines
            assert f"(default: {d})" in shown, f"{command} {action.option_strings}: default"


def test_no_command_prints_the_help(capsys) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mattebench") and "golden" in out and "compare" in out
