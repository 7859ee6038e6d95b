"""Paper figures: channel histograms of pruned students and qualitative matting grids.

Both figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas
(``FigureCanvasAgg``), never through ``pyplot``: no global figure manager, no backend switch, so
importing or calling this module leaves an interactive session untouched. Global ``rcParams``
are read, never written.

Files are written atomically (:func:`metrics.common.atomic_write`) as ``<out_base>.png`` and
``<out_base>.pdf``; the suffix is appended to the string, so ``out_base = "dim_uni_0.5"`` gives
``dim_uni_0.5.png``. The content is deterministic for the same input and matplotlib version:
the PNG carries no ``Software`` tag and the PDF no ``CreationDate`` (matplotlib writes no other
time stamp or random id).

* :func:`channel_histogram`: the supplement's Figures 1-4 (Yoon et al., ACCV 2022, "Lightweight
  Alpha Matting Network Using Distillation-Based Channel Pruning", supplementary section 4):
  for every prunable BN layer of a channel spec (:class:`ChannelSpec`), the teacher's
  channel count beside the pruned one, encoder layers then decoder layers.
* :func:`qualitative_grid`: the supplement's Figures 5-7: input, trimap, ground truth and every
  method's prediction per image, with an optional zoomed inset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from metrics import InputError
from metrics.common import atomic_write

__all__ = [
    "ChannelHistogram",
    "QualitativeGrid",
    "channel_histogram",
    "histogram_figure",
    "layer_order",
    "qualitative_figure",
    "qualitative_grid",
    "save_figure",
    "short_layer_names",
    "SEPARATOR_GID",
]


class ChannelSpec(Protocol):
    """What a channel histogram reads from a pruned student's channel spec (the attributes of
    :class:`baselines.pruning.spec.ChannelSpec`; ``reports`` takes any object that has them)."""

    model: str
    widths: Mapping[str, int]
    teacher_widths: Mapping[str, int]
    meta: Mapping[str, Any]


#: ``gid`` of the dashed line between the encoder and the decoder bars (tests look for it).
SEPARATOR_GID = "encoder-decoder-separator"

_TEACHER_COLOR = "#b0b0b0"
_PRUNED_COLOR = "#1f77b4"
_ZOOM_COLOR = "#ff3030"

#: Per-format ``savefig`` metadata that removes matplotlib's time stamp / version string.
_METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None},
}


# --------------------------------------------------------------------------------------------
# writing


def _new_figure(**kw: Any) -> Figure:
    """A figure on its own Agg canvas (no pyplot state)."""
    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


def save_figure(
    fig: Figure,
    out_base: str | Path,
    *,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = 150,
) -> list[Path]:
    """Write ``fig`` as ``<out_base>.<fmt>`` for each format, atomically and reproducibly.

    Parameters
    ----------
    fig
        The figure to write.
    out_base
        Path without suffix; parent folders are created.
    formats
        ``"png"`` and/or ``"pdf"``.
    dpi
        Raster resolution (PNG; images embedded in the PDF keep their own resolution).

    Returns
    -------
    list of Path
        The written files, in ``formats`` order.
    """
    paths = []
    for fmt in formats:
        if fmt not in _METADATA:
            raise ValueError(f"unknown figure format {fmt!r} (png or pdf)")
        path = Path(f"{out_base}.{fmt}")
        with atomic_write(path, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------
# channel histogram


def layer_order(
    spec: ChannelSpec, groups: Mapping[str, Sequence[str]] | None = None
) -> tuple[list[str], int]:
    """The spec's layers in encoder-then-decoder order, and how many are encoder layers.

    Parameters
    ----------
    spec
        A channel spec.
    groups
        ``{"encoder": [...], "decoder": [...]}`` whose entries are BN names or module prefixes
        (a family's ``layer_groups(model)``). Default: ``spec.meta["groups"]``, which every
        criterion's ``select`` stores with the BN names of each part in registration order.

    Returns
    -------
    layers, n_encoder
        Encoder layers (in the order ``groups`` lists them) then decoder layers. Without
        groups: the spec's own order and ``n_encoder = len(layers)`` (no split drawn).

    Raises
    ------
    InputError
        When a spec layer is in no part, in both parts, or a group entry names no spec layer.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> s = SimpleNamespace(model="toy", widths={"up.bn": 1, "down.bn": 2},
    ...                     teacher_widths={"up.bn": 2, "down.bn": 4},
    ...                     meta={"groups": {"encoder": ["down"], "decoder": ["up"]}})
    >>> layer_order(s)
    (['down.bn', 'up.bn'], 1)
    """
    if groups is None:
        groups = spec.meta.get("groups")
    names = list(spec.widths)
    if not groups:
        return names, len(names)
    unknown = set(groups) - {"encoder", "decoder"}
    if unknown:
        raise InputError(f"channel histogram: unknown group(s) {sorted(unknown)}")
    part: dict[str, str] = {}
    for p in ("encoder", "decoder"):
        for entry in groups.get(p, ()):
            hit = [n for n in names if _hits(n, entry)]
            if not hit:
                raise InputError(f"channel histogram: groups[{p!r}] entry {entry!r} is no layer")
            for n in hit:
                if part.setdefault(n, p) != p:
                    raise InputError(f"channel histogram: layer {n!r} is in both parts")
    missing = [n for n in names if n not in part]
    if missing:
        raise InputError(f"channel histogram: layers in no group: {missing[:3]}")
    enc = [n for e in groups.get("encoder", ()) for n in names if _hits(n, e)]
    dec = [n for e in groups.get("decoder", ()) for n in names if _hits(n, e)]
    enc, dec = list(dict.fromkeys(enc)), list(dict.fromkeys(dec))
    return enc + dec, len(enc)


def _hits(name: str, entry: str) -> bool:
    return name == entry or name.startswith(entry + ".")


def short_layer_names(names: Sequence[str], max_len: int = 22) -> list[str]:
    """Tick labels: drop the dotted components every name shares at the start and at the end,
    then keep at most ``max_len`` characters from the end (``"…"`` marks a cut).

    Examples
    --------
    >>> short_layer_names(["down1.conv1.cbr_unit.1", "up5.conv.cbr_unit.1"])
    ['down1.conv1', 'up5.conv']
    >>> short_layer_names(["stages.0.0.goct.bns.0"], max_len=12)
    ['…oct.bns.0']
    """
    parts = [n.split(".") for n in names]
    if len(parts) > 1:
        shortest = min(len(p) for p in parts)
        pre = 0
        while pre < shortest - 1 and len({p[pre] for p in parts}) == 1:
            pre += 1
        suf = 0
        while suf < shortest - 1 - pre and len({p[-1 - suf] for p in parts}) == 1:
            suf += 1
        parts = [p[pre : len(p) - suf] for p in parts]
    out = []
    for p in parts:
        s = ".".join(p)
        out.append(s if len(s) <= max_len else "…" + s[len(s) - max_len + 3 :])
    return out


@dataclass
class ChannelHistogram:
    """A drawn channel histogram.

    Attributes
    ----------
    figure, ax
        The figure (on an Agg canvas) and its single axes.
    layers
        BN names in drawing order (encoder, then decoder).
    n_encoder
        Number of encoder layers (the separator sits after them when ``0 < n_encoder <
        len(layers)``).
    n_bars
        Bars drawn: ``2 * len(layers)`` (teacher and pruned per layer).
    tick_layers
        Indices of the layers that carry a tick label (thinned when there are many).
    """

    figure: Figure
    ax: Axes
    layers: list[str]
    n_encoder: int
    n_bars: int
    tick_layers: list[int]


def _default_title(spec: ChannelSpec) -> str:
    m = spec.meta
    bits = [spec.model]
    if m.get("criterion"):
        bits.append(str(m["criterion"]).upper())
    if m.get("requested_ratio") is not None:
        bits.append(f"{float(m['requested_ratio']):.0%}")
    kept, total = sum(spec.widths.values()), sum(spec.teacher_widths.values())
    text = " ".join(bits) + f": {kept:,} of {total:,} BN channels kept"
    pt, pp = m.get("params_teacher"), m.get("params_pruned")
    if pt and pp is not None:
        text += f", params {pp / 1e6:.2f}M of {pt / 1e6:.2f}M"
    return text


def histogram_figure(
    spec: ChannelSpec,
    *,
    title: str | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    max_labels: int = 60,
) -> ChannelHistogram:
    """Draw the teacher-vs-pruned channel histogram of ``spec`` (see :func:`channel_histogram`).

    Parameters
    ----------
    spec
        A spec with ``teacher_widths`` (the teacher bars need them).
    title
        Figure title; ``None`` makes one from the spec (model, criterion, ratio, channels and
        parameters kept), ``""`` draws none.
    groups
        Encoder / decoder split, see :func:`layer_order` (default ``spec.meta["groups"]``).
    max_labels
        At most about this many tick labels; with more layers every ``k``-th layer is labelled,
        counting afresh from the first decoder layer (which is always labelled).

    Returns
    -------
    ChannelHistogram
    """
    if not spec.widths:
        raise InputError("channel histogram: the spec has no layers")
    if not spec.teacher_widths:
        raise InputError("channel histogram: the spec has no teacher_widths")
    if max_labels < 1:
        raise ValueError(f"max_labels must be >= 1, got {max_labels}")
    layers, n_enc = layer_order(spec, groups)
    n = len(layers)
    x = np.arange(n, dtype=float)
    teacher = [spec.teacher_widths[k] for k in layers]
    pruned = [spec.widths[k] for k in layers]

    fig = _new_figure(figsize=(min(max(6.0, 0.2 * n + 2.0), 30.0), 3.8), layout="constrained")
    ax = fig.add_subplot()
    w = 0.4
    bt = ax.bar(x - w / 2, teacher, w, color=_TEACHER_COLOR, label="teacher", gid="teacher")
    bp = ax.bar(x + w / 2, pruned, w, color=_PRUNED_COLOR, label="pruned", gid="pruned")
    for rect, name in zip([*bt.patches, *bp.patches], layers * 2, strict=True):
        rect.set_gid(name)

    top = max(teacher) * 1.18
    ax.set_ylim(0, top)
    ax.set_xlim(-0.6, n - 0.4)
    if 0 < n_enc < n:
        ax.axvline(n_enc - 0.5, color="k", ls="--", lw=1.0, gid=SEPARATOR_GID)
    has_groups = bool(groups if groups is not None else spec.meta.get("groups"))
    for lo, hi, label in ((0, n_enc, "encoder"), (n_enc, n, "decoder")):
        if has_groups and hi > lo:
            ax.text(
                (lo + hi - 1) / 2,
                top * 0.97,
                label,
                ha="center",
                va="top",
                fontsize=10,
                fontweight="bold",
                gid=f"{label}-label",
            )

    step = max(1, math.ceil(n / max_labels))
    ticks = sorted(set(range(0, n_enc, step)) | set(range(n_enc, n, step)))
    short = short_layer_names(layers)
    ax.set_xticks(ticks, [short[i] for i in ticks], rotation=90, fontsize=7)
    ax.set_ylabel("number of channels")
    ax.set_xlabel("layer (BatchNorm)" + (f", one in {step} labelled" if step > 1 else ""))
    fig.legend(loc="outside upper right", ncols=2, fontsize=8, frameon=False)
    ax.grid(axis="y", lw=0.4, alpha=0.5)
    ax.set_axisbelow(True)
    if title is None:
        title = _default_title(spec)
    if title:
        ax.set_title(title, fontsize=10)
    return ChannelHistogram(fig, ax, layers, n_enc, len(bt.patches) + len(bp.patches), ticks)


def channel_histogram(
    spec: ChannelSpec,
    out_base: str | Path,
    *,
    title: str | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = 150,
) -> list[Path]:
    """Channel histogram of a pruned student (the supplement's Figures 1-4), as PNG and PDF.

    One group of two bars per prunable BN layer of ``spec``: the teacher's channel count
    (``spec.teacher_widths``, grey) and the pruned count (``spec.widths``, blue). Layers run
    encoder then decoder (:func:`layer_order`: ``groups`` or ``spec.meta["groups"]``, else the
    spec's order), with a dashed separator and "encoder" / "decoder" labels when both parts are
    present. Tick labels are :func:`short_layer_names`, rotated, thinned beyond ``max_labels``
    of :func:`histogram_figure`; the y axis is the number of channels.

    Parameters
    ----------
    spec
        The student's channel spec (from a criterion's ``select`` or ``ChannelSpec.load``).
    out_base
        Output path without suffix.
    title
        See :func:`histogram_figure`.
    groups
        See :func:`layer_order`.
    formats, dpi
        See :func:`save_figure`.

    Returns
    -------
    list of Path
        ``[<out_base>.png, <out_base>.pdf]``. The bar count etc. are on
        :func:`histogram_figure`'s result, which this function draws.
    """
    hist = histogram_figure(spec, title=title, groups=groups)
    return save_figure(hist.figure, out_base, formats=formats, dpi=dpi)


# --------------------------------------------------------------------------------------------
# qualitative grid

#: Fixed columns of the grid, before the methods: (row key, column title).
GRID_FIXED: tuple[tuple[str, str], ...] = (("image", "Input"), ("trimap", "Trimap"), ("gt", "GT"))


@dataclass
class QualitativeGrid:
    """A drawn qualitative grid.

    Attributes
    ----------
    figure
        The figure (Agg canvas); ``figure.axes`` are exactly the panels, row by row (insets are
        child axes of their panel, not in ``figure.axes``).
    columns
        Column titles: ``Input, Trimap, GT`` then the methods.
    n_panels
        ``rows x columns``.
    n_insets
        Zoomed insets drawn (one per panel of a row that has a zoom box).
    """

    figure: Figure
    columns: list[str]
    n_panels: int
    n_insets: int


def _check_rect(zoom: Sequence[int], h: int, w: int, where: str) -> tuple[int, int, int, int]:
    if len(zoom) != 4:
        raise InputError(f"{where}: zoom must be (x, y, width, height), got {tuple(zoom)}")
    x, y, zw, zh = (int(v) for v in zoom)
    if zw < 1 or zh < 1 or x < 0 or y < 0 or x + zw > w or y + zh > h:
        raise InputError(f"{where}: zoom box {(x, y, zw, zh)} is not inside the {h}x{w} image")
    return x, y, zw, zh


def _check_rows(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Validate the rows; return the method names (the first row's ``preds`` order)."""
    if not rows:
        raise InputError("qualitative grid: no rows")
    methods: list[str] | None = None
    for i, row in enumerate(rows):
        where = f"qualitative grid row {i}" + (f" ({row['name']})" if row.get("name") else "")
        for key in ("image", "trimap", "gt", "preds"):
            if key not in row:
                raise InputError(f"{where}: missing {key!r}")
        preds = row["preds"]
        if methods is None:
            methods = list(preds)
        elif list(preds) != methods:
            raise InputError(f"{where}: methods {list(preds)} differ from row 0's {methods}")
        image = np.asarray(row["image"])
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"{where}: image must be HxWx3, got shape {image.shape}")
        h, w = image.shape[:2]
        arrays = {"image": image, "trimap": row["trimap"], "gt": row["gt"]}
        arrays.update({f"preds[{m!r}]": preds[m] for m in methods})
        for key, a in arrays.items():
            a = np.asarray(a)
            if a.dtype != np.uint8:
                raise InputError(f"{where}: {key} is {a.dtype}, expected uint8")
            if key != "image" and a.shape != (h, w):
                raise InputError(f"{where}: {key} has shape {a.shape}, image is {h}x{w}")
    assert methods is not None
    return methods


def qualitative_figure(
    rows: Sequence[Mapping[str, Any]],
    *,
    zoom: tuple[int, int, int, int] | None = None,
    panel_inches: float = 2.0,
    inset_size: float = 0.45,
) -> QualitativeGrid:
    """Draw the qualitative grid (see :func:`qualitative_grid`).

    Parameters
    ----------
    rows, zoom
        See :func:`qualitative_grid`.
    panel_inches
        Width of one panel in inches.
    inset_size
        Width of the zoomed inset as a fraction of the panel width (its height follows the
        box's aspect, capped at half the panel height).

    Returns
    -------
    QualitativeGrid
    """
    methods = _check_rows(rows)
    columns = [t for _, t in GRID_FIXED] + methods
    ncols = len(columns)
    aspects = [np.asarray(r["image"]).shape[0] / np.asarray(r["image"]).shape[1] for r in rows]
    fig = _new_figure(
        figsize=(ncols * panel_inches, sum(aspects) * panel_inches + 0.35), layout="constrained"
    )
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.0, hspace=0.0)
    axes = fig.subplots(len(rows), ncols, squeeze=False, gridspec_kw={"height_ratios": aspects})
    n_insets = 0
    for i, row in enumerate(rows):
        image = np.asarray(row["image"])
        h, w = image.shape[:2]
        box = row.get("zoom", zoom)
        where = f"qualitative grid row {i}"
        rect = None if box is None else _check_rect(box, h, w, where)
        panels = [image, row["trimap"], row["gt"], *(row["preds"][m] for m in methods)]
        for j, data in enumerate(panels):
            ax = axes[i, j]
            _show(ax, np.asarray(data))
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if i == 0:
                ax.set_title(columns[j], fontsize=9)
            if j == 0 and row.get("name"):
                ax.set_ylabel(str(row["name"]), fontsize=8)
            if rect is not None:
                _zoom(ax, np.asarray(data), rect, h, w, inset_size)
                n_insets += 1
    return QualitativeGrid(fig, columns, len(rows) * ncols, n_insets)


