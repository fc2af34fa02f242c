"""The Dockerfile, checked without docker (this machine cannot run it): what it copies is exactly what
building the package needs, the image's entry point is the CLI, and it serves on the port it exposes."""

from __future__ import annotations

import fnmatch
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (last matching rule wins)."""
    verdict = False
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.removeprefix("!").rstrip("/")
        parts = path.split("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/") or \
                (pattern.startswith("**/") and any(fnmatch.fnmatch(p, pattern[3:]) for p in parts)):
            verdict = not negate
    return verdict


def test_the_image_copies_exactly_what_builds_the_package(tmp_path: Path) -> None:
    copies = [shlex.split(args)[:-1] for word, args in instructions() if word == "COPY"]
    sources = [s for srcs in copies for s in srcs]
    assert sources == ["pyproject.toml", "README.md", "voxplan"]
    context = tmp_path / "context"
    context.mkdir()
    for source in sources:
        assert not ignored(source), f"{source} is copied but .dockerignore leaves it out of the context"
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, context / source, ignore=lambda d, names: [
                n for n in names if ignored(str((Path(d) / n).relative_to(ROOT)))])
        else:
            shutil.copy(path, context / source)
    assert ignored("tests/conftest.py") and ignored(".venv/bin/python") and ignored("voxplan/__pycache__/x.pyc")
    # the image's `pip install .`, on the context the image gets: it must build from those files alone
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path / "dist"), str(context)], check=True, capture_output=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("voxplan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "voxplan/schemas/stack.schema.json" in names
    assert "voxplan/providers/openai/realtime-sip.openapi.json" in names
    assert "voxplan/serve/server.py" in names


def test_one_image_runs_the_cli_and_serve() -> None:
    steps = dict(instructions())
    assert steps["ENTRYPOINT"] == '["voxplan"]' and steps["USER"] == "voxplan"
    assert steps["FROM"].startswith("python:3.11")  # requires-python >= 3.11
    assert "pip install ." in steps["RUN"]
    assert steps["EXPOSE"] == "8080" and steps["STOPSIGNAL"] == "SIGTERM"
    readme = (ROOT / "README.md").read_text()
    assert "voxplan serve" in readme and "--host 0.0.0.0 --port 8080" in readme and "/readyz" in readme
