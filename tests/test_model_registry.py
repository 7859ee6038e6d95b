"""Every registered model, through the registry: size, forward, range, determinism, adapters.

Parametrized over ``baselines.models.list_models()``, so a newly registered model is covered at
once. Family-specific checks (state_dict keys/shapes against the reference fingerprints,
checkpoint formats, test protocols) are in ``tests/test_model_<family>.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines import create_model  # noqa: E402
from baselines.models import MODELS, list_models  # noqa: E402
from baselines.models.adapters import ADAPTERS, get_adapter  # noqa: E402
from metrics import UnknownNameError  # noqa: E402

NAMES = list_models()
MATTING = [n for n in NAMES if MODELS[n].task == "matting"]
# SDNet has no public code: its count is checked against the paper's rounded 2.03M
APPROX = {"sdnet", "sdnet-trimap-free"}


@pytest.fixture(scope="module")
def built() -> dict[str, object]:
    torch.manual_seed(0)
    return {}


def _model(name: str, cache: dict[str, object]) -> object:
    if name not in cache:
        torch.manual_seed(0)
        cache.clear()  # keep at most one big model in memory
        cache[name] = create_model(name).eval()
    return cache[name]


def test_expected_names_registered() -> None:
    for n in ("sdnet", "sdnet-trimap-free", "gca", "dim", "dim-vgg16-fc6", "indexnet", "pspnet50"):
        assert n in NAMES
    with pytest.raises(UnknownNameError, match="did you mean gca"):
        create_model("gcaa")


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_equals_published(name: str, built: dict) -> None:
    entry = MODELS[name]
    n = sum(p.numel() for p in _model(name, built).parameters())
    assert entry.published_params is not None
    if name in APPROX:
        assert abs(n - entry.published_params) / entry.published_params < 0.03, n
    else:
        assert n == entry.published_params


def _batch(h: int, w: int) -> dict[str, object]:
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, h, w, generator=g)
    tri = torch.full((1, 1, h, w), 128.0)
    tri[..., : h // 4, :] = 0.0
    tri[..., -h // 4 :, :] = 255.0
    return {"image": image, "trimap": tri}


@pytest.mark.parametrize("name", MATTING)
def test_matting_forward_shape_range_determinism(name: str, built: dict) -> None:
    """Through its adapter: N x 1 x H x W alpha in [0, 1], the same twice in eval mode."""
    model = _model(name, built)
    adapter = get_adapter(name)
    b = _batch(64, 64)
    with torch.no_grad():
        a1 = adapter.alpha(model(*adapter.inputs(b)))
        a2 = adapter.alpha(model(*adapter.inputs(b)))
    assert a1.shape == (1, 1, 64, 64)
    assert float(a1.min()) >= 0.0 and float(a1.max()) <= 1.0
    assert torch.equal(a1, a2)


@pytest.mark.parametrize("name", MATTING)
def test_official_inference_protocol_on_odd_size(name: str, built: dict) -> None:
    """The family's test-time protocol on a 50x70 8-bit image: HxW alpha, known regions forced."""
    model = _model(name, built)
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    tri = np.full((50, 70), 128, np.uint8)
    tri[:10] = 0
    tri[-10:] = 255
    alpha = get_adapter(name).infer(model, image, tri)
    assert alpha.shape == (50, 70)
    assert np.all(alpha[:10] == 0) and np.all(alpha[-10:] == 1)
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0


def test_every_model_has_an_adapter() -> None:
    assert sorted(NAMES) == sorted(ADAPTERS)
    for n in NAMES:
        assert (get_adapter(n).kind == "segmentation") == (MODELS[n].task == "segmentation")
