"""PASCAL VOC 2012 + SBD "aug" segmentation training set (10582 images), augmented as
hszhao/semseg trains PSPNet on VOC.

The training set of PSPNet-50 on VOC (hszhao/semseg README, "PASCAL VOC 2012": "train on
train_aug (10582 images) and test on val (1449 images)") is the VOC 2012 ``train`` split plus
the Semantic Boundaries Dataset (Hariharan et al., ICCV 2011) annotations, converted to 8-bit
class-index PNGs (``SegmentationClassAug/``) and minus the VOC ``val`` images.

Public names
------------
:class:`VOCAugTrain`
    the dataset: ``len(ds)``, ``ds[i]`` (one augmented sample), :meth:`~VOCAugTrain.draw`
    (the sample at a position of the seeded endless stream, for step-resumable training),
    :meth:`~VOCAugTrain.load` (the raw pair), :meth:`~VOCAugTrain.validate`.
:class:`SemsegAugment`
    the augmentation (semseg's ``train_transform``; ``train=False`` gives its ``val_transform``).
:class:`Stream`
    a map-style view ``Stream(ds)[p] == ds.draw(p)``, for a ``DataLoader`` with workers.
:func:`read_train_list`
    the (image, label) paths of a list file, in either of the two formats below.

Neither class imports torch: samples are numpy arrays, which torch's default ``collate_fn``
stacks into tensors (``image`` N x 3 x H x W float32, ``label`` N x H x W int64), and both
pickle (plain attributes only) for ``DataLoader`` workers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.datasets._common import preview
from benchmark.datasets.voc import read_label
from metrics.common import InputError, read_rgb

__all__ = [
    "VOCAugTrain",
    "SemsegAugment",
    "Stream",
    "read_train_list",
    "SEMSEG_MEAN",
    "SEMSEG_STD",
    "NUM_CLASSES",
    "IGNORE_LABEL",
    "TRAIN_AUG_SIZE",
]

#: semseg ``tool/train.py``: ``value_scale = 255; mean = [0.485, 0.456, 0.406]``, scaled by 255
#: (RGB order; the images are converted BGR -> RGB on reading). The ImageNet mean of
#: :data:`baselines.models.adapters.IMAGENET_MEAN`, x 255.
SEMSEG_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
#: semseg ``tool/train.py``: ``std = [0.229, 0.224, 0.225]``, scaled by 255.
SEMSEG_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
#: VOC: background + 20 classes (semseg ``config/voc2012/voc2012_pspnet50.yaml``: ``classes: 21``)
NUM_CLASSES = 21
#: void / border / padding label, ignored by the loss (the yaml's ``ignore_label: 255``)
IGNORE_LABEL = 255
#: images in the usual ``train_aug`` list (semseg README)
TRAIN_AUG_SIZE = 10582

#: where a list is looked for when ``list_file`` is not given, relative to the VOC2012 folder
#: (the folder holding ``JPEGImages/``) and then to ``root``
_LIST_CANDIDATES = (
    "ImageSets/Segmentation/train_aug.txt",
    "list/train_aug.txt",
    "list/voc2012/train_aug.txt",
    "train_aug.txt",
)


def _pair(v: int | Sequence[int], what: str) -> tuple[int, int]:
    h, w = (v, v) if isinstance(v, int | np.integer) else tuple(v)
    if int(h) < 1 or int(w) < 1:
        raise InputError(f"{what} must be positive, got {v!r}")
    return int(h), int(w)


@dataclass(frozen=True)
class SemsegAugment:
    """hszhao/semseg's PSPNet training transform, step for step, driven by a numpy Generator.

    Sources: ``tool/train.py`` lines 188-201 (the ``train_transform``) and ``util/transform.py``
    (each class), hszhao/semseg @ 4f274c3; values from ``config/voc2012/voc2012_pspnet50.yaml``
    (``train_h/train_w: 473``, ``scale_min/max: 0.5/2.0``, ``rotate_min/max: -10/10``,
    ``ignore_label: 255``). The input is the image as semseg reads it (``cv2.imread`` then
    ``BGR2RGB`` then ``np.float32``: float32 RGB in 0-255) and the label as uint8 class
    indices. In order:

    1. **RandScale([0.5, 2.0])** (``transform.py`` l. 95-105) -- ``s = 0.5 + 1.5 u``;
       image ``cv2.resize(fx=s, fy=s, INTER_LINEAR)``, label the same with ``INTER_NEAREST``
       (no aspect-ratio jitter: semseg passes none).
    2. **RandRotate([-10, 10], padding=mean, ignore_label=255)**, p = 0.5 (l. 186-193) --
       angle ``-10 + 20 u`` degrees about ``(w / 2, h / 2)`` (``cv2.getRotationMatrix2D``,
       scale 1), ``cv2.warpAffine`` to the same size: image ``INTER_LINEAR`` with border value
       the mean pixel, label ``INTER_NEAREST`` with border value 255.
    3. **RandomGaussianBlur()**, p = 0.5 (l. 222-225) -- ``cv2.GaussianBlur(image, (5, 5),
       0)`` (radius 5, sigma from the kernel size: 1.1); the label is untouched.
    4. **RandomHorizontalFlip()**, p = 0.5 (l. 200-204) -- ``cv2.flip(., 1)`` on both.
    5. **Crop([473, 473], crop_type='rand', padding=mean, ignore_label=255)** (l. 145-165) --
       a side shorter than the crop is padded (``cv2.copyMakeBorder``, constant; ``pad // 2``
       before, the rest after) with the mean pixel and label 255; then a crop at offsets
       drawn uniformly from ``0 .. h - crop_h`` and ``0 .. w - crop_w`` inclusive
       (``random.randint``).
    6. **ToTensor()** (l. 24-41) -- HWC -> CHW float32 image, int64 label.
    7. **Normalize(mean, std)** (l. 54-61) with the ImageNet mean/std x 255
       (:data:`SEMSEG_MEAN`, :data:`SEMSEG_STD`): ``(x - mean) / std``; padded pixels
       become 0.

    ``train=False`` is semseg's ``val_transform`` instead: Crop with ``crop_type='center'``
    (offsets ``int((h - crop_h) / 2)``), ToTensor, Normalize.

    Differences from semseg, all deliberate
    ---------------------------------------
    * Randomness comes from the ``numpy.random.Generator`` passed in, not Python's global
      ``random``: the same generator state gives the same sample in any process, so training
      is reproducible and resumable by step (semseg's is not). Every call draws the same
      numbers in the same order whatever the coin flips say -- scale, rotate coin, angle, blur
      coin, flip coin, crop row, crop column -- so the probabilities can be changed (tests
      switch steps off) without shifting the later draws.
    * ``normalise=False`` skips step 7 and returns ``x / 255`` instead (padding = the ImageNet
      mean in ``[0, 1]``), the form MatteBench's training loop feeds PSPNet, whose adapter
      normalises with the same mean and std (equal up to float32 rounding).
    * ``rotate_p``, ``blur_p``, ``flip_p``, ``scale`` and ``rotate`` are parameters (semseg
      fixes the probabilities at 0.5); ``scale`` may be a single value ``(s, s)``.

    Parameters
    ----------
    crop
        ``(h, w)`` or one side (semseg 473; PSPNet needs sides ``8k + 1``, which is not
        enforced here so tests can use tiny crops).
    """

    crop: tuple[int, int] = (473, 473)
    scale: tuple[float, float] = (0.5, 2.0)
    rotate: tuple[float, float] = (-10.0, 10.0)
    rotate_p: float = 0.5
    blur_radius: int = 5
    blur_p: float = 0.5
    flip_p: float = 0.5
    train: bool = True
    normalise: bool = True
    ignore_label: int = IGNORE_LABEL

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop", _pair(self.crop, "crop"))
        lo, hi = (float(v) for v in self.scale)
        if not 0 < lo <= hi:
            raise InputError(f"scale must satisfy 0 < min <= max, got {self.scale!r}")
        object.__setattr__(self, "scale", (lo, hi))
        object.__setattr__(self, "rotate", tuple(float(v) for v in self.rotate))

    def __call__(
        self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augment one pair: ``image`` HxWx3 (uint8 or float32, RGB, 0-255), ``label`` HxW
        uint8. Returns ``(image 3 x ch x cw float32, label ch x cw int64)``."""
        img = np.asarray(image, dtype=np.float32)
        lab = np.asarray(label, dtype=np.uint8)
        mean = [float(m) for m in SEMSEG_MEAN]
        if self.train:
            u_scale, u_rot, u_angle, u_blur, u_flip = rng.random(5)
            # 1. RandScale (util/transform.py RandScale.__call__)
            s = self.scale[0] + (self.scale[1] - self.scale[0]) * u_scale
            img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
            lab = cv2.resize(lab, None, fx=s, fy=s, interpolation=cv2.INTER_NEAREST)
            # 2. RandRotate (RandRotate.__call__)
            if u_rot < self.rotate_p:
                angle = self.rotate[0] + (self.rotate[1] - self.rotate[0]) * u_angle
                h, w = lab.shape
                m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1)
                img = cv2.warpAffine(
                    img,
                    m,
                    (w, h),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT,
                    borderValue=mean,
                )
                lab = cv2.warpAffine(
                    lab,
                    m,
                    (w, h),
                    flags=cv2.INTER_NEAREST,
                    borderMode=cv2.BORDER_CONSTANT,
                    borderValue=self.ignore_label,
                )
            # 3. RandomGaussianBlur (RandomGaussianBlur.__call__)
            if u_blur < self.blur_p:
                img = cv2.GaussianBlur(img, (self.blur_radius, self.blur_radius), 0)
            # 4. RandomHorizontalFlip (RandomHorizontalFlip.__call__)
            if u_flip < self.flip_p:
                img = cv2.flip(img, 1)
                lab = cv2.flip(lab, 1)
        # 5. Crop (Crop.__call__): pad with the mean / ignore label, then rand or center crop
        ch, cw = self.crop
        h, w = lab.shape
        ph, pw = max(ch - h, 0), max(cw - w, 0)
        if ph > 0 or pw > 0:
            top, left = ph // 2, pw // 2
            border = (top, ph - top, left, pw - left)
            img = cv2.copyMakeBorder(img, *border, cv2.BORDER_CONSTANT, value=mean)
            lab = cv2.copyMakeBorder(lab, *border, cv2.BORDER_CONSTANT, value=self.ignore_label)
        h, w = lab.shape
        if self.train:
            y = int(rng.integers(0, h - ch + 1))
            x = int(rng.integers(0, w - cw + 1))
        else:
            y, x = (h - ch) // 2, (w - cw) // 2
        img = img[y : y + ch, x : x + cw]
        lab = lab[y : y + ch, x : x + cw]
        # 6. ToTensor (HWC -> CHW float32, label int64); 7. Normalize
        if img.ndim == 2:  # cv2 drops a channel axis of size 1 only; kept for safety
            img = img[..., None]
        chw = np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)
        if self.normalise:
            chw -= np.asarray(SEMSEG_MEAN, np.float32)[:, None, None]
            chw /= np.asarray(SEMSEG_STD, np.float32)[:, None, None]
        else:
            chw /= np.float32(255.0)
        return chw, lab.astype(np.int64)


