"""Paper figures and the pruned-model table: channel histograms, qualitative grids, teacher vs
student sizes.

The real spec is DIM pruned by UNI at 50% (random weights, so every layer keeps
``round(n / 2)`` channels: the expected widths below are that rule, not a stored value). DIM is
built once per module (about 0.5 s); the tiny conv pair's parameters and MACs are counted by
hand in the comments.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle
from torch import nn

from baselines import create_model
from baselines.models import dim
from baselines.pruning import ChannelSpec, get_criterion, prune_model
from metrics import InputError
from reports.figures import (
    SEPARATOR_GID,
    channel_histogram,
    histogram_figure,
    layer_order,
    qualitative_figure,
    qualitative_grid,
    short_layer_names,
)
from reports.pruned import measure_pruned, pruned_model_table


@pytest.fixture(scope="module")
def dim_pair() -> tuple[nn.Module, ChannelSpec]:
    torch.manual_seed(0)
    model = create_model("dim").eval()
    spec = get_criterion("uni").select(model, 0.5, groups=dim.layer_groups(model))
    return model, spec


def _hand_spec() -> ChannelSpec:
    """Layers listed decoder-first on purpose: the groups put the encoder first."""
    return ChannelSpec(
        "toy",
        widths={"dec.bn": 3, "enc.a.bn": 2, "enc.b.bn": 5},
        teacher_widths={"dec.bn": 4, "enc.a.bn": 8, "enc.b.bn": 16},
        meta={"groups": {"encoder": ["enc"], "decoder": ["dec.bn"]}},
    )


def _separators(ax) -> list:
    return [ln for ln in ax.get_lines() if ln.get_gid() == SEPARATOR_GID]


# --------------------------------------------------------------------------------------------
# channel histogram


def test_dim_histogram_files_and_bars(dim_pair, tmp_path) -> None:
    _, spec = dim_pair
    paths = channel_histogram(spec, tmp_path / "dim_uni_0.5")
    assert [p.name for p in paths] == ["dim_uni_0.5.png", "dim_uni_0.5.pdf"]
    img = cv2.imread(str(paths[0]), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.ndim == 3 and min(img.shape[:2]) > 100
    assert paths[1].read_bytes().startswith(b"%PDF")

    h = histogram_figure(spec)
    groups = dim.layer_groups(dim_pair[0])
    assert h.layers == groups["encoder"] + groups["decoder"] and len(h.layers) == 18
    assert h.n_encoder == 13
    rects = [p for p in h.ax.patches if isinstance(p, Rectangle)]
    assert h.n_bars == len(rects) == 2 * 18
    # bar heights: teacher widths then pruned widths (UNI 50%: round(n / 2), at least 1)
    heights = [int(r.get_height()) for r in rects]
    assert heights[:18] == [spec.teacher_widths[k] for k in h.layers]
    assert heights[18:] == [max(1, round(spec.teacher_widths[k] / 2)) for k in h.layers]
    (sep,) = _separators(h.ax)
    assert sep.get_xdata()[0] == pytest.approx(12.5)
    labels = {t.get_gid(): t.get_text() for t in h.ax.texts}
    assert labels == {"encoder-label": "encoder", "decoder-label": "decoder"}
    assert [t.get_text() for t in h.ax.get_xticklabels()][:2] == ["down1.conv1", "down1.conv2"]


def test_histogram_is_deterministic(tmp_path) -> None:
    a = channel_histogram(_hand_spec(), tmp_path / "a", title="toy")
    b = channel_histogram(_hand_spec(), tmp_path / "b", title="toy")
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.suffix


def test_hand_spec_order_and_separator() -> None:
    h = histogram_figure(_hand_spec(), title="")
    assert h.layers == ["enc.a.bn", "enc.b.bn", "dec.bn"] and h.n_encoder == 2
    assert h.n_bars == 6 == len(h.ax.patches)
    assert [int(p.get_height()) for p in h.ax.patches] == [8, 16, 4, 2, 5, 3]
    assert _separators(h.ax)[0].get_xdata()[0] == pytest.approx(1.5)
    assert h.ax.get_title() == ""
    # explicit groups override the spec's; without any groups: spec order, no split drawn
    bare = ChannelSpec("toy", {"x.bn": 1, "y.bn": 2}, teacher_widths={"x.bn": 2, "y.bn": 2})
    hb = histogram_figure(bare)
    assert hb.layers == ["x.bn", "y.bn"] and not _separators(hb.ax) and not hb.ax.texts
    hg = histogram_figure(bare, groups={"encoder": ["y.bn"], "decoder": ["x.bn"]})
    assert hg.layers == ["y.bn", "x.bn"] and len(_separators(hg.ax)) == 1


def test_many_layers_thinned_labels() -> None:
    n = 150
    names = [f"enc.{i}.bn" for i in range(120)] + [f"dec.{i}.bn" for i in range(30)]
    spec = ChannelSpec(
        "toy",
        widths=dict.fromkeys(names, 1),
        teacher_widths=dict.fromkeys(names, 4),
        meta={"groups": {"encoder": ["enc"], "decoder": ["dec"]}},
    )
    h = histogram_figure(spec, max_labels=50)
    assert h.n_bars == 2 * n
    assert h.tick_layers[:3] == [0, 3, 6] and 120 in h.tick_layers  # decoder's first labelled
    assert len(h.ax.get_xticklabels()) == len(h.tick_layers) <= 52


def test_histogram_errors() -> None:
    with pytest.raises(InputError, match="no layers"):
        histogram_figure(ChannelSpec("toy", {}))
    with pytest.raises(InputError, match="no teacher_widths"):
        histogram_figure(ChannelSpec("toy", {"a": 1}))
    spec = _hand_spec()
    with pytest.raises(InputError, match="in no group"):
        layer_order(spec, {"encoder": ["enc"]})
    with pytest.raises(InputError, match="'nope' is no layer"):
        layer_order(spec, {"encoder": ["enc", "nope"], "decoder": ["dec"]})
    with pytest.raises(InputError, match="in both parts"):
        layer_order(spec, {"encoder": ["enc", "dec"], "decoder": ["dec"]})


def test_short_layer_names() -> None:
    assert short_layer_names(["a.x.bn", "a.y.bn"]) == ["x", "y"]
    assert short_layer_names(["only.one.bn"]) == ["only.one.bn"]
    assert short_layer_names(["same", "same"]) == ["same", "same"]


# --------------------------------------------------------------------------------------------
# pruned model table


def _net(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, 1, 3, padding=1),
    )


def test_pruned_table_tiny_pair() -> None:
    torch.manual_seed(0)
    teacher, student = _net(16).train(), _net(8).eval()
    x = torch.rand(1, 3, 16, 16)
    r = measure_pruned(teacher, student, x, name="toy-50", runs=3, warmup=1)
    # params: conv 3*w*9 + w, BN 2w, conv w*9 + 1
    assert (r.teacher_params, r.student_params) == (625, 313)
    # MACs at 16x16: 256 * w * 27 + 256 * 1 * w * 9
    assert (r.teacher_macs, r.student_macs) == (147_456, 73_728)
    assert r.mac_ratio == 0.5 and r.param_ratio == 313 / 625
    assert r.teacher_latency_s > 0 and r.student_latency_s > 0
    assert r.speedup == r.teacher_latency_s / r.student_latency_s
    assert r.input == "1x3x16x16" and teacher.training and not student.training  # modes restored
    md = pruned_model_table([r])
    assert "| toy-50 | 0.000625 | 0.000313 | 0.501 | 0.0001475 | 7.373e-05 | 0.500 |" in md
    assert f"{r.speedup:.2f}x |" in md and "2 torch threads" in md and "median of 3" in md
    rows = pruned_model_table([r], "csv").splitlines()
    assert rows[0].startswith("model,input,teacher_params,student_params,param_ratio")
    cells = rows[1].split(",")
    assert cells[:4] == ["toy-50", "1x3x16x16", "625", "313"] and cells[5:7] == ["147456", "73728"]
    assert float(cells[10]) == r.speedup
    tex = pruned_model_table([r], "tex")
    assert r"\begin{tabular}{lrrrrrrrrr}" in tex and "toy-50" in tex
    with pytest.raises(ValueError, match="unknown format"):
        pruned_model_table([r], "html")  # type: ignore[arg-type]
    nolat = measure_pruned(teacher, student, x, latency=False)
    assert nolat.speedup is None and "| n/a | n/a | n/a |" in pruned_model_table([nolat])


def test_pruned_dim_counts_match_spec(dim_pair) -> None:
    """The measured student is the network the spec describes: its parameter count is the one
    the criterion implied (``spec.meta``)."""
    model, spec = dim_pair
    student = prune_model(model, spec)
    x = torch.rand(1, 4, 32, 32)
    r = measure_pruned(model, student, x, name="dim-uni-50", latency=False)
    assert r.teacher_params == spec.meta["params_teacher"]
    assert r.student_params == spec.meta["params_pruned"]
    assert 0.2 < r.mac_ratio < 0.3  # every conv's in and out widths halved


# --------------------------------------------------------------------------------------------
# qualitative grid


def _grid_rows(n: int = 2, methods: tuple[str, ...] = ("NS", "Ours")) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        h, w = 40 + 8 * i, 48
        rows.append(
            {
                "name": f"img{i}",
                "image": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                "trimap": np.full((h, w), 128, np.uint8),
                "gt": rng.integers(0, 256, (h, w), dtype=np.uint8),
                "preds": {m: rng.integers(0, 256, (h, w), dtype=np.uint8) for m in methods},
            }
        )
    return rows


def test_qualitative_grid(tmp_path) -> None:
    rows = _grid_rows()
    paths = qualitative_grid(rows, tmp_path / "grid", zoom=(4, 6, 16, 12))
    assert cv2.imread(str(paths[0])) is not None
    assert paths[1].read_bytes().startswith(b"%PDF")
    g = qualitative_figure(rows, zoom=(4, 6, 16, 12))
    assert g.columns == ["Input", "Trimap", "GT", "NS", "Ours"]
    assert g.n_panels == len(g.figure.axes) == 2 * 5 and g.n_insets == 10
    assert all(len(ax.child_axes) == 1 for ax in g.figure.axes)
    plain = qualitative_figure(rows)
    assert plain.n_insets == 0 and not any(ax.child_axes for ax in plain.figure.axes)


def test_qualitative_grid_errors() -> None:
    rows = _grid_rows()
    with pytest.raises(InputError, match="not inside"):
        qualitative_figure(rows, zoom=(40, 0, 16, 16))
    bad = _grid_rows()
    bad[1]["preds"] = {"Ours": bad[1]["preds"]["Ours"], "NS": bad[1]["preds"]["NS"]}
    with pytest.raises(InputError, match="differ from row 0"):
        qualitative_figure(bad)
    bad = _grid_rows()
    bad[0]["gt"] = bad[0]["gt"].astype(np.float32)
    with pytest.raises(InputError, match=r"row 0 \(img0\): gt is float32"):
        qualitative_figure(bad)
    bad = _grid_rows()
    bad[1]["trimap"] = bad[1]["trimap"][:-1]
    with pytest.raises(InputError, match="trimap has shape"):
        qualitative_figure(bad)
