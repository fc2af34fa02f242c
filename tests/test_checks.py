"""Checked, not remembered: lint, types and the layering contract run with the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from voxplan.providers import REGISTRY

ROOT = Path(__file__).resolve().parent.parent

# mypy's incremental cache, kept outside the checkout so that a fresh clone (CI, `.ci/run`) reuses what an
# earlier run checked: ~20 s of CPU cold, under 1 s warm. It is safe to share: mypy rechecks every module
# whose source hash, options or mypy version differ from what the cache recorded, and every module whose
# dependencies' cache entries are newer than its own.
MYPY_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "voxplan-tests" / "mypy"


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def import_contracts(path: Path) -> Path:
    """pyproject's import-linter contracts, plus "vendors are independent of each other" over every vendor
    package in voxplan.providers.REGISTRY, as an INI file at `path`."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = [*settings["contracts"], {"name": "Vendors are independent of each other", "type": "independence",
                                          "modules": [f"voxplan.providers.{p.name}" for p in REGISTRY]}]
    lines = ["[importlinter]", f"root_package = {settings['root_package']}",
             f"include_external_packages = {settings.get('include_external_packages', False)}", ""]
    for i, contract in enumerate(contracts):
        lines.append(f"[importlinter:contract:{i}]")
        for key, value in contract.items():
            if isinstance(value, list):
                lines.append(f"{key} =" + "".join(f"\n    {v}" for v in value))
            else:
                lines.append(f"{key} = {value}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def test_vendor_packages_are_the_registry() -> None:
    """The generated contract covers every vendor folder: a package under voxplan/providers/ that the registry
    does not list would escape it."""
    folders = {p.name for p in (ROOT / "voxplan" / "providers").iterdir() if (p / "__init__.py").exists()}
    assert folders == {p.name for p in REGISTRY}


@pytest.mark.parametrize("cmd", [
    ("ruff", "check", "voxplan", "tests", "benchmarks"),
    (sys.executable, "-m", "mypy", "--cache-dir", str(MYPY_CACHE), "voxplan"),
    ("lint-imports", "{contracts}"),
])
def test_static_check(cmd: tuple[str, ...], tmp_path: Path) -> None:
    cmd = tuple(str(import_contracts(tmp_path / "importlinter.ini")) if c == "{contracts}" else c for c in cmd)
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


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """Every command pays for what `import voxplan.cli` imports (the bomb tests hold a whole refused plan to 2 s
    of CPU): the OpenAI SDK's types, the ASGI server, the metrics client, PostgreSQL's driver and phonenumbers'
    geocoder data (half a second each, or more) are imported where they are used, not at start-up."""
    probe = ("import sys, voxplan.cli\n"
             "heavy = {'openai', 'uvicorn', 'starlette', 'prometheus_client', 'psycopg', 'websockets', 'ruamel'}\n"
             "found = sorted({m.split('.')[0] for m in sys.modules} & heavy)\n"
             "found += ['phonenumbers.geocoder'] if 'phonenumbers.geocoder' in sys.modules else []\n"
             "print(','.join(found))")
    result = run(sys.executable, "-c", probe)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr
