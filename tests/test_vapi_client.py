"""Exact exchanges with Vapi, pinned with respx."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from voxplan import providers
from voxplan.core import errors
from voxplan.providers.http import ApiClient, RetryPolicy
from voxplan.providers.vapi.adapters import Assistant, Credential, PhoneNumber, Tool

BASE = "https://api.vapi.test"


def client() -> ApiClient:
    c = providers.client("vapi", BASE, "sk-test-key", httpx.HTTPTransport())  # httpcore, where respx listens
    c.retry = RetryPolicy(attempts=3, base_delay=0.0)
    return c


@respx.mock
def test_credential_patch_sends_whole_values_and_never_provider() -> None:
    route = respx.patch(f"{BASE}/credential/c1").mock(return_value=httpx.Response(200, json={"id": "c1"}))
    gateways = [{"ip": "203.0.113.1", "port": 5080}, {"ip": "203.0.113.2"}]
    Credential(client()).update("c1", {"provider": "byo-sip-trunk", "gateways": gateways})
    sent = json.loads(route.calls.last.request.content)
    assert sent == {"gateways": gateways}
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-test-key"


@respx.mock
def test_tool_patch_never_sends_type() -> None:
    route = respx.patch(f"{BASE}/tool/t1").mock(return_value=httpx.Response(200, json={"id": "t1"}))
    Tool(client()).update("t1", {"type": "transferCall", "destinations": []})
    assert json.loads(route.calls.last.request.content) == {"destinations": []}


@respx.mock
def test_list_pages_by_created_at_and_filters_other_credential_providers() -> None:
    page1 = [{"id": f"id{i}", "provider": "byo-sip-trunk", "createdAt": f"2026-01-01T00:{59 - i // 60:02d}:00.000Z"}
             for i in range(1000)]
    page2 = [page1[-1], {"id": "old", "provider": "openai", "createdAt": "2025-01-01T00:00:00.000Z"}]
    route = respx.get(f"{BASE}/credential").mock(side_effect=[httpx.Response(200, json=page1),
                                                               httpx.Response(200, json=page2)])
    found = Credential(client()).list()
    assert len(found) == 1000  # the openai credential is not ours; the repeated boundary object counted once
    assert route.calls[0].request.url.params["limit"] == "1000"
    assert route.calls[1].request.url.params["createdAtLe"] == min(o["createdAt"] for o in page1)


@respx.mock
def test_delete_of_a_gone_object_is_success() -> None:
    respx.delete(f"{BASE}/assistant/a1").mock(return_value=httpx.Response(404, json={"message": "Not Found"}))
    Assistant(client()).delete("a1")


@respx.mock
def test_429_is_retried_honouring_retry_after_then_succeeds() -> None:
    route = respx.post(f"{BASE}/assistant").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "0"}, json={"message": "slow down"}),
        httpx.Response(201, json={"id": "a1", "name": "A"}),
    ])
    assert Assistant(client()).create({"name": "A"})["id"] == "a1"
    assert route.call_count == 2


@respx.mock
def test_a_create_is_not_blindly_retried_after_a_5xx() -> None:
    route = respx.post(f"{BASE}/assistant").mock(return_value=httpx.Response(503, json={"message": "down"}))
    with pytest.raises(errors.ServerError):
        Assistant(client()).create({"name": "A"})
    assert route.call_count == 1  # it may have happened: the engine must look before trying again


@respx.mock
def test_idempotent_reads_are_retried_on_5xx_and_resets() -> None:
    route = respx.get(f"{BASE}/tool").mock(side_effect=[
        httpx.ConnectError("reset"), httpx.Response(502), httpx.Response(200, json=[])])
    assert Tool(client()).list() == []
    assert route.call_count == 3


@respx.mock
def test_vendor_error_names_status_and_message_but_no_secret() -> None:
    respx.post(f"{BASE}/phone-number").mock(return_value=httpx.Response(
        400, json={"message": ["number must be a valid phone number in the E.164 format"], "error": "Bad Request",
                   "statusCode": 400}))
    with pytest.raises(errors.InvalidRequest) as exc:
        PhoneNumber(client()).create({"provider": "byo-phone-number", "number": "123", "authPassword": "hunter2-pw"})
    text = str(exc.value.at("vapi.phone_number/+1555"))
    assert text == ("vapi.phone_number/+1555: HTTP 400: POST /phone-number: number must be a valid phone number "
                    "in the E.164 format")
    assert "hunter2-pw" not in text and "sk-test-key" not in text


@respx.mock
def test_a_vendor_echoing_a_secret_back_does_not_put_it_in_the_error() -> None:
    from voxplan.core.secret import Secret

    password = Secret("echoed-canary-password-77")
    respx.post(f"{BASE}/credential").mock(return_value=httpx.Response(
        400, json={"message": [f"authPassword {password.reveal()} is too weak"], "statusCode": 400}))
    with pytest.raises(errors.InvalidRequest) as exc:
        Credential(client()).create({"provider": "byo-sip-trunk", "gateways": [{"ip": "203.0.113.1"}],
                                     "outboundAuthenticationPlan": {"authPassword": password.reveal()}})
    assert "echoed-canary-password-77" not in str(exc.value)
    assert "authPassword (sensitive) is too weak" in str(exc.value)
