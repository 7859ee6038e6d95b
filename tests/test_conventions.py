"""Every documented difference of every named convention, each shown on a crafted case.

``DIFFERENCES`` maps ``(convention, index into its differences)`` to a keyword that must occur in
that sentence and to the tests that demonstrate it; ``test_every_difference_is_covered`` fails
when a convention gains (or reorders) a difference without a matching test. The expected values
are worked out by hand in the comments, or with a few lines of plain numpy written here (they
share no code with the kernels), or with a literal float64 re-statement of the port's own loop.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import ndimage

import metrics
from metrics import CONVENTIONS, get_convention
from metrics.conn import conn_raw
from tests.conftest import smooth_case

REF = get_convention("reference")
EXACT = {"rel": 1e-12, "abs": 1e-12}

# (convention, index) -> (keyword of the sentence, tests that demonstrate it)
DIFFERENCES: dict[tuple[str, int], tuple[str, tuple[str, ...]]] = {
    ("matlab-indexnet", 0): ("first empty threshold", ("test_conn_empty_level_continue",)),
    ("gca", 0): (
        "truncates",
        (
            "test_pipeline_prepare",
            "test_pipeline_sad",
            "test_gca_forcing",
            "test_quantise_in_float32",
        ),
    ),
    ("gca", 1): ("1e-8", ("test_mse_eps_no_unknown_gives_zero",)),
    ("gca", 2): ("divided by 255", ("test_gca_grad_div255_instead_of_mat2gray",)),
    ("gca", 3): (
        "153",
        ("test_conn_float64_arange_drops_153", "test_gca_conn_gt_float32_pred_float64"),
    ),
    ("gca", 4): ("background label", ("test_gca_conn_background_label",)),
    ("gca", 5): ("row-major", ("test_conn_tie_break",)),
    ("gca", 6): ("< 85", ("test_gca_trimap_thresholds",)),
    ("matteformer", 0): (
        "truncated",
        ("test_pipeline_prepare", "test_pipeline_sad", "test_quantise_in_float32"),
    ),
    ("matteformer", 1): ("1e-8", ("test_mse_eps_no_unknown_gives_zero",)),
    ("matteformer", 2): ("< 85", ("test_matteformer_forces_from_trimap_classes",)),
    ("mmedit", 0): (
        "rounded",
        ("test_pipeline_prepare", "test_pipeline_sad", "test_quantise_in_float32"),
    ),
    ("mmedit", 1): ("whole image", ("test_sad_whole_image",)),
    ("mmedit", 2): ("#(trimap == 128)", ("test_mse_whole_sum_over_unknown_count",)),
    ("mmedit", 3): ("OpenCV", ("test_conn_tie_break",)),
    ("mmagic", 0): (
        "rounded",
        ("test_pipeline_prepare", "test_pipeline_sad", "test_quantise_in_float32"),
    ),
    ("mmagic", 1): ("whole image", ("test_sad_whole_image",)),
    ("mmagic", 2): ("#(trimap == 128)", ("test_mse_whole_sum_over_unknown_count",)),
    ("mmagic", 3): ("153", ("test_conn_float64_arange_drops_153",)),
    ("mmagic", 4): ("OpenCV", ("test_conn_tie_break",)),
    ("p3m", 0): ("not forced", ("test_sad_whole_image", "test_pipeline_prepare")),
    ("p3m", 1): ("mean over the whole image", ("test_p3m_mse_whole_mean",)),
    ("p3m", 2): ("gaussian_filter", ("test_grad_scipy_gaussian", "test_scale_uses_divisors")),
    ("p3m", 3): (
        "whole image",
        ("test_p3m_conn_whole_image", "test_conn_float64_arange_drops_153"),
    ),
    ("p3m", 4): ("continue", ("test_conn_empty_level_continue",)),
    ("p3m", 5): ("row-major", ("test_conn_tie_break",)),
    ("dim-pytorch", 0): ("does not quantise", ("test_pipeline_prepare", "test_pipeline_sad")),
    ("dim-pytorch", 1): ("whole image", ("test_sad_whole_image",)),
    ("dim-pytorch", 2): ("inf", ("test_mse_whole_sum_over_unknown_count",)),
    ("dim-pytorch", 3): (
        "gaussian_filter",
        ("test_grad_scipy_gaussian", "test_scale_uses_divisors"),
    ),
    ("dim-pytorch", 4): ("153", ("test_conn_float64_arange_drops_153",)),
    ("dim-pytorch", 5): ("continue", ("test_conn_empty_level_continue",)),
    ("dim-pytorch", 6): ("row-major", ("test_conn_tie_break",)),
}


# --------------------------------------------------------------------------- helpers


def _sad_hand(p: np.ndarray, g: np.ndarray, mask: np.ndarray | None = None) -> float:
    """``sum |p - g|`` in alpha units (uint8 divided by 255), over ``mask``."""
    e = np.abs(_alpha(p) - _alpha(g))
    return float(e.sum() if mask is None else e[mask].sum())


def _alpha(a: np.ndarray) -> np.ndarray:
    return a / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)


def _gaussgradient_mag(a: np.ndarray) -> np.ndarray:
    """GCA's ``gaussgradient``: 2-D 9x9 L2-normalised kernel, ``ndimage.convolve`` (nearest)."""
    s = 1.4
    half = math.ceil(s * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * s * 0.01)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * s**2)) / (s * math.sqrt(2 * math.pi))
    hx = np.outer(g, -x * g / s**2)
    hx /= np.sqrt(np.sum(hx**2))
    gx = ndimage.convolve(a, hx, mode="nearest")
    gy = ndimage.convolve(a, hx.T, mode="nearest")
    return np.hypot(gx, gy)


