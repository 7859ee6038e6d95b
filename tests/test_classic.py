"""Classic baselines (``baselines.classic``): pymatting methods and the trimap-only floor.

Every test is parametrized over the names this package registers, so a newly added classic
method is covered at once. The quality test uses an exact synthetic composite (soft alpha
disk over smooth colour gradients, ``I = a F + (1 - a) B``), whose ground truth is known by
construction.

Timing: the first prediction imports pymatting, whose numba kernels compile at import (about
30 s with an empty numba cache, about 0.5 s with a warm one; the cache is persistent, see
``baselines.classic._backend``). Everything else here takes milliseconds.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from baselines.classic import CLASSIC_METHODS, _backend, trimap_to_labels
from baselines.methods import get_method, list_methods
from metrics import InputError
from tests.conftest import REPO

PYMATTING_METHODS = [n for n in CLASSIC_METHODS if n != "trimap-only"]

# Unknown-region SAD (raw sum of |alpha - gt| over the 1056 unknown pixels of the 48x48 case
# below, float gt), measured with pymatting 1.1.16, numba 0.68.1 and every method's defaults.
# The test asks each method only to beat the trimap-only floor; these record the margin.
#   trimap-only 396.15 | closed-form 6.58 | learning-based 7.41 | shared-matting 8.94 |
#   lkm 16.34 | random-walk 48.68 | knn 60.56


def composite(h: int = 48, w: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image uint8 RGB, gt alpha float64, trimap uint8) of a soft disk over a gradient.

    Alpha ramps linearly from 1 to 0 between radius 11 and 17 (centre of a 48x48 image);
    the trimap is fg inside radius 8, bg outside radius 20, unknown between (a band three
    pixels wider than the soft edge on each side).
    """
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    d = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2)
    gt = np.clip((14.0 - d) / 6.0 + 0.5, 0.0, 1.0)
    u, v = xx / (w - 1), yy / (h - 1)
    fg = np.stack([0.85 - 0.1 * v, 0.35 + 0.2 * u, 0.15 + 0.1 * v], axis=-1)
    bg = np.stack([0.1 + 0.2 * u, 0.45 + 0.1 * v, 0.85 - 0.2 * u], axis=-1)
    image = gt[..., None] * fg + (1.0 - gt[..., None]) * bg
    image = np.round(image * 255.0).astype(np.uint8)
    trimap = np.full((h, w), 128, dtype=np.uint8)
    trimap[d < 8] = 255
    trimap[d > 20] = 0
    return image, gt, trimap


@pytest.fixture(scope="module")
def case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return composite()


def unknown_sad(alpha: np.ndarray, gt: np.ndarray, trimap: np.ndarray) -> float:
    return float(np.abs(alpha - gt)[trimap == 128].sum())


def test_registered() -> None:
    """All six pymatting 1.1.16 methods plus the floor are in the registry."""
    assert set(CLASSIC_METHODS) <= set(list_methods())
    assert len(PYMATTING_METHODS) == 6


@pytest.mark.parametrize("name", CLASSIC_METHODS)
def test_predict_contract(name: str, case: tuple) -> None:
    """Shape, float64, range [0, 1], and the same output for the same call twice."""
    image, _, trimap = case
    method = get_method(name)
    a1 = method.predict(image, trimap)
    a2 = method.predict(image, trimap)
    assert a1.shape == trimap.shape
    assert a1.dtype == np.float64
    assert a1.min() >= 0.0 and a1.max() <= 1.0
    np.testing.assert_array_equal(a1, a2)


@pytest.mark.parametrize("name", PYMATTING_METHODS)
def test_beats_trimap_floor(name: str, case: tuple) -> None:
    """Each method mats: its unknown-region SAD is below the trimap-only floor's."""
    image, gt, trimap = case
    floor = unknown_sad(get_method("trimap-only").predict(image, trimap), gt, trimap)
    sad = unknown_sad(get_method(name).predict(image, trimap), gt, trimap)
    assert sad < floor, f"{name}: SAD {sad:.2f} not below the trimap-only floor {floor:.2f}"


@pytest.mark.parametrize("name", CLASSIC_METHODS)
def test_config(name: str) -> None:
    """``config()`` is JSON-serialisable and records the name and the stray policy."""
    cfg = get_method(name).config()
    assert json.loads(json.dumps(cfg)) == cfg
    assert cfg["method"] == name
    assert cfg["stray"] == "nearest"
    assert get_method(name, stray="error").config()["stray"] == "error"


