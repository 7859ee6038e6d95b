"""One shared tester for every registered metric (parametrized over ``metrics.METRICS``).

A newly registered metric is covered at once: numpy vs its torch twin (single image and
batched), the dtype grid (uint8, float32, float64 copies of the same 8-bit matte agree),
``pred == gt`` gives 0, determinism, and the common error paths.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import metrics
from metrics import METRICS, InputError
from tests.conftest import smooth_case

torch = pytest.importorskip("torch")

NAMES = list(METRICS)


def _case(seed: int, h: int = 48, w: int = 56) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred, gt, tri = smooth_case(h, w, seed=seed)
    # unforced prediction and some stray trimap values, so every region is exercised
    rng = np.random.default_rng(seed + 100)
    pred = np.clip(pred.astype(int) + rng.integers(-30, 31, pred.shape), 0, 255).astype(np.uint8)
    tri = tri.copy()
    tri[rng.random(tri.shape) < 0.02] = 127
    return pred, gt, tri


def _close(a: float, b: float, rtol: float = 1e-9, atol: float = 1e-12) -> bool:
    return bool(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


@pytest.mark.parametrize("name", NAMES)
def test_spec_metadata(name: str) -> None:
    """Every spec has a label, a unit caption and a reference."""
    spec = METRICS[name]
    assert spec.name == name and spec.label and spec.reference
    assert spec.arrow == "\u2193" and not spec.higher_is_better
    assert spec.unit.startswith(spec.label)


@pytest.mark.parametrize("name", NAMES)
def test_torch_twin_single_and_batched(name: str) -> None:
    """torch twin == numpy kernel on one image and on a batch of three (float64, rtol 1e-9)."""
    spec = METRICS[name]
    if spec.torch_fn is None:
        pytest.skip(spec.torch_note)
    cases = [_case(s) for s in (1, 2, 3)]
    want = [spec.compute(p, g, t, scale="raw") for p, g, t in cases]
    p0, g0, t0 = (torch.from_numpy(a) for a in cases[0])
    single = float(spec.compute_torch(p0, g0, t0, scale="raw"))
    assert _close(single, want[0]), (single, want[0])
    batch = [torch.from_numpy(np.stack(a)) for a in zip(*cases, strict=True)]
    got = spec.compute_torch(*batch, scale="raw")
    assert got.shape == (3,)
    for a, b in zip(got.tolist(), want, strict=True):
        assert _close(a, b), (a, b)
    # (B, 1, H, W) and float32 input behave the same
    got4 = spec.compute_torch(*(x[:, None] for x in batch), scale="raw")
    assert torch.allclose(got4, got, rtol=1e-12, atol=1e-12, equal_nan=True)
    f32 = [batch[0].float() / 255, batch[1].float() / 255, batch[2]]
    got32 = spec.compute_torch(*f32, scale="raw")
    assert torch.allclose(got32, got, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name", NAMES)
def test_paper_scale_is_raw_over_divisor(name: str) -> None:
    """``scale="paper"`` == raw / the registered divisor."""
    spec = METRICS[name]
    p, g, t = _case(4)
    raw = spec.compute(p, g, t, scale="raw")
    assert _close(spec.compute(p, g, t, scale="paper"), raw / spec.paper_divisor)
    with pytest.raises(ValueError, match="scale must be"):
        spec.compute(p, g, t, scale="thousand")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_dtype_grid(name: str, dtype: str) -> None:
    """float32/float64 ``v / 255`` and int64 ``v`` give the uint8 value."""
    spec = METRICS[name]
    p, g, t = _case(5)
    want = spec.compute(p, g, t, scale="raw")
    if dtype == "int64":
        got = spec.compute(p.astype(np.int64), g.astype(np.int64), t.astype(np.int64), scale="raw")
        assert _close(got, want)
    else:
        f = np.dtype(dtype)
        got = spec.compute(p.astype(f) / f.type(255), g.astype(f) / f.type(255), t, scale="raw")
        rtol = 1e-9 if dtype == "float64" else 1e-5
        assert _close(got, want, rtol=rtol, atol=1e-6), (got, want)


@pytest.mark.parametrize("name", NAMES)
def test_identical_inputs_give_zero(name: str) -> None:
    """pred == gt gives 0 (NaN only for a mean over an empty region)."""
    spec = METRICS[name]
    _, g, t = _case(6)
    assert spec.compute(g, g, t, scale="raw") == 0.0
    assert spec.compute(g / 255.0, g / 255.0, t, scale="raw") == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_nonnegative(name: str) -> None:
    """Same call, same value; errors are never negative."""
    spec = METRICS[name]
    p, g, t = _case(7)
    a = spec.compute(p, g, t)
    assert a == spec.compute(p, g, t)
    assert a >= 0 and math.isfinite(a)


@pytest.mark.parametrize("name", NAMES)
def test_error_paths(name: str) -> None:
    """Shape mismatch, NaN, out-of-range floats, 16-bit and 3-D inputs raise InputError."""
    spec = METRICS[name]
    p, g, t = _case(8)
    with pytest.raises(InputError, match="sizes differ"):
        spec.compute(p[:-1], g, t)
    bad = p / 255.0
    bad[3, 3] = np.nan
    with pytest.raises(InputError, match="pred has NaN"):
        spec.compute(bad, g, t)
    bad[3, 3] = np.inf
    with pytest.raises(InputError, match="pred has inf"):
        spec.compute(bad, g, t)
    with pytest.raises(InputError, match=r"outside \[0, 1\]"):
        spec.compute(g, p.astype(np.float64), t)
    with pytest.raises(InputError, match="16-bit"):
        spec.compute(p.astype(np.uint16), g, t)
    with pytest.raises(InputError, match="2-D"):
        spec.compute(np.dstack([p, p, p]), g, t)
    with pytest.raises(InputError, match="float16"):
        spec.compute(p.astype(np.float16) / 255, g, t)
    if spec.needs_trimap:
        with pytest.raises(InputError, match="trimap is floating"):
            spec.compute(p, g, t / 255.0)
        with pytest.raises(InputError, match="trimap must be a 2-D"):
            spec.compute(p, g, t[None])


@pytest.mark.parametrize("name", [n for n in NAMES if METRICS[n].torch_fn is not None])
def test_torch_error_paths(name: str) -> None:
    """The torch twins refuse what numpy refuses."""
    spec = METRICS[name]
    p, g, t = (torch.from_numpy(a) for a in _case(9))
    with pytest.raises(InputError, match="sizes differ"):
        spec.compute_torch(p[:-1], g, t)
    bad = p.double() / 255
    bad[0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        spec.compute_torch(bad, g, t)
    with pytest.raises(InputError, match=r"outside \[0, 1\]"):
        spec.compute_torch(p.double(), g, t)


def test_evaluate_whole_keys() -> None:
    """evaluate_whole returns the whole-image family, with the trimap variants when given one."""
    p, g, t = _case(10)
    assert set(metrics.evaluate_whole(p, g)) == {
        "sad_whole",
        "mse_whole",
        "mad",
        "grad_whole",
        "conn_whole",
    }
    full = metrics.evaluate_whole(p, g, t)
    assert {"sad_trimap", "mse_trimap", "mad_trimap", "sad_fg", "sad_bg"} <= set(full)
    d = np.abs(p / 255.0 - g / 255.0)
    assert _close(full["sad_fg"], d[t == 255].sum() / 1000)
    assert _close(full["sad_bg"], d[t == 0].sum() / 1000)
    assert _close(full["mad"], d.mean())


def test_unknown_metric_suggests() -> None:
    with pytest.raises(KeyError, match="did you mean sad"):
        metrics.get_metric("sadd")