def _scipy_dog_mag(a: np.ndarray) -> np.ndarray:
    """scipy ``gaussian_filter(sigma=1.4, order=1)`` magnitude, re-built by hand in float64.

    13 taps (radius ``int(4 * 1.4 + 0.5) = 6``), Gaussian normalised to sum 1, derivative
    ``x / s^2 * g`` as a correlation, scipy's ``reflect`` border = numpy's ``symmetric``.
    """
    s, r = 1.4, 6
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * s**2))
    g /= g.sum()
    dg = x / s**2 * g
    pad = np.pad(a.astype(np.float64), r, mode="symmetric")
    h, w = a.shape

    def sep(k0: np.ndarray, k1: np.ndarray) -> np.ndarray:
        tmp = sum(k0[j] * pad[j : j + h, :] for j in range(2 * r + 1))
        return sum(k1[j] * tmp[:, j : j + w] for j in range(2 * r + 1))

    return np.hypot(sep(dg, g), sep(g, dg))


def _port_conn(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None,
    *,
    background_bug: bool = False,
    empty_continue: bool = False,
    gt_float32: bool = False,
) -> float:
    """Literal float64 port loop (GCA / P3M / DCP): ``np.arange`` thresholds, skimage labels.

    ``gt_float32``: gt as GCA-Matting's tester hands it over, ``float32(v / 255.) * 255`` and
    then ``/ 255.0``, all in float32, and compared in float32 as NumPy < 2 compares a float32
    array with a float64 scalar (the port needs NumPy < 1.24).
    """
    label = pytest.importorskip("skimage.measure").label
    p, g = _alpha(pred), _alpha(gt)
    g32 = g.astype(np.float32) * np.float32(255) / np.float32(255)
    if gt_float32:
        g = g32.astype(np.float64)
    steps = np.arange(0, 1.1, 0.1)
    lmap = -np.ones_like(p)
    for i in range(1, len(steps)):
        g_in = g32 >= np.float32(steps[i]) if gt_float32 else g >= steps[i]
        labels = label(((p >= steps[i]) & g_in).astype(int), connectivity=1)
        counts = np.bincount(labels.ravel())
        if background_bug:  # GCA getLargestCC: argmax over a bincount with label 0
            omega = labels == np.argmax(counts)
        elif len(counts) == 1:  # no component
            if empty_continue:
                continue
            omega = np.zeros(p.shape, dtype=bool)
        else:
            omega = labels == 1 + np.argmax(counts[1:])
        lmap[(lmap == -1) & ~omega] = steps[i - 1]
    lmap[lmap == -1] = 1
    dp, dq = p - lmap, g - lmap
    e = np.abs((1 - dp * (dp >= 0.15)) - (1 - dq * (dq >= 0.15)))
    return float(e.sum() if mask is None else e[mask].sum())


def _full(shape: tuple[int, int], v: int) -> np.ndarray:
    return np.full(shape, v, dtype=np.uint8)


# --------------------------------------------------------------------------- crafted cases


def _pipeline_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float pred, 3x8: bg row, unknown row of x.5 / x.2 / x.7 grey levels, fg row."""
    tri = np.array([[0] * 8, [128] * 8, [255] * 8], dtype=np.uint8)
    grey = np.array([0.5, 1.5, 2.5, 3.5, 4.2, 5.7, 6.2, 7.7])
    pred = np.vstack([np.full(8, 0.25), grey / 255.0, np.full(8, 0.75)])
    gt = np.vstack([np.zeros(8), np.zeros(8), np.ones(8)]).astype(np.uint8) * 255
    return pred, gt, tri


def _threshold_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8x8 gt = pred = 255, except a 4x5 block of pred = 153 inside a connected 255 ring."""
    gt = _full((8, 8), 255)
    pred = gt.copy()
    pred[2:6, 2:7] = 153
    return pred, gt, _full((8, 8), 128)


def _tie_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """5x9: blob A rows 1-4 cols 0-3 (pred 255, gt 230), blob B rows 0-3 cols 5-8 (255/255).

    Both have 16 pixels and tie at levels 1..9. Column-major order meets A first (column 0),
    row-major (scikit-image) and OpenCV raster order meet B first (row 0). The background
    (13 pixels at level 1) is smaller than either blob there.
    """
    pred = _full((5, 9), 0)
    gt = pred.copy()
    pred[1:5, 0:4] = 255
    gt[1:5, 0:4] = 230
    pred[0:4, 5:9] = 255
    gt[0:4, 5:9] = 255
    return pred, gt, _full((5, 9), 128)


