"""DIM models (``baselines.models.dim``): fingerprints, parameter counts, forward, channel specs,
checkpoints, and the converter for foamliu's pickled-module checkpoint.

Reference values: ``tests/data/arch/dim.json`` and ``dim_indexnet_vgg16.json``
(state_dict key -> shape of the official code built on CPU; see ``architectures.md``). The
parameter counts are checked
too (25,582,595 = DCP README "Teacher 25.58M"; 130,545,345 = IndexNet README "130.55M";
6,400,515 = DCP README "UNI 6.40M", architectures.md section 3).
"""

from __future__ import annotations

import json
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from baselines import create_model
from baselines.models import dim as D
from baselines.models.checkpoint import read_checkpoint, save_checkpoint
from baselines.models.registry import get_entry
from metrics import InputError
from tests.conftest import ARCH, fingerprint

UNI50 = [32, 32, 64, 64, 128, 128, 128, 256, 256, 256, 256, 256, 256, 256, 128, 64, 32, 1]


_fingerprint = fingerprint  # tests.conftest: tests/data/arch


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def teacher() -> D.DIMModel:
    torch.manual_seed(0)
    return create_model("dim").eval()


@pytest.fixture(scope="module")
def fc6() -> D.DeepMattingFC6:
    torch.manual_seed(0)
    return create_model("dim-vgg16-fc6").eval()


# ------------------------------------------------------------------------------ fingerprints


@pytest.mark.parametrize(
    ("name", "fixture", "expected"),
    [("dim", "teacher", 25_582_595), ("dim-vgg16-fc6", "fc6", 130_545_345)],
)
def test_param_count(name: str, fixture: str, expected: int, request) -> None:
    model = request.getfixturevalue(fixture)
    assert _n_params(model) == expected == get_entry(name).published_params


def test_teacher_count_from_widths() -> None:
    assert D.count_spec_params(None) == 25_582_595


@pytest.mark.parametrize(
    ("fixture", "json_name"), [("teacher", "dim.json"), ("fc6", "dim_indexnet_vgg16.json")]
)
def test_state_dict_matches_fingerprint(fixture: str, json_name: str, request) -> None:
    ref = _fingerprint(json_name)
    model = request.getfixturevalue(fixture)
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(k, list(v)) for k, v in ref["state_dict"].items()]  # keys in order, shapes
    assert _n_params(model) == ref["params_total"]


def test_bn_order_is_dcp_order(teacher: D.DIMModel) -> None:
    groups = D.layer_groups(teacher)
    assert groups["encoder"] + groups["decoder"] == list(D.DCP_BN_ORDER)
    assert (len(groups["encoder"]), len(groups["decoder"])) == (13, 5)
    assert D.layer_groups(nn.DataParallel(teacher)) == groups
    ref_path = ARCH / "dim.json"
    ref = json.loads(ref_path.read_text())
    assert list(D.DCP_BN_ORDER) == ref["dcp_cfg_bn_order"]
    assert list(D.TEACHER_WIDTHS) == [
        layer["out_channels"] for layer in ref["layers"] if layer["bn"]
    ]


def test_fc6_layer_groups(fc6: D.DeepMattingFC6) -> None:
    groups = D.layer_groups(fc6)
    assert groups["decoder"] == [] and len(groups["encoder"]) == 13
    assert groups["encoder"][0] == "bn11" and groups["encoder"][-1] == "bn53"


# ------------------------------------------------------------------------------ forward


@pytest.mark.parametrize("hw", [(64, 64), (50, 70)])
def test_dim_forward(teacher: D.DIMModel, hw: tuple[int, int]) -> None:
    with torch.no_grad():
        y = teacher(torch.randn(1, 4, *hw))
    assert y.shape == (1, *hw)  # squeezed NxHxW, as the original
    assert torch.isfinite(y).all() and 0 < y.min() and y.max() < 1  # sigmoid


