"""Reading mattes and trimaps, atomic writes, file-name pairing, and metric input validation."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

import metrics
from benchmark.pairing import Triplet, base_name, list_images, match_triplets
from metrics import InputError
from metrics.common import atomic_write, read_alpha, read_grey, read_trimap

READERS = [read_grey, read_alpha, read_trimap]
GREY = np.array([[0, 128, 255, 0, 128], [255, 255, 128, 0, 0], [128, 0, 255, 128, 255]], np.uint8)


def write_png(path: Path, arr: np.ndarray) -> Path:
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


# --------------------------------------------------------------------------- reading


def _u16(path: Path) -> None:
    a = np.zeros((4, 5), np.uint16)
    a[1, 2] = 1000
    assert cv2.imwrite(str(path), a)


def _rgba(path: Path) -> None:
    assert cv2.imwrite(str(path), np.dstack([GREY, GREY, GREY, np.full_like(GREY, 255)]))


def _rgb_differing(channel: int):
    def make(path: Path) -> None:
        planes = [GREY, GREY.copy(), GREY.copy()]
        planes[channel][0, 0] = 1  # one pixel differs in one channel
        assert cv2.imwrite(str(path), np.dstack(planes))

    return make


def _not_an_image(path: Path) -> None:
    path.write_bytes(b"this is not a PNG file\n" * 10)


def _missing(path: Path) -> None:
    pass


BAD_FILES = [
    ("missing", _missing, "no such file"),
    ("not-an-image", _not_an_image, "cannot be decoded as an image"),
    ("16-bit", _u16, "is 16-bit"),
    ("rgba", _rgba, r"is RGBA \(has an alpha channel\)"),
    ("rgb-differing-g", _rgb_differing(1), "is an RGB image with differing channels"),
    ("rgb-differing-r", _rgb_differing(2), "is an RGB image with differing channels"),
]


@pytest.mark.parametrize("reader", READERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("case", "make", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_read_errors_name_the_file(tmp_path, reader, case, make, message) -> None:
    path = tmp_path / f"{case} (1).png"
    make(path)
    with pytest.raises(InputError, match=re.escape(path.name) + ".*" + message):
        reader(path)
    # str paths too
    with pytest.raises(InputError, match=re.escape(path.name)):
        reader(str(path))


def test_read_grey_png_round_trip(tmp_path) -> None:
    path = write_png(tmp_path / "alpha.png", GREY)
    for reader in READERS:
        got = reader(path)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, GREY)


def test_read_rgb_with_identical_channels_is_grey(tmp_path) -> None:
    path = tmp_path / "rgb.png"
    assert cv2.imwrite(str(path), np.dstack([GREY, GREY, GREY]))
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape == (3, 5, 3)
    for reader in READERS:
        got = reader(path)
        assert got.shape == GREY.shape
        assert got.dtype == np.uint8
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, GREY)


def test_read_palette_png_is_grey(tmp_path) -> None:
    image = pytest.importorskip("PIL.Image")
    path = tmp_path / "trimap palette.png"
    image.fromarray(GREY).convert("P").save(path)
    with image.open(path) as im:
        assert im.mode == "P"  # really a palette PNG
    tri = read_trimap(path)
    np.testing.assert_array_equal(tri, GREY)
    np.testing.assert_array_equal(np.unique(tri), [0, 128, 255])
    assert int((tri == 128).sum()) == 5


def test_read_path_with_spaces_and_parentheses(tmp_path) -> None:
    d = tmp_path / "my results (v2)" / "Comp 1k"
    d.mkdir(parents=True)
    path = write_png(d / "woman-952506_1920 (1)_0.png", GREY)
    np.testing.assert_array_equal(read_alpha(path), GREY)
    np.testing.assert_array_equal(read_trimap(str(path)), GREY)


def test_read_grey_plus_alpha_png_refused(tmp_path) -> None:
    # OpenCV decodes a grey+alpha PNG to 4 channels, so it is refused as RGBA
    image = pytest.importorskip("PIL.Image")
    path = tmp_path / "grey alpha (3).png"
    im = image.fromarray(np.dstack([GREY, np.full_like(GREY, 255)]))
    assert im.mode == "LA"
    im.save(path)
    with pytest.raises(InputError, match=re.escape(path.name) + " is RGBA"):
        read_alpha(path)


# --------------------------------------------------------------------------- atomic_write


def test_atomic_write_success_replaces_target(tmp_path) -> None:
    target = tmp_path / "sub" / "per_image.csv"
    with atomic_write(target, newline="") as fh:
        fh.write("name,sad\n")
        assert not target.exists()  # nothing visible until the block ends
    assert target.read_text() == "name,sad\n"
    with atomic_write(target) as fh:
        fh.write("new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in target.parent.iterdir()] == ["per_image.csv"]


def test_atomic_write_binary(tmp_path) -> None:
    target = tmp_path / "blob.bin"
    with atomic_write(target, "wb") as fh:
        fh.write(b"\x00\x01\xff")
    assert target.read_bytes() == b"\x00\x01\xff"
    assert [p.name for p in tmp_path.iterdir()] == ["blob.bin"]


def test_atomic_write_exception_keeps_old_target(tmp_path) -> None:
    target = tmp_path / "per_image.csv"
    target.write_text("old contents\n")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as fh:
        fh.write("partial new contents\n")
        fh.flush()
        raise RuntimeError("boom")
    assert target.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["per_image.csv"]


def test_atomic_write_exception_creates_nothing(tmp_path) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as fh:
        fh.write("x")
        raise KeyboardInterrupt
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- pairing


@pytest.mark.parametrize(
    ("stem", "base"),
    [
        ("woman-952506_1920 (1)_12", "woman-952506_1920 (1)"),
        ("cat_0", "cat"),
        ("a_b_7", "a_b"),
        ("GT01", None),
        ("cat_x", None),
        ("cat_", None),
        ("_3", None),
    ],
)
def test_base_name(stem, base) -> None:
    assert base_name(stem) == base


def test_list_images(tmp_path) -> None:
    write_png(tmp_path / "b (1).png", GREY)
    write_png(tmp_path / "a.PNG", GREY)
    write_png(tmp_path / ".hidden.png", GREY)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub.png").mkdir()
    assert list_images(tmp_path) == {"a": tmp_path / "a.PNG", "b (1)": tmp_path / "b (1).png"}


def test_list_images_duplicate_stems(tmp_path) -> None:
    write_png(tmp_path / "a.png", GREY)
    assert cv2.imwrite(str(tmp_path / "a.jpg"), GREY)
    with pytest.raises(InputError, match=r"prediction folder .*: a\.jpg and a\.png share a name"):
        list_images(tmp_path, "prediction folder")


def test_list_images_empty_dir(tmp_path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(InputError, match=r"trimap folder .*: no image files \(\.png, \.jpg"):
        list_images(tmp_path, "trimap folder")


def test_list_images_missing_dir(tmp_path) -> None:
    missing = tmp_path / "nope (1)"
    with pytest.raises(
        InputError, match=re.escape(f"ground-truth folder {missing}: no such directory")
    ):
        list_images(missing, "ground-truth folder")


def _comp1k(root: Path, fgs=("cat", "woman-952506_1920 (1)"), n_k=3, per_fg_trimap=False):
    dirs = {n: root / n for n in ("pred", "gt", "trimap")}
    for d in dirs.values():
        d.mkdir()
    for fg in fgs:
        write_png(dirs["gt"] / f"{fg}.png", GREY)
        if per_fg_trimap:
            write_png(dirs["trimap"] / f"{fg}.png", GREY)
        for k in range(n_k):
            write_png(dirs["pred"] / f"{fg}_{k}.png", GREY)
            if not per_fg_trimap:
                write_png(dirs["trimap"] / f"{fg}_{k}.png", GREY)
    return dirs


def test_match_triplets_comp1k(tmp_path) -> None:
    d = _comp1k(tmp_path)
    got = match_triplets(d["pred"], d["gt"], d["trimap"])
    fg2 = "woman-952506_1920 (1)"
    names = ["cat_0", "cat_1", "cat_2", f"{fg2}_0", f"{fg2}_1", f"{fg2}_2"]
    assert [t.name for t in got] == names
    for t in got:
        fg = base_name(t.name)
        assert t == Triplet(
            t.name,
            d["pred"] / f"{t.name}.png",
            d["gt"] / f"{fg}.png",
            d["trimap"] / f"{t.name}.png",
        )


def test_match_triplets_per_foreground_trimap(tmp_path) -> None:
    d = _comp1k(tmp_path, per_fg_trimap=True)
    got = match_triplets(d["pred"], d["gt"], d["trimap"])
    assert len(got) == 6
    for t in got:
        assert t.trimap == d["trimap"] / f"{base_name(t.name)}.png"
        assert t.gt == d["gt"] / f"{base_name(t.name)}.png"


def test_match_triplets_without_trimap_dir(tmp_path) -> None:
    d = _comp1k(tmp_path, n_k=1)
    got = match_triplets(d["pred"], d["gt"], None)
    assert [(t.name, t.trimap) for t in got] == [("cat_0", None), ("woman-952506_1920 (1)_0", None)]


def test_match_triplets_exact_stem_wins(tmp_path) -> None:
    d = _comp1k(tmp_path, fgs=("cat",), n_k=2)
    write_png(d["gt"] / "cat_1.png", GREY)  # a per-image GT beside the per-foreground one
    got = {t.name: t.gt.name for t in match_triplets(d["pred"], d["gt"], d["trimap"])}
    assert got == {"cat_0": "cat.png", "cat_1": "cat_1.png"}


def test_match_triplets_errors(tmp_path) -> None:
    d = _comp1k(tmp_path)
    (d["pred"] / "cat_1.png").unlink()
    with pytest.raises(
        InputError,
        match=re.escape(
            f"1 trimap(s) in {d['trimap']} have no prediction in {d['pred']}: cat_1.png"
        ),
    ):
        match_triplets(d["pred"], d["gt"], d["trimap"])
    for k in range(7):
        write_png(d["pred"] / f"dog_{k}.png", GREY)
    shown = ", ".join(f"dog_{k}.png" for k in range(5))
    msg = f"7 prediction(s) have no ground truth in {d['gt']}: {shown} (and 2 more)"
    with pytest.raises(InputError, match=re.escape(msg)):
        match_triplets(d["pred"], d["gt"], d["trimap"])
    for k in range(7):
        (d["pred"] / f"dog_{k}.png").unlink()
    write_png(d["gt"] / "dog.png", GREY)
    write_png(d["pred"] / "dog_0.png", GREY)
    with pytest.raises(
        InputError, match=re.escape(f"1 prediction(s) have no trimap in {d['trimap']}: dog_0.png")
    ):
        match_triplets(d["pred"], d["gt"], d["trimap"])


def test_match_triplets_folder_errors(tmp_path) -> None:
    d = _comp1k(tmp_path)
    with pytest.raises(InputError, match="ground-truth folder .*: no such directory"):
        match_triplets(d["pred"], tmp_path / "missing", d["trimap"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="trimap folder .*: no image files"):
        match_triplets(d["pred"], d["gt"], empty)
    assert cv2.imwrite(str(d["pred"] / "cat_0.jpg"), GREY)
    with pytest.raises(
        InputError, match=r"prediction folder .*: cat_0\.jpg and cat_0\.png share a name"
    ):
        match_triplets(d["pred"], d["gt"], d["trimap"])


# --------------------------------------------------------------------------- metric inputs

FUNCS = [metrics.sad, metrics.mse, metrics.grad, metrics.conn, metrics.evaluate]
FUNC_IDS = [f.__name__ for f in FUNCS]


def _case(shape=(4, 5), seed=0):
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 256, shape, dtype=np.uint8)
    gt = rng.integers(0, 256, shape, dtype=np.uint8)
    tri = np.full(shape, 128, np.uint8)
    tri[0] = 0
    tri[-1] = 255
    return pred, gt, tri


def _float_pred(value: float):
    pred, gt, tri = _case()
    p = pred / 255.0
    p[1, 1] = value
    return p, gt, tri


def _bad_inputs():
    pred, gt, tri = _case()
    return [
        ("shape-gt", (pred, gt[:, :4], tri), "sizes differ: pred is 4x5, gt is 4x4"),
        ("shape-trimap", (pred, gt, tri[:3]), "sizes differ: pred is 4x5, trimap is 3x5"),
        (
            "3-D",
            (np.dstack([pred] * 3), gt, tri),
            r"pred must be a 2-D array, got shape \(4, 5, 3\) \(an RGB",
        ),
        ("1-D", (pred.ravel(), gt, tri), r"pred must be a 2-D array, got shape \(20,\)"),
        ("empty", (pred[:0], gt[:0], tri[:0]), r"pred is empty \(shape \(0, 5\)\)"),
        ("nan", _float_pred(np.nan), "pred has NaN"),
        ("inf", _float_pred(np.inf), "pred has inf"),
        ("-inf", _float_pred(-np.inf), "pred has inf"),
        (
            "above-1",
            _float_pred(1.5),
            r"pred has float values outside \[0, 1\] \(min 0\.\d+, max 1\.5\) \(0-255",
        ),
        ("below-0", _float_pred(-0.25), r"pred has float values outside \[0, 1\] \(min -0\.25"),
        ("float-255", (pred.astype(np.float32), gt, tri), r"outside \[0, 1\].*divide by 255"),
        ("uint16", (pred.astype(np.uint16), gt, tri), r"pred is 16-bit \(uint16\)"),
        ("uint16-gt", (pred, gt.astype(np.uint16), tri), r"gt is 16-bit \(uint16\)"),
        ("bool", (pred > 127, gt, tri), "pred is boolean"),
        ("float-trimap", (pred, gt, tri.astype(np.float64)), r"trimap is floating \(float64\)"),
        ("float-trimap-01", (pred, gt, tri / 255.0), "trimap is floating"),
        ("bool-trimap", (pred, gt, tri == 128), "trimap is boolean"),
        (
            "int64-300",
            (np.where(pred > 127, 300, 0), gt, tri),
            r"pred has integer values outside 0\.\.255 \(min 0, max 300\)",
        ),
        (
            "int64-negative",
            (np.where(pred > 127, 200, -1), gt, tri),
            r"pred has integer values outside 0\.\.255 \(min -1",
        ),
        ("gt-nan", (pred, _float_pred(np.nan)[0], tri), "gt has NaN"),
        ("object", (pred.astype(object), gt, tri), "pred has unsupported dtype object"),
    ]


BAD = _bad_inputs()


@pytest.mark.parametrize("func", FUNCS, ids=FUNC_IDS)
@pytest.mark.parametrize(("case", "args", "message"), BAD, ids=[b[0] for b in BAD])
def test_metric_input_errors(func, case, args, message) -> None:
    with pytest.raises(metrics.InputError, match=message):
        func(*args)


def test_int64_300_message_values() -> None:
    pred, gt, tri = _case()
    p = pred.astype(np.int64)
    p[2, 3] = 300
    with pytest.raises(
        metrics.InputError, match=r"pred has integer values outside 0\.\.255 \(min \d+, max 300\)"
    ):
        metrics.sad(p, gt, tri)


def test_input_error_is_value_error() -> None:
    assert issubclass(metrics.InputError, ValueError)
    assert metrics.InputError is InputError


@pytest.mark.parametrize("func", FUNCS, ids=FUNC_IDS)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.uint32, np.uint64])
def test_integer_dtypes_in_0_255_equal_uint8(func, dtype) -> None:
    pred, gt, tri = _case(shape=(9, 11), seed=3)
    want = func(pred, gt, tri)
    got = func(pred.astype(dtype), gt.astype(dtype), tri.astype(dtype))
    assert got == want
    # a plain Python int trimap (int64 by default) works too
    assert func(pred.astype(np.int64), gt, tri.tolist()) == want


def test_int64_full_range_accepted() -> None:
    pred = np.array([[0, 255, 128]], np.int64)
    gt = np.array([[255, 255, 0]], np.int64)
    tri = np.array([[128, 128, 128]], np.int64)
    assert metrics.sad(pred, gt, tri, scale="raw") == pytest.approx((255 + 0 + 128) / 255)
    assert metrics.sad(pred, gt, tri, scale="raw") == metrics.sad(
        pred.astype(np.uint8), gt.astype(np.uint8), tri.astype(np.uint8), scale="raw"
    )


# --------------------------------------------------------------------------- regressions
# Bugs found while writing these tests, fixed since: file mode, sort order.


def test_atomic_write_has_ordinary_permissions(tmp_path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("x\n")
    target = tmp_path / "atomic.csv"
    with atomic_write(target) as fh:
        fh.write("x\n")
    assert (target.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777)


def test_match_triplets_sorted_by_name(tmp_path) -> None:
    d = {n: tmp_path / n for n in ("pred", "gt", "trimap")}
    for folder in d.values():
        folder.mkdir()
        for stem in ("cat", "cat-2", "cat (1)"):
            write_png(folder / f"{stem}.png", GREY)
    names = [t.name for t in match_triplets(d["pred"], d["gt"], d["trimap"])]
    assert names == sorted(names) == ["cat", "cat (1)", "cat-2"]
