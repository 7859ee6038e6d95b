"""IndexNet Matting (``baselines.models.indexnet``) against the official architecture.

Expected values: ``tests/data/arch/indexnet.json`` (official code, demo configuration,
built on CPU) and ``indexnet_mmagic.json`` (MMagic's IndexNet), copies of
``shared/reference/arch``. The parameter counts are also checked as literals: 5,953,515 in all,
4,640,096 encoder / 1,313,419 decoder, 2,200,256 in the index blocks (architectures.md §3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from baselines import create_model
from baselines.models.checkpoint import load_checkpoint
from baselines.models.indexnet import (
    IndexNetMatting,
    convert_state_dict,
    indexnet_infer,
    indexnet_preprocess,
    layer_groups,
)
from baselines.models.registry import get_entry
from metrics import InputError
from tests.conftest import conv_record, fingerprint  # noqa: E402


@pytest.fixture(scope="module")
def model() -> IndexNetMatting:
    torch.manual_seed(0)
    return IndexNetMatting().eval()


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_registered() -> None:
    entry = get_entry("indexnet")
    assert entry.task == "matting"
    assert entry.published_params == 5_953_515
    assert entry.convert_state_dict is convert_state_dict


def test_parameter_counts(model: IndexNetMatting) -> None:
    assert n_params(model) == 5_953_515 == get_entry("indexnet").published_params
    groups = layer_groups(model)
    parts = {k: sum(n_params(model.get_submodule(n)) for n in v) for k, v in groups.items()}
    assert parts == {"encoder": 4_640_096, "decoder": 1_313_419}
    index_blocks = sum(n_params(model.get_submodule(f"index{i}")) for i in (0, 2, 3, 4, 6))
    assert index_blocks == 2_200_256
    # the published 8.15M counts the index blocks twice (architectures.md §3)
    assert n_params(model) + index_blocks == 8_153_771
    assert groups["decoder"][-1] == "pred" and "dconv_pp" in groups["encoder"]


def test_state_dict_matches_fingerprint(model: IndexNetMatting) -> None:
    ref = fingerprint("indexnet")["state_dict"]
    sd = model.state_dict()
    assert list(sd) == list(ref)
    assert {k: list(v.shape) for k, v in sd.items()} == ref


def test_convs_and_execution_order_match_fingerprint(model: IndexNetMatting) -> None:
    """Every conv's hyperparameters, and the order and output shapes of one forward pass.

    The fingerprint was traced at 512x512; we run 64x64, so spatial sizes scale by 1/8, except
    the expansion 1x1 convs that see the one-pixel-padded input (512+2 -> 64+2) and the 1x1
    global-pool branch.
    """
    layers = fingerprint("indexnet")["layers"]
    calls: list[tuple[str, list[int]]] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: calls.append((n, list(o.shape))))
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            model(torch.randn(1, 4, 64, 64))
    finally:
        for h in hooks:
            h.remove()
    assert [n for n, _ in calls] == [layer["name"] for layer in layers]

    def scaled(s: int) -> int:
        return s if s == 1 else (s // 8 if s % 8 == 0 else (s - 2) // 8 + 2)

    for layer, (_, shape) in zip(layers, calls, strict=True):
        n, c, h, w = layer["out_shape_trace"]
        assert shape == [n, c, scaled(h), scaled(w)], layer["name"]
        conv = model.get_submodule(layer["name"])
        got = conv_record(conv)
        assert got == {k: layer[k] for k in got}, layer["name"]


def mmagic_key(key: str) -> str:
    """Our key in MMagic's style: a hand-written inverse of the converter's rules, checked
    against ``indexnet_mmagic.json`` below, so the round trip needs no checkpoint."""
    parts = key.split(".")
    head, param = parts[:-1], parts[-1]
    cb = {"0": "conv", "1": "bn"}
    if head[0] == "layer0":
        return f"encoder.layers.0.{cb[head[1]]}.{param}"
    if head[0].startswith("layer"):
        layer, block, pos = head[0][5:], head[1], int(head[3])
        if layer == "1":
            sub = ["depthwise_conv.conv", "depthwise_conv.bn", None, "pointwise_conv.conv",
                   "pointwise_conv.bn"][pos]  # fmt: skip
        else:
            sub = ["0.conv", "0.bn", None, "1.depthwise_conv.conv", "1.depthwise_conv.bn", None,
                   "1.pointwise_conv.conv", "1.pointwise_conv.bn"][pos]  # fmt: skip
        return f"encoder.layers.{layer}.{block}.conv.{sub}.{param}"
    if head[0].startswith("index"):
        j = ["index0", "index2", "index3", "index4", "index6"].index(head[0])
        b = int(head[1][len("indexnet") :]) - 1
        sub = {"0": "0.conv", "1": "0.bn", "3": "1.conv"}[head[2]]
        return f"encoder.index_layers.{j}.index_blocks.{b}.{sub}.{param}"
    if head[0] == "dconv_pp":
        if head[1].startswith("aspp"):
            k = int(head[1][4:]) - 1
            if k == 0:
                return f"encoder.dconv.convs.0.{cb[head[3]]}.{param}"
            sub = {"0": "depthwise_conv.conv", "1": "depthwise_conv.bn", "3": "pointwise_conv.conv",
                   "4": "pointwise_conv.bn"}[head[3]]  # fmt: skip
            return f"encoder.dconv.convs.{k}.{sub}.{param}"
        if head[1] == "global_avg_pool":
            return f"encoder.dconv.convs.4.1.{ {'1': 'conv', '2': 'bn'}[head[2]] }.{param}"
        return f"encoder.dconv.project.0.{cb[head[2]]}.{param}"
    if head[0].startswith("decoder_layer"):
        return f"decoder.decoder_layers.{6 - int(head[0][-1])}.conv.{cb[head[2]]}.{param}"
    if head == ["pred", "1"]:
        return f"decoder.pred.1.{param}"
    return f"decoder.pred.0.{cb[head[2]]}.{param}"


def test_mmagic_keys_convert_with_equal_shapes() -> None:
    ours = fingerprint("indexnet")["state_dict"]
    mm = fingerprint("indexnet_mmagic")["state_dict"]
    assert len(mm) == len(ours) == 549
    converted = convert_state_dict({k: torch.zeros(s) for k, s in mm.items()})
    assert list(converted) == list(ours)  # every key maps, to the key at the same position
    assert {k: list(v.shape) for k, v in converted.items()} == ours
    assert [mmagic_key(k) for k in ours] == list(mm)  # the test's inverse is right


def test_forward_shape_and_size_check(model: IndexNetMatting) -> None:
    with torch.no_grad():
        out = model(torch.randn(1, 4, 64, 64))
    assert out.shape == (1, 1, 64, 64)
    assert torch.isfinite(out).all()
    with pytest.raises(InputError, match="multiples of 32"):
        model(torch.randn(1, 4, 50, 64))
    with pytest.raises(InputError, match="N x 4 x H x W"):
        model(torch.randn(1, 3, 64, 64))


def test_preprocess_normalises_then_resizes() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 32, 3), dtype=np.uint8)
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), (64, 32))
    x = indexnet_preprocess(image, trimap)
    assert x.shape == (1, 4, 64, 32) and x.dtype == torch.float32
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = ((image.astype(np.float32) * (1 / 255) - mean) / std).astype(np.float32)
    np.testing.assert_array_equal(x[0, :3].numpy(), expected.transpose(2, 0, 1))
    np.testing.assert_array_equal(x[0, 3].numpy(), (trimap / 255).astype(np.float32))
    # odd size: resized (not padded) to ceil(/32)*32; the trimap keeps its 3 values (nearest)
    x = indexnet_preprocess(image[:50, :30], trimap[:50, :30])
    assert x.shape == (1, 4, 64, 32)
    assert set(np.unique(x[0, 3].numpy())) <= {0.0, np.float32(128 / 255), 1.0}
    assert indexnet_preprocess(image[:50], trimap[:50], stride=None).shape == (1, 4, 50, 32)


class ConstantNet(nn.Module):
    """Predicts ``value`` everywhere; checks the protocol around the network exactly."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.dummy = nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape))
        return torch.full((x.shape[0], 1, *x.shape[2:]), self.value)


