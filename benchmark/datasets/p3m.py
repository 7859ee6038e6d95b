"""P3M-500-P and P3M-500-NP: the privacy-preserving portrait matting test sets."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from benchmark.datasets._common import StemDataset, find_dir, optional_dir
from benchmark.datasets.base import register_dataset
from metrics import InputError

__all__ = ["P3M500P", "P3M500NP"]


class _P3M500(StemDataset):
    """Shared by the two P3M-500 test sets (they differ in the folder names only)."""

    _subset_dir: ClassVar[str] = ""
    _image_dir: ClassVar[str] = ""
    evaluation = "whole"
    trimap_source = "provided"
    _what = {"image": "image", "alpha": "mask", "trimap": "trimap"}

    def _dirs(self) -> dict[str, Path | None]:
        root = self._need_root()
        for d in (root / "validation" / self._subset_dir, root / self._subset_dir, root):
            if (d / self._image_dir).is_dir() or (d / "mask").is_dir():
                base = d
                break
        else:
            raise InputError(
                f"{self.name}: {root} holds neither validation/{self._subset_dir}/ nor "
                f"{self._subset_dir}/ nor {self._image_dir}/, mask/, trimap/"
            )
        found = optional_dir(base, [self._image_dir])
        if found is None:
            other = "original_image" if self._image_dir == "blurred_image" else "blurred_image"
            hint = (
                f" (it has {other}/: is this the other P3M-500 subset?)"
                if (base / other).is_dir()
                else ""
            )
            found = find_dir(base, [self._image_dir], self.name, hint=hint)
        return {
            "image": found,
            "alpha": find_dir(base, ["mask"], self.name),
            "trimap": find_dir(base, ["trimap"], self.name),
        }


@register_dataset("p3m500-p")
class P3M500P(_P3M500):
    """P3M-500-P: face-blurred portraits (Li et al., "Privacy-Preserving Portrait Matting",
    ACM MM 2021).

    Parameters
    ----------
    root
        The ``P3M-10k`` folder (holding ``validation/``), its ``validation/`` folder, or the
        ``P3M-500-P/`` folder itself.
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).

    Notes
    -----
    **Layout accepted** (P3M ``core/README.md``)::

        root/validation/P3M-500-P/blurred_image/<name>.jpg  500 photos, faces blurred
        root/validation/P3M-500-P/mask/<name>.png           GT alpha mattes
        root/validation/P3M-500-P/trimap/<name>.png         trimaps (0 / 128 / 255)

    **Naming.** Photo, mask and trimap share a stem; every photo needs a mask and a trimap,
    and every mask and trimap a photo.

    **Evaluation.** ``"whole"``: the P3M / AIM / GFM ``core/evaluate.py`` family (SAD /1000,
    MSE and MAD over the whole image; the trimap serves the SAD-Trimap and SAD-FG/BG side
    metrics), see ``datasets-and-peers.md`` sections 1.5 and 1.7.
    """

    _subset_dir = "P3M-500-P"
    _image_dir = "blurred_image"
    description = "P3M-500-P: 500 face-blurred portraits with GT alpha and trimaps"


@register_dataset("p3m500-np")
class P3M500NP(_P3M500):
    """P3M-500-NP: non-blurred (public celebrity) portraits (Li et al., "Privacy-Preserving
    Portrait Matting", ACM MM 2021).

    Parameters
    ----------
    root
        The ``P3M-10k`` folder (holding ``validation/``), its ``validation/`` folder, or the
        ``P3M-500-NP/`` folder itself.
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).

    Notes
    -----
    **Layout accepted** (P3M ``core/README.md``)::

        root/validation/P3M-500-NP/original_image/<name>.jpg  500 photos, faces not blurred
        root/validation/P3M-500-NP/mask/<name>.png            GT alpha mattes
        root/validation/P3M-500-NP/trimap/<name>.png          trimaps (0 / 128 / 255)

    **Naming.** Photo, mask and trimap share a stem; every photo needs a mask and a trimap,
    and every mask and trimap a photo.

    **Evaluation.** ``"whole"``: the P3M / AIM / GFM ``core/evaluate.py`` family (SAD /1000,
    MSE and MAD over the whole image; the trimap serves the SAD-Trimap and SAD-FG/BG side
    metrics), see ``datasets-and-peers.md`` sections 1.5 and 1.7.
    """

    _subset_dir = "P3M-500-NP"
    _image_dir = "original_image"
    description = "P3M-500-NP: 500 non-blurred celebrity portraits with GT alpha and trimaps"
