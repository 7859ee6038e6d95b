"""Composition-1k: the Adobe Deep Image Matting test set (50 foregrounds x 20 VOC backgrounds)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmark.datasets._common import StemDataset, composites_dir, find_dir, optional_dir
from benchmark.datasets.base import register_dataset
from metrics import InputError

__all__ = ["Comp1k"]

_OFFICIAL = "Adobe-licensed images"


@register_dataset("comp1k")
class Comp1k(StemDataset):
    """Composition-1k test set (Xu et al., "Deep Image Matting", CVPR 2017).

    Parameters
    ----------
    root
        The dataset folder, in one of the two layouts below.
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).
    merged
        Optional folder of the composites, overriding the default location; the output root
        of :func:`benchmark.compose.compose_comp1k` (holding ``merged/``) works too.

    Notes
    -----
    **Layouts accepted.**

    (a) Flattened (IndexNet / GCA style), ``root`` holding::

            alpha/<fg>.png          50 GT alphas, one per foreground
            fg/<fg>.png             50 foregrounds (optional)
            merged/<fg>_<k>.png     1000 composites, k = 0..19
            trimaps/<fg>_<k>.png    1000 trimaps, one per composite
            bg/<fg>_<k>.png         cropped backgrounds (optional)

    (b) Official, as distributed by Adobe, ``root`` holding
        ``Combined_Dataset/Test_set/Adobe-licensed images/{alpha,fg,trimaps}/`` (``root`` may
        also be ``Combined_Dataset/`` or ``Test_set/`` itself), with the composites in
        ``Test_set/merged/`` (where MMagic's ``preprocess_comp1k_dataset.py`` writes them, and
        :func:`benchmark.compose.compose_comp1k` with ``out_dir=Test_set``) or in the folder
        given as ``merged=``.

    In both layouts the optional cropped backgrounds are read from the ``bg/`` folder beside
    the composites folder (where MMagic and :mod:`benchmark.compose` write them).

    **Naming.** The composites define the samples: a sample is named by its composite's stem
    ``<fg>_<k>``. Its trimap, background (and a per-composite alpha) have the same stem; its
    alpha and foreground are ``<fg>`` (the stem with ``_<k>`` removed). Per-composite alphas
    (GCA's ``alpha_copy/``, 1000 files ``<fg>_<k>.png``) are accepted in ``alpha/`` as well, and
    ``alpha_copy/`` is used when ``alpha/`` is absent. Names may contain spaces and parentheses
    (``woman-952506_1920 (1)_3``). Names are sorted as strings (``x_10`` before ``x_2``), like
    the per-image tables of ``mattebench metrics``.

    Every composite needs an alpha and a trimap, every trimap and alpha a composite: a partial
    set of composites or trimaps is an error, never a silently smaller test set.

    **Evaluation.** ``"unknown"``: SAD, MSE, Grad and Conn over the ``trimap == 128`` pixels of
    the official trimaps, as in Adobe's MATLAB evaluation code used by the DIM, IndexNet, GCA
    and ViTMatte papers (see ``datasets-and-peers.md`` sections 1.1 and 2.1).
    """

    evaluation = "unknown"
    trimap_source = "provided"
    description = "Composition-1k test set: 50 Adobe foregrounds x 20 VOC backgrounds (1000)"
    _what = {
        "image": "composite",
        "alpha": "alpha",
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
    ) -> None:
        self.merged = Path(merged) if merged is not None else None
        super().__init__(root, subset=subset)

    def _dirs(self) -> dict[str, Path | None]:
        root = self._need_root()
        test = next(
            (
                d
                for d in (root / "Combined_Dataset" / "Test_set", root / "Test_set", root)
                if (d / _OFFICIAL).is_dir()
            ),
            None,
        )
        if test is not None:
            parts, default_merged = test / _OFFICIAL, test / "merged"
        elif optional_dir(root, ["alpha", "alpha_copy", "merged", "trimaps"]) is not None:
            parts, default_merged = root, root / "merged"
        else:
            raise InputError(
                f"{self.name}: {root} has neither the official layout "
                f"(Combined_Dataset/Test_set/{_OFFICIAL}/) nor the flattened one "
                "(alpha/, fg/, merged/, trimaps/)"
            )
        merged = composites_dir(
            self.merged,
            default_merged,
            self.name,
            hint=": composite the test set first (benchmark.compose.compose_comp1k, with its "
            "output there), or pass merged=DIR",
        )
        return {
            "image": merged,
            "alpha": find_dir(parts, ["alpha", "alpha_copy"], self.name),
            "trimap": find_dir(parts, ["trimaps"], self.name),
            "fg": optional_dir(parts, ["fg"]),
            "bg": optional_dir(merged.parent, ["bg"]),
        }
