"""Apply history: one record per apply, kept by the state backend (`record_history` / `history`).

A record says when, who (user, host, pid, CI job URL), the git commit of the stack when known (CI's
variables, else `git rev-parse HEAD` beside the stack), the environment, the plan's summary, and each
change's outcome (done, failed, skipped). `voxplan history STACK` lists them; `history show STACK N` gives
one apply's changes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voxplan.core.plan import Plan
from voxplan.state import Holder

COMMIT_VARIABLES = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "GIT_COMMIT")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_commit(stack_file: Path, env: Mapping[str, str]) -> str:
    for name in COMMIT_VARIABLES:
        if env.get(name):
            return env[name]
    try:
        done = subprocess.run(["git", "-C", str(stack_file.parent or "."), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def outcome(address: str, done: list[str], errors: list[str], skipped: list[str]) -> str:
    """What became of one change, from apply's report lines (each names its address first)."""
    return _Outcomes(done, errors, skipped)(address)


class _Outcomes:
    """Apply's report lines, indexed once by the address each starts with (a line of an address with a
    colon in it, `sip:…`, is indexed under every prefix that ends at a colon): looking up one change is then
    O(1), not a scan of every line (20,000 changes against 20,000 lines took a minute)."""

    def __init__(self, done: list[str], errors: list[str], skipped: list[str]):
        self.errors = errors  # few, and an error may name its address anywhere in the line
        self.skipped, self.done = _prefixes(skipped), _prefixes(done)

    def __call__(self, address: str) -> str:
        if any(line.startswith(f"{address}:") or f" {address}:" in line or line.startswith(f"{address} ")
               for line in self.errors):
            return "failed"
        if address in self.skipped:
            return "skipped"
        if address in self.done:
            return "done"
        return "not attempted"


def _prefixes(lines: list[str]) -> set[str]:
    found: set[str] = set()
    for line in lines:
        at = line.find(":")
        while at > 0:
            found.add(line[:at])
            at = line.find(":", at + 1)
    return found


def record(plan: Plan, *, started: str, environment: str, stack_file: Path, env: Mapping[str, str],
           done: list[str], errors: list[str], skipped: list[str], moved: Mapping[str, str]) -> dict[str, Any]:
    holder = Holder.current(env)
    changes = []
    outcomes = _Outcomes(done, errors, skipped)
    for change in plan.actionable:
        outcome_of = "done" if change.moved_from and change.action.value == "no-op" and not change.importing \
            else outcomes(change.address)
        changes.append({"address": change.address, "action": change.action.value, "importing": change.importing,
                        "moved_from": change.moved_from or None, "remote_id": change.remote_id,
                        "outcome": outcome_of})
    for address in plan.forget:
        changes.append({"address": address, "action": "forget", "importing": False, "moved_from": None,
                        "remote_id": None, "outcome": "done"})
    return {"started": started, "finished": now(), "environment": environment, "user": holder.user,
            "host": holder.host, "pid": holder.pid, "ci_url": holder.ci_url or None,
            "git_commit": git_commit(stack_file, env) or None, "summary": plan.summary(),
            "ok": not errors, "moved": dict(moved), "changes": changes}
