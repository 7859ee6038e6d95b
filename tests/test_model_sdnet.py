"""SDNet (``baselines/models/sdnet.py``): size against the paper, shapes, range, determinism,
gradient flow, preprocessing and the BN layer groups.

The reference size is the paper's Table 4: 2.03 M parameters, 8.1 MB. The paper prints only
these rounded numbers and no code exists, so the checks use a 3 % tolerance (the brief's
sizing target), not equality.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from baselines import create_model
from baselines.models import get_entry
from baselines.models.sdnet import (
    PUBLISHED_PARAMS,
    GOctConv,
    SDNet,
    SDNetOutput,
    layer_groups,
    sdnet_preprocess,
)
from metrics import InputError

NAMES = {"sdnet": 4, "sdnet-trimap-free": 3}
PAPER_MB = 8.1  # Table 4
REL_TOL = 0.03


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """These tensors are tiny: one intra-op thread is as fast and immune to a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models() -> dict[str, SDNet]:
    torch.manual_seed(0)
    return {name: create_model(name).eval() for name in NAMES}


@pytest.mark.parametrize("name", list(NAMES))
def test_param_count_near_published(name: str, models: dict[str, SDNet]) -> None:
    entry = get_entry(name)
    assert entry.published_params == PUBLISHED_PARAMS == 2_030_000
    n = _n_params(models[name])
    assert abs(n - entry.published_params) / entry.published_params < REL_TOL, n
    assert models[name].in_channels == NAMES[name]


@pytest.mark.parametrize("name", list(NAMES))
def test_model_size_mb_near_paper(
    name: str, models: dict[str, SDNet], record_property: pytest.RecordProperty
) -> None:
    """float32 parameters only (buffers excluded), 1 MB = 10^6 bytes."""
    mb = sum(p.numel() * p.element_size() for p in models[name].parameters()) / 1e6
    record_property("size_mb", round(mb, 3))
    print(f"{name}: {_n_params(models[name]):,} parameters, {mb:.3f} MB (paper: {PAPER_MB} MB)")
    assert abs(mb - PAPER_MB) / PAPER_MB < REL_TOL, mb


def test_no_ampa_ablation_is_smaller(models: dict[str, SDNet]) -> None:
    full = models["sdnet"]
    abl = create_model("sdnet", use_ampa=False)
    n_ampa = sum(p.numel() for n, p in full.named_parameters() if n.startswith("ampa."))
    assert n_ampa > 0
    assert not any(n.startswith("ampa.") for n, _ in abl.named_parameters())
    assert _n_params(abl) == _n_params(full) - n_ampa
    out = abl.eval()(torch.rand(1, 4, 32, 32))
    assert out.alpha.shape == (1, 1, 32, 32)


