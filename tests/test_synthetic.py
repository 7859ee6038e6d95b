"""The synthetic datasets (``benchmark/datasets/synthetic.py``): determinism, the disk cache,
exactness of the composite, trimaps, and the shapes the generator promises.

Everything runs on small samples (a few images of <= 96 px) in ``tmp_path`` cache folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.datasets import synthetic as syn
from benchmark.datasets.base import get_dataset
from metrics import InputError

REPO = Path(__file__).resolve().parents[1]
PARTS = ("image", "alpha", "trimap", "fg", "bg")
SMALL = {"count": 4, "size": 96}


def _arrays(ds: syn._SyntheticDataset) -> dict[str, dict[str, np.ndarray]]:
    return {n: {p: getattr(s, p) for p in PARTS} for n in ds.names() for s in [ds.load(n)]}


def _assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for n in a:
        for p in PARTS:
            assert np.array_equal(a[n][p], b[n][p]), (n, p)
            assert a[n][p].dtype == np.uint8


@pytest.fixture(scope="module")
def portraits(tmp_path_factory: pytest.TempPathFactory) -> syn.SyntheticPortraits:
    return syn.SyntheticPortraits(cache_dir=tmp_path_factory.mktemp("cache"), **SMALL)


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> syn.SyntheticObjects:
    # 5 samples: one of each primary object type
    return syn.SyntheticObjects(cache_dir=tmp_path_factory.mktemp("cache"), count=5, size=96)


@pytest.fixture(scope="module")
def all_samples(portraits, objects) -> list:
    return [portraits.load(n) for n in portraits.names()] + [
        objects.load(n) for n in objects.names()
    ]


# ----------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", ["synthetic-portrait", "synthetic-objects"])
def test_registered(name: str, tmp_path: Path) -> None:
    ds = get_dataset(name, cache_dir=tmp_path, count=2, size=48)
    assert ds.evaluation == "unknown" and ds.trimap_source == "generated"
    prefix = "portrait" if name.endswith("portrait") else "object"
    assert ds.names() == [f"{prefix}_0000", f"{prefix}_0001"]
    cfg = ds.config()
    assert cfg["dataset"] == name and cfg["count"] == 2 and cfg["size"] == 48
    assert Path(cfg["folder"]).parent == tmp_path / "synthetic"


# ----------------------------------------------------------------------------- determinism


def test_determinism_fresh_caches(tmp_path: Path, portraits: syn.SyntheticPortraits) -> None:
    again = syn.SyntheticPortraits(cache_dir=tmp_path, **SMALL)
    assert again.generated == again.names()  # really generated, not read from the fixture
    _assert_same(_arrays(portraits), _arrays(again))
    # the PNG files too are byte-identical
    for n in again.names():
        for p in PARTS:
            a = (portraits.folder / p / f"{n}.png").read_bytes()
            assert a == (again.folder / p / f"{n}.png").read_bytes()


def test_determinism_other_process(portraits: syn.SyntheticPortraits) -> None:
    """Another interpreter, another hash seed, OpenCV on one thread: identical bytes."""
    code = (
        "import cv2, hashlib, sys\n"
        "cv2.setNumThreads(1)\n"
        "from benchmark.datasets.synthetic import generate_sample\n"
        "for kind in ('portrait', 'objects'):\n"
        "    s = generate_sample(kind, 1, size=96)\n"
        "    print(hashlib.sha256(b''.join(getattr(s, p).tobytes() for p in "
        "('image', 'alpha', 'trimap', 'fg', 'bg'))).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    mine = []
    for kind in ("portrait", "objects"):
        s = syn.generate_sample(kind, 1, size=96)
        mine.append(hashlib.sha256(b"".join(getattr(s, p).tobytes() for p in PARTS)).hexdigest())
    assert out == mine
    # ... and equal to what the dataset cached
    cached = portraits.load("portrait_0001")
    fresh = syn.generate_sample("portrait", 1, size=96)
    for p in PARTS:
        assert np.array_equal(getattr(cached, p), getattr(fresh, p))


def test_count_is_a_prefix_and_splits_differ(tmp_path: Path, portraits) -> None:
    two = syn.SyntheticPortraits(cache_dir=tmp_path, count=2, size=96)
    a, b = _arrays(two), _arrays(portraits)
    _assert_same(a, {n: b[n] for n in a})
    val = syn.SyntheticPortraits(cache_dir=tmp_path, count=2, size=96, split="val")
    other = syn.SyntheticPortraits(cache_dir=tmp_path, count=2, size=96, seed=1)
    for ds in (val, other):
        s = ds.load("portrait_0000")
        assert not np.array_equal(s.alpha, portraits.load("portrait_0000").alpha)
    assert len({two.folder, val.folder, other.folder}) == 3


def test_training_sample() -> None:
    a = syn.training_sample("portrait", 7, size=64, seed=3)
    b = syn.training_sample("synthetic-portrait", 7, size=64, seed=3)
    assert a.name == "portrait_train_0000007"
    for p in PARTS:
        assert np.array_equal(getattr(a, p), getattr(b, p))
    assert a.meta["split"] == "train"
    test7 = syn.generate_sample("portrait", 7, size=64, seed=3, split="test")
    assert not np.array_equal(a.alpha, test7.alpha)
    o = syn.training_sample("objects", 0, size=64)
    assert o.name == "object_train_0000000" and max(o.alpha.shape) == 64


# ----------------------------------------------------------------------------- cache


def _mtimes(ds: syn._SyntheticDataset) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in sorted(ds.folder.rglob("*")) if p.is_file()}


def test_second_instance_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = syn.SyntheticObjects(cache_dir=tmp_path, count=3, size=64)
    assert first.generated == first.names()
    before = _mtimes(first)
    assert len(before) == 3 * 6 + 1  # five PNGs and a JSON per sample, and the manifest

    def boom(*a, **k):
        raise AssertionError("regenerated a cached sample")

    monkeypatch.setattr(syn, "generate_sample", boom)
    second = syn.SyntheticObjects(cache_dir=tmp_path, count=3, size=64)
    assert second.generated == [] and second.folder == first.folder
    loaded = _arrays(second)
    assert _mtimes(second) == before
    monkeypatch.undo()
    _assert_same(loaded, _arrays(first))


def test_meta(portraits: syn.SyntheticPortraits) -> None:
    s = portraits.load("portrait_0002")
    m = s.meta
    assert m["kind"] == "portrait" and m["index"] == 2 and m["split"] == "test"
    assert (m["height"], m["width"]) == s.alpha.shape and max(s.alpha.shape) == 96
    assert m["version"] == syn.GENERATOR_VERSION and m["seed"] == 0 and m["size"] == 96
    assert [layer["type"] for layer in m["layers"]][:3] == ["body", "hair_cap", "hair_strands"]
    assert m["bg_source"].split(":")[0] in ("photo", "texture")
    assert set(m["files"]) == set(PARTS)
    json.dumps(m)  # plain JSON values only


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "meta"])
def test_corrupted_entry_is_regenerated(tmp_path: Path, damage: str) -> None:
    ds = syn.SyntheticPortraits(cache_dir=tmp_path, count=2, size=48)
    good = _arrays(ds)
    alpha = ds.folder / "alpha" / "portrait_0001.png"
    if damage == "truncate":
        alpha.write_bytes(alpha.read_bytes()[:40])
    elif damage == "flip":  # same size, different content: found by the hash at load time
        data = bytearray(alpha.read_bytes())
        data[len(data) // 2] ^= 0xFF
        alpha.write_bytes(bytes(data))
    elif damage == "delete":
        alpha.unlink()
    else:
        (ds.folder / "meta" / "portrait_0001.json").write_text("{not json")
    again = syn.SyntheticPortraits(cache_dir=tmp_path, count=2, size=48)
    expect_at_init = [] if damage == "flip" else ["portrait_0001"]
    assert again.generated == expect_at_init
    _assert_same(_arrays(again), good)
    assert again.generated == ["portrait_0001"]
    assert syn.SyntheticPortraits(cache_dir=tmp_path, count=2, size=48).generated == []


def test_root_is_a_generated_folder(tmp_path: Path) -> None:
    ds = syn.SyntheticPortraits(cache_dir=tmp_path, count=2, size=48, seed=5)
    byroot = get_dataset("synthetic-portrait", ds.folder)  # parameters come from the folder
    assert (byroot.count, byroot.size, byroot.seed, byroot.generated) == (2, 48, 5, [])
    _assert_same(_arrays(byroot), _arrays(ds))
    with pytest.raises(InputError, match="size=64 but .* generated with size=48"):
        syn.SyntheticPortraits(ds.folder, size=64)
    with pytest.raises(InputError, match="kind 'portrait'"):
        syn.SyntheticObjects(ds.folder)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    with pytest.raises(InputError, match="neither a generated synthetic dataset"):
        syn.SyntheticPortraits(other)
    empty = tmp_path / "empty"
    empty.mkdir()
    made = syn.SyntheticPortraits(empty, count=1, size=48, seed=5)
    assert made.folder == empty and (empty / "synthetic.json").is_file()
    assert np.array_equal(made.load("portrait_0000").image, ds.load("portrait_0000").image)


def test_default_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATTEBENCH_CACHE", str(tmp_path / "c"))
    assert syn.default_cache_dir() == tmp_path / "c"
    ds = syn.SyntheticObjects(count=1, size=40)
    assert ds.folder == tmp_path / "c" / "synthetic" / "objects-v1-test-n1-s40-seed0"
    monkeypatch.delenv("MATTEBENCH_CACHE")
    assert syn.default_cache_dir() == Path.home() / ".cache" / "mattebench"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 16}, "size must be"),
        ({"count": 0}, "count must be"),
        ({"split": "train"}, "split must be"),
        ({"seed": -1}, "seed must be"),
    ],
)
def test_bad_parameters(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        syn.SyntheticPortraits(cache_dir=tmp_path, **kwargs)


def test_unknown_names(portraits: syn.SyntheticPortraits, tmp_path: Path) -> None:
    for bad in ("portrait_0004", "portrait_4", "object_0000", "x"):
        with pytest.raises(InputError, match="no sample named"):
            portraits.load(bad)
    with pytest.raises(InputError, match="unknown kind"):
        syn.training_sample("people", 0, size=48)
    sub = syn.SyntheticPortraits(cache_dir=tmp_path, count=4, size=48, subset=["portrait_0002"])
    assert sub.names() == ["portrait_0002"] and sub.generated == ["portrait_0002"]


# ----------------------------------------------------------------------------- content


def _reference_composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Literal per-pixel port of the DIM composition loop (Python floats)."""
    out = np.zeros_like(fg)
    for i in range(alpha.shape[0]):
        for j in range(alpha.shape[1]):
            a = int(alpha[i, j]) / 255
            for c in range(3):
                f, b = int(fg[i, j, c]), int(bg[i, j, c])
                if a >= 1:
                    out[i, j, c] = f
                elif a == 0:
                    out[i, j, c] = b
                else:
                    out[i, j, c] = int(a * f + (1 - a) * b)
    return out


