"""PSPNet-50 (``baselines.models.pspnet``) against ``hszhao/semseg``.

Expected values: ``tests/data/arch/pspnet50.json`` (official code, VOC config, built on
CPU; a copy of ``shared/reference/arch``). Parameter counts are also checked as literals: 49,081,578 with the aux head, 46,716,373 without; 23,631,808 backbone /
25,449,770 heads (architectures.md §3, methods.md §5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from baselines import create_model
from baselines.models.checkpoint import load_checkpoint
from baselines.models.pspnet import (
    PSPNet,
    convert_state_dict,
    drop_aux,
    layer_groups,
    pspnet50,
    pspnet_infer,
    pspnet_preprocess,
)
from baselines.models.registry import get_entry
from metrics import InputError
from tests.conftest import conv_record, fingerprint  # noqa: E402


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def model() -> PSPNet:
    torch.manual_seed(0)
    return pspnet50().eval()


@pytest.fixture(scope="module")
def model_noaux() -> PSPNet:
    return pspnet50(aux=False).eval()


def test_registered() -> None:
    entry = get_entry("pspnet50")
    assert entry.task == "segmentation"
    assert entry.published_params == 49_081_578
    assert entry.convert_state_dict is convert_state_dict


def test_parameter_counts(model: PSPNet, model_noaux: PSPNet) -> None:
    assert n_params(model) == 49_081_578 == get_entry("pspnet50").published_params
    assert n_params(model_noaux) == 46_716_373
    groups = layer_groups(model)
    assert groups == {"encoder": ["layer0", "layer1", "layer2", "layer3", "layer4"],
                      "decoder": ["ppm", "cls", "aux"]}  # fmt: skip
    parts = {k: sum(n_params(model.get_submodule(n)) for n in v) for k, v in groups.items()}
    assert parts == {"encoder": 23_631_808, "decoder": 25_449_770}
    assert n_params(model.aux) == 2_365_205
    assert layer_groups(model_noaux)["decoder"] == ["ppm", "cls"]


def test_state_dict_matches_fingerprint(model: PSPNet, model_noaux: PSPNet) -> None:
    ref = fingerprint("pspnet50")["state_dict"]
    sd = model.state_dict()
    assert list(sd) == list(ref)
    assert {k: list(v.shape) for k, v in sd.items()} == ref
    assert list(model_noaux.state_dict()) == [k for k in ref if not k.startswith("aux.")]


def test_convs_and_execution_order_match_fingerprint(model: PSPNet) -> None:
    """Conv hyperparameters of all 63 convs; order and output channels of the 61 that the eval
    forward runs (``aux.*`` does not run in eval)."""
    layers = fingerprint("pspnet50")["layers"]
    calls: list[tuple[str, list[int]]] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: calls.append((n, list(o.shape))))
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            out = model(torch.randn(1, 3, 65, 65))
    finally:
        for h in hooks:
            h.remove()
    assert out.shape == (1, 21, 65, 65)
    run = [layer for layer in layers if not layer["name"].startswith("aux.")]
    assert [n for n, _ in calls] == [layer["name"] for layer in run]
    assert [s[1] for _, s in calls] == [layer["out_shape_trace"][1] for layer in run]
    for layer in layers:
        conv = model.get_submodule(layer["name"])
        got = conv_record(conv)
        assert got == {k: layer[k] for k in got}, layer["name"]


def test_forward_shape_and_size_check(model: PSPNet) -> None:
    with torch.no_grad():
        out = model(torch.randn(1, 3, 65, 65))
    assert out.shape == (1, 21, 65, 65)
    assert torch.isfinite(out).all()
    assert not torch.equal(out[0, :, 0, 0], out[0, :, 64, 64])
    with pytest.raises(InputError, match="8k\\+1"):
        model(torch.randn(1, 3, 64, 65))


def test_train_mode_returns_aux_logits(model: PSPNet) -> None:
    model.train()
    try:
        with torch.no_grad():  # batch 2: the 1x1 PPM bin's BN needs more than one value
            out, aux = model(torch.randn(2, 3, 17, 17))
    finally:
        model.eval()
    assert out.shape == aux.shape == (2, 21, 17, 17)


def test_preprocess() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = pspnet_preprocess(image)
    assert x.shape == (1, 3, 5, 7) and x.dtype == torch.float32
    mean = np.array([0.485, 0.456, 0.406]) * 255
    std = np.array([0.229, 0.224, 0.225]) * 255
    expected = ((image - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(x[0].numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(pspnet_preprocess(image.astype(np.float64)), x)
    with pytest.raises(InputError, match="HxWx3"):
        pspnet_preprocess(image[:, :, 0])


class RedThreshold(nn.Module):
    """Class 1 where the normalised red channel is positive (red > 123.675), else class 0.

    Class 2 gets a column ramp far below the others: the mirrored pass changes the softmax
    values, never the label, so any window or flip misalignment would show as wrong labels.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape))
        n, _, h, w = x.shape
        red = 10 * x[:, 0]
        ramp = torch.linspace(-1.0, 1.0, w).expand(n, h, w)
        return torch.stack([torch.zeros_like(red), red, ramp - 100], dim=1)


