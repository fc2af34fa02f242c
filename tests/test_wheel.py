"""The wheel installs anywhere: `python -m build` gives a wheel holding every file the code loads at run time,
with the version from its one place (voxplan/__init__.py); installed alone into a clean virtualenv (as pipx
would), it runs `voxplan --version` and a sandbox apply."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import voxplan

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "voxplan"

# Run in a subprocess: every file opened under the package while `voxplan validate` checks every example stack
# (the OpenAI session schema an agent is checked against, ...), found by an audit hook.
OPENED = """
import json, os, sys
opened = set()
sys.addaudithook(lambda event, args: opened.add(os.path.realpath(args[0]))
                 if event == "open" and isinstance(args[0], str) else None)
import voxplan
from voxplan.entry import run
sys.argv = ["voxplan", "validate", "--sandbox", *sys.argv[1:]]
try:
    run()
except SystemExit as exc:
    code = exc.code
sys.stdout.write("\\n")
package = os.path.realpath(os.path.dirname(voxplan.__file__))
print(json.dumps({"code": code, "opened": sorted(os.path.relpath(p, os.path.dirname(package)) for p in opened
                  if p.startswith(package + os.sep) and not p.endswith((".py", ".pyc")))}))
"""


def _source_tree(dest: Path) -> Path:
    """What a checkout holds for the build (pyproject, README, the package), without the checkout's build
    directories, caches or virtualenv: the build writes its own `build/` beside the sources."""
    dest.mkdir()
    shutil.copy(ROOT / "pyproject.toml", dest)
    shutil.copy(ROOT / "README.md", dest)
    shutil.copytree(PACKAGE, dest / "voxplan", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`python -m build --wheel` of the sources (offline: the build backend comes from the test extras)."""
    work = tmp_path_factory.mktemp("wheel")
    src = _source_tree(work / "src")
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(work / "dist"),
                            str(src)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    [found] = (work / "dist").glob("voxplan-*.whl")
    yield found


def test_the_version_has_one_place() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "voxplan.__version__"}


def test_the_wheel_holds_every_file_the_code_loads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert f"\nVersion: {voxplan.__version__}\n" in zipfile.ZipFile(wheel).read(metadata).decode()
    assert wheel.name.startswith(f"voxplan-{voxplan.__version__}-")
    # what the code actually opens at run time...
    stacks = sorted(str(p) for p in (ROOT / "stacks").glob("*.yaml"))
    probe = subprocess.run([sys.executable, "-c", OPENED, *stacks], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.splitlines()[-1])  # after validate's own lines
    assert result["code"] == 0, probe.stderr
    opened = set(result["opened"])
    assert "voxplan/providers/openai/realtime-sip.openapi.json" in opened  # the session schema agents are held to
    assert opened <= names, f"loaded at run time but not in the wheel: {sorted(opened - names)}"
    # ...and every data file the package has, loaded on a path the probe did not take or not
    data = {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    assert data <= names, f"package data missing from the wheel: {sorted(data - names)}"


@pytest.mark.slow
def test_the_wheel_installed_alone_runs_a_sandbox_apply(wheel: Path, tmp_path: Path) -> None:
    """As `pipx install` would: a new virtualenv, the wheel and its dependencies, nothing from the checkout
    (no PYTHONPATH, another working directory). Slow: pip fetches and installs every dependency (~40-90 s)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXPLAN_") and k != "PYTHONPATH"}
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], env=env,
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout + install.stderr
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "stacks" / "wavix-vapi.yaml", work / "stack.yaml")

    def voxplan_(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(venv / "bin" / "voxplan"), *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=120)

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import voxplan; print(voxplan.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(venv))
    version = voxplan_("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"voxplan, version {voxplan.__version__}"
    applied = voxplan_("apply", "--sandbox", "--auto-approve", "stack.yaml")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete!" in applied.stdout
    again = voxplan_("plan", "--sandbox", "--detailed-exitcode", "stack.yaml")
    assert again.returncode == 0 and "No changes." in again.stdout, again.stdout + again.stderr
