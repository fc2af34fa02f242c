"""The hostile-stack corpus (tests/hostile_corpus.py): every stack exits 1 from validate, plan and apply,
with `file:line:col` on every error line, no traceback and no request sent; resource bombs do so as
real processes within 2 s of CPU and 200 MB. The canary fixture (`cli`) then scans every output and
every file left behind for the canaries in every encoding."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests import hostile_corpus
from tests.conftest import Cli, SandboxServer

LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")
SUMMARY = re.compile(r"^\d+ errors?; nothing was sent\.$")
CPU_SECONDS = 2.0
MAX_RSS_MB = 200
FULL_RUN_EVERY = 6  # plan and apply every 6th stack in-process (and every heavy one); validate all
SHARDS = 6


def _assert_refused(result_code: int, stdout: str, stderr: str, path: str, command: str) -> None:
    assert result_code == 1, f"{command} {path}: exit {result_code}\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr
    assert stdout == "", f"{command} {path} wrote to stdout: {stdout!r}"
    lines = [line for line in stderr.splitlines() if not SUMMARY.match(line)]
    assert lines, f"{command} {path}: no error line"
    for line in lines:
        match = LINE.match(line)
        assert match and match["file"] == path, f"{command} {path}: not file:line:col: {line!r}"


def test_the_corpus_is_large_and_covers_every_example() -> None:
    cases = hostile_corpus.cases()
    assert len(cases) >= 150
    assert len({c.name for c in cases}) == len(cases)
    for stack in hostile_corpus.STACKS:
        assert sum(c.name.startswith(f"{stack.stem}--") for c in cases) >= 20, stack.name
    assert sum(c.heavy for c in cases) >= 10


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_hostile_stack_is_refused_located_and_sends_nothing(shard: int, cli: Cli, sandbox: SandboxServer) -> None:
    """Every stack of the corpus, in SHARDS parts that the test workers share (one part was the suite's
    longest test)."""
    every = hostile_corpus.cases()
    mine = [(i, c) for i, c in enumerate(every) if i % SHARDS == shard]
    hostile_corpus.write(cli.workdir, only=[c.name for _, c in mine])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sandbox.clear_stats()
    for i, case in mine:
        commands = [["validate"]]
        if case.heavy or i % FULL_RUN_EVERY == 0:
            commands += [["plan"], ["apply", "--auto-approve"]]
        for command in commands:
            started = time.monotonic()
            result = cli(*command, case.name, code=None)
            elapsed = time.monotonic() - started
            _assert_refused(result.exit_code, result.stdout, result.stderr, case.name, command[0])
            assert elapsed < CPU_SECONDS * 5, f"{command[0]} {case.name} took {elapsed:.1f} s"  # a hang, not noise
        assert sandbox.stats()["total"] == 0, f"{case.name}: a request was sent"
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mb < MAX_RSS_MB, f"the corpus grew this process by {grown_mb:.0f} MB"


# A parent whose only child is the voxplan run: its RUSAGE_CHILDREN is that run's CPU and peak RSS, as the
# kernel measured them. The rlimits (inherited) stop a runaway instead of the machine.
MEASURE = r"""
import json, resource, subprocess, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
resource.setrlimit(resource.RLIMIT_CPU, (10, 10))
try:
    p = subprocess.run([sys.executable, "-m", "voxplan", *sys.argv[1:]], capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    code, out, err = p.returncode, p.stdout, p.stderr
except subprocess.TimeoutExpired:
    code, out, err = "hung", b"", b""
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace"),
                  "cpu": u.ru_utime + u.ru_stime, "rss_mb": u.ru_maxrss / 1024}))
"""


def _run_measured(args: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", MEASURE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("name", ["alias-billion-laughs", "nesting-flow-deep", "file-over-cap", "value-over-cap",
                                  "integer-huge", "file-dev-zero", "file-fifo", "file-too-big"])
def test_bombs_as_processes_stay_within_2_s_and_200_mb(name: str, tmp_path: Path, cli: Cli) -> None:
    stack = f"wavix-vapi--{name}.yaml"
    assert [c.name for c in hostile_corpus.write(tmp_path, only=[stack])] == [stack]
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        run = _run_measured([*command, stack], tmp_path, {**os.environ, **cli.env})
        _assert_refused(run["code"], run["stdout"], run["stderr"], stack, command[0])
        errors = [line for line in run["stderr"].splitlines() if not SUMMARY.match(line)]
        assert len(errors) == 1, run["stderr"]  # one error, not one per alias or bracket
        assert run["cpu"] < CPU_SECONDS, f"{command[0]} {stack}: {run['cpu']:.2f} s of CPU"
        assert run["rss_mb"] < MAX_RSS_MB, f"{command[0]} {stack}: {run['rss_mb']:.0f} MB"
        cli.outputs += [run["stdout"], run["stderr"]]


@pytest.mark.parametrize("name", ["stack-is-fifo.yaml", "stack-is-link-loop.yaml", "stack-is-dev-zero.yaml"])
def test_a_stack_that_is_a_fifo_loop_or_device_fails_at_once(name: str, tmp_path: Path, cli: Cli) -> None:
    hostile_corpus.write(tmp_path, only=[name])
    run = _run_measured(["validate", name], tmp_path, {**os.environ, **cli.env})
    _assert_refused(run["code"], run["stdout"], run["stderr"], name, "validate")
    assert run["stderr"].count("\n") == 1 and "cannot read stack" in run["stderr"]
    assert run["cpu"] < CPU_SECONDS and run["rss_mb"] < MAX_RSS_MB