def _empty_level_case(pred_value: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """6x8: gt a ramp along the columns (no 153), pred constant."""
    gt = np.tile(np.array([0, 30, 60, 90, 120, 180, 210, 255], dtype=np.uint8), (6, 1))
    return _full((6, 8), pred_value), gt, _full((6, 8), 128)


def _stray_case(fg_small: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8x8: pred = gt except 3 stray pred = 255 pixels where gt = 0 (level 0, l = 0 in the ref).

    ``fg_small``: gt is a 3x3 block of 255 in a 0 image (foreground < half). Otherwise gt is
    255 with a 3x3 hole of 0 (foreground > half), and the strays sit in the hole.
    """
    if fg_small:
        gt = _full((8, 8), 0)
        gt[1:4, 1:4] = 255
        strays = [(6, 6), (6, 7), (7, 6)]
    else:
        gt = _full((8, 8), 255)
        gt[1:4, 1:4] = 0
        strays = [(1, 1), (1, 2), (2, 1)]
    pred = gt.copy()
    for rc in strays:
        pred[rc] = 255
    return pred, gt, _full((8, 8), 128)


def _whole_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4x6 uint8: gt disagrees with the trimap's known labels, one stray 127 trimap value."""
    tri = np.array([[0] * 6, [128, 128, 128, 127, 128, 128], [128] * 6, [255] * 6], dtype=np.uint8)
    gt = np.array(
        [
            [255, 0, 0, 0, 0, 0],  # gt = 255 where the trimap says background
            [0, 50, 100, 150, 200, 250],
            [255, 200, 150, 100, 50, 0],
            [255, 255, 255, 255, 255, 0],  # gt = 0 where the trimap says foreground
        ],
        dtype=np.uint8,
    )
    pred = np.array(
        [
            [10, 10, 10, 10, 10, 10],
            [5, 60, 90, 40, 210, 255],
            [250, 190, 160, 90, 60, 10],
            [250, 250, 250, 250, 250, 250],
        ],
        dtype=np.uint8,
    )
    return pred, gt, tri


def _squeezed_grad_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """16x16 soft disc gt spanning 0..255 and a pred squeezed into [40, 200]."""
    yy, xx = np.mgrid[0:16, 0:16]
    r = np.hypot(yy - 7.3, xx - 8.1)
    gt = np.round(255 * np.clip((6.5 - r) / 3.0, 0, 1)).astype(np.uint8)
    pred = (40 + np.round(gt.astype(np.float64) * 160 / 255)).astype(np.uint8)
    return pred, gt, _full((16, 16), 128)


# --------------------------------------------------------------------------- coverage


def test_every_difference_is_covered() -> None:
    """Every difference sentence of every registered convention maps to an existing test."""
    assert "reference" in CONVENTIONS and CONVENTIONS["reference"].differences == ()
    assert {name for name, _ in DIFFERENCES} <= set(CONVENTIONS)
    for name, conv in CONVENTIONS.items():
        got = sorted(i for n, i in DIFFERENCES if n == name)
        assert got == list(range(len(conv.differences))), f"{name}: differences not covered"
        for i, sentence in enumerate(conv.differences):
            keyword, tests = DIFFERENCES[(name, i)]
            assert keyword in sentence, f"{name}[{i}] no longer says {keyword!r}: {sentence}"
            assert tests
            for t in tests:
                fn = globals().get(t)
                assert callable(fn) and t.startswith("test_"), t
                marks = getattr(fn, "pytestmark", [])
                by_name = [m for m in marks if m.name == "parametrize" and "name" in m.args[0]]
                if by_name:  # a test parametrized by convention must run this one
                    assert any(name in repr(m.args[1]) for m in by_name), f"{t} skips {name}"


def test_unknown_name_suggests_reference() -> None:
    """A misspelt convention name is a KeyError that suggests 'reference'."""
    with pytest.raises(KeyError, match="did you mean reference"):
        get_convention("refrence")
    with pytest.raises(KeyError, match="unknown convention"):
        metrics.sad(_full((2, 2), 0), _full((2, 2), 0), _full((2, 2), 128), convention="refrence")
    assert get_convention(REF) is REF


# --------------------------------------------------------------------------- pipeline


@pytest.mark.parametrize(
    ("name", "unknown_row", "known_rows"),
    [
        # truncate: x.5 -> x, 4.2 -> 4, 5.7 -> 5 ...; forced known rows
        ("gca", [0, 1, 2, 3, 4, 5, 6, 7], (0, 255)),
        # truncate, forced from the trimap classes (here 0 and 255)
        ("matteformer", [0, 1, 2, 3, 4, 5, 6, 7], (0, 255)),
        # round half to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4, 4.2 -> 4, 5.7 -> 6 ...
        ("mmedit", [0, 2, 2, 4, 4, 6, 6, 8], (0, 255)),
        ("mmagic", [0, 2, 2, 4, 4, 6, 6, 8], (0, 255)),
        # float pred kept as is, forced to 0.0 / 1.0
        ("dim-pytorch", None, (0.0, 1.0)),
        # float pred kept as is, not forced
        ("p3m", None, (0.25, 0.75)),
        ("reference", None, (0.25, 0.75)),
    ],
)
def test_pipeline_prepare(name: str, unknown_row: list[int] | None, known_rows: tuple) -> None:
    """prepare() quantises (truncate / round half-even / none) and forces pred as documented."""
    pred, gt, tri = _pipeline_case()
    p, g, _ = get_convention(name).prepare(pred, gt, tri)
    if unknown_row is None:
        assert p.dtype == np.float64
        np.testing.assert_array_equal(p[1], pred[1])
    else:
        assert p.dtype == np.uint8 and g.dtype == np.uint8
        assert p[1].tolist() == unknown_row
    assert p[0].tolist() == [known_rows[0]] * 8
    assert p[2].tolist() == [known_rows[1]] * 8


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        # unknown row only, gt = 0 there: sum of the quantised grey levels / 255
        ("gca", 28 / 255),  # 0+1+2+3+4+5+6+7
        ("matteformer", 28 / 255),
        # whole image, but the forced known rows agree with gt: 0+2+2+4+4+6+6+8
        ("mmedit", 32 / 255),
        ("mmagic", 32 / 255),
        # float pred: 0.5+1.5+2.5+3.5+4.2+5.7+6.2+7.7 = 31.8 grey levels
        ("dim-pytorch", 31.8 / 255),
        ("reference", 31.8 / 255),
    ],
)
def test_pipeline_sad(name: str, raw: float) -> None:
    """SAD of a float pred sees the truncated / rounded / unquantised values."""
    pred, gt, tri = _pipeline_case()
    assert get_convention(name).sad(pred, gt, tri, scale="raw") == pytest.approx(raw, **EXACT)
    if name not in ("reference", "dim-pytorch"):
        assert get_convention(name).sad(pred, gt, tri, scale="raw") != pytest.approx(
            REF.sad(pred, gt, tri, scale="raw"), rel=1e-6
        )


