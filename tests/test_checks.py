"""Checked, not remembered: lint, types and the layering contract run with the tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("cmd", [
    ("ruff", "check", "voxplan", "tests", "benchmarks"),
    (sys.executable, "-m", "mypy", "voxplan"),
    ("lint-imports",),
])
def test_static_check(cmd: tuple[str, ...]) -> None:
    tool = Path(sys.executable).parent / cmd[0]
    if cmd[0] != sys.executable and not tool.exists() and shutil.which(cmd[0]) is None:
        pytest.fail(f"{cmd[0]} is not installed: pip install -e '.[test]'")
    exe = str(tool) if tool.exists() else cmd[0]
    result = run(exe, *cmd[1:])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cli_imports_on_a_machine_without_fcntl() -> None:
    """Windows has no fcntl: the POSIX lock is chosen when a lock is taken, not on import."""
    probe = ("import sys; sys.modules['fcntl'] = None\n"
             "import voxplan.cli, voxplan.workflow, voxplan.state.local\n"
             "print('ok')")
    result = run(sys.executable, "-c", probe)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
