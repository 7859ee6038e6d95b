"""Channel pruning: criteria x families, surgery, parameter counts, ties, spec I/O, sparsity.

Every family model is built once per module (PSPNet-50 is 46.7M parameters, GCA 25.3M) with
random BN gammas (uniform [0, 1)) so that selection is non-trivial. Parameter counts are checked three
ways: the pruned network itself, the count implied by the dependency groups and per-layer
formulas (``spec.meta["params_pruned"]`` / ``spec_param_count``), and, for DIM, the closed form
``count_spec_params``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from baselines import create_model
from baselines.models import dim, gca, indexnet, pspnet, sdnet
from baselines.pruning import (
    ChannelSpec,
    add_bn_l1_subgradient,
    cap_guide,
    context_vector,
    count_params,
    get_criterion,
    list_criteria,
    prune_model,
    spec_param_count,
)
from metrics import InputError

FAMILIES = {
    # name: (layer_groups, factory kwargs, input shapes: one per positional argument)
    "dim": (dim.layer_groups, {}, [(1, 4, 64, 64)]),
    "sdnet": (sdnet.layer_groups, {}, [(1, 4, 64, 64)]),
    "indexnet": (indexnet.layer_groups, {}, [(1, 4, 64, 64)]),
    "pspnet50": (pspnet.layer_groups, {"aux": False}, [(1, 3, 65, 65)]),
    "gca": (gca.layer_groups, {}, [(1, 3, 64, 64), (1, 3, 64, 64)]),  # image, one-hot trimap
}
CRITERIA = ["uni", "ns", "cap", "dcp"]


def _alpha(y: object) -> torch.Tensor:
    return y if isinstance(y, torch.Tensor) else y.alpha  # type: ignore[attr-defined]


def _inputs(name: str, gen: torch.Generator) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """The family's forward arguments: one tensor, or (GCA) an image and a one-hot trimap."""
    shapes = FAMILIES[name][2]
    if name == "gca":
        (n, _, h, w) = shapes[1]
        cls = torch.randint(0, 3, (n, h, w), generator=gen)
        trimap = torch.nn.functional.one_hot(cls, 3).permute(0, 3, 1, 2).float()
        return (torch.randn(shapes[0], generator=gen), trimap)
    return torch.randn(shapes[0], generator=gen)


def _run(model: nn.Module, x: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    with torch.no_grad():
        return _alpha(model(*x) if isinstance(x, tuple) else model(x))


@pytest.fixture(scope="module")
def teachers() -> dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor]]:
    """``name -> (model in eval mode, input, output alpha/logits)``, built once."""
    out = {}
    gen = torch.Generator().manual_seed(0)
    for name, (_, kw, _) in FAMILIES.items():
        torch.manual_seed(0)
        m = create_model(name, **kw).eval()
        for b in m.modules():
            if isinstance(b, nn.BatchNorm2d):
                b.weight.data = torch.rand(b.weight.shape, generator=gen)
        x = _inputs(name, gen)
        out[name] = (m, x, _run(m, x))
    return out


def test_registry() -> None:
    assert list_criteria() == ["cap", "dcp", "ns", "uni"]
    with pytest.raises(Exception, match="did you mean dcp"):
        get_criterion("dpc")


