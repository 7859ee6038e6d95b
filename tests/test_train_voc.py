"""The VOC 2012 + SBD-aug training set (benchmark.datasets.train_voc) on a fabricated tiny tree
in the real layout: both list formats, semseg's augmentation (determinism, shapes, padding,
flip consistency) and every bad-data case failing with the file named."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmark.datasets.train_voc import (
    IGNORE_LABEL,
    SemsegAugment,
    Stream,
    VOCAugTrain,
    read_train_list,
)
from metrics.common import InputError

IDS = ["2007_000032", "2007_000039", "2008_000002"]
H, W = 40, 50
#: the colour boundary: columns < EDGE are red (class 1), the rest blue (class 2); a multiple
#: of 16 so JPEG's 2x chroma subsampling does not bleed across it
EDGE = 32


def _write_pair(base: Path, name: str, shape: tuple[int, int] = (H, W)) -> None:
    h, w = shape
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, :EDGE] = (255, 0, 0)
    rgb[:, EDGE:] = (0, 0, 255)
    cv2.imwrite(str(base / "JPEGImages" / f"{name}.jpg"), rgb[..., ::-1].copy())
    label = np.full((h, w), 2, np.uint8)
    label[:, :EDGE] = 1
    label[:2] = IGNORE_LABEL  # a void border row, as VOC has
    Image.fromarray(label, mode="L").save(base / "SegmentationClassAug" / f"{name}.png")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``tmp_path/VOCdevkit/VOC2012`` with 3 pairs and both list formats."""
    base = tmp_path / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClassAug", "ImageSets/Segmentation", "list"):
        (base / d).mkdir(parents=True)
    for n in IDS:
        _write_pair(base, n)
    (base / "ImageSets/Segmentation/train_aug.txt").write_text("\n".join(IDS) + "\n\n")
    (base / "list/train_aug.txt").write_text(
        "".join(f"JPEGImages/{n}.jpg SegmentationClassAug/{n}.png\n" for n in IDS)
    )
    return tmp_path


def _plain(crop: int | tuple[int, int], flip_p: float = 0.5) -> SemsegAugment:
    """Scale 1, no rotation, no blur: pixels move only by flip, pad and crop."""
    return SemsegAugment(crop=crop, scale=(1.0, 1.0), rotate_p=0.0, blur_p=0.0, flip_p=flip_p)


def test_both_list_formats_give_the_same_pairs(tree: Path) -> None:
    base = tree / "VOCdevkit" / "VOC2012"
    ids = VOCAugTrain(tree, crop=17)  # found: ImageSets/Segmentation/train_aug.txt
    two = VOCAugTrain(tree, crop=17, list_file="list/train_aug.txt")
    assert ids.list_file.name == two.list_file.name == "train_aug.txt"
    assert ids.pairs == two.pairs == read_train_list(base / "list/train_aug.txt", base)
    assert len(ids) == 3 and ids.name(2) == IDS[2]
    # DeepLab's leading "/" and a root that is the VOC2012 folder itself
    (base / "deeplab.txt").write_text(
        "".join(f"/JPEGImages/{n}.jpg /SegmentationClassAug/{n}.png\n" for n in IDS)
    )
    assert VOCAugTrain(base, crop=17, list_file=base / "deeplab.txt").pairs == ids.pairs
    ids.validate(full=True)