@pytest.fixture(scope="module")
def odd_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    trimap = np.full((50, 70), 128, np.uint8)
    trimap[:10] = 0
    trimap[-10:] = 255
    trimap[20, 5] = 127  # a stray value is copied as 127/255, as the official demo does
    return image, trimap


def test_infer_protocol_exact(odd_case: tuple[np.ndarray, np.ndarray]) -> None:
    image, trimap = odd_case
    net = ConstantNet(0.3)
    alpha = indexnet_infer(net, image, trimap)
    assert net.seen == [(1, 4, 64, 96)]
    assert alpha.shape == (50, 70) and alpha.dtype == np.float64
    unknown = trimap == 128
    np.testing.assert_allclose(alpha[unknown], 0.3, atol=1e-6)
    np.testing.assert_array_equal(alpha[~unknown], trimap[~unknown] / 255)
    raw = indexnet_infer(ConstantNet(1.7), image, trimap, force_known=False)
    np.testing.assert_array_equal(raw, 1.0)  # clipped, nothing copied


def test_infer_real_model_odd_size(
    model: IndexNetMatting, odd_case: tuple[np.ndarray, np.ndarray]
) -> None:
    image, trimap = odd_case
    alpha = indexnet_infer(model, image, trimap)
    assert alpha.shape == (50, 70)
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    np.testing.assert_array_equal(alpha[trimap == 0], 0.0)
    np.testing.assert_array_equal(alpha[trimap == 255], 1.0)
    assert not model.training


