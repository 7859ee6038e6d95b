"""Dataset loaders: each one on a tiny tree in its real on-disk layout, built under tmp_path.

The generic checks (names, order, contents, subsets, error paths) are parametrized over the
dataset registry: a newly registered loader fails here until it gets a builder in BUILDERS.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from benchmark.datasets import get_dataset, list_datasets
from benchmark.datasets.base import DATASETS, MattingDataset
from benchmark.datasets.voc import read_label
from metrics import InputError

H, W = 6, 8
_RNG = np.random.default_rng(20240601)
_GREY_PALETTE = [0, 0, 0, 128, 128, 128, 255, 255, 255] + [9, 9, 9] * 253


# ---------------------------------------------------------------------------- file writers


def _rgb(h: int = H, w: int = W) -> np.ndarray:
    # strongly different channels, so a BGR/RGB swap cannot go unnoticed
    a = _RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    a[..., 0] |= 0x80
    a[..., 2] &= 0x3F
    return a


def _alpha(h: int = H, w: int = W) -> np.ndarray:
    return _RNG.integers(0, 256, (h, w), dtype=np.uint8)


def _trimap(h: int = H, w: int = W) -> np.ndarray:
    return _RNG.choice(np.array([0, 128, 255], np.uint8), (h, w))


def write(path: Path, arr: np.ndarray, *, palette: bool = False) -> np.ndarray:
    """Write ``arr`` (RGB or grey) and return what a correct reader must give back: the array
    itself for PNG, PIL's decoding for JPEG (lossy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette:
        # grey levels 0/128/255 stored as palette indices 0/1/2 (alphamatting.com trimaps)
        idx = np.searchsorted(np.array([0, 128, 255]), arr).astype(np.uint8)
        im = Image.fromarray(idx)
        im.putpalette(_GREY_PALETTE)
        assert im.mode == "P"
        im.save(path)
        return arr
    Image.fromarray(arr).save(path, quality=95)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB" if arr.ndim == 3 else "L"))
    return arr