def test_composite_is_the_official_formula(all_samples) -> None:
    rng = np.random.default_rng(0)
    fg = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    alpha = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(syn.composite(fg, bg, alpha), _reference_composite(fg, bg, alpha))
    # every generated image is exactly its fg/bg/alpha composited (vectorised check) ...
    for s in all_samples:
        assert np.array_equal(s.image, syn.composite(s.fg, s.bg, s.alpha)), s.name
    # ... and, on the soft pixels of one sample, equal to the per-pixel loop
    s = all_samples[0]
    ys, xs = np.nonzero((s.alpha > 0) & (s.alpha < 255))
    ys, xs = ys[:300], xs[:300]
    ref = _reference_composite(s.fg[ys, xs][None], s.bg[ys, xs][None], s.alpha[ys, xs][None])
    assert np.array_equal(s.image[ys, xs][None], ref)


def test_trimap_covers_all_soft_pixels(all_samples) -> None:
    for s in all_samples:
        a, t = s.alpha, s.trimap
        assert t.dtype == np.uint8 and set(np.unique(t).tolist()) <= {0, 128, 255}
        soft = (a > 0) & (a < 255)
        assert np.all(t[soft] == 128), s.name
        assert np.all(a[t == 255] == 255) and np.all(a[t == 0] == 0)
        assert s.name.startswith("object") or (t == 255).any()
        assert (t == 128).mean() < 0.8
        assert np.array_equal(t, syn.trimap_from_alpha(a)), s.name


