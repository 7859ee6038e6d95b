"""Experiment specs (``benchmark/specs/*.toml``): parse, validate, and every published value
against the paper text.

Where the expected values come from
-----------------------------------
``test_every_published_value_matches_the_paper`` reads the tables of the paper texts in
``shared/papers/`` (``MATTEBENCH_SHARED``, default ``../shared``; skipped with the reason when
absent): each spec's ``[source] file`` and ``ref`` ("Table N") name the paper and the table,
the table's rows are matched by label (and by the Trimap column, which gives the group) and its
columns by header, and the printed strings must be equal, both ways (no spec value without a
paper cell, no paper cell without a spec value). The spot values below need no paper text, so
some check runs in any clone; ``test_paper_table_parser`` checks the parser on both layouts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmark.specs import list_specs, load_spec, spec_path
from metrics import InputError
from tests.conftest import SHARED

PAPERS = SHARED / "papers"
NO_PAPERS = f"paper texts not found at {PAPERS} (set MATTEBENCH_SHARED to the shared/ folder)"

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


# ---------------------------------------------------------------------------------------------
# every published value against the paper text
# ---------------------------------------------------------------------------------------------
# The papers' markdown keeps each table as tab-separated lines next to its "Table N." caption
# (after it in the SDNet text and for supplement Table 1, before it for supplement Table 2).
# Cells may carry <b>/<i> markup. Supplement Table 1 was extracted from a typeset table whose
# cells stack several rows ("0.017 0.017", "$\begin{array}{c} 46.24\\ 45.66\end{array}$") and
# whose merged KD cell lost its span: a label column with fewer entries than stacked rows is
# read as merged from above (the label of the row before fills the top rows; at the top of the
# table, the cell's own first label). That gives "- / UNI", "- / NS", "- / CAP", "NST / CAP",
# ..., the reading stated in the spec's note.
#
# One printed mark is read against the text, as its spec says: SDNet Table 5 ticks "Trimap" on
# the row (w/o SD, 7.6, 0.0028) that opens the trimap-free block (a second trimap-based
# "w/o SD" otherwise; its numbers are Table 1's trimap-free "Ours w/o SD").
_GROUP_READINGS = {("sdnet-self-distillation-portrait-matting.md", "Table 5", 5): "trimap-free"}

_PAPER_COLUMNS = {  # printed header -> spec column
    "Param (M)": "params_m",
    "Parameters(Million)": "params_m",
    "#Param": "params_m",
    "Size(MB)": "size_mb",
    "SAD\u2193": "sad",
    "SAD": "sad",
    "MSE\u2193": "mse",
    "MSE": "mse",
    "Grad": "grad",
    "Conn": "conn",
}
_TAGS = re.compile(r"</?(?:b|i)>")
_ARRAY = re.compile(r"\\(?:begin\{array\}\{[^}]*\}|end\{array\})")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CAPTION = re.compile(r"^Table (\d+)\.\s")
_TICK = "\u2713"


def paper_tables(text: str) -> dict[str, list[list[str]]]:
    """``{"Table N": rows of cells}``: the run of tab-separated lines next to each caption."""
    lines = text.splitlines()
    blocks: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        if "\t" in lines[i]:
            j = i
            while j + 1 < len(lines) and "\t" in lines[j + 1]:
                j += 1
            blocks.append((i, j))
            i = j + 1
        else:
            i += 1

    def neighbour(k: int, step: int) -> int:
        k += step
        while 0 <= k < len(lines) and not lines[k].strip():
            k += step
        return k

    tables = {}
    for k, line in enumerate(lines):
        m = _CAPTION.match(line)
        if not m:
            continue
        before, after = neighbour(k, -1), neighbour(k, 1)
        block = next((b for b in blocks if b[1] == before), None) or next(
            (b for b in blocks if b[0] == after), None
        )
        assert block is not None, f"Table {m[1]}: no tab-separated table next to its caption"
        rows = [
            [_TAGS.sub("", c).strip() for c in ln.split("\t")]
            for ln in lines[block[0] : block[1] + 1]
        ]
        tables[f"Table {m[1]}"] = rows
    return tables


def paper_values(
    rows: list[list[str]], readings: dict[int, str] | None = None
) -> dict[tuple[str, str | None], dict[str, str]]:
    """``{(row label, group): {spec column: printed string}}`` of one paper table.

    Label columns are the headers that are neither values nor "Trimap", joined by " / "
    (supplement Table 2: "lambda_4 / w_3", Table 1: "KD / Prune"); the Trimap column gives the
    group ("trimap-based" where ticked, else "trimap-free"); tables without it have none.
    ``readings`` overrides the printed group of body row ``k`` (1-based, rules not counted).
    """
    readings = dict(readings or {})
    header, body = rows[0], [r for r in rows[1:] if r[0] != "<hr/>"]
    value_cols = {j: _PAPER_COLUMNS[h] for j, h in enumerate(header) if h in _PAPER_COLUMNS}
    trimap = header.index("Trimap") if "Trimap" in header else None
    label_cols = [j for j in range(len(header)) if j not in value_cols and j != trimap]
    out: dict[tuple[str, str | None], dict[str, str]] = {}
    previous: list[str | None] = [None] * len(label_cols)
    for number, cells in enumerate(body, start=1):
        assert len(cells) == len(header), f"row {cells} has {len(cells)} cells, header {header}"
        stacks = {j: _NUMBER.findall(_ARRAY.sub(" ", cells[j])) for j in value_cols}
        n = len(next(iter(stacks.values())))
        assert n and all(len(v) == n for v in stacks.values()), f"uneven stacked cells: {cells}"
        labels = []
        for c, j in enumerate(label_cols):
            toks = cells[j].split() if n > 1 else [cells[j]]
            assert 1 <= len(toks) <= n, f"label cell {cells[j]!r} for {n} stacked rows"
            fill = toks[0] if previous[c] is None else previous[c]  # merged from above
            labels.append([fill] * (n - len(toks)) + toks)
            previous[c] = labels[-1][-1]
        group = (
            None
            if trimap is None
            else ("trimap-based" if cells[trimap] == _TICK else "trimap-free")
        )
        if number in readings:
            assert readings[number] != group, f"row {number} ({cells[0]}) needs no reading"
            group = readings.pop(number)
        for r in range(n):
            key = (" / ".join(lab[r] for lab in labels), group)
            assert key not in out, f"row {key} printed twice"
            out[key] = {col: stacks[j][r] for j, col in value_cols.items()}
    assert not readings, f"readings for rows the table does not have: {readings}"
    return out


def test_paper_table_parser() -> None:
    text = "\n".join(
        [
            "Methods\tTrimap\tSAD\u2193\tMSE\u2193",
            f"<i>DIM*</i> [46]\t{_TICK}\t<b>6.9</b>\t0.0014",
            "<hr/>\t\t\t",
            "Ours w/o SD\t\t7.6\t0.0028",
            "",
            "Table 7. Caption after the table.",
            "",
            "Table 8. Caption before the table.",
            "",
            "KD\tPrune\tMSE\tConn\t#Param",
            "-\tUNI NS\t$\\begin{array}{c c} 0.017 \\\\ 0.018 \\end{array}$"
            "\t46.24 45.66\t$4.93 \\mathrm{M}$ 5",
            "NST OFD\tCAP CAP CAP\t0.014 0.019 0.016\t$1.5 \\\\ 2 \\\\ 3.25$\t1 2 3",
        ]
    )
    tables = paper_tables(text)
    assert sorted(tables) == ["Table 7", "Table 8"]
    assert paper_values(tables["Table 7"]) == {
        ("DIM* [46]", "trimap-based"): {"sad": "6.9", "mse": "0.0014"},
        ("Ours w/o SD", "trimap-free"): {"sad": "7.6", "mse": "0.0028"},
    }
    t8 = paper_values(tables["Table 8"])
    assert list(t8) == [
        (k, None) for k in ("- / UNI", "- / NS", "- / CAP", "NST / CAP", "OFD / CAP")
    ]
    assert t8[("- / NS", None)] == {"mse": "0.018", "conn": "45.66", "params_m": "5"}
    assert t8[("- / CAP", None)] == {"mse": "0.014", "conn": "1.5", "params_m": "1"}
    read = paper_values(tables["Table 7"], {1: "trimap-free"})
    assert ("DIM* [46]", "trimap-free") in read
    with pytest.raises(AssertionError, match="needs no reading"):
        paper_values(tables["Table 7"], {2: "trimap-free"})
    with pytest.raises(AssertionError, match="no tab-separated table"):
        paper_tables("Table 9. A caption alone.\n\ntext")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_published_value_matches_the_paper(name: str) -> None:
    spec = load_spec(name)
    ours = {(r.label, r.group): dict(r.published) for r in spec.rows if r.published}
    if not spec.has_published:
        assert not ours  # a figure or a table the papers do not print: nothing to compare
        return
    path = SHARED / spec.source.file
    if not path.is_file():
        pytest.skip(NO_PAPERS)
    tables = paper_tables(path.read_text(encoding="utf-8"))
    assert spec.source.ref in tables, f"{spec.source.ref} not found in {path} ({sorted(tables)})"
    readings = {
        row: group
        for (file, ref, row), group in _GROUP_READINGS.items()
        if file == path.name and ref == spec.source.ref
    }
    paper = paper_values(tables[spec.source.ref], readings)
    where = f"{name} ({spec.source.file}, {spec.source.ref})"
    problems = [
        f"{where}, row {key}, column {col}: spec {printed!r}, paper {paper.get(key, {}).get(col)!r}"
        for key, vals in ours.items()
        for col, printed in vals.items()
        if paper.get(key, {}).get(col) != printed
    ]
    problems += [
        f"{where}, row {key}, column {col}: paper prints {printed!r}, the spec has no value"
        for key, vals in paper.items()
        for col, printed in vals.items()
        if col not in ours.get(key, {})
    ]
    assert not problems, "\n".join(problems)
    assert sum(map(len, ours.values())) == sum(map(len, paper.values()))