@pytest.mark.parametrize("crit", CRITERIA)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_select_and_prune(teachers, family: str, crit: str) -> None:
    model, x, y0 = teachers[family]
    groups = FAMILIES[family][0](model)
    spec = get_criterion(crit).select(model, 0.5, groups=groups, example_inputs=x)
    assert spec.model == family and spec.meta["criterion"] == crit
    # requested vs achieved: reported, and close to 50% of the prunable channels
    r = spec.ratio()
    assert r["requested"] == 0.5
    assert 0.45 <= r["prunable_channels"] <= 0.55, r
    assert 0 < r["params"] < 1
    assert min(spec.widths.values()) >= 1
    pruned = prune_model(model, spec, x).eval()
    n0, n1 = count_params(model), count_params(pruned)
    assert n1 < n0
    assert n1 == spec.meta["params_pruned"] == spec_param_count(family, spec, model)
    if family == "dim":
        assert n1 == dim.count_spec_params(spec.widths) == spec.meta["params_pruned_formula"]
    mods = dict(pruned.named_modules())
    for bn, w in spec.widths.items():
        assert mods[bn].num_features == w >= 1
    convs = [m for m in pruned.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(m.out_channels >= 1 and m.in_channels >= 1 for m in convs)
    y = _run(pruned, x)
    assert y.shape == y0.shape and torch.isfinite(y).all()
    assert spec.meta["params_teacher"] == n0
    if family == "gca":
        _check_gca_spectral_norm(model, pruned, spec)


def _check_gca_spectral_norm(teacher: nn.Module, pruned: nn.Module, spec: ChannelSpec) -> None:
    """Every re-wrapped spectral-norm conv: u/v fit the pruned ``weight_bar``, which is the
    teacher's at the kept channels (weight dim 0: Conv2d output, ConvTranspose2d input), and are
    re-estimated on it: sigma = its largest singular value (the sliced-teacher-vector mode,
    ``sn_vectors="slice"``, is checked in ``tests/test_sn_slicing.py``)."""
    from baselines.models.gca import SpectralNorm

    assert isinstance(pruned, gca.GCAMatting)
    assert list(pruned.state_dict()) == list(teacher.state_dict())  # official key layout
    sns = {n: m for n, m in pruned.named_modules() if isinstance(m, SpectralNorm)}
    assert len(sns) == 70
    for m in sns.values():
        w = m.module.weight_bar
        assert not hasattr(m.module, "weight")
        assert m.module.weight_u.shape == (w.shape[0],) and not m.module.weight_u.requires_grad
        assert m.module.weight_v.shape == (w[0].numel(),) and not m.module.weight_v.requires_grad
        assert w.requires_grad
    assert all("forward" not in vars(b) for b in pruned.modules())  # surrogate forwards gone
    assert not any("probe" in n for n, _ in pruned.named_modules())
    kept = {b: torch.tensor(v) for b, v in spec.kept.items()}  # type: ignore[union-attr]
    t = dict(teacher.named_modules())
    # Conv2d: encoder.layer1.0.conv1 maps the layer1 stream (bn3) to layer1.0.bn1
    # ConvTranspose2d: decoder.layer1.0.conv1 maps the bottleneck stream to decoder bn1 (dim 0 =
    # its input channels)
    cases = [
        ("encoder.layer1.0.conv1", "encoder.layer1.0.bn1", "encoder.bn3"),
        ("decoder.layer1.0.conv1", "encoder.layer_bottleneck.1.bn2", "decoder.layer1.0.bn1"),
    ]
    for name, bn0, bn1 in cases:
        tm, pm = t[name].module, sns[name].module
        torch.testing.assert_close(
            pm.weight_bar, tm.weight_bar[kept[bn0]][:, kept[bn1]], rtol=0, atol=0
        )
        mat = pm.weight_bar.detach().reshape(pm.weight_bar.shape[0], -1).double()
        sigma = torch.dot(pm.weight_u.double(), mat @ pm.weight_v.double())
        torch.testing.assert_close(sigma, torch.linalg.matrix_norm(mat, 2), rtol=1e-5, atol=0)


def test_dim_uniform_half_is_dcp_uni(teachers) -> None:
    """UNI 50% DIM = DCP README's "UNI 6.40M" (``methods.md`` 1.2: 6,400,515 measured)."""
    model, x, _ = teachers["dim"]
    spec = get_criterion("uni").select(model, 0.5, groups=dim.layer_groups(model))
    assert spec.meta["params_pruned"] == 6_400_515
    assert spec.widths["up1.conv.cbr_unit.1"] == 1  # the alpha channel is output-coupled


@pytest.mark.parametrize("crit", ["ns", "dcp"])
def test_dim_unpool_ties(teachers, crit: str) -> None:
    model, x, _ = teachers["dim"]
    spec = get_criterion(crit).select(model, 0.5, groups=dim.layer_groups(model))
    cfg = [spec.widths[n] for n in dim.DCP_BN_ORDER]
    assert dim.apply_unpool_ties(cfg) == cfg
    dim.resolve_channel_spec(cfg)  # raises on a violated tie
    pruned = prune_model(model, spec)
    assert isinstance(pruned, dim.DIMModel) and list(pruned.widths) == cfg


def test_dim_ties_take_the_max() -> None:
    torch.manual_seed(1)
    m = dim.DIMModel().eval()
    for b in m.modules():
        if isinstance(b, nn.BatchNorm2d):
            b.weight.data = torch.rand_like(b.weight) + 1.0
    m.up2.conv.cbr_unit[1].weight.data.mul_(1e-3)  # tied to down1.conv2: NS would thin it
    spec = get_criterion("ns").select(m, 0.5, groups=dim.layer_groups(m))
    assert spec.widths["up2.conv.cbr_unit.1"] == spec.widths["down1.conv2.cbr_unit.1"] > 1


def test_dcp_thresholds_are_separate(teachers) -> None:
    """Scaling every encoder gamma by 100 changes nothing for DCP (two pools); NS (one pool) then
    removes the decoder first and keeps more encoder channels."""
    model, _, _ = teachers["dim"]
    g = dim.layer_groups(model)
    m = dim.DIMModel()
    m.load_state_dict(model.state_dict())
    mods = dict(m.named_modules())
    for n in g["encoder"]:
        mods[n].weight.data.mul_(100.0)
    base = get_criterion("dcp").select(model, 0.5, groups=g)
    scaled = get_criterion("dcp").select(m, 0.5, groups=g)
    assert scaled.widths == base.widths
    ns = get_criterion("ns").select(m, 0.5, groups=g)
    assert sum(ns.widths[n] for n in g["encoder"]) > sum(scaled.widths[n] for n in g["encoder"])


def test_min_channels_clamp() -> None:
    m = dim.DIMModel().eval()
    for b in m.modules():
        if isinstance(b, nn.BatchNorm2d):
            b.weight.data.fill_(1.0)
    m.down3.conv1.cbr_unit[1].weight.data.fill_(1e-6)
    spec = get_criterion("ns", min_channels=3).select(m, 0.3, groups=dim.layer_groups(m))
    assert spec.widths["down3.conv1.cbr_unit.1"] == 3


def test_spec_json_round_trip(teachers, tmp_path) -> None:
    model, _, _ = teachers["sdnet"]
    spec = get_criterion("dcp").select(model, 0.5, groups=sdnet.layer_groups(model))
    again = ChannelSpec.from_json(spec.to_json())
    assert again == spec
    path = spec.save(tmp_path / "spec.json")
    assert ChannelSpec.load(path) == spec
    assert not list(tmp_path.glob(".*.tmp"))


def test_spec_validation() -> None:
    with pytest.raises(InputError, match="minimum 1"):
        ChannelSpec("dim", {"a": 0}, None, {"a": 4})
    with pytest.raises(InputError, match="keeps 5 > teacher"):
        ChannelSpec("dim", {"a": 5}, None, {"a": 4})
    with pytest.raises(InputError, match="sorted unique"):
        ChannelSpec("dim", {"a": 2}, {"a": [1, 1]}, {"a": 4})
    with pytest.raises(InputError, match="unknown format"):
        ChannelSpec.from_dict({"format": "x", "model": "dim", "widths": {}})


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(1, 3, 1), nn.BatchNorm2d(3))
        self.up = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))


