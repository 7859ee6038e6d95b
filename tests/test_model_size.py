"""The model size table: parameter counts from the registry, MACs by hand on a tiny net."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from benchmark.model_size import measure  # noqa: E402
from reports.model_size import count_macs, render_sizes  # noqa: E402


def test_count_macs_by_hand() -> None:
    from torch import nn

    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 8 x 16 x 16 outputs x 3 x 9
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise: 8 x 256 x 1 x 9
        nn.ConvTranspose2d(8, 4, 2, stride=2),  # 8 x 256 inputs x 4 x 4
        nn.Flatten(),
        nn.Linear(4 * 32 * 32, 10),
    )
    want = 8 * 256 * 27 + 8 * 256 * 9 + 8 * 256 * 4 * 4 + 10 * 4096
    assert count_macs(net, (torch.rand(1, 3, 16, 16),)) == want


def test_functional_wrapper_counted_once() -> None:
    """GCA's spectral-norm wrapper runs its conv functionally: counted at the wrapper, once."""
    from baselines.models.gca import SpectralNorm

    sn = SpectralNorm(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False))
    assert count_macs(sn.eval(), (torch.rand(1, 3, 16, 16),)) == 8 * 256 * 27


def test_measure_and_render(capsys) -> None:
    """sdnet at 64 px: the registry's parameter count, MB = 4 bytes each, a latency."""
    r = measure("sdnet", size=64, runs=1, warmup=1)
    assert r.params == 2_036_078 and r.size_mb == pytest.approx(8.144312)
    assert r.macs > 0 and r.latency_median_s is not None
    md = render_sizes([r], "md")
    assert "| sdnet | 2.036 | 8.1 |" in md and "| 2.03 | 8.1 |" in md
    assert render_sizes([r], "csv").splitlines()[0].startswith("model,params,size_mb,macs")
    assert r"\begin{tabular}" in render_sizes([r], "tex")
    from benchmark.cli import main

    assert main(["models", "--pattern", "sdnet", "--size", "64", "--no-latency"]) == 0
    assert "| sdnet |" in capsys.readouterr().out
