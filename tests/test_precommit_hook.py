"""The shipped pre-commit hook (.pre-commit-hooks.yaml), run as pre-commit runs it: the staged files that match
its `files` and not its `exclude` (pre-commit's re.search), appended to its `entry`, from the repository's
root. A stack with environments validates in each of them; a var file is never validated as a stack, and a
commit that changes only a var file validates its stack in that environment."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

PHONE = """version: 1
stack: phone
providers:
  wavix: {api_key: "${env:WAVIX_API_KEY}"}
environments:
  staging: {number: "+61290597521"}
  prod: {number: "+14067704205"}
numbers:
  "${var:number}": {carrier: wavix}
routes:
  "${var:number}": {forward: "+61299990000"}
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


def run_hook(repo: Path) -> subprocess.CompletedProcess[str]:
    """What `pre-commit run` does with the hook for the staged files."""
    [hook] = [h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text()) if h["id"] == "voxplan-validate"]
    staged = git(repo, "diff", "--cached", "--name-only", "--diff-filter=ACMR").split()
    files = [f for f in staged if re.search(hook["files"], f) and not re.search(hook.get("exclude", "^$"), f)]
    assert files, f"the hook would not run for {staged}"
    entry = shlex.split(hook["entry"])
    assert entry[0] == "voxplan"
    script = shutil.which("voxplan", path=str(Path(sys.executable).parent))  # the console script pip installed
    assert script, "no voxplan console script beside this Python"
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(repo)}  # no secrets: a developer's laptop
    return subprocess.run([script, *entry[1:], *hook.get("args", []), *files], cwd=repo, capture_output=True,
                          text=True, timeout=120, env={**env, "PYTHONPATH": str(ROOT)})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "stacks" / "phone.vars").mkdir(parents=True)
    (tmp_path / "stacks" / "phone.yaml").write_text(PHONE)
    (tmp_path / "stacks" / "phone.vars" / "staging.yaml").write_text('number: "+61290597522"\n')
    shutil.copy(ROOT / "stacks" / "vapi-sip.yaml", tmp_path / "stacks")
    return tmp_path


def test_a_commit_of_an_environments_stack_and_its_var_file_passes(repo: Path) -> None:
    git(repo, "add", "-A")
    result = run_hook(repo)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [
        "stacks/phone.yaml: valid in environment prod (1 resources)",
        "stacks/phone.yaml: valid in environment staging (1 resources)",
        "stacks/vapi-sip.yaml: valid (3 resources)",
    ]
    assert "required property" not in result.stderr  # the var file was never read as a stack


def test_a_commit_of_only_a_var_file_validates_its_stack_in_that_environment(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "stacks")
    var_file = repo / "stacks" / "phone.vars" / "staging.yaml"
    var_file.write_text('number: "+6129059752"\n')  # a digit short: no such Australian number
    git(repo, "add", "-A")
    result = run_hook(repo)
    assert result.returncode == 1
    [error] = [line for line in result.stderr.splitlines() if "warning:" not in line]
    assert error.startswith("stacks/phone.yaml:9:3: ") and error.endswith(" in environment staging"), error
    assert "+6129059752" in error and result.stdout == ""