def test_trimap_band_width() -> None:
    a = np.zeros((101, 101), np.uint8)
    a[:, 50:] = 255
    t = syn.trimap_from_alpha(a, radius=3)
    assert np.all(t[:, 47:53] == 128) and np.all(t[:, :47] == 0) and np.all(t[:, 53:] == 255)
    assert syn.trimap_radius(512, 400) == 8 and syn.trimap_radius(40, 30) == 2


def test_alpha_has_soft_pixels_and_fg(all_samples) -> None:
    for s in all_samples:
        a = s.alpha
        soft = ((a > 0) & (a < 255)).mean()
        assert 0.01 < soft < 0.8, (s.name, soft)
        assert (a == 0).mean() > 0.05, s.name
        assert (s.image.shape, s.fg.shape, s.bg.shape) == ((*a.shape, 3),) * 3
        # foreground and background really differ under the matte
        m = a > 128
        assert np.abs(s.fg[m].astype(int) - s.bg[m].astype(int)).mean() > 10, s.name


def _ridge_pixels(alpha: np.ndarray, step: int = 20) -> int:
    """Pixels brighter by >= ``step`` than both neighbours across a row or a column: the
    centre line of a structure 1-2 px wide (a hair strand, a twig, a net thread)."""
    a = alpha.astype(int)
    p = np.pad(a, 1, mode="edge")
    across_x = (a >= p[1:-1, :-2] + step) & (a >= p[1:-1, 2:] + step)
    across_y = (a >= p[:-2, 1:-1] + step) & (a >= p[2:, 1:-1] + step)
    return int((across_x | across_y).sum())


