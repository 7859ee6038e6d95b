"""Paper-style tables from a run's per-image results: Markdown, LaTeX and CSV.

Labels, arrows, units and column order come from the metric registry (:data:`metrics.METRICS`)
and the convention registry; nothing about a metric is hard-coded here. Values are the mean of
per-image values in paper units (the reference drivers' aggregation); NaN values (MSE of an
image without unknown pixels) are left out of a mean and counted in the caption. The main
table gives every mean its 95 % bootstrap interval over images and the number of images
behind it (:func:`reports.stats.mean_ci`): Markdown and LaTeX print ``mean [lo, hi]`` (the
bounds to the mean's decimals; the best mean bold) and an ``n`` column (a cell with fewer
values than its row says ``n=K``); the CSV has ``<metric>``, ``<metric>_lo``,
``<metric>_hi`` and ``<metric>_n`` columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from metrics import CONVENTIONS, METRICS
from reports.stats import CONFIDENCE, RESAMPLES, MeanCI, mean_ci

__all__ = [
    "Table",
    "summary_table",
    "discrepancy_table",
    "input_notes",
    "render",
    "tex_escape",
    "Format",
]

Format = Literal["md", "tex", "csv"]


@dataclass
class Table:
    """A rendered-to-be table: a frame of numbers plus what the caption must say."""

    frame: pd.DataFrame  # rows: labels; columns: metric names
    caption: str
    metrics: tuple[str, ...]
    bold_best: bool = True
    title: str = ""
    #: (row, metric) -> the mean's interval over images; empty: plain means
    ci: dict[tuple[str, str], MeanCI] | None = None


def _mean(values: Sequence[float]) -> tuple[float, int]:
    good = [v for v in values if not math.isnan(v)]
    return (math.fsum(good) / len(good) if good else float("nan")), len(values) - len(good)


def _units(metrics: Sequence[str]) -> str:
    """``"SAD/1000, MSE, Grad/1000, Conn/1000"`` from the registry's paper divisors."""
    return ", ".join(dict.fromkeys(METRICS[m].unit for m in metrics))


def _direction(metrics: Sequence[str]) -> str:
    """``"lower is better"`` (or higher, or per arrow) from the registry's directions."""
    higher = {METRICS[m].higher_is_better for m in metrics}
    if len(higher) > 1:
        return "arrows mark the better direction"
    return "higher is better" if higher == {True} else "lower is better"


def summary_table(
    rows: Sequence[dict[str, Any]],
    dataset: str,
    *,
    run_config: dict[str, Any],
    planned: Mapping[str, int] | None = None,
) -> Table:
    """Methods as rows, the dataset's metrics as columns, mean over images.

    The caption says what the means stand on: the image count per method ("20 of 50 images"
    when ``planned``, method -> images of a complete run, says the run is short), every
    metric averaged over fewer images (NaN values: MSE without unknown pixels), and the counted
    input problems the per-image rows record (``trimap_stray``: trimap pixels other than
    0/128/255; ``unknown_pixels`` 0; ``pred_lossy``: predictions read from JPEG).
    """
    rows = [r for r in rows if r["dataset"] == dataset]
    if not rows:
        raise ValueError(f"no results for dataset {dataset!r}")
    metrics = tuple(k for k in METRICS if k in rows[0]["metrics"])
    methods = list(dict.fromkeys(r["method"] for r in rows))
    data, nan_notes, counts = {}, [], {}
    ci: dict[tuple[str, str], MeanCI] = {}
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        counts[m] = len(mine)
        vals = {}
        for k in metrics:
            values = [float(r["metrics"][k]) for r in mine]
            c = ci[(m, k)] = mean_ci(values)  # its mean is _mean's: NaN left out, fsum / n
            vals[k] = c.mean
            skipped = len(values) - c.n
            if skipped:
                nan_notes.append(
                    f"{m}: {METRICS[k].label} is a mean over {c.n} of {len(values)} images "
                    f"({skipped} without unknown pixels give NaN and are left out)"
                )
        data[m] = vals
    frame = pd.DataFrame.from_dict(data, orient="index")[list(metrics)]
    conv = CONVENTIONS[run_config.get("convention", "reference")]
    region = "unknown region (trimap == 128)" if "sad" in metrics else "whole image"
    caption = (
        f"{dataset}: mean over {_image_counts(counts, planned)} [{CONFIDENCE:.0%} bootstrap "
        f"interval over images: percentile, {RESAMPLES} resamples, seed 0]; {region}; "
        f"convention '{conv.name}' ({conv.title}); units {_units(metrics)}; "
        f"{_direction(metrics)}; predictions {'forced to' if run_config.get('force_known') else 'not forced to'} "
        f"the trimap's known regions, 8-bit by {run_config.get('rounding', 'round')}."
    )
    notes = nan_notes + input_notes(rows)
    if notes:
        caption += " " + "; ".join(notes) + "."
    return Table(
        frame=frame, caption=caption, metrics=metrics, title=f"Results on {dataset}", ci=ci
    )


