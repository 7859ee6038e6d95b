"""Matching predictions to ground-truth alphas and trimaps by file name.

Rules, in order, for a prediction named ``<stem>.<ext>``:

1. a ground truth (or trimap) with the same stem;
2. Composition-1k style: if the stem is ``<base>_<k>`` (``k`` an integer), the file named
   ``<base>`` -- the 1000 test predictions ``<fg>_<k>.png`` against the 50 GT alphas
   ``<fg>.png``. Names may hold spaces and parentheses (``woman-952506_1920 (1)_3.png``).

When a trimap folder is given, its files define the test set: every trimap needs a
prediction, so a missing prediction is an error, never a silently smaller mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from metrics import InputError
from metrics.common import IMAGE_EXTS

__all__ = ["Triplet", "list_images", "match_triplets", "base_name"]

_INDEXED = re.compile(r"^(?P<base>.+)_(?P<k>\d+)$")


@dataclass(frozen=True)
class Triplet:
    """One evaluation item: its name and the three files."""

    name: str
    pred: Path
    gt: Path
    trimap: Path | None


def list_images(folder: str | Path, what: str = "folder") -> dict[str, Path]:
    """``{stem: path}`` of the image files in ``folder`` (not recursive).

    Raises
    ------
    InputError
        If the folder is missing, has no image, or two files share a stem.
    """
    d = Path(folder)
    if not d.is_dir():
        raise InputError(f"{what} {d}: no such directory")
    out: dict[str, Path] = {}
    for p in sorted(d.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."):
            if p.stem in out:
                raise InputError(f"{what} {d}: {out[p.stem].name} and {p.name} share a name")
            out[p.stem] = p
    if not out:
        raise InputError(f"{what} {d}: no image files ({', '.join(IMAGE_EXTS)})")
    return dict(sorted(out.items()))


def base_name(stem: str) -> str | None:
    """``"<base>"`` for a Composition-1k style ``"<base>_<k>"`` stem, else ``None``.

    >>> base_name("woman-952506_1920 (1)_12")
    'woman-952506_1920 (1)'
    >>> base_name("GT01") is None
    True
    """
    m = _INDEXED.match(stem)
    return m.group("base") if m else None


def _lookup(stem: str, table: dict[str, Path]) -> Path | None:
    if stem in table:
        return table[stem]
    base = base_name(stem)
    if base is not None and base in table:
        return table[base]
    return None


def _preview(names: list[str], n: int = 5) -> str:
    more = f" (and {len(names) - n} more)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def match_triplets(
    pred_dir: str | Path, gt_dir: str | Path, trimap_dir: str | Path | None
) -> list[Triplet]:
    """Pair every prediction with its ground truth (and trimap), sorted by name.

    Raises
    ------
    InputError
        Naming the files: predictions without ground truth or trimap, trimaps without a
        prediction.
    """
    preds = list_images(pred_dir, "prediction folder")
    gts = list_images(gt_dir, "ground-truth folder")
    tris = list_images(trimap_dir, "trimap folder") if trimap_dir is not None else None
    out: list[Triplet] = []
    no_gt, no_tri = [], []
    for stem, p in preds.items():
        g = _lookup(stem, gts)
        t = _lookup(stem, tris) if tris is not None else None
        if g is None:
            no_gt.append(p.name)
        if tris is not None and t is None:
            no_tri.append(p.name)
        if g is not None and (tris is None or t is not None):
            out.append(Triplet(stem, p, g, t))
    if no_gt:
        raise InputError(
            f"{len(no_gt)} prediction(s) have no ground truth in {gt_dir}: {_preview(no_gt)}"
        )
    if no_tri:
        raise InputError(
            f"{len(no_tri)} prediction(s) have no trimap in {trimap_dir}: {_preview(no_tri)}"
        )
    if tris is not None:
        # a per-foreground trimap <base> is used by the predictions <base>_<k>
        used = set(preds) | {base_name(s) for s in preds}
        orphans = [t.name for s, t in tris.items() if s not in used]
        if orphans:
            raise InputError(
                f"{len(orphans)} trimap(s) in {trimap_dir} have no prediction in {pred_dir}: "
                f"{_preview(orphans)}"
            )
    return sorted(out, key=lambda t: t.name)
