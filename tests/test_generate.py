"""`voxplan generate`, end to end against `voxplan sandbox serve`: the round trip of every example stack, an
account made by hand, another stack's objects, and the request floor."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CANARIES, STACKS, Cli, SandboxServer
from voxplan import providers, workflow
from voxplan.core.context import RunContext
from voxplan.providers import PUBLISHED
from voxplan.providers.reverse import slug

EXAMPLES = sorted(STACKS.glob("*.yaml"))
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def declared(text: str) -> str:
    """A stack's text without its comments (the list of what was left out names objects by id, on purpose)
    and without its `imports:` (adopting by id is what they are for)."""
    body = text.split("\nimports:\n")[0]
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("#"))


def seed_for(stack: Path, sandbox: SandboxServer) -> None:
    """What the account owner bought by hand for `stack`: its numbers and Cloudonix domains."""
    loaded = workflow.load(stack, RunContext(sandbox=True, env={}))
    numbers: dict[str, list[str]] = {}
    domains: list[str] = []
    for res in loaded.desired:
        seed = providers.adapter_class(res.kind).sandbox_seed(res.body)
        for vendor, wanted in (seed.get("numbers") or {}).items():
            numbers.setdefault(vendor, []).extend(wanted)
        domains += seed.get("domains") or []
    sandbox.seed(numbers=numbers, domains=domains)


def forget_state(workdir: Path) -> None:
    shutil.rmtree(workdir / ".voxplan")


def vouch(cli: Cli, original: Path, generated: Path) -> None:
    """Give each secret the generated stack names the live value (the user's vouching): the original
    stack's environment variable for the same secret, found by where it sits."""
    theirs = yaml.safe_load(original.read_text())
    mine = yaml.safe_load(generated.read_text())
    by_slug = {slug(str(t.get("name") or k)): t for k, t in (theirs.get("trunks") or {}).items()}
    by_slug.update(theirs.get("trunks") or {})  # a Cloudonix trunk keeps its key (its voice application's name)
    for key, trunk in (mine.get("trunks") or {}).items():
        source = by_slug[key]
        for path in (("password",), ("auth", "password"), ("outbound", "auth", "password")):
            ours, original_value = _at(trunk, path), _at(source, path)
            if isinstance(ours, str) and ours.startswith("${env:"):
                cli.env[ours[6:-1]] = cli.env[str(original_value)[6:-1]]
    for key, number in (mine.get("numbers") or {}).items():
        password = _at(number, ("auth", "password"))
        if isinstance(password, str):
            cli.env[password[6:-1]] = cli.env[str(_at(theirs["numbers"][key], ("auth", "password")))[6:-1]]


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for step in path:
        data = data.get(step) if isinstance(data, dict) else None
    return data


def plan_json(cli: Cli, stack: Path) -> dict[str, Any]:
    result = cli("plan", str(stack), "--format", "json", "--detailed-exitcode", code=None)
    assert result.exit_code in (0, 2), result.output
    return dict(json.loads(result.stdout))


def only_imports(plan: dict[str, Any]) -> list[str]:
    """Every change of `plan` that is not an import, a re-sent write-only secret or an owner mark (or the
    publication of what lives in the state backend: OpenAI's routing, which no vendor holds)."""
    wrong = []
    for rc in plan["resource_changes"]:
        fields = rc["change"]["fields"]
        if rc["address"].split("/")[0] in PUBLISHED and rc["change"]["actions"] == ["create"]:
            continue
        if rc["change"]["actions"] == ["no-op"] and (rc["importing"] or not fields):
            continue
        resent = all(f["sensitive"] for f in fields) and "which voxplan cannot read back" in (rc["reason"] or "")
        if rc["importing"] and rc["change"]["actions"] == ["update"] and resent:
            continue
        wrong.append(f"{rc['address']}: {rc['change']['actions']} {[f['path'] for f in fields]}")
    return wrong


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_round_trip_of_every_example(example: Path, cli: Cli, sandbox: SandboxServer) -> None:
    """Apply the example, forget its state, generate from the account into a new directory: the plan only
    imports (and re-sends write-only secrets, labelled so); every reference is a key, no secret is in the
    file; with --state the plan is empty; applying either way draws no 4xx and leaves a plan with nothing."""
    name = yaml.safe_load(example.read_text())["stack"]
    seed_for(example, sandbox)
    original = cli.stack(example.name)
    cli("apply", "--auto-approve", str(original))
    forget_state(cli.workdir)

    fresh = cli.workdir / "fresh"
    fresh.mkdir()
    generated = fresh / f"{name}.yaml"
    sandbox.clear_stats()
    before = sandbox.stats()["mutations"]
    made = cli("generate", "--stack", name, "--out", str(generated))
    assert sandbox.stats()["mutations"] == before  # generate only reads
    text = generated.read_text()
    assert not UUID.search(declared(text)), "a raw id in the generated stack"
    outside_imports = re.sub(r"\nimports:\n(  .*\n)*", "\n", text)  # adopting by id is what imports: are for
    for vendor_id in _ids(sandbox):
        assert not re.search(rf"(?<![\w.-]){re.escape(vendor_id)}(?![\w.-])", outside_imports), vendor_id
    for secret in CANARIES.values():
        assert secret not in text
    assert "Left out" not in text, text  # every object of the example has its place
    vouch(cli, original, generated)

    plan = plan_json(cli, generated)
    assert only_imports(plan) == [], made.stderr
    published = sum(1 for rc in plan["resource_changes"] if rc["address"].split("/")[0] in PUBLISHED)
    assert plan["summary"]["import"] == len(plan["resource_changes"]) - published
    assert plan["summary"]["add"] == published and plan["summary"]["destroy"] == 0

    sandbox.clear_stats()
    cli("apply", "--auto-approve", str(generated))  # re-sends the vouched secrets: no 4xx
    refused = [s for s in sandbox.stats()["statuses"] if s.split()[1].startswith("4") and s.split()[1] != "429"]
    assert not refused  # 429s are pacing (Cloudonix counts the run before this one too), retried
    cli("plan", str(generated), "--detailed-exitcode", code=0)

    again = cli.workdir / "again"
    again.mkdir()
    with_state = again / f"{name}.yaml"
    recorded = cli("generate", "--stack", name, "--out", str(with_state), "--state")
    assert "Recorded" in recorded.stderr
    vouch(cli, original, with_state)
    cli("plan", str(with_state), "--detailed-exitcode", code=0)
    before = sandbox.stats()["mutations"]
    cli("apply", "--auto-approve", str(with_state))
    assert sandbox.stats()["mutations"] == before  # it sends nothing


def _ids(sandbox: SandboxServer) -> list[str]:
    """Every remote id on the account that is not also a name (Wavix and didlogic ids are small integers,
    which a number or a port may contain: only ids of 6 characters or more are looked for)."""
    ids = [o["id"] for coll in ("credential", "phone-number", "assistant", "tool") for o in sandbox.objects(coll)]
    ids += [str(t["name"]) for t in sandbox.get("wavix", "/v1/trunks")["sip_trunks"]]  # server-made SIP logins
    ids += [str(a["name"]) for a in sandbox.get("didlogic", "/v1/sipaccounts")["sipaccounts"]]
    ids += [e["id"] for e in sandbox.get("openai", "/v1/webhook_endpoints")["data"]]
    return [i for i in ids if len(i) >= 5]


PBX_PASSWORD = 'hand-made-pbx-"9\\q\'%+\u00e4'
WAVIX_PASSWORD = "hand-made-wavix-7Kx'%+"
SIP_PASSWORD = "hand-made-sip-password-0123"  # 20-40 characters


def make_by_hand(sandbox: SandboxServer) -> dict[str, Any]:
    """An account set up in the dashboards, with no stack: what a team has before voxplan."""
    sandbox.seed(numbers={"wavix": ["+14067704205", "+61290597521", "+61290597522"]})

    def post(vendor: str, path: str, body: dict[str, Any], method: str = "POST") -> dict[str, Any]:
        with sandbox.vendor(vendor) as client:
            answer = client.request(method, path, json=body)
            assert answer.status_code < 300, answer.text
            return dict(answer.json())

    trunk = post("wavix", "/v1/trunks", {
        "label": "Main", "password": WAVIX_PASSWORD, "callerid": "14067704205", "ip_restrict": False,
        "didinfo_enabled": True, "call_restrict": True, "call_limit": 5, "cost_limit": False,
        "channels_restrict": False, "rewrite_enabled": False, "transcription_enabled": False,
        "transcription_threshold": 6, "call_recording_enabled": True})
    wavix_cred = post("vapi", "/credential", {
        "provider": "byo-sip-trunk", "name": "Main",
        "gateways": [{"ip": ip} for ip in ("95.211.82.14", "209.58.144.243", "23.108.101.90", "173.234.106.26")],
        "outboundAuthenticationPlan": {"authUsername": trunk["name"], "authPassword": WAVIX_PASSWORD},
        "outboundLeadingPlusEnabled": True})
    pbx = post("vapi", "/credential", {
        "provider": "byo-sip-trunk", "name": "Office PBX",
        "gateways": [{"ip": "203.0.113.50"}, {"ip": "198.51.100.7", "inboundEnabled": False, "port": 5061,
                                               "outboundProtocol": "tls"}],
        "outboundAuthenticationPlan": {"authUsername": "pbx-user", "authPassword": PBX_PASSWORD},
        "techPrefix": "9"})
    tool = post("vapi", "/tool", {
        "type": "transferCall", "function": {"name": "transfer_to_sales", "description": "Transfer to sales."},
        "destinations": [{"type": "number", "number": "+14155550100", "message": "Connecting you to sales.",
                          "description": "The caller wants to buy.",
                          "transferPlan": {"mode": "warm-transfer-say-message", "message": "A caller for sales."}}]})
    reception = post("vapi", "/assistant", {
        "name": "Reception Desk", "firstMessage": "Hello, reception.",
        "model": {"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.4, "toolIds": [tool["id"]],
                  "messages": [{"role": "system", "content": "You are the receptionist."}]},
        "voice": {"provider": "11labs", "voiceId": "21m00Tcm4TlvDq8ikWAM"}, "silenceTimeoutSeconds": 45,
        "endCallPhrases": ["bye now"], "metadata": {"team": "front"}})
    theirs = post("vapi", "/assistant", {"name": "Billing", "metadata": {"voxplan": "billing-stack"}})
    post("vapi", "/phone-number", {"provider": "byo-phone-number", "number": "+14067704205", "name": "Main line",
                                   "credentialId": wavix_cred["id"], "assistantId": reception["id"]})
    post("vapi", "/phone-number", {"provider": "byo-phone-number", "number": "+61290597521",
                                   "numberE164CheckEnabled": False, "credentialId": pbx["id"],
                                   "assistantId": reception["id"],
                                   "fallbackDestination": {"type": "number", "number": "+61280000000"}})
    post("vapi", "/phone-number", {"provider": "byo-phone-number", "number": "+61290597522",
                                   "credentialId": pbx["id"], "assistantId": theirs["id"]})
    post("vapi", "/phone-number", {"provider": "vapi", "sipUri": "sip:desk-line@sip.vapi.ai",
                                   "authentication": {"username": "desk-line-user-000001", "password": SIP_PASSWORD},
                                   "server": {"url": "https://example.com/hook", "timeoutSeconds": 30}})
    numbers = {n["number"]: n for n in sandbox.get("wavix", "/v1/numbers", per_page=100)["items"]}
    post("wavix", f"/v1/numbers/{numbers['14067704205']['id']}", {"destinations": [
        {"destination": f"[did]@{wavix_cred['id']}.sip.vapi.ai", "transport": 1, "priority": 1}]}, method="PATCH")
    post("wavix", f"/v1/numbers/{numbers['61290597522']['id']}", {"destinations": [
        {"destination": "sip:a@pbx.example.com", "transport": 1, "priority": 1},
        {"destination": "61280000000", "transport": 4, "priority": 2}]}, method="PATCH")
    post("openai", "/v1/webhook_endpoints", {"url": "https://voice.example.com/openai/webhook", "name": "calls",
                                              "event_types": ["realtime.call.incoming"]})
    return {"wavix_trunk": trunk, "wavix_cred": wavix_cred, "pbx": pbx, "reception": reception, "theirs": theirs}


def account(sandbox: SandboxServer) -> dict[str, Any]:
    """Every setting on the account, by object (timestamps of the last write left out)."""
    out: dict[str, Any] = {}
    for coll in ("credential", "phone-number", "assistant", "tool"):
        for obj in sandbox.objects(coll):
            out[f"vapi {coll} {obj['id']}"] = {k: v for k, v in obj.items() if k != "updatedAt"}
    for trunk in sandbox.get("wavix", "/v1/trunks")["sip_trunks"]:
        out[f"wavix trunk {trunk['id']}"] = sandbox.get("wavix", f"/v1/trunks/{trunk['id']}")
    for number in sandbox.get("wavix", "/v1/numbers", per_page=100)["items"]:
        out[f"wavix number {number['id']}"] = number
    for endpoint in sandbox.get("openai", "/v1/webhook_endpoints")["data"]:
        out[f"openai {endpoint['id']}"] = {k: v for k, v in endpoint.items() if k != "updated_at"}
    return out


def secrets_in_place(sandbox: SandboxServer, made: dict[str, Any]) -> bool:
    [sip] = [n for n in sandbox.objects("phone-number") if n.get("provider") == "vapi"]
    return (sandbox.secret_matches(made["pbx"]["id"], "outboundAuthenticationPlan.authPassword", PBX_PASSWORD)
            and sandbox.secret_matches(made["wavix_cred"]["id"], "outboundAuthenticationPlan.authPassword",
                                       WAVIX_PASSWORD)
            and sandbox.secret_matches(str(made["wavix_trunk"]["id"]), "password", WAVIX_PASSWORD, vendor="wavix")
            and sandbox.secret_matches(sip["id"], "authentication.password", SIP_PASSWORD))


def vouch_by_hand(cli: Cli, stack: Path) -> None:
    footer = stack.read_text().split("# Set these in the environment")[1]
    for name in re.findall(r"^#   ([A-Z0-9_]+) ", footer, re.MULTILINE):
        if name.endswith("_API_KEY"):
            continue
        cli.env[name] = (WAVIX_PASSWORD if "MAIN" in name else PBX_PASSWORD if "PBX" in name else SIP_PASSWORD)


def test_a_hand_made_account_generates_a_stack_whose_apply_changes_no_setting(cli: Cli,
                                                                             sandbox: SandboxServer) -> None:
    made = make_by_hand(sandbox)
    before = account(sandbox)

    fresh = cli.workdir / "fresh" / "desk.yaml"
    fresh.parent.mkdir()
    result = cli("generate", "--stack", "desk", "--out", str(fresh))
    text = fresh.read_text()
    assert not UUID.search(declared(text))
    # what the stack format cannot say is left alone and listed: another stack's assistant and the number it
    # answers; a Wavix number with two destinations is declared, its routing untouched
    assert "'billing-stack'" in text and "numbers +61290597522: answered by assistant" in text
    assert '"+61290597522": {carrier: wavix}  # routing left as it is: 2 destinations' in text
    assert '"+61290597522": {' not in text.split("\nroutes:\n")[1]
    assert "TRUNK_MAIN_PASSWORD" in result.stderr
    refused = cli("generate", "--stack", "desk", "--out", str(cli.workdir / "x.yaml"), "--state", code=1)
    assert "set TRUNK_MAIN_PASSWORD" in refused.stderr and not (cli.workdir / "x.yaml").exists()
    vouch_by_hand(cli, fresh)

    recorded = cli.workdir / "recorded" / "desk.yaml"
    recorded.parent.mkdir()
    cli("generate", "--stack", "desk", "--out", str(recorded), "--state")
    assert recorded.read_text() == text
    mutations = sandbox.stats()["mutations"]
    cli("plan", str(recorded), "--detailed-exitcode", code=0)
    cli("apply", "--auto-approve", str(recorded))
    assert sandbox.stats()["mutations"] == mutations  # with --state it sends nothing
    assert account(sandbox) == before

    plan = plan_json(cli, fresh)
    marks = [rc["address"] for rc in plan["resource_changes"] if "marks it as this stack's" in (rc["reason"] or "")]
    assert marks == ["vapi.assistant/reception-desk"]
    assert only_imports(plan) == [f"{marks[0]}: ['update'] ['metadata.voxplan']"]  # imports, re-sent secrets, a mark
    cli("apply", "--auto-approve", str(fresh))
    after = account(sandbox)
    marked = f"vapi assistant {made['reception']['id']}"
    assert after[marked]["metadata"] == {"team": "front", "voxplan": "desk"}  # the one thing an adoption adds
    after[marked]["metadata"] = before[marked]["metadata"]
    assert after == before  # no setting changed
    assert secrets_in_place(sandbox, made)
    cli("plan", str(fresh), "--detailed-exitcode", code=0)


def test_objects_another_stack_claims_are_skipped_and_listed(cli: Cli, sandbox: SandboxServer, pg_url: str) -> None:
    """With a shared backend, what another stack's state claims is left out (listed with its owner), and so is
    what refers to it; the rest of the account is generated as usual."""
    cli.env.update(VOXPLAN_BACKEND=pg_url, VOXPLAN_FINGERPRINT_KEY="5a" * 32)
    seed_for(STACKS / "byo-trunk.yaml", sandbox)
    theirs = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(theirs))
    seed_for(STACKS / "vapi-sip.yaml", sandbox)
    mine = cli.stack("vapi-sip.yaml")
    cli("apply", "--auto-approve", str(mine))
    cli("state", "rm", str(mine), "vapi.assistant/sip-assistant", "vapi.phone_number/sip:voxplan-demo@sip.vapi.ai",
        "vapi.phone_number/sip:voxplan-router@sip.vapi.ai")

    out = cli.workdir / "new" / "vapi-sip.yaml"
    out.parent.mkdir()
    cli("generate", "--stack", "vapi-sip", "--out", str(out))
    data = yaml.safe_load(out.read_text())
    assert set(data["numbers"]) == {"sip:voxplan-demo@sip.vapi.ai", "sip:voxplan-router@sip.vapi.ai"}
    assert set(data["assistants"]) == {"my-sip-assistant"} and "trunks" not in data and "tools" not in data
    left = out.read_text().split("# Left out")[1]
    for kind in ("vapi.credential", "vapi.tool", "vapi.assistant"):
        assert f"{kind} " in left and "owned by stack 'byo-trunk'" in left
    assert left.count("owned by stack 'byo-trunk'") == 5  # credential, tool, assistant, and its two numbers