def _image_counts(counts: Mapping[str, int], planned: Mapping[str, int] | None) -> str:
    """``"50 images"``, ``"50/48 images"`` or ``"20 of 50 images (incomplete run)"``."""
    planned = planned or {}
    short = {m: (n, planned[m]) for m, n in counts.items() if m in planned and n < planned[m]}
    if short:
        parts = [f"{m}: {n} of {p}" for m, (n, p) in short.items()]
        full = [m for m in counts if m not in short]
        if full:
            parts.append(f"others: {'/'.join(str(counts[m]) for m in full)}")
        return f"{'; '.join(parts)} images (INCOMPLETE run: resume it for the full test set)"
    n = sorted(set(counts.values()))
    return f"{'/'.join(map(str, n))} images"


def input_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Counted input problems of per-image rows (the fields the runner records), one phrase
    each, empty when there are none."""
    notes = []
    stray = [r for r in rows if r.get("trimap_stray")]
    if stray:
        per_image = {r["name"]: int(r["trimap_stray"]) for r in stray}  # one trimap per image
        names, px = sorted(per_image), sum(per_image.values())
        notes.append(
            f"{len(names)} trimap(s) have {px} pixel(s) with values other than 0/128/255, "
            "counted as neither known nor unknown (e.g. "
            f"{', '.join(names[:3])})"
        )
    none = sorted(
        {r["name"] for r in rows if r.get("unknown_pixels") == 0 and "sad" in r["metrics"]}
    )
    if none:
        notes.append(
            f"{len(none)} image(s) have no unknown pixel: SAD, Grad, Conn 0 and MSE left out "
            f"(e.g. {', '.join(none[:3])})"
        )
    lossy = [r for r in rows if r.get("pred_lossy")]
    if lossy:
        per_method: dict[str, int] = {}
        for r in lossy:
            per_method[r["method"]] = per_method.get(r["method"], 0) + 1
        counts = ", ".join(f"{m}: {n}" for m, n in per_method.items())
        notes.append(
            f"{len(lossy)} prediction(s) read from JPEG (lossy: the values are not those "
            f"predicted; {counts})"
        )
    return notes


def discrepancy_table(
    rows: Sequence[dict[str, Any]], dataset: str, method: str | None = None
) -> Table:
    """The same predictions under every convention: conventions as rows (mean over images and,
    unless ``method`` is given, one block per method)."""
    rows = [r for r in rows if r["dataset"] == dataset and r.get("conventions")]
    if method is not None:
        rows = [r for r in rows if r["method"] == method]
    if not rows:
        raise ValueError(f"no per-convention results for dataset {dataset!r}")
    metrics = ("sad", "mse", "grad", "conn")
    data = {}
    for m in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == m]
        for c in CONVENTIONS:
            data[f"{m} / {c}"] = {
                k: _mean([float(r["conventions"][c][k]) for r in mine])[0] for k in metrics
            }
    frame = pd.DataFrame.from_dict(data, orient="index")[list(metrics)]
    caption = (
        f"{dataset}: the same 8-bit predictions scored under every convention (mean over images, "
        f"each convention in its own paper units: {_convention_units(metrics)}). Differences "
        "come only from the metric code; 'mattebench conventions -v' lists what each "
        "convention does differently."
    )
    return Table(
        frame=frame,
        caption=caption,
        metrics=metrics,
        bold_best=False,
        title=f"Conventions on {dataset}",
    )


def _convention_units(metrics: Sequence[str]) -> str:
    """``"SAD/1000, ... (reference, gca, ...); Grad/10 for p3m, dim-pytorch"`` from the registry."""
    by_units: dict[str, list[str]] = {}
    for name, conv in CONVENTIONS.items():
        units = ", ".join(
            METRICS[m].label
            if conv.divisors[m] == 1
            else f"{METRICS[m].label}/{conv.divisors[m]:g}"
            for m in metrics
        )
        by_units.setdefault(units, []).append(name)
    return "; ".join(f"{u} for {', '.join(names)}" for u, names in by_units.items())


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "n/a"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.3f}"
    return f"{v:.4g}"


def _fmt_as(v: float, like: str) -> str:
    """``v`` with as many decimals as the already formatted ``like`` (an interval bound next
    to its mean: ``0.03568 [0.02912, 0.04300]``, not ``[0.02912, 0.043]``)."""
    if math.isnan(v) or "." not in like or "e" in like:
        return _fmt(v)
    return f"{v:.{len(like) - like.index('.') - 1}f}"


def _fmt_ci(mean: float, lo: float, hi: float) -> str:
    """``mean [lo, hi]``, the bounds to the mean's decimals."""
    m = _fmt(mean)
    return f"{m} [{_fmt_as(lo, m)}, {_fmt_as(hi, m)}]"