def write_label(path: Path, label: np.ndarray) -> np.ndarray:
    """A VOC class map: palette PNG whose indices are the classes (colours irrelevant)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(label)
    im.putpalette([(i * 37) % 256 for i in range(768)])
    im.save(path)
    return label


# ---------------------------------------------------------------------------- tiny trees


@dataclass
class Tree:
    """A fabricated dataset: how to open it and what it must contain."""

    root: Path | None
    expected: dict[str, dict[str, np.ndarray]]  # name -> role -> array
    required: list[Path]  # folders whose removal breaks the layout
    extra: Path | None = None  # folder where an unmatched file breaks the layout
    kwargs: dict[str, Any] = field(default_factory=dict)
    root_required: bool = True  # False for a loader that works without a root folder

    def open(self, name: str, **kw: Any) -> MattingDataset:
        return get_dataset(name, self.root, **{**self.kwargs, **kw})


def _stem_tree(
    root: Path,
    base: Path,
    folders: dict[str, tuple[str, str]],
    names: list[str],
    required: list[str],
    extra: str,
) -> Tree:
    """Images/alphas/trimaps in ``base/<folder>/<name><ext>`` for the matched-by-stem sets."""
    makers = {"image": _rgb, "alpha": _alpha, "trimap": _trimap}
    expected: dict[str, dict[str, np.ndarray]] = {n: {} for n in names}
    for role, (folder, ext) in folders.items():
        for n in names:
            expected[n][role] = write(base / folder / f"{n}{ext}", makers[role]())
    return Tree(root, expected, [base / r for r in required], base / extra)


def build_comp1k(tmp: Path) -> Tree:
    # flattened layout; names with spaces and parentheses, as in the real test set
    fgs = ["beach-747750_1280", "woman-952506_1920 (1)"]
    expected = {}
    for fg in fgs:
        alpha = write(tmp / "alpha" / f"{fg}.png", _alpha())
        fgim = write(tmp / "fg" / f"{fg}.png", _rgb())
        for k in (0, 1):
            n = f"{fg}_{k}"
            expected[n] = {
                "image": write(tmp / "merged" / f"{n}.png", _rgb()),
                "alpha": alpha,
                "trimap": write(tmp / "trimaps" / f"{n}.png", _trimap()),
                "fg": fgim,
            }
    req = [tmp / d for d in ("alpha", "merged", "trimaps")]
    return Tree(tmp, expected, req, tmp / "trimaps")


def build_d646(tmp: Path) -> Tree:
    test = tmp / "Test"
    expected = {}
    for fg in ("Cobweb_1", "Glass Ball"):
        alpha = write(test / "GT" / f"{fg}.png", _alpha())
        fgim = write(test / "FG" / f"{fg}.png", _rgb())
        for k in (0, 1, 2):
            n = f"{fg}_{k}"
            expected[n] = {
                "image": write(test / "merged" / f"{n}.png", _rgb()),
                "alpha": alpha,
                "trimap": write(test / "trimaps" / f"{n}.png", _trimap()),
                "fg": fgim,
            }
    req = [test / d for d in ("FG", "GT", "merged", "trimaps")]
    return Tree(tmp, expected, req, test / "GT")


def build_ppm100(tmp: Path) -> Tree:
    names = ["0001", "0002", "p_3a"]
    folders = {"image": ("image", ".jpg"), "alpha": ("matte", ".png")}
    return _stem_tree(tmp, tmp, folders, names, ["image", "matte"], "matte")


def _p3m(sub: str, img: str) -> Callable[[Path], Tree]:
    def build(tmp: Path) -> Tree:
        base = tmp / "validation" / sub
        folders = {"image": (img, ".jpg"), "alpha": ("mask", ".png"), "trimap": ("trimap", ".png")}
        names = ["p_0a1b2c3d", "p_ff00aa11"]
        return _stem_tree(tmp, base, folders, names, [img, "mask", "trimap"], "mask")

    return build


def build_aim500(tmp: Path) -> Tree:
    folders = {
        "image": ("original", ".jpg"),
        "alpha": ("mask", ".png"),
        "trimap": ("trimap", ".png"),
    }
    (tmp / "usr").mkdir()
    names = ["o_1a2b3c4d", "o_5e6f7a8b", "o_9c0d1e2f"]
    return _stem_tree(tmp, tmp, folders, names, ["original", "mask", "trimap"], "trimap")


def build_am2k(tmp: Path) -> Tree:
    base = tmp / "validation"
    folders = {
        "image": ("original", ".jpg"),
        "alpha": ("mask", ".png"),
        "trimap": ("trimap", ".png"),
    }
    names = ["m_0a6c2018", "m_1b7d3129"]
    return _stem_tree(tmp, base, folders, names, ["original", "mask", "trimap"], "mask")


def build_alphamatting(tmp: Path) -> Tree:
    expected = {}
    for i in (1, 2, 3):
        n = f"GT{i:02d}"
        expected[n] = {
            "image": write(tmp / "input_training_lowres" / f"{n}.png", _rgb()),
            "alpha": write(tmp / "gt_training_lowres" / f"{n}.png", _alpha()),
        }
        tris = tmp / "trimap_training_lowres"
        for s in (1, 2, 3):
            t = write(tris / f"Trimap{s}" / f"{n}.png", _trimap(), palette=True)
            if s == 1:  # the default trimap_set
                expected[n]["trimap"] = t
    req = [tmp / "input_training_lowres", tmp / "gt_training_lowres", tris / "Trimap1"]
    return Tree(tmp, expected, req, tmp / "gt_training_lowres")


def build_alphamatting_test(tmp: Path) -> Tree:
    expected = {}
    for n in ("doll", "troll"):
        expected[n] = {"image": write(tmp / "input_lowres" / f"{n}.png", _rgb())}
        for s in (1, 2, 3):
            t = write(tmp / "trimap_lowres" / f"Trimap{s}" / f"{n}.png", _trimap(), palette=True)
            if s == 1:
                expected[n]["trimap"] = t
    req = [tmp / "input_lowres", tmp / "trimap_lowres" / "Trimap1"]
    return Tree(tmp, expected, req, tmp / "trimap_lowres" / "Trimap1")


def _voc_label() -> np.ndarray:
    lab = _RNG.choice(np.array([0, 1, 15, 20, 255], np.uint8), (H, W))
    return lab


def build_voc2012(tmp: Path) -> Tree:
    base = tmp / "VOCdevkit" / "VOC2012"
    splits = {"train": ["2007_000032"], "val": ["2007_000033", "2007_000042", "2011_003276"]}
    expected = {}
    for split, names in splits.items():
        for n in names:
            e = {
                "image": write(base / "JPEGImages" / f"{n}.jpg", _rgb()),
                "label": write_label(base / "SegmentationClass" / f"{n}.png", _voc_label()),
            }
            if split == "val":
                expected[n] = e
        sets = base / "ImageSets" / "Segmentation"
        sets.mkdir(parents=True, exist_ok=True)
        (sets / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    # an image of the detection set only: in JPEGImages, in no segmentation list
    write(base / "JPEGImages" / "2008_000001.jpg", _rgb())
    req = [base / "JPEGImages", base / "SegmentationClass", base / "ImageSets" / "Segmentation"]
    return Tree(tmp, expected, req, None)


def build_folder(tmp: Path) -> Tree:
    folders = {"image": ("imgs", ".png"), "alpha": ("gts", ".png"), "trimap": ("tris", ".png")}
    tree = _stem_tree(None, tmp, folders, ["a", "b", "c (2)"], ["imgs", "gts", "tris"], "gts")
    tree.kwargs = {"images": tmp / "imgs", "alphas": tmp / "gts", "trimaps": tmp / "tris"}
    return tree


# one builder per registered dataset: it writes a tiny tree in the real layout under the given
# folder and returns a Tree (what to open, what must come out, what to break)
BUILDERS: dict[str, Callable[[Path], Tree]] = {
    "comp1k": build_comp1k,
    "d646": build_d646,
    "ppm100": build_ppm100,
    "p3m500-p": _p3m("P3M-500-P", "blurred_image"),
    "p3m500-np": _p3m("P3M-500-NP", "original_image"),
    "aim500": build_aim500,
    "am2k": build_am2k,
    "alphamatting": build_alphamatting,
    "alphamatting-test": build_alphamatting_test,
    "voc2012": build_voc2012,
    "folder": build_folder,
}

# generated (not read from disk) datasets have their own tests in tests/test_synthetic.py
GENERATED = {"synthetic-portrait", "synthetic-objects"}
# the product's loaders (other test modules may register throw-away datasets)
PRODUCT = [n for n in list_datasets() if DATASETS[n].__module__.startswith("benchmark.")]
ALL = [n for n in PRODUCT if n not in GENERATED]
ROLES = ("image", "alpha", "trimap", "fg", "bg", "label")


def build(name: str, tmp: Path) -> Tree:
    if name not in BUILDERS:
        pytest.fail(f"no tiny-tree builder for dataset {name!r}: add one to BUILDERS in {__file__}")
    tmp.mkdir(parents=True, exist_ok=True)
    return BUILDERS[name](tmp)


def _fname(path: Path) -> str:
    return re.escape(path.name)


# ---------------------------------------------------------------------------- generic checks


def test_every_builder_is_registered():
    """Every registered dataset is covered: by a builder here, or in test_synthetic.py."""
    assert sorted([*BUILDERS, *GENERATED]) == PRODUCT


@pytest.mark.parametrize("name", ALL)
def test_class_attributes(name):
    cls = DATASETS[name]
    assert cls.name == name
    assert cls.evaluation in ("unknown", "whole", "segmentation")
    assert cls.trimap_source in ("provided", "generated", "none")
    assert cls.description and len(cls.description) < 100
    doc = cls.__doc__ or ""
    for section in ("Parameters", "Notes", "Layout", "Naming", "Evaluation"):
        assert section in doc, f"{name}: docstring lacks {section}"


@pytest.mark.parametrize("name", ALL)
def test_names_order_and_contents(name, tmp_path):
    tree = build(name, tmp_path)
    ds = tree.open(name)
    assert ds.names() == sorted(tree.expected)
    assert len(ds) == len(tree.expected)
    samples = list(ds)
    assert [s.name for s in samples] == ds.names()
    for s in samples:
        want = tree.expected[s.name]
        for role in ROLES:
            got = getattr(s, role)
            if role not in want:
                assert got is None, f"{name}/{s.name}: unexpected {role}"
                continue
            assert got is not None, f"{name}/{s.name}: no {role}"
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, want[role], err_msg=f"{name}/{s.name}/{role}")
        assert set(s.meta["files"]) == set(want)
    cfg = ds.config()
    assert cfg["dataset"] == name and cfg["count"] == len(tree.expected)


@pytest.mark.parametrize("name", ALL)
def test_subset_from_list_file(name, tmp_path):
    tree = build(name, tmp_path / "data")
    names = sorted(tree.expected)
    wanted = [names[-1], names[0]]
    lst = tmp_path / "subset.txt"
    lst.write_text(f"# two of them, last first\n{wanted[0]}.png\n\n{wanted[1]}  # first\n")
    ds = tree.open(name, subset=lst)
    assert ds.names() == wanted
    assert [s.name for s in ds] == wanted
    assert tree.open(name, subset=wanted[:1]).names() == wanted[:1]


@pytest.mark.parametrize("name", ALL)
def test_subset_unknown_name(name, tmp_path):
    tree = build(name, tmp_path / "data")
    lst = tmp_path / "subset.txt"
    lst.write_text(f"{sorted(tree.expected)[0]}\nno-such-sample_7\n")
    with pytest.raises(InputError, match="not in the dataset: no-such-sample_7"):
        tree.open(name, subset=lst)


@pytest.mark.parametrize("name", ALL)
def test_load_unknown_name(name, tmp_path):
    ds = build(name, tmp_path).open(name)
    with pytest.raises(InputError, match="no sample named 'nope'"):
        ds.load("nope")


@pytest.mark.parametrize("name", ALL)
def test_missing_folder(name, tmp_path):
    for i, folder in enumerate(build(name, tmp_path / "probe").required):
        tree = build(name, tmp_path / str(i))
        gone = tree.required[i]
        assert gone.name == folder.name
        shutil.rmtree(gone)
        with pytest.raises(InputError, match=_fname(gone)):
            tree.open(name)


@pytest.mark.parametrize("name", ALL)
def test_missing_root(name, tmp_path):
    with pytest.raises(InputError, match="not a directory"):
        get_dataset(name, tmp_path / "nowhere")
    if build(name, tmp_path / "probe").root_required:
        with pytest.raises(InputError):
            get_dataset(name, None)


def _second_role(files: dict[str, str]) -> str:
    return next(r for r in ("alpha", "label", "trimap") if r in files)


@pytest.mark.parametrize("name", ALL)
def test_size_mismatch(name, tmp_path):
    tree = build(name, tmp_path)
    ds = tree.open(name)
    first = ds.names()[0]
    files = ds.load(first).meta["files"]
    role = _second_role(files)
    path = Path(files[role])
    if role == "label":
        write_label(path, np.zeros((H + 1, W), np.uint8))
    else:
        write(path, np.zeros((H + 1, W), np.uint8))
    msg = rf"{_fname(path)}: sizes differ: image {H}x{W}, {role} {H + 1}x{W}"
    with pytest.raises(InputError, match=msg):
        ds.load(first)


@pytest.mark.parametrize("name", ALL)
def test_missing_file_at_scan(name, tmp_path):
    """A sample whose alpha (label, trimap) file is missing: construction fails naming it."""
    tree = build(name, tmp_path)
    first = sorted(tree.expected)[0]
    files = tree.open(name).load(first).meta["files"]
    Path(files[_second_role(files)]).unlink()
    with pytest.raises(InputError, match=re.escape(first)):
        tree.open(name)


@pytest.mark.parametrize("name", ALL)
def test_unmatched_extra_file(name, tmp_path):
    tree = build(name, tmp_path)
    if tree.extra is None:
        pytest.skip(f"{name}: unlisted files are ignored by design")
    write(tree.extra / "zz_orphan (3)_5.png", _alpha())
    with pytest.raises(InputError, match=re.escape("zz_orphan (3)_5.png")):
        tree.open(name)


@pytest.mark.parametrize("name", ALL)
def test_file_deleted_after_scan(name, tmp_path):
    tree = build(name, tmp_path)
    ds = tree.open(name)
    first = ds.names()[0]
    image = Path(ds.load(first).meta["files"]["image"])
    image.unlink()
    with pytest.raises(InputError, match=f"{_fname(image)}: no such file"):
        ds.load(first)


@pytest.mark.parametrize("name", ALL)
def test_undecodable_file(name, tmp_path):
    tree = build(name, tmp_path)
    ds = tree.open(name)
    first = ds.names()[0]
    image = Path(ds.load(first).meta["files"]["image"])
    image.write_bytes(b"not an image")
    with pytest.raises(InputError, match=_fname(image)):
        ds.load(first)


# ---------------------------------------------------------------------------- Composition-1k


def _official_comp1k(tmp: Path, with_merged: bool = True) -> tuple[Path, dict[str, np.ndarray]]:
    test = tmp / "Combined_Dataset" / "Test_set"
    src = test / "Adobe-licensed images"
    images = {}
    for fg in ("retriever-348572_1920 (1)", "ball-597523_1920"):
        write(src / "alpha" / f"{fg}.png", _alpha())
        write(src / "fg" / f"{fg}.png", _rgb())
        for k in range(12):
            n = f"{fg}_{k}"
            write(src / "trimaps" / f"{n}.png", _trimap())
            if with_merged:
                images[n] = write(test / "merged" / f"{n}.png", _rgb())
    return test, images


def test_comp1k_official_layout(tmp_path):
    test, images = _official_comp1k(tmp_path)
    for root in (tmp_path, tmp_path / "Combined_Dataset", test):
        ds = get_dataset("comp1k", root)
        assert ds.names() == sorted(images)
        # string order, as the per-image tables of `mattebench metrics`
        assert ds.names()[:3] == ["ball-597523_1920_0", "ball-597523_1920_1", "ball-597523_1920_10"]
    s = ds.load("retriever-348572_1920 (1)_11")
    np.testing.assert_array_equal(s.image, images["retriever-348572_1920 (1)_11"])
    assert Path(s.meta["files"]["alpha"]).name == "retriever-348572_1920 (1).png"
    assert s.bg is None and s.fg is not None


def test_comp1k_official_layout_merged_elsewhere(tmp_path):
    """Composites written by benchmark.compose to another output root: merged/ and bg/."""
    test, images = _official_comp1k(tmp_path / "data")
    out = tmp_path / "composed"
    shutil.move(test / "merged", out / "merged")
    bgs = {n: write(out / "bg" / f"{n}.png", _rgb()) for n in images}
    with pytest.raises(InputError, match=r"missing folder merged/.*compose_comp1k.*merged=DIR"):
        get_dataset("comp1k", tmp_path / "data")
    for merged in (out, out / "merged"):
        ds = get_dataset("comp1k", tmp_path / "data", merged=merged)
        assert ds.names() == sorted(images)
        s = ds.load("ball-597523_1920_3")
        np.testing.assert_array_equal(s.bg, bgs["ball-597523_1920_3"])
    with pytest.raises(InputError, match="composite folder .*elsewhere does not exist"):
        get_dataset("comp1k", tmp_path / "data", merged=tmp_path / "elsewhere")


def test_comp1k_partial_composites_are_an_error(tmp_path):
    test, _ = _official_comp1k(tmp_path)
    (test / "merged" / "ball-597523_1920_7.png").unlink()
    with pytest.raises(InputError, match=r"1 trimap\(s\) .* no composite .*ball-597523_1920_7.png"):
        get_dataset("comp1k", tmp_path)


def test_comp1k_composite_without_alpha(tmp_path):
    tree = build_comp1k(tmp_path)
    write(tmp_path / "merged" / "lonely_0.png", _rgb())
    write(tmp_path / "trimaps" / "lonely_0.png", _trimap())
    with pytest.raises(
        InputError, match=r"composite\(s\) in .*merged have no alpha .*lonely_0.png"
    ):
        tree.open("comp1k")


def test_comp1k_alpha_copy_and_bg(tmp_path):
    """GCA's alpha_copy/ (per-composite alphas) instead of alpha/, and MMagic's bg/."""
    tree = build_comp1k(tmp_path)
    shutil.rmtree(tmp_path / "alpha")
    bgs = {}
    for n, e in tree.expected.items():
        e["alpha"] = write(tmp_path / "alpha_copy" / f"{n}.png", _alpha())
        e["bg"] = bgs[n] = write(tmp_path / "bg" / f"{n}.png", _rgb())
    ds = tree.open("comp1k")
    for s in ds:
        np.testing.assert_array_equal(s.alpha, tree.expected[s.name]["alpha"])
        np.testing.assert_array_equal(s.bg, bgs[s.name])
    (tmp_path / "bg" / f"{ds.names()[0]}.png").unlink()
    with pytest.raises(InputError, match=r"no background .*" + re.escape(ds.names()[0])):
        tree.open("comp1k")


def test_comp1k_unknown_layout(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(InputError, match="neither the official layout"):
        get_dataset("comp1k", tmp_path)


def test_comp1k_fg_size_mismatch(tmp_path):
    tree = build_comp1k(tmp_path)
    fg = tmp_path / "fg" / "beach-747750_1280.png"
    write(fg, _rgb(H, W + 2))
    with pytest.raises(InputError, match=rf"{_fname(fg)}: sizes differ: .*fg {H}x{W + 2}"):
        tree.open("comp1k").load("beach-747750_1280_1")


# ---------------------------------------------------------------------------- Distinctions-646


def test_d646_without_trimaps_asks_for_them(tmp_path):
    tree = build_d646(tmp_path)
    shutil.move(tmp_path / "Test" / "trimaps", tmp_path / "made")
    with pytest.raises(
        InputError, match=r"missing folder trimaps/ .*ships no test trimaps.*trimaps=DIR"
    ):
        tree.open("d646")
    ds = tree.open("d646", trimaps=tmp_path / "made")
    assert ds.names() == sorted(tree.expected)
    assert ds.trimap_source == "generated"


def test_d646_per_foreground_trimaps_and_test_root(tmp_path):
    build_d646(tmp_path)
    tris = tmp_path / "Test" / "trimaps"
    shutil.rmtree(tris)
    # as benchmark.trimaps.save_trimaps writes them: one per GT alpha, plus its spec
    per_fg = {fg: write(tris / f"{fg}.png", _trimap()) for fg in ("Cobweb_1", "Glass Ball")}
    (tris / "trimap_spec.json").write_text("{}\n")
    ds = get_dataset("d646", tmp_path / "Test")  # root at Test/ itself
    s = ds.load("Glass Ball_2")
    np.testing.assert_array_equal(s.trimap, per_fg["Glass Ball"])


def test_d646_missing_composites(tmp_path):
    tree = build_d646(tmp_path)
    shutil.rmtree(tmp_path / "Test" / "merged")
    with pytest.raises(InputError, match=r"missing folder merged/.*bg_test.txt.*merged=DIR"):
        tree.open("d646")


# ---------------------------------------------------------------------------- trimap-free sets


@pytest.mark.parametrize(
    ("name", "sub", "img", "other"),
    [
        ("p3m500-p", "P3M-500-P", "blurred_image", "original_image"),
        ("p3m500-np", "P3M-500-NP", "original_image", "blurred_image"),
    ],
)
def test_p3m_roots(name, sub, img, other, tmp_path):
    tree = build(name, tmp_path)
    for root in (tmp_path, tmp_path / "validation", tmp_path / "validation" / sub):
        ds = get_dataset(name, root)
        assert ds.names() == sorted(tree.expected)
        assert ds.evaluation == "whole"
        assert ds.load(ds.names()[0]).trimap is not None
    # the other subset's folder: the message says so
    (tmp_path / "validation" / sub / img).rename(tmp_path / "validation" / sub / other)
    with pytest.raises(InputError, match=rf"missing folder {img}/ .*it has {other}/"):
        get_dataset(name, tmp_path)


def test_am2k_root_at_validation(tmp_path):
    tree = build_am2k(tmp_path)
    assert get_dataset("am2k", tmp_path / "validation").names() == sorted(tree.expected)
    (tmp_path / "train" / "original").mkdir(parents=True)  # ignored
    assert get_dataset("am2k", tmp_path).names() == sorted(tree.expected)


def test_ppm100_has_no_trimap(tmp_path):
    tree = build_ppm100(tmp_path)
    ds = tree.open("ppm100")
    assert ds.evaluation == "whole" and ds.trimap_source == "none"
    assert all(s.trimap is None for s in ds)


def test_ppm100_duplicate_stem(tmp_path):
    tree = build_ppm100(tmp_path)
    write(tmp_path / "image" / "0001.png", _rgb())
    with pytest.raises(InputError, match=r"0001.jpg and 0001.png share a name"):
        tree.open("ppm100")


# ---------------------------------------------------------------------------- alphamatting.com


@pytest.mark.parametrize("trimap_set", [1, 2, 3])
def test_alphamatting_trimap_sets(trimap_set, tmp_path):
    tree = build_alphamatting(tmp_path)
    ds = tree.open("alphamatting", trimap_set=trimap_set)
    assert ds.config()["trimap_set"] == trimap_set
    for s in ds:
        f = Path(s.meta["files"]["trimap"])
        assert f.parent.name == f"Trimap{trimap_set}"
        # palette PNG read as its grey levels, not its indices 0/1/2
        with Image.open(f) as im:
            assert im.mode == "P"
        assert set(np.unique(s.trimap)) <= {0, 128, 255}
        np.testing.assert_array_equal(s.trimap, np.asarray(Image.open(f).convert("L")))


@pytest.mark.parametrize("bad", [0, 4, "1", True])
def test_alphamatting_bad_trimap_set(bad, tmp_path):
    tree = build_alphamatting(tmp_path)
    with pytest.raises(InputError, match="trimap_set must be 1, 2 or 3"):
        tree.open("alphamatting", trimap_set=bad)


def test_alphamatting_missing_trimap_set_folder(tmp_path):
    tree = build_alphamatting(tmp_path)
    shutil.rmtree(tmp_path / "trimap_training_lowres" / "Trimap3")
    with pytest.raises(InputError, match=r"missing folder Trimap3/"):
        tree.open("alphamatting", trimap_set=3)


def test_alphamatting_test_has_no_alpha(tmp_path):
    tree = build_alphamatting_test(tmp_path)
    ds = tree.open("alphamatting-test", trimap_set=3)
    assert ds.names() == ["doll", "troll"]
    assert all(s.alpha is None and s.trimap is not None for s in ds)


# ---------------------------------------------------------------------------- VOC 2012


def test_voc_label_is_palette_index(tmp_path):
    tree = build_voc2012(tmp_path)
    ds = tree.open("voc2012")
    s = ds.load("2007_000033")
    assert s.alpha is None and s.trimap is None
    assert set(np.unique(s.label)) <= {0, 1, 15, 20, 255}
    assert (s.label == 255).any()
    # the colours would differ from the indices
    with Image.open(s.meta["files"]["label"]) as im:
        assert not np.array_equal(np.asarray(im.convert("L")), s.label)


@pytest.mark.parametrize("sub", ["", "VOCdevkit", "VOCdevkit/VOC2012"])
def test_voc_roots_and_splits(sub, tmp_path):
    tree = build_voc2012(tmp_path)
    root = tmp_path / sub
    ds = get_dataset("voc2012", root)
    assert ds.names() == sorted(tree.expected)
    assert get_dataset("voc2012", root, split="train").names() == ["2007_000032"]
    assert ds.config()["split"] == "val"


def test_voc_unknown_split(tmp_path):
    build_voc2012(tmp_path)
    with pytest.raises(InputError, match=r"no split file .*test.txt .*available: train, val"):
        get_dataset("voc2012", tmp_path, split="test")


def test_voc_rgb_label_refused(tmp_path):
    tree = build_voc2012(tmp_path)
    p = tmp_path / "VOCdevkit" / "VOC2012" / "SegmentationClass" / "2007_000042.png"
    Image.fromarray(_rgb()).save(p)
    with pytest.raises(InputError, match=r"2007_000042.png is a RGB image"):
        tree.open("voc2012").load("2007_000042")


def test_read_label_missing(tmp_path):
    with pytest.raises(InputError, match="x.png: no such file"):
        read_label(tmp_path / "x.png")


# ---------------------------------------------------------------------------- generic folders


def test_folder_evaluation_default_and_override(tmp_path):
    tree = build_folder(tmp_path)
    ds = tree.open("folder")
    assert ds.evaluation == "unknown" and ds.trimap_source == "provided"
    ds = get_dataset("folder", None, images=tmp_path / "imgs", alphas=tmp_path / "gts")
    assert ds.evaluation == "whole" and ds.trimap_source == "none"
    assert ds.config()["folders"]["trimap"] is None
    assert all(s.trimap is None for s in ds)
    ds = tree.open("folder", evaluation="whole")
    assert ds.evaluation == "whole" and ds.load("a").trimap is not None
    # the class default is untouched by an instance
    assert DATASETS["folder"].evaluation == "unknown"


def test_folder_unknown_needs_trimaps(tmp_path):
    build_folder(tmp_path)
    with pytest.raises(InputError, match="pass trimaps=DIR"):
        get_dataset(
            "folder", None, images=tmp_path / "imgs", alphas=tmp_path / "gts", evaluation="unknown"
        )
    with pytest.raises(InputError, match="evaluation must be"):
        get_dataset("folder", tmp_path, evaluation="segmentation")


def test_folder_relative_to_root_and_defaults(tmp_path):
    tree = build_folder(tmp_path)
    ds = get_dataset("folder", tmp_path, images="imgs", alphas="gts")
    assert ds.names() == sorted(tree.expected)
    (tmp_path / "imgs").rename(tmp_path / "images")
    (tmp_path / "gts").rename(tmp_path / "alpha")
    (tmp_path / "tris").rename(tmp_path / "trimaps")
    ds = get_dataset("folder", tmp_path)
    assert ds.names() == sorted(tree.expected) and ds.evaluation == "unknown"
    with pytest.raises(InputError, match="pass root, or the image folder"):
        get_dataset("folder", None, alphas=tmp_path / "alpha")


def test_folder_comp1k_style_names(tmp_path):
    alpha = write(tmp_path / "gt" / "cat (1).png", _alpha())
    for k in (0, 1):
        write(tmp_path / "img" / f"cat (1)_{k}.png", _rgb())
    ds = get_dataset("folder", None, images=tmp_path / "img", alphas=tmp_path / "gt")
    assert ds.names() == ["cat (1)_0", "cat (1)_1"]
    np.testing.assert_array_equal(ds.load("cat (1)_1").alpha, alpha)
