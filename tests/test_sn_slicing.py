"""Pruning a spectral-normalised GCA re-estimates each layer's ``u`` / ``v`` on the sliced weight
(``prune_model(..., sn_vectors="svd")``, the default), so the pruned network's eval-mode
``sigma`` is the sliced weight's largest singular value and its alpha is not saturated before
any fine-tuning. ``sn_vectors="slice"`` keeps the teacher's vectors at the kept channels (the
previous behaviour: ``sigma`` 0.23-0.74 of the largest singular value here, 42 % of the pixels
saturated).

Reference values: ``torch.linalg.matrix_norm(W, 2)`` (LAPACK SVD, float64) of each pruned
``weight_bar.reshape(shape[0], -1)``; tolerance ``rtol=1e-5`` (u / v are stored as float32).
The network is the registered GCA (random weights, seed 0, 5 power iterations at construction),
UNI at 50 %, traced at 32 x 32; everything runs on one thread (small tensors: on a loaded
2-core runner more threads only thrash).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from baselines import create_model
from baselines.models import gca
from baselines.pruning import get_criterion, prune_model
from baselines.pruning.spectral import reestimate


def _trimap(n: int) -> torch.Tensor:
    classes = torch.zeros(1, n, n, dtype=torch.long)
    classes[:, n // 4 : -n // 4] = 1
    classes[:, -n // 4 :] = 2
    return nn.functional.one_hot(classes, 3).permute(0, 3, 1, 2).float()


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def nets(_one_thread: None) -> dict[str, Any]:
    torch.manual_seed(0)
    teacher = create_model("gca").eval()
    x = (torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)), _trimap(32))
    spec = get_criterion("uni").select(
        teacher, 0.5, groups=gca.layer_groups(teacher), example_inputs=x
    )
    return {
        "teacher": teacher,
        "svd": prune_model(teacher, spec, x).eval(),
        "slice": prune_model(teacher, spec, x, sn_vectors="slice").eval(),
        "spec": spec,
    }


def _unsaturated(net: nn.Module) -> float:
    """Fraction of alpha pixels strictly inside (0.01, 0.99) on a random 64 x 64 input."""
    image = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        alpha = net(image, _trimap(64))
    alpha = alpha[0] if isinstance(alpha, tuple) else alpha
    return float(((alpha > 0.01) & (alpha < 0.99)).float().mean())


def _sn_layers(net: nn.Module) -> dict[str, gca.SpectralNorm]:
    return {n: m for n, m in net.named_modules() if isinstance(m, gca.SpectralNorm)}


def _sigma(m: gca.SpectralNorm) -> float:
    """The eval-mode sigma ``u . (W v)`` from the stored u / v, in float64."""
    mat = m.module.weight_bar.detach().reshape(m.module.weight_bar.shape[0], -1).double()
    return float(torch.dot(m.module.weight_u.double(), mat @ m.module.weight_v.double()))


def _top(m: gca.SpectralNorm) -> float:
    """The largest singular value of ``weight_bar.reshape(shape[0], -1)`` (LAPACK, float64)."""
    mat = m.module.weight_bar.detach().reshape(m.module.weight_bar.shape[0], -1).double()
    return float(torch.linalg.matrix_norm(mat, 2))


def test_pruned_gca_is_not_saturated_before_finetuning(nets) -> None:
    teacher = _unsaturated(nets["teacher"])
    assert teacher > 0.95
    assert _unsaturated(nets["svd"]) >= 0.95 * teacher
    assert _unsaturated(nets["slice"]) < 0.8 * teacher  # the sliced vectors saturate it


def test_sigma_is_the_largest_singular_value(nets) -> None:
    teacher = _sn_layers(nets["teacher"])
    layers, sliced = _sn_layers(nets["svd"]), _sn_layers(nets["slice"])
    assert len(layers) == 70
    ratios = []
    for name, m in layers.items():
        top = _top(m)
        assert _sigma(m) == pytest.approx(top, rel=1e-5), name
        assert float(m.module.weight_u.norm()) == pytest.approx(1.0, abs=1e-6)
        assert float(m.module.weight_v.norm()) == pytest.approx(1.0, abs=1e-6)
        # signed like the teacher's sliced u
        assert float(torch.dot(m.module.weight_u, sliced[name].module.weight_u)) >= 0
        assert not m.module.weight_u.requires_grad and m.module.weight_bar.requires_grad
        assert m.power_iterations == teacher[name].power_iterations
        ratios.append(_sigma(sliced[name]) / top)
    assert max(ratios) < 0.9  # what slicing alone gave (0.23-0.74)


def test_slice_keeps_the_teachers_vectors_at_the_kept_channels(nets) -> None:
    """``sn_vectors="slice"``: ``u`` at the kept indices of weight dimension 0 (a Conv2d's
    output, a ConvTranspose2d's input channels), ``v`` at those of dimension 1 x k x k."""
    t, p = dict(nets["teacher"].named_modules()), _sn_layers(nets["slice"])
    kept = {b: torch.tensor(v) for b, v in nets["spec"].kept.items()}
    cases = [
        ("encoder.layer1.0.conv1", "encoder.layer1.0.bn1", "encoder.bn3"),
        ("decoder.layer1.0.conv1", "encoder.layer_bottleneck.1.bn2", "decoder.layer1.0.bn1"),
    ]
    for name, bn0, bn1 in cases:
        tm, pm = t[name].module, p[name].module
        k = tm.kernel_size[0] * tm.kernel_size[1]
        torch.testing.assert_close(pm.weight_u, tm.weight_u[kept[bn0]], rtol=0, atol=0)
        v = tm.weight_v.reshape(-1, k)[kept[bn1]].reshape(-1)
        torch.testing.assert_close(pm.weight_v, v, rtol=0, atol=0)
        svd = _sn_layers(nets["svd"])[name].module
        torch.testing.assert_close(svd.weight_bar, pm.weight_bar, rtol=0, atol=0)


def test_reestimate_by_hand() -> None:
    """W = diag(3, 5, 2) (1x1 conv): sigma 5, u = v = +-e_2 signed by the reference."""
    sn = gca.SpectralNorm(nn.Conv2d(3, 3, 1, bias=False))
    with torch.no_grad():
        sn.module.weight_bar.copy_(torch.diag(torch.tensor([3.0, 5.0, 2.0]))[:, :, None, None])
    assert reestimate(sn, reference=torch.tensor([0.0, -1.0, 0.0])) == pytest.approx(5.0)
    torch.testing.assert_close(sn.module.weight_u, torch.tensor([0.0, -1.0, 0.0]))
    torch.testing.assert_close(sn.module.weight_v, torch.tensor([0.0, -1.0, 0.0]))
    sn.eval()
    torch.testing.assert_close(sn.effective_weight(), sn.module.weight_bar / 5.0)
    wide = gca.SpectralNorm(nn.Conv2d(4, 2, 3, bias=False))  # 2 x 36: the row Gram matrix
    top = float(torch.linalg.matrix_norm(wide.module.weight_bar.detach().reshape(2, -1), 2))
    assert reestimate(wide) == pytest.approx(top, rel=1e-6)
    tall = gca.SpectralNorm(nn.Conv2d(1, 16, 1, bias=False))  # 16 x 1: the column one
    top = float(tall.module.weight_bar.detach().norm())
    assert reestimate(tall) == pytest.approx(top, rel=1e-6)
    zero = gca.SpectralNorm(nn.Conv2d(2, 2, 1, bias=False))
    with torch.no_grad():
        zero.module.weight_bar.zero_()
    u = zero.module.weight_u.detach().clone()
    assert reestimate(zero) == 0.0 and torch.equal(zero.module.weight_u, u)


def test_unknown_vectors_mode(nets) -> None:
    with pytest.raises(ValueError, match="sn_vectors must be"):
        prune_model(nets["teacher"], nets["spec"], sn_vectors="power")