def test_shapes_dtypes_and_determinism(tree: Path) -> None:
    ds = VOCAugTrain(tree, crop=(25, 33), seed=3)
    a, b = ds[1], ds[1]
    assert set(a) == {"image", "label"}
    assert a["image"].shape == (3, 25, 33) and a["image"].dtype == np.float32
    assert a["label"].shape == (25, 33) and a["label"].dtype == np.int64
    assert set(np.unique(a["label"])) <= {1, 2, IGNORE_LABEL}
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # a copy in another process (DataLoader worker) gives the same sample
    c = pickle.loads(pickle.dumps(ds))[1]
    assert all(np.array_equal(a[k], c[k]) for k in a)
    # another seed, another epoch: other draws
    other = VOCAugTrain(tree, crop=(25, 33), seed=4)[1]
    ds.set_epoch(1)
    assert not np.array_equal(a["image"], other["image"])
    assert not np.array_equal(a["image"], ds[1]["image"])
    # the stream: position p is sample order[p % n] of epoch p // n, the same as ds[i]
    for p in (0, 4):
        index, epoch = ds.locate(p)
        assert epoch == p // 3
        ds.set_epoch(epoch)
        d, e = ds.draw(p), ds[index]
        assert all(np.array_equal(d[k], e[k]) for k in d)
        assert np.array_equal(Stream(ds)[p]["label"], d["label"])
    assert sorted(ds.locate(p)[0] for p in range(3)) == [0, 1, 2]


def test_padding_is_mean_and_ignore(tree: Path) -> None:
    """A crop larger than the image at the largest scale (2 x 40 = 80 rows, 100 columns)
    pads at least 20 rows / 10 columns on each side: label 255, normalised image 0."""
    ds = VOCAugTrain(tree, crop=121, seed=0)
    for i in range(len(ds)):
        s = ds[i]
        assert (s["label"][:20] == IGNORE_LABEL).all() and (s["label"][-20:] == 255).all()
        assert (s["label"][:, :10] == IGNORE_LABEL).all()
        assert np.abs(s["image"][:, :20]).max() < 1e-5
        assert np.abs(s["image"][:, :, -10:]).max() < 1e-5
    raw = VOCAugTrain(tree, augment=SemsegAugment(crop=121, normalise=False))[0]["image"]
    assert np.allclose(raw[:, 0, 0], [0.485, 0.456, 0.406], atol=1e-6)
    assert raw.max() <= 1.0 + 1e-6


def test_flip_moves_image_and_label_together(tree: Path) -> None:
    never = VOCAugTrain(tree, augment=_plain((H, W), flip_p=0.0))[0]
    always = VOCAugTrain(tree, augment=_plain((H, W), flip_p=1.0))[0]
    assert np.array_equal(always["label"], never["label"][:, ::-1])
    assert np.allclose(always["image"], never["image"][:, :, ::-1])
    # over random flips and crops, the red pixels are class 1 and the blue ones class 2
    ds = VOCAugTrain(tree, augment=_plain(33))
    red_left = set()
    for p in range(12):
        s = ds.draw(p)
        red = s["image"][0] > s["image"][2]
        lab = s["label"]
        assert (lab[red] != 2).all() and (lab[~red] != 1).all()
        red_left.add(bool(red[:, 0].all()))
    assert red_left == {True, False}  # both flip outcomes occurred


def test_val_transform_is_a_centre_crop(tree: Path) -> None:
    ds = VOCAugTrain(tree, augment=SemsegAugment(crop=(H - 10, W - 10), train=False))
    ds2 = VOCAugTrain(tree, augment=SemsegAugment(crop=(H - 10, W - 10), train=False), seed=9)
    image, label = ds.load(0)
    assert np.array_equal(ds[0]["label"], label[5:-5, 5:-5])
    assert np.array_equal(ds2[0]["image"], ds[0]["image"])


# -- bad data ---------------------------------------------------------------------------------
def _base(tree: Path) -> Path:
    return tree / "VOCdevkit" / "VOC2012"


def test_missing_files_are_named(tree: Path) -> None:
    (_base(tree) / "JPEGImages" / f"{IDS[1]}.jpg").unlink()
    with pytest.raises(InputError, match=f"image file.*{IDS[1]}.jpg"):
        VOCAugTrain(tree, crop=17)
    _write_pair(_base(tree), IDS[1])
    (_base(tree) / "SegmentationClassAug" / f"{IDS[2]}.png").unlink()
    with pytest.raises(InputError, match=f"label file.*{IDS[2]}.png"):
        VOCAugTrain(tree, crop=17, list_file="list/train_aug.txt")


