"""Helpers shared by the dataset loaders (private).

Every loader in this package is file based: :meth:`FileDataset._find_files` maps each sample
name to its files by role (``image``, ``alpha``, ``trimap``, ``fg``, ``bg``, ``label``), and the
shared :meth:`FileDataset.load` reads them, checks that their sizes agree and builds the
:class:`~benchmark.datasets.base.Sample`. The layout checks (which sub-folder, which file goes
with which) are done once, at construction, so a broken tree fails before any work starts.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.datasets.base import MattingDataset, Sample
from benchmark.pairing import base_name, list_images
from metrics import InputError
from metrics.common import read_alpha, read_rgb, read_trimap

__all__ = [
    "FileDataset",
    "StemDataset",
    "find_dir",
    "given_dir",
    "composites_dir",
    "optional_dir",
    "pair_files",
    "check_sizes",
    "preview",
    "READERS",
]

#: reader of each role; every one raises :class:`InputError` naming the file
READERS: dict[str, Callable[[Path], np.ndarray]] = {
    "image": read_rgb,
    "alpha": read_alpha,
    "trimap": read_trimap,
    "fg": read_rgb,
    "bg": read_rgb,
}


def preview(items: Sequence[str], n: int = 5) -> str:
    """``"a, b, c (and 7 more)"``.

    >>> preview(["a.png", "b.png", "c.png"], n=2)
    'a.png, b.png (and 1 more)'
    """
    more = f" (and {len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def optional_dir(parent: Path, alternatives: Iterable[str]) -> Path | None:
    """The first ``parent / alt`` that is a directory, or ``None``."""
    for alt in alternatives:
        if (parent / alt).is_dir():
            return parent / alt
    return None


def find_dir(parent: Path, alternatives: Sequence[str], dataset: str, hint: str = "") -> Path:
    """The first ``parent / alt`` that is a directory.

    Raises
    ------
    InputError
        Naming ``parent`` and every alternative tried (plus ``hint``, if given).
    """
    found = optional_dir(parent, alternatives)
    if found is None:
        tried = " or ".join(f"{alt}/" for alt in alternatives)
        raise InputError(f"{dataset}: missing folder {tried} in {parent}{hint}")
    return found


def given_dir(path: Path, dataset: str, what: str) -> Path:
    """A folder passed as a keyword: it must exist."""
    if not path.is_dir():
        raise InputError(f"{dataset}: {what} folder {path} does not exist")
    return path


def composites_dir(given: Path | None, default: Path, dataset: str, hint: str) -> Path:
    """The folder of composites: ``given`` (or its ``merged/`` sub-folder, so the output root
    of :mod:`benchmark.compose` works too), else ``default``.

    Raises
    ------
    InputError
        If ``given`` does not exist, or ``default`` is missing (the message ends with ``hint``,
        which says how to make the composites).
    """
    if given is not None:
        given = given_dir(given, dataset, "composite")
        sub = given / "merged"
        return sub if sub.is_dir() else given
    if not default.is_dir():
        raise InputError(f"{dataset}: missing folder {default.name}/ in {default.parent}{hint}")
    return default


def _lookup(stem: str, table: Mapping[str, Path], allow_base: bool) -> Path | None:
    if stem in table:
        return table[stem]
    if allow_base:
        base = base_name(stem)
        if base is not None and base in table:
            return table[base]
    return None


def pair_files(
    names: Mapping[str, Path],
    others: Mapping[str, Path],
    *,
    dataset: str,
    what: tuple[str, str],
    dirs: tuple[Path, Path],
    allow_base: bool = False,
    orphans: bool = True,
) -> dict[str, Path]:
    """Match every sample to its file in another folder by stem.

    Parameters
    ----------
    names
        ``{sample name: file}`` of the folder that defines the samples (the composites, the
        images).
    others
        ``{stem: file}`` of the other folder (:func:`benchmark.pairing.list_images`).
    dataset, what, dirs
        For the messages: the dataset name, the two kinds of file (``("image", "alpha")``) and
        the two folders.
    allow_base
        Also accept the Composition-1k rule: sample ``<base>_<k>`` uses the file ``<base>``.
    orphans
        Raise if a file of ``others`` is used by no sample.

    Returns
    -------
    dict
        ``{sample name: file of others}``.

    Raises
    ------
    InputError
        Naming the samples without a file, or the files without a sample.
    """
    out: dict[str, Path] = {}
    missing: list[str] = []
    for stem, p in names.items():
        q = _lookup(stem, others, allow_base)
        if q is None:
            missing.append(p.name)
        else:
            out[stem] = q
    a, b = what
    if missing:
        raise InputError(
            f"{dataset}: {len(missing)} {a}(s) in {dirs[0]} have no {b} in {dirs[1]}: "
            f"{preview(missing)}"
        )
    if orphans:
        used = {q.name for q in out.values()}
        extra = [q.name for q in others.values() if q.name not in used]
        if extra:
            raise InputError(
                f"{dataset}: {len(extra)} {b}(s) in {dirs[1]} have no {a} in {dirs[0]}: "
                f"{preview(extra)}"
            )
    return out


def _hw(a: np.ndarray) -> str:
    return f"{a.shape[0]}x{a.shape[1]}"


def check_sizes(files: Mapping[str, Path], arrays: Mapping[str, np.ndarray]) -> None:
    """Raise unless every array has the height and width of the first one.

    The message names the first file that disagrees and lists every size, e.g.
    ``".../GT01.png: sizes differ: image 480x640, alpha 481x640"``.
    """
    items = [(role, a) for role, a in arrays.items() if a is not None]
    if not items:
        return
    ref = items[0][1].shape[:2]
    bad = [role for role, a in items if a.shape[:2] != ref]
    if bad:
        sizes = ", ".join(f"{role} {_hw(a)}" for role, a in items)
        raise InputError(f"{files[bad[0]]}: sizes differ: {sizes}")


class FileDataset(MattingDataset):
    """A dataset whose samples are files on disk, mapped by role at construction.

    Subclasses implement :meth:`_find_files`; :meth:`_scan` and :meth:`load` are shared.
    """

    #: ``role -> reader``; a subclass adds roles (VOC's ``label``)
    readers: ClassVar[dict[str, Callable[[Path], np.ndarray]]] = READERS

    _files: dict[str, dict[str, Path]]

    @abc.abstractmethod
    def _find_files(self) -> dict[str, dict[str, Path]]:
        """``{name: {role: path}}`` of every sample; raise :class:`InputError` on a broken
        layout."""

    def _scan(self) -> list[str]:
        self._files = self._find_files()
        return sorted(self._files)

    def _need_root(self) -> Path:
        if self.root is None:
            raise InputError(f"{self.name}: a dataset root folder is required")
        return self.root

    def load(self, name: str) -> Sample:
        """Read one sample (all arrays ``uint8``, colour in RGB order).

        Raises
        ------
        InputError
            For an unknown name, a missing or unreadable file, or files whose sizes differ.
        """
        try:
            files = self._files[name]
        except KeyError:
            raise InputError(f"{self.name}: no sample named {name!r}") from None
        arrays = {role: self.readers[role](path) for role, path in files.items()}
        check_sizes(files, arrays)
        meta: dict[str, Any] = {"files": {role: str(p) for role, p in files.items()}}
        return Sample(name=name, meta=meta, **arrays)


class StemDataset(FileDataset):
    """Samples defined by the files of one folder (the images or composites), every other part
    in its own folder, matched by file stem.

    Subclasses implement :meth:`_dirs`. Every image needs a file in each other folder, and every
    file of those folders must belong to an image (a trimap without an image is an error: the
    test set would silently shrink otherwise).
    """

    #: what each role's files are called in messages
    _what: ClassVar[dict[str, str]] = {}
    #: accept ``<base>`` files for ``<base>_<k>`` images (Composition-1k style)
    _allow_base: ClassVar[bool] = False

    @abc.abstractmethod
    def _dirs(self) -> dict[str, Path | None]:
        """``{role: folder}``; the first role (``"image"``) defines the samples; a ``None``
        folder is an absent part."""

    def _find_files(self) -> dict[str, dict[str, Path]]:
        dirs = self._dirs()
        (role0, dir0), *rest = dirs.items()
        assert dir0 is not None
        w0 = self._what.get(role0, role0)
        images = list_images(dir0, f"{self.name}: {w0} folder")
        files: dict[str, dict[str, Path]] = {n: {role0: p} for n, p in images.items()}
        for role, d in rest:
            if d is None:
                continue
            what = self._what.get(role, role)
            found = list_images(d, f"{self.name}: {what} folder")
            paired = pair_files(
                images,
                found,
                dataset=self.name,
                what=(w0, what),
                dirs=(dir0, d),
                allow_base=self._allow_base,
            )
            for n, p in paired.items():
                files[n][role] = p
        return files