def test_dim_features() -> None:
    torch.manual_seed(1)
    model = D.DIMModel(UNI50, return_features=True).eval()
    x = torch.randn(1, 4, 64, 96)
    with torch.no_grad():
        feats, alpha = model(x)
        model.return_features = "all"
        named, alpha_all = model(x)
        model.return_features = False
        plain = model(x)
    assert [tuple(f.shape) for f in feats] == [
        (1, 64, 16, 24), (1, 128, 8, 12), (1, 256, 4, 6), (1, 256, 2, 3),
    ]  # fmt: skip
    assert torch.equal(alpha, plain) and torch.equal(alpha_all, plain)
    assert list(named) == [f"down{i}" for i in range(1, 6)] + ["up5", "up4", "up3", "up2"] + [
        "logits"
    ]
    assert named["up2"].shape == (1, 32, 32, 48) and named["logits"].shape == (1, 1, 64, 96)
    assert torch.allclose(torch.sigmoid(named["logits"][:, 0]), plain)
    with pytest.raises(ValueError, match="return_features"):
        D.DIMModel(return_features="decoder")


def test_fc6_forward(fc6: D.DeepMattingFC6) -> None:
    with torch.no_grad():
        y = fc6(torch.randn(1, 4, 64, 64))
        y_odd = fc6(torch.randn(1, 4, 50, 70))
    assert y.shape == (1, 1, 64, 64) and y_odd.shape == (1, 1, 50, 70)  # raw, no sigmoid
    assert torch.isfinite(y).all() and torch.isfinite(y_odd).all()


def test_dim_preprocess_values() -> None:
    img = np.array([[[0, 128, 255]]], np.uint8)
    tri = np.array([[128]], np.uint8)
    x = D.dim_preprocess(img, tri)
    expected = [
        (0 / 255 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (255 / 255 - 0.406) / 0.225,
        128 / 255,
    ]  # fmt: skip
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), expected, rtol=1e-6)
    with pytest.raises(InputError, match="sizes differ"):
        D.dim_preprocess(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        D.dim_preprocess(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8))


@pytest.mark.parametrize("fixture", ["teacher", "fc6"])
def test_dim_infer(fixture: str, request) -> None:
    model = request.getfixturevalue(fixture)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    tri = np.full((50, 70), 128, np.uint8)
    tri[:10] = 0
    tri[-10:] = 255
    model.train()
    alpha = D.dim_infer(model, img, tri)
    assert model.training  # mode restored
    model.eval()
    assert alpha.shape == (50, 70) and alpha.dtype == np.float32
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert (alpha[:10] == 0).all() and (alpha[-10:] == 1).all()
    raw = D.dim_infer(model, img, tri, force_known=False)
    np.testing.assert_array_equal(raw[10:-10], alpha[10:-10])
    with pytest.raises(InputError, match=">= 32"):
        D.dim_infer(model, img[:20], tri[:20])


# ------------------------------------------------------------------------------ channel specs


def test_uniform_half_spec() -> None:
    """DCP README 'UNI 6.40M' = every BN width halved (architectures.md: 6,400,515)."""
    ref_path = ARCH / "dim.json"
    ex = json.loads(ref_path.read_text())["dcp_student_example"]
    assert ex["cfg"] == UNI50 and ex["params_down_up_only"] == 6_400_515
    model = create_model("dim", channel_spec=UNI50).eval()
    assert _n_params(model) == D.count_spec_params(UNI50) == 6_400_515
    spec = model.channel_spec
    assert list(spec) == list(D.DCP_BN_ORDER) and list(spec.values()) == UNI50
    for name, width in spec.items():  # every BN has the width the spec says
        assert model.get_submodule(name).num_features == width
    with torch.no_grad():
        y = model(torch.randn(1, 4, 50, 70))
    assert y.shape == (1, 50, 70)
    assert D.DIMModel(spec).widths == tuple(UNI50)  # the dict form builds the same net


