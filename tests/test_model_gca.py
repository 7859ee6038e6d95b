"""GCA-Matting re-implementation (``baselines/models/gca.py``).

Reference values: ``tests/data/arch/gca.json`` (official ``Yaoyi-Li/GCA-Matting`` @
5a999be, gca-dist) and ``gca_mmagic.json`` (MMagic ``ResGCAEncoder``/``ResGCADecoder``), both
fingerprinted from the real code on CPU (a copy of ``shared/reference/arch``).
The parameter counts (25,269,144 total incl. spectral-norm u/v; 25,164,529 trainable) and the
BN split (46 / 26 layers, 7,856 / 3,424 channels) are also stated in the issue and
``architectures.md`` and are checked as literals too.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines import create_model
from baselines.models import get_entry, load_checkpoint
from baselines.models.gca import (
    GCAMatting,
    GuidedCxtAtten,
    SpectralNorm,
    convert_state_dict,
    gca_infer,
    gca_preprocess,
    layer_groups,
    mmagic_key_to_official,
    trimap_onehot,
)
from metrics import InputError
from tests.conftest import fingerprint

TOTAL, TRAINABLE = 25_269_144, 25_164_529
TRANSPOSED = [
    "decoder.layer1.0.conv1",
    "decoder.layer2.0.conv1",
    "decoder.layer3.0.conv1",
    "decoder.layer4.0.conv1",
    "decoder.conv1",
]


_fingerprint = fingerprint  # tests.conftest: tests/data/arch


@pytest.fixture(scope="module")
def model() -> GCAMatting:
    """A GCA with random weights and non-trivial BN statistics, in eval mode."""
    torch.manual_seed(0)
    m = GCAMatting()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.copy_(0.1 * torch.randn(mod.num_features, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(mod.num_features, generator=g))
                mod.weight.copy_(0.5 + 0.5 * torch.rand(mod.num_features, generator=g))
    return m.eval()


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    tri = np.full((64, 64), 128, np.uint8)
    tri[:20] = 0
    tri[44:] = 255
    return gca_preprocess(img, tri)


@pytest.fixture(scope="module")
def reference_alpha(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model(*inputs)


# ---- (1) state_dict layout -----------------------------------------------------------------


def test_state_dict_equals_official_fingerprint(model):
    ref = _fingerprint("gca.json")["state_dict"]
    sd = model.state_dict()
    assert list(sd) == list(ref)  # same keys, same order
    assert {k: list(v.shape) for k, v in sd.items()} == ref


def test_layer_order_and_transposed_convs_match_fingerprint(model):
    layers = _fingerprint("gca.json")["layers"]
    assert [x["name"] for x in layers if x["type"] == "ConvTranspose2d"] == [
        n + ".module" for n in TRANSPOSED
    ]
    mods = dict(model.named_modules())
    for x in layers:
        m = mods[x["name"]]
        assert type(m).__name__ == x["type"]
        assert (m.in_channels, m.out_channels) == (x["in_channels"], x["out_channels"])
        assert list(m.kernel_size) == x["kernel"] and list(m.stride) == x["stride"]
        assert list(m.padding) == x["padding"]
        assert x["spectral_norm"] == x["name"].endswith(".module")


# ---- (2) parameter counts and groups -------------------------------------------------------


def test_parameter_counts(model):
    assert sum(p.numel() for p in model.parameters()) == TOTAL
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == TRAINABLE
    assert get_entry("gca").published_params == TOTAL
    sn = [m for m in model.modules() if isinstance(m, SpectralNorm)]
    assert len(sn) == 70
    assert sum(m.module.weight_u.numel() + m.module.weight_v.numel() for m in sn) == 104_615


def test_layer_groups(model):
    groups = layer_groups(model)
    mods = dict(model.named_modules())
    assert [len(groups["encoder"]), len(groups["decoder"])] == [46, 26]
    assert sum(mods[n].num_features for n in groups["encoder"]) == 7856
    assert sum(mods[n].num_features for n in groups["decoder"]) == 3424
    assert "encoder.gca.W.1" in groups["encoder"] and "decoder.gca.W.1" in groups["decoder"]
    ref = _fingerprint("gca.json")["bn_layers"]
    for part in ("encoder", "decoder"):
        assert groups[part] == [x["name"] for x in ref[part]["layers"]]


# ---- (3) checkpoints -----------------------------------------------------------------------

# Official -> MMagic key map, written independently of gca.py (from the two fingerprints), so
# that the forward map in gca.py is checked against it.
_TO_MM = [
    (r"^encoder\.layer_bottleneck\.", "encoder.layer4."),
    (r"\.(?:downsample|upsample)\.1\.module\.weight_bar$", ".interpolation.1.conv.weight_orig"),
    (r"\.(?:downsample|upsample)\.1\.module\.", ".interpolation.1.conv."),
    (r"\.(?:downsample|upsample)\.2\.", ".interpolation.1.bn."),
    (r"\.shortcut\.(\d)\.0\.module\.", r".shortcut.\1.0.conv."),
    (r"\.shortcut\.(\d)\.3\.module\.", r".shortcut.\1.1.conv."),
    (r"\.shortcut\.(\d)\.2\.", r".shortcut.\1.0.bn."),
    (r"\.shortcut\.(\d)\.5\.", r".shortcut.\1.1.bn."),
    (r"\.guidance_head\.1\.module\.", ".guidance_head.0.conv."),
    (r"\.guidance_head\.5\.module\.", ".guidance_head.1.conv."),
    (r"\.guidance_head\.9\.module\.", ".guidance_head.2.conv."),
    (r"\.guidance_head\.3\.", ".guidance_head.0.bn."),
    (r"\.guidance_head\.7\.", ".guidance_head.1.bn."),
    (r"\.guidance_head\.11\.", ".guidance_head.2.bn."),
    (r"\.gca\.W\.0\.", ".gca.out_conv.conv."),
    (r"\.gca\.W\.1\.", ".gca.out_conv.bn."),
    (r"\.bn(\d)\.", r".conv\1.bn."),
    (r"\.module\.", ".conv."),
    (r"^decoder\.conv2\.(weight|bias)$", r"decoder.conv2.conv.\1"),
    (r"\.weight_bar$", ".weight_orig"),
]


def _to_mmagic(key: str) -> str:
    for pat, rep in _TO_MM:
        key = re.sub(pat, rep, key)
    return key


def test_mmagic_keys_map_to_official_keys_with_same_shape():
    off = _fingerprint("gca.json")["state_dict"]
    mm = _fingerprint("gca_mmagic.json")["state_dict"]
    assert len(mm) == len(off) == 578
    mapped = {k: mmagic_key_to_official(k) for k in mm}
    assert sorted(mapped.values()) == sorted(off)  # a bijection onto the official keys
    for k, v in mapped.items():
        assert mm[k] == off[v], (k, v)
    assert sorted(_to_mmagic(k) for k in off) == sorted(mm)


def test_official_mmagic_round_trip_without_fingerprints(model):
    for k in model.state_dict():
        assert mmagic_key_to_official(_to_mmagic(k)) == k
    assert convert_state_dict({"module.a.b": 1}) == {"a.b": 1}  # official style: identity


def _save(obj, path) -> str:
    torch.save(obj, path)
    return str(path)


def test_official_checkpoint_loads_strictly_and_reproduces(
    model, inputs, reference_alpha, tmp_path
):
    sd = {"module." + k: v.clone() for k, v in model.state_dict().items()}
    path = _save({"state_dict": sd}, tmp_path / "gca-dist.pth")
    loaded = create_model("gca", checkpoint=path).eval()
    with torch.no_grad():
        assert torch.equal(loaded(*inputs), reference_alpha)


def _mmagic_state_dict(model: GCAMatting, seed: int = 3) -> dict[str, torch.Tensor]:
    """MMagic-style keys; transposed convs get u/v in torch.nn.utils.spectral_norm's dim-1
    layout, scaled so that their eval-mode weight equals ``model``'s."""
    sd = model.state_dict()
    out = {"backbone." + _to_mmagic(k): v.clone() for k, v in sd.items()}
    g = torch.Generator().manual_seed(seed)
    for name in TRANSPOSED:
        w = sd[f"{name}.module.weight_bar"]  # in x out x 4 x 4
        u_off, v_off = sd[f"{name}.module.weight_u"], sd[f"{name}.module.weight_v"]
        target = torch.dot(u_off, w.reshape(w.shape[0], -1).mv(v_off))  # official sigma
        mat_mm = w.transpose(0, 1).reshape(w.shape[1], -1)
        u = F.normalize(torch.randn(w.shape[1], generator=g), dim=0)
        v = F.normalize(torch.randn(mat_mm.shape[1], generator=g), dim=0)
        u = u * target / torch.dot(u, mat_mm.mv(v))
        out[f"backbone.{_to_mmagic(name + '.module.weight_u')}"] = u
        out[f"backbone.{_to_mmagic(name + '.module.weight_v')}"] = v
    return out


