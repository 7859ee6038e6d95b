"""PPM-100: MODNet's 100 photographic portrait mattes."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets._common import StemDataset, find_dir
from benchmark.datasets.base import register_dataset

__all__ = ["PPM100"]


@register_dataset("ppm100")
class PPM100(StemDataset):
    """PPM-100 (Ke et al., "MODNet: Real-Time Trimap-Free Portrait Matting via Objective
    Decomposition", AAAI 2022).

    Parameters
    ----------
    root
        The ``PPM-100`` folder.
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).

    Notes
    -----
    **Layout accepted**::

        root/image/<name>.<ext>    100 photos (natural backgrounds), 1080p to 4k
        root/matte/<name>.<ext>    100 GT alpha mattes

    **Naming.** Photo and matte share a stem (the extensions may differ: ``.jpg`` photos with
    ``.png`` mattes, or ``.jpg`` for both). Every photo needs a matte and every matte a photo.
    No trimaps are shipped.

    **Evaluation.** ``"whole"``: trimap-free, on the whole image at the original resolution
    (MODNet issues #80, #97, #134: MSE and MAD are whole-image means of alpha in [0, 1]; later
    papers print them x1e3), see ``datasets-and-peers.md`` section 1.3.
    """

    evaluation = "whole"
    trimap_source = "none"
    description = "PPM-100: 100 photographic portraits with GT mattes (MODNet), no trimaps"
    _what = {"image": "image", "alpha": "matte"}

    def _dirs(self) -> dict[str, Path | None]:
        root = self._need_root()
        return {
            "image": find_dir(root, ["image"], self.name),
            "alpha": find_dir(root, ["matte"], self.name),
        }