def _strip(entry: str) -> str:
    """A list path relative to the VOC2012 folder (DeepLab lists start with ``/``)."""
    return entry.lstrip("/\\")


def read_train_list(
    list_file: str | Path, base: str | Path, label_dir: str = "SegmentationClassAug"
) -> list[tuple[Path, Path]]:
    """The (image, label) paths of a training list, in either format.

    * **Two columns** (hszhao/semseg ``list/voc2012/train_aug.txt``; DeepLab lists with a
      leading ``/``): ``JPEGImages/2007_000032.jpg SegmentationClassAug/2007_000032.png``, each
      path relative to ``base`` (the VOC2012 folder, semseg's ``data_root``).
    * **Bare ids** (``ImageSets/Segmentation/train_aug.txt`` of the SBD-aug recipes): one
      name a line, read as ``base/JPEGImages/<id>.jpg`` and ``base/<label_dir>/<id>.png``.

    Blank lines are skipped; the format is decided per line.

    Raises
    ------
    InputError
        Naming the list file and the line: a line of three or more fields, or an empty list.
    """
    lf, base = Path(list_file), Path(base)
    if not lf.is_file():
        raise InputError(f"{lf}: no such list file")
    pairs = []
    for no, line in enumerate(lf.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) == 1:
            name = fields[0]
            pairs.append((base / "JPEGImages" / f"{name}.jpg", base / label_dir / f"{name}.png"))
        elif len(fields) == 2:
            pairs.append((base / _strip(fields[0]), base / _strip(fields[1])))
        else:
            raise InputError(
                f"{lf.name} line {no}: expected 'image label' or a bare id, got {line!r} ({lf})"
            )
    if not pairs:
        raise InputError(f"{lf}: the list is empty")
    return pairs