def test_gca_forcing() -> None:
    """GCA forces pred before Grad: equals the reference on the forced pred, not on the raw one."""
    pred, gt, _ = _squeezed_grad_case()
    pred = gt.copy()
    pred[6:10, 6:10] = 120  # an error inside the disc
    tri = _full(gt.shape, 128)
    tri[gt == 0] = 0
    tri[:, 0] = 0
    pred[:, 0] = 255  # noise in the known background column, forced away by GCA
    gca = get_convention("gca")
    forced = pred.copy()
    forced[tri == 0] = 0
    forced[tri == 255] = 255
    # both pred and gt span 0..255 here, so GCA's /255 equals mat2gray
    assert gca.grad(pred, gt, tri, scale="raw") == pytest.approx(
        REF.grad(forced, gt, tri, scale="raw"), rel=1e-12
    )
    assert gca.grad(pred, gt, tri, scale="raw") != pytest.approx(
        REF.grad(pred, gt, tri, scale="raw"), rel=1e-3
    )


@pytest.mark.parametrize(
    ("name", "want"), [("mmedit", 230), ("mmagic", 230), ("gca", 229), ("matteformer", 229)]
)
def test_quantise_in_float32(name: str, want: int) -> None:
    """The ports quantise the network's float32 output in float32 (mmedit/mmagic round it).

    ``float32(0.9) * 255`` is 229.49999392 exactly, which float32 rounds to 229.5: round half
    to even gives 230 (the float64 product gives 229); truncation gives 229 either way. The
    mmagic / mmedit ports print SAD 14.4314 raw for this 4x4 case (16 x 230 / 255).
    """
    pred = np.full((4, 4), 0.9, dtype=np.float32)
    gt, tri = _full((4, 4), 0), _full((4, 4), 128)
    assert np.round(np.float64(pred[0, 0]) * 255) == 229
    conv = get_convention(name)
    assert conv.prepare(pred, gt, tri)[0].tolist() == [[want] * 4] * 4
    assert conv.sad(pred, gt, tri, scale="raw") == pytest.approx(16 * want / 255, **EXACT)
    # a float64 pred stands for the float32 output too: 200/255 - 1e-12 is float32(200/255),
    # whose float32 product is 200.0 (a float64 product would truncate to 199)
    p64 = np.full((4, 4), 200 / 255 - 1e-12)
    assert np.floor(p64[0, 0] * 255.0) == 199
    assert conv.prepare(p64, gt, tri)[0].tolist() == [[200] * 4] * 4


def test_matteformer_forces_from_trimap_classes() -> None:
    """MatteFormer's inference.py forces the truncated pred from the trimap's classes.

    ``< 85`` becomes 0 and ``>= 170`` becomes 255 (here the stray 60 and the 200 bridge),
    127 is left alone; the MATLAB code then scores the raw trimap's 128 pixels only. Running
    inference.py's code and the DIM MATLAB code (Octave) on this case gives Grad 11.848009 and
    Conn 9.2 raw; without the forcing the bridge of 51 splits the components (Conn 7.5333).
    """
    tri = _full((6, 10), 128)
    tri[:, 3:5] = 200
    tri[0, 0], tri[5, 9] = 127, 60
    gt = _full((6, 10), 255)
    pred = np.full((6, 10), 0.9, dtype=np.float32)  # truncated to 229
    pred[:, 3:5] = 0.2  # truncated to 51, then forced to 255
    mf = get_convention("matteformer")
    forced = _full((6, 10), 229)
    forced[:, 3:5] = 255
    forced[5, 9] = 0
    p, g, t = mf.prepare(pred, gt, tri)
    np.testing.assert_array_equal(p, forced)
    np.testing.assert_array_equal(t, tri)  # the metrics read the raw trimap
    unforced = forced.copy()
    unforced[:, 3:5] = 51
    unforced[5, 9] = 229
    # forced: one component up to level 8, so l = 0.8 on the 46 scored pixels, 0.2 each
    assert mf.conn(pred, gt, tri, scale="raw") == pytest.approx(46 * 0.2, **EXACT)
    # unforced: the left block (17 scored pixels) drops at level 3 (l = 0.2): 26/255 each
    want_unforced = 17 * 26 / 255 + 29 * 0.2
    assert REF.conn(unforced, gt, tri, scale="raw") == pytest.approx(want_unforced, **EXACT)
    grad = mf.grad(pred, gt, tri, scale="raw")
    assert grad == pytest.approx(REF.grad(forced, gt, tri, scale="raw"), rel=1e-12)
    assert grad == pytest.approx(11.848009, rel=1e-6)
    assert REF.grad(unforced, gt, tri, scale="raw") > 5 * grad
    # SAD and MSE see only trimap == 128, where nothing is forced
    assert mf.sad(pred, gt, tri, scale="raw") == pytest.approx(46 * 26 / 255, **EXACT)


