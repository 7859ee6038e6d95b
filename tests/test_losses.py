"""Matting losses (``baselines.losses``), each piece against an independent computation.

Where the expected values come from
-----------------------------------
* **Hand-computed numbers**, exact, stated beside each case (e.g. ``1 - 1/sqrt(2)``).
* **Loop-level numpy ports written here** from the papers and the official code, sharing no
  code path with the torch module (no ``F.conv2d``, ``F.pad``, ``F.interpolate`` or
  ``F.cosine_similarity``):

  - DIM (Xu et al. CVPR 2017, eq. 1) alpha-prediction loss ``sqrt((a_p - a_g)^2 + eps^2)``,
    ``eps = 1e-6``.
  - GCA-Matting ``trainer.py`` (Yaoyi-Li/GCA-Matting, commit 5a999be), ``regression_loss``
    (weighted L1 ``sum |p w - g w| / (sum w + 1e-8)``) and ``composition_loss``.
  - MG-Matting ``code-base/trainer.py`` ``Trainer.lap_loss`` (yucornetto/MGMatting, after Marco
    Forte's FBA gist): kernel ``[[1 4 6 4 1] ...] / 256``, ``F.pad(mode="reflect")``,
    ``downsample = x[::2, ::2]``, ``upsample`` = zero insertion then ``4 x`` the kernel, 5 levels
    weighted ``2^i`` (``i = 0..4``), weights downsampled ``w[::2, ::2]``. GCA-Matting itself has
    no Laplacian loss.
  - SDNet (paper sec. 3.3-3.4): ``L_lap = sum_n 2^(n-1) / 5 |L^n(a) - L^n(a_gt)|_1``, so ours is
    MG-Matting's value ``/ 5``; ``L_d`` from the cosine similarity of student and teacher
    features; multi-level supervision ``L_alpha`` on the final and every side alpha.
  - PyTorch's bilinear resize with ``align_corners=False`` (source index
    ``(i + 0.5) * in / out - 0.5``, clamped at 0) for the student resized to the teacher.

Tolerances: all tensors are float64. ``REL = 1e-12`` where both sides evaluate the same
formula in another order; ``1e-9`` against GCA/MG-Matting's weighted means, which add
``1e-8`` to the weight sum (ours divides by ``max(sum w, 1)``; with hundreds of unknown pixels
the two differ by ~1e-11 relative).

Conventions that differ from an official code on purpose (asserted below, so a change shows):
the weighted composition loss is a mean over colour channels too (GCA divides the 3-channel
sum by the 1-channel weight sum: 3x ours); the Laplacian level weights are SDNet's (MG-Matting
/ 5).

History: until this file was rewritten the pyramid's EXPAND was nearest-neighbour upsampling
then the plain kernel, which is neither Burt & Adelson's nor MG-Matting's; it gave 0.188507
instead of 0.185027 (+1.9 %) on a random 2x1x64x64 pair (MG-Matting / 5: 0.185027).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines import losses  # noqa: E402

REL = 1e-12
REL_OFFICIAL = 1e-9

# MG-Matting's ``self.gauss_filter`` (before ``/ 256``)
_GAUSS_256 = np.array(
    [
        [1, 4, 6, 4, 1],
        [4, 16, 24, 16, 4],
        [6, 24, 36, 24, 6],
        [4, 16, 24, 16, 4],
        [1, 4, 6, 4, 1],
    ],
    dtype=np.float64,
)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _f(x: torch.Tensor) -> float:
    return float(x.detach())


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------------
# loop-level references
# ---------------------------------------------------------------------------------------------


def ref_weighted_mean(err: np.ndarray, w: np.ndarray | None) -> float:
    """Plain mean, or ``sum(w e) / max(sum w, 1)``, by explicit loops over every element."""
    if w is None:
        vals = list(err.ravel())
        return sum(vals) / len(vals)
    num = den = 0.0
    for e, wi in zip(err.ravel(), np.broadcast_to(w, err.shape).ravel(), strict=True):
        num += wi * e
        den += wi
    return num / max(den, 1.0)


def gca_regression_l1(p: np.ndarray, g: np.ndarray, w: np.ndarray | None) -> float:
    """GCA/MG-Matting ``Trainer.regression_loss(loss_type="l1")``: ``F.l1_loss`` mean, or
    ``l1_loss(p * w, g * w, reduction="sum") / (sum(w) + 1e-8)`` (``w`` broadcast over
    channels in the numerator only)."""
    if w is None:
        return float(np.abs(p - g).mean())
    return float(np.abs(p * w - g * w).sum() / (w.sum() + 1e-8))


def _reflect(i: int, n: int) -> int:
    """``F.pad(mode="reflect")`` index (valid for pads smaller than ``n``, as MG-Matting's)."""
    if i < 0:
        i = -i
    if i > n - 1:
        i = 2 * (n - 1) - i
    return i


def mg_conv_gauss(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``conv_gauss``: reflect-pad 2, then the 25 taps summed one by one (one 2-D map)."""
    h, w = img.shape
    rows = np.array([[_reflect(y + i - 2, h) for y in range(h)] for i in range(5)])
    cols = np.array([[_reflect(x + j - 2, w) for x in range(w)] for j in range(5)])
    out = np.zeros((h, w))
    for i in range(5):
        for j in range(5):
            out += kernel[i, j] * img[np.ix_(rows[i], cols[j])]
    return out


def mg_upsample(d: np.ndarray) -> np.ndarray:
    """MG-Matting ``upsample``: zeros with ``d`` at the even positions, blurred with 4x."""
    h, w = d.shape
    up = np.zeros((2 * h, 2 * w))
    for y in range(h):
        for x in range(w):
            up[2 * y, 2 * x] = d[y, x]
    return mg_conv_gauss(up, 4 * _GAUSS_256 / 256)


def mg_lap_pyramid(img: np.ndarray, levels: int = 5) -> list[np.ndarray]:
    cur, pyr = img, []
    for _ in range(levels):
        down = mg_conv_gauss(cur, _GAUSS_256 / 256)[::2, ::2]
        pyr.append(cur - mg_upsample(down))
        cur = down
    return pyr


def mg_lap_loss(p: np.ndarray, g: np.ndarray, w: np.ndarray | None = None) -> float:
    """MG-Matting ``lap_loss`` for ``(N, 1, H, W)`` arrays: ``sum_i 2^i * regression_l1``."""
    pp = [mg_lap_pyramid(p[n, 0]) for n in range(p.shape[0])]
    gp = [mg_lap_pyramid(g[n, 0]) for n in range(g.shape[0])]
    total = 0.0
    for i in range(5):
        a = np.stack([pyr[i] for pyr in pp])[:, None]
        b = np.stack([pyr[i] for pyr in gp])[:, None]
        wi = None if w is None else w[..., :: 2**i, :: 2**i]
        total += 2**i * gca_regression_l1(a, b, wi)
    return total


def ref_composition(a, fg, bg, img, w=None) -> float:
    """``|a F + (1 - a) B - I|`` per pixel and colour channel, weighted mean over all of them."""
    n_, c_, h, w_ = fg.shape
    num = den = 0.0
    for n in range(n_):
        for c in range(c_):
            for y in range(h):
                for x in range(w_):
                    al = a[n, 0, y, x]
                    e = abs(al * fg[n, c, y, x] + (1 - al) * bg[n, c, y, x] - img[n, c, y, x])
                    wi = 1.0 if w is None else w[n, 0, y, x]
                    num += wi * e
                    den += wi
    return num / (den if w is None else max(den, 1.0))


def ref_bilinear(img: np.ndarray, oh: int, ow: int) -> np.ndarray:
    """PyTorch ``interpolate(mode="bilinear", align_corners=False)`` of one 2-D map."""
    ih, iw = img.shape

    def taps(o: int, n_in: int, n_out: int) -> tuple[int, int, float]:
        src = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = int(math.floor(src))
        i1 = i0 + 1 if i0 < n_in - 1 else i0
        return i0, i1, src - i0

    out = np.zeros((oh, ow))
    for y in range(oh):
        y0, y1, ly = taps(y, ih, oh)
        for x in range(ow):
            x0, x1, lx = taps(x, iw, ow)
            out[y, x] = (1 - ly) * ((1 - lx) * img[y0, x0] + lx * img[y0, x1]) + ly * (
                (1 - lx) * img[y1, x0] + lx * img[y1, x1]
            )
    return out


def ref_cos_distance(s: np.ndarray, t: np.ndarray) -> float:
    """``mean_n (1 - <s_n, t_n> / (|s_n| |t_n|))`` with ``s`` resized bilinearly to ``t``."""
    total = 0.0
    for n in range(s.shape[0]):
        sv, tv = [], []
        for c in range(s.shape[1]):
            sc = s[n, c]
            if sc.shape != t.shape[-2:]:
                sc = ref_bilinear(sc, *t.shape[-2:])
            sv += list(sc.ravel())
            tv += list(t[n, c].ravel())
        dot = sum(a * b for a, b in zip(sv, tv, strict=True))
        ns = math.sqrt(sum(a * a for a in sv))
        nt = math.sqrt(sum(b * b for b in tv))
        total += 1.0 - dot / (ns * nt)
    return total / s.shape[0]


SD_PAIRS = {  # (student, teacher) over [F4, F3, F2]; SDNet sec. 3.4
    "best": [(0, 2), (1, 2)],  # F2 teaches F3 and F4
    "dense": [(0, 1), (0, 2), (1, 2)],  # every downstream feature teaches every upstream one
    "transitive": [(0, 1), (1, 2)],  # each teaches its upstream neighbour only
    "none": [],
}


def ref_alpha_loss(p, g, fg=None, bg=None, img=None, w=None) -> float:
    """SDNet ``L_alpha = L_l1 + L_lap + L_c`` from the references above."""
    total = ref_weighted_mean(np.abs(p - g), w) + mg_lap_loss(p, g, w) / 5
    if fg is not None:
        total += ref_composition(p, fg, bg, img, w)
    return total


# ---------------------------------------------------------------------------------------------
# alpha prediction losses: L1 (SDNet, GCA) and Charbonnier (DIM)
# ---------------------------------------------------------------------------------------------


def test_l1_loss_hand_values() -> None:
    p = _t([[[[0.0, 0.5], [1.0, 0.25]]]])
    g = _t([[[[0.0, 1.0], [0.0, 0.25]]]])
    assert _f(losses.l1_loss(p, g)) == (0.5 + 1.0) / 4  # plain mean: 0.375
    w = _t([[[[0.0, 1.0], [1.0, 0.0]]]])
    assert _f(losses.l1_loss(p, g, w)) == (0.5 + 1.0) / 2  # over the two weighted pixels
    assert _f(losses.l1_loss(p, g, torch.zeros_like(w))) == 0.0  # no unknown pixel: 0, not NaN


@pytest.mark.parametrize("weighted", [False, True])
def test_l1_loss_is_gca_regression_loss(weighted: bool) -> None:
    rng = _rng(1)
    p, g = rng.random((2, 1, 9, 7)), rng.random((2, 1, 9, 7))
    w = (rng.random((2, 1, 9, 7)) < 0.4).astype(np.float64) if weighted else None
    got = _f(losses.l1_loss(_t(p), _t(g), None if w is None else _t(w)))
    assert got == pytest.approx(ref_weighted_mean(np.abs(p - g), w), rel=REL)
    assert got == pytest.approx(gca_regression_l1(p, g, w), rel=REL_OFFICIAL)


def test_charbonnier_is_dims_alpha_loss() -> None:
    # DIM eq. 1: sqrt((a_p - a_g)^2 + eps^2) with eps = 1e-6 (our default)
    p = _t([[[[0.0, 0.5], [1.0, 0.25]]]])
    g = _t([[[[0.0, 1.0], [0.0, 0.25]]]])
    assert _f(losses.charbonnier_loss(p, g, eps=0.0)) == 0.375
    assert _f(losses.charbonnier_loss(p, p, eps=1e-3)) == pytest.approx(1e-3, rel=REL)
    # |d| = 0.3, eps = 0.4: sqrt(0.09 + 0.16) = 0.5 exactly
    assert _f(losses.charbonnier_loss(p, p + 0.3, eps=0.4)) == pytest.approx(0.5, rel=REL)
    rng = _rng(2)
    a, b = rng.random((2, 1, 6, 5)), rng.random((2, 1, 6, 5))
    w = (rng.random((2, 1, 6, 5)) < 0.5).astype(np.float64)
    want = ref_weighted_mean(np.sqrt((a - b) ** 2 + 1e-12), w)
    assert _f(losses.charbonnier_loss(_t(a), _t(b), _t(w))) == pytest.approx(want, rel=REL)


# ---------------------------------------------------------------------------------------------
# Laplacian pyramid loss (SDNet L_lap; pyramid of MG-Matting / FBA)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 8), (7, 9), (3, 5), (2, 2), (1, 6), (1, 1)])
def test_laplacian_checkerboard_and_constant_exact(shape: tuple[int, int]) -> None:
    """The binomial kernel sums to 1 and annihilates (-1)^(y+x): a checkerboard is all band 1,
    a constant is in no band (the residual is not part of the loss); any size, odd included."""
    h, w = shape
    checker = _t([[[[0.5 * (-1) ** (y + x) for x in range(w)] for y in range(h)]]])
    bands = losses.laplacian_pyramid(checker, 5)
    assert len(bands) == 5
    if h > 1 and w > 1:
        assert torch.equal(bands[0], checker)
        assert all(_f(b.abs().max()) == 0.0 for b in bands[1:])
        # only level n = 1 counts: 2^0 / 5 * mean |0.5| = 0.1
        got = _f(losses.laplacian_loss(checker, torch.zeros_like(checker)))
        assert got == pytest.approx(0.1, rel=REL)
    const = torch.full((1, 1, h, w), 0.7, dtype=torch.float64)
    assert all(_f(b.abs().max()) < 1e-15 for b in losses.laplacian_pyramid(const, 5))


def test_laplacian_pyramid_is_mg_mattings_bands() -> None:
    img = _rng(3).random((64, 96))  # MG-Matting needs sides divisible by 2^4, levels >= 3 px
    ours = losses.laplacian_pyramid(_t(img[None, None]), 5)
    for n, ref in enumerate(mg_lap_pyramid(img), start=1):
        assert ours[n - 1].shape[-2:] == ref.shape, n
        np.testing.assert_allclose(ours[n - 1][0, 0].numpy(), ref, rtol=0, atol=1e-14)


@pytest.mark.parametrize("weighted", [False, True])
def test_laplacian_loss_is_mg_mattings(weighted: bool) -> None:
    """SDNet's L_lap = MG-Matting's lap_loss / 5 (level n weighted 2^(n-1)/5 vs 2^(n-1))."""
    rng = _rng(4)
    p, g = rng.random((2, 1, 64, 64)), rng.random((2, 1, 64, 64))
    w = (rng.random((2, 1, 64, 64)) < 0.3).astype(np.float64) if weighted else None
    got = _f(losses.laplacian_loss(_t(p), _t(g), None if w is None else _t(w)))
    assert got == pytest.approx(mg_lap_loss(p, g, w) / 5, rel=REL_OFFICIAL)
    if not weighted:
        # MG-Matting's lap_loss run verbatim (on CPU, .cuda() dropped) gave 0.8908749457124694
        assert got == pytest.approx(0.8908749457124694 / 5, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# composition loss (DIM, GCA, SDNet L_c)
# ---------------------------------------------------------------------------------------------


def test_composition_loss_hand_values() -> None:
    a = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64)
    fg, bg = (
        torch.ones(1, 3, 2, 2, dtype=torch.float64),
        torch.zeros(1, 3, 2, 2, dtype=torch.float64),
    )
    img = torch.full((1, 3, 2, 2), 0.25, dtype=torch.float64)
    assert _f(losses.composition_loss(a, fg, bg, img)) == 0.25  # |0.5 * 1 + 0.5 * 0 - 0.25|
    assert _f(losses.composition_loss(a, fg, bg, 0.5 * fg)) == 0.0
    img2 = img.clone()
    img2[0, 1, 0, 0] = 1.0  # one channel of one pixel: error 0.5 there, 0.25 elsewhere
    w = _t([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert _f(losses.composition_loss(a, fg, bg, img2, w)) == pytest.approx(
        (5 * 0.25 + 0.5) / 6, rel=REL
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_composition_loss_against_loops_and_gca(weighted: bool) -> None:
    rng = _rng(5)
    a = rng.random((2, 1, 5, 6))
    fg, bg, img = rng.random((2, 3, 5, 6)), rng.random((2, 3, 5, 6)), rng.random((2, 3, 5, 6))
    w = (rng.random((2, 1, 5, 6)) < 0.5).astype(np.float64) if weighted else None
    got = _f(losses.composition_loss(_t(a), _t(fg), _t(bg), _t(img), None if w is None else _t(w)))
    assert got == pytest.approx(ref_composition(a, fg, bg, img, w), rel=REL)
    # GCA composition_loss: regression_loss(fg a + bg (1 - a), image, weight); with a weight it
    # divides the 3-channel sum by the 1-channel weight sum, i.e. 3x our per-channel mean
    gca = gca_regression_l1(fg * a + bg * (1 - a), img, w)
    assert got * (3 if weighted else 1) == pytest.approx(gca, rel=REL_OFFICIAL)


# ---------------------------------------------------------------------------------------------
# L_alpha and the training batch
# ---------------------------------------------------------------------------------------------


def _batch(seed: int, n: int = 2, h: int = 32, w: int = 32) -> dict[str, np.ndarray]:
    rng = _rng(seed)
    return {
        "alpha": rng.random((n, 1, h, w)),
        "fg": rng.random((n, 3, h, w)),
        "bg": rng.random((n, 3, h, w)),
        "image": rng.random((n, 3, h, w)),
        "weight": (rng.random((n, 1, h, w)) < 0.5).astype(np.float64),
    }


def test_alpha_loss_and_matting_loss_sum_the_three_terms() -> None:
    b = _batch(6)
    pred = _rng(7).random(b["alpha"].shape)
    tb = {k: _t(v) for k, v in b.items()}
    want = ref_alpha_loss(pred, b["alpha"], b["fg"], b["bg"], b["image"], b["weight"])
    assert _f(losses.matting_loss(_t(pred), tb)) == pytest.approx(want, rel=REL_OFFICIAL)
    kw = {"fg": tb["fg"], "bg": tb["bg"], "image": tb["image"], "weight": tb["weight"]}
    assert _f(losses.alpha_loss(_t(pred), tb["alpha"], **kw)) == pytest.approx(
        want, rel=REL_OFFICIAL
    )
    # no colours: L_l1 + L_lap only, unweighted
    assert _f(losses.alpha_loss(_t(pred), tb["alpha"])) == pytest.approx(
        ref_alpha_loss(pred, b["alpha"]), rel=REL_OFFICIAL
    )


# ---------------------------------------------------------------------------------------------
# self-distillation L_d (SDNet sec. 3.4)
# ---------------------------------------------------------------------------------------------


def test_cosine_term_hand_value() -> None:
    s = _t([[[[1.0, 0.0], [0.0, 0.0]]]])
    t = _t([[[[1.0, 1.0], [0.0, 0.0]]]])
    # cos = 1 / sqrt(2)
    want = 1.0 - 1.0 / math.sqrt(2.0)
    assert _f(losses.self_distillation_loss([s, t], "best")) == pytest.approx(want, rel=REL)
    # scale-invariant; -t gives cos = -1/sqrt(2); the same direction gives 0
    assert _f(losses.self_distillation_loss([3 * s, t], "best")) == pytest.approx(want, rel=REL)
    assert _f(losses.self_distillation_loss([s, -t], "best")) == pytest.approx(
        1.0 + 1.0 / math.sqrt(2.0), rel=REL
    )
    assert _f(losses.self_distillation_loss([2 * t, t], "best")) == pytest.approx(0.0, abs=1e-15)
    # batch mean of per-sample distances: (1 - 1/sqrt 2 + 0) / 2
    both_s, both_t = torch.cat([s, t]), torch.cat([t, t])
    assert _f(losses.self_distillation_loss([both_s, both_t], "best")) == pytest.approx(
        want / 2, rel=REL
    )


def test_cosine_term_resizes_student_bilinearly() -> None:
    rng = _rng(8)
    s, t = rng.random((2, 3, 4, 5)), rng.random((2, 3, 8, 10))
    got = _f(losses.self_distillation_loss([_t(s), _t(t)], "best"))
    assert got == pytest.approx(ref_cos_distance(s, t), rel=REL)


@pytest.mark.parametrize("mode", sorted(SD_PAIRS))
def test_self_distillation_pairs(mode: str) -> None:
    """Each setting sums 1 - cos over exactly the paper's (student, teacher) pairs."""
    rng = _rng(9)
    feats = [rng.random((2, 2, 4, 4)), rng.random((2, 2, 8, 8)), rng.random((2, 2, 16, 16))]
    got = _f(losses.self_distillation_loss([_t(f) for f in feats], mode))  # type: ignore[arg-type]
    want = sum(ref_cos_distance(feats[s], feats[t]) for s, t in SD_PAIRS[mode])
    assert got == pytest.approx(want, rel=REL)
    assert (got > 0) == (mode != "none")


def test_self_distillation_errors_and_short_lists() -> None:
    f = _t(_rng(10).random((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="unknown self-distillation mode 'bogus'"):
        losses.self_distillation_loss([f, f], "bogus")  # type: ignore[arg-type]
    assert _f(losses.self_distillation_loss([f], "dense")) == 0.0  # nothing to distil
    assert _f(losses.self_distillation_loss([], "best")) == 0.0


def test_teacher_gets_no_gradient() -> None:
    s = torch.rand(1, 1, 4, 4, requires_grad=True)
    t = torch.rand(1, 1, 4, 4, requires_grad=True)
    losses.self_distillation_loss([s, t], "best").backward()
    assert s.grad is not None and t.grad is None


# ---------------------------------------------------------------------------------------------
# the SDNet objective
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "lam"), [("best", 2.0), ("dense", 0.5), ("none", 1.0)])
def test_sdnet_objective_against_references(mode: str, lam: float) -> None:
    b = _batch(11, n=1)
    rng = _rng(12)
    alpha = rng.random(b["alpha"].shape)
    sides = [rng.random(b["alpha"].shape) for _ in range(3)]
    feats = [rng.random((1, 2, 8, 8)), rng.random((1, 2, 16, 16)), rng.random((1, 2, 32, 32))]
    out = SimpleNamespace(
        alpha=_t(alpha), side_alphas=[_t(a) for a in sides], features=[_t(f) for f in feats]
    )
    total, parts = losses.sdnet_objective(
        out,
        {k: _t(v) for k, v in b.items()},
        sd_mode=mode,  # type: ignore[arg-type]
        lambda_sd=lam,
    )
    colours = (b["fg"], b["bg"], b["image"], b["weight"])
    final = ref_alpha_loss(alpha, b["alpha"], *colours)
    aux = sum(ref_alpha_loss(a, b["alpha"], *colours) for a in sides)
    sd = sum(ref_cos_distance(feats[s], feats[t]) for s, t in SD_PAIRS[mode])
    assert parts["final"] == pytest.approx(final, rel=REL_OFFICIAL)
    assert parts["aux"] == pytest.approx(aux, rel=REL_OFFICIAL)
    assert parts["sd"] == pytest.approx(sd, rel=REL)
    assert parts["total"] == pytest.approx(final + aux + lam * sd, rel=REL_OFFICIAL)
    assert _f(total) == parts["total"]
