"""alphamatting.com (Rhemann et al.): the 27 training images with GT, and the 8 test images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from benchmark.datasets._common import StemDataset, find_dir
from benchmark.datasets.base import register_dataset
from metrics import InputError

__all__ = ["AlphaMatting", "AlphaMattingTest"]


class _AlphaMattingBase(StemDataset):
    """Shared by the training and test sets: folder names and the ``trimap_set`` keyword."""

    _input: ClassVar[str] = ""
    _trimap: ClassVar[str] = ""
    _gt: ClassVar[str | None] = None
    evaluation = "unknown"
    trimap_source = "provided"
    _what = {"image": "input image", "alpha": "GT alpha", "trimap": "trimap"}

    def __init__(
        self,
        root: str | Path | None,
        *,
        subset: str | Path | Sequence[str] | None = None,
        trimap_set: int = 1,
    ) -> None:
        if trimap_set not in (1, 2, 3) or isinstance(trimap_set, bool):
            raise InputError(f"{self.name}: trimap_set must be 1, 2 or 3, not {trimap_set!r}")
        self.trimap_set = int(trimap_set)
        super().__init__(root, subset=subset)

    def _dirs(self) -> dict[str, Path | None]:
        root = self._need_root()
        trimaps = find_dir(root, [self._trimap], self.name)
        return {
            "image": find_dir(root, [self._input], self.name),
            "alpha": find_dir(root, [self._gt], self.name) if self._gt else None,
            "trimap": find_dir(trimaps, [f"Trimap{self.trimap_set}"], self.name),
        }

    def config(self) -> dict[str, Any]:
        return {**super().config(), "trimap_set": self.trimap_set}


@register_dataset("alphamatting")
class AlphaMatting(_AlphaMattingBase):
    """alphamatting.com training set, the 27 images with public GT (Rhemann et al., "A
    Perceptually Motivated Online Benchmark for Image Matting", CVPR 2009).

    Parameters
    ----------
    root
        The folder holding the three unpacked training archives (low resolution).
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).
    trimap_set
        Which trimap folder: 1 (default), 2 or 3 (``Trimap3`` is the "user" trimap).

    Notes
    -----
    **Layout accepted** (the archives ``input_training_lowres.zip``, ``gt_training_lowres.zip``
    and ``trimap_training_lowres.zip``, each unpacked into a folder of its name)::

        root/input_training_lowres/GT01.png ... GT27.png
        root/gt_training_lowres/GT01.png ... GT27.png
        root/trimap_training_lowres/Trimap1/GT01.png ... GT27.png   (and Trimap2/, Trimap3/)

    **Naming.** The three files of a sample share their stem (``GT01`` ... ``GT27``); every
    input needs a GT and a trimap of the chosen set, and every GT and trimap an input. The
    trimaps are palette PNGs whose colours are the grey levels 0 / 128 / 255; they are read as
    those grey levels (:func:`metrics.common.read_grey`), not as palette indices.

    **Evaluation.** ``"unknown"``: the DIM metrics on the ``trimap == 128`` pixels of the
    chosen trimap set; local evaluation on the training GT is how pymatting's benchmark uses
    this set (``datasets-and-peers.md`` section 1.8). The high-resolution archives are not
    handled.
    """

    _input = "input_training_lowres"
    _gt = "gt_training_lowres"
    _trimap = "trimap_training_lowres"
    description = "alphamatting.com training set: 27 images with GT alpha, Trimap1|2|3"


@register_dataset("alphamatting-test")
class AlphaMattingTest(_AlphaMattingBase):
    """alphamatting.com test set: 8 images whose GT is hidden (for submission predictions).

    Parameters
    ----------
    root
        The folder holding the unpacked test archives (low resolution).
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).
    trimap_set
        Which trimap folder: 1 (default), 2 or 3 (``Trimap3`` is the "user" trimap).

    Notes
    -----
    **Layout accepted**::

        root/input_lowres/<name>.png               doll, donkey, elephant, net, pineapple,
                                                   plant, plasticbag, troll
        root/trimap_lowres/Trimap{1,2,3}/<name>.png   palette PNGs, grey levels 0 / 128 / 255

    **Naming.** Input and trimap share a stem; every input needs a trimap of the chosen set and
    every trimap an input.

    **Evaluation.** None locally: the GT is not public and scoring is by online submission at
    alphamatting.com (``datasets-and-peers.md`` section 1.8). Samples have ``alpha = None``;
    this dataset exists to produce the predictions to submit. ``evaluation`` is ``"unknown"``
    because the online benchmark scores the unknown region of these trimaps.
    """

    _input = "input_lowres"
    _gt = None
    _trimap = "trimap_lowres"
    description = "alphamatting.com test set: 8 images, Trimap1|2|3, no GT (for submission)"
