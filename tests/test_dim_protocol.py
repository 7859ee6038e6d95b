"""``dim-vgg16-fc6`` runs with its own repository's test protocol, ``dim`` with foamliu's.

Reference: poppinace/indexnet_matting @ 4beb06a ``scripts/demo_deep_matting.py`` (with
``utils.image_alignment`` / ``utils.image_rescale`` and ``hldataset.Normalize``), ported line by
line in :func:`_demo_deep_matting` below; the network is a small stand-in of the
:class:`~baselines.models.dim.DeepMattingFC6` class (the protocol is chosen by class), so the
comparison checks the steps around the network exactly (float32 rounding of the cubic resizes:
``atol=1e-6``).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from baselines.models import dim as D
from baselines.models.adapters import get_adapter
from metrics import InputError

IMG_MEAN = np.array([0.485, 0.456, 0.406, 0]).reshape((1, 1, 4))
IMG_STD = np.array([0.229, 0.224, 0.225, 1]).reshape((1, 1, 4))


class _StubFC6(D.DeepMattingFC6):
    """A cheap network of the fc6 class: one fixed 3x3 conv; records the input size it saw."""

    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.conv = nn.Conv2d(4, 1, 3, padding=1)
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.3)
            self.conv.bias.fill_(0.5)
        self.seen: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape[-2:]))
        return self.conv(x)


def _demo_deep_matting(net: nn.Module, image: np.ndarray, trimap: np.ndarray, half: bool):
    """``demo_deep_matting.py``'s loop body for one RGB image and trimap, as alpha / 255."""
    image = np.concatenate((image, trimap[:, :, None]), axis=2).astype("float32")
    image = ((1.0 / 255 * image - IMG_MEAN) / IMG_STD).astype("float32")  # Normalize
    h, w = image.shape[:2]
    if half:  # image_rescale(image, 0.5)
        x1 = cv2.resize(image[:, :, 0:3], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)
        x2 = cv2.resize(image[:, :, 3], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_NEAREST)
        image = np.concatenate((x1, x2[:, :, None]), axis=2)
    new = np.ceil(np.asarray(image.shape[:2], dtype=float) / 32) * 32  # image_alignment
    nh, nw = int(new[0]), int(new[1])
    x1 = cv2.resize(image[:, :, 0:3], dsize=(nw, nh), interpolation=cv2.INTER_CUBIC)
    x2 = cv2.resize(image[:, :, 3], dsize=(nw, nh), interpolation=cv2.INTER_NEAREST)
    image = np.concatenate((x1, x2[:, :, None]), axis=2)
    inputs = torch.from_numpy(np.expand_dims(image.transpose(2, 0, 1), axis=0))
    with torch.no_grad():
        outputs = net(inputs).squeeze().numpy()
    alpha = cv2.resize(outputs, dsize=(w, h), interpolation=cv2.INTER_CUBIC)
    alpha = np.clip(alpha, 0, 1) * 255.0
    tri = trimap.astype(np.float32)
    mask = np.equal(tri, 128).astype(np.float32)
    alpha = (1 - mask) * tri + mask * alpha
    return alpha / 255.0


@pytest.fixture
def case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    tri = np.full((50, 70), 128, np.uint8)
    tri[:10] = 0
    tri[-10:] = 255
    tri[20, 5] = 127  # a stray value: copied as 127 / 255, as the script does
    return image, tri


def test_fc6_default_is_the_indexnet_repo_protocol(case) -> None:
    """An odd 50x70 image goes through the network at 64x96 and back (cubic) to 50x70; the
    registry adapter of ``dim-vgg16-fc6`` applies the same protocol."""
    image, tri = case
    net = _StubFC6().eval()
    assert D.default_protocol(net) == "indexnet"
    assert D.default_protocol(nn.DataParallel(net)) == "indexnet"
    ref = _demo_deep_matting(net, image, tri, half=False)
    net.seen.clear()
    alpha = D.dim_infer(net, image, tri)
    assert net.seen == [(64, 96)]
    assert alpha.shape == (50, 70) and alpha.dtype == np.float32
    np.testing.assert_allclose(alpha, ref, rtol=0, atol=1e-6)
    assert alpha[20, 5] == np.float32(127 / 255) and (alpha[:10] == 0).all()
    assert (alpha[-10:] == 1).all()
    via_adapter = get_adapter("dim-vgg16-fc6").infer(net, image, tri)
    np.testing.assert_array_equal(via_adapter, alpha)
    # the whole-image protocol gives a different matte on the same network
    whole = D.dim_infer(net, image, tri, protocol="foamliu")
    assert net.seen[-1] == (50, 70)
    assert np.abs(whole - alpha)[10:-10].max() > 0.01


def test_fc6_half_scale_protocol(case) -> None:
    """``"indexnet-half"``: the script as shipped (rescale by 0.5 first): 25x35 -> 32x64."""
    image, tri = case
    net = _StubFC6().eval()
    ref = _demo_deep_matting(net, image, tri, half=True)
    net.seen.clear()
    alpha = D.dim_infer(net, image, tri, protocol="indexnet-half")
    assert net.seen == [(32, 64)]
    np.testing.assert_allclose(alpha, ref, rtol=0, atol=1e-6)
    raw = D.dim_infer(net, image, tri, protocol="indexnet-half", force_known=False)
    np.testing.assert_array_equal(raw[tri == 128], alpha[tri == 128])
    assert 0 <= raw.min() and raw.max() <= 1


def test_dim_default_is_foamliu_and_unknown_protocol_fails(case) -> None:
    image, tri = case
    model = D.DIMModel([4] * 13 + [4, 4, 4, 4, 1]).eval()
    assert D.default_protocol(model) == "foamliu"
    with pytest.raises(InputError, match="protocol must be one of"):
        D.dim_infer(model, image, tri, protocol="tester")  # type: ignore[arg-type]
    assert set(D.PROTOCOLS) == {"foamliu", "indexnet", "indexnet-half"}