def test_size_mismatch_is_named(tree: Path) -> None:
    label = np.ones((H, W + 1), np.uint8)
    Image.fromarray(label).save(_base(tree) / "SegmentationClassAug" / f"{IDS[0]}.png")
    ds = VOCAugTrain(tree, crop=17)
    with pytest.raises(InputError, match=rf"{IDS[0]}.png: sizes 40x51 \(label\) vs 40x50"):
        ds.validate()
    with pytest.raises(InputError, match=rf"{IDS[0]}.png: sizes"):
        ds[0]


def test_label_values_outside_the_classes_are_named(tree: Path) -> None:
    label = np.full((H, W), 30, np.uint8)
    label[0, 0] = 254
    Image.fromarray(label).save(_base(tree) / "SegmentationClassAug" / f"{IDS[2]}.png")
    ds = VOCAugTrain(tree, crop=17)
    ds.validate()  # header level: values are not read
    with pytest.raises(InputError, match=rf"{IDS[2]}.png: label values \[30, 254\]"):
        ds.validate(full=True)
    with pytest.raises(InputError, match=rf"{IDS[2]}.png: label values"):
        ds[2]


def test_rgb_label_is_named(tree: Path) -> None:
    rgb = np.zeros((H, W, 3), np.uint8)
    Image.fromarray(rgb).save(_base(tree) / "SegmentationClassAug" / f"{IDS[1]}.png")
    with pytest.raises(InputError, match=f"{IDS[1]}.png: a RGB image"):
        VOCAugTrain(tree, crop=17).validate()


def test_corrupt_files_are_named(tree: Path) -> None:
    base = _base(tree)
    jpg = base / "JPEGImages" / f"{IDS[0]}.jpg"
    data = jpg.read_bytes()
    jpg.write_bytes(data[: data.index(b"\xff\xda") + 20])  # cut after the scan header
    ds = VOCAugTrain(tree, crop=17)
    ds.validate()
    with pytest.raises(InputError, match=f"{IDS[0]}.jpg: cannot be decoded.*truncated"):
        ds.validate(full=True)
    jpg.write_bytes(b"not a jpeg at all")
    with pytest.raises(InputError, match=f"{IDS[0]}.jpg: cannot be decoded"):
        ds.validate()
    with pytest.raises(InputError, match=f"{IDS[0]}.jpg"):
        ds[0]
    jpg.write_bytes(data)
    (base / "SegmentationClassAug" / f"{IDS[1]}.png").write_bytes(b"\x89PNG\r\n\x1a\n junk")
    with pytest.raises(InputError, match=f"{IDS[1]}.png: cannot be decoded"):
        ds.validate()


def test_bad_lists_and_layouts_are_named(tree: Path) -> None:
    base = _base(tree)
    (base / "bad.txt").write_text(f"{IDS[0]}\na b c\n")
    with pytest.raises(InputError, match=r"bad.txt line 2: expected"):
        VOCAugTrain(tree, crop=17, list_file="bad.txt")
    (base / "empty.txt").write_text("\n")
    with pytest.raises(InputError, match="empty.txt: the list is empty"):
        VOCAugTrain(tree, crop=17, list_file="empty.txt")
    with pytest.raises(InputError, match="nope.txt not found"):
        VOCAugTrain(tree, crop=17, list_file="nope.txt")
    (base / "ImageSets/Segmentation/train_aug.txt").unlink()
    (base / "list/train_aug.txt").unlink()
    with pytest.raises(InputError, match="no train_aug list; looked for .*train_aug.txt"):
        VOCAugTrain(tree, crop=17)
    with pytest.raises(InputError, match="no JPEGImages/"):
        VOCAugTrain(base / "list", crop=17)
    with pytest.raises(InputError, match="not both"):
        VOCAugTrain(tree, crop=17, augment=SemsegAugment(crop=17))