@pytest.mark.parametrize("name", list(NAMES))
@pytest.mark.parametrize("hw", [(64, 64), (50, 70), (1, 3)], ids=str)
def test_forward_shapes_and_range(name: str, hw: tuple[int, int], models: dict[str, SDNet]) -> None:
    """Sizes not divisible by the stride (50x70, 1x3) are padded and cropped back."""
    model = models[name]
    h, w = hw
    with torch.no_grad():
        out = model(torch.randn(2, NAMES[name], h, w))
    assert isinstance(out, SDNetOutput)
    assert out.alpha.shape == (2, 1, h, w)
    assert len(out.side_alphas) == 3
    for a in [out.alpha, *out.side_alphas]:
        assert a.shape == (2, 1, h, w)
        assert torch.isfinite(a).all() and a.min() >= 0 and a.max() <= 1
    assert len(out.features) == 3 and len(out.level_features) == 3
    for strides, feats in ((8, out.features), (8, out.level_features)):
        for k, f in enumerate(feats):  # deep to shallow: strides 8, 4, 2
            s = strides // 2**k
            assert f.shape[0] == 2 and f.shape[-2:] == (-(-h // s), -(-w // s))
            assert f.numel() > 0
    assert all(f.shape[1] == 1 for f in out.features)
    assert all(f.shape[1] == 32 for f in out.level_features)


def test_eval_deterministic(models: dict[str, SDNet]) -> None:
    model = models["sdnet"]
    x = torch.randn(1, 4, 50, 70, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = model(x), model(x.clone())
    assert torch.equal(a.alpha, b.alpha)
    assert all(torch.equal(p, q) for p, q in zip(a.side_alphas, b.side_alphas, strict=True))
    torch.manual_seed(0)
    other = create_model("sdnet").eval()
    with torch.no_grad():
        assert torch.equal(other(x).alpha, a.alpha)


@pytest.mark.parametrize("use_ampa", [True, False])
def test_gradient_reaches_every_parameter(use_ampa: bool) -> None:
    """One training step on the paper's supervised outputs (final + 3 side alphas, L1)."""
    torch.manual_seed(1)
    model = SDNet(4, use_ampa=use_ampa).train()
    x = torch.randn(2, 4, 32, 40)
    target = torch.rand(2, 1, 32, 40)
    out = model(x)
    loss = sum((a - target).abs().mean() for a in [out.alpha, *out.side_alphas])
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    zero = [n for n, p in model.named_parameters() if not p.grad.abs().sum() > 0]
    assert not zero, zero
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_stem_stride_two_same_parameters() -> None:
    a, b = SDNet(3), SDNet(3, stem_stride=2).eval()
    assert _n_params(a) == _n_params(b) and b.stride == 32
    with torch.no_grad():
        out = b(torch.randn(1, 3, 45, 33))
    assert out.alpha.shape == (1, 1, 45, 33)
    assert out.features[-1].shape[-2:] == (12, 9)  # stride 4


def test_wrong_input_channels_raises(models: dict[str, SDNet]) -> None:
    with pytest.raises(InputError, match="expected N x 4 x H x W"):
        models["sdnet"](torch.zeros(1, 3, 32, 32))


def test_goctconv_parameters_equal_dense_conv() -> None:
    g = GOctConv([6, 4], [5, 3], kernel_size=3)
    assert _n_params(g) == (6 + 4) * (5 + 3) * 9
    hi, lo = g([torch.randn(1, 6, 8, 12), torch.randn(1, 4, 4, 6)])
    assert hi.shape == (1, 5, 8, 12) and lo.shape == (1, 3, 4, 6)
    (merged,) = GOctConv([6, 4], [7], stride=2)([torch.randn(1, 6, 8, 12), torch.randn(1, 4, 4, 6)])
    assert merged.shape == (1, 7, 4, 6)


def test_layer_groups_cover_every_batchnorm(models: dict[str, SDNet]) -> None:
    model = models["sdnet"]
    groups = layer_groups(model)
    mods = dict(model.named_modules())
    bns = {n for n, m in mods.items() if isinstance(m, nn.BatchNorm2d)}
    enc, dec = groups["encoder"], groups["decoder"]
    assert set(enc) | set(dec) == bns and not set(enc) & set(dec)
    assert all(n.startswith(("stem.", "stages.")) for n in enc)
    assert any(n.startswith("ampa.") for n in dec) and any(n.startswith("agg") for n in dec)
    assert not any(n.startswith("ampa.") for n in layer_groups(SDNet(4, use_ampa=False))["decoder"])


def _image_trimap(h: int = 20, w: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    tri = np.zeros((h, w), np.uint8)
    tri[:, w // 3 :] = 128
    tri[:, 2 * w // 3 :] = 255
    return img, tri


def test_preprocess_feeds_both_models(models: dict[str, SDNet]) -> None:
    img, tri = _image_trimap()
    x4 = sdnet_preprocess(img, tri)
    x3 = sdnet_preprocess(img)
    assert x4.dtype == torch.float32 and x4.shape == (1, 4, 20, 30) and x3.shape == (1, 3, 20, 30)
    assert torch.equal(x4[:, :3], x3)
    assert set(x4[0, 3].unique().tolist()) == {0.0, np.float32(128 / 255), 1.0}
    mean = np.array([0.485, 0.456, 0.406]) * 255
    std = np.array([0.229, 0.224, 0.225]) * 255
    expected = (img[5, 7] - mean) / std
    np.testing.assert_allclose(x3[0, :, 5, 7].numpy(), expected, rtol=1e-5)
    # float input in [0, 1] gives the same tensor as uint8
    torch.testing.assert_close(sdnet_preprocess(img / 255.0), x3)
    with torch.no_grad():
        assert models["sdnet"](x4).alpha.shape == (1, 1, 20, 30)
        assert models["sdnet-trimap-free"](x3).alpha.shape == (1, 1, 20, 30)


def test_preprocess_onehot() -> None:
    img, tri = _image_trimap()
    x6 = sdnet_preprocess(img, tri, trimap_encoding="onehot")
    assert x6.shape == (1, 6, 20, 30)
    onehot = x6[0, 3:]
    assert torch.equal(onehot.sum(0), torch.ones(20, 30))
    assert onehot[:, 0, 0].tolist() == [1, 0, 0]
    assert onehot[:, 0, 15].tolist() == [0, 1, 0]
    assert onehot[:, 0, 29].tolist() == [0, 0, 1]
    with torch.no_grad():
        assert SDNet(6).eval()(x6).alpha.shape == (1, 1, 20, 30)


@pytest.mark.parametrize(
    ("image", "trimap", "match"),
    [
        (np.zeros((4, 4), np.uint8), None, "H x W x 3"),
        (np.full((4, 4, 3), 2.0), None, r"must be in \[0, 1\]"),
        (np.full((4, 4, 3), np.nan), None, "NaN"),
        (np.zeros((4, 4, 3), np.int16), None, "unsupported dtype"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8), "sizes differ"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4)), "floating"),
    ],
)
def test_preprocess_errors(image: np.ndarray, trimap: np.ndarray | None, match: str) -> None:
    with pytest.raises(InputError, match=match):
        sdnet_preprocess(image, trimap)


def test_preprocess_unknown_encoding() -> None:
    img, tri = _image_trimap()
    with pytest.raises(InputError, match="trimap_encoding"):
        sdnet_preprocess(img, tri, trimap_encoding="bits")  # type: ignore[arg-type]