# --------------------------------------------------------------------------- SAD / MSE


@pytest.mark.parametrize(
    ("name", "forced"),
    [("mmedit", True), ("mmagic", True), ("dim-pytorch", True), ("p3m", False)],
)
def test_sad_whole_image(name: str, forced: bool) -> None:
    """Whole-image SAD counts known pixels where gt disagrees and stray trimap values."""
    pred, gt, tri = _whole_case()
    p = pred.copy()
    if forced:
        p[0] = 0
        p[3] = 255
    want = np.abs(p.astype(np.int64) - gt.astype(np.int64)).sum() / 255
    ref_want = np.abs(pred.astype(np.int64) - gt.astype(np.int64))[tri == 128].sum() / 255
    conv = get_convention(name)
    assert conv.sad(pred, gt, tri, scale="raw") == pytest.approx(want, **EXACT)
    assert REF.sad(pred, gt, tri, scale="raw") == pytest.approx(ref_want, **EXACT)
    assert want - ref_want > 1.0  # (0,0) and (3,5) alone add 2 x 255 / 255
    if not forced:  # p3m: pred is used as is
        np.testing.assert_array_equal(conv.prepare(pred, gt, tri)[0], pred)


@pytest.mark.parametrize("name", ["gca", "matteformer"])
def test_mse_eps_no_unknown_gives_zero(name: str) -> None:
    """MSE + 1e-8: no unknown pixel gives 0 (reference NaN); otherwise s / (n + 1e-8)."""
    pred, gt, _ = _whole_case()
    tri = np.where(np.arange(24).reshape(4, 6) < 12, 0, 255).astype(np.uint8)
    conv = get_convention(name)
    assert conv.mse(pred, gt, tri) == 0.0
    assert math.isnan(REF.mse(pred, gt, tri))
    tri = _whole_case()[2]
    # gca maps the trimap by thresholds first (its stray 127 is unknown too)
    u = ((tri >= 85) & (tri < 170)) if name == "gca" else (tri == 128)
    d = pred.astype(np.float64) / 255 - gt.astype(np.float64) / 255
    assert conv.mse(pred, gt, tri) == pytest.approx(np.sum(d[u] ** 2) / (u.sum() + 1e-8), **EXACT)


@pytest.mark.parametrize(
    ("name", "empty"), [("mmedit", 0.0), ("mmagic", 0.0), ("dim-pytorch", math.inf)]
)
def test_mse_whole_sum_over_unknown_count(name: str, empty: float) -> None:
    """MSE = whole-image sum over forced pred / #(trimap == 128); 0 (mmedit) or inf (DCP) if none."""
    pred, gt, tri = _whole_case()
    p = pred.astype(np.float64)
    p[tri == 0] = 0
    p[tri == 255] = 255
    d2 = ((p - gt) / 255) ** 2
    conv = get_convention(name)
    assert (tri == 128).sum() == 11
    assert conv.mse(pred, gt, tri) == pytest.approx(d2.sum() / 11, **EXACT)
    assert REF.mse(pred, gt, tri) == pytest.approx(d2[tri == 128].sum() / 11, **EXACT)
    no_unknown = np.where(tri == 255, 255, 0).astype(np.uint8)
    assert conv.mse(pred, gt, no_unknown) == empty
    assert math.isnan(REF.mse(pred, gt, no_unknown))


def test_p3m_mse_whole_mean() -> None:
    """P3M MSE is the mean over the whole image (unforced pred, every pixel in the denominator)."""
    pred, gt, tri = _whole_case()
    d = (pred.astype(np.float64) - gt) / 255
    p3m = get_convention("p3m")
    assert p3m.mse(pred, gt, tri) == pytest.approx(np.mean(d**2), **EXACT)
    assert p3m.mse(pred, gt, tri) != pytest.approx(REF.mse(pred, gt, tri), rel=1e-3)
    # defined even without an unknown pixel
    assert p3m.mse(pred, gt, _full(tri.shape, 0)) == pytest.approx(np.mean(d**2), **EXACT)


# --------------------------------------------------------------------------- Grad


def test_gca_grad_div255_instead_of_mat2gray() -> None:
    """GCA Grad uses /255, the reference mat2gray: they differ on a pred in [40, 200]."""
    pred, gt, tri = _squeezed_grad_case()
    assert (pred.min(), pred.max(), gt.min(), gt.max()) == (40, 200, 0, 255)
    g_mag = _gaussgradient_mag(gt / 255.0)
    want_gca = float(np.sum((_gaussgradient_mag(pred / 255.0) - g_mag) ** 2))
    want_ref = float(np.sum((_gaussgradient_mag((pred - 40.0) / 160.0) - g_mag) ** 2))
    gca = get_convention("gca")
    assert gca.grad(pred, gt, tri, scale="raw") == pytest.approx(want_gca, rel=1e-9)
    assert REF.grad(pred, gt, tri, scale="raw") == pytest.approx(want_ref, rel=1e-9)
    assert want_gca > 2 * want_ref  # the squeezed pred loses gradient under /255
    # a pred spanning 0..255 (here pred = gt stretched back) makes the two agree
    full = np.round((pred - 40.0) * 255 / 160).astype(np.uint8)
    assert (full.min(), full.max()) == (0, 255)
    assert gca.grad(full, gt, tri, scale="raw") == pytest.approx(
        REF.grad(full, gt, tri, scale="raw"), rel=1e-12, abs=1e-15
    )


