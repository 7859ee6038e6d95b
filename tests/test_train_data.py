"""Matting training sets in their official layouts (:mod:`benchmark.datasets.train_matting`) and
the families' augmentation (:mod:`benchmark.datasets.train_augment`).

Every tree is fabricated under ``tmp_path`` in the real layout at tiny scale (3 foregrounds of
24x32, 4 backgrounds, 2 backgrounds per foreground). The composition check is independent of
the module: the expected composite is the official per-pixel formula written out here in
``float64`` on the files as decoded (``int(a F + (1 - a) B)``, background cropped at the top
left). Each bad-data case checks that the raised :class:`InputError` names the offending file.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.compose import composite_dim
from benchmark.datasets import train_augment as A
from benchmark.datasets.train_matting import (
    AdobeTrainSet,
    D646TrainSet,
    open_train_set,
    sdnet_portraits,
)
from metrics.common import InputError, UnknownNameError, read_rgb

H, W = 24, 32
PER_FG = 2
COCO = [f"COCO_train2014_{i:012d}.jpg" for i in (9, 25, 30, 34)]
#: background sizes (h, w): two smaller than the foreground (upscaled), two larger
BG_SIZES = [(20, 30), (40, 50), (30, 36), (16, 20)]


def _rgb(seed: int, h: int = H, w: int = W) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (1, 1, 3))
    ramp = np.linspace(0, 120, w)[None, :, None]
    return np.clip(base + ramp + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)


def _alpha(shift: int = 0, h: int = H, w: int = W) -> np.ndarray:
    """Opaque centre, a soft ramp around it, transparent border."""
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(yy - h / 2, xx - w / 2 - shift)
    return np.clip((11.0 - d) * 60.0, 0, 255).astype(np.uint8)


def _save(path: Path, arr: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def _coco(root: Path) -> Path:
    d = root / "coco" / "train2014"
    for i, (name, (h, w)) in enumerate(zip(COCO, BG_SIZES, strict=True)):
        _save(d / name, _rgb(100 + i, h, w), quality=95)
    return root / "coco"


def _adobe(root: Path, fg_names: list[str] | None = None) -> Path:
    """Combined_Dataset/Training_set with a JPEG and a PNG pair in the Adobe-licensed part and a
    PNG pair with an RGB alpha in Other; the official lists (CRLF)."""
    t = root / "Combined_Dataset" / "Training_set"
    lic, other = t / "Adobe-licensed images", t / "Other"
    _save(lic / "fg" / "035A4301.jpg", _rgb(1), quality=95)
    _save(lic / "alpha" / "035A4301.jpg", _alpha(0), quality=95)
    _save(lic / "fg" / "b.png", _rgb(2))
    _save(lic / "alpha" / "b.png", _alpha(3))
    _save(other / "fg" / "c.png", _rgb(3))
    _save(other / "alpha" / "c.png", np.repeat(_alpha(-3)[..., None], 3, axis=2))
    names = fg_names or ["035A4301.jpg", "c.png", "b.png"]
    (t / "training_fg_names.txt").write_bytes("\r\n".join(names).encode() + b"\r\n")
    bgs = [COCO[i % 4] for i in (0, 1, 2, 3, 1, 0)]
    (t / "training_bg_names.txt").write_bytes("\r\n".join(bgs).encode())
    return root / "Combined_Dataset"


def _d646(root: Path) -> Path:
    t = root / "Distinctions-646" / "Train"
    for i, n in enumerate(("p1", "p2", "p3")):
        _save(t / "FG" / f"{n}.png", _rgb(10 + i))
        _save(t / "GT" / f"{n}.png", _alpha(i - 1))
    (t / "bg_train.txt").write_bytes("\r\n".join(COCO[:2] + COCO[2:] + COCO[:2]).encode())
    return root / "Distinctions-646"


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path, Path]:
    return _adobe(tmp_path), _d646(tmp_path), _coco(tmp_path)


def _adobe_set(trees, **kw) -> AdobeTrainSet:
    kw.setdefault("per_fg", PER_FG)
    return AdobeTrainSet(trees[0], trees[2], **kw)


def _check_sample(s: dict, side: int | None) -> None:
    assert sorted(s) == ["alpha", "bg", "fg", "image", "trimap"]
    h, w = s["alpha"].shape
    if side is not None:
        assert (h, w) == (side, side)
    for k in ("image", "fg", "bg"):
        assert s[k].dtype == np.uint8 and s[k].shape == (h, w, 3) and s[k].flags.c_contiguous
    assert s["alpha"].dtype == np.uint8 and s["trimap"].dtype == np.uint8
    assert set(np.unique(s["trimap"]).tolist()) <= {0, 128, 255}
    a, t = s["alpha"], s["trimap"]
    assert (a[t == 0] == 0).all() and (a[t == 255] == 255).all()
    assert (t[(a > 0) & (a < 255)] == 128).all()
    assert np.array_equal(s["image"], composite_dim(s["fg"], s["bg"], s["alpha"]))


# --------------------------------------------------------------------------------- layouts


def test_adobe_layout_lists_and_pairing(trees) -> None:
    ds = _adobe_set(trees, family="none")
    assert len(ds) == 3 * PER_FG
    assert [f.name for f in ds.foregrounds] == ["035A4301.jpg", "c.png", "b.png"]
    assert "Other" in str(ds.foregrounds[1].fg) and "Other" in str(ds.foregrounds[1].alpha)
    assert ds.bg_list_file.name == "training_bg_names.txt"
    # foreground i with lines PER_FG * i .. of the background list
    assert [ds.pair(i)[1].name for i in range(6)] == [COCO[i] for i in (0, 1, 2, 3, 1, 0)]
    assert ds.name(3) == "c_1"
    # the Training_set folder itself is accepted too, and gives the same set
    again = AdobeTrainSet(trees[0] / "Training_set", trees[2] / "train2014", per_fg=PER_FG)
    assert [f.fg for f in again.foregrounds] == [f.fg for f in ds.foregrounds]
    cfg = ds.config()
    assert cfg["samples"] == 6 and cfg["expected_foregrounds"] == 431
    assert cfg["bg_pairing"].startswith("list ") and cfg["family"] == "none"
    assert ds.validate()["backgrounds"] == 4


@pytest.mark.parametrize("which", ["adobe", "d646"])
def test_plain_composite_is_the_official_arithmetic(trees, which) -> None:
    root = trees[0 if which == "adobe" else 1]
    ds = open_train_set(which, root, trees[2], family="none", per_fg=PER_FG)
    for i in range(len(ds)):
        f, bg_path = ds.pair(i)
        s = ds.sample(i)
        _check_sample(s, None)
        fg, alpha, bg = read_rgb(f.fg), s["alpha"], read_rgb(bg_path)
        assert np.array_equal(s["fg"], fg)
        assert alpha.shape == (H, W)
        bh, bw = bg.shape[:2]
        if bh >= H and bw >= W:  # no upscaling: the official top-left crop
            assert np.array_equal(s["bg"], bg[:H, :W])
        a = alpha.astype(np.float64)[..., None] / 255.0
        expected = (a * fg + (1.0 - a) * s["bg"].astype(np.float64)).astype(np.uint8)
        assert np.array_equal(s["image"], expected)


def test_adobe_alpha_reading(trees) -> None:
    ds = _adobe_set(trees, family="none")
    # the RGB alpha of Other/ reads as its channel 0, the JPEG alpha as decoded by PIL
    assert np.array_equal(ds.sample(2)["alpha"], _alpha(-3))
    jpeg_alpha = np.asarray(Image.open(ds.foregrounds[0].alpha))
    assert np.array_equal(ds.sample(0)["alpha"], jpeg_alpha)


def test_d646_layout(trees) -> None:
    ds = D646TrainSet(trees[1], trees[2], per_fg=PER_FG, family="dim", crop=16)
    assert [f.name for f in ds.foregrounds] == ["p1.png", "p2.png", "p3.png"]
    assert ds.bg_list_file.name == "bg_train.txt" and len(ds) == 6
    assert ds.pair(5)[1].name == COCO[1]
    assert ds.validate(full=True)["decoded"]


def test_drawn_backgrounds_and_voc(trees, tmp_path) -> None:
    drawn = _adobe_set(trees, family="none", bg_list=False, bg_seed=3)
    assert drawn.bg_list_file is None and "bg_seed=3" in drawn.config()["bg_pairing"]
    names = [drawn.pair(i)[1].name for i in range(len(drawn))]
    again = _adobe_set(trees, bg_list=False, bg_seed=3)
    assert names == [again.pair(i)[1].name for i in range(6)]
    assert sorted(set(names)) == sorted(COCO)  # a permutation: all 4 used before repeating
    voc = tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages"
    for i in range(2):
        _save(voc / f"2008_00000{i}.jpg", _rgb(50 + i, 40, 40))
    ds = AdobeTrainSet(trees[0], tmp_path, per_fg=PER_FG, bg_kind="voc", crop=16)
    assert ds.bg_dir == voc and ds.bg_list_file is None  # the COCO list is not used for VOC
    _check_sample(ds.sample(1), 16)


def test_sdnet_subset(trees, tmp_path) -> None:
    full = _adobe_set(trees, family="none")
    lst = tmp_path / "portraits.txt"
    lst.write_text("# human foregrounds\nb\n035A4301.jpg\n")
    ds = sdnet_portraits(trees[0], trees[2], lst, per_fg=PER_FG, crop=16)
    assert ds.family == "gca" and [f.name for f in ds.foregrounds] == ["b.png", "035A4301.jpg"]
    assert len(ds) == 2 * PER_FG and ds.config()["names"] == str(lst)
    # each foreground keeps its backgrounds of the full set
    assert ds.pair(0)[1] == full.pair(4)[1] and ds.pair(1)[1] == full.pair(5)[1]
    d646 = sdnet_portraits(trees[1], trees[2], ["p3"], dataset="d646", per_fg=PER_FG, crop=16)
    assert (
        len(d646) == PER_FG
        and d646.pair(0)[1] == D646TrainSet(trees[1], trees[2], per_fg=PER_FG).pair(4)[1]
    )


# --------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("family", ["gca", "dim"])
def test_augmentation_shapes_ranges_and_determinism(trees, family) -> None:
    ds = _adobe_set(trees, family=family, crop=16, seed=5)
    for i in range(len(ds)):
        s = ds.sample(i, epoch=0)
        _check_sample(s, 16)
        again = ds.sample(i, epoch=0)
        assert all(np.array_equal(s[k], again[k]) for k in s)
    # another epoch or seed draws other augmentations; a pickled copy (DataLoader workers)
    # draws the same ones
    assert any(
        not np.array_equal(ds.sample(i, 0)["image"], ds.sample(i, 1)["image"]) for i in range(6)
    )
    other = _adobe_set(trees, family=family, crop=16, seed=6)
    assert any(not np.array_equal(ds[i]["image"], other[i]["image"]) for i in range(6))
    copy = pickle.loads(pickle.dumps(ds))
    ds.set_epoch(2)
    copy.set_epoch(2)
    assert all(np.array_equal(ds[3][k], copy[3][k]) for k in ("image", "trimap"))


def test_stream_positions(trees) -> None:
    ds = _adobe_set(trees, family="dim", crop=16)
    epoch0 = [ds.locate(p) for p in range(len(ds))]
    assert sorted(i for i, _ in epoch0) == list(range(len(ds))) and {e for _, e in epoch0} == {0}
    assert ds.locate(len(ds))[1] == 1
    i, e = ds.locate(7)
    assert np.array_equal(ds.draw(7)["image"], ds.sample(i, e)["image"])


@pytest.mark.parametrize("shear", [0.0, 7.0])
def test_gca_affine_matrix(shear) -> None:
    """Without shear the destination-to-source matrix is the inverse of a rotation by ``angle``
    after the flips and scales; in every case the centre stays fixed and the determinant is
    ``flip_x flip_y / (scale_x scale_y cos(shear))``: GCA's forward map is
    ``[[cos(a + s), -sin(a + s)], [sin a, cos a]]`` after the flips and scales, of determinant
    ``cos s`` (its shear does not keep areas)."""
    c, angle, scale, flip = (20.5, 12.5), 23.0, (0.9, 1.2), (-1.0, 1.0)
    m = A.gca_inverse_affine(c, angle, scale, shear, flip)
    assert np.allclose(m[:, :2] @ c + m[:, 2], c)
    det = flip[0] * flip[1] / (scale[0] * scale[1] * np.cos(np.radians(shear)))
    assert np.isclose(np.linalg.det(m[:, :2]), det)
    if shear == 0.0:
        t = np.radians(angle)
        rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        forward = rot @ np.diag([scale[0] * flip[0], scale[1] * flip[1]])
        assert np.allclose(m[:, :2] @ forward, np.eye(2))


def test_family_steps_on_arrays() -> None:
    rng = np.random.default_rng(0)
    fg, alpha, bg = _rgb(1, 64, 80), _alpha(0, 64, 80), _rgb(2, 30, 30)
    # GCA: the two-foreground merge and the upscaling path (crop larger than the image)
    s = A.augment_gca(fg, alpha, bg, rng, crop=96, other=lambda r: (_rgb(3, 40, 40), _alpha(2)))
    _check_sample(s, 96)
    # DIM "intended" trimaps dilate more than the "as-run" ones, on average
    widths = {
        m: np.mean(
            [(A.dim_trimap(alpha, np.random.default_rng(k), m) == 128).sum() for k in range(8)]
        )
        for m in A.TRIMAP_MODES
    }
    assert widths["intended"] > widths["as-run"]
    with pytest.raises(InputError, match="crop must be None"):
        A.augment("none", fg, alpha, bg, rng, crop=16)
    with pytest.raises(InputError, match="unknown augmentation family"):
        A.augment("fba", fg, alpha, bg, rng)


# --------------------------------------------------------------------------------- bad data


def test_missing_listed_foreground_names_the_list(tmp_path) -> None:
    root = _adobe(tmp_path, ["035A4301.jpg", "c.png", "zz.jpg"])
    with pytest.raises(InputError, match=r"training_fg_names\.txt.*zz\.jpg"):
        AdobeTrainSet(root, _coco(tmp_path), per_fg=PER_FG)


def test_repeated_foreground_names(tmp_path) -> None:
    root = _adobe(tmp_path, ["035A4301.jpg", "c.png", "c.png"])
    with pytest.raises(InputError, match=r"training_fg_names\.txt: foreground names repeat: c"):
        AdobeTrainSet(root, _coco(tmp_path), per_fg=PER_FG)


def test_subset_names_unknown_or_repeated(trees, tmp_path) -> None:
    lst = tmp_path / "humans.txt"
    lst.write_text("b\nc0\n")
    with pytest.raises(InputError, match=r"humans\.txt: 1 name.*c0.*close to 'c0': c"):
        sdnet_portraits(trees[0], trees[2], lst, per_fg=PER_FG)
    lst.write_text("b\nb.png\n")
    with pytest.raises(InputError, match=r"humans\.txt: names repeat: b"):
        sdnet_portraits(trees[0], trees[2], lst, per_fg=PER_FG)


def test_size_mismatch_names_the_foreground(trees) -> None:
    alpha = trees[0] / "Training_set" / "Adobe-licensed images" / "alpha" / "b.png"
    _save(alpha, _alpha(0, H, W + 1))
    ds = _adobe_set(trees, family="none")
    with pytest.raises(InputError, match=r"fg/b\.png: foreground is 32x24 .* alpha .*33x24"):
        ds.validate()
    with pytest.raises(InputError, match=r"fg/b\.png: foreground is 32x24"):
        ds.sample(4)


def test_background_folder_without_images(trees, tmp_path) -> None:
    empty = tmp_path / "empty" / "train2014"
    empty.mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match=r"background folder .*empty/train2014 has no images"):
        AdobeTrainSet(trees[0], tmp_path / "empty", per_fg=PER_FG)
    with pytest.raises(InputError, match="does not exist"):
        AdobeTrainSet(trees[0], tmp_path / "nowhere", per_fg=PER_FG)


def test_background_list_problems(trees) -> None:
    lst = trees[0] / "Training_set" / "training_bg_names.txt"
    lst.write_text("\n".join(COCO[:3] + ["COCO_train2014_000000999999.jpg"] + COCO[:2]))
    with pytest.raises(InputError, match=r"training_bg_names\.txt: 1 listed .*000000999999"):
        _adobe_set(trees)
    lst.write_text("\n".join(COCO))
    with pytest.raises(InputError, match=r"training_bg_names\.txt: 4 names, but 3 foregrounds"):
        _adobe_set(trees)


def test_corrupt_background_jpeg(trees) -> None:
    bad = trees[2] / "train2014" / COCO[2]
    data = bad.read_bytes()
    bad.write_bytes(b"not a jpeg at all" * 4)
    ds = _adobe_set(trees, family="none")
    with pytest.raises(InputError, match=rf"{COCO[2]}: cannot be decoded"):
        ds.validate()
    # a truncated JPEG has a valid header: only the decoding check finds it
    bad.write_bytes(data[: len(data) // 2])
    ds.validate()
    with pytest.raises(InputError, match=rf"{COCO[2]}: cannot be decoded"):
        ds.validate(full=True)
    with pytest.raises(InputError, match=COCO[2]):
        ds.sample(2)


def test_corrupt_alpha_png(trees) -> None:
    gt = trees[1] / "Train" / "GT" / "p2.png"
    gt.write_bytes(gt.read_bytes()[:-30])
    ds = D646TrainSet(trees[1], trees[2], per_fg=PER_FG)
    with pytest.raises(InputError, match=r"GT/p2\.png: cannot be decoded"):
        ds.validate(full=True)


def test_d646_unpaired_files(trees) -> None:
    gt = trees[1] / "Train" / "GT"
    (gt / "p2.png").rename(gt / "q2.png")
    with pytest.raises(InputError, match=r"FG/p2\.png: no alpha of the same name"):
        D646TrainSet(trees[1], trees[2], per_fg=PER_FG)
    _save(gt / "p2.png", _alpha(0))
    with pytest.raises(InputError, match=r"GT/q2\.png: an alpha with no foreground"):
        D646TrainSet(trees[1], trees[2], per_fg=PER_FG)


def test_layout_and_argument_errors(trees, tmp_path) -> None:
    (tmp_path / "only_test" / "Test_set").mkdir(parents=True)
    with pytest.raises(InputError, match="looks like the test set"):
        AdobeTrainSet(tmp_path / "only_test", trees[2])
    with pytest.raises(UnknownNameError, match="did you mean adobe"):
        open_train_set("adobee", trees[0], trees[2])
    with pytest.raises(InputError, match="crop must be None"):
        _adobe_set(trees, family="none", crop=16)
    with pytest.raises(IndexError):
        _adobe_set(trees).sample(6)
