"""The defects a new user and an attacker hit (issue 23), each as it was reproduced: one located line (or the
right exit code), no traceback, no request, no secret. The bad-stack corpus holds the stack-only ones
(tests/bad_stacks/42-46: gateway addresses, a number with spaces)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests import contract
from tests.conftest import CANARIES, VENDORS, Cli, SandboxServer, assert_no_canary, start_server, stop_server
from voxplan.sandbox import Sandbox, SandboxTransport
from voxplan.stack import telephony
from voxplan.state.postgres import PostgresStore, location


@pytest.mark.parametrize(("address", "problem"), [
    ("203.0.113.10", None),
    ("10.20.0.5", None),  # a PBX over a VPN or a private interconnect: voxplan cannot see the route
    ("192.168.1.20", None),
    ("100.64.0.7", None),
    ("2001:db8::10", None),
    ("[2001:db8::10]", None),
    ("sip.example.com", None),
    ("255.255.255.255", "is the broadcast address"),
    ("0.0.0.0", "is the unspecified address"),
    ("::", "is the unspecified address"),
    ("224.0.0.1", "is a multicast address"),
    ("ff02::1", "is a multicast address"),
    ("127.0.0.1", "is a loopback address"),
    ("127.8.9.10", "is a loopback address"),
    ("[::1]", "is a loopback address"),
    ("169.254.10.1", "is a link-local address"),
    ("fe80::1", "is a link-local address"),
    ("240.0.0.1", "is a reserved address"),
])
def test_gateway_addresses_no_sip_peer_can_have_are_refused(address: str, problem: str | None) -> None:
    found = telephony.gateway_problem(address)
    assert (found.message.partition(",")[0] if found else None) == problem


def test_a_number_written_with_spaces_is_refused_everywhere_a_number_goes(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("s.yaml", """version: 1
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}
trunks:
  pbx: {carrier: byo, gateways: [{ip: 203.0.113.10}], auth: {username: vapi-trunk, password: long-enough-1}}
assistants:
  a: {name: A}
numbers:
  "+14155550199": {carrier: byo, trunk: pbx}
routes:
  "+1 415 555 0199": {assistant: a}
