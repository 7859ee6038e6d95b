"""Matting training sets in their official forms, composed on the fly (Adobe DIM, D646, SDNet).

Each set reads the layout its authors distribute, checks it at construction (layout folders,
name lists, every listed file present), and produces training samples on demand: foreground
``i // per_fg`` over its ``i % per_fg``-th background, augmented by the protocol of the family
being trained (:mod:`benchmark.datasets.train_augment`: ``"gca"``, ``"dim"``, or ``"none"``).
A sample is the dict of ``uint8`` arrays the synthetic training stream gives
(``image``, ``alpha``, ``trimap``, ``fg``, ``bg``; see :func:`benchmark.training.training_pool`),
so the training loop takes either source unchanged.

Sets
----
* :class:`AdobeTrainSet` -- Deep Image Matting training set (431 foregrounds, Adobe readme)
  composed on MS-COCO train2014 backgrounds, 100 per foreground (43,100 samples).
* :class:`D646TrainSet` -- Distinctions-646 ``Train/`` (596 foregrounds, 100 COCO backgrounds
  each by ``bg_train.txt``: 59,600 samples).
* :func:`sdnet_portraits` -- the SDNet portrait subsets (78 Adobe / 342 D646 human
  foregrounds, SDNet paper section 4.1): either set with ``names=`` a user-given list, since the
  paper publishes no list.

:data:`TRAIN_SETS` / :func:`open_train_set` map the names ``adobe`` and ``d646`` to the classes.

Determinism
-----------
Sample ``i`` of epoch ``e`` is augmented with ``numpy.random.default_rng([SALT, seed, e, i])``
(a fixed-length key, so no two keys collide through NumPy's trailing-zero padding of seed
sequences); backgrounds drawn without a list come from a permutation of the background folder
(sorted by file name) seeded by ``bg_seed`` alone, so the pairing is part of the data set and
does not move with the training seed. :meth:`CompositeTrainSet.draw` gives an endless stream
(epoch ``p // n`` visits the samples in a seeded permutation), so a run can resume at any step
with no sampler state. Objects hold only paths, names and small arrays (no open files): they
pickle, and ``DataLoader`` workers can use them.

Reading
-------
Foregrounds and backgrounds are decoded by :func:`metrics.common.read_rgb` (OpenCV, as GCA's and
DIM-PyTorch's loaders read them; RGBA drops its 4th channel, grey is expanded). Alphas are read
with PIL as Adobe's ``Composition_code.py`` (GCA's copy) reads them: a grey image as is, channel 0
of an RGB/RGBA/LA one, a palette image through its palette; 16-bit and float alphas are refused.
Training alphas may be JPEGs (their file name is the foreground's, ``.jpg`` included). Every
failure raises :class:`~metrics.common.InputError` naming the file.
"""

from __future__ import annotations

import difflib
import functools
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.compose import ALPHA_MODES, alpha_channel
from benchmark.compose import read_name_list as read_pairing_list
from benchmark.datasets._common import preview
from benchmark.datasets.base import read_name_list
from benchmark.datasets.train_augment import (
    DEFAULT_CROP,
    FAMILIES,
    FAMILY_SOURCES,
    TRIMAP_MODES,
    augment,
)
from metrics.common import IMAGE_EXTS, InputError, lookup, read_rgb

__all__ = [
    "Foreground",
    "CompositeTrainSet",
    "AdobeTrainSet",
    "D646TrainSet",
    "TRAIN_SETS",
    "open_train_set",
    "sdnet_portraits",
    "BG_KINDS",
    "BGS_PER_FG",
    "ADOBE_TRAIN_FOREGROUNDS",
    "D646_TRAIN_FOREGROUNDS",
    "SDNET_PORTRAITS",
]

#: backgrounds per foreground in both official training sets (Adobe readme: 431 x 100 = 43,100;
#: D646 ``bg_train.txt``: 596 x 100 = 59,600)
BGS_PER_FG = 100
#: training foregrounds of the Adobe set (readme: 455 objects, 24 not releasable)
ADOBE_TRAIN_FOREGROUNDS = 431
#: training foregrounds of Distinctions-646 (``Train/FG``)
D646_TRAIN_FOREGROUNDS = 596
#: human training foregrounds in the SDNet paper (section 4.1; no list published)
SDNET_PORTRAITS: dict[str, int] = {"adobe": 78, "d646": 342}
#: background sources: MS-COCO train2014 (the official training backgrounds), or PASCAL VOC
BG_KINDS: tuple[str, ...] = ("coco", "voc")