def test_infer_protocol_exact() -> None:
    image = np.zeros((50, 70, 3), np.uint8)
    image[:, 30:, 0] = 255
    image[10:20, :10, 0] = 200
    net = RedThreshold()
    labels = pspnet_infer(net, image, base_size=70, crop=65)
    # base_size = long side: no resize; 50 rows padded to 65, two windows across 70 columns
    assert net.seen == [(2, 3, 65, 65), (2, 3, 65, 65)]
    assert labels.shape == (50, 70) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, (image[:, :, 0] > 124).astype(np.int64))
    labels_noflip = pspnet_infer(net, image, base_size=70, crop=65, flip=False)
    np.testing.assert_array_equal(labels_noflip, labels)
    assert net.seen[-1] == (1, 3, 65, 65)


def test_infer_real_model_odd_size(model: PSPNet) -> None:
    image = np.random.default_rng(2).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    # long side resized 70 -> 60 (43 x 60), padded to one 65 x 65 window (+ its mirror)
    labels = pspnet_infer(model, image, base_size=60, crop=65)
    assert labels.shape == (50, 70) and labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() < 21
    with pytest.raises(InputError, match="8k\\+1"):
        pspnet_infer(model, image, crop=64)


@pytest.fixture(scope="module")
def official_checkpoint(model: PSPNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The released layout: ``{'state_dict': {'module.' + key: ...}}`` including ``aux.*``."""
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path_factory.mktemp("psp") / "train_epoch_50.pth"
    torch.save({"epoch": 50, "state_dict": sd}, path)
    return path


def test_checkpoint_round_trip(model: PSPNet, official_checkpoint: Path) -> None:
    loaded = create_model("pspnet50", checkpoint=official_checkpoint)
    got, ref = loaded.state_dict(), model.state_dict()
    assert list(got) == list(ref)
    for k, v in ref.items():
        assert torch.equal(got[k], v), k


def test_checkpoint_without_aux(model_noaux: PSPNet, official_checkpoint: Path) -> None:
    with pytest.raises(InputError, match=r"train_epoch_50\.pth.*unexpected key.*aux\."):
        load_checkpoint(model_noaux, official_checkpoint, convert=convert_state_dict)
    load_checkpoint(model_noaux, official_checkpoint, convert=drop_aux)


def test_mismatched_checkpoint_names_the_file(model: PSPNet, tmp_path: Path) -> None:
    sd = {f"module.{k}": v for k, v in model.state_dict().items() if k.startswith("cls.")}
    sd["module.cls.4.weight"] = torch.zeros(19, 512, 1, 1)  # a Cityscapes head
    path = tmp_path / "cityscapes_head.pth"
    torch.save({"state_dict": sd}, path)
    with pytest.raises(InputError, match=r"cityscapes_head\.pth.*missing.*shape mismatch"):
        load_checkpoint(model, path, convert=convert_state_dict)


def test_official_checkpoint_loads_into_model_without_aux(tmp_path) -> None:
    """The official file carries the aux head; aux=False drops those keys (and only those)."""
    import torch as _torch

    from baselines import create_model
    from baselines.models.pspnet import pspnet50
    from metrics import InputError

    _torch.manual_seed(0)
    full = pspnet50(aux=True)
    path = tmp_path / "train_epoch_50.pth"
    _torch.save({"state_dict": {f"module.{k}": v for k, v in full.state_dict().items()}}, path)
    slim = create_model("pspnet50", aux=False, checkpoint=path)
    assert not any(k.startswith("aux.") for k in slim.state_dict())
    assert _torch.equal(slim.state_dict()["cls.4.weight"], full.state_dict()["cls.4.weight"])
    bad = {f"module.{k}": v for k, v in full.state_dict().items() if not k.startswith("cls.4")}
    _torch.save({"state_dict": bad}, path)
    with pytest.raises(InputError, match="missing key"):
        create_model("pspnet50", aux=False, checkpoint=path)
