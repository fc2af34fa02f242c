"""The Vapi emulator is true to the fact sheet (tested through its own HTTP face, not the adapters)."""

from __future__ import annotations

import httpx
import pytest

from tests import contract
from tests.conftest import SandboxServer, loopback
from voxplan.sandbox import Sandbox, SandboxTransport


@pytest.fixture
def vapi() -> httpx.Client:
    return httpx.Client(transport=SandboxTransport(Sandbox()), base_url="http://sandbox/vapi",
                        headers={"Authorization": "Bearer k"})


CRED = {"provider": "byo-sip-trunk", "name": "t", "gateways": [{"ip": "203.0.113.1"}],
        "outboundAuthenticationPlan": {"authUsername": "u", "authPassword": "p"}}


def test_create_201_server_fields_defaults_and_no_password(vapi: httpx.Client) -> None:
    r = vapi.post("/credential", json=CRED)
    assert r.status_code == 201
    body = r.json()
    assert {"id", "orgId", "createdAt", "updatedAt"} <= set(body)
    assert body["gateways"][0] == {"ip": "203.0.113.1", "port": 5060, "netmask": 32, "inboundEnabled": True,
                                   "outboundEnabled": True, "outboundProtocol": "udp", "optionsPingEnabled": False}
    assert body["outboundAuthenticationPlan"] == {"authUsername": "u"}
    assert vapi.get(f"/credential/{body['id']}").status_code == 200


def test_unknown_property_is_a_nestjs_400(vapi: httpx.Client) -> None:
    r = vapi.post("/assistant", json={"name": "A", "serverUrl": "https://x"})
    assert r.status_code == 400
    assert r.json() == {"message": ["property serverUrl should not exist"], "error": "Bad Request", "statusCode": 400}
    assert {v.where for v in contract.take()} == {"request"}  # sent on purpose: the spec forbids it too


def test_unauthenticated_is_401(vapi: httpx.Client) -> None:
    assert vapi.get("/assistant", headers={"Authorization": ""}).status_code == 401
    assert {v.where for v in contract.take()} == {"auth"}  # sent on purpose


def test_patch_replaces_whole_top_level_keys_and_takes_provider_but_never_changes_it(vapi: httpx.Client) -> None:
    model = {"provider": "openai", "model": "gpt-4o", "temperature": 1}
    a = vapi.post("/assistant", json={"name": "A", "model": model})
    aid = a.json()["id"]
    r = vapi.patch(f"/assistant/{aid}", json={"model": {"provider": "openai", "model": "gpt-4o-mini"}})
    assert r.status_code == 200 and r.json()["model"] == {"provider": "openai", "model": "gpt-4o-mini"}
    c = vapi.post("/credential", json=CRED).json()
    # the 2026-08 Update DTOs declare `provider` and the SDK sends it: the vendor takes it, so must the sandbox
    assert vapi.patch(f"/credential/{c['id']}", json={"provider": "byo-sip-trunk"}).status_code == 200
    changed = vapi.patch(f"/credential/{c['id']}", json={"provider": "twilio"})
    # the document takes it (the PATCH union has a Twilio update), the server does not: a business 400
    assert changed.status_code == 400 and isinstance(changed.json()["message"], str)


def test_delete_returns_the_object_then_404(vapi: httpx.Client) -> None:
    aid = vapi.post("/assistant", json={"name": "A"}).json()["id"]
    r = vapi.delete(f"/assistant/{aid}")
    assert r.status_code == 200 and r.json()["id"] == aid
    assert vapi.delete(f"/assistant/{aid}").status_code == 404


