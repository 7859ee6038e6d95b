"""Any dataset stored as plain folders of images, alphas and (optionally) trimaps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from benchmark.datasets._common import StemDataset, find_dir, given_dir
from benchmark.datasets.base import register_dataset
from metrics import InputError

__all__ = ["FolderDataset"]

_DEFAULTS: dict[str, tuple[str, ...]] = {
    "image": ("images", "image"),
    "alpha": ("alphas", "alpha"),
    "trimap": ("trimaps", "trimap"),
}


@register_dataset("folder")
class FolderDataset(StemDataset):
    """A generic dataset: a folder of images, a folder of GT alphas, optionally trimaps.

    Parameters
    ----------
    root
        Optional base folder. Relative ``images`` / ``alphas`` / ``trimaps`` are taken inside
        it; when a keyword is not given, the sub-folder ``images/`` or ``image/`` (``alphas/``
        or ``alpha/``; ``trimaps/`` or ``trimap/``, optional) of ``root`` is used. May be
        ``None`` when ``images`` and ``alphas`` are given.
    subset
        Optional list file or names (see :class:`~benchmark.datasets.base.MattingDataset`).
    images, alphas, trimaps
        The three folders (``trimaps`` optional).
    evaluation
        ``"unknown"`` (DIM metrics on ``trimap == 128``; needs trimaps) or ``"whole"``
        (trimap-free whole-image metrics). Default: ``"unknown"`` when there are trimaps,
        else ``"whole"``.

    Notes
    -----
    **Layout accepted**: any three folders (not searched recursively) of image files
    (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, ``.tif``, ``.tiff``).

    **Naming.** The images define the samples, named by their stems. The alpha (and trimap)
    of image ``<stem>`` is the file with the same stem or, Composition-1k style, for an image
    ``<base>_<k>`` the file ``<base>`` (:mod:`benchmark.pairing`'s rule). Every image needs an
    alpha (and a trimap, when trimaps are given); every alpha and trimap must be used by an
    image. Two files with one stem in a folder are an error.

    **Evaluation.** Chosen by the ``evaluation`` keyword (recorded in the run's
    configuration), since plain folders do not say which protocol they follow.
    """

    evaluation = "unknown"
    trimap_source = "provided"
    description = "generic folders: images=, alphas=, optional trimaps= (matched by stem)"
    _what: ClassVar[dict[str, str]] = {"image": "image", "alpha": "alpha", "trimap": "trimap"}
    _allow_base = True

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        subset: str | Path | Sequence[str] | None = None,
        images: str | Path | None = None,
        alphas: str | Path | None = None,
        trimaps: str | Path | None = None,
        evaluation: str | None = None,
    ) -> None:
        self._given = {"image": images, "alpha": alphas, "trimap": trimaps}
        self._evaluation_arg = evaluation
        if evaluation not in (None, "unknown", "whole"):
            raise InputError(
                f"{self.name}: evaluation must be 'unknown' or 'whole', not {evaluation!r}"
            )
        super().__init__(root, subset=subset)

    def _folder(self, role: str, required: bool) -> Path | None:
        given = self._given[role]
        if given is not None:
            p = Path(given)
            if not p.is_absolute() and self.root is not None:
                p = self.root / p
            return given_dir(p, self.name, role)
        if self.root is None:
            if required:
                raise InputError(f"{self.name}: pass root, or the {role} folder ({role}s=DIR)")
            return None
        if required:
            return find_dir(self.root, _DEFAULTS[role], self.name, hint=f" (or pass {role}s=)")
        found = [self.root / d for d in _DEFAULTS[role] if (self.root / d).is_dir()]
        return found[0] if found else None

    def _dirs(self) -> dict[str, Path | None]:
        dirs = {
            "image": self._folder("image", True),
            "alpha": self._folder("alpha", True),
            "trimap": self._folder("trimap", False),
        }
        has_trimaps = dirs["trimap"] is not None
        evaluation = self._evaluation_arg or ("unknown" if has_trimaps else "whole")
        if evaluation == "unknown" and not has_trimaps:
            raise InputError(
                f"{self.name}: evaluation='unknown' scores the trimap's unknown region; "
                "pass trimaps=DIR (or evaluation='whole')"
            )
        self._folders = dirs
        # per instance: the class attributes are the defaults
        self.evaluation = evaluation
        self.trimap_source = "provided" if has_trimaps else "none"
        return dirs

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "folders": {r: str(p) if p else None for r, p in self._folders.items()},
        }
