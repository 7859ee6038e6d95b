"""Distillation losses (``baselines.distill``): each module against a deliberately simple
loop-level port of its definition, plus the properties the definitions imply.

Where the expected values come from
-----------------------------------
The reference implementations below (``ref_*``) are written from the definitions in
``shared/reference/methods.md`` sec. 2.3-2.6 with explicit Python loops over images, channels,
pixels and pairs, in plain Python floats (no tensor algebra except reading elements), so they
share no code path with the vectorised modules. Inputs are small random float64 tensors, and
module == reference is checked to 1e-6 relative (the float64 rounding gap is ~1e-14; 1e-6
leaves room for nothing but bugs). methods.md quotes values from its own runs (NST 0.090960,
SP 0.000915, SPKD 0.120196, OFD 11922.69) but not the tensors that produced them, so those
numbers cannot be checked here.

The OFD margin is checked against a numerical integration of ``E[x | x < 0]``
(``scipy.integrate.quad``), not against the closed form it implements.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from scipy import integrate, stats  # noqa: E402
from torch import nn  # noqa: E402

from baselines import losses  # noqa: E402
from baselines.distill import (  # noqa: E402
    DISTILLERS,
    NSTLoss,
    OFDLoss,
    SPKDLoss,
    SPLoss,
    get_distiller,
    list_distillers,
    ofd_margin,
    ofd_partial_l2,
    sp_gram,
)
from metrics import InputError, UnknownNameError  # noqa: E402

REL = 1e-6


# ---------------------------------------------------------------------------------------------
# loop-level references
# ---------------------------------------------------------------------------------------------


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _channel_vectors(f, n: int) -> list[list[float]]:
    """The HW-vectors of every channel of image ``n`` (row-major over H, W)."""
    _, c, h, w = f.shape
    return [[float(f[n, k, y, x]) for y in range(h) for x in range(w)] for k in range(c)]


def _pixel_vectors(f, n: int) -> list[list[float]]:
    """The C-vectors of every pixel of image ``n`` (pixels row-major)."""
    _, c, h, w = f.shape
    return [[float(f[n, k, y, x]) for k in range(c)] for y in range(h) for x in range(w)]


def ref_nst_level(s, t) -> float:
    total = 0.0
    for n in range(s.shape[0]):
        sv = [_unit(v) for v in _channel_vectors(s, n)]
        tv = [_unit(v) for v in _channel_vectors(t, n)]
        k_tt = sum(_dot(a, b) ** 2 for a in tv for b in tv) / (len(tv) * len(tv))
        k_ss = sum(_dot(a, b) ** 2 for a in sv for b in sv) / (len(sv) * len(sv))
        k_st = sum(_dot(a, b) ** 2 for a in sv for b in tv) / (len(sv) * len(tv))
        total += k_tt + k_ss - 2.0 * k_st
    return total / s.shape[0]


def ref_sp_level(s, t) -> float:
    b = s.shape[0]

    def gram(f) -> list[list[float]]:
        rows = [[float(v) for v in f[i].flatten()] for i in range(b)]
        g = [[_dot(rows[i], rows[j]) for j in range(b)] for i in range(b)]
        return [_unit(r) for r in g]  # L2 row normalisation (not L1 as torchdistill)

    gs, gt = gram(s), gram(t)
    return sum((gt[i][j] - gs[i][j]) ** 2 for i in range(b) for j in range(b)) / (b * b)


def ref_conv1x1(x, weight, bias) -> list:
    """``out[n][o][y][x] = bias[o] + sum_c W[o, c] x[n, c, y, x]`` as nested lists."""
    n_, c, h, w = x.shape
    o = weight.shape[0]
    out = []
    for n in range(n_):
        img = []
        for k in range(o):
            b = 0.0 if bias is None else float(bias[k])
            img.append(
                [
                    [
                        b
                        + sum(float(weight[k, j, 0, 0]) * float(x[n, j, yy, xx]) for j in range(c))
                        for xx in range(w)
                    ]
                    for yy in range(h)
                ]
            )
        out.append(img)
    return torch.tensor(out, dtype=torch.float64)


def ref_bn_train(x, gamma, beta, eps: float) -> torch.Tensor:
    """Training-mode BN: per channel, batch mean and biased variance over (N, H, W)."""
    n_, c, h, w = x.shape
    out = torch.empty(n_, c, h, w, dtype=torch.float64)
    for k in range(c):
        vals = [float(x[n, k, y, xx]) for n in range(n_) for y in range(h) for xx in range(w)]
        mu = sum(vals) / len(vals)
        var = sum((v - mu) ** 2 for v in vals) / len(vals)
        for n in range(n_):
            for y in range(h):
                for xx in range(w):
                    v = (float(x[n, k, y, xx]) - mu) / math.sqrt(var + eps)
                    out[n, k, y, xx] = float(gamma[k]) * v + float(beta[k])
    return out


def ref_spkd_level(s_raw, s_adapted, t, w_sp: float, w_ch: float) -> float:
    """Spatial term on the raw student, channel term on the adapted one (DCP layout)."""
    sp = ch = 0.0
    n_sp = n_ch = 0
    for n in range(t.shape[0]):
        ps = [_unit(v) for v in _pixel_vectors(s_raw, n)]
        pt = [_unit(v) for v in _pixel_vectors(t, n)]
        for k in range(len(pt)):
            for m in range(len(pt)):
                sp += (_dot(pt[k], pt[m]) - _dot(ps[k], ps[m])) ** 2
                n_sp += 1
        if w_ch == 0.0:  # channel term off (and possibly undefined: widths may differ)
            continue
        cs = [_unit(v) for v in _channel_vectors(s_adapted, n)]
        ct = [_unit(v) for v in _channel_vectors(t, n)]
        for k in range(len(ct)):
            for m in range(len(ct)):
                ch += (_dot(ct[k], ct[m]) - _dot(cs[k], cs[m])) ** 2
                n_ch += 1
    return w_sp * sp / n_sp + (w_ch * ch / n_ch if n_ch else 0.0)


def ref_ofd_margin(gamma: float, beta: float) -> float:
    """``E[x | x < 0]`` for ``x ~ N(beta, gamma^2)`` by numerical integration."""
    s = abs(gamma)
    pdf = stats.norm(loc=beta, scale=s).pdf
    mass, _ = integrate.quad(pdf, -math.inf, 0.0, epsabs=0, epsrel=1e-12)
    if mass <= 1e-3:
        return -3.0 * s
    first, _ = integrate.quad(lambda x: x * pdf(x), -math.inf, 0.0, epsabs=0, epsrel=1e-12)
    return first / mass


def ref_partial_l2(src, t, margin: list[float]) -> float:
    n_, c, h, w = t.shape
    total = 0.0
    for n in range(n_):
        for k in range(c):
            for y in range(h):
                for x in range(w):
                    tt = max(float(t[n, k, y, x]), margin[k])
                    ss = float(src[n, k, y, x])
                    if ss > tt or tt > 0:
                        total += (ss - tt) ** 2
    return total


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------


def _f(x: torch.Tensor) -> float:
    """A scalar tensor as a Python float (detached: no requires_grad warning)."""
    return float(x.detach())


def _rand(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _levels(seed: int, specs: list[tuple[int, int, int]], batch: int = 2) -> list[torch.Tensor]:
    return [_rand(batch, c, h, w, seed=seed + i) for i, (c, h, w) in enumerate(specs)]


def _bn(gammas: list[float], betas: list[float]) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(len(gammas)).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gammas, dtype=torch.float64))
        bn.bias.copy_(torch.tensor(betas, dtype=torch.float64))
    return bn


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------


def _factory_kwargs(name: str) -> dict:
    """Constructor arguments for a one-level (C_s=3, C_t=4) problem, per registered name."""
    return {
        "none": {},
        "nst": {},
        "sp": {},
        "spkd": {"student_channels": [3], "teacher_channels": [4]},
        "ofd": {"student_channels": [3], "teacher_bns": [_bn([1.0, 0.5, 2.0, 1.0], [0.0] * 4)]},
        "sd": {},
    }[name]


def test_registry_names_and_unknown_name() -> None:
    assert {"none", "nst", "ofd", "sd", "sp", "spkd"} <= set(list_distillers())
    assert list_distillers("s*") == ["sd", "sp", "spkd"]
    with pytest.raises(UnknownNameError, match=r"unknown distiller 'nts'.*did you mean.*nst"):
        get_distiller("nts")
    for name, cls in DISTILLERS.items():
        assert cls.name == name


@pytest.mark.parametrize("name", list_distillers())
def test_every_registered_distiller_runs(name: str) -> None:
    kd = get_distiller(name, **_factory_kwargs(name)).double()
    s = _rand(2, 3, 4, 4, seed=1).requires_grad_(True)
    if name == "sd":
        out = kd([s, _rand(2, 3, 2, 2, seed=2)])
    else:
        out = kd([s], [_rand(2, 4, 4, 4, seed=3)])
    assert out.ndim == 0 and torch.isfinite(out)
    if name == "none":
        assert _f(out) == 0.0
    else:
        assert _f(out) > 0.0
        out.backward()
        assert s.grad is not None and _f(s.grad.abs().sum()) > 0


# ---------------------------------------------------------------------------------------------
# NST
# ---------------------------------------------------------------------------------------------


def test_nst_matches_loop_reference_with_level_weights() -> None:
    s = _levels(10, [(3, 3, 4), (2, 2, 3)])
    t = _levels(20, [(5, 3, 4), (4, 2, 3)])
    got = _f(NSTLoss(weight=2.0, level_weights=[0.5, 3.0])(s, t))
    want = 2.0 * (0.5 * ref_nst_level(s[0], t[0]) + 3.0 * ref_nst_level(s[1], t[1]))
    assert got == pytest.approx(want, rel=REL)
    # defaults: weight 1, each level 1 (DCP)
    got1 = _f(get_distiller("nst")(s, t))
    assert got1 == pytest.approx(ref_nst_level(s[0], t[0]) + ref_nst_level(s[1], t[1]), rel=REL)


def test_nst_properties() -> None:
    s, t = _rand(2, 4, 3, 3, seed=1), _rand(2, 6, 3, 3, seed=2)
    nst = NSTLoss()
    assert abs(_f(nst([t], [t]))) < 1e-12
    base = _f(nst([s], [t]))
    assert base > 0
    # channel order is irrelevant (samples form a set), as is a positive per-channel scale
    perm = _f(nst([s[:, [3, 1, 0, 2]] * torch.tensor([1, 2, 3, 4.0]).view(1, 4, 1, 1)],
                     [t[:, [5, 4, 3, 2, 1, 0]]]))  # fmt: skip
    assert perm == pytest.approx(base, rel=1e-10)
    with pytest.raises(InputError, match=r"level 0: NST needs equal spatial sizes.*3x3.*4x4"):
        nst([s], [_rand(2, 6, 4, 4, seed=3)])


# ---------------------------------------------------------------------------------------------
# SP
# ---------------------------------------------------------------------------------------------


def test_sp_matches_loop_reference_across_shapes() -> None:
    # student and teacher differ in channels and in spatial size: only the batch must match
    s = _levels(30, [(3, 2, 3), (2, 4, 4)], batch=4)
    t = _levels(40, [(5, 3, 3), (6, 2, 2)], batch=4)
    got = _f(SPLoss(level_weights=[1.0, 0.25])(s, t))
    want = ref_sp_level(s[0], t[0]) + 0.25 * ref_sp_level(s[1], t[1])
    assert got == pytest.approx(want, rel=REL)


def test_sp_properties_and_l2_rows() -> None:
    s, t = _rand(5, 3, 2, 2, seed=5), _rand(5, 4, 3, 3, seed=6)
    sp = get_distiller("sp")
    assert abs(_f(sp([t], [t]))) < 1e-14
    base = _f(sp([s], [t]))
    assert _f(sp([7.5 * s], [0.01 * t])) == pytest.approx(base, rel=1e-10)
    # rows have unit L2 norm (torchdistill 1.1.5 normalises with p=1: its rows have unit L1)
    g = sp_gram(s)
    assert torch.allclose(g.norm(p=2, dim=1), torch.ones(5, dtype=torch.float64))
    assert not torch.allclose(g.abs().sum(dim=1), torch.ones(5, dtype=torch.float64))
    with pytest.raises(InputError, match="batch sizes differ"):
        sp([s], [t[:4]])


# ---------------------------------------------------------------------------------------------
# matting SPKD (spatial + channel)
# ---------------------------------------------------------------------------------------------


def test_spkd_matches_loop_reference_with_adapters() -> None:
    torch.manual_seed(0)
    s = _levels(50, [(3, 3, 3), (4, 2, 2)])
    t = _levels(60, [(5, 3, 3), (4, 2, 2)])
    kd = SPKDLoss([3, 4], [5, 4], w_sp=0.7, w_ch=1.9, weight=0.5, level_weights=[1.0, 2.0])
    kd = kd.double()
    assert isinstance(kd.adapters[0], nn.Conv2d) and isinstance(kd.adapters[1], nn.Identity)
    conv = kd.adapters[0]
    s0_adapted = ref_conv1x1(s[0], conv.weight.detach(), conv.bias.detach())
    want = 0.5 * (
        ref_spkd_level(s[0], s0_adapted, t[0], 0.7, 1.9)
        + 2.0 * ref_spkd_level(s[1], s[1], t[1], 0.7, 1.9)
    )
    assert _f(kd(s, t)) == pytest.approx(want, rel=REL)
    # every level counts (DCP's released loop kept only the last one)
    single = _f(SPKDLoss(w_sp=0.7, w_ch=1.9)([s[1]], [t[1]]))
    double = _f(SPKDLoss(w_sp=0.7, w_ch=1.9)([s[1], s[1]], [t[1], t[1]]))
    assert double == pytest.approx(2 * single, rel=1e-12)


def test_spkd_adapter_modes_and_properties() -> None:
    assert all(isinstance(a, nn.Conv2d) for a in SPKDLoss([4, 4], [4, 8], adapters=True).adapters)
    assert len(SPKDLoss().adapters) == 0
    with pytest.raises(InputError, match="adapters=False"):
        SPKDLoss([4], [8], adapters=False)
    with pytest.raises(InputError, match="declare both"):
        SPKDLoss([4], None)
    f = _rand(2, 4, 3, 3, seed=7)
    kd = SPKDLoss()
    assert abs(_f(kd([f], [f]))) < 1e-14
    assert abs(_f(kd([3.0 * f], [f]))) < 1e-14
    # spatial term alone accepts other channel counts; the channel term needs an adapter
    g = _rand(2, 6, 3, 3, seed=8)
    assert _f(SPKDLoss(w_ch=0.0)([f], [g])) == pytest.approx(
        ref_spkd_level(f, f, g, 1.0, 0.0), rel=REL
    )
    with pytest.raises(InputError, match="declare student_channels and teacher_channels"):
        kd([f], [g])
    with pytest.raises(InputError, match="level 0: student has 4 channels, declared 5"):
        SPKDLoss([5], [6])([f], [g])


# ---------------------------------------------------------------------------------------------
# OFD
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gamma", "beta"),
    [(1.0, 0.0), (0.5, 0.3), (-2.0, 1.0), (1.3, -0.7), (0.2, -1.0), (1.0, 3.0), (1.0, 3.2),
     (0.8, 5.0)],
)  # fmt: skip
def test_ofd_margin_against_integration(gamma: float, beta: float) -> None:
    got = _f(ofd_margin(_bn([gamma], [beta]))[0])
    assert got == pytest.approx(ref_ofd_margin(gamma, beta), rel=REL)
    assert got <= 0.0


def test_ofd_margin_edge_cases() -> None:
    # (1, 3.0): P(x<0) = 1.35e-3 -> formula; (1, 3.2): 6.9e-4 -> -3 |gamma|; gamma=0 -> beta or 0
    m = ofd_margin(_bn([1.0, 1.0, -0.5, 0.0, 0.0], [3.0, 3.2, 4.0, -0.4, 0.4]))
    assert m[0] > -3.0 and _f(m[1]) == -3.0 and _f(m[2]) == -1.5
    assert _f(m[3]) == pytest.approx(-0.4) and _f(m[4]) == 0.0
    assert _f(ofd_margin(nn.BatchNorm2d(1, affine=False))[0]) == pytest.approx(
        -math.sqrt(2.0 / math.pi), rel=1e-6
    )
    assert ofd_margin(nn.BatchNorm2d(3)).dtype == torch.float32
    with pytest.raises(InputError, match="needs a BatchNorm"):
        ofd_margin(nn.Conv2d(1, 1, 1))  # type: ignore[arg-type]


def test_ofd_matches_loop_reference_three_stages() -> None:
    torch.manual_seed(0)
    s = _levels(70, [(2, 3, 3), (3, 2, 2), (2, 2, 1)], batch=3)
    t = _levels(80, [(3, 3, 3), (2, 2, 2), (4, 2, 1)], batch=3)
    bns = [_bn([1.0, 0.5, 1.5], [0.2, -0.1, 2.0]), _bn([0.7, 1.1], [0.0, 3.5]),
           _bn([1.0, 0.3, 0.9, 2.0], [-0.5, 0.1, 0.4, 0.0])]  # fmt: skip
    ofd = OFDLoss([2, 3, 2], [3, 2, 4], teacher_bns=bns, weight=1.5).double().train()
    want = 0.0
    for i, stage_w in enumerate([0.25, 0.5, 1.0]):  # 1 / 2^(n - i - 1)
        conv, bn = ofd.connectors[i][0], ofd.connectors[i][1]
        assert conv.bias is None
        src = ref_bn_train(
            ref_conv1x1(s[i], conv.weight.detach(), None),
            bn.weight.detach(),
            bn.bias.detach(),
            bn.eps,
        )
        margin = [
            ref_ofd_margin(float(g), float(b))
            for g, b in zip(bns[i].weight.detach(), bns[i].bias.detach(), strict=True)
        ]
        want += stage_w * ref_partial_l2(src, t[i], margin) / 3  # / batch size
    want *= 1.5 * 1e-3  # weight * DCP's global 1/1000
    assert _f(ofd(s, t)) == pytest.approx(want, rel=REL)


def test_ofd_partial_l2_skips_student_below_nonpositive_teacher() -> None:
    margin = torch.tensor([-1.0, -2.0], dtype=torch.float64)
    t = -torch.rand(1, 2, 4, 4, dtype=torch.float64) * 3  # all <= 0
    target = torch.maximum(t, margin.view(1, 2, 1, 1))
    below = target - 0.1 - torch.rand(1, 2, 4, 4, dtype=torch.float64)  # S < T <= 0
    assert _f(ofd_partial_l2(below, t, margin)) == 0.0
    above = target + 0.25  # S > T: every element counts
    assert _f(ofd_partial_l2(above, t, margin)) == pytest.approx(32 * 0.0625, rel=1e-12)
    # T > 0: counts whatever the sign of S - T
    pos = torch.ones(1, 2, 1, 1, dtype=torch.float64)
    assert _f(ofd_partial_l2(pos - 0.5, pos, margin)) == pytest.approx(2 * 0.25)
    # and the margin clips the teacher: t = -5 -> T = -1, S = -0.5 > T counts (0.5^2)
    s1 = torch.tensor([[[[-0.5]], [[-9.0]]]], dtype=torch.float64)
    t1 = torch.full((1, 2, 1, 1), -5.0, dtype=torch.float64)
    assert _f(ofd_partial_l2(s1, t1, margin)) == pytest.approx(0.25)


def test_ofd_construction_errors() -> None:
    bn = _bn([1.0, 1.0], [0.0, 0.0])
    with pytest.raises(InputError, match="exactly one of teacher_bns or margins"):
        OFDLoss([2])
    with pytest.raises(InputError, match="connectors need student_channels"):
        OFDLoss(teacher_bns=[bn])
    with pytest.raises(InputError, match="do not match the margin widths"):
        OFDLoss([2], [3], teacher_bns=[bn])
    with pytest.raises(InputError, match="must equal the teacher's"):
        OFDLoss([3], teacher_bns=[bn], connectors=False)
    ofd = OFDLoss([3], teacher_bns=[bn])
    with pytest.raises(InputError, match="level 0: teacher has 4 channels, declared 2"):
        ofd([_rand(1, 3, 2, 2, seed=1).float()], [_rand(1, 4, 2, 2, seed=2).float()])
    assert "margin0" in ofd.state_dict()


# ---------------------------------------------------------------------------------------------
# gradients: into the student and the learnable parts, never into the teacher
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nst", "sp", "spkd", "ofd"])
def test_gradients_reach_student_and_parts_not_teacher(name: str) -> None:
    kd = get_distiller(name, **_factory_kwargs(name)).double()
    s = _rand(2, 3, 4, 4, seed=11).requires_grad_(True)
    t = _rand(2, 4, 4, 4, seed=12).requires_grad_(True)  # an unfrozen teacher
    kd([s], [t]).backward()
    assert s.grad is not None and _f(s.grad.abs().sum()) > 0
    assert t.grad is None
    params = list(kd.parameters())
    assert bool(params) == (name in ("spkd", "ofd"))
    for p in params:
        assert p.grad is not None and _f(p.grad.abs().sum()) > 0


# ---------------------------------------------------------------------------------------------
# shared behaviour
# ---------------------------------------------------------------------------------------------


def test_level_validation_errors() -> None:
    a, b = _rand(2, 3, 2, 2, seed=1), _rand(2, 3, 2, 2, seed=2)
    nst = NSTLoss()
    with pytest.raises(InputError, match="student has 2 feature levels, teacher has 1"):
        nst([a, a], [b])
    with pytest.raises(InputError, match="empty"):
        nst([], [])
    with pytest.raises(InputError, match="must be a list"):
        nst(a, b)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"student_feats\[0\] must be an \(N, C, H, W\)"):
        nst([a[0]], [b])
    with pytest.raises(InputError, match="2 level_weights for 1 feature levels"):
        NSTLoss(level_weights=[1.0, 1.0])([a], [b])


def test_weight_scales_linearly() -> None:
    s, t = _levels(90, [(3, 2, 2), (3, 3, 3)]), _levels(95, [(3, 2, 2), (3, 3, 3)])
    for name in ("nst", "sp", "spkd"):
        one = _f(get_distiller(name)(s, t))
        assert _f(get_distiller(name, weight=0.5)(s, t)) == pytest.approx(0.5 * one)
        lw = _f(get_distiller(name, level_weights=[0.0, 1.0])(s, t))
        assert lw == pytest.approx(_f(get_distiller(name)(s[1:], t[1:])))


def test_sd_wraps_sdnet_self_distillation() -> None:
    feats = [_rand(1, 2, 4, 4, seed=s) for s in (1, 2, 3)]
    for mode in ("best", "dense", "transitive", "none"):
        got = _f(get_distiller("sd", mode=mode, weight=2.0)(feats))
        assert got == pytest.approx(2.0 * _f(losses.self_distillation_loss(feats, mode)))
    with pytest.raises(InputError, match="no teacher features"):
        get_distiller("sd")(feats, feats)
    with pytest.raises(InputError, match="unknown self-distillation mode"):
        get_distiller("sd", mode="chain")


def test_none_is_zero_without_grad() -> None:
    out = get_distiller("none")([_rand(1, 2, 2, 2, seed=1)], [])
    assert _f(out) == 0.0 and out.dtype == torch.float64 and not out.requires_grad