def test_mmagic_checkpoint_loads_and_reproduces(model, inputs, reference_alpha, tmp_path):
    mm = _mmagic_state_dict(model)
    assert any(k.endswith("decoder.conv1.conv.weight_orig") for k in mm)
    path = _save({"meta": {}, "state_dict": mm}, tmp_path / "gca_mmagic.pth")
    loaded = create_model("gca", checkpoint=path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs), reference_alpha, rtol=0, atol=1e-5)
    # the transposed conv's weight equals what torch's own spectral_norm (MMagic) computes
    ref = torch.nn.utils.spectral_norm(torch.nn.ConvTranspose2d(32, 32, 4, 2, 1, bias=False))
    ref.load_state_dict(
        {k.rsplit(".", 1)[1]: v for k, v in mm.items() if ".decoder.conv1.conv." in k}
    )
    ref.eval()
    ref(torch.zeros(1, 32, 2, 2))  # computes .weight in eval (no power iteration)
    torch.testing.assert_close(
        loaded.decoder.conv1.effective_weight(), ref.weight, rtol=1e-4, atol=1e-6
    )


def test_corrupted_checkpoint_raises_input_error(model, tmp_path):
    # one file with both faults (one model build instead of two); both must be reported
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    del sd["decoder.gca.W.1.running_var"]
    sd["encoder.conv1.module.weight_bar"] = torch.zeros(32, 4, 3, 3)
    path = _save({"state_dict": sd}, tmp_path / "broken.pth")
    # load_checkpoint is what create_model("gca", checkpoint=...) calls after building the
    # model; calling it on the fixture saves a 25M-parameter build (the strict check runs
    # before anything is loaded, so the fixture is left untouched)
    before = model.encoder.conv1.module.weight_bar.clone()
    with pytest.raises(InputError, match=r"broken\.pth") as err:
        load_checkpoint(model, path, convert=get_entry("gca").convert_state_dict)
    assert torch.equal(model.encoder.conv1.module.weight_bar, before)
    assert re.search(r"1 missing key.*decoder\.gca\.W\.1\.running_var", str(err.value))
    assert re.search(r"shape mismatch.*encoder\.conv1\.module\.weight_bar", str(err.value))
    with pytest.raises(InputError, match="no such checkpoint file"):
        create_model("gca", checkpoint=tmp_path / "absent.pth")


