"""Composition of the Composition-1k and Distinctions-646 test sets (:mod:`benchmark.compose`).

Reference: :func:`_literal_composite` below is a straightforward port of the protocol text
(Adobe ``Composition_code.py`` as shipped by GCA-Matting): PIL images, ``getpixel`` /
``putpixel`` per pixel, Python floats, ``int()`` truncation. It deliberately shares no code with
the vectorised module. Every comparison is exact (``np.array_equal``): the claim under test is
bit-identity, so there is no tolerance.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark import compose as C
from metrics import InputError

# --------------------------------------------------------------------------------------------
# The literal reference (per pixel, Python floats), following the protocol text
# --------------------------------------------------------------------------------------------


def _literal_composite(fg_path: Path, alpha_path: Path, bg_path: Path):
    """Return (merged, cropped background) as PIL images, computed pixel by pixel."""
    im = Image.open(fg_path)
    a = Image.open(alpha_path)
    w, h = im.size
    if im.mode != "RGB" and im.mode != "RGBA":
        im = im.convert("RGB")
    bg = Image.open(bg_path)
    if bg.mode != "RGB":
        bg = bg.convert("RGB")
    bw, bh = bg.size
    wratio = w / bw
    hratio = h / bh
    ratio = wratio if wratio > hratio else hratio
    if ratio > 1:
        bg = bg.resize((math.ceil(bw * ratio), math.ceil(bh * ratio)), Image.Resampling.BICUBIC)
    bg = bg.crop((0, 0, w, h))
    cropped = bg.copy()
    for y in range(h):
        for x in range(w):
            av = a.getpixel((x, y))
            if isinstance(av, tuple):  # multi-channel alpha: channel 0 (GCA's copy)
                av = av[0]
            alpha = av / 255
            f = im.getpixel((x, y))
            b = bg.getpixel((x, y))
            if alpha >= 1:
                bg.putpixel((x, y), (int(f[0]), int(f[1]), int(f[2])))
            elif alpha > 0:
                bg.putpixel(
                    (x, y),
                    tuple(int(alpha * f[c] + (1 - alpha) * b[c]) for c in range(3)),
                )
    return bg, cropped


# --------------------------------------------------------------------------------------------
# Fabricated datasets in the real layouts
# --------------------------------------------------------------------------------------------

W, H = 5, 7  # foreground width x height
# background sizes (w, h): narrower, shorter, larger in both, equal, smaller in both, tall
BG_SIZES = [(4, 9), (9, 5), (9, 11), (W, H), (2, 3), (5, 20), (3, 7), (17, 6)]
SPECIAL_ALPHAS = [0, 255, 1, 128, 254, 2, 127, 129, 253]


def _alpha_values(rng: np.random.Generator) -> np.ndarray:
    a = rng.integers(0, 256, size=(H, W), dtype=np.uint8)
    flat = a.reshape(-1)
    flat[: len(SPECIAL_ALPHAS)] = SPECIAL_ALPHAS
    flat[len(SPECIAL_ALPHAS) : len(SPECIAL_ALPHAS) + 6] = [0, 0, 255, 255, 1, 254]
    rng.shuffle(flat)
    return a


def _write_fg_alpha(fg_dir: Path, alpha_dir: Path, names: list[str], seed: int) -> None:
    """Three foregrounds in three PIL modes (RGB, RGBA, L) and alphas in L / RGB / RGBA."""
    rng = np.random.default_rng(seed)
    fg_dir.mkdir(parents=True, exist_ok=True)
    alpha_dir.mkdir(parents=True, exist_ok=True)
    fg_modes = ["RGB", "RGBA", "L"]
    alpha_modes = ["L", "RGB", "RGBA"]
    for i, name in enumerate(names):
        fm = fg_modes[i % 3]
        shape = (H, W) if fm == "L" else (H, W, len(fm))
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), fm).save(fg_dir / name)
        a = _alpha_values(rng)
        am = alpha_modes[i % 3]
        if am == "L":
            img = Image.fromarray(a, "L")
        else:  # channel 0 is the alpha; the other channels differ to prove it is channel 0
            other = rng.integers(0, 256, size=(H, W, len(am) - 1), dtype=np.uint8)
            img = Image.fromarray(np.dstack([a, other]), am)
        img.save(alpha_dir / name)


def _write_backgrounds(bg_dir: Path, n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    bg_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for j in range(n):
        bw, bh = BG_SIZES[j % len(BG_SIZES)]
        name = f"2008_{j:06d}.jpg"
        arr = rng.integers(0, 256, size=(bh, bw, 3), dtype=np.uint8)
        img = Image.fromarray(arr, "RGB")
        if j % 7 == 3:
            img = img.convert("L")  # grey JPEG: converted to RGB by the protocol
        elif j % 11 == 5:
            img = img.convert("CMYK")  # CMYK JPEG: likewise
        img.save(bg_dir / name, quality=90)
        names.append(name)
    return names


def _write_list(path: Path, names: list[str], newline: str = "\n") -> None:
    path.write_bytes((newline.join(names) + newline).encode())


COMP_FG = ["c-1.png", "a (1).png", "b_2.png"]  # list order is not sorted on purpose


@pytest.fixture
def comp1k(tmp_path):
    """``Combined_Dataset/Test_set`` with 3 foregrounds and 60 VOC backgrounds."""
    test_set = tmp_path / "Combined_Dataset" / "Test_set"
    images = test_set / "Adobe-licensed images"
    _write_fg_alpha(images / "fg", images / "alpha", COMP_FG, seed=1)
    voc = tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages"
    bgs = _write_backgrounds(voc, 60, seed=2)
    bgs = random.Random(3).sample(bgs, len(bgs))  # list order != file-name order
    _write_list(test_set / "test_fg_names.txt", COMP_FG)
    _write_list(test_set / "test_bg_names.txt", bgs)
    return {"root": test_set, "images": images, "voc": voc, "bgs": bgs, "fgs": COMP_FG}


D646_FG = ["zeta.png", "alpha_0.png", "Mid.png"]  # sorted: Mid, alpha_0, zeta (code points)


@pytest.fixture
def d646(tmp_path):
    """``Distinctions-646/Test/{FG,GT}`` + CRLF ``bg_test.txt`` without a final newline."""
    test = tmp_path / "Distinctions-646" / "Test"
    _write_fg_alpha(test / "FG", test / "GT", D646_FG, seed=4)
    voc = tmp_path / "voc_jpegs"
    bgs = _write_backgrounds(voc, 60, seed=5)
    bgs = random.Random(6).sample(bgs, len(bgs))
    (test / "bg_test.txt").write_bytes("\r\n".join(bgs).encode())
    return {"root": tmp_path / "Distinctions-646", "test": test, "voc": voc, "bgs": bgs}


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def _check_against_literal(out: Path, expected: list[tuple[str, Path, Path, Path]]) -> None:
    assert len(expected) == 60
    for name, fg, alpha, bg in expected:
        merged_ref, bg_ref = _literal_composite(fg, alpha, bg)
        got = Image.open(out / "merged" / name)
        assert got.mode == "RGB" and got.size == (W, H)
        assert np.array_equal(np.asarray(got), np.asarray(merged_ref)), name
        assert np.array_equal(_read(out / "bg" / name), np.asarray(bg_ref)), name


def _mtimes(out: Path) -> dict[str, int]:
    return {
        f"{d}/{p.name}": p.stat().st_mtime_ns
        for d in ("merged", "bg")
        for p in sorted((out / d).iterdir())
    }


# --------------------------------------------------------------------------------------------
# Arithmetic
# --------------------------------------------------------------------------------------------


def _python_composite(a8: int, f: int, b: int) -> int:
    alpha = a8 / 255
    if alpha >= 1:
        return int(f)
    if alpha > 0:
        return int(alpha * f + (1 - alpha) * b)
    return b


def _arith_grid(bvals: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    a, f, b = np.meshgrid(np.arange(256), np.arange(256), np.array(bvals), indexing="ij")
    a, f, b = (x.reshape(-1) for x in (a, f, b))
    expected = np.array(
        [
            _python_composite(x, y, z)
            for x, y, z in zip(a.tolist(), f.tolist(), b.tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    return a.astype(np.uint8), f.astype(np.uint8), b.astype(np.uint8), expected


def _vectorised(a, f, b) -> np.ndarray:
    n = a.size
    fg = np.repeat(f.reshape(1, n, 1), 3, axis=2)
    bg = np.repeat(b.reshape(1, n, 1), 3, axis=2)
    out = C.composite_dim(fg, bg, a.reshape(1, n))
    assert np.array_equal(out[..., 0], out[..., 2])
    return out[0, :, 0].astype(np.int64)


def test_arithmetic_bit_identical_to_python_floats():
    """All 256 alphas x all 256 foreground values x 16 background values (incl. 0/1/254/255)."""
    bvals = [0, 1, 2, 63, 64, 100, 127, 128, 129, 191, 200, 223, 253, 254, 255, 37]
    a, f, b, expected = _arith_grid(bvals)
    assert np.array_equal(_vectorised(a, f, b), expected)
    # truncation, not rounding, is visible in this grid
    assert np.any(expected != np.round(a / 255 * f + (1 - a / 255) * b))


@pytest.mark.slow
def test_arithmetic_bit_identical_exhaustive():
    """Every (alpha, F, B) in 0..255^3 -- 16.7 M Python evaluations."""
    for lo in range(0, 256, 64):
        a, f, b, expected = _arith_grid(list(range(lo, lo + 64)))
        assert np.array_equal(_vectorised(a, f, b), expected)


def test_composite_dim_bands_and_errors(monkeypatch):
    rng = np.random.default_rng(0)
    fg, bg = (rng.integers(0, 256, (13, 4, 3), dtype=np.uint8) for _ in range(2))
    alpha = rng.integers(0, 256, (13, 4), dtype=np.uint8)
    whole = C.composite_dim(fg, bg, alpha)
    monkeypatch.setattr(C, "_ROWS_PER_CHUNK", 3)  # bands must not change anything
    assert np.array_equal(C.composite_dim(fg, bg, alpha), whole)
    with pytest.raises(InputError, match="uint8"):
        C.composite_dim(fg.astype(np.float32), bg, alpha)
    with pytest.raises(InputError, match="shapes do not match"):
        C.composite_dim(fg, bg[:12], alpha)


def test_fit_background_rule():
    # narrower: ratio = 5/4 -> resized to (ceil(4*1.25), ceil(9*1.25)) = (5, 12), cropped
    assert C.fit_background(Image.new("RGB", (4, 9)), 5, 7).size == (5, 7)
    # larger in both: no resize, top-left crop keeps pixel (0, 0)
    big = Image.new("RGB", (9, 11), (1, 2, 3))
    big.putpixel((0, 0), (9, 9, 9))
    fitted = C.fit_background(big, 5, 7)
    assert fitted.getpixel((0, 0)) == (9, 9, 9) and fitted.size == (5, 7)
    # grey background becomes RGB
    assert C.fit_background(Image.new("L", (5, 7)), 5, 7).mode == "RGB"


# --------------------------------------------------------------------------------------------
# Composition-1k
# --------------------------------------------------------------------------------------------


def test_comp1k_bit_exact_against_literal_port(comp1k, tmp_path):
    out = tmp_path / "out"
    rep = C.compose_comp1k(comp1k["root"], comp1k["voc"], out, progress=False)
    assert rep.n_written == 60 and rep.n_skipped == 0 and len(rep.pairs) == 60
    expected = []
    for i, fname in enumerate(comp1k["fgs"]):
        stem = Path(fname).stem
        for k in range(20):
            expected.append(
                (
                    f"{stem}_{k}.png",
                    comp1k["images"] / "fg" / fname,
                    comp1k["images"] / "alpha" / fname,
                    comp1k["voc"] / comp1k["bgs"][i * 20 + k],
                )
            )
    assert [(p.name, p.fg, p.alpha, p.bg) for p in rep.pairs] == expected
    assert rep.pairs[21].name == "a (1)_1.png" and rep.pairs[21].bg_index == 21
    _check_against_literal(out, expected)
    assert sorted(os.listdir(out / "merged")) == sorted(e[0] for e in expected)
    assert (out / "compose_manifest.json").is_file()


def test_comp1k_layouts_and_explicit_lists(comp1k, tmp_path):
    """Flat fg/alpha folder, VOCdevkit root, lists given as sequences: same pixels."""
    ref = tmp_path / "ref"
    C.compose_comp1k(comp1k["root"], comp1k["voc"], ref, progress=False)
    flat = comp1k["images"]  # holds fg/ and alpha/ directly
    out = tmp_path / "flat"
    rep = C.compose_comp1k(
        flat,
        tmp_path / "VOCdevkit",
        out,
        fg_names=list(comp1k["fgs"]),
        bg_names=comp1k["root"] / "test_bg_names.txt",
        write_bg=False,
        progress=False,
    )
    assert rep.n_written == 60 and not (out / "bg").exists()
    for p in rep.pairs:
        assert np.array_equal(_read(out / "merged" / p.name), _read(ref / "merged" / p.name))
    # Combined_Dataset itself is accepted too
    rep2 = C.compose_comp1k(comp1k["root"].parent, comp1k["voc"], ref, progress=False)
    assert rep2.n_skipped == 60


def test_resume_rewrites_only_missing(comp1k, tmp_path):
    out = tmp_path / "out"
    C.compose_comp1k(comp1k["root"], comp1k["voc"], out, progress=False)
    before = _mtimes(out)
    victim = "a (1)_7.png"
    ref_bytes = (out / "merged" / victim).read_bytes()
    (out / "merged" / victim).unlink()
    (out / "bg" / "b_2_19.png").unlink()
    rep = C.compose_comp1k(comp1k["root"], comp1k["voc"], out, progress=False)
    assert rep.written == [victim, "b_2_19.png"] and rep.n_skipped == 58
    after = _mtimes(out)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {f"merged/{victim}", "bg/b_2_19.png"}
    assert (out / "merged" / victim).read_bytes() == ref_bytes  # deterministic
    rep = C.compose_comp1k(comp1k["root"], comp1k["voc"], out, progress=False)
    assert rep.n_written == 0 and rep.n_skipped == 60 and _mtimes(out) == after


def test_interrupted_write_leaves_no_partial_file(comp1k, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_save = Image.Image.save
    calls = {"n": 0}

    def flaky_save(self, fp, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # 3rd composite's merged PNG: write half of it, then die
            fp.write(b"\x89PNG\r\n\x1a\n partial")
            raise KeyboardInterrupt
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", flaky_save)
    with pytest.raises(KeyboardInterrupt):
        C.compose_comp1k(comp1k["root"], comp1k["voc"], out, progress=False)
    monkeypatch.setattr(Image.Image, "save", real_save)
    # two pairs complete (merged + bg each), nothing else, no temp file
    assert sorted(os.listdir(out / "merged")) == ["c-1_0.png", "c-1_1.png"]
    assert sorted(os.listdir(out / "bg")) == ["c-1_0.png", "c-1_1.png"]
    # a killed run (no exception handler ran) can leave a temp file: a rerun removes it
    (out / "merged" / ".c-1_2.png.abc123.tmp").write_bytes(b"junk")
    rep = C.compose_comp1k(comp1k["root"], comp1k["voc"], out, progress=False)
    assert rep.n_skipped == 2 and rep.n_written == 58
    assert not [n for n in os.listdir(out / "merged") if n.endswith(".tmp")]
    expected = [(p.name, p.fg, p.alpha, p.bg) for p in rep.pairs]
    _check_against_literal(out, expected)


def test_progress_bar_goes_to_stderr(comp1k, tmp_path, capsys):
    C.compose_comp1k(comp1k["root"], comp1k["voc"], tmp_path / "o", write_bg=False)
    cap = capsys.readouterr()
    assert cap.out == "" and "60/60" in cap.err


# ---- errors ----------------------------------------------------------------------------------


def test_error_missing_foreground_alpha_background(comp1k, tmp_path):
    out = tmp_path / "out"
    (comp1k["images"] / "fg" / "b_2.png").rename(tmp_path / "fg_away.png")
    with pytest.raises(InputError, match=r"b_2\.png: 1 input file\(s\) missing"):
        C.compose_comp1k(comp1k["root"], comp1k["voc"], out, progress=False)
    assert not out.exists()  # checked before any work
    (tmp_path / "fg_away.png").rename(comp1k["images"] / "fg" / "b_2.png")
    (comp1k["images"] / "alpha" / "c-1.png").unlink()
    with pytest.raises(InputError, match=r"c-1\.png.*missing"):
        C.compose_comp1k(comp1k["root"], comp1k["voc"], out, progress=False)


def test_error_missing_background(comp1k, tmp_path):
    victim = comp1k["bgs"][33]
    (comp1k["voc"] / victim).unlink()
    with pytest.raises(InputError, match=rf"{victim}: 1 input file\(s\) missing"):
        C.compose_comp1k(comp1k["root"], comp1k["voc"], tmp_path / "o", progress=False)


def test_error_size_mismatch(comp1k, tmp_path):
    Image.new("L", (W, H + 1)).save(comp1k["images"] / "alpha" / "a (1).png")
    with pytest.raises(InputError, match=r"a \(1\)\.png: foreground is 5x7 .* alpha is 5x8"):
        C.compose_comp1k(comp1k["root"], comp1k["voc"], tmp_path / "o", progress=False)


@pytest.mark.parametrize(
    ("n", "msg"),
    [(59, "59 names is not a multiple of 20"), (40, "too short"), (80, "too long")],
)
def test_error_bg_list_length(comp1k, tmp_path, n, msg):
    bgs = (comp1k["bgs"] * 2)[:n]
    with pytest.raises(InputError, match=msg):
        C.compose_comp1k(
            comp1k["root"], comp1k["voc"], tmp_path / "o", bg_names=bgs, progress=False
        )


def test_error_layout_and_lists(comp1k, tmp_path):
    with pytest.raises(InputError, match="no fg/ and alpha/"):
        C.compose_comp1k(tmp_path / "nowhere", comp1k["voc"], tmp_path / "o", progress=False)
    (comp1k["root"] / "test_fg_names.txt").unlink()
    with pytest.raises(InputError, match="test_fg_names.txt not found"):
        C.compose_comp1k(comp1k["root"], comp1k["voc"], tmp_path / "o", progress=False)
    bad = tmp_path / "list.txt"
    bad.write_text("a.png\n\nb.png\n")
    with pytest.raises(InputError, match="list.txt: line 2 is blank"):
        C.read_name_list(bad)
    with pytest.raises(InputError, match="repeat"):
        C.compose_comp1k(
            comp1k["root"],
            comp1k["voc"],
            tmp_path / "o",
            fg_names=["c-1.png", "c-1.png", "b_2.png"],
            progress=False,
        )


def test_error_unreadable_background(comp1k, tmp_path):
    (comp1k["voc"] / comp1k["bgs"][0]).write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match=rf"{comp1k['bgs'][0]}: cannot read background"):
        C.compose_comp1k(comp1k["root"], comp1k["voc"], tmp_path / "o", progress=False)


# --------------------------------------------------------------------------------------------
# Distinctions-646
# --------------------------------------------------------------------------------------------


def test_d646_bit_exact_sorted_order(d646, tmp_path):
    out = tmp_path / "out"
    rep = C.compose_d646(d646["root"], d646["voc"], out, progress=False)
    order = sorted(D646_FG)
    assert order == ["Mid.png", "alpha_0.png", "zeta.png"]
    expected = [
        (
            f"{Path(f).stem}_{k}.png",
            d646["test"] / "FG" / f,
            d646["test"] / "GT" / f,
            d646["voc"] / d646["bgs"][i * 20 + k],
        )
        for i, f in enumerate(order)
        for k in range(20)
    ]
    assert [(p.name, p.fg, p.alpha, p.bg) for p in rep.pairs] == expected
    _check_against_literal(out, expected)
    # the Test folder itself is accepted; a rerun skips everything
    rep = C.compose_d646(d646["test"], d646["voc"], out, progress=False)
    assert rep.n_skipped == 60


def test_d646_explicit_order_and_errors(d646, tmp_path):
    rep = C.compose_d646(
        d646["root"], d646["voc"], tmp_path / "o", fg_names=D646_FG, progress=False
    )
    assert rep.pairs[0].name == "zeta_0.png" and rep.pairs[20].name == "alpha_0_0.png"
    with pytest.raises(InputError, match="no Test/FG and Test/GT"):
        C.compose_d646(tmp_path / "x", d646["voc"], tmp_path / "o2", progress=False)
    (d646["test"] / "bg_test.txt").write_text("\n".join(d646["bgs"][:50]))
    with pytest.raises(InputError, match="bg_test.txt: 50 names is not a multiple of 20"):
        C.compose_d646(d646["root"], d646["voc"], tmp_path / "o2", progress=False)


def test_cli_compose_comp1k_and_resume(comp1k, tmp_path, capsys):
    """`mattebench compose comp1k` writes 60 composites; a second run writes none."""
    from benchmark.cli import main

    out = tmp_path / "composed"
    argv = ["compose", "comp1k", "--adobe", str(comp1k["root"]), "--voc", str(comp1k["voc"])]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    assert "60 composite(s) written, 0 already there" in capsys.readouterr().out
    assert len(list((out / "merged").glob("*.png"))) == 60
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    assert "0 composite(s) written, 60 already there" in capsys.readouterr().out
    assert main(["compose", "d646", "--voc", str(comp1k["voc"]), "--out", str(out)]) == 2
    assert "needs --d646" in capsys.readouterr().err
