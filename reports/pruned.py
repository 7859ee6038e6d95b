"""Teacher vs pruned student: parameters, MACs, measured CPU latency and speed-up.

The protocol, stated once (the table's caption repeats it):

* **Parameters**: every ``nn.Parameter`` of the module (as :mod:`reports.model_size`).
* **MACs**: :func:`reports.model_size.count_macs` (conv and linear layers, one forward pass at
  ``example_inputs``).
* **Latency**: batch as given by ``example_inputs``, eval mode, ``torch.no_grad()``, on the CPU
  with ``threads`` torch threads (restored afterwards). Each model gets ``warmup`` untimed
  forwards, then ``runs`` timed forwards **interleaved** (teacher, student, teacher, ...), so a
  slow spell of the machine affects both; the reported latency is the median of the runs
  (``time.perf_counter``).
* **Ratios**: ``param_ratio`` and ``mac_ratio`` are student / teacher (the share kept);
  ``speedup`` is teacher latency / student latency (``> 1`` when the student is faster).
"""

from __future__ import annotations

import csv
import io
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reports.model_size import count_macs
from reports.tables import tex_escape

__all__ = ["PrunedSize", "measure_pruned", "pruned_model_table"]


@dataclass(frozen=True)
class PrunedSize:
    """One teacher/student pair, measured by :func:`measure_pruned`.

    Latencies are medians in seconds (``None`` when latency was not measured).
    """

    name: str
    input: str
    teacher_params: int
    student_params: int
    teacher_macs: int
    student_macs: int
    teacher_latency_s: float | None
    student_latency_s: float | None
    threads: int
    runs: int
    warmup: int

    @property
    def param_ratio(self) -> float:
        """Student / teacher parameters."""
        return self.student_params / self.teacher_params

    @property
    def mac_ratio(self) -> float:
        """Student / teacher MACs."""
        return self.student_macs / self.teacher_macs

    @property
    def speedup(self) -> float | None:
        """Teacher / student median latency (``None`` without latencies)."""
        if self.teacher_latency_s is None or self.student_latency_s is None:
            return None
        return self.teacher_latency_s / self.student_latency_s


def _as_tuple(example_inputs: Any) -> tuple[Any, ...]:
    return tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)


def measure_pruned(
    teacher_model: Any,
    student_model: Any,
    example_inputs: Any,
    *,
    name: str = "student",
    threads: int = 2,
    runs: int = 5,
    warmup: int = 3,
    latency: bool = True,
) -> PrunedSize:
    """Measure a teacher and its pruned student under one protocol (module docstring).

    Parameters
    ----------
    teacher_model, student_model
        ``nn.Module`` s taking the same inputs; put in eval mode for the measurement and
        restored to their previous mode afterwards.
    example_inputs
        A tensor or a tuple of tensors (positional arguments of ``forward``), on the CPU.
    name
        Row label.
    threads
        ``torch.set_num_threads`` during the timing.
    runs, warmup
        Timed and untimed forwards per model (``runs >= 1``).
    latency
        ``False`` skips the timing (latencies and speed-up ``None``).

    Returns
    -------
    PrunedSize
    """
    import torch

    if runs < 1 or warmup < 0 or threads < 1:
        raise ValueError(
            f"need runs >= 1, warmup >= 0, threads >= 1 (got {runs}, {warmup}, {threads})"
        )
    inputs = _as_tuple(example_inputs)
    shape = " + ".join("x".join(map(str, t.shape)) for t in inputs)
    models = (teacher_model, student_model)
    modes = [m.training for m in models]
    try:
        for m in models:
            m.eval()
        params = [sum(p.numel() for p in m.parameters()) for m in models]
        macs = [count_macs(m, inputs) for m in models]
        lat: list[float | None] = [None, None]
        if latency:
            old = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                lat = list(_interleaved_medians(models, inputs, runs, warmup))
            finally:
                torch.set_num_threads(old)
    finally:
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)
    return PrunedSize(
        name=name,
        input=shape,
        teacher_params=int(params[0]),
        student_params=int(params[1]),
        teacher_macs=int(macs[0]),
        student_macs=int(macs[1]),
        teacher_latency_s=lat[0],
        student_latency_s=lat[1],
        threads=threads,
        runs=runs,
        warmup=warmup,
    )


