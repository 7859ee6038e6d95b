"""Measuring registered models for the size table (:mod:`reports.model_size` renders it).

Builds a model with random weights, counts its parameters and MACs
(:func:`reports.model_size.count_macs`) and times it on the CPU; the protocol is stated in
:mod:`reports.model_size`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from reports.model_size import ModelSize, count_macs

__all__ = ["measure"]


def _inputs(name: str, size: int) -> tuple[tuple[Any, ...], str]:
    import torch

    from baselines.models import MODELS
    from baselines.models.adapters import get_adapter

    if MODELS[name].task == "segmentation":
        from baselines.models.pspnet import valid_side

        s = valid_side(size)  # PSPNet needs (H - 1) % 8 == 0 (473 for 480)
        return (torch.rand(1, 3, s, s),), f"1x3x{s}x{s}"
    g = torch.Generator().manual_seed(0)
    tri = torch.full((1, 1, size, size), 128.0)
    tri[..., : size // 4, :] = 0
    tri[..., -size // 4 :, :] = 255
    batch = {"image": torch.rand(1, 3, size, size, generator=g), "trimap": tri}
    x = get_adapter(name).inputs(batch)
    return x, " + ".join("x".join(map(str, t.shape)) for t in x)


def measure(
    name: str,
    *,
    size: int = 512,
    threads: int = 2,
    warmup: int = 3,
    runs: int = 5,
    latency: bool = True,
) -> ModelSize:
    """Build ``name`` (random weights) and measure it."""
    import torch

    from baselines import create_model

    torch.manual_seed(0)
    model = create_model(name).eval()
    params = sum(p.numel() for p in model.parameters())
    inputs, shape = _inputs(name, size)
    macs = count_macs(model, inputs)
    med = mn = None
    if latency:
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.no_grad():
                for _ in range(warmup):
                    model(*inputs)
                times = []
                for _ in range(runs):
                    t = time.perf_counter()
                    model(*inputs)
                    times.append(time.perf_counter() - t)
        finally:
            torch.set_num_threads(old)
        med, mn = statistics.median(times), min(times)
    return ModelSize(name, params, 4 * params / 1e6, macs, shape, med, mn)
