"""The OpenAI emulator against its fact sheet, over HTTP, and its signatures against the official SDK's
verification (never the emulator checking itself)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests import contract
from tests.conftest import SandboxServer, loopback

DEAD = "http://127.0.0.1:9/openai/webhook"  # port 9 (discard): nothing listens, the delivery is still signed


def api(sandbox: SandboxServer) -> httpx.Client:
    return httpx.Client(base_url=f"{sandbox.url}/openai/v1", headers={"Authorization": "Bearer sk-test"}, timeout=30)


def incoming(sandbox: SandboxServer, **ask: Any) -> dict[str, Any]:
    answer = loopback.post(f"{sandbox.url}/_sandbox/openai/incoming", json={"project": "proj_Test1", **ask}, timeout=30)
    answer.raise_for_status()
    return dict(answer.json())


def verifies(request: dict[str, Any], secret: str) -> bool:
    sdk = openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    try:
        sdk.webhooks.verify_signature(request["body"], request["headers"], secret=secret)
    except openai.InvalidWebhookSignatureError:
        return False
    return True


def test_call_control_follows_the_call_states(sandbox: SandboxServer) -> None:
    with api(sandbox) as client:
        assert client.post("/realtime/calls/rtc_nope/accept", json={"type": "realtime"}).status_code == 404
        assert client.post("/realtime/calls/rtc_nope/accept", json={"type": "realtime"},
                           headers={"Authorization": ""}).status_code == 401
        assert {v.where for v in contract.take()} == {"auth"}  # sent on purpose
        first = incoming(sandbox)["call_id"]
        assert first.startswith("rtc_") and len(first) == 36
        assert client.post(f"/realtime/calls/{first}/hangup").status_code == 400  # not accepted yet
        assert client.post(f"/realtime/calls/{first}/refer", json={"target_uri": "tel:+1"}).status_code == 400
        assert client.post(f"/realtime/calls/{first}/accept", json={"model": "gpt-realtime"}).status_code == 400
        # sent on purpose: `type` is required, and the contract harness sees it
        assert [v.message for v in contract.take()] == ["(body): 'type' is a required property"]
        accepted = client.post(f"/realtime/calls/{first}/accept", json={"type": "realtime"})
        assert accepted.status_code == 200 and accepted.content == b""
        assert client.post(f"/realtime/calls/{first}/refer", json={"target_uri": "+17134810111"}).status_code == 400
        assert client.post(f"/realtime/calls/{first}/refer", json={"target_uri": "tel:+17134810111"}).status_code == 200
        assert client.post(f"/realtime/calls/{first}/hangup").status_code == 404  # the call is over
        second = incoming(sandbox)["call_id"]
        assert client.post(f"/realtime/calls/{second}/reject").status_code == 200
    record = loopback.get(f"{sandbox.url}/_sandbox/openai/calls/{second}").json()
    assert record["state"] == "rejected" and record["status_code"] == 603
    assert contract.take() == []  # nothing but what was sent on purpose, taken above


def test_the_emulator_refuses_what_the_spec_refuses(sandbox: SandboxServer) -> None:
    """Unknown keys on reject and refer; on webhook endpoints: an event type the create API does not list
    (GPT-Live's live.* included), none at all, an unknown key, a name over the limit."""
    good = {"url": "https://voice.example.com/hook", "name": "calls", "event_types": ["realtime.call.incoming"]}
    with api(sandbox) as client:
        call = incoming(sandbox)["call_id"]
        control = f"/realtime/calls/{call}"
        assert client.post(f"{control}/reject", json={"status_code": 486, "reason": "x"}).status_code == 400
        assert client.post(f"{control}/accept", json={"type": "realtime", "tracing": None}).status_code == 200
        assert client.post(f"/realtime/calls/{call}/refer", json={"target_uri": "tel:+14155550123",
                                                                   "headers": {}}).status_code == 400
        for bad in ({"event_types": ["no.such.event"]}, {"event_types": ["live.call.incoming"]},
                    {"event_types": ["live.transport.incoming"]}, {"event_types": []}, {"secret": "x"},
                    {"name": "n" * 300}):
            answer = client.post("/webhook_endpoints", json={**good, **bad})
            assert answer.status_code == 400, bad
            assert answer.json()["error"]["message"]
        made = client.post("/webhook_endpoints", json=good).json()
        assert client.post(f"/webhook_endpoints/{made['id']}", json={"events": ["batch.completed"]}).status_code == 400
        assert client.post(f"/webhook_endpoints/{made['id']}", json={"event_types": []}).status_code == 400
    seen = {(v.path, v.message.split(":")[0]) for v in contract.take()}
    # every refusal above is one the contract harness, holding the same requests to the spec, also finds
    assert {("/realtime/calls/{call_id}/reject", "(body)"), ("/realtime/calls/{call_id}/refer", "(body)")} <= seen
    assert {p for p, _ in seen} >= {"/webhook_endpoints", "/webhook_endpoints/{id}"}


def test_endpoints_show_their_secret_once_and_update_replaces_event_types(sandbox: SandboxServer) -> None:
    with api(sandbox) as client:
        made = client.post("/webhook_endpoints", json={"url": "https://voice.example.com/hook", "name": "calls",
                                                       "event_types": ["realtime.call.incoming"]}).json()
        assert made["signing_secret"].startswith("whsec_") and made["object"] == "webhook_endpoint"
        assert client.post("/webhook_endpoints", json={"url": "http://example.com/hook", "name": "x",
                                                       "event_types": []}).status_code == 400  # HTTPS only
        listed = client.get("/webhook_endpoints").json()
        assert listed["object"] == "list" and [e["id"] for e in listed["data"]] == [made["id"]]
        assert "signing_secret" not in json.dumps(listed).replace("signing_secret_hint", "")
        updated = client.post(f"/webhook_endpoints/{made['id']}", json={"event_types": ["batch.completed"]}).json()
        assert updated["event_types"] == ["batch.completed"] and "signing_secret" not in updated
        gone = client.delete(f"/webhook_endpoints/{made['id']}").json()
        assert gone == {"id": made["id"], "object": "webhook_endpoint.deleted", "deleted": True}
        assert client.get(f"/webhook_endpoints/{made['id']}").status_code == 404


@pytest.mark.parametrize("keep", [True, False])
def test_deliveries_carry_a_signature_per_live_secret_and_the_sdk_verifies_them(sandbox: SandboxServer,
                                                                                keep: bool) -> None:
    with api(sandbox) as client:
        made = client.post("/webhook_endpoints", json={"url": DEAD, "name": "calls",
                                                       "event_types": ["realtime.call.incoming"]}).json()
        rotated = client.post(f"/webhook_endpoints/{made['id']}/rotate_secret",
                              json={"keep_old_secret_active_for_24_hours": keep}).json()
    [delivery] = incoming(sandbox, headers={"x-number": "14067704205"})["deliveries"]
    request = delivery["request"]
    assert delivery["status"] == 0  # nobody listened; what was sent is still reported
    assert len(request["headers"]["webhook-signature"].split()) == (2 if keep else 1)
    assert verifies(request, rotated["signing_secret"])
    assert verifies(request, made["signing_secret"]) is keep
    assert not verifies({**request, "body": request["body"].replace("14067704205", "14067704206")},
                        rotated["signing_secret"])
    event = json.loads(request["body"])
    assert event["type"] == "realtime.call.incoming" and event["object"] == "event"
    assert {"name": "x-number", "value": "14067704205"} in event["data"]["sip_headers"]
    to = [h["value"] for h in event["data"]["sip_headers"] if h["name"] == "To"]
    assert to == ["sip:proj_Test1@sip.api.openai.com;transport=tls"]