# ---- (4) forward ---------------------------------------------------------------------------


def test_forward_shape_range_determinism(model, inputs, reference_alpha):
    # the fixture keeps the init-time u/v (see GCAMatting(init_power_iterations)): finite in eval
    a = reference_alpha
    with torch.no_grad():
        alpha, info = model(*inputs, return_info=True)
    assert a.shape == (1, 1, 64, 64) and a.dtype == torch.float32
    assert torch.isfinite(a).all() and a.min() >= 0 and a.max() <= 1
    assert a.std() > 0  # not constant
    assert torch.equal(a, alpha)  # deterministic
    offsets, scales = info["offset_2"]
    assert offsets.shape == (1, 2, 4, 4) and scales.shape == (1, 2)


def test_forward_rejects_bad_sizes(model):
    with pytest.raises(InputError, match="divisible by 32, got 48x64"):
        model(torch.zeros(1, 3, 48, 64), torch.zeros(1, 3, 48, 64))
    with pytest.raises(InputError, match="N x 3 x H x W"):
        model(torch.zeros(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))


# ---- trimap / preprocessing ----------------------------------------------------------------


def test_trimap_onehot_thresholds():
    t = np.array([[0, 84, 85, 127], [128, 169, 170, 255]], np.uint8)
    oh = trimap_onehot(t)
    assert oh.shape == (1, 3, 2, 4) and oh.dtype == torch.float32
    assert oh.sum(1).eq(1).all()
    assert oh[0].argmax(0).tolist() == [[0, 0, 1, 1], [1, 1, 2, 2]]
    assert trimap_onehot(torch.from_numpy(t)[None, None]).shape == (1, 3, 2, 4)
    with pytest.raises(InputError, match="8-bit"):
        trimap_onehot(t / 255.0)


