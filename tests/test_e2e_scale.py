"""Refresh must see every object behind Vapi's 1000-item lists, boundary ties included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Cli, loopback, start_server, stop_server

ORG = "5ad1e7f0-0000-4000-8000-00000000a11a"


def _seed(path: Path, n: int, tie_at: int, tie_size: int) -> None:
    """n assistants; those around index `tie_at` (newest first) share one createdAt, straddling a page edge."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    store = {}
    for i in range(n):
        newest_first = n - 1 - i
        stamp = base + timedelta(seconds=i)
        if abs(newest_first - tie_at) < tie_size // 2:
            stamp = base + timedelta(seconds=n - 1 - tie_at)
        when = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        oid = f"00000000-0000-4000-8000-{i:012d}"
        store[oid] = {"id": oid, "orgId": ORG, "createdAt": when, "updatedAt": when, "name": f"agent-{i:04d}",
                      "firstMessage": f"Hi from {i}", "isServerUrlSecretSet": False, "latestVersion": None,
                      "metadata": {"voxplan": "many"}}  # marked as stack "many"'s already: adopting sends nothing
    path.write_text(json.dumps({"vapi": {"store": {"assistant": store}}}))


@pytest.mark.parametrize("order", ["newest", "oldest"])  # no source states which (fact sheet §12)
def test_1500_remote_assistants_1200_declared_all_seen_none_duplicated(cli: Cli, tmp_path: Path, order: str) -> None:
    data = tmp_path / "seed.json"
    _seed(data, 1500, tie_at=1000 if order == "newest" else 499, tie_size=10)  # ties at the first page edge
    server = start_server("--data", str(data))
    try:
        loopback.post(f"{server.url}/_sandbox/quirks", json={"vapi": {"list_order": order}}).raise_for_status()
        cli.env["VOXPLAN_VAPI_BASE_URL"] = f"{server.url}/vapi"
        assistants = "\n".join(f"  a{i}:\n    name: agent-{i:04d}\n    first_message: Hi from {i}"
                               for i in range(1200))
        stack = cli.stack("many.yaml", f"version: 1\nstack: many\nassistants:\n{assistants}\n")
        server.clear_stats()
        plan = cli("plan", str(stack), "--detailed-exitcode", code=2)
        assert "Plan: 1200 to import, 0 to add, 0 to change, 0 to destroy." in plan.stdout
        lists = server.stats()["requests"]
        assert lists == {"vapi GET /assistant": 2}  # ceil(1500 / 1000): one paged list, no GET per resource
        cli("apply", "--auto-approve", str(stack))
        stored = json.loads(data.read_text())["vapi"]["store"]["assistant"]  # the emulator's own database
        assert len(stored) == 1500 and len({a["name"] for a in stored.values()}) == 1500
        cli("plan", str(stack), "--detailed-exitcode", code=0)
        state = json.loads((tmp_path / ".voxplan" / "many.state.json").read_text())
        assert len(state["resources"]) == 1200
        assert len({e["id"] for e in state["resources"].values()}) == 1200
    finally:
        stop_server(server)


def test_paging_past_boundary_ties_in_process(tmp_path: Path) -> None:
    """The adapter's pager against the emulator directly: 2,500 objects, ties at both page edges."""
    from voxplan import providers
    from voxplan.providers.vapi.adapters import Assistant
    from voxplan.sandbox import Sandbox, SandboxTransport

    data = tmp_path / "seed.json"
    _seed(data, 2500, tie_at=1000, tie_size=40)
    box = Sandbox(data)
    client = providers.client("vapi", "http://sandbox/vapi", "key", SandboxTransport(box))
    seen = Assistant(client).list()
    assert len(seen) == 2500 and len({o["id"] for o in seen}) == 2500
    assert box.requests["vapi GET /assistant"] == 3