""")
    for command in ("validate", "plan"):
        sandbox.clear_stats()
        result = cli(command, str(stack), code=1)
        assert result.stderr.strip().splitlines()[0] == (
            f"{stack}:11:3: routes.+1 415 555 0199: '+1 415 555 0199' is not in E.164 form (it means +14155550199) "
            "(hint: write +14155550199)")
        assert sandbox.stats()["total"] == 0


def test_an_empty_password_from_the_environment_is_measured_like_any_other(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    where = f"{stack}:21:17: trunks.office-pbx.auth.password: the password is shorter than 8 characters"
    for value in ("", "abc"):
        cli.env["PBX_TRUNK_PASSWORD"] = value
        for command in (["validate", "--sandbox"], ["validate"], ["plan"], ["apply", "--auto-approve"]):
            sandbox.clear_stats()
            result = cli(*command, str(stack), code=1)
            assert [line for line in result.stderr.splitlines() if "warning:" not in line
                    and not line.endswith("nothing was sent.")] == [
                f"{where} (hint: use a long random password)"], (value, command, result.stderr)
            assert sandbox.stats()["total"] == 0
    del cli.env["PBX_TRUNK_PASSWORD"]  # unset is not empty: offline a warning, online one error (not two)
    assert "PBX_TRUNK_PASSWORD is not set" in cli("validate", str(stack), code=0).stderr
    errors = [line for line in cli("plan", str(stack), code=1).stderr.splitlines() if "warning:" not in line
              and not line.endswith("nothing was sent.")]
    assert errors == [f"{stack}:21:17: environment variable PBX_TRUNK_PASSWORD is not set "
                      "(hint: export PBX_TRUNK_PASSWORD=... or run with --sandbox)"]


# --- a wrong API key can be tried: the sandbox's --api-key, and doctor's exit code -------------------------

LISTS = {"vapi": "/assistant", "wavix": "/v1/trunks", "didlogic": "/api/v1/sipaccounts",
         "cloudonix": "/customers/self", "openai": "/v1/webhook_endpoints"}
REFUSED = {  # each vendor's own answer to a wrong key (fact sheets; didlogic answers 403, not 401)
    "vapi": (401, {"error": "Unauthorized", "statusCode": 401}),
    "wavix": (401, {"success": False, "message": "Unauthorized"}),
    "didlogic": (403, {"error": "Access denied"}),
    "cloudonix": (401, {"status": False, "message": "Unauthorized"}),
    "openai": (401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                               "param": None, "code": "invalid_api_key"}}),
}


@pytest.mark.parametrize("vendor", sorted(LISTS))
def test_the_in_process_sandbox_given_a_key_refuses_any_other_in_its_vendors_shape(vendor: str) -> None:
    keyed = httpx.Client(transport=SandboxTransport(Sandbox(api_key="the-key")), base_url=f"http://sandbox/{vendor}")
    status, body = REFUSED[vendor]
    wrong = keyed.get(LISTS[vendor], headers={"Authorization": "Bearer not-the-key"})
    assert wrong.status_code == status
    assert {k: v for k, v in wrong.json().items() if k in body} == body
    assert keyed.get(LISTS[vendor], headers={"Authorization": "Bearer the-key"}).status_code == 200
    assert keyed.get(LISTS[vendor]).status_code == status  # no key at all
    assert {v.where for v in contract.take()} <= {"auth"}  # sent without a key on purpose
    anyone = httpx.Client(transport=SandboxTransport(Sandbox()), base_url=f"http://sandbox/{vendor}")
    assert anyone.get(LISTS[vendor], headers={"Authorization": "Bearer whatever"}).status_code == 200  # default


def test_a_per_vendor_key_leaves_the_others_open() -> None:
    box = Sandbox(api_key={"vapi": "vk"})
    client = httpx.Client(transport=SandboxTransport(box), base_url="http://sandbox")
    assert client.get("/vapi/assistant", headers={"Authorization": "Bearer other"}).status_code == 401
    assert client.get("/wavix/v1/trunks", params={"appid": "other"}).status_code == 200


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[SandboxServer]:
    """A served sandbox that accepts only the canary keys, each for its vendor: one for the module's tests
    (each starts from `reset`, as the `sandbox` fixture does), not one process per test."""
    server = start_server(*(arg for v in ("vapi", "wavix", "didlogic") for arg in
                            ("--api-key", f"{v}={CANARIES[f'{v.upper()}_API_KEY']}")))
    yield server
    stop_server(server)


@pytest.fixture
def keyed(keyed_server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    keyed_server.reset()
    monkeypatch.chdir(tmp_path)
    env = {**{f"VOXPLAN_{v.upper()}_BASE_URL": f"{keyed_server.url}/{v}" for v in VENDORS}, "NO_COLOR": "1",
           **CANARIES}
    runner = Cli(tmp_path, env)
    yield runner
    assert_no_canary(runner.outputs, tmp_path)


@pytest.mark.parametrize(("stack", "vendor", "status"), [("wavix-vapi.yaml", "vapi", 401),
                                                         ("wavix-vapi.yaml", "wavix", 401),
                                                         ("didlogic-vapi.yaml", "didlogic", 403)])
def test_doctor_exits_1_naming_the_vendor_that_refused_the_key(keyed: Cli, stack: str, vendor: str,
                                                               status: int) -> None:
    path = keyed.stack(stack)
    assert "[vapi] " in keyed("doctor", str(path), code=0).stdout  # the right keys: findings, exit 0
    keyed.env[f"{vendor.upper()}_API_KEY"] = "not-the-key"
    result = keyed("doctor", str(path), code=1)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {vendor}: HTTP {status}: the API key was refused (") and \
        line.endswith(f"); check providers.{vendor}.api_key"), line
    assert "Traceback" not in result.stderr and "not-the-key" not in result.stderr


def test_plan_with_a_wrong_key_against_a_keyed_sandbox_fails_naming_the_address(keyed: Cli) -> None:
    path = keyed.stack("byo-trunk.yaml")
    keyed.env["VAPI_API_KEY"] = "not-the-key"
    [line] = keyed("plan", str(path), code=1).stderr.strip().splitlines()
    assert line.startswith("Error: refresh vapi.assistant: HTTP 401: GET /assistant: Invalid Key."), line


# --- a non-ASCII character in an API key ----------------------------------------------------------------

@pytest.mark.parametrize("key", ["sk-caf\u00e9-123456", "sk-abc\n", "sk-\u200babc"])
def test_an_api_key_no_http_header_can_carry_is_a_located_error_before_any_request(
        cli: Cli, sandbox: SandboxServer, key: str) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli.env["VAPI_API_KEY"] = key
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        sandbox.clear_stats()
        result = cli(*command, str(stack), code=1)
        errors = [line for line in result.stderr.splitlines() if not line.endswith("nothing was sent.")]
        assert len(errors) == 1 and errors[0].startswith(
            f"{stack}:8:14: providers.vapi.api_key (from env:VAPI_API_KEY) has a "), result.stderr
        assert "an API key travels in an HTTP header" in errors[0] and key.strip() not in result.stderr
        assert sandbox.stats()["total"] == 0


def test_an_api_key_from_the_environment_alone_is_named_by_its_variable(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("s.yaml", "version: 1\nassistants:\n  a: {name: A}\n")  # no providers: VAPI_API_KEY
    cli.env["VAPI_API_KEY"] = "sk-caf\u00e9-123456"
    [line] = cli("plan", str(stack), code=1).stderr.strip().splitlines()
    assert line == ("Error: VAPI_API_KEY (the vapi API key) has a non-ASCII character at position 7 of 14: an API "
                    "key travels in an HTTP header, which carries printable ASCII only; copy the key again")
    assert sandbox.stats()["total"] == 0


# --- the state database's password in state errors ------------------------------------------------------

def _with_password(server_url: str, form: str, password: str, **override: str) -> str:
    """`server_url` (any form psycopg reads) with `password`, written as `form` says."""
    params = {**conninfo_to_dict(server_url), **override}
    params.pop("password", None)
    if form == "keyvalue":
        return make_conninfo(**params, password=password)
    host, port, user, db = params.get("host", ""), params.get("port", ""), params.get("user", ""), params["dbname"]
    query = {"host": host} if host.startswith("/") else {}  # a socket directory goes in the query
    netloc = "" if host.startswith("/") else host + (f":{port}" if port else "")
    if form == "userinfo":
        return f"postgresql://{quote(user)}:{quote(password, safe='')}@{netloc}/{db}?{urlencode(query)}".rstrip("?")
    return f"postgresql://{quote(user)}@{netloc}/{db}?{urlencode({**query, 'password': password})}"


FORMS = ("userinfo", "query", "keyvalue")
BACKEND = 'backend: {postgres: {url: "${env:VOXPLAN_PG_URL}"}}\n'


@pytest.fixture
def pg_stack(cli: Cli) -> Path:
    stack = cli.stack("byo-trunk.yaml")
    stack.write_text(stack.read_text().replace("stack: byo-trunk\n", "stack: byo-trunk\n" + BACKEND))
    return stack


@pytest.mark.parametrize("form", FORMS)
def test_cannot_reach_names_host_port_and_database_only(cli: Cli, pg_stack: Path, pg_url: str, form: str) -> None:
    cli.env["VOXPLAN_PG_URL"] = _with_password(pg_url, form, CANARIES["CANARY"], host="127.0.0.1", port="1")
    [line] = cli("plan", str(pg_stack), code=1).stderr.strip().splitlines()
    db = conninfo_to_dict(pg_url)["dbname"]
    assert line.startswith(f"Error: cannot reach the state database 127.0.0.1:1/{db}: "), line
    # and the cli fixture finds no canary, in any encoding, in any output


@pytest.mark.parametrize("form", FORMS)
def test_a_held_lock_names_host_port_and_database_only(cli: Cli, pg_stack: Path, pg_url: str, form: str) -> None:
    cli.env["VOXPLAN_PG_URL"] = _with_password(pg_url, form, CANARIES["CANARY"])
    holder = PostgresStore(pg_url, "byo-trunk")
    with holder.lock():
        [line] = cli("plan", str(pg_stack), code=1).stderr.strip().splitlines()
    holder.close()
    assert line.startswith(f"Error: postgres {location(pg_url)} state byo-trunk/default is locked by "), line
    assert "@" not in location(pg_url) and "password" not in line


@pytest.mark.parametrize("form", FORMS)
def test_a_corrupt_state_names_host_port_and_database_only(cli: Cli, pg_stack: Path, pg_url: str, form: str) -> None:
    store = PostgresStore(pg_url, "byo-trunk")
    store.commit({"stack": "byo-trunk", "serial": 1}, {})
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:  # a journal row that is not a record
        conn.execute("INSERT INTO voxplan_journal (stack, env, record) VALUES ('byo-trunk', 'default', '\"garbage\"')")
    cli.env["VOXPLAN_PG_URL"] = _with_password(pg_url, form, CANARIES["CANARY"])
    [line] = cli("plan", str(pg_stack), code=1).stderr.strip().splitlines()
    assert line.startswith(f"Error: postgres {location(pg_url)} state byo-trunk/default (stack byo-trunk): "
                           "journal row "), line


def test_a_connection_string_psycopg_cannot_parse_is_not_shown(cli: Cli, pg_stack: Path) -> None:
    secret = CANARIES["CANARY"].replace("'", "").replace("\\", "")
    cli.env["VOXPLAN_PG_URL"] = f"host=127.0.0.1 port=1 password=x {secret} dbname=x"  # a space in it: unparsable
    [line] = cli("plan", str(pg_stack), code=1).stderr.strip().splitlines()
    assert line == ("Error: the state database connection string (a connection string that cannot be parsed) is not "
                    "one psycopg can parse; check the backend URL")
    cli.env["VOXPLAN_BACKEND"] = f"host=127.0.0.1 password={secret}"  # not a URL, not a backend name
    [line] = cli("plan", str(pg_stack), code=1).stderr.strip().splitlines()
    assert line.startswith("Error: backend (not shown: it may hold a password) is not known"), line