def test_spec_errors() -> None:
    bad = list(UNI50)
    bad[16] = 48
    with pytest.raises(ValueError, match=r"tie cfg\[1\] == cfg\[16\]"):
        D.DIMModel(bad)
    with pytest.raises(ValueError, match=r"tie cfg\[9\] == cfg\[13\]"):
        D.DIMModel({"up5.conv.cbr_unit.1": 128})
    with pytest.raises(ValueError, match="18"):
        D.DIMModel(UNI50[:-1])
    with pytest.raises(ValueError, match=r"cfg\[17\]"):
        D.DIMModel([*UNI50[:-1], 2])
    with pytest.raises(ValueError, match="positive int"):
        D.DIMModel([0, *UNI50[1:]])
    with pytest.raises(ValueError, match="did you mean 'down1.conv1.cbr_unit.1'"):
        D.DIMModel({"down1.conv1.cbr_unit1": 32})
    assert D.apply_unpool_ties(bad)[1] == D.apply_unpool_ties(bad)[16] == 48


# ------------------------------------------------------------------------------ checkpoints


def _randomise(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                v.copy_(torch.rand(v.shape, generator=g) + (0.5 if "running_var" in k else 0.0))
            else:
                v.fill_(seed)
    return model


def _assert_same_state(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    """A student (the teacher's round trip is in the converter test, which ends with one)."""
    src = _randomise(D.DIMModel(UNI50), seed=3)
    path = tmp_path / "dim.pth"
    save_checkpoint(src, path, name="dim", channel_spec=src.channel_spec)
    stored = read_checkpoint(path)
    assert stored["channel_spec"] == dict(zip(D.DCP_BN_ORDER, UNI50, strict=True))
    loaded = create_model("dim", checkpoint=path, channel_spec=stored["channel_spec"])
    _assert_same_state(src.state_dict(), loaded.state_dict())
    # the stored spec rebuilds the student by itself
    _assert_same_state(src.state_dict(), create_model("dim", checkpoint=path).state_dict())
    teacher_widths = D.DIMModel().channel_spec
    with pytest.raises(InputError, match="does not fit DIMModel.*shape mismatch"):
        create_model("dim", checkpoint=path, channel_spec=teacher_widths)  # strict


# ------------------------------------------------------------------------------ the converter


def _fake_foamliu_module() -> types.ModuleType:
    """A throwaway module ``models`` whose classes have foamliu's names and attribute layout
    (so a pickle of them names ``models.DIMModel`` etc., as the official checkpoint does)."""
    mod = types.ModuleType("models")

    class conv2DBatchNormRelu(nn.Module):  # foamliu's class names
        def __init__(self, cin: int, cout: int, k: int, relu: bool = True) -> None:
            super().__init__()
            layers: list[nn.Module] = [
                nn.Conv2d(cin, cout, k, padding=k // 2),
                nn.BatchNorm2d(cout),
            ]
            if relu:
                layers.append(nn.ReLU(inplace=True))
            self.cbr_unit = nn.Sequential(*layers)

    class segnetDown(nn.Module):
        def __init__(self, cin: int, widths: list[int]) -> None:
            super().__init__()
            for i, w in enumerate(widths, start=1):
                setattr(self, f"conv{i}", conv2DBatchNormRelu(cin, w, 3))
                cin = w
            self.maxpool_with_argmax = nn.MaxPool2d(2, 2, return_indices=True)

    class segnetUp1(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.unpool = nn.MaxUnpool2d(2, 2)
            self.conv = conv2DBatchNormRelu(cin, cout, 5, relu=False)

    class DIMModel(nn.Module):
        def __init__(self, w: list[int]) -> None:
            super().__init__()
            self.in_channels, self.is_unpooling, self.pretrain = 4, True, False
            cin = 4
            for b, (lo, hi) in enumerate([(0, 2), (2, 4), (4, 7), (7, 10), (10, 13)], start=1):
                setattr(self, f"down{b}", segnetDown(cin, w[lo:hi]))
                cin = w[hi - 1]
            for b, pos in zip((5, 4, 3, 2, 1), range(13, 18), strict=True):
                setattr(self, f"up{b}", segnetUp1(cin, w[pos]))
                cin = w[pos]
            self.sigmoid = nn.Sigmoid()

    for cls in (conv2DBatchNormRelu, segnetDown, segnetUp1, DIMModel):
        cls.__module__ = "models"
        cls.__qualname__ = cls.__name__
        setattr(mod, cls.__name__, cls)
    return mod


class _Trap:
    """Unpickling this would create a file, if a loader ran what the pickle names."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.parametrize(
    ("spec", "zip_format"),
    [(None, False), (UNI50, True)],
    ids=["teacher-legacy-format", "uni50-zip-format"],
)
def test_convert_foamliu_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: list[int] | None, zip_format: bool
) -> None:
    widths = list(D.TEACHER_WIDTHS) if spec is None else spec
    fake = _fake_foamliu_module()
    monkeypatch.setitem(sys.modules, "models", fake)
    net = _randomise(fake.DIMModel(widths), seed=5)
    expected = {k: v.clone() for k, v in net.state_dict().items()}
    wrapped = nn.DataParallel(net)
    optimizer = torch.optim.Adam(net.parameters())  # a pickled optimizer object, as in the file
    trap = tmp_path / "pwned"
    src = tmp_path / "BEST_checkpoint.tar"
    payload = {
        "epoch": 7,
        "epochs_since_improvement": 2,
        "loss": 0.125,
        "model": wrapped,
        "optimizer": optimizer if zip_format else None,
        "trap": _Trap(trap),
    }
    with warnings.catch_warnings():  # the legacy writer warns that it cannot read the source
        warnings.simplefilter("ignore")
        torch.save(payload, src, _use_new_zipfile_serialization=zip_format)
    monkeypatch.delitem(sys.modules, "models")

    with pytest.raises(InputError, match="weights only"):  # what create_model alone does
        create_model("dim", checkpoint=src)

    out = tmp_path / "dim.pth"
    meta = D.convert_foamliu_checkpoint(src, out)
    assert "models" not in sys.modules  # nothing was imported
    assert not trap.exists()  # nothing named by the pickle was called
    assert meta["epoch"] == 7 and meta["loss"] == 0.125 and meta["epochs_since_improvement"] == 2
    assert meta["pickled_class"].endswith("DataParallel") and meta["n_tensors"] == len(expected)

    stored = read_checkpoint(out)
    assert stored["model"] == "dim" and stored["meta"] == meta
    assert stored["channel_spec"] == (
        None if spec is None else dict(zip(D.DCP_BN_ORDER, spec, strict=True))
    )
    _assert_same_state(expected, stored["state_dict"])
    kwargs = {} if spec is None else {"channel_spec": stored["channel_spec"]}
    loaded = create_model("dim", checkpoint=out, **kwargs)
    _assert_same_state(expected, loaded.state_dict())


def test_convert_rejects_foreign_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("models")

    class Other(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2)

    Other.__module__, Other.__qualname__ = "models", "Other"
    fake.Other = Other
    monkeypatch.setitem(sys.modules, "models", fake)
    src = tmp_path / "other.tar"
    torch.save({"model": Other()}, src)
    monkeypatch.delitem(sys.modules, "models")
    with pytest.raises(InputError, match="not a DIM"):
        D.convert_foamliu_checkpoint(src, tmp_path / "out.pth")
    sd = D.pickled_state_dict(D.read_pickled_checkpoint(src))
    assert list(sd) == ["fc.weight", "fc.bias"]
    with pytest.raises(InputError, match="no such checkpoint"):
        D.convert_foamliu_checkpoint(tmp_path / "missing.tar", tmp_path / "out.pth")


def test_student_checkpoint_rebuilds_from_its_channel_spec(tmp_path) -> None:
    """Our checkpoint of a pruned DIM carries its channel spec: create_model rebuilds the
    slimmer network from it without being told; a checkpoint of another model is refused."""
    import pytest as _pytest

    from baselines import create_model
    from baselines.models import save_checkpoint
    from baselines.models.dim import DIMModel
    from metrics import InputError

    half = [max(1, w // 2) for w in DIMModel().channel_spec.values()]
    student = create_model("dim", channel_spec=half)
    path = tmp_path / "student.pt"
    save_checkpoint(student, path, name="dim", channel_spec=student.channel_spec)
    again = create_model("dim", checkpoint=path)
    assert sum(p.numel() for p in again.parameters()) == sum(
        p.numel() for p in student.parameters()
    )
    with _pytest.raises(InputError, match="holds a 'dim' model, not 'indexnet'"):
        create_model("indexnet", checkpoint=path)
