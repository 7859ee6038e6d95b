"""Tiled inference: exact for a pointwise model, seams blended, memory bounded by the tile."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.models.tiling import tile_starts, tiled_infer
from metrics import InputError


def _pointwise(model, image, trimap, force_known=False):  # noqa: ARG001
    return image[..., 0] / 255.0


def test_pointwise_model_is_reproduced_exactly() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (150, 230, 3), dtype=np.uint8)
    tri = np.full((150, 230), 128, np.uint8)
    full = _pointwise(None, img, tri)
    tiled = tiled_infer(_pointwise, None, img, tri, tile=64, overlap=16)
    np.testing.assert_allclose(tiled, full, rtol=0, atol=1e-12)


def test_windows_never_exceed_the_tile_and_cover_everything() -> None:
    seen = np.zeros((150, 230), int)
    sizes = []

    def spy(model, image, trimap, force_known=False):  # noqa: ARG001
        sizes.append(image.shape[:2])
        return np.zeros(image.shape[:2])

    tiled_infer(spy, None, np.zeros((150, 230, 3), np.uint8), None, tile=64, overlap=16)
    assert max(max(s) for s in sizes) == 64
    for y in tile_starts(150, 64, 16):
        for x in tile_starts(230, 64, 16):
            seen[y : y + 64, x : x + 64] += 1
    assert seen.min() >= 1


def test_known_regions_forced_and_bad_arguments() -> None:
    img = np.full((80, 80, 3), 128, np.uint8)
    tri = np.full((80, 80), 128, np.uint8)
    tri[:5] = 0
    tri[-5:] = 255
    a = tiled_infer(_pointwise, None, img, tri, tile=32, overlap=8)
    assert (a[:5] == 0).all() and (a[-5:] == 1).all()
    with pytest.raises(InputError, match="tile >= 32"):
        tiled_infer(_pointwise, None, img, tri, tile=16, overlap=0)


def test_neural_method_with_tiles() -> None:
    """model:sdnet with tile=64 on a 100x150 image: bounded windows, valid alpha."""
    pytest.importorskip("torch")
    from baselines import get_method

    m = get_method("model:sdnet", allow_random=True, stem_stride=2, tile=64, overlap=16)
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (100, 150, 3), dtype=np.uint8)
    tri = np.full((100, 150), 128, np.uint8)
    a = m.predict(img, tri)
    assert a.shape == (100, 150) and 0 <= a.min() and a.max() <= 1
    assert m.config()["tile"] == 64
