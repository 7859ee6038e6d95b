"""Model size table (the SDNet paper's Table 4, regenerated): parameters, MB, MACs, CPU latency.

The table and the MAC counter of a given module live here; building registered models and
timing them is :func:`benchmark.model_size.measure`.

* **Parameters**: every ``nn.Parameter`` (GCA's spectral-norm ``u``/``v`` included, as the
  official ``print_network`` and the published 25.27M count them).
* **Size (MB)**: ``4 x parameters / 10^6`` (float32 weights; BN running statistics excluded).
* **MACs**: multiply-accumulates of every ``Conv2d`` / ``ConvTranspose2d`` / ``Linear`` in one
  forward pass at the stated input size, counted with forward hooks
  (``out_elements x in_channels / groups x kernel area``; transposed convs by their input;
  a conv wrapped as ``.module`` by a functional wrapper such as GCA's spectral norm is counted
  at the wrapper); normalisation, activations, pooling, interpolation and GCA's attention
  matrix products are not counted (the usual "GMACs").
* **Latency**: median (and min) wall time of ``runs`` eval-mode forwards under ``no_grad`` on
  the CPU with ``threads`` torch threads after ``warmup`` forwards, batch 1, random weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ModelSize", "count_macs", "render_sizes", "PAPER_TABLE4"]

#: The SDNet paper's Table 4 (parameters in millions, size in MB), for the "paper" columns.
PAPER_TABLE4: dict[str, tuple[float, float]] = {
    "dim": (75.06, 292.0),
    "indexnet": (8.15, 22.9),
    "gca": (24.8, 96.5),
    "sdnet": (2.03, 8.1),
}


@dataclass(frozen=True)
class ModelSize:
    name: str
    params: int
    size_mb: float
    macs: int
    input: str
    latency_median_s: float | None
    latency_min_s: float | None


def count_macs(model: Any, inputs: tuple[Any, ...]) -> int:
    """MACs of conv and linear layers in one forward pass (see the module docstring)."""
    import torch
    from torch import nn

    total = 0
    convs = (nn.Conv2d, nn.ConvTranspose2d)

    def macs_of(conv: Any, inp: Any, out: Any) -> int:
        k = conv.kernel_size[0] * conv.kernel_size[1]
        if isinstance(conv, nn.ConvTranspose2d):
            return inp.numel() * (conv.out_channels // conv.groups) * k
        return out.numel() * (conv.in_channels // conv.groups) * k

    # wrappers holding a conv as ``.module`` (GCA's spectral norm) compute it functionally, so
    # the inner conv's own hook would never fire: count such layers at the wrapper, once
    wrapped = {
        id(m.module) for m in model.modules() if isinstance(getattr(m, "module", None), convs)
    }

    def hook(mod: Any, inp: tuple[Any, ...], out: Any) -> None:
        nonlocal total
        if isinstance(mod, convs):
            if id(mod) not in wrapped:
                total += macs_of(mod, inp[0], out)
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features
        else:
            total += macs_of(mod.module, inp[0], out)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (*convs, nn.Linear)) or isinstance(getattr(m, "module", None), convs)
    ]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total


def render_sizes(rows: list[ModelSize], fmt: str = "md", *, threads: int = 2) -> str:
    """The size table with the paper's numbers beside ours where the paper lists the model."""
    head = [
        "Model",
        "Params (M)",
        "Size (MB)",
        "GMACs",
        "input",
        "CPU latency (s)",
        "paper Params (M)",
        "paper Size (MB)",
    ]
    body = []
    for r in rows:
        paper = PAPER_TABLE4.get(r.name)
        lat = (
            "n/a"
            if r.latency_median_s is None
            else f"{r.latency_median_s:.3f} (min {r.latency_min_s:.3f})"
        )
        body.append(
            [
                r.name,
                f"{r.params / 1e6:.3f}",
                f"{r.size_mb:.1f}",
                f"{r.macs / 1e9:.2f}",
                r.input,
                lat,
                f"{paper[0]:g}" if paper else "",
                f"{paper[1]:g}" if paper else "",
            ]
        )
    caption = (
        "Model size (the SDNet paper's Table 4): parameters include every nn.Parameter; size = "
        "4 bytes x parameters; GMACs of conv/linear layers for one forward at the given input; "
        f"CPU latency = median of 5 eval forwards after 3 warm-ups, batch 1, {threads} threads, "
        "random weights. Paper columns as printed there (its DIM is 75.06M, which none of the "
        "public PyTorch DIMs reproduces; its IndexNet 8.15M counts the index blocks twice)."
    )
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(
            ["model", "params", "size_mb", "macs", "input", "latency_median_s", "latency_min_s"]
        )
        for r in rows:
            d = asdict(r)
            w.writerow(
                [
                    d["name"],
                    d["params"],
                    d["size_mb"],
                    d["macs"],
                    d["input"],
                    d["latency_median_s"],
                    d["latency_min_s"],
                ]
            )
        return buf.getvalue()
    if fmt == "tex":
        esc = lambda s: s.replace("_", r"\_")  # noqa: E731
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{esc(caption)}}}",
            r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}",
            r"\hline",
        ]
        lines.append(" & ".join(esc(h) for h in head) + r" \\")
        lines.append(r"\hline")
        lines += [" & ".join(esc(c) for c in row) + r" \\" for row in body]
        lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines) + "\n"
    lines = [
        f"**Model size.** {caption}",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"