@pytest.mark.parametrize(("name", "region"), [("p3m", "whole"), ("dim-pytorch", "unknown")])
def test_grad_scipy_gaussian(name: str, region: str) -> None:
    """scipy gaussian_filter(1.4, order=1) magnitudes, no min-max, /10 for papers."""
    pred, gt, _ = _squeezed_grad_case()
    p, g = pred / 255.0, gt / 255.0  # float input: dim-pytorch would not quantise it anyway
    tri = _full(gt.shape, 128)
    tri[:, :3] = 0
    tri[gt == 0] = 0
    tri[gt == 255] = 255
    p[tri == 0] = 0.0  # already forced, so dim-pytorch's forcing is a no-op
    p[tri == 255] = 1.0
    e = (_scipy_dog_mag(p) - _scipy_dog_mag(g)) ** 2
    want = float(e.sum() if region == "whole" else e[tri == 128].sum())
    conv = get_convention(name)
    raw = conv.grad(p, gt, tri, scale="raw")
    assert raw == pytest.approx(want, rel=1e-5)
    assert conv.grad(p, gt, tri) == pytest.approx(want / 10, rel=1e-5)
    assert raw != pytest.approx(REF.grad(p, gt, tri, scale="raw"), rel=0.05)
    if region == "whole":  # known pixels count: a trimap without 128 still gives a value
        assert conv.grad(p, gt, _full(tri.shape, 0), scale="raw") == pytest.approx(want, rel=1e-5)
        assert REF.grad(p, gt, _full(tri.shape, 0), scale="raw") == 0.0


# --------------------------------------------------------------------------- Conn


def test_threshold_case_levels() -> None:
    """The 153 case: float64 np.arange puts 153 below 0.6, the exact rule does not."""
    assert np.arange(0, 1.1, 0.1)[6] > 153 / 255.0
    assert np.float32(153) / np.float32(255) >= np.float32(0.6)
    pred, gt, tri = _threshold_case()
    # exact: l = 0.6 on the 20 block pixels: phi_p = 1, phi_g = 1 - 0.4 -> 0.4 each
    assert REF.conn(pred, gt, tri, scale="raw") == pytest.approx(20 * 0.4, **EXACT)
    assert get_convention("matlab-indexnet").conn(pred, gt, tri, scale="raw") == pytest.approx(8.0)
    assert get_convention("mmedit").conn(pred, gt, tri, scale="raw") == pytest.approx(8.0)


@pytest.mark.parametrize("name", ["gca", "mmagic", "p3m", "dim-pytorch"])
def test_conn_float64_arange_drops_153(name: str) -> None:
    """Float64 np.arange thresholds: 153 fails 0.6, so l = 0.5 and conn is 10 instead of 8."""
    pred, gt, tri = _threshold_case()
    # float64: l = 0.5: phi_p = 1 (d = 0.1 < 0.15), phi_g = 1 - 0.5 -> 0.5 on 20 pixels
    got = get_convention(name).conn(pred, gt, tri, scale="raw")
    assert got == pytest.approx(20 * 0.5, **EXACT)
    assert REF.conn(pred, gt, tri, scale="raw") == pytest.approx(20 * 0.4, **EXACT)
    assert got == pytest.approx(_port_conn(pred, gt, None, background_bug=name == "gca"), **EXACT)
    # the same case written with a 152 block is read identically by every convention
    pred[pred == 153] = 152
    assert get_convention(name).conn(pred, gt, tri, scale="raw") == pytest.approx(
        REF.conn(pred, gt, tri, scale="raw"), **EXACT
    )


