"""The project's own shape: import packages, console command, README commands, CI script."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("pkg", ["metrics", "benchmark", "baselines", "reports"])
def test_import_packages_resolve_to_this_repository(pkg: str) -> None:
    """The four generic package names must be ours, not a same-named package elsewhere."""
    mod = importlib.import_module(pkg)
    assert Path(mod.__file__).resolve().parent == REPO / pkg
    assert hasattr(mod, "__all__")


def _readme_block(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(rf"<!-- {marker} -->\s*```bash\n(.*?)\n```", text, re.S)
    assert m, f"README.md has no ```bash block after <!-- {marker} -->"
    return m.group(1).strip()


def test_readme_has_the_two_commands_first() -> None:
    """The README's first two code blocks are the main command and the test command."""
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", text, re.S)
    assert blocks[:2] == [_readme_block("main-command"), _readme_block("test-command")]
    for b in blocks[:2]:
        assert "pip install torch==2.13.0" in b  # the CPU wheel first, never a bare torch


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run extracts exactly the README's test command."""
    script = (REPO / ".ci" / "run").read_text()
    awk = re.search(r"cmd=\$\((awk .*?README\.md)\)", script)
    assert awk, ".ci/run does not read the command from README.md"
    out = subprocess.run(["bash", "-c", awk.group(1)], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == _readme_block("test-command")


def test_console_command_entry_point() -> None:
    """``mattebench`` is declared and ``python -m benchmark.cli --version`` answers."""
    assert 'mattebench = "benchmark.cli:main"' in (REPO / "pyproject.toml").read_text()
    out = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("mattebench ")


def test_single_version_source() -> None:
    from metrics._version import __version__

    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert (
        'version = { attr = "metrics._version.__version__" }'
        in (REPO / "pyproject.toml").read_text()
    )
