"""Matting losses: values on hand-made tensors, weighting, and the self-distillation pairs."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from baselines import losses  # noqa: E402


def test_l1_and_charbonnier() -> None:
    p = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])
    g = torch.tensor([[[[0.0, 1.0], [0.0, 0.25]]]])
    assert float(losses.l1_loss(p, g)) == pytest.approx((0.5 + 1.0) / 4)
    w = torch.tensor([[[[0.0, 1.0], [0.0, 0.0]]]])
    assert float(losses.l1_loss(p, g, w)) == pytest.approx(0.5)
    assert float(losses.charbonnier_loss(p, g, eps=0.0)) == pytest.approx((0.5 + 1.0) / 4)
    assert float(losses.charbonnier_loss(p, p, eps=1e-3)) == pytest.approx(1e-3)


def test_laplacian_pyramid_reconstructs_and_loss_zero_on_equal() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 1, 32, 48)
    assert float(losses.laplacian_loss(x, x)) == 0.0
    # a constant offset lives only in the lowest band-pass level: weight 2^(5-1)/5
    y = x + 0.1
    bands = losses.laplacian_pyramid(y - x, 5)
    assert all(float(b.abs().max()) < 1e-6 for b in bands[:-1])
    assert float(losses.laplacian_loss(y, x)) > 0


def test_composition_loss_zero_for_consistent_triplet() -> None:
    torch.manual_seed(1)
    a = torch.rand(1, 1, 8, 8)
    f, b = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    img = a * f + (1 - a) * b
    assert float(losses.composition_loss(a, f, b, img)) == pytest.approx(0.0, abs=1e-7)
    assert float(losses.composition_loss(1 - a, f, b, img)) > 0.01


@pytest.mark.parametrize(
    ("mode", "pairs"),
    [
        ("best", [(0, 2), (1, 2)]),
        ("dense", [(0, 1), (0, 2), (1, 2)]),
        ("transitive", [(0, 1), (1, 2)]),
    ],
)
def test_self_distillation_pairs(mode: str, pairs: list) -> None:
    """Each setting sums 1 - cos over exactly the documented (student, teacher) pairs."""
    torch.manual_seed(2)
    feats = [torch.rand(2, 1, 8, 8), torch.rand(2, 1, 16, 16), torch.rand(2, 1, 32, 32)]
    got = float(losses.self_distillation_loss(feats, mode))
    want = sum(float(losses._cos_distance(feats[s], feats[t])) for s, t in pairs)
    assert got == pytest.approx(want)
    assert float(losses.self_distillation_loss(feats, "none")) == 0.0
    with pytest.raises(ValueError, match="unknown self-distillation mode"):
        losses.self_distillation_loss(feats, "bogus")  # type: ignore[arg-type]


def test_teacher_gets_no_gradient() -> None:
    s = torch.rand(1, 1, 4, 4, requires_grad=True)
    t = torch.rand(1, 1, 4, 4, requires_grad=True)
    losses.self_distillation_loss([s, t], "best").backward()
    assert s.grad is not None and t.grad is None


def test_sdnet_objective_parts() -> None:
    torch.manual_seed(3)
    a = torch.rand(1, 1, 16, 16)
    out = SimpleNamespace(alpha=a, side_alphas=[a, a, a], features=[a, a])
    batch = {"alpha": a}
    total, parts = losses.sdnet_objective(out, batch, sd_mode="best", lambda_sd=2.0)
    assert parts["final"] == 0.0 and parts["aux"] == 0.0
    assert math.isclose(parts["sd"], 0.0, abs_tol=1e-6)
    assert float(total) == pytest.approx(parts["total"])
