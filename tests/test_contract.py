"""The emulators are held to the vendors' OpenAPI documents (tests/contract.py, on for the whole suite):
the checker itself, and every example stack's apply, edit and destroy with no violation."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests import contract
from tests.conftest import STACKS, Cli, SandboxServer
from voxplan.sandbox.core import Exchange, Response

SEEDS = {  # what the account owner bought or made by hand, per example
    "wavix-vapi.yaml": {"numbers": {"wavix": ["+61290597521", "+14067704205"]}},
    "wavix-openai.yaml": {"numbers": {"wavix": ["+14067704205"]}},
    "didlogic-vapi.yaml": {"numbers": {"didlogic": ["+31201234567"]}},
    "cloudonix-vapi.yaml": {"domains": ["cxguide.cloudonix.net"]},
    "multi-carrier.yaml": {"numbers": {"wavix": ["+61290597521"], "didlogic": ["+31201234567"]}},
}
EDITS = {  # one edit a user would make, per example (besides rotating every secret)
    "vapi-sip.yaml": ("you've reached me over SIP.", "you've reached me over SIP, edited."),
    "byo-trunk.yaml": ("Thanks for calling, how can I help?", "Thanks for calling, edited."),
    "wavix-vapi.yaml": ("How can I help?", "How can I help, edited?"),
    "cloudonix-vapi.yaml": ("https://hooks.example.com/cloudonix/to-vapi.xml",
                            "https://hooks.example.com/cloudonix/to-vapi-v2.xml"),
    "didlogic-vapi.yaml": ("Goedendag, how can I help you?", "Goedendag, edited."),
    "multi-carrier.yaml": ("Hello, support here.", "Hello, support here, edited."),
    "wavix-openai.yaml": ("{openai: proj_XnGzQBp38qGPqjV5GaYVXVGY, agent: support}",
                          "{openai: proj_XnGzQBp38qGPqjV5GaYVXVGY, agent: support, residency: eu}"),
}


def _exchange(vendor: str, method: str, path: str, status: int, answer: object, body: object = None,
              query: str = "") -> Exchange:
    raw = b"" if body is None else json.dumps(body).encode()
    return Exchange(vendor, method, path, query, {"authorization": "Bearer k"}, raw, Response(status, answer))


def test_checker_enforces_required_and_additional_properties_false() -> None:
    summary = {"id": 1, "name": "67758", "callerid": "14067704205", "multiple_numbers": False, "label": "t",
               "auth_method": "Digest", "host_request": None, "status": "active", "talk_time": 0, "charge": "0",
               "access_token": "x"}
    page = {"current_page": 1, "per_page": 100, "total": 1, "total_pages": 1}
    ok = _exchange("wavix", "GET", "/v1/trunks", 200, {"sip_trunks": [summary], "pagination": page})
    assert contract.check(ok) == []
    extra = _exchange("wavix", "GET", "/v1/trunks", 200,
                      {"sip_trunks": [{**summary, "ip_restrict": False}], "pagination": page})
    assert any("ip_restrict" in v.message for v in contract.check(extra))
    missing = _exchange("wavix", "GET", "/v1/trunks", 200,
                        {"sip_trunks": [{k: v for k, v in summary.items() if k != "status"}], "pagination": page})
    assert any("'status' is a required property" in v.message for v in contract.check(missing))


def test_checker_takes_what_the_vendor_takes_and_refuses_what_it_refuses() -> None:
    assert contract.check(_exchange("vapi", "GET", "/assistant", 200, [], query="limit=2.0")) == []
    assert contract.check(_exchange("vapi", "GET", "/assistant", 400, {}, query="limit=5000"))  # over the max
    assert contract.check(_exchange("vapi", "GET", "/nowhere", 404, {}))[0].where == "operation"
    app = {"type": "cxml", "url": "https://x", "method": "POST"}
    path = "/customers/self/domains/d.example/applications/7"
    assert contract.check(_exchange("cloudonix", "PUT", path, 200, {"id": 7, **app}, body=app)) == []
    short = contract.check(_exchange("cloudonix", "PUT", path, 200, {"id": 7, **app}, body={"url": "https://x"}))
    assert {re.sub(r"'(\w+)'.*", r"\1", v.message.split(": ", 1)[1]) for v in short} == {"type", "method"}


def _destroy_all(cli: Cli, name: str) -> None:
    """The same stack with every resource removed: apply deletes (numbers lose their routing only)."""
    text = (STACKS / name).read_text()
    head = text.split("\ntrunks:")[0].split("\ntools:")[0].split("\nassistants:")[0].split("\nnumbers:")[0]
    stack = cli.stack(name, head + "\n")
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)


@pytest.mark.parametrize("name", sorted(EDITS))
def test_every_example_applies_edits_and_destroys_within_the_vendor_specs(name: str, cli: Cli,
                                                                          sandbox: SandboxServer) -> None:
    seed = SEEDS.get(name, {})
    sandbox.seed(numbers=seed.get("numbers"), domains=seed.get("domains"))
    stack = cli.stack(name)
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    old, new = EDITS[name]
    cli.edit(stack, old, new)
    for var in [v for v in cli.env if v.endswith("_PASSWORD")]:
        cli.env[var] = cli.env[var] + "-rotated"
    cli("plan", str(stack), "--detailed-exitcode", code=2)
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    _destroy_all(cli, name)
    assert sandbox.stats()["statuses"]  # the traffic above went through the checked emulators
    if name == "cloudonix-vapi.yaml":  # deleted, not forgotten, though the stack names the domain no more
        base = "/customers/self/domains/cxguide.cloudonix.net"
        assert _cloudonix(sandbox, f"{base}/trunks").status_code == 404  # an empty list is a 404 there
        assert _cloudonix(sandbox, f"{base}/dnids").status_code == 404
        apps = _cloudonix(sandbox, f"{base}/applications").json()
        assert [a["name"] for a in apps if a["type"] == "cxml"] == []


def _cloudonix(sandbox: SandboxServer, path: str) -> httpx.Response:
    """A read that waits out Cloudonix's 10 requests per 3 s."""
    with sandbox.vendor("cloudonix") as cx:
        for _ in range(20):
            response = cx.get(path)
            if response.status_code != 429:
                return response
            time.sleep(0.5)
    return response