def _show(ax: Axes, data: np.ndarray) -> None:
    if data.ndim == 3:
        ax.imshow(data, interpolation="nearest")
    else:
        ax.imshow(data, cmap="gray", vmin=0, vmax=255, interpolation="nearest")


def _zoom(
    ax: Axes,
    data: np.ndarray,
    rect: tuple[int, int, int, int],
    h: int,
    w: int,
    inset_size: float,
) -> None:
    """Box on the panel and the enlarged crop in its lower-right corner."""
    x, y, zw, zh = rect
    ax.add_patch(Rectangle((x - 0.5, y - 0.5), zw, zh, fill=False, edgecolor=_ZOOM_COLOR, lw=1.0))
    fw = inset_size
    fh = fw * (zh / zw) * (w / h)  # axes fractions: keep the crop's aspect on screen
    if fh > 0.5:
        fw, fh = fw * 0.5 / fh, 0.5
    inset = ax.inset_axes((1 - fw, 0, fw, fh))
    _show(inset, data[y : y + zh, x : x + zw])
    inset.set_xticks([])
    inset.set_yticks([])
    for s in inset.spines.values():
        s.set_edgecolor(_ZOOM_COLOR)
        s.set_linewidth(1.2)


def qualitative_grid(
    rows: Sequence[Mapping[str, Any]],
    out_base: str | Path,
    *,
    zoom: tuple[int, int, int, int] | None = None,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = 150,
) -> list[Path]:
    """Qualitative comparison grid (the supplement's Figures 5-7), as PNG and PDF.

    One row per image; columns ``Input``, ``Trimap``, ``GT``, then every method's prediction.

    Parameters
    ----------
    rows
        One mapping per image with ``image`` (uint8 ``HxWx3`` RGB), ``trimap``, ``gt`` (uint8
        ``HxW``) and ``preds`` (method name -> uint8 ``HxW`` alpha; the same methods in the
        same order in every row, which is the column order). Optional ``name`` (row label) and
        ``zoom`` (this row's box, overriding the argument). Grey panels map 0..255 to black..
        white with no per-image stretching.
    out_base
        Output path without suffix.
    zoom
        ``(x, y, width, height)`` in pixels (``x`` = column of the box's left edge, ``y`` = row
        of its top edge) inside every image. The box is outlined in red on every panel and its
        crop, enlarged, fills the panel's lower-right corner.
    formats, dpi
        See :func:`save_figure`.

    Returns
    -------
    list of Path
        The written files. Panel and inset counts are on :func:`qualitative_figure`'s result.

    Raises
    ------
    InputError
        Naming the row and field, for a missing field, a non-uint8 array, a shape mismatch,
        methods that differ between rows, or a zoom box outside the image.
    """
    grid = qualitative_figure(rows, zoom=zoom)
    return save_figure(grid.figure, out_base, formats=formats, dpi=dpi)