def test_sparsity_matches_hand_computation() -> None:
    """DCP ``update_BN`` by hand: grad += sign(gamma) * s * w (w=10 encoder, 1 decoder)."""
    torch.manual_seed(0)
    m = _Tiny()
    m.down[1].weight.data = torch.tensor([0.5, -0.2, 0.0])
    m.up[1].weight.data = torch.tensor([-1.0, 2.0])
    m(torch.randn(2, 1, 4, 4)).sum().backward()
    g_down = m.down[1].weight.grad.clone()
    g_up = m.up[1].weight.grad.clone()
    groups = {"encoder": ["down.1"], "decoder": ["up.1"]}
    n = add_bn_l1_subgradient(m, 1e-2, encoder_weight=10, decoder_weight=1, groups=groups)
    assert n == 2
    torch.testing.assert_close(m.down[1].weight.grad, g_down + torch.tensor([0.1, -0.1, 0.0]))
    torch.testing.assert_close(m.up[1].weight.grad, g_up + torch.tensor([-0.01, 0.01]))
    # CAP (DCP form): the guided BN gets s * 10 * (1 - beta) per channel instead
    fm = torch.tensor([[[[1.0]], [[2.0]], [[0.0]]]])
    beta = context_vector(fm)  # column sums of F F^T = [2, 4, 0] -> min-max [0.5, 1, 0]
    torch.testing.assert_close(beta, torch.tensor([0.5, 1.0, 0.0]))
    guide = cap_guide({"down.1": fm})
    torch.testing.assert_close(guide["down.1"], torch.tensor([5.0, 0.0, 10.0]))
    before = m.down[1].weight.grad.clone()
    get_criterion("cap", guided=["down.1"]).regularize(m, 1e-2, groups=groups, guide=guide)
    torch.testing.assert_close(m.down[1].weight.grad, before + torch.tensor([0.05, -0.0, 0.0]))
    # UNI has no sparsity stage
    before = m.up[1].weight.grad.clone()
    get_criterion("uni").regularize(m, 1.0, groups=groups)
    torch.testing.assert_close(m.up[1].weight.grad, before)