def test_lists_default_100_max_1000_newest_first(vapi: httpx.Client) -> None:
    for i in range(120):
        vapi.post("/assistant", json={"name": f"a{i}"})
    assert len(vapi.get("/assistant").json()) == 100
    assert vapi.get("/assistant", params={"limit": 1001}).status_code == 400
    assert {v.where for v in contract.take()} == {"query"}  # sent on purpose: over the spec's maximum
    items = vapi.get("/assistant", params={"limit": 1000}).json()
    assert len(items) == 120
    assert [o["createdAt"] for o in items] == sorted((o["createdAt"] for o in items), reverse=True)
    oldest = items[-1]["createdAt"]
    assert all(o["createdAt"] < oldest for o in vapi.get("/assistant", params={"createdAtLt": oldest}).json())


def test_hostname_gateway_with_inbound_fails_like_vapi(vapi: httpx.Client) -> None:
    bad = {**CRED, "gateways": [{"ip": "sbc.example.com"}]}
    r = vapi.post("/credential", json=bad)
    assert r.status_code == 400 and "SIP gateway creation failed" in r.json()["message"]
    ok = {**CRED, "gateways": [{"ip": "sbc.example.com", "inboundEnabled": False}]}
    assert vapi.post("/credential", json=ok).status_code == 201


def test_byo_number_needs_an_existing_credential_and_is_unique(vapi: httpx.Client) -> None:
    missing = {"provider": "byo-phone-number", "number": "+15550001111",
               "credentialId": "00000000-0000-4000-8000-000000000000"}
    assert vapi.post("/phone-number", json=missing).status_code == 400
    cid = vapi.post("/credential", json=CRED).json()["id"]
    number = {**missing, "credentialId": cid}
    created = vapi.post("/phone-number", json=number)
    assert created.status_code == 201 and created.json()["numberE164CheckEnabled"] is True
    assert vapi.post("/phone-number", json=number).status_code == 400
    assert vapi.post("/phone-number", json={**number, "number": "15550002222"}).status_code == 400  # E.164 check


def test_tool_gets_the_materialised_request_start_message(vapi: httpx.Client) -> None:
    t = vapi.post("/tool", json={"type": "transferCall", "destinations": [{"type": "sip", "sipUri": "sip:a@b"}]})
    assert t.json()["messages"] == [{"type": "request-start", "blocking": False}]
    assert vapi.patch(f"/tool/{t.json()['id']}", json={"type": "transferCall"}).status_code == 200
    assert vapi.patch(f"/tool/{t.json()['id']}", json={"type": "handoff"}).status_code == 400


def test_limit_and_page_may_be_floats_as_the_sdk_sends_them(vapi: httpx.Client) -> None:
    for i in range(3):
        vapi.post("/assistant", json={"name": f"a{i}"})
    assert len(vapi.get("/assistant", params={"limit": "2.0"}).json()) == 2
    page = vapi.get("/v2/phone-number", params={"limit": "2.0", "page": "1.0"})
    assert page.status_code == 200 and page.json()["metadata"]["itemsPerPage"] == 2
    assert len(vapi.get("/assistant", params={"limit": "2.5"}).json()) == 2  # a number, as the spec types it


def test_persistence_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data.json"
    box = Sandbox(data)
    client = httpx.Client(transport=SandboxTransport(box), base_url="http://s/vapi",
                          headers={"Authorization": "Bearer k"})
    aid = client.post("/assistant", json={"name": "kept"}).json()["id"]
    again = httpx.Client(transport=SandboxTransport(Sandbox(data)), base_url="http://s/vapi",
                         headers={"Authorization": "Bearer k"})
    assert again.get(f"/assistant/{aid}").json()["name"] == "kept"


# -- the emulators' HTTP server, spoken to byte by byte --------------------------------------------------

