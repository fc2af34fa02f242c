"""Vapi lists seen whole whatever the order they come in, with or without the optional totalPages, and
an error rather than a silent miss when completeness cannot be proved (fact sheet §12)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from voxplan import providers
from voxplan.core.errors import ProviderError
from voxplan.providers.vapi.adapters import Assistant, PhoneNumber
from voxplan.sandbox import Sandbox, SandboxTransport

ORG = "5ad1e7f0-0000-4000-8000-00000000a11a"
CRED = "00000000-0000-4000-8000-0000000c0000"


def _objects(n: int, make: dict[str, object], ties: int = 0) -> dict[str, dict[str, object]]:
    """n objects a second apart; with `ties`, that many around the first page edge share one createdAt."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    out = {}
    for i in range(n):
        stamp = base + timedelta(seconds=i)
        if ties and abs(i - 1000) < ties // 2:
            stamp = base + timedelta(seconds=1000)
        when = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        oid = f"00000000-0000-4000-8000-{i:012d}"
        out[oid] = {"id": oid, "orgId": ORG, "createdAt": when, "updatedAt": when, **{
            k: (v.format(i) if isinstance(v, str) else v) for k, v in make.items()}}
    return out


def _box(tmp_path: Path, store: dict[str, dict[str, dict[str, object]]], **quirks: object) -> Sandbox:
    data = tmp_path / "seed.json"
    data.write_text(json.dumps({"vapi": {"store": store}}))
    box = Sandbox(data)
    box.vendors["vapi"].quirks.update(quirks)  # type: ignore[attr-defined]
    return box


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_2500_assistants_in_either_order_all_seen_none_duplicated(tmp_path: Path, order: str) -> None:
    box = _box(tmp_path, {"assistant": _objects(2500, {"name": "agent-{}"}, ties=40)}, list_order=order)
    seen = Assistant(providers.client("vapi", "http://sandbox/vapi", "key", SandboxTransport(box))).list()
    assert len(seen) == 2500 and len({o["id"] for o in seen}) == 2500
    assert box.requests["vapi GET /assistant"] == 3


def test_a_full_page_in_no_order_stops_the_refresh(tmp_path: Path) -> None:
    box = _box(tmp_path, {"assistant": _objects(1200, {"name": "agent-{}"})})
    emulator = box.vendors["vapi"]
    original = emulator.listing  # type: ignore[attr-defined]

    def shuffled(coll: str, req: object) -> object:
        answer = original(coll, req)
        answer.body[0], answer.body[500] = answer.body[500], answer.body[0]
        return answer

    emulator.listing = shuffled  # type: ignore[attr-defined]
    with pytest.raises(ProviderError, match="not sorted by createdAt"):
        Assistant(providers.client("vapi", "http://sandbox/vapi", "key", SandboxTransport(box))).list()


@pytest.mark.parametrize("total_pages", [True, False])
def test_2500_numbers_with_and_without_total_pages_all_seen(tmp_path: Path, total_pages: bool) -> None:
    numbers = _objects(2500, {"provider": "byo-phone-number", "number": "+1555{:07d}", "credentialId": CRED,
                              "numberE164CheckEnabled": True, "status": "active"})
    box = _box(tmp_path, {"phone-number": numbers}, total_pages=total_pages)
    seen = PhoneNumber(providers.client("vapi", "http://sandbox/vapi", "key", SandboxTransport(box))).list()
    assert len(seen) == 2500 and len({o["id"] for o in seen}) == 2500
    assert box.requests["vapi GET /v2/phone-number"] == 3  # ceil(2500 / 1000), from totalItems


def test_numbers_without_any_count_are_read_until_a_short_page() -> None:
    """A server outside the spec (no totalItems either): pages are read until a short one."""
    pages = {1: 1000, 2: 1000, 3: 7}
    asked = []

    def answer(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        asked.append(dict(request.url.params))
        start = sum(pages[p] for p in pages if p < number)
        results = [{"id": f"n{start + i}", "provider": "vapi"} for i in range(pages.get(number, 0))]
        return httpx.Response(200, json={"results": results, "metadata": {"itemsPerPage": 1000}})

    client = providers.client("vapi", "http://vapi.test", "key", httpx.MockTransport(answer))
    seen = PhoneNumber(client).list()
    assert len({o["id"] for o in seen}) == 2007
    assert [a["page"] for a in asked] == ["1", "2", "3"]
    assert {(a["sortBy"], a["sortOrder"]) for a in asked} == {("createdAt", "ASC")}  # an explicit sort


def test_lists_follow_creates_updates_and_deletes_after_the_first_list(tmp_path: Path) -> None:
    """The emulator keeps each collection's order as it is written (a list must not sort the whole
    collection per page): after a first list, creates, a rename and deletes show in every later list, in
    createdAt order, inside createdAt bounds, and a number freed by a delete can be taken again."""
    box = _box(tmp_path, {"assistant": _objects(30, {"name": "agent-{}"}, ties=6)})
    client = providers.client("vapi", "http://sandbox/vapi", "key", SandboxTransport(box))
    assert len(client.request("GET", "/assistant")) == 30  # the order is kept from here on
    made = [client.request("POST", "/assistant", json={"name": f"new-{i}"})["id"] for i in range(3)]
    client.request("PATCH", f"/assistant/{made[0]}", json={"name": "renamed"})
    gone = "00000000-0000-4000-8000-000000000007"
    client.request("DELETE", f"/assistant/{gone}")
    client.request("DELETE", f"/assistant/{made[1]}")
    stored = box.vendors["vapi"].store["assistant"].values()  # type: ignore[attr-defined]
    newest = sorted(stored, key=lambda o: (o["createdAt"], o["id"]), reverse=True)
    listed = client.request("GET", "/assistant", params={"limit": 1000})
    assert [o["id"] for o in listed] == [o["id"] for o in newest] and gone not in [o["id"] for o in listed]
    assert listed[1]["name"] == "renamed"
    bound = newest[20]["createdAt"]  # inside the tied run: bounds are inclusive or not as asked
    for op, keep in (("Le", lambda o: o["createdAt"] <= bound), ("Lt", lambda o: o["createdAt"] < bound),
                     ("Ge", lambda o: o["createdAt"] >= bound), ("Gt", lambda o: o["createdAt"] > bound)):
        page = client.request("GET", "/assistant", params={"limit": 5, f"createdAt{op}": bound})
        assert [o["id"] for o in page] == [o["id"] for o in newest if keep(o)][:5], op
    numbers = {"provider": "byo-phone-number", "credentialId": CRED}
    client.request("POST", "/credential", json={"provider": "byo-sip-trunk", "gateways": [{"ip": "203.0.113.9"}]})
    cred = client.request("GET", "/credential")[0]["id"]
    first = client.request("POST", "/phone-number", json={**numbers, "credentialId": cred, "number": "+15550000001"})
    with pytest.raises(ProviderError, match="already exists"):
        client.request("POST", "/phone-number", json={**numbers, "credentialId": cred, "number": "+15550000001"})
    client.request("DELETE", f"/phone-number/{first['id']}")
    again = client.request("POST", "/phone-number", json={**numbers, "credentialId": cred, "number": "+15550000001"})
    page = client.request("GET", "/v2/phone-number", params={"limit": 10, "page": 1})
    assert [o["id"] for o in page["results"]] == [again["id"]]
