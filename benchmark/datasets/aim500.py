"""AIM-500: 500 natural images with GT alpha (automatic image matting)."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets._common import StemDataset, find_dir
from benchmark.datasets.base import register_dataset

__all__ = ["AIM500"]


@register_dataset("aim500")
class AIM500(StemDataset):
    """AIM-500 (Li et al., "Deep Automatic Natural Image Matting", IJCAI 2021).

    Parameters
    ----------
    root
        The ``AIM-500`` folder.
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).

    Notes
    -----
    **Layout accepted**::

        root/original/<name>.jpg   500 photos (100 portraits, 200 animals, 34 transparent, ...)
        root/mask/<name>.png       GT alpha mattes
        root/trimap/<name>.png     trimaps (0 / 128 / 255)
        root/usr/                  AIM's "unified semantic representation" (ignored)

    **Naming.** Photo, mask and trimap share a stem; every photo needs a mask and a trimap,
    and every mask and trimap a photo.

    **Evaluation.** ``"whole"``: the P3M / AIM / GFM ``core/evaluate.py`` family (SAD /1000,
    MSE and MAD over the whole image; the trimap serves the SAD-Trimap and SAD-FG/BG side
    metrics), see ``datasets-and-peers.md`` sections 1.6 and 1.7. AIM issue #5: the paper's
    trimap-based baselines used the ``usr`` maps, not these trimaps, so trimap-based numbers
    are not comparable with the paper's.
    """

    evaluation = "whole"
    trimap_source = "provided"
    description = "AIM-500: 500 natural images with GT alpha and trimaps (automatic matting)"
    _what = {"image": "image", "alpha": "mask", "trimap": "trimap"}

    def _dirs(self) -> dict[str, Path | None]:
        root = self._need_root()
        return {
            "image": find_dir(root, ["original"], self.name),
            "alpha": find_dir(root, ["mask"], self.name),
            "trimap": find_dir(root, ["trimap"], self.name),
        }