def test_gca_conn_gt_float32_pred_float64() -> None:
    """gca Conn: gt is thresholded in float32 (153 reaches 0.6), pred in float64 (it does not).

    20x20 gt of 255 with column 9 at 153; pred 0.9, truncated to 229 (level 8). At 0.7 the
    column splits the image; the right part (200 pixels) is the largest, so the column and the
    left part (180) get l = 0.6. The right part is never assigned (at the empty levels 0.9 and
    1.0 GCA's argmax picks the background label, i.e. every pixel): l = 1, no error there.
    GCA-Matting's code gives 24.3137 raw; float64 thresholds on gt too give l = 0.5 on the
    column: 26.3137.
    """
    gt = _full((20, 20), 255)
    gt[:, 9] = 153
    pred = np.full((20, 20), 0.9, dtype=np.float32)
    tri = _full((20, 20), 128)
    want = 20 * (229 / 255 - 0.6) + 180 * 26 / 255  # column: |phi_p - 1|, left: |phi_p - 0.6|
    gca = get_convention("gca")
    assert gca.conn(pred, gt, tri, scale="raw") == pytest.approx(want, **EXACT)
    assert gca.conn(_full((20, 20), 229), gt, tri, scale="raw") == pytest.approx(want, **EXACT)
    port = _port_conn(_full((20, 20), 229), gt, None, background_bug=True, gt_float32=True)
    assert port == pytest.approx(want, rel=1e-7)  # the port's gt is float32
    both_f64 = dataclasses.replace(gca, conn_threshold_gt=None)
    assert both_f64.conn(pred, gt, tri, scale="raw") == pytest.approx(want + 20 * 0.1, **EXACT)
    # a float gt: float32(0.7) lies below 0.7 but passes float32(0.7) in the port (NumPy < 2)
    gf = np.where(gt == 153, np.float64(np.float32(0.7)), 1.0)
    assert gca.conn(pred, gf, tri, scale="raw") == pytest.approx(
        _port_conn(_full((20, 20), 229), gf, None, background_bug=True, gt_float32=True),
        rel=1e-7,
    )
    assert gca.conn(pred, gf, tri, scale="raw") != pytest.approx(
        both_f64.conn(pred, gf, tri, scale="raw"), rel=1e-6
    )


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("reference", 0.0),  # A (column 0) kept to level 9: phi equal on A and on B
        ("matlab-indexnet", 0.0),
        ("matteformer", 0.0),
        # B first in raster order: A drops at level 1, l = 0: |1 - 230/255| on 16 pixels
        ("gca", 16 * 25 / 255),
        ("mmedit", 16 * 25 / 255),
        ("mmagic", 16 * 25 / 255),
        ("p3m", 16 * 25 / 255),
        ("dim-pytorch", 16 * 25 / 255),
    ],
)
def test_conn_tie_break(name: str, want: float) -> None:
    """Size ties: column-major (reference) keeps blob A; row-major and OpenCV keep blob B."""
    pred, gt, tri = _tie_case()
    conv = get_convention(name)
    assert conv.conn(pred, gt, tri, scale="raw") == pytest.approx(want, **EXACT)
    if conv.conn_tie != "column_major":
        # only the tie rule matters: the same convention with column-major ties is the reference
        col = dataclasses.replace(conv, conn_tie="column_major")
        assert col.conn(pred, gt, tri, scale="raw") == pytest.approx(0.0, abs=1e-12)
    if name in ("gca", "p3m", "dim-pytorch"):  # scikit-image ports, literally
        port = _port_conn(pred, gt, None, background_bug=name == "gca", empty_continue=True)
        assert port == pytest.approx(want, **EXACT)


def test_conn_tie_levels_direct() -> None:
    """conn_raw on the tie case: the three tie rules on the same level map."""
    pred, gt, _ = _tie_case()
    got = {t: conn_raw(pred, gt, None, tie=t) for t in ("column_major", "row_major", "opencv")}
    assert got["column_major"] == pytest.approx(0.0, abs=1e-12)
    assert got["row_major"] == pytest.approx(16 * 25 / 255, **EXACT)
    assert got["opencv"] == pytest.approx(16 * 25 / 255, **EXACT)


@pytest.mark.parametrize(("fg_small", "want"), [(True, 0.0), (False, 3.0)])
def test_gca_conn_background_label(fg_small: bool, want: float) -> None:
    """GCA takes the background as the largest component when it outnumbers the foreground."""
    pred, gt, tri = _stray_case(fg_small)
    # reference: the 3 strays (pred 1, gt 0) are at level 0: l = 0, |0 - 1| each
    assert REF.conn(pred, gt, tri, scale="raw") == pytest.approx(3.0, **EXACT)
    # GCA, small foreground: Omega = background at every level, strays never assigned: l = 1
    gca = get_convention("gca")
    assert gca.conn(pred, gt, tri, scale="raw") == pytest.approx(want, **EXACT)
    assert _port_conn(pred, gt, None, background_bug=True) == pytest.approx(want, **EXACT)


@pytest.mark.parametrize("name", ["matlab-indexnet", "p3m", "dim-pytorch"])
def test_conn_empty_level_continue(name: str) -> None:
    """An empty level below 1.0 (pred all zeros) is skipped: l = 1, conn 0 instead of sum(g)."""
    pred, gt, tri = _empty_level_case(0)
    # reference (GCA guard): l = 0 everywhere; phi_p = 1, phi_g = 1 - g where g >= 0.15
    want_ref = 6 * (60 + 90 + 120 + 180 + 210 + 255) / 255
    assert REF.conn(pred, gt, tri, scale="raw") == pytest.approx(want_ref, **EXACT)
    conv = get_convention(name)
    assert conv.conn(pred, gt, tri, scale="raw") == pytest.approx(0.0, abs=1e-12)
    assert _port_conn(pred, gt, None, empty_continue=True) == pytest.approx(0.0, abs=1e-12)
    # the first empty level is 1.0 (pred = 240, level 9): the two guards agree
    pred, gt, tri = _empty_level_case(240)
    ref = REF.conn(pred, gt, tri, scale="raw")
    assert ref > 1.0
    assert conv.conn(pred, gt, tri, scale="raw") == pytest.approx(ref, **EXACT)