def test_carrier_filter_and_clear_errors(cli: Cli, sandbox: SandboxServer) -> None:
    seed_for(STACKS / "multi-carrier.yaml", sandbox)
    cli("apply", "--auto-approve", str(cli.stack("multi-carrier.yaml")))
    only = cli("generate", "--stack", "multi-carrier", "--carrier", "wavix")
    data = yaml.safe_load(only.stdout)
    assert set(data["providers"]) == {"vapi", "wavix"}
    assert {t["carrier"] for t in data["trunks"].values()} == {"wavix"}
    assert set(data["numbers"]) == {"+61290597521"}
    unknown = cli("generate", "--carrier", "telnyx", code=1)
    assert unknown.stderr.startswith("Error: --carrier telnyx: no such carrier (known: ")
    keyless = {k: v for k, v in cli.env.items() if not k.endswith("_API_KEY")}
    bare = Cli(cli.workdir, keyless)
    nothing = bare("generate", code=1)
    assert "no provider's API key is set" in nothing.stderr
    cli.outputs += bare.outputs
    exists = cli.workdir / "taken.yaml"
    exists.write_text("version: 1\n")
    taken = cli("generate", "--stack", "multi-carrier", "--out", str(exists), code=1)
    assert "exists and says something else" in taken.stderr and exists.read_text() == "version: 1\n"


