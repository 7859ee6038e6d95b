"""Experiment specs (``benchmark/specs/*.toml``): parse, validate, spot-check transcriptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.specs import list_specs, load_spec, spec_path
from metrics import InputError

EXPECTED = {
    "sdnet-table1",
    "sdnet-table2",
    "sdnet-table3",
    "sdnet-table4",
    "sdnet-table5",
    "sdnet-table6",
    "dcp-supp-table1",
    "dcp-supp-table2",
    "dcp-supp-fig1",
    "dcp-supp-fig2",
    "dcp-supp-fig3",
    "dcp-supp-fig4",
    "dcp-segmentation",
}


def test_all_specs_listed() -> None:
    assert set(list_specs()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_spec_parses_and_validates(name: str) -> None:
    spec = load_spec(name)
    assert spec.id == name
    assert set(spec.profiles) == {"quick", "paper"}
    assert spec.rows
    if not spec.has_published:
        assert spec.note


def _row(spec_name: str, label: str, group: str | None = None):
    spec = load_spec(spec_name)
    return next(r for r in spec.rows if r.label == label and r.group == group)


@pytest.mark.parametrize(
    ("spec", "label", "group", "column", "printed"),
    [
        # DCP supplement Table 1 (GCA-50%, Adobe-1k): SPKD / Ours row
        ("dcp-supp-table1", "SPKD / Ours", None, "sad", "41.26"),
        # DCP supplement Table 1: NST / CAP row
        ("dcp-supp-table1", "NST / CAP", None, "conn", "47.42"),
        # DCP supplement Table 2: lambda_4 = w_3 = 0.5 row, MSE keeps its trailing zero
        ("dcp-supp-table2", "0.5 / 0.5", None, "mse", "0.010"),
        # SDNet Table 1 (Composition-1k portrait subset): trimap-free Ours
        ("sdnet-table1", "Ours", "trimap-free", "mse", "0.0016"),
        # SDNet Table 3 (PPM-100): trimap-free DIM (no pre-training)
        ("sdnet-table3", "DIM [46]", "trimap-free", "sad", "32.7"),
        # SDNet Table 4: SDNet size
        ("sdnet-table4", "Ours", None, "size_mb", "8.1"),
        # SDNet Table 6: trimap-free full SDNet (printed 0.0020, differs from Table 1)
        ("sdnet-table6", "Full SDNet", "trimap-free", "mse", "0.0020"),
    ],
)
def test_spot_values(spec: str, label: str, group: str | None, column: str, printed: str) -> None:
    row = _row(spec, label, group)
    assert row.published[column] == printed
    assert row.value(column) == float(printed)


def test_headline_rows_runnable() -> None:
    spec = load_spec("dcp-supp-table1")
    assert spec.headline and all(r.runnable for r in spec.rows)
    ours = _row("dcp-supp-table1", "SPKD / Ours")
    assert (ours.model, ours.prune, ours.ratio, ours.kd) == ("gca", "dcp", 0.5, "spkd")


def test_group_metrics() -> None:
    spec = load_spec("sdnet-table1")
    assert spec.row_metrics(_row("sdnet-table1", "Ours", "trimap-free")) == (
        "sad_whole",
        "mse_whole",
    )


def _bad(tmp_path: Path, old: str, new: str) -> Path:
    text = Path(spec_path("dcp-supp-table2")).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "broken-spec.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('model = "gca"', 'model = "gca-xl"', "unknown model 'gca-xl'"),
        ('kd = "spkd"', 'kd = "fitnet"', "unknown kd 'fitnet'"),
        ('"mse", "sad"', '"mse", "sadd"', "unknown metric 'sadd'"),
        ('names = ["comp1k"]', 'names = ["comp2k"]', "unknown dataset 'comp2k'"),
        ('convention = "dim-pytorch"', 'convention = "matlab"', "unknown convention"),
        ('prune = "dcp"', 'prune = "l1"', "unknown prune 'l1'"),
        ('sad = "39.96"', 'sad = "39,96"', "is not a number"),
    ],
)
def test_bad_spec_names_file(tmp_path: Path, old: str, new: str, problem: str) -> None:
    path = _bad(tmp_path, old, new)
    with pytest.raises(InputError) as exc:
        load_spec(path)
    assert str(path) in str(exc.value)
    assert problem in str(exc.value)


def test_unknown_spec_name() -> None:
    with pytest.raises(InputError, match="no-such-spec"):
        load_spec("no-such-spec")
