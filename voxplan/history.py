"""Apply history: one record per apply, kept by the state backend (`record_history` / `history`).

A record says when, who (user, host, pid, CI job URL), the git commit of the stack when known (CI's
variables, else `git rev-parse HEAD` beside the stack), the environment, the plan's summary, each change's
outcome (done, failed, skipped), and the stack as it was applied (`stack_record`): its text, comments and
all, with each value the run resolved from `${var:}` or a public `${env:…:public}`/`${file:…:public}` written
in (so a var file edited since cannot change what apply N meant), secret interpolations kept as their
`${env:}`/`${file:}` forms and a secret written literally replaced by one, never a value. `voxplan history
STACK` lists them; `history show STACK N` gives one apply's changes, `--stack-file` its stack: planning that
file shows the way back to apply N across every vendor at once.
"""

from __future__ import annotations

import base64
import re
import subprocess
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voxplan.core.errors import StateError
from voxplan.core.model import PathT, value_at
from voxplan.core.plan import Plan
from voxplan.core.secret import Secret
from voxplan.stack.loader import parse_yaml
from voxplan.stack.model import Stack
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
           done: list[str], errors: list[str], skipped: list[str], moved: Mapping[str, str],
           applied: dict[str, Any] | None = None) -> dict[str, Any]:
    """One apply's record. `applied`: the stack as applied (`stack_record`), which the caller makes before
    its first change, while state is smallest (it reads the whole stack file again)."""
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
            "ok": not errors, "moved": dict(moved), "changes": changes,
            **({"stack": applied} if applied is not None else {})}


# -- the stack as applied --------------------------------------------------------------------------------
_INTERPOLATED = re.compile(r"\$\{(env|file|var):")


def stack_record(stack: Stack) -> dict[str, Any] | None:
    """The stack as applied, for history: compressed (a stack may be megabytes, and every apply keeps one).
    `env`: the variables a literal secret was replaced by (to set before planning the file). None for a stack
    read from no text."""
    if not stack.text:
        return None
    text, names = as_applied(stack)
    return {"encoding": "zlib+base64", "text": base64.b64encode(zlib.compress(text.encode(), 9)).decode(),
            "env": names}


def stack_text(run: Mapping[str, Any]) -> str:
    """The stack a history record kept (`stack_record`)."""
    kept = run.get("stack")
    if not isinstance(kept, dict) or kept.get("encoding") != "zlib+base64":
        raise StateError(f"apply {run.get('n', '?')} kept no stack (it was recorded by an older voxplan)")
    return zlib.decompress(base64.b64decode(kept["text"])).decode()


def as_applied(stack: Stack) -> tuple[str, list[str]]:
    """The stack file as this run read it, with public interpolated values written in and literal secrets
    replaced by `${env:}` forms (whose names are returned): safe to keep, and planned later with the same
    environment, it means what it meant now. A stack without `stack:` gets it (the file's name said it)."""
    from voxplan.stack.writer import Change, edit  # ruamel.yaml: loaded by apply, not by every command
    raw, _, _ = parse_yaml(stack.text, str(stack.path))
    changes: list[Change] = []
    names: list[str] = []
    for path, written in _scalars(raw):
        value = value_at(stack.data, path)
        if isinstance(value, Secret):
            if not (isinstance(written, str) and _INTERPOLATED.search(written)):  # a secret written as it is
                name = "VOXPLAN_" + re.sub(r"[^A-Z0-9]+", "_", "_".join(map(str, path)).upper()).strip("_")
                names.append(name)
                changes.append(Change(path, "${env:" + name + "}"))
        elif isinstance(written, str) and _INTERPOLATED.search(written) and path[0] != "environments" \
                and value is not None and value != written:
            changes.append(Change(path, value))
    if isinstance(raw, dict) and "stack" not in raw:
        changes.append(Change(("stack",), stack.name, after="version"))
    return edit(stack.text, changes, str(stack.path)) if changes else stack.text, names


def _scalars(data: Any, path: PathT = ()) -> Iterator[tuple[PathT, Any]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _scalars(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _scalars(v, (*path, i))
    elif path:
        yield path, data
