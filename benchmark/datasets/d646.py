"""Distinctions-646 test set (50 foregrounds x 20 VOC backgrounds)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmark.datasets._common import (
    StemDataset,
    composites_dir,
    find_dir,
    given_dir,
    optional_dir,
)
from benchmark.datasets.base import register_dataset
from metrics import InputError

__all__ = ["D646"]


@register_dataset("d646")
class D646(StemDataset):
    """Distinctions-646 test set (Qiao et al., "Attention-Guided Hierarchical Structure
    Aggregation for Image Matting", CVPR 2020).

    Parameters
    ----------
    root
        The unpacked ``Distinctions-646`` folder (holding ``Test/``), or its ``Test/`` folder.
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).
    merged
        Optional folder of the composites, overriding ``Test/merged/``; the output root of
        :func:`benchmark.compose.compose_d646` (holding ``merged/``) works too.
    trimaps
        Optional folder of trimaps, overriding ``Test/trimaps/`` (for instance the output of
        :func:`benchmark.trimaps.save_trimaps`, one trimap per GT alpha).

    Notes
    -----
    **Layout accepted** (``root/Test/``, or ``root`` itself when it holds ``FG/``)::

        Test/FG/<fg>.png           50 foregrounds
        Test/GT/<fg>.png           50 GT alphas, same stems as FG/
        Test/merged/<fg>_<k>.png   composites over the VOC backgrounds of Test/bg_test.txt
                                   (20 per foreground; benchmark.compose.compose_d646)
        Test/trimaps/<name>.png    trimaps, per composite (<fg>_<k>) or per foreground (<fg>)
        Test/bg/<fg>_<k>.png       cropped backgrounds (optional; read from the bg/ folder
                                   beside the composites folder)

    Lower-case ``fg/`` and ``gt/`` are accepted too. The archive (``Distinctions-646.rar``)
    ships ``Train/{FG,GT}`` (596), ``Test/{FG,GT}`` (50) and the background name lists, but
    **no composites and no test trimaps** (ViTMatte issue #15: the random-erosion trimaps
    behind published numbers were never released). The composites must be made first; the
    trimaps must be generated (or passed as ``trimaps=``), otherwise construction fails.

    **Naming.** Samples are the composites' stems ``<fg>_<k>``; alpha and foreground are
    ``<fg>``. Every composite needs a GT and a trimap; every GT, foreground and trimap needs a
    composite.

    **Evaluation.** ``"unknown"``: the DIM metrics on the ``trimap == 128`` pixels of the
    generated trimaps, the Composition-1k protocol that papers apply to D646 with their own
    (unreleased) trimaps; numbers are therefore comparable only between runs on the same
    trimaps. Some papers report whole-image metrics instead (``datasets-and-peers.md``
    sections 1.2 and 1.11).
    """

    evaluation = "unknown"
    trimap_source = "generated"
    description = "Distinctions-646 test set: 50 foregrounds x 20 VOC backgrounds (1000)"
    _what = {
        "image": "composite",
        "alpha": "GT alpha",
        "trimap": "trimap",
        "fg": "foreground",
        "bg": "background",
    }
    _allow_base = True

    def __init__(
        self,
        root: str | Path | None,
        *,
        subset: str | Path | Sequence[str] | None = None,
        merged: str | Path | None = None,
        trimaps: str | Path | None = None,
    ) -> None:
        self.merged = Path(merged) if merged is not None else None
        self.trimaps = Path(trimaps) if trimaps is not None else None
        super().__init__(root, subset=subset)

    def _dirs(self) -> dict[str, Path | None]:
        root = self._need_root()
        test = root if optional_dir(root, ["FG", "fg"]) is not None else root / "Test"
        if not test.is_dir():
            raise InputError(f"{self.name}: missing folder Test/ in {root}")
        merged = composites_dir(
            self.merged,
            test / "merged",
            self.name,
            hint=": composite the 50 test foregrounds over the VOC backgrounds of "
            "Test/bg_test.txt first (benchmark.compose.compose_d646), or pass merged=DIR",
        )
        if self.trimaps is not None:
            trimaps = given_dir(self.trimaps, self.name, "trimap")
        else:
            trimaps = find_dir(
                test,
                ["trimaps"],
                self.name,
                hint=": Distinctions-646 ships no test trimaps; generate them from Test/GT "
                "(benchmark.trimaps.save_trimaps) into that folder, or pass trimaps=DIR",
            )
        return {
            "image": merged,
            "alpha": find_dir(test, ["GT", "gt"], self.name),
            "trimap": trimaps,
            "fg": find_dir(test, ["FG", "fg"], self.name),
            "bg": optional_dir(merged.parent, ["bg"]),
        }