def test_p3m_conn_whole_image() -> None:
    """P3M Conn sums every pixel: a trimap without 128 gives 3 where the reference gives 0."""
    pred, gt, _ = _stray_case(fg_small=False)
    no_unknown = np.where(gt == 255, 255, 0).astype(np.uint8)
    p3m = get_convention("p3m")
    assert REF.conn(pred, gt, no_unknown, scale="raw") == 0.0
    assert p3m.conn(pred, gt, no_unknown, scale="raw") == pytest.approx(3.0, **EXACT)
    assert _port_conn(pred, gt, None, empty_continue=True) == pytest.approx(3.0, **EXACT)


# --------------------------------------------------------------------------- clean case


@pytest.fixture(scope="module")
def clean_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 pred forced to the trimap, gt consistent with it, no 153, spanning 0..255."""
    pred, gt, tri = smooth_case(48, 64, seed=3)
    pred[pred == 153] = 152
    gt[gt == 153] = 152
    assert set(np.unique(tri).tolist()) == {0, 128, 255}
    assert (gt[tri == 0] == 0).all() and (gt[tri == 255] == 255).all()
    assert (pred[tri == 0] == 0).all() and (pred[tri == 255] == 255).all()
    assert (pred.min(), pred.max(), gt.min(), gt.max()) == (0, 255, 0, 255)
    # no size tie at any level: the three tie rules agree
    vals = [conn_raw(pred, gt, None, tie=t) for t in ("column_major", "row_major", "opencv")]
    assert max(vals) - min(vals) <= 1e-9 * max(vals)  # summation order differs by method
    return pred, gt, tri


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_clean_case_sad_mse_agree(name: str, clean_case: tuple) -> None:
    """On a clean case SAD agrees everywhere, MSE everywhere but P3M's whole-image mean."""
    pred, gt, tri = clean_case
    conv = get_convention(name)
    ref_sad = REF.sad(pred, gt, tri)
    assert ref_sad == pytest.approx(_sad_hand(pred, gt, tri == 128) / 1000, **EXACT)
    assert ref_sad > 0.01
    assert conv.sad(pred, gt, tri) == pytest.approx(ref_sad, **EXACT)
    ref_mse = REF.mse(pred, gt, tri)
    if name == "p3m":
        n_unknown = int((tri == 128).sum())
        assert conv.mse(pred, gt, tri) == pytest.approx(ref_mse * n_unknown / tri.size, **EXACT)
    else:
        assert conv.mse(pred, gt, tri) == pytest.approx(ref_mse, rel=1e-9)


@pytest.mark.parametrize("name", ["matlab-indexnet", "gca", "matteformer", "mmedit", "mmagic"])
def test_clean_case_grad_agrees(name: str, clean_case: tuple) -> None:
    """With the reference kernel and images spanning 0..255, Grad agrees (GCA's /255 included)."""
    pred, gt, tri = clean_case
    want = REF.grad(pred, gt, tri, scale="raw")
    assert want > 1.0
    assert get_convention(name).grad(pred, gt, tri, scale="raw") == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    "name", ["matlab-indexnet", "matteformer", "mmedit", "mmagic", "dim-pytorch"]
)
def test_clean_case_conn_agrees(name: str, clean_case: tuple) -> None:
    """Without 153, ties or empty levels below 1.0, unknown-region Conn agrees."""
    pred, gt, tri = clean_case
    want = REF.conn(pred, gt, tri, scale="raw")
    assert want > 1.0
    assert get_convention(name).conn(pred, gt, tri, scale="raw") == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------------------------- scale


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_scale_uses_divisors(name: str, clean_case: tuple) -> None:
    """scale='paper' divides each raw value by the convention's divisors (P3M / DCP Grad /10)."""
    pred, gt, tri = clean_case
    conv = get_convention(name)
    scipy_grad = name in ("p3m", "dim-pytorch")
    assert dict(conv.divisors) == {
        "sad": 1000.0,
        "mse": 1.0,
        "grad": 10.0 if scipy_grad else 1000.0,
        "conn": 1000.0,
        "mad": 1.0,
    }
    raw = conv.evaluate(pred, gt, tri, scale="raw")
    paper = conv.evaluate(pred, gt, tri, scale="paper")
    for key in ("sad", "mse", "grad", "conn"):
        assert raw[key] > 0
        assert paper[key] == pytest.approx(raw[key] / conv.divisors[key], **EXACT)
        assert getattr(conv, key)(pred, gt, tri, scale="raw") == pytest.approx(raw[key], **EXACT)
    assert metrics.evaluate(pred, gt, tri, convention=name) == pytest.approx(paper, rel=1e-12)
    with pytest.raises(ValueError, match="scale"):
        conv.sad(pred, gt, tri, scale="papers")


def test_gca_trimap_thresholds() -> None:
    """gca: trimap values < 85 are bg, >= 170 fg, the rest unknown (tester.py)."""
    gt = np.array([[0, 0, 0, 255]], np.uint8)
    pred = np.array([[51, 51, 51, 204]], np.uint8)
    tri = np.array([[60, 127, 128, 200]], np.uint8)
    gca = get_convention("gca")
    # reference: only the 128 pixel counts -> 51/255
    assert metrics.sad(pred, gt, tri, scale="raw") == pytest.approx(51 / 255)
    # gca: 127 is unknown too (2 x 51/255); 60 and 200 are known and forced, so they add 0
    assert gca.sad(pred, gt, tri, scale="raw") == pytest.approx(102 / 255)
    p, _, t = gca.prepare(pred, gt, tri)
    assert t.tolist() == [[0, 128, 128, 255]]
    assert p.tolist() == [[0, 51, 51, 255]]
