"""Terraform's conventions: --version --json, JSON-lines logs, progress events while a change is in flight."""

from __future__ import annotations

import gc
import json
import shutil
import threading
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from tests.conftest import STACKS
from voxplan.apply import apply_plan
from voxplan.cli import main
from voxplan.core.plan import Action, Change, Plan
from voxplan.core.progress import Progress
from voxplan.providers import Providers
from voxplan.providers.base import Adapter
from voxplan.render.events import progress_line
from voxplan.state import LocalStore, State


def _cli(*args: str) -> Result:
    try:
        return CliRunner().invoke(main, list(args), env={"NO_COLOR": "1"}, catch_exceptions=False)
    finally:
        gc.unfreeze()
        gc.enable()


def test_version_as_json() -> None:
    result = _cli("--version", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["voxplan_version"]
    assert _cli("--version").stdout.startswith("voxplan, version ")


def test_apply_and_plan_stream_json_lines(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(STACKS / "byo-trunk.yaml", tmp_path / "s.yaml")
    refused = _cli("apply", "--sandbox", "--json", "s.yaml")
    assert refused.exit_code == 1 and "--json needs --auto-approve" in refused.stderr
    result = _cli("apply", "--sandbox", "--json", "--auto-approve", "s.yaml")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every line is one JSON object
    types = [e["type"] for e in events]
    assert types[-1] == "change_summary" and events[-1]["ok"] is True and events[-1]["changes"]["add"] == 5
    planned = {e["address"] for e in events if e["type"] == "planned_change"}
    started = {e["address"] for e in events if e["type"] == "apply_start"}
    finished = {e["address"]: e for e in events if e["type"] == "apply_complete"}
    assert planned == started == set(finished) and len(planned) == 5
    assert all(finished[a]["id"] for a in finished)
    assert types.index("apply_start") > max(i for i, t in enumerate(types) if t == "planned_change")
    drift = _cli("drift", "--sandbox", "--json", "s.yaml")
    assert drift.exit_code == 0, drift.stderr
    report, total = (json.loads(line) for line in drift.stdout.splitlines())
    assert report["type"] == "drift" and report["drifted"] is False
    assert (total["type"], total["stacks"], total["drifted"], total["errors"]) == ("drift_summary", 1, 0, 0)
    again = _cli("plan", "--sandbox", "--json", "s.yaml")
    [summary] = [json.loads(line) for line in again.stdout.splitlines()]
    assert summary["type"] == "change_summary" and summary["has_changes"] is False


class _Slow(Adapter):
    """Its create returns only once the apply has reported it as still in flight."""

    kind = "test.slow"
    seen_still = threading.Event()

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        return []

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self.seen_still.wait(30), "no 'still' event while the create was in flight"
        return {"id": "s-1", **body}

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError

    def delete(self, remote_id: str) -> None:
        raise AssertionError


def test_a_change_in_flight_is_reported_as_still_running(tmp_path: Path) -> None:
    seen: list[Progress] = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        if p.phase == "still":
            _Slow.seen_still.set()

    plan = Plan("t", (Change("test.slow/a", "test.slow", Action.CREATE, body={"name": "a"}),))
    providers = Providers(adapters={"test.slow": _Slow(None)})  # type: ignore[arg-type]
    state = State(LocalStore(tmp_path / "s.json", "t"), key=b"k" * 32)
    result = apply_plan(plan, providers, state, on_progress=on_progress, still_every=0.01)
    assert result.ok, result.errors
    phases = [p.phase for p in seen]
    assert phases[0] == "start" and "still" in phases and phases[-1] == "done"
    assert progress_line(seen[0]) == "test.slow/a: Creating..."
    still = next(p for p in seen if p.phase == "still")
    assert progress_line(still).startswith("test.slow/a: Still creating... [") and progress_line(still).endswith(
        "s elapsed]")
    assert progress_line(seen[-1]).startswith("test.slow/a: Creation complete after ")
    assert progress_line(seen[-1]).endswith("[id=s-1]")


def test_progress_lines_read_as_terraforms() -> None:
    update = Progress("vapi.assistant/a", "still", "update", 20.4, "a-1")
    assert progress_line(update) == "vapi.assistant/a: Still modifying... [id=a-1, 20s elapsed]"
    unroute = Progress("wavix.number/+1", "start", "unroute", 0, "1")
    assert progress_line(unroute) == "wavix.number/+1: Unrouting... [id=1]"
    assert progress_line(Progress("vapi.tool/t", "done", "delete", 1.2, "t-1")) == (
        "vapi.tool/t: Destruction complete after 1s [id=t-1]")