def test_infer_rejects_bad_input(odd_case: tuple[np.ndarray, np.ndarray]) -> None:
    image, trimap = odd_case
    net = ConstantNet(0.5)
    with pytest.raises(InputError, match="sizes differ"):
        indexnet_infer(net, image, trimap[:, :60])
    with pytest.raises(InputError, match="uint8"):
        indexnet_infer(net, image.astype(np.float32), trimap)


def _randomised(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state_dict with every float tensor (BN statistics too) set to random values."""
    gen = torch.Generator().manual_seed(3)
    return {
        k: torch.rand(v.shape, generator=gen) + 0.5 if v.is_floating_point() else v.clone()
        for k, v in model.state_dict().items()
    }


@pytest.mark.parametrize("style", ["official", "mmagic"])
def test_checkpoint_round_trip(model: IndexNetMatting, tmp_path: Path, style: str) -> None:
    sd = _randomised(model)
    if style == "official":  # the released file: {'state_dict': {'module.' + key: ...}}
        obj: dict[str, Any] = {"state_dict": {f"module.{k}": v for k, v in sd.items()}}
    else:  # an MMagic mattor checkpoint: {'meta': ..., 'state_dict': {'backbone.' + key: ...}}
        obj = {"meta": {"epoch": 1}, "state_dict": {f"backbone.{mmagic_key(k)}": v
                                                    for k, v in sd.items()}}  # fmt: skip
    path = tmp_path / f"{style}.pth"
    torch.save(obj, path)
    loaded = create_model("indexnet", checkpoint=path)
    got = loaded.state_dict()
    assert list(got) == list(sd)
    for k, v in sd.items():
        assert torch.equal(got[k], v), k


def test_mismatched_checkpoint_names_the_file(model: IndexNetMatting, tmp_path: Path) -> None:
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    sd["module.pred.1.weight"] = torch.zeros(1, 1, 3, 3)
    path = tmp_path / "bad_indexnet.pth"
    torch.save({"state_dict": sd}, path)
    with pytest.raises(InputError, match=r"bad_indexnet\.pth.*shape mismatch.*pred\.1\.weight"):
        create_model("indexnet", checkpoint=path)
    del sd["module.pred.1.weight"]
    torch.save({"state_dict": sd}, path)
    with pytest.raises(InputError, match=r"bad_indexnet\.pth.*missing"):
        load_checkpoint(IndexNetMatting(), path, convert=convert_state_dict)