def _interleaved_medians(
    models: Sequence[Any], inputs: tuple[Any, ...], runs: int, warmup: int
) -> list[float]:
    import torch

    times: list[list[float]] = [[] for _ in models]
    with torch.no_grad():
        for m in models:
            for _ in range(warmup):
                m(*inputs)
        for _ in range(runs):
            for k, m in enumerate(models):
                t = time.perf_counter()
                m(*inputs)
                times[k].append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def _caption(rows: Sequence[PrunedSize]) -> str:
    def one(values: set[Any]) -> str:
        return "/".join(str(v) for v in sorted(values))

    inputs = one({r.input for r in rows})
    return (
        "Teacher (T) vs pruned student (S). Params: every nn.Parameter. GMACs: conv/linear "
        f"multiply-accumulates of one forward at input {inputs}. CPU latency: median of "
        f"{one({r.runs for r in rows})} eval-mode no_grad forwards per model after "
        f"{one({r.warmup for r in rows})} warm-ups, {one({r.threads for r in rows})} torch "
        "threads, teacher and student runs interleaved. Ratios are S/T; speed-up is T/S latency."
    )


def _g(v: float, digits: int = 4) -> str:
    return f"{v:.{digits}g}"


def pruned_model_table(rows: Sequence[PrunedSize], fmt: Literal["md", "tex", "csv"] = "md") -> str:
    """Render teacher-vs-student rows as Markdown, a LaTeX ``table`` or CSV.

    Markdown and LaTeX show parameters in millions and MACs in billions (4 significant
    digits), ratios to 3 decimals, latencies in milliseconds (3 significant digits) and the
    speed-up to 2 decimals; CSV keeps the raw integers and seconds at full precision.
    """
    if not rows:
        raise ValueError("pruned_model_table: no rows")
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            [
                "model",
                "input",
                "teacher_params",
                "student_params",
                "param_ratio",
                "teacher_macs",
                "student_macs",
                "mac_ratio",
                "teacher_latency_s",
                "student_latency_s",
                "speedup",
                "threads",
                "runs",
                "warmup",
            ]
        )
        for r in rows:
            w.writerow(
                [
                    r.name,
                    r.input,
                    r.teacher_params,
                    r.student_params,
                    repr(r.param_ratio),
                    r.teacher_macs,
                    r.student_macs,
                    repr(r.mac_ratio),
                    "" if r.teacher_latency_s is None else repr(r.teacher_latency_s),
                    "" if r.student_latency_s is None else repr(r.student_latency_s),
                    "" if r.speedup is None else repr(r.speedup),
                    r.threads,
                    r.runs,
                    r.warmup,
                ]
            )
        return buf.getvalue()
    head = [
        "Model",
        "Params T (M)",
        "Params S (M)",
        "Params S/T",
        "GMACs T",
        "GMACs S",
        "MACs S/T",
        "Latency T (ms)",
        "Latency S (ms)",
        "Speed-up",
    ]
    body = []
    for r in rows:
        lat = [
            "n/a" if v is None else _g(v * 1e3, 3)
            for v in (r.teacher_latency_s, r.student_latency_s)
        ]
        body.append(
            [
                r.name,
                _g(r.teacher_params / 1e6),
                _g(r.student_params / 1e6),
                f"{r.param_ratio:.3f}",
                _g(r.teacher_macs / 1e9),
                _g(r.student_macs / 1e9),
                f"{r.mac_ratio:.3f}",
                *lat,
                "n/a" if r.speedup is None else f"{r.speedup:.2f}x",
            ]
        )
    caption = _caption(rows)
    if fmt == "tex":
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{tex_escape(caption)}}}",
            r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}",
            r"\hline",
            " & ".join(tex_escape(h) for h in head) + r" \\",
            r"\hline",
            *(" & ".join(tex_escape(c) for c in row) + r" \\" for row in body),
            r"\hline",
            r"\end{tabular}",
            r"\end{table}",
        ]
        return "\n".join(lines) + "\n"
    if fmt == "md":
        lines = [
            f"**Pruned models.** {caption}",
            "",
            "| " + " | ".join(head) + " |",
            "|---|" + "---:|" * (len(head) - 1),
            *("| " + " | ".join(row) + " |" for row in body),
        ]
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r} (md, tex or csv)")