def test_preprocess_normalisation_and_errors():
    img = np.zeros((2, 3, 3), np.uint8)
    img[..., 0] = 255
    x, t = gca_preprocess(img, np.zeros((2, 3), np.uint8))
    assert x.shape == (1, 3, 2, 3) and t.shape == (1, 3, 2, 3)
    assert x[0, 0, 0, 0].item() == pytest.approx((1 - 0.485) / 0.229, rel=1e-6)
    assert x[0, 1, 0, 0].item() == pytest.approx(-0.456 / 0.224, rel=1e-6)
    with pytest.raises(InputError, match="sizes 2x3 .image. vs 2x4 .trimap."):
        gca_preprocess(img, np.zeros((2, 4), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        gca_preprocess(img.astype(np.float32), np.zeros((2, 3), np.uint8))


# ---- (5) test-time protocol ----------------------------------------------------------------


def _case(h: int = 50, w: int = 70) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    tri = np.full((h, w), 128, np.uint8)
    tri[:, :15] = 0
    tri[:, 55:] = 255
    tri[:5] = 30  # < 85: background
    tri[45:] = 200  # >= 170: foreground
    return img, tri


def test_gca_infer_pads_crops_and_forces_known(model):
    img, tri = _case()
    alpha = gca_infer(model, img, tri)
    assert alpha.shape == (50, 70) and alpha.dtype == np.float32
    assert np.isfinite(alpha).all() and alpha.min() >= 0 and alpha.max() <= 1
    assert (alpha[tri < 85] == 0).all() and (alpha[tri >= 170] == 1).all()
    assert not model.training  # mode restored (the fixture is in eval)


class _Echo(torch.nn.Module):
    """Returns the de-normalised red channel as alpha and records the input size."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[int, int]] = []

    def forward(self, image, trimap):
        self.seen.append(tuple(image.shape[-2:]))
        assert self.training is False
        return (image[:, :1] * 0.229 + 0.485).clamp(0, 1)


@pytest.mark.parametrize(("protocol", "padded"), [("tester", (64, 96)), ("demo", (128, 160))])
def test_gca_infer_alignment_and_forcing(protocol, padded):
    img, tri = _case()
    echo = _Echo()
    raw = gca_infer(echo, img, tri, force_known=False, protocol=protocol)
    assert echo.seen == [padded] and echo.training
    np.testing.assert_allclose(raw, img[..., 0] / 255.0, atol=1e-6)
    forced = gca_infer(echo, img, tri, protocol=protocol)
    unknown = (tri >= 85) & (tri < 170)
    np.testing.assert_array_equal(forced[unknown], raw[unknown])
    assert (forced[tri < 85] == 0).all() and (forced[tri >= 170] == 1).all()


# ---- guided contextual attention against a loop-level reference ----------------------------


def _naive_gca(op: GuidedCxtAtten, guidance, feature, unknown):
    """Loop-level port of the documented algorithm (rate 2), one image."""
    g = op.guidance_conv(guidance)[0, :, ::2, ::2]
    a = feature[0]
    c, hh, ww = a.shape
    h, w = g.shape[1:]
    gp = F.pad(g[None], (1, 1, 1, 1), mode="reflect")[0]
    keys = [gp[:, i : i + 3, j : j + 3].reshape(-1) for i in range(h) for j in range(w)]
    m = F.pad(unknown[:, :1, ::2, ::2], (1, 1, 1, 1), mode="reflect")[0, 0]
    src_unk = [bool(m[i : i + 3, j : j + 3].mean() > 0) for i in range(h) for j in range(w)]
    u = unknown[0, 0, ::2, ::2].mean()
    s_unk = torch.clamp(torch.sqrt(u / (1 - u)), 0.1, 10)
    s_kn = torch.clamp(torch.sqrt((1 - u) / u), 0.1, 10)
    ap = F.pad(a[None], (1, 1, 1, 1), mode="reflect")[0]
    vals = [ap[:, 2 * i : 2 * i + 4, 2 * j : 2 * j + 4] for i in range(h) for j in range(w)]
    out = torch.zeros(c, hh + 2, ww + 2)
    n = h * w
    for p in range(n):
        logits = torch.stack(
            [
                (keys[q] @ keys[p])
                / max(keys[q].norm(), torch.tensor(1e-4))
                * (s_unk if src_unk[q] else s_kn)
                - (1e4 if (q == p and src_unk[q]) else 0.0)
                for q in range(n)
            ]
        )
        att = torch.softmax(logits, 0)
        i, j = divmod(p, w)
        out[:, 2 * i : 2 * i + 4, 2 * j : 2 * j + 4] += sum(att[q] * vals[q] for q in range(n))
    y = out[None, :, 1:-1, 1:-1] / 4
    return op.W(y) + feature


@pytest.mark.parametrize("unknown_fraction", [0.0, 0.3, 1.0])
def test_gca_matches_naive_reference(unknown_fraction):
    torch.manual_seed(2)
    op = GuidedCxtAtten(out_channels=4, guidance_channels=6).eval()
    with torch.no_grad():
        op.W[1].weight.fill_(0.8)
        guidance = torch.randn(1, 6, 8, 12)
        feature = torch.randn(1, 4, 8, 12)
        unknown = (torch.rand(1, 1, 8, 12) < unknown_fraction).float()
        if 0 < unknown_fraction < 1:
            unknown[..., 0, 0] = 1  # at least one unknown sample on the 2x grid
        y, (offsets, scales) = op(guidance, feature, unknown)
        ref = _naive_gca(op, guidance, feature, unknown)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    assert offsets.shape == (1, 2, 4, 6)
    frac = unknown[..., ::2, ::2].mean()
    expect_unk = 0.1 if frac == 0 else 10.0 if frac == 1 else float(torch.sqrt(frac / (1 - frac)))
    assert scales[0, 0].item() == pytest.approx(expect_unk, rel=1e-6)


def test_spectral_norm_eval_uses_stored_vectors_and_training_iterates():
    torch.manual_seed(4)
    sn = SpectralNorm(torch.nn.Conv2d(3, 5, 3, padding=1, bias=False)).eval()
    w, u, v = sn.module.weight_bar, sn.module.weight_u, sn.module.weight_v
    u0 = u.detach().clone()
    expected = w / torch.dot(u, w.reshape(5, -1).mv(v))
    torch.testing.assert_close(sn.effective_weight(), expected)
    assert torch.equal(u, u0)  # eval: no update
    sn.train()
    sn(torch.zeros(1, 3, 4, 4))
    assert not torch.equal(u, u0)
    sn.power_iterate(50)
    sigma = torch.linalg.matrix_norm(w.detach().reshape(5, -1), ord=2)
    torch.testing.assert_close(torch.dot(u, w.reshape(5, -1).mv(v)), sigma, rtol=1e-4, atol=0)
    assert not u.requires_grad and not v.requires_grad and w.requires_grad