@functools.lru_cache(maxsize=8)
def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The visiting order of the ``n`` samples in ``epoch`` (cached: one per epoch)."""
    return np.random.default_rng([int(seed), int(epoch), 7]).permutation(n)


class VOCAugTrain:
    """PASCAL VOC 2012 + SBD ``train_aug`` (10582 images), for training PSPNet.

    Parameters
    ----------
    root
        The folder holding ``VOCdevkit/``, the ``VOCdevkit/`` folder, or the VOC2012 folder
        itself (any folder with ``JPEGImages/``: semseg's ``data_root``).
    list_file
        The training list (either format of :func:`read_train_list`). If not given, the first
        of ``ImageSets/Segmentation/train_aug.txt``, ``list/train_aug.txt``,
        ``list/voc2012/train_aug.txt``, ``train_aug.txt`` found in the VOC2012 folder, then
        in ``root``. A relative path is taken from the working directory if it exists there,
        else from the VOC2012 folder.
    crop, normalise
        Shortcuts for ``SemsegAugment(crop=crop, normalise=normalise)`` (default 473 and
        ``True``); give them or ``augment``, not both.
    augment
        The transform (:class:`SemsegAugment`; ``train=False`` for semseg's val transform).
    seed
        Seeds every random draw: sample ``i`` of epoch ``e`` is augmented with
        ``numpy.random.default_rng([seed, e, i])``.
    label_dir
        The label folder of bare-id lists.

    Notes
    -----
    **Layout** (VOC 2012 trainval tar + the SBD-aug PNGs, as the DeepLab / semseg recipes
    unpack them)::

        root/VOCdevkit/VOC2012/JPEGImages/<id>.jpg
        root/VOCdevkit/VOC2012/SegmentationClassAug/<id>.png   8-bit, 0-20 and 255
        root/VOCdevkit/VOC2012/ImageSets/Segmentation/train_aug.txt   bare ids, or
        root/VOCdevkit/VOC2012/list/train_aug.txt   two columns (semseg)

    **Reading.** The image with :func:`metrics.common.read_rgb` (OpenCV, RGB, as semseg's
    ``cv2.imread`` + ``BGR2RGB``); the label with :func:`benchmark.datasets.voc.read_label`
    (PIL: the indices of an ``L`` or palette PNG; semseg's ``cv2.imread(IMREAD_GRAYSCALE)``
    reads the same for the ``L`` PNGs of ``SegmentationClassAug``, but would read a palette
    PNG's grey-converted colours). Each read checks the sizes agree and the label holds only
    0-20 and 255, raising :class:`~metrics.common.InputError` naming the file.

    **Checks.** Construction reads the list and checks every listed file exists (a few
    milliseconds per thousand); :meth:`validate` checks headers, sizes and modes, and with
    ``full=True`` decodes everything.

    **Samples.** ``ds[i]`` is ``{"image": 3 x ch x cw float32, "label": ch x cw int64}``,
    augmented with the generator of ``(seed, ds.epoch, i)`` (:meth:`set_epoch`).
    :meth:`draw` gives the samples of an endless stream instead -- position ``p`` is
    sample ``order[p % n]`` of epoch ``p // n``, the order a seeded permutation per epoch --
    so a training step ``s`` of batch ``b`` can take positions ``s * b .. s * b + b - 1``
    and resume at any step without sampler state (as :func:`benchmark.training.make_batch`
    does for the synthetic data).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        list_file: str | Path | None = None,
        crop: int | Sequence[int] | None = None,
        normalise: bool | None = None,
        augment: SemsegAugment | None = None,
        seed: int = 0,
        label_dir: str = "SegmentationClassAug",
    ) -> None:
        if augment is not None and (crop is not None or normalise is not None):
            raise InputError("give crop and normalise inside augment=SemsegAugment(...), not both")
        if augment is None:
            augment = SemsegAugment(
                crop=_pair(473 if crop is None else crop, "crop"),
                normalise=True if normalise is None else normalise,
            )
        self.root = Path(root)
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self.label_dir = label_dir
        self.base = self._find_base()
        self.list_file = self._find_list(list_file)
        self.pairs = read_train_list(self.list_file, self.base, label_dir)
        self._check_exist()

    # -- layout -------------------------------------------------------------------------
    def _find_base(self) -> Path:
        if not self.root.is_dir():
            raise InputError(f"voc-aug: root {self.root} is not a folder")
        for d in (self.root / "VOCdevkit" / "VOC2012", self.root / "VOC2012", self.root):
            if (d / "JPEGImages").is_dir():
                return d
        raise InputError(
            f"voc-aug: no JPEGImages/ in {self.root}, {self.root}/VOC2012 or "
            f"{self.root}/VOCdevkit/VOC2012"
        )

    def _find_list(self, list_file: str | Path | None) -> Path:
        if list_file is not None:
            p = Path(list_file)
            if not p.is_absolute() and not p.is_file():
                p = self.base / p
            if not p.is_file():
                raise InputError(f"voc-aug: list file {list_file} not found (nor in {self.base})")
            return p
        tried = []
        for parent in dict.fromkeys((self.base, self.root)):
            for rel in _LIST_CANDIDATES:
                tried.append(parent / rel)
                if tried[-1].is_file():
                    return tried[-1]
        raise InputError(
            "voc-aug: no train_aug list; looked for " + ", ".join(str(t) for t in tried)
        )

    def _check_exist(self) -> None:
        for role, k in (("image", 0), ("label", 1)):
            missing = [str(p[k]) for p in self.pairs if not p[k].is_file()]
            if missing:
                raise InputError(
                    f"voc-aug: {len(missing)} {role} file(s) of {self.list_file} missing: "
                    f"{preview(missing)}"
                )

    # -- samples ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.pairs)

    def name(self, index: int) -> str:
        """The id of sample ``index`` (the image file's stem)."""
        return self.pairs[index][0].stem

    def set_epoch(self, epoch: int) -> None:
        """Which epoch's draws ``ds[i]`` uses (like ``DistributedSampler.set_epoch``; a
        ``DataLoader`` with ``persistent_workers`` keeps the workers' copies unchanged)."""
        self.epoch = int(epoch)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw pair: image HxWx3 uint8 RGB, label HxW uint8 (checked: same size, values
        0-20 and 255)."""
        img_path, lab_path = self.pairs[index]
        image = read_rgb(img_path)
        label = read_label(lab_path)
        if image.shape[:2] != label.shape:
            raise InputError(
                f"{lab_path.name}: sizes {label.shape[0]}x{label.shape[1]} (label) vs "
                f"{image.shape[0]}x{image.shape[1]} ({img_path.name}) ({lab_path})"
            )
        _check_values(label, lab_path)
        return image, label

    def sample(self, index: int, epoch: int) -> dict[str, np.ndarray]:
        """Sample ``index`` augmented with the draws of ``(seed, epoch, index)``."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        image, label = self.load(index)
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        img, lab = self.augment(image, label, rng)
        return {"image": img, "label": lab}

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return self.sample(int(index), self.epoch)

    def locate(self, position: int) -> tuple[int, int]:
        """``(index, epoch)`` of stream position ``position`` (see :meth:`draw`)."""
        epoch, at = divmod(int(position), len(self))
        return int(_epoch_order(self.seed, epoch, len(self))[at]), epoch

    def draw(self, position: int) -> dict[str, np.ndarray]:
        """The sample at ``position`` of the endless seeded stream: epoch ``position // n``
        visits the samples in a permutation drawn from ``(seed, epoch)``."""
        index, epoch = self.locate(position)
        return self.sample(index, epoch)

    # -- checks -------------------------------------------------------------------------
    def validate(self, *, full: bool = False, workers: int | None = None) -> None:
        """Check every listed pair before a long run.

        Default (header level; no pixel is decoded): both files exist; both open as images
        (PIL reads the header); the label is an ``L`` or palette PNG; image and label sizes
        agree. ``full=True`` also decodes every file (a truncated JPEG or PNG fails) and checks
        the label values are 0-20 or 255. Files are checked by ``workers`` threads (default
        ``min(8, cpu count)``).

        Raises
        ------
        InputError
            Listing the bad files (up to five, then a count), each with its problem.
        """
        n = workers or min(8, os.cpu_count() or 1)
        check = functools.partial(_check_pair, full=full)
        with ThreadPoolExecutor(max_workers=n) as pool:
            problems = [p for p in pool.map(check, self.pairs) if p]
        if problems:
            raise InputError(
                f"voc-aug: {len(problems)} bad pair(s) in {self.list_file}: "
                + "; ".join(problems[:5])
                + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
            )

    def config(self) -> dict[str, Any]:
        """What a run records: where the data came from and how it was augmented."""
        return {
            "dataset": "voc-aug",
            "root": str(self.root),
            "list_file": str(self.list_file),
            "n": len(self),
            "seed": self.seed,
            "augment": asdict(self.augment),
        }

    def __repr__(self) -> str:
        return f"VOCAugTrain({str(self.root)!r}, n={len(self)}, crop={self.augment.crop})"


class Stream:
    """Map-style view of :meth:`VOCAugTrain.draw`: ``Stream(ds)[p] == ds.draw(p)``.

    For a ``DataLoader`` with workers that resumes at step ``s``:
    ``DataLoader(Stream(ds), batch_size=b, sampler=range(s * b, steps * b), num_workers=k)``.
    """

    def __init__(self, dataset: VOCAugTrain) -> None:
        self.dataset = dataset

    def __getitem__(self, position: int) -> dict[str, np.ndarray]:
        return self.dataset.draw(position)


def _check_values(label: np.ndarray, path: Path, num_classes: int = NUM_CLASSES) -> None:
    bad = (label >= num_classes) & (label != IGNORE_LABEL)
    if bad.any():
        vals = sorted(int(v) for v in np.unique(label[bad]))
        raise InputError(
            f"{path.name}: label values {vals[:10]} outside 0-{num_classes - 1} and "
            f"{IGNORE_LABEL} ({path})"
        )


def _header(path: Path, full: bool) -> tuple[tuple[int, int], str]:
    """``(size (w, h), mode)`` from the header; ``full`` decodes the pixels too."""
    with Image.open(path) as im:
        if full:
            im.load()
        return im.size, im.mode


def _check_pair(pair: tuple[Path, Path], *, full: bool) -> str | None:
    """The problem of one pair (naming the file), or ``None``."""
    img_path, lab_path = pair
    for p in pair:
        if not p.is_file():
            return f"{p}: no such file"
    try:
        (iw, ih), _ = _header(img_path, full)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        return f"{img_path}: cannot be decoded as an image ({e})"
    try:
        (lw, lh), mode = _header(lab_path, False)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        return f"{lab_path}: cannot be decoded as an image ({e})"
    if mode not in ("P", "L"):
        return f"{lab_path}: a {mode} image; labels are 8-bit class-index PNGs (L or palette)"
    if (iw, ih) != (lw, lh):
        return f"{lab_path}: sizes {lh}x{lw} (label) vs {ih}x{iw} ({img_path.name})"
    if full:
        try:
            _check_values(read_label(lab_path), lab_path)
        except InputError as e:
            return str(e) if str(lab_path) in str(e) else f"{lab_path}: {e}"
    return None