def test_portraits_have_thin_and_translucent_structures(portraits) -> None:
    for n in portraits.names():
        s = portraits.load(n)
        assert _ridge_pixels(s.alpha) >= 30, (n, _ridge_pixels(s.alpha))
        assert s.meta["strands"] >= 150
        mid = ((s.alpha >= 60) & (s.alpha <= 200)).mean()
        assert mid > 0.002, n
    flat = np.zeros((20, 20), np.uint8)
    flat[5:15, 5:15] = 255
    assert _ridge_pixels(flat) == 0
    flat[10, :] = 128
    assert _ridge_pixels(flat) == 10


def test_object_types(objects) -> None:
    kinds = [objects.load(n).meta["objects"][0] for n in objects.names()]
    assert kinds == ["blob", "ring", "branches", "net", "glass"]
    assert _ridge_pixels(objects.load("object_0002").alpha) >= 30  # twigs
    glass = objects.load("object_0004")
    # a translucent body: a sizeable region of alpha well inside (0, 1)
    assert ((glass.alpha > 15) & (glass.alpha < 130)).mean() > 0.05


def test_sizes(tmp_path: Path) -> None:
    ds = syn.SyntheticObjects(cache_dir=tmp_path, count=6, size=80)
    assert len(ds) == 6
    shapes = [ds.load(n).alpha.shape for n in ds.names()]
    assert all(max(sh) == 80 and min(sh) >= 60 for sh in shapes)
    assert len(set(shapes)) > 1  # the aspect varies


def test_coverage_is_an_exact_count() -> None:
    r = syn._Raster(13, 17)
    m = r.new()
    r.fill(m, syn._ellipse(8.3, 6.1, 5.2, 3.7, 0.4))
    r.lines(m, [np.array([[0.0, 0.0], [16.5, 12.9]])], 3)
    ss = syn.SUPERSAMPLING
    count = (m > 0).reshape(13, ss, 17, ss).sum(axis=(1, 3))
    assert np.array_equal(r.coverage(m) * ss * ss, count)