def test_generate_reads_each_kind_once_at_the_request_floor(cli: Cli, sandbox: SandboxServer) -> None:
    """One paged list per kind; beyond it only what a stack declares of an object in full: a GET per Wavix
    trunk (its list items are summaries), a destinations list per didlogic number, and per Cloudonix domain
    its own GET and one list per kind in it, after one list of the domains."""
    for example in ("multi-carrier.yaml", "cloudonix-vapi.yaml", "wavix-openai.yaml", "byo-trunk.yaml"):
        seed_for(STACKS / example, sandbox)
        stack = cli.stack(example)
        cli("apply", "--auto-approve", str(stack))
    time.sleep(3.2)  # Cloudonix's window (10 requests per 3 s per domain) forgets the applies above
    sandbox.clear_stats()
    cli("generate")
    got = dict(sandbox.stats()["requests"])
    assert not any(s.endswith(" 429") for s in sandbox.stats()["statuses"])
    floor = {"vapi GET /credential": 1, "vapi GET /v2/phone-number": 1, "vapi GET /assistant": 1, "vapi GET /tool": 1,
             "vapi GET /squad": 1, "vapi GET /structured-output": 1, "vapi GET /v2/knowledge-base": 1,
             "wavix GET /v1/trunks": 1, "wavix GET /v1/numbers": 1, "didlogic GET /v1/sipaccounts": 1,
             "didlogic GET /v1/purchases": 1, "cloudonix GET /customers/self/domains": 1,
             "openai GET /v1/webhook_endpoints": 1}
    floor.update({f"wavix GET /v1/trunks/{t['id']}": 1 for t in sandbox.get("wavix", "/v1/trunks")["sip_trunks"]})
    floor.update({f"didlogic GET /v1/purchases/{p['number']}/destinations": 1
                  for p in sandbox.get("didlogic", "/v1/purchases")["purchases"]})
    domain = "cloudonix GET /customers/self/domains/cxguide.cloudonix.net"
    floor.update({domain: 1, **{f"{domain}/{kind}": 1 for kind in ("trunks", "applications", "dnids")}})
    assert got == floor
