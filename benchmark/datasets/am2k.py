"""AM-2k validation set: animal images with GT alpha."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets._common import StemDataset, find_dir, optional_dir
from benchmark.datasets.base import register_dataset

__all__ = ["AM2k"]


@register_dataset("am2k")
class AM2k(StemDataset):
    """AM-2k validation set (Li et al., "Bridging Composite and Real: Towards End-to-end Deep
    Image Matting", IJCV 2022; the GFM repository).

    Parameters
    ----------
    root
        The ``AM-2k`` folder (holding ``validation/``), or its ``validation/`` folder.
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).

    Notes
    -----
    **Layout accepted** (GFM ``core/README.md``)::

        root/validation/original/<name>.jpg   photos (names like m_0a6c2018)
        root/validation/mask/<name>.png       GT alpha mattes
        root/validation/trimap/<name>.png     trimaps (0 / 128 / 255)

    ``root/train/`` is not read. **Naming.** Photo, mask and trimap share a stem; every photo
    needs a mask and a trimap, and every mask and trimap a photo.

    **Evaluation.** ``"whole"``: the P3M / AIM / GFM ``core/evaluate.py`` family (SAD /1000,
    MSE and MAD over the whole image; the trimap serves the SAD-Trimap and SAD-FG/BG side
    metrics), see ``datasets-and-peers.md`` sections 1.4 and 1.7.
    """

    evaluation = "whole"
    trimap_source = "provided"
    description = "AM-2k validation set: animal photos with GT alpha and trimaps (GFM)"
    _what = {"image": "image", "alpha": "mask", "trimap": "trimap"}

    def _dirs(self) -> dict[str, Path | None]:
        root = self._need_root()
        val = root if optional_dir(root, ["original"]) is not None else root / "validation"
        if not val.is_dir():
            val = find_dir(root, ["validation"], self.name)
        return {
            "image": find_dir(val, ["original"], self.name),
            "alpha": find_dir(val, ["mask"], self.name),
            "trimap": find_dir(val, ["trimap"], self.name),
        }