def test_gca_attention_channels(teachers) -> None:
    """GCA attention blocks: key channels (``guidance_conv`` output) are fixed; ``W`` follows the
    residual stream it is added to; the guidance head's last BN prunes both blocks' inputs."""
    model, x, y0 = teachers["gca"]
    spec = get_criterion("uni").select(model, 0.5, groups=gca.layer_groups(model))
    pruned = prune_model(model, spec, sn_power_iterations=2)
    for part in ("encoder", "decoder"):
        blk = pruned.get_submodule(f"{part}.gca")
        assert blk.guidance_conv.out_channels == 64
        assert blk.guidance_conv.in_channels == spec.widths["encoder.guidance_head.11"] == 64
        assert blk.W[0].in_channels == blk.W[0].out_channels == spec.widths[f"{part}.gca.W.1"]
    assert spec.widths["encoder.gca.W.1"] == spec.widths["encoder.layer2.3.bn2"] == 64
    assert spec.widths["decoder.gca.W.1"] == spec.widths["encoder.shortcut.3.5"] == 64
    y = _run(pruned.eval(), x)
    assert y.shape == y0.shape and torch.isfinite(y).all()
    # with power iteration the u/v are unit vectors again
    for m in pruned.modules():
        if isinstance(m, gca.SpectralNorm):
            assert abs(float(m.module.weight_u.norm()) - 1) < 1e-4


def test_sdnet_goct_metadata_follows_surgery(teachers) -> None:
    from baselines.models.sdnet import GOctConv

    model, x, _ = teachers["sdnet"]
    spec = get_criterion("uni").select(model, 0.5, groups=sdnet.layer_groups(model))
    pruned = prune_model(model, spec, x)
    for m in pruned.modules():
        if isinstance(m, GOctConv):
            for key, conv in m.convs.items():
                i, j = (int(t) for t in key.split("to"))
                assert (m.in_channels[i], m.out_channels[j]) == (
                    conv.in_channels,
                    conv.out_channels,
                )