def _raw(url: str, *requests: bytes) -> bytes:
    """Send requests on one connection and read until the server closes it."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            for request in requests:
                sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server closed first (after Connection: close): what it sent is still there
            pass
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def test_the_sandbox_server_keeps_connections_and_frames_answers(sandbox_server: SandboxServer) -> None:
    get = b"GET /vapi/assistant HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer k\r\n\r\n"
    body = b'{"name": "raw"}'
    post = (b"POST /vapi/assistant HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer k\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    close = b"GET /vapi/assistant HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer k\r\nConnection: close\r\n\r\n"
    out = _raw(sandbox_server.url, get, post, close, get)  # the last is never read: the server closed
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 2 and out.count(b"HTTP/1.1 201 Created\r\n") == 1
    assert out.count(b"HTTP/1.1 100 Continue\r\n\r\n") == 1
    assert out.rstrip().endswith(b"]")  # the third answer's list, and nothing after it: Connection: close held
    head = _raw(sandbox_server.url, b"HEAD /vapi/assistant HTTP/1.0\r\nAuthorization: Bearer k\r\n\r\n")
    assert {v.where for v in contract.take()} == {"operation"}  # on purpose: Vapi documents no HEAD
    # the emulated API has no HEAD: a 405 whose body is announced, not sent; HTTP/1.0 closes after it
    assert head.startswith(b"HTTP/1.1 405") and b"Content-Length: " in head and head.endswith(b"\r\n\r\n")


def test_the_sandbox_server_refuses_what_it_cannot_read(sandbox_server: SandboxServer) -> None:
    # a request line http.server cannot read: its own 400 page (HTTP/0.9 style, as the stdlib answers)
    assert b"400 - Bad request syntax" in _raw(sandbox_server.url, b"NONSENSE\r\n\r\n")
    chunked = b"POST /vapi/assistant HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    assert _raw(sandbox_server.url, chunked).startswith(b"HTTP/1.1 501 Not Implemented")
    bad_length = b"POST /vapi/assistant HTTP/1.1\r\nContent-Length: x\r\n\r\n"
    assert _raw(sandbox_server.url, bad_length).startswith(b"HTTP/1.1 400 Bad Request")
    # a client killed mid-body (kill -9 during an apply): half a request is never acted on nor answered
    def assistants() -> int:
        return len(loopback.get(f"{sandbox_server.url}/vapi/assistant", headers={"Authorization": "Bearer k"}).json())

    before = assistants()
    cut = b'POST /vapi/assistant HTTP/1.1\r\nAuthorization: Bearer k\r\nContent-Length: 40\r\n\r\n{"name": '
    assert _raw(sandbox_server.url, cut) == b""
    assert assistants() == before


def test_a_sip_number_with_auth_is_answered_within_the_spec_echoed_or_not(vapi: httpx.Client) -> None:
    auth = {"username": "front-desk-user-0123456", "password": "front-desk-pass-0123456"}
    made = vapi.post("/phone-number", json={"provider": "vapi", "sipUri": "sip:desk@sip.vapi.ai",
                                            "authentication": auth})
    assert made.status_code == 201 and made.json()["authentication"] == {"username": auth["username"]}
    assert vapi.post("/phone-number", json={"provider": "vapi", "sipUri": "sip:desk2@sip.vapi.ai",
                                            "authentication": {"username": auth["username"]}}).status_code == 400
    assert {v.where for v in contract.take()} == {"request"}  # sent on purpose: the password is required


def test_the_sandbox_counts_its_own_handling_apart_from_the_latency_it_injects() -> None:
    """The apply benchmark says where its time over the bound goes; the sandbox's own share is measured, with
    the latency it was told to add left out (a request that slept 50 ms was not 50 ms of handling)."""
    box = Sandbox(latency_ms=300)
    with httpx.Client(transport=SandboxTransport(box), base_url="http://sandbox") as client:
        for _ in range(2):
            client.get("/vapi/assistant", headers={"Authorization": "Bearer k"}).raise_for_status()
        stats = client.get("/_sandbox/stats").json()
        assert stats["total"] == 2 and 0 < stats["handling_s"] < 0.3, stats  # 0.6 s slept: none of it counted
        client.delete("/_sandbox/stats")
        assert client.get("/_sandbox/stats").json()["handling_s"] == 0