def _best(frame: pd.DataFrame, col: str, higher: bool) -> set[str]:
    s = frame[col].dropna()
    if s.empty or len(frame) < 2:
        return set()
    target = s.max() if higher else s.min()
    return set(s.index[s == target])


def _rows_n(table: Table, idx: str) -> int:
    assert table.ci is not None
    return max(table.ci[(idx, m)].n for m in table.metrics)


def _cell(table: Table, idx: str, metric: str, value: float, bold: str) -> str:
    """``mean [lo, hi]`` (the mean bold where best), ``n=K`` when fewer than the row's."""
    text = bold.format(_fmt(value))
    if table.ci is None:
        return text
    c = table.ci[(idx, metric)]
    m = _fmt(value)
    text += f" [{_fmt_as(c.lo, m)}, {_fmt_as(c.hi, m)}]"
    if c.n < _rows_n(table, str(idx)):
        text += f" (n={c.n})"
    return text


def _csv(table: Table) -> str:
    frame = table.frame
    if table.ci is None:
        return frame.to_csv(float_format="%.10g", index_label="row")
    out = pd.DataFrame(index=frame.index)
    for m in table.metrics:
        out[m] = frame[m]
        out[f"{m}_lo"] = [table.ci[(str(i), m)].lo for i in frame.index]
        out[f"{m}_hi"] = [table.ci[(str(i), m)].hi for i in frame.index]
        out[f"{m}_n"] = [table.ci[(str(i), m)].n for i in frame.index]
    return out.to_csv(float_format="%.10g", index_label="row")


def render(table: Table, fmt: Format) -> str:
    """Render as GitHub Markdown, a LaTeX ``table`` or CSV (full precision, no decoration)."""
    frame = table.frame
    specs = [METRICS[m] for m in table.metrics]
    if fmt == "csv":
        return _csv(table)
    with_n = table.ci is not None
    best = {
        s.name: _best(frame, s.name, s.higher_is_better) if table.bold_best else set()
        for s in specs
    }
    if fmt == "md":
        head = "| | " + " | ".join(f"{s.label} {s.arrow}" for s in specs) + " |"
        head += " n |" if with_n else ""
        sep = "|---|" + "---:|" * (len(specs) + with_n)
        lines = [f"**{table.title}.** {table.caption}", "", head, sep]
        for idx, row in frame.iterrows():
            cells = [
                _cell(table, str(idx), s.name, row[s.name],
                      "**{}**" if idx in best[s.name] else "{}")
                for s in specs
            ]  # fmt: skip
            if with_n:
                cells.append(str(_rows_n(table, str(idx))))
            lines.append(f"| {idx} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"
    if fmt == "tex":
        arrow = {True: r"$\uparrow$", False: r"$\downarrow$"}
        cols = "l" + "r" * (len(specs) + with_n)
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{tex_escape(table.title)}. {tex_escape(table.caption)}}}",
            rf"\begin{{tabular}}{{{cols}}}",
            r"\hline",
            " & ".join(
                ["Method", *(f"{tex_escape(s.label)} {arrow[s.higher_is_better]}" for s in specs)]
                + (["$n$"] if with_n else [])
            )
            + r" \\",
            r"\hline",
        ]
        for idx, row in frame.iterrows():
            cells = [
                _cell(table, str(idx), s.name, row[s.name],
                      r"\textbf{{{}}}" if idx in best[s.name] else "{}")
                for s in specs
            ]  # fmt: skip
            if with_n:
                cells.append(str(_rows_n(table, str(idx))))
            lines.append(" & ".join([tex_escape(str(idx)), *cells]) + r" \\")
        lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r} (md, tex or csv)")


def tex_escape(s: str) -> str:
    """``s`` with LaTeX's special characters escaped (for captions and cells)."""
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("$", r"\$"),
        ("{", r"\{"),
        ("}", r"\}"),
    ):
        s = s.replace(a, b)
    return s.replace("\\textbackslash\\{\\}", r"\textbackslash{}")