def test_the_emulators_are_never_stricter_than_the_specs(sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": [f"+1555000{i:04d}" for i in range(120)]})
    page = sandbox.get("wavix", "/v1/numbers", per_page=500)  # the spec sets no maximum
    assert page["pagination"]["per_page"] == 100 and len(page["items"]) == 100
    assert page["pagination"]["total_pages"] == 2
    assert len(sandbox.get("vapi", "/assistant", limit="2.0")) == 0  # the SDK sends floats


# -- what the checker catches besides bodies (issue 19, item 7): each exchange below gave 0 violations before ---

UUID = "7f8c2a9e-1b34-4c5d-9e6f-0a1b2c3d4e5f"


def _wheres(exchange: Exchange) -> set[str]:
    return {v.where for v in contract.check(exchange)}


def test_openai_traffic_is_held_to_its_document() -> None:
    path = "/v1/realtime/calls/rtc_0123456789abcdef0123456789abcdef/accept"
    assert contract.check(_exchange("openai", "POST", path, 200, None, body={"type": "realtime"})) == []
    assert _wheres(_exchange("openai", "POST", path, 200, None, body={"model": "gpt-realtime"})) == {"request"}
    assert _wheres(_exchange("openai", "POST", path, 400, {"message": "x"}, body={})) == {"request", "response 400"}


def test_didlogic_traffic_is_held_to_the_shapes_of_its_fact_sheet() -> None:
    account = {"id": 1, "name": "10001", "host": "dynamic", "created_at": "2026-01-01 00:00:00 UTC"}
    ok = _exchange("didlogic", "GET", "/v1/sipaccounts/10001", 200, {"sipaccount": account})
    assert contract.check(ok) == []
    leaked = _exchange("didlogic", "GET", "/v1/sipaccounts/10001", 200, {"sipaccount": {**account, "password": "x"}})
    assert _wheres(leaked) == {"response 200"}  # a write-only password in an answer
    form = Exchange("didlogic", "POST", "/v1/purchases/31201234567/destinations", "",
                    {"authorization": "Bearer k", "content-type": "application/x-www-form-urlencoded"},
                    b"destination%5Bdestination%5D=sip%3Aa%40b&destination%5Bpriority%5D=1",
                    Response(200, {"did_destination": {"id": 1, "destination": "sip:a@b", "transport": 1,
                                                       "priority": 1, "callhunt": False, "active": True}}))
    assert _wheres(form) == {"request"}  # priority cannot be set (didlogic-api.md)


def test_missing_or_wrong_auth_headers_are_violations() -> None:
    for headers in ({}, {"authorization": "Token k"}, {"authorization": "Bearer "}):
        exchange = Exchange("vapi", "GET", "/assistant", "", headers, b"", Response(200, []))
        found = contract.check(exchange)
        assert {v.where for v in found} == {"auth"} and len(found) == 2, headers  # and it was answered 200
    refused = Exchange("vapi", "GET", "/assistant", "", {}, b"", Response(401, {"message": "Invalid Key",
                                                                                "statusCode": 401}))
    assert [v.where for v in contract.check(refused)] == ["auth"]
    legacy = Exchange("wavix", "GET", "/v1/trunks", "appid=k", {}, b"",
                      Response(200, {"sip_trunks": [], "pagination": {"current_page": 1, "per_page": 100,
                                                                      "total": 0, "total_pages": 0}}))
    assert contract.check(legacy) == []  # Wavix's legacy key parameter


@pytest.mark.parametrize(("vendor", "path", "body"), [
    ("vapi", "/assistant", {"error": "Too Many Requests"}),
    ("wavix", "/v1/trunks", {"message": "Too Many Requests", "statusCode": 429}),
    ("openai", "/v1/webhook_endpoints", {"message": "slow down"}),
    ("didlogic", "/v1/sipaccounts", {"message": "Service Unavailable"}),
])
def test_429_and_5xx_bodies_have_the_vendors_error_envelope(vendor: str, path: str, body: object) -> None:
    for status in (429, 503):
        exchange = Exchange(vendor, "GET", path, "", {"authorization": "Bearer k"}, b"", Response(status, body))
        assert _wheres(exchange) == {f"response {status}"}, (vendor, status)


def test_an_emulator_refusing_as_invalid_what_the_spec_accepts_is_a_violation() -> None:
    refused = _exchange("vapi", "POST", "/assistant", 400, {"message": ["name must be a string"], "error":
                                                            "Bad Request", "statusCode": 400}, body={"name": "A"})
    assert [v.message.split(":")[0] for v in contract.check(refused)] == ["the emulator refused as invalid a "
                                                                          "request the spec accepts"]
    business = _exchange("vapi", "POST", "/phone-number", 400, {"message": "Phone number +1 already exists.",
                                                                "error": "Bad Request", "statusCode": 400},
                         body={"provider": "vapi", "sipUri": "sip:a@sip.vapi.ai"})
    assert contract.check(business) == []  # a business rule no schema states: a single-string 400


def test_null_on_an_update_field_the_vendor_does_not_clear_with_null_is_a_violation() -> None:
    answer = {"id": UUID, "orgId": UUID, "createdAt": "2026-01-01T00:00:00.000Z",
              "updatedAt": "2026-01-01T00:00:00.000Z", "type": "dtmf"}
    cleared = _exchange("vapi", "PATCH", f"/tool/{UUID}", 200, answer, body={"type": "dtmf", "messages": None})
    assert contract.check(cleared) == []  # a top-level key cleared with null: the docs do it
    assert _wheres(_exchange("vapi", "PATCH", f"/tool/{UUID}", 200, answer, body={"type": None})) == {"request"}
    squad = {**answer, "members": []}
    del squad["type"]
    assert _wheres(_exchange("vapi", "PATCH", f"/squad/{UUID}", 200, squad, body={"members": None})) == {"request"}
    nested = _exchange("vapi", "PATCH", f"/tool/{UUID}", 200, answer,
                       body={"type": "dtmf", "rejectionPlan": {"conditions": None}})
    assert _wheres(nested) == {"request"}  # only top-level keys clear with null


@pytest.mark.parametrize("bad", ["None", "%7Bid%7D", "12345", "not-a-uuid"])
def test_a_malformed_path_id_is_a_violation(bad: str) -> None:
    exchange = _exchange("vapi", "GET", f"/assistant/{bad}", 404, {"message": "Assistant not found",
                                                                    "error": "Not Found", "statusCode": 404})
    assert _wheres(exchange) == {"path"}
    assert contract.check(_exchange("vapi", "GET", f"/assistant/{UUID}", 404, {
        "message": "Assistant not found", "error": "Not Found", "statusCode": 404})) == []
