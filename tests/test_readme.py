"""The README's quick start is true: its first command works from a fresh copy, as a real process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_readme_quick_start_command_runs_and_converges(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Two commands"):]
    command = re.search(r"```sh\n(voxplan [^\n]+)\n```", section)
    assert command, "the README's first command block is gone"
    args = command.group(1).split()
    assert args[:2] == ["voxplan", "apply"]
    # never the checkout's stacks/.voxplan/ (the README's own first command leaves one there)
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks", ignore=shutil.ignore_patterns(".voxplan"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXPLAN_") and not k.endswith("_API_KEY")}
    run = subprocess.run([sys.executable, "-m", "voxplan", *args[1:]], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Apply complete! 3 to add, 0 to change, 0 to destroy." in run.stdout
    again = subprocess.run([sys.executable, "-m", "voxplan", "plan", "--sandbox", "--detailed-exitcode",
                            args[-1]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "No changes." in again.stdout


def test_ci_runs_exactly_the_readmes_test_commands() -> None:
    """`.ci/run` is the README's "Run the tests" block, line for line, and nothing else: no server of its own
    (the tests start one), no extra install step a reader would not know about."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Two commands"):]
    block = re.search(r"```sh\n(python3 -m venv [^`]+?)```", section)
    assert block, "the README's test block is gone"
    readme_commands = block.group(1).strip().splitlines()
    assert readme_commands[-1] == "python -m pytest" and "pip install -e '.[test]'" in readme_commands
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    ci_commands = [line for line in ci if line.strip() and not line.startswith(("#", "set -", 'cd "$(dirname'))]
    assert ci_commands == readme_commands
    assert not (ROOT / ".ci" / "pg").exists()


def test_the_real_process_exits_with_the_cli_codes_and_flushes_everything(tmp_path: Path) -> None:
    """The real process: exit codes and complete output, as a user and a pipeline see them."""
    shutil.copy(ROOT / "stacks" / "wavix-vapi.yaml", tmp_path / "s.yaml")
    base = [sys.executable, "-m", "voxplan"]
    plan = subprocess.run([*base, "plan", "--sandbox", "--detailed-exitcode", "--format", "json", "s.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert plan.returncode == 2, plan.stderr
    assert json.loads(plan.stdout)["summary"]["has_changes"] is True  # the whole document, not a buffer's worth
    missing = subprocess.run([*base, "plan", "--sandbox", "nope.yaml"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 1 and "nope.yaml: cannot read stack" in missing.stderr
    usage = subprocess.run([*base, "plan"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 1 and "Missing argument" in usage.stderr  # 2 would read as "changes present"
    typo = subprocess.run([*base, "plan", "--detailed-exitcod", "s.yaml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert typo.returncode == 1 and "No such option" in typo.stderr


def _on_a_terminal(args: list[str], cwd: Path, answer: str) -> tuple[int, str]:
    """Run voxplan with a pseudo-terminal as stdin/stdout/stderr, answer its prompt, and return the exit
    code and everything it wrote."""
    import pty
    import select

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXPLAN_") and not k.endswith("_API_KEY")}
    proc = subprocess.Popen([sys.executable, "-m", "voxplan", *args], cwd=cwd, env={**env, "NO_COLOR": "1"},
                            stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    out, answered = b"", False
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            assert ready, f"no output for 60 s: {out.decode(errors='replace')[-500:]}"
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the process closed the terminal: it has exited
                break
            if not chunk:
                break
            out += chunk
            if not answered and b"Enter a value:" in out:
                os.write(leader, answer.encode() + b"\n")
                answered = True
    finally:
        os.close(leader)
    return proc.wait(timeout=60), out.decode(errors="replace").replace("\r\n", "\n")


def test_apply_asks_on_a_terminal_and_does_nothing_unless_told_yes(tmp_path: Path) -> None:
    shutil.copy(ROOT / "stacks" / "wavix-vapi.yaml", tmp_path / "s.yaml")
    code, out = _on_a_terminal(["apply", "--sandbox", "s.yaml"], tmp_path, "no")
    assert code == 1 and "Only 'yes' will be accepted to approve." in out and "Enter a value: no" in out, out
    assert "Apply cancelled." in out and "Creation complete" not in out and "Apply complete" not in out
    for answer in ("", "y", "Y", "yes please"):  # as Terraform: only the word yes approves
        code, out = _on_a_terminal(["apply", "--sandbox", "s.yaml"], tmp_path, answer)
        assert code == 1 and "Apply cancelled." in out and "Creation complete" not in out, (answer, out)
    code, out = _on_a_terminal(["apply", "--sandbox", "s.yaml"], tmp_path, "yes")
    assert code == 0 and "vapi.credential/wavix-main: Creating..." in out and "Apply complete!" in out, out
    assert re.search(r"vapi.credential/wavix-main: Creation complete after \d+s \[id=[0-9a-f-]{36}\]", out), out
    again = subprocess.run([sys.executable, "-m", "voxplan", "plan", "--sandbox", "--detailed-exitcode", "s.yaml"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "No changes." in again.stdout, again.stdout + again.stderr


def readme_yaml_blocks() -> list[tuple[int, str]]:
    text = (ROOT / "README.md").read_text()
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in re.finditer(r"```yaml\n(.*?)```", text, re.S)]


def test_the_readme_has_yaml_blocks_to_check() -> None:
    assert len(readme_yaml_blocks()) >= 2


@pytest.mark.parametrize(("line", "block"), readme_yaml_blocks(), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_every_yaml_block_in_the_readme_is_a_valid_stack(line: int, block: str, tmp_path: Path) -> None:
    """Each block, as a user would paste it, passes validation (unset variables get the sandbox's
    placeholders, as `--sandbox` gives them)."""
    from voxplan import workflow
    from voxplan.core.context import RunContext
    from voxplan.core.errors import StackErrors

    stack = tmp_path / "readme.yaml"
    stack.write_text(block)
    try:
        loaded = workflow.load(stack, RunContext(sandbox=True, env={}))
    except StackErrors as exc:
        pytest.fail(f"README.md block at line {line}:\n" + "\n".join(map(str, exc.diagnostics)))
    assert loaded.desired


def test_every_link_in_the_readme_is_a_file_of_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    links = [m for m in re.findall(r"\]\(([^)#]+)\)", readme) if "://" not in m]
    assert links, "the README links nothing?"
    for link in links:
        target = (ROOT / link).resolve()
        assert target.is_relative_to(ROOT) and target.exists(), f"README links {link}, outside the repository or gone"


def test_the_readme_installs_only_what_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    workflow = (ROOT / "examples" / "github-actions.yml").read_text()
    for text in (readme, workflow):
        assert not re.search(r"^[\s-]*(run:\s*)?pip install voxplan\b", text, re.M)  # a command; not on PyPI
    assert "_VOXPLAN_COMPLETE=bash_source voxplan" in readme
    command = Path(sys.executable).parent / "voxplan"  # the installed entry point, named as users call it
    script = subprocess.run([str(command)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "_VOXPLAN_COMPLETE": "bash_source"})
    assert script.returncode == 0 and "_VOXPLAN_COMPLETE=bash_complete" in script.stdout, script.stderr
