"""The import floors hold (the import-linter contracts of pyproject.toml), and a wrong import
breaks them: metrics < baselines | reports < benchmark, no private module imported across
packages, no import loop inside a package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("metrics", "baselines", "reports", "benchmark")

pytest.importorskip("importlinter", reason="import-linter is in the dev extra")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages under ``root`` with the repository's contracts."""
    env = dict(os.environ, PYTHONPATH=str(root))
    code = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(
            REPO / pkg,
            tmp_path / pkg,
            ignore=shutil.ignore_patterns("*.pyc", "__pycache__", "*.pt", "*.png"),
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_no_private_name_crosses_a_package() -> None:
    """import-linter checks private *modules*; this checks private *names*: no package takes an
    ``_underscore`` name from another package's module."""
    import ast

    bad = []
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    top = node.module.split(".")[0]
                    if top in PACKAGES and top != pkg:
                        bad += [
                            f"{path.relative_to(REPO)}: {node.module}.{a.name}"
                            for a in node.names
                            if a.name.startswith("_") and not a.name.startswith("__")
                        ]
    assert not bad, bad


def test_contracts_are_kept() -> None:
    res = _lint(REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 3 kept, 0 broken." in res.stdout


@pytest.mark.parametrize(
    ("where", "line", "broken"),
    [
        ("metrics/_probe.py", "import benchmark.runner\n", "Floors"),
        ("baselines/_probe.py", "import reports.tables\n", "Floors"),
        ("reports/_probe.py", "from baselines.models import registry\n", "Floors"),
        ("benchmark/_probe.py", "from metrics import _conn_uf\n", "private module"),
        ("metrics/_probe.py", "from metrics import golden\n", "import loops"),
    ],
)
def test_a_wrong_import_breaks_a_contract(
    tmp_path: Path, where: str, line: str, broken: str
) -> None:
    root = _copy(tmp_path)
    (root / where).write_text(line)
    if broken == "import loops":  # golden <- _probe <- golden
        with open(root / "metrics" / "golden" / "__init__.py", "a") as fh:
            fh.write("\nfrom metrics import _probe  # noqa: E402,F401\n")
    res = _lint(root)
    assert res.returncode != 0, res.stdout
    assert "BROKEN" in res.stdout and broken in res.stdout, res.stdout