def _defaults(fn: object) -> dict[str, object]:
    return {
        k: p.default
        for k, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


@pytest.mark.parametrize(
    ("name", "laplacian"),
    [
        ("closed-form", "cf_laplacian"),
        ("knn", "knn_laplacian"),
        ("lkm", "lkm_laplacian"),
        ("random-walk", "rw_laplacian"),
        ("learning-based", "lbdm_laplacian"),
        ("shared-matting", None),
    ],
)
def test_defaults_are_pymattings(name: str, laplacian: str | None) -> None:
    """Every exposed parameter defaults to pymatting's own default (read from its signatures)."""
    pm = _backend.pymatting()
    cfg = get_method(name).config()
    if laplacian is None:
        expected = _defaults(pm.estimate_alpha_sm)
        expected.pop("return_foreground_background")
    else:
        expected = _defaults(getattr(pm, laplacian))
        expected.pop("is_known", None)
        expected.pop("return_diagonal", None)
        cg = _defaults(pm.cg)
        expected.update({k: cg[k] for k in ("rtol", "atol", "maxiter")})
    for key, value in expected.items():
        got = cfg[key]
        assert (list(got) if isinstance(got, list) else got) == (
            list(value) if isinstance(value, (list, tuple)) else value
        ), key


def test_stray_mapping_table() -> None:
    """Nearest of 0/128/255 with ties to 128: 0-63 bg, 64-191 unknown, 192-255 fg."""
    labels = trimap_to_labels(np.arange(256, dtype=np.uint8)[None, :])[0]
    expected = np.r_[np.zeros(64), np.full(128, 128), np.full(64, 255)]
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("name", ["trimap-only", "closed-form", "knn"])
def test_stray_values_map_to_nearest(name: str, case: tuple) -> None:
    """A trimap with stray values predicts exactly like its nearest-label version."""
    image, _, trimap = case
    dirty = trimap.copy()
    dirty[(trimap == 128) & (np.arange(trimap.size).reshape(trimap.shape) % 3 == 0)] = 127
    dirty[(trimap == 0) & (np.arange(trimap.size).reshape(trimap.shape) % 5 == 0)] = 20
    dirty[(trimap == 255) & (np.arange(trimap.size).reshape(trimap.shape) % 2 == 0)] = 250
    assert not np.array_equal(dirty, trimap)
    method = get_method(name)
    np.testing.assert_array_equal(method.predict(image, dirty), method.predict(image, trimap))
    with pytest.raises(InputError, match=r"values other than 0/128/255: \{20, 127, 250\}"):
        get_method(name, stray="error").predict(image, dirty)


@pytest.mark.parametrize("name", CLASSIC_METHODS)
def test_bad_input(name: str, case: tuple) -> None:
    image, _, trimap = case
    method = get_method(name)
    rgba = np.dstack([image, np.full(trimap.shape, 255, np.uint8)])
    with pytest.raises(InputError, match="HxWx3 uint8"):
        method.predict(rgba, trimap)
    with pytest.raises(InputError, match="HxWx3 uint8"):
        method.predict(image.astype(np.float64) / 255, trimap)
    with pytest.raises(InputError, match="sizes differ"):
        method.predict(image, trimap[:-1])
    with pytest.raises(InputError, match="needs a trimap"):
        method.predict(image)
    with pytest.raises(InputError, match="trimap must be HxW uint8"):
        method.predict(image, trimap / 255.0)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("closed-form", {"radius": 0}, "radius must be an integer >= 1"),
        ("closed-form", {"epsilon": -1.0}, "epsilon must be a finite positive"),
        ("knn", {"n_neighbors": (20,)}, "equal length"),
        ("knn", {"kernel": "gauss"}, "kernel must be"),
        ("lkm", {"maxiter": 0}, "maxiter must be"),
        ("shared-matting", {"sample_gathering_weights": (1.0, 2.0)}, "needs 4 values"),
        ("trimap-only", {"stray": "clip"}, "stray must be one of nearest, error"),
    ],
)
def test_bad_parameters(name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        get_method(name, **kwargs)


@pytest.mark.parametrize("name", CLASSIC_METHODS)
def test_degenerate_trimaps(name: str, case: tuple) -> None:
    """Trimaps pymatting cannot split are answered exactly, without calling it."""
    image, _, trimap = case
    method = get_method(name)
    known = np.where(trimap == 128, 0, trimap).astype(np.uint8)  # no unknown pixel
    np.testing.assert_array_equal(method.predict(image, known), known / 255.0)
    no_fg = np.where(trimap == 255, 128, trimap).astype(np.uint8)
    no_bg = np.where(trimap == 0, 128, trimap).astype(np.uint8)
    everything = np.full_like(trimap, 128)
    if name == "trimap-only":
        return
    np.testing.assert_array_equal(method.predict(image, no_fg), 0.0)
    np.testing.assert_array_equal(method.predict(image, no_bg), 1.0)
    np.testing.assert_array_equal(method.predict(image, everything), 0.5)


def test_solver_limit_raises(case: tuple) -> None:
    image, _, trimap = case
    with pytest.raises(RuntimeError, match=r"closed-form: .*did not converge.*maxiter=1"):
        get_method("closed-form", maxiter=1).predict(image, trimap)


def test_import_is_lazy() -> None:
    """``import baselines.classic`` neither imports pymatting nor sets NUMBA_CACHE_DIR."""
    code = (
        "import os, sys, baselines.classic\n"
        "assert 'pymatting' not in sys.modules\n"
        "assert 'NUMBA_CACHE_DIR' not in os.environ\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True)


def test_numba_cache_dir(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NUMBA_CACHE_DIR: set to $MATTEBENCH_CACHE/numba when unset, left alone when set."""
    numba = pytest.importorskip("numba")
    with monkeypatch.context() as mp:
        mp.setenv("MATTEBENCH_CACHE", str(tmp_path))
        mp.delenv("NUMBA_CACHE_DIR", raising=False)
        _backend._configure_numba_cache()
        assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "numba")
        assert (tmp_path / "numba").is_dir()
        assert numba.core.config.CACHE_DIR == str(tmp_path / "numba")
        mp.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
        _backend._configure_numba_cache()
        assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")
        mp.delenv("MATTEBENCH_CACHE")
        assert _backend.numba_cache_dir() == _backend.Path.home() / ".cache/mattebench/numba"
    numba.core.config.reload_config()  # back to the restored environment