_SAMPLE_SALT = 0x74726E31  # "trn1": the per-sample augmentation streams
_BG_SALT = 0x74726E32  # "trn2": the background permutation
_ORDER_SALT = 0x74726E33  # "trn3": the per-epoch visiting order of draw()
_BG_DIRS = {
    "coco": ("train2014", "images/train2014", "."),
    "voc": ("VOCdevkit/VOC2012/JPEGImages", "VOC2012/JPEGImages", "JPEGImages", "."),
}
_PIL_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    Image.DecompressionBombError,
)


@dataclass(frozen=True)
class Foreground:
    """One training foreground: its listed name, its two files, its place in the full list
    (the background list pairs foreground ``position`` with lines ``100 * position ..``)."""

    name: str
    fg: Path
    alpha: Path
    position: int


# --------------------------------------------------------------------------------- reading


def _read_alpha(path: Path) -> np.ndarray:
    """An alpha as Adobe's composition script reads it (module docstring); ``uint8`` HxW."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            return alpha_channel(im, path)
    except InputError:  # an unsupported mode, already named (InputError is a ValueError)
        raise
    except _PIL_ERRORS as e:
        raise InputError(f"{path}: cannot be decoded as an image ({e})") from None


def _header(path: Path, decode: bool) -> tuple[tuple[int, int], str]:
    """``((w, h), mode)`` from the header (PIL opens lazily); ``decode`` reads the pixels too,
    so a truncated or damaged file fails."""
    with Image.open(path) as im:
        if decode:
            im.load()
        return im.size, im.mode


def _image_files(folder: Path) -> dict[str, Path]:
    """``{file name: path}`` of the image files in ``folder`` (not recursive)."""
    out = {}
    with os.scandir(folder) as it:
        for e in it:
            if (
                not e.name.startswith(".")
                and os.path.splitext(e.name)[1].lower() in IMAGE_EXTS
                and e.is_file()
            ):
                out[e.name] = Path(e.path)
    return out


def _by_stem(files: dict[str, Path]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for name, p in files.items():
        out.setdefault(os.path.splitext(name)[0], []).append(p)
    return out


def _first_dir(parent: Path, subs: Sequence[str]) -> Path | None:
    for s in subs:
        d = parent / s
        if d.is_dir():
            return d
    return None


def _repeats(names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    dup = []
    for n in names:
        if n in seen and n not in dup:
            dup.append(n)
        seen.add(n)
    return dup


@functools.lru_cache(maxsize=8)
def _permutation(key: tuple[int, ...], n: int) -> np.ndarray:
    return np.random.default_rng(list(key)).permutation(n)


# --------------------------------------------------------------------------------- the sets


class CompositeTrainSet:
    """A matting training set composed on the fly (base of :class:`AdobeTrainSet` and
    :class:`D646TrainSet`).

    Parameters
    ----------
    root
        The dataset folder (see the subclass for the accepted layouts).
    bg_root
        The background folder: for ``bg_kind="coco"`` the folder of train2014 JPEGs, or a
        folder holding ``train2014/`` (or ``images/train2014/``); for ``"voc"`` the
        ``JPEGImages`` folder or a folder above it (``VOCdevkit/VOC2012/JPEGImages``, ...).
    family
        The augmentation protocol (:data:`~benchmark.datasets.train_augment.FAMILIES`):
        ``"gca"`` (default), ``"dim"``, or ``"none"`` (the official composite, full size).
    crop
        Output side; default the family's (:data:`~benchmark.datasets.train_augment.
        DEFAULT_CROP`: GCA 512, DIM 320); must be ``None`` for ``"none"``.
    names
        Only these foregrounds (SDNet portrait subsets): a list file (one name a line,
        ``#`` comments, extensions optional; :func:`benchmark.datasets.base.read_name_list`) or
        a sequence of names. Each keeps its backgrounds of the full set.
    bg_list
        ``None``: the dataset's background list (``training_bg_names.txt`` / ``bg_train.txt``)
        if it is found and ``bg_kind="coco"``, else backgrounds drawn with ``bg_seed``; a path:
        that list; ``False``: drawn.
    bg_kind
        ``"coco"`` or ``"voc"`` (:data:`BG_KINDS`).
    per_fg
        Backgrounds per foreground (100; a list must hold exactly ``per_fg`` names per listed
        foreground).
    seed
        Seeds the augmentation: sample ``i`` of epoch ``e`` uses the generator of
        ``(seed, e, i)``.
    bg_seed
        Seeds the drawn backgrounds (without a list): a permutation of the background files.
    trimap_mode
        ``"as-run"`` or ``"intended"`` (family ``"dim"`` only; see
        :func:`~benchmark.datasets.train_augment.dim_trimap`).

    Attributes
    ----------
    foregrounds : list of Foreground
        The foregrounds of this set, in order.
    bg_dir : pathlib.Path
        The folder the backgrounds are read from.
    bg_list_file : pathlib.Path or None
        The background list used, or ``None`` when backgrounds are drawn.
    epoch : int
        The epoch ``ds[i]`` uses (:meth:`set_epoch`).
    """

    dataset: ClassVar[str] = ""
    expected_foregrounds: ClassVar[int] = 0
    bg_list_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        root: str | os.PathLike[str],
        bg_root: str | os.PathLike[str],
        *,
        family: str = "gca",
        crop: int | None = None,
        names: str | os.PathLike[str] | Sequence[str] | None = None,
        bg_list: str | os.PathLike[str] | bool | None = None,
        bg_kind: str = "coco",
        per_fg: int = BGS_PER_FG,
        seed: int = 0,
        bg_seed: int = 0,
        trimap_mode: str = "as-run",
    ) -> None:
        ds = self.dataset
        if family not in FAMILIES:
            raise InputError(f"{ds}: unknown family {family!r} (known: {', '.join(FAMILIES)})")
        if family == "none" and crop is not None:
            raise InputError(f"{ds}: family 'none' composes at full size; crop must be None")
        side = DEFAULT_CROP[family] if crop is None else crop
        if side is not None and (
            isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 8
        ):
            raise InputError(f"{ds}: crop must be an integer >= 8, got {crop!r}")
        if bg_kind not in BG_KINDS:
            raise InputError(f"{ds}: bg_kind must be one of {BG_KINDS}, got {bg_kind!r}")
        if trimap_mode not in TRIMAP_MODES:
            raise InputError(f"{ds}: trimap_mode must be one of {TRIMAP_MODES}")
        for what, v, lo in (("per_fg", per_fg, 1), ("seed", seed, 0), ("bg_seed", bg_seed, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise InputError(f"{ds}: {what} must be an integer >= {lo}, got {v!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{ds}: dataset root {self.root} is not a folder")
        self.family = family
        self.crop = None if side is None else int(side)
        self.bg_kind = bg_kind
        self.per_fg = int(per_fg)
        self.seed = int(seed)
        self.bg_seed = int(bg_seed)
        self.trimap_mode = trimap_mode
        self.epoch = 0
        listed, self.fg_source = self._find_foregrounds()
        self.listed_foregrounds = len(listed)
        self.names_source: str | None = None
        self.foregrounds = self._select(listed, names)
        self.bg_dir = self._find_bg_dir(Path(bg_root))
        self._setup_backgrounds(bg_list)

    # -- layout (subclasses) ----------------------------------------------------------
    #: the folder holding the foreground/alpha folders and the lists (set by _find_foregrounds)
    train_dir: Path

    def _find_foregrounds(self) -> tuple[list[Foreground], str]:
        """All foregrounds in list order, and where the order came from."""
        raise NotImplementedError

    #: whether the foreground order is the one the dataset's background list pairs with
    _listed_order: bool = True

    def _default_bg_list(self) -> Path | None:
        if not self._listed_order:
            return None
        for d in dict.fromkeys((self.train_dir, self.train_dir.parent, self.root)):
            for n in self.bg_list_names:
                if (d / n).is_file():
                    return d / n
        return None

    # -- selection (SDNet subsets) -----------------------------------------------------
    def _select(
        self, listed: list[Foreground], names: str | os.PathLike[str] | Sequence[str] | None
    ) -> list[Foreground]:
        if names is None:
            return listed
        ds = self.dataset
        if isinstance(names, (str, os.PathLike)):
            label = str(names)
            wanted = read_name_list(names)
        else:
            label = "names"
            wanted = [
                os.path.splitext(n)[0] if os.path.splitext(n)[1].lower() in IMAGE_EXTS else n
                for n in (str(x).strip() for x in names)
            ]
        if not wanted:
            raise InputError(f"{ds}: {label}: the name list is empty")
        dup = _repeats(wanted)
        if dup:
            raise InputError(f"{ds}: {label}: names repeat: {preview(dup)}")
        by_stem = {os.path.splitext(f.name)[0]: f for f in listed}
        ambiguous = set(_repeats([os.path.splitext(f.name)[0] for f in listed])) & set(wanted)
        if ambiguous:
            raise InputError(
                f"{ds}: {label}: several training foregrounds share the stem(s) "
                f"{preview(sorted(ambiguous))}, which a name list cannot tell apart"
            )
        missing = [n for n in wanted if n not in by_stem]
        if missing:
            close = difflib.get_close_matches(missing[0], list(by_stem), n=3, cutoff=0.6)
            hint = f"; close to {missing[0]!r}: {', '.join(close)}" if close else ""
            raise InputError(
                f"{ds}: {label}: {len(missing)} name(s) are not training foregrounds of "
                f"{self.fg_source}: {preview(missing)}{hint}"
            )
        self.names_source = label
        return [by_stem[n] for n in wanted]

    # -- backgrounds --------------------------------------------------------------------
    def _find_bg_dir(self, bg_root: Path) -> Path:
        if not bg_root.is_dir():
            raise InputError(f"{self.dataset}: background folder {bg_root} does not exist")
        d = _first_dir(bg_root, _BG_DIRS[self.bg_kind])
        assert d is not None  # "." is always there
        return d

    def _setup_backgrounds(self, bg_list: str | os.PathLike[str] | bool | None) -> None:
        ds = self.dataset
        files = _image_files(self.bg_dir)
        if not files:
            raise InputError(
                f"{ds}: background folder {self.bg_dir} has no images ({', '.join(IMAGE_EXTS)})"
            )
        if bg_list is True:
            raise InputError(f"{ds}: bg_list is a path, None or False, not True")
        if bg_list is None:
            path = self._default_bg_list() if self.bg_kind == "coco" else None
        elif bg_list is False:
            path = None
        else:
            path = Path(bg_list)
            if not path.is_file():
                raise InputError(f"{ds}: background list {path} not found")
        self.bg_list_file = path
        self._order: np.ndarray | None = None
        if path is None:
            self.bg_names = sorted(files)
            self._order = _permutation((_BG_SALT, self.bg_seed), len(self.bg_names))
            return
        names = read_pairing_list(path)
        need = self.per_fg * self.listed_foregrounds
        if len(names) != need:
            raise InputError(
                f"{path}: {len(names)} names, but {self.listed_foregrounds} foregrounds "
                f"({self.fg_source}) x {self.per_fg} backgrounds need {need}"
            )
        used = {n for f in self.foregrounds for n in self._slots(names, f.position)}
        missing = sorted(n for n in used if n not in files)
        if missing:
            raise InputError(
                f"{path}: {len(missing)} listed background(s) not in {self.bg_dir}: "
                f"{preview(missing)}"
            )
        self.bg_names = names

    def _slots(self, names: Sequence[str], position: int) -> Sequence[str]:
        return names[position * self.per_fg : (position + 1) * self.per_fg]

    def _bg_name(self, position: int, k: int) -> str:
        at = position * self.per_fg + k
        if self._order is None:
            return self.bg_names[at]
        return self.bg_names[int(self._order[at % len(self.bg_names)])]

    # -- samples --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.foregrounds) * self.per_fg

    def _check_index(self, index: int) -> tuple[Foreground, int]:
        if not 0 <= int(index) < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        j, k = divmod(int(index), self.per_fg)
        return self.foregrounds[j], k

    def pair(self, index: int) -> tuple[Foreground, Path]:
        """The foreground and the background file of sample ``index``."""
        f, k = self._check_index(index)
        return f, self.bg_dir / self._bg_name(f.position, k)

    def name(self, index: int) -> str:
        """``<foreground stem>_<k>``: the official composite name of sample ``index``."""
        f, k = self._check_index(index)
        return f"{os.path.splitext(f.name)[0]}_{k}"

    def _load_fg(self, f: Foreground) -> tuple[np.ndarray, np.ndarray]:
        fg = read_rgb(f.fg)
        alpha = _read_alpha(f.alpha)
        if fg.shape[:2] != alpha.shape:
            raise InputError(
                f"{f.fg}: foreground is {fg.shape[1]}x{fg.shape[0]} (WxH) but its alpha "
                f"{f.alpha} is {alpha.shape[1]}x{alpha.shape[0]}"
            )
        return fg, alpha

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The raw parts of sample ``index``: foreground HxWx3, alpha HxW, background (any
        size), all ``uint8`` RGB; the foreground and alpha sizes are checked."""
        f, bg_path = self.pair(index)
        fg, alpha = self._load_fg(f)
        return fg, alpha, read_rgb(bg_path)

    def _other(self, j: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """GCA's second foreground: index ``randint(n) + idx`` modulo ``n``."""
        n = len(self.foregrounds)
        return self._load_fg(self.foregrounds[(int(rng.integers(n)) + j) % n])

    def sample(self, index: int, epoch: int | None = None) -> dict[str, np.ndarray]:
        """Sample ``index`` of epoch ``epoch`` (default :attr:`epoch`): ``image``, ``alpha``,
        ``trimap``, ``fg``, ``bg`` as ``uint8`` arrays (``crop x crop``, or the foreground's
        size for family ``"none"``), augmented with the generator of
        ``(seed, epoch, index)``."""
        fg, alpha, bg = self.load(index)
        e = self.epoch if epoch is None else int(epoch)
        rng = np.random.default_rng([_SAMPLE_SALT, self.seed, e, int(index)])
        j = int(index) // self.per_fg
        return augment(
            self.family,
            fg,
            alpha,
            bg,
            rng,
            crop=self.crop,
            other=functools.partial(self._other, j),
            trimap_mode=self.trimap_mode,
        )

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return self.sample(int(index), self.epoch)

    def set_epoch(self, epoch: int) -> None:
        """Which epoch's draws ``ds[i]`` uses (as ``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)

    def locate(self, position: int) -> tuple[int, int]:
        """``(index, epoch)`` of stream position ``position`` (see :meth:`draw`)."""
        epoch, at = divmod(int(position), len(self))
        order = _permutation((_ORDER_SALT, self.seed, epoch), len(self))
        return int(order[at]), epoch

    def draw(self, position: int) -> dict[str, np.ndarray]:
        """The sample at ``position`` of the endless stream: epoch ``position // len(self)``
        visits every sample once, in a permutation drawn from ``(seed, epoch)``; a training
        step ``s`` of batch ``b`` takes positions ``s * b .. s * b + b - 1``."""
        index, epoch = self.locate(position)
        return self.sample(index, epoch)

    # -- checks -----------------------------------------------------------------------------
    def background_files(self) -> list[Path]:
        """Every background file this set can use (each once, in first-use order)."""
        out: dict[str, None] = {}
        for f in self.foregrounds:
            for k in range(self.per_fg):
                out.setdefault(self._bg_name(f.position, k), None)
        return [self.bg_dir / n for n in out]

    def validate(self, *, full: bool = False, workers: int | None = None) -> dict[str, Any]:
        """Check the training data before a long run; raise on the first kind of problem.

        Construction has already checked the layout, the name lists (no repeated foreground
        name, every listed foreground, alpha and background present, the background list
        ``per_fg`` names per foreground) and that the background folder has images. This
        checks every file: by default each foreground, alpha and used background opens as an
        image (PIL reads the header only), the alpha's mode is 8-bit, and each foreground has
        its alpha's size; ``full=True`` also decodes every file, so a truncated or damaged JPEG
        or PNG fails. Files are checked by ``workers`` threads (default ``min(8, cpu count)``).

        Cost, measured on this machine's 2 cores: a header is ~0.15 ms (held by the GIL, so
        threads do not help): 11 s for the 43,100 + 862 files of a fabricated Adobe tree. Decoding a
        640x480 COCO JPEG is ~1.2 ms per thread (PIL releases the GIL): ~30 s for the 43,100
        backgrounds on 2 threads, a few seconds on 16, plus the large Adobe PNGs.

        Returns
        -------
        dict
            ``foregrounds``, ``expected_foregrounds``, ``backgrounds`` (files checked),
            ``bg_list_repeats`` (repeated names in the background list, allowed), ``decoded``,
            ``seconds``.

        Raises
        ------
        InputError
            Listing the bad files (up to five, then a count), each path first with its problem.
        """
        t0 = time.perf_counter()
        n = workers or min(8, os.cpu_count() or 1)
        bgs = self.background_files()
        with ThreadPoolExecutor(max_workers=n) as pool:
            problems = [p for p in pool.map(lambda f: _check_fg(f, full), self.foregrounds) if p]
            problems += [p for p in pool.map(lambda b: _check_bg(b, full), bgs) if p]
        if problems:
            raise InputError(
                f"{self.dataset}: {len(problems)} bad training file(s): "
                + "; ".join(problems[:5])
                + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
            )
        repeats = 0 if self._order is not None else len(self.bg_names) - len(set(self.bg_names))
        return {
            "dataset": self.dataset,
            "foregrounds": len(self.foregrounds),
            "expected_foregrounds": self.expected_foregrounds,
            "backgrounds": len(bgs),
            "bg_list_repeats": repeats,
            "decoded": bool(full),
            "seconds": round(time.perf_counter() - t0, 3),
        }

    def config(self) -> dict[str, Any]:
        """What a run records: where the data came from, how it is paired and augmented."""
        pairing = (
            f"list {self.bg_list_file}"
            if self.bg_list_file is not None
            else f"drawn: permutation of the {len(self.bg_names)} files (bg_seed={self.bg_seed})"
        )
        cfg: dict[str, Any] = {
            "dataset": self.dataset,
            "root": str(self.root),
            "train_dir": str(self.train_dir),
            "fg_order": self.fg_source,
            "names": self.names_source,
            "foregrounds": len(self.foregrounds),
            "listed_foregrounds": self.listed_foregrounds,
            "expected_foregrounds": self.expected_foregrounds,
            "bg_dir": str(self.bg_dir),
            "bg_kind": self.bg_kind,
            "bg_pairing": pairing,
            "bgs_per_fg": self.per_fg,
            "samples": len(self),
            "family": self.family,
            "augmentation": FAMILY_SOURCES[self.family],
            "crop": self.crop,
            "seed": self.seed,
        }
        if self.family == "dim":
            cfg["trimap_mode"] = self.trimap_mode
        return cfg

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.root)!r}, foregrounds={len(self.foregrounds)}, "
            f"samples={len(self)}, family={self.family!r}, crop={self.crop})"
        )


def _check_fg(f: Foreground, decode: bool) -> str | None:
    """The problem of one foreground/alpha pair, naming the file, or ``None``."""
    sizes = {}
    for role, p in (("foreground", f.fg), ("alpha", f.alpha)):
        if not p.is_file():
            return f"{p}: no such file ({role} of {f.name})"
        try:
            sizes[role], mode = _header(p, decode)
        except _PIL_ERRORS as e:
            return f"{p}: cannot be decoded as an image ({e})"
        if role == "alpha" and mode not in ALPHA_MODES:
            return f"{p}: alpha has PIL mode {mode!r}; expected an 8-bit grey or RGB image"
    (fw, fh), (aw, ah) = sizes["foreground"], sizes["alpha"]
    if (fw, fh) != (aw, ah):
        return f"{f.fg}: foreground is {fw}x{fh} (WxH) but its alpha {f.alpha} is {aw}x{ah}"
    return None


def _check_bg(p: Path, decode: bool) -> str | None:
    if not p.is_file():
        return f"{p}: no such file (background)"
    try:
        _header(p, decode)
    except _PIL_ERRORS as e:
        return f"{p}: cannot be decoded as an image ({e})"
    return None


class AdobeTrainSet(CompositeTrainSet):
    """The Deep Image Matting (Adobe) training set, composed on MS-COCO train2014 backgrounds.

    Parameters
    ----------
    root
        The ``Combined_Dataset`` folder, its ``Training_set/`` folder, or a flat folder with
        ``fg/`` and ``alpha/`` (or ``mask/``, DIM-PyTorch's name) directly.
    bg_root, **kwargs
        See :class:`CompositeTrainSet`.

    Notes
    -----
    **Layout** (Adobe readme; MMagic ``preprocess_comp1k_dataset.py``;
    ``datasets-and-peers.md`` section 1.1)::

        Combined_Dataset/Training_set/
            Adobe-licensed images/{fg,alpha}/<name>   Adobe-licensed part
            Other/{fg,alpha}/<name>                   CC-licensed part (license_info.txt)
            training_fg_names.txt                     431 names, the official order
            training_bg_names.txt                     43,100 COCO train2014 names, 100 per fg

    A listed name is looked up in ``Adobe-licensed images/fg`` then ``Other/fg`` (MMagic's
    ``join_first_contain`` order); its alpha has the same file name in the same part's
    ``alpha/``. A file with the listed stem but another extension is accepted when it is the
    only one (the lists name ``.jpg`` files; some copies hold ``.png``). Without
    ``training_fg_names.txt`` the foregrounds are every image in the ``fg/`` folders sorted by
    name, and the background list, if any, is not used (its pairing needs the official order).

    **Pairing** (Adobe ``Composition_code.py``, readme point 2): foreground ``i`` of the list
    goes with lines ``100 i .. 100 i + 99`` of ``training_bg_names.txt``; sample
    ``100 i + k`` is the official composite ``<stem>_<k>``.
    """

    dataset = "adobe"
    expected_foregrounds = ADOBE_TRAIN_FOREGROUNDS
    bg_list_names = ("training_bg_names.txt",)

    def _find_foregrounds(self) -> tuple[list[Foreground], str]:
        root = self.root
        parts = ("Adobe-licensed images", "Other")
        train_dir = None
        for c in (root / "Combined_Dataset" / "Training_set", root / "Training_set", root):
            if any((c / p).is_dir() for p in parts) or (c / "fg").is_dir():
                train_dir = c
                break
        if train_dir is None:
            hint = (
                " (this looks like the test set; pass the Training_set folder)"
                if (root / "Test_set").is_dir() or (root / "test_fg_names.txt").is_file()
                else ""
            )
            raise InputError(
                f"adobe: no training foregrounds in {root}: expected Training_set/"
                f"{{Adobe-licensed images,Other}}/{{fg,alpha}} or fg/ and alpha/{hint}"
            )
        self.train_dir = train_dir
        groups = [train_dir / p for p in parts if (train_dir / p).is_dir()] or [train_dir]
        dirs: list[tuple[Path, Path]] = []
        for g in groups:
            fg_dir = g / "fg"
            alpha_dir = _first_dir(g, ("alpha", "mask"))
            if not fg_dir.is_dir():
                raise InputError(f"adobe: missing folder fg/ in {g}")
            if alpha_dir is None:
                raise InputError(f"adobe: missing folder alpha/ in {g}")
            dirs.append((fg_dir, alpha_dir))
        fg_files = [_image_files(d) for d, _ in dirs]
        alpha_files = [_image_files(a) for _, a in dirs]
        list_file = next(
            (
                d / "training_fg_names.txt"
                for d in dict.fromkeys((train_dir, train_dir.parent, root))
                if (d / "training_fg_names.txt").is_file()
            ),
            None,
        )
        if list_file is not None:
            names = read_pairing_list(list_file)
            dup = _repeats(names)
            if dup:
                raise InputError(f"{list_file}: foreground names repeat: {preview(dup)}")
            source = str(list_file)
        else:
            names = sorted({n for files in fg_files for n in files})
            if not names:
                raise InputError(
                    f"adobe: no foreground images in {', '.join(str(d) for d, _ in dirs)}"
                )
            dup = _repeats([os.path.splitext(n)[0] for n in names])
            if dup:
                raise InputError(f"adobe: two foreground files share the stem(s) {preview(dup)}")
            source = "fg/ files sorted by name (no training_fg_names.txt)"
            self._listed_order = False
        out, missing, no_alpha = [], [], []
        for i, name in enumerate(names):
            hit = _resolve(name, fg_files)
            if hit is None:
                missing.append(name)
                continue
            g, fg_path = hit
            alpha = _resolve(fg_path.name, [alpha_files[g]]) or _resolve(name, [alpha_files[g]])
            if alpha is None:
                no_alpha.append(str(fg_path))
                continue
            out.append(Foreground(name, fg_path, alpha[1], i))
        where = " or ".join(str(d) for d, _ in dirs)
        if missing:
            raise InputError(
                f"{list_file}: {len(missing)} of {len(names)} listed foreground(s) not found "
                f"in {where}: {preview(missing)}"
            )
        if no_alpha:
            raise InputError(
                f"{no_alpha[0]}: no alpha of the same name in "
                f"{' or '.join(str(a) for _, a in dirs)} ({len(no_alpha)} foreground(s) lack "
                f"one: {preview([Path(p).name for p in no_alpha])})"
            )
        return out, source


def _resolve(name: str, tables: Sequence[dict[str, Path]]) -> tuple[int, Path] | None:
    """``(table index, path)`` of ``name``: the exact file name in the first table that has
    it, else the only file with its stem in any table; ``None`` if absent.

    Raises
    ------
    InputError
        When only the stem matches and several files have it.
    """
    for g, files in enumerate(tables):
        if name in files:
            return g, files[name]
    stem = os.path.splitext(name)[0]
    hits = [(g, p) for g, files in enumerate(tables) for p in _by_stem(files).get(stem, [])]
    if len(hits) > 1:
        raise InputError(
            f"{hits[0][1]}: {name!r} is not there by its exact name and several files share "
            f"its stem: {', '.join(str(p) for _, p in hits)}"
        )
    return hits[0] if hits else None


class D646TrainSet(CompositeTrainSet):
    """The Distinctions-646 training set, composed on MS-COCO train2014 backgrounds.

    Parameters
    ----------
    root
        The unpacked ``Distinctions-646`` folder (holding ``Train/``), or ``Train/`` itself.
    bg_root, **kwargs
        See :class:`CompositeTrainSet`.

    Notes
    -----
    **Layout** (``datasets-and-peers.md`` section 1.2, from a third-party setup script that
    checks the counts; ``FG``/``GT`` also lower-case)::

        Train/FG/<name>.png    596 foregrounds
        Train/GT/<name>.png    596 alphas, same file names
        Train/bg_train.txt     59,600 COCO train2014 names (CRLF, no final newline)

    **Pairing**: no foreground list ships, so foreground ``i`` is the ``i``-th file of
    ``Train/FG`` sorted by name (the order :func:`benchmark.compose.compose_d646` uses for the
    test set) and goes with lines ``100 i .. 100 i + 99`` of ``bg_train.txt``. Every ``FG``
    file needs a ``GT`` file of the same name (or stem) and every ``GT`` file a foreground.
    """

    dataset = "d646"
    expected_foregrounds = D646_TRAIN_FOREGROUNDS
    bg_list_names = ("bg_train.txt",)

    def _find_foregrounds(self) -> tuple[list[Foreground], str]:
        root = self.root
        train_dir = fg_dir = gt_dir = None
        for c in (root / "Train", root / "Distinctions-646" / "Train", root):
            fg_dir, gt_dir = _first_dir(c, ("FG", "fg")), _first_dir(c, ("GT", "gt"))
            if fg_dir is not None and gt_dir is not None:
                train_dir = c
                break
        if train_dir is None or fg_dir is None or gt_dir is None:
            hint = (
                " (only Test/ found: pass the folder holding Train/)"
                if (root / "Test").is_dir()
                else ""
            )
            raise InputError(f"d646: no Train/FG and Train/GT in {root}{hint}")
        self.train_dir = train_dir
        fgs, gts = _image_files(fg_dir), _image_files(gt_dir)
        if not fgs:
            raise InputError(f"d646: no foreground images in {fg_dir}")
        names = sorted(fgs)
        dup = _repeats([os.path.splitext(n)[0] for n in names])
        if dup:
            raise InputError(f"{fg_dir}: two foreground files share the stem(s) {preview(dup)}")
        out, no_alpha, used = [], [], set()
        for i, name in enumerate(names):
            hit = _resolve(name, [gts])
            if hit is None:
                no_alpha.append(name)
                continue
            used.add(hit[1].name)
            out.append(Foreground(name, fgs[name], hit[1], i))
        if no_alpha:
            raise InputError(
                f"{fg_dir / no_alpha[0]}: no alpha of the same name in {gt_dir} "
                f"({len(no_alpha)} foreground(s) lack one: {preview(no_alpha)})"
            )
        stray = sorted(set(gts) - used)
        if stray:
            raise InputError(
                f"{gt_dir / stray[0]}: an alpha with no foreground in {fg_dir} "
                f"({len(stray)} such: {preview(stray)})"
            )
        return out, f"{fg_dir} sorted by name"


#: training sets by name (``--dataset NAME=ROOT``)
TRAIN_SETS: dict[str, type[CompositeTrainSet]] = {"adobe": AdobeTrainSet, "d646": D646TrainSet}


def open_train_set(
    name: str, root: str | os.PathLike[str], bg_root: str | os.PathLike[str], **kwargs: Any
) -> CompositeTrainSet:
    """``TRAIN_SETS[name](root, bg_root, **kwargs)``; an unknown name fails with the close
    matches (:class:`metrics.common.UnknownNameError`)."""
    return lookup(TRAIN_SETS, name, "training set")(root, bg_root, **kwargs)


def sdnet_portraits(
    root: str | os.PathLike[str],
    bg_root: str | os.PathLike[str],
    names: str | os.PathLike[str] | Sequence[str],
    *,
    dataset: str = "adobe",
    family: str = "gca",
    **kwargs: Any,
) -> CompositeTrainSet:
    """An SDNet portrait training subset: the foregrounds ``names`` of the Adobe or D646 set.

    The SDNet paper (section 4.1) trains on "78 human foreground images" of the Adobe set
    (22 more for testing) and "342 human images" of Distinctions-646
    (:data:`SDNET_PORTRAITS`), each composited "with a random background from COCO", with
    "random affine, cropping, and color jitters" -- the three augmentations of the GCA protocol,
    hence ``family="gca"`` by default. The paper lists no file names, so the user gives them
    (a list file or a sequence; unknown or repeated names are errors). Each foreground keeps its
    backgrounds of the full set (the listed 100, or the seeded draws). A list of another length
    than the paper's is allowed (:meth:`CompositeTrainSet.config` records the count).
    """
    return open_train_set(dataset, root, bg_root, names=names, family=family, **kwargs)
