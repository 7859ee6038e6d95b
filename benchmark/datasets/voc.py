"""PASCAL VOC 2012 semantic segmentation (the segmentation track)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.datasets._common import READERS, FileDataset, find_dir, preview
from benchmark.datasets.base import register_dataset
from metrics import InputError

__all__ = ["VOC2012", "read_label"]


def read_label(path: str | Path) -> np.ndarray:
    """Read a VOC class map: the palette *indices* of a palette PNG, as ``uint8`` HxW.

    The label PNGs of ``SegmentationClass/`` are palette images whose index is the class (0
    background, 1-20 the classes, 255 the void border); their colours only draw it. Reading
    them as RGB (OpenCV does) would return the colours, so they are read with PIL. A
    single-channel (``L``) PNG is taken as indices too.

    Raises
    ------
    InputError
        If the file is missing, unreadable, or neither a palette nor a grey 8-bit image.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        with Image.open(p) as im:
            if im.mode not in ("P", "L"):
                raise InputError(
                    f"{p.name} is a {im.mode} image; VOC class maps are palette PNGs whose "
                    f"indices are the classes ({p})"
                )
            return np.array(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"{p.name}: cannot be decoded as an image ({p}): {e}") from None


@register_dataset("voc2012")
class VOC2012(FileDataset):
    """PASCAL VOC 2012 semantic segmentation (Everingham et al., "The PASCAL Visual Object
    Classes Challenge", IJCV 2010), for the segmentation track.

    Parameters
    ----------
    root
        The folder holding ``VOCdevkit/``, the ``VOCdevkit/`` folder, or ``VOC2012/`` itself.
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).
    split
        The list in ``ImageSets/Segmentation/``: ``"val"`` (default; 1449 images),
        ``"train"`` or ``"trainval"``.

    Notes
    -----
    **Layout accepted** (``VOCtrainval_11-May-2012.tar`` unpacked; torchvision's
    ``VOCSegmentation`` reads the same)::

        root/VOCdevkit/VOC2012/JPEGImages/<name>.jpg
        root/VOCdevkit/VOC2012/SegmentationClass/<name>.png
        root/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval}.txt

    **Naming.** The split file lists the names (``2007_000033``); each needs
    ``JPEGImages/<name>.jpg`` and ``SegmentationClass/<name>.png``. Other files in those
    folders (the other splits, the detection-only images) are ignored.

    **Labels.** ``Sample.label`` is the class map: the palette index of each pixel of the
    palette PNG (0 background, 1-20 classes, 255 void/border, ignored by mIoU), read with PIL
    (:func:`read_label`); ``alpha`` and ``trimap`` are ``None``.

    **Evaluation.** ``"segmentation"``: mean IoU over the 21 classes with the 255 pixels
    ignored (:mod:`metrics.miou`, ``ignore_index=255``), the VOC protocol.
    """

    evaluation = "segmentation"
    trimap_source = "none"
    description = "PASCAL VOC 2012 segmentation (val by default): images + class maps"
    readers: ClassVar[dict[str, Callable[[Path], np.ndarray]]] = {
        **READERS,
        "label": read_label,
    }

    def __init__(
        self,
        root: str | Path | None,
        *,
        subset: str | Path | Sequence[str] | None = None,
        split: str = "val",
    ) -> None:
        self.split = split
        super().__init__(root, subset=subset)

    def _base(self) -> Path:
        root = self._need_root()
        for d in (root / "VOCdevkit" / "VOC2012", root / "VOC2012", root):
            if (d / "JPEGImages").is_dir() or (d / "ImageSets").is_dir():
                return d
        raise InputError(
            f"{self.name}: {root} holds neither VOCdevkit/VOC2012/ nor VOC2012/ nor "
            "JPEGImages/, SegmentationClass/, ImageSets/"
        )

    def _find_files(self) -> dict[str, dict[str, Path]]:
        base = self._base()
        images = find_dir(base, ["JPEGImages"], self.name)
        labels = find_dir(base, ["SegmentationClass"], self.name)
        sets = find_dir(base / "ImageSets", ["Segmentation"], self.name)
        list_file = sets / f"{self.split}.txt"
        if not list_file.is_file():
            have = sorted(p.stem for p in sets.glob("*.txt"))
            raise InputError(
                f"{self.name}: no split file {list_file} (split={self.split!r}; available: "
                f"{', '.join(have) or 'none'})"
            )
        names = [n.strip() for n in list_file.read_text().splitlines() if n.strip()]
        files = {n: {"image": images / f"{n}.jpg", "label": labels / f"{n}.png"} for n in names}
        for role in ("image", "label"):
            missing = [f[role].name for f in files.values() if not f[role].is_file()]
            if missing:
                raise InputError(
                    f"{self.name}: {len(missing)} {role} file(s) of {list_file.name} missing "
                    f"in {files[names[0]][role].parent}: {preview(missing)}"
                )
        return files

    def config(self) -> dict[str, Any]:
        return {**super().config(), "split": self.split}
