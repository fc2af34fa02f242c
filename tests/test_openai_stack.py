"""OpenAI in the stack, offline and in the embedded sandbox: located validation errors, the manual
webhook step, and the accept body every agent maps to, checked against OpenAI's own OpenAPI fragment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import ROOT, Cli
from voxplan import providers
from voxplan.core.errors import AuthFailed
from voxplan.providers import openai as provider
from voxplan.providers.openai import agents

SPEC = ROOT / "voxplan" / "providers" / "openai" / "realtime-sip.openapi.json"
SHARED_SPEC = ROOT.parent / "shared" / "reference" / "specs" / "openai-realtime-sip-fragment.json"

BASE = """\
version: 1
providers:
  wavix: {api_key: "${env:WAVIX_API_KEY}"}
  openai: {api_key: "${env:OPENAI_API_KEY}"}
numbers:
  "+14067704205": {carrier: wavix}
"""


def spec_schema(name: str) -> jsonschema.Draft202012Validator:
    """A validator for one schema of OpenAI's OpenAPI fragment."""
    resource: Resource[object] = Resource.from_contents(json.loads(SPEC.read_text()), default_specification=DRAFT202012)
    registry: Registry[object] = Registry().with_resource("urn:spec", resource)
    return jsonschema.Draft202012Validator({"$ref": f"urn:spec#/components/schemas/{name}"}, registry=registry)


def test_the_shipped_fragment_is_openais_unedited() -> None:
    if SHARED_SPEC.exists():  # beside the repo wherever shared/ is laid out (sessions and CI)
        assert SPEC.read_bytes() == SHARED_SPEC.read_bytes()
    assert "RealtimeSessionCreateRequestGA" in json.loads(SPEC.read_text())["components"]["schemas"]


@pytest.mark.parametrize("agent", [
    {"model": "gpt-realtime", "voice": "marin", "instructions": "Hi."},
    {"instructions": "Hi.", "transfer": [{"to": "+17134810111", "when": "asked"}, {"to": "sip:desk@example.com"}],
     "end_call": True, "session": {"tools": [{"type": "function", "name": "lookup"}], "truncation": "auto"}},
    {"voice": {"id": "voice_1234"}, "session": {"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}},
])
def test_every_accept_body_is_a_realtime_session(agent: dict[str, object]) -> None:
    body = agents.accept_body(agent)
    assert list(spec_schema("RealtimeSessionCreateRequestGA").iter_errors(body)) == []
    assert body["type"] == "realtime"


def test_refer_targets_are_tel_or_sip_uris_the_spec_takes() -> None:
    refer = spec_schema("RealtimeCallReferRequest")
    wavix = "sip:17134810111@us.wavix.net"
    for to, uri in [("+17134810111", "tel:+17134810111"), (wavix, wavix)]:
        assert agents.refer_target(to) == uri
        assert list(refer.iter_errors({"target_uri": uri})) == []
    two = {"transfer": [{"to": "+17134810111"}, {"to": "sip:desk@example.com"}]}
    assert agents.tool_action(two, "transfer_call", '{"destination": "sip:desk@example.com"}') == (
        "refer", "sip:desk@example.com")
    assert agents.tool_action(two, "transfer_call", '{"destination": "+10000000000"}') is None  # not declared
    assert agents.tool_action(two, "end_call", "{}") is None  # not declared either


def test_each_openai_mistake_is_a_located_error(cli: Cli) -> None:
    stack = cli.stack("bad.yaml", BASE + """\
  "sip:desk@sip.vapi.ai": {carrier: vapi}
agents:
  support:
    instructions: Hi.
    transfer: [{to: "0713 481 0111"}]
    session: {voices: alloy, audio: {output: {speed: 9}}}
routes:
  "+14067704205": {openai: proj_XnGzQBp38qGPqjV5GaYVXVGY, agent: suport}
  "sip:desk@sip.vapi.ai": {openai: proj_XnGzQBp38qGPqjV5GaYVXVGY, agent: support}
""")
    lines = cli("validate", str(stack), code=1).stderr.splitlines()
    assert any(line.startswith(f"{stack}:14:66: ") and "unknown agent 'suport' (known: support)" in line
               for line in lines), lines
    stack.write_text(stack.read_text().replace("agent: suport", "agent: support"))
    lines = cli("validate", str(stack), code=1).stderr.splitlines()
    expected = {
        f"{stack}:11:21: agents.support: transfer target '0713 481 0111' is neither an E.164 number",
        f"{stack}:12:15: agents.support.session: 'voices' is not a field of the Realtime accept body",
        f"{stack}:12:54: agents.support: the accept body is not a Realtime session at audio.output.speed",
        f"{stack}:15:36: routes.sip:desk@sip.vapi.ai: OpenAI takes SIP over TLS only",
    }
    for prefix in expected:
        assert any(line.startswith(prefix) for line in lines), (prefix, lines)
    assert len(lines) == len(expected)  # validate prints one line per problem, no more


def test_a_manual_webhook_is_a_plan_step_with_the_exact_url_and_event(cli: Cli, tmp_path: Path) -> None:
    stack = cli.stack("manual.yaml", BASE.replace('openai: {api_key: "${env:OPENAI_API_KEY}"}',
                                                  'openai: {api_key: "${env:OPENAI_API_KEY}", '
                                                  'webhook_secret: "${env:OPENAI_WEBHOOK_SECRET}"}') + """\
agents:
  support: {instructions: Hi.}
routes:
  "+14067704205": {openai: proj_XnGzQBp38qGPqjV5GaYVXVGY, agent: support}
webhooks:
  calls: {url: "https://voice.example.com/openai/webhook", manual: true}
""")
    plan = cli("plan", "--sandbox", str(stack), "--detailed-exitcode", code=2)
    assert ("webhooks.calls is a manual step: in the OpenAI dashboard (Settings → Project → Webhooks) create a "
            "webhook with URL https://voice.example.com/openai/webhook and event type realtime.call.incoming"
            ) in plan.stderr
    assert "openai.webhook_endpoint" not in plan.stdout


def test_the_readme_openai_recipe_is_a_valid_stack(cli: Cli) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## OpenAI Realtime"):readme.index("### Running `serve` in production")]
    [block] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    stack = cli.stack("support-openai.yaml", block)
    result = cli("validate", str(stack))
    # two Wavix numbers, the webhook endpoint, two agents and their routing (published for serve)
    assert "valid (6 resources)" in result.stdout


def test_a_refused_webhook_api_says_how_to_fall_back_to_the_dashboard() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer sk-project"
        return httpx.Response(403, json={"error": {"message": "You have insufficient permissions for this operation.",
                                                   "type": "invalid_request_error"}})

    api = providers.client("openai", provider.API_URL, "sk-project", transport=httpx.MockTransport(refuse))
    with pytest.raises(AuthFailed) as refused:
        provider.WebhookEndpoint(api).list()
    assert "insufficient permissions" in str(refused.value) and "set manual: true" in str(refused.value)
    assert "sk-project" not in str(refused.value)


def test_create_drops_the_signing_secret_at_the_adapter_edge() -> None:
    def create(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "we_1", "object": "webhook_endpoint", **json.loads(request.content),
                                         "signing_secret": "whsec_c2VjcmV0", "signing_secret_hint": "whsec_…cmV0"})

    api = providers.client("openai", provider.API_URL, "sk-project", transport=httpx.MockTransport(create))
    made = provider.WebhookEndpoint(api).create({"url": "https://x.example/h", "name": "calls",
                                                 "event_types": ["realtime.call.incoming"]})
    assert "signing_secret" not in made and made["id"] == "we_1"


def test_tracing_null_validates_and_an_unknown_event_type_is_a_located_error(cli: Cli) -> None:
    """`session: {tracing: null}` is OpenAI's documented way to turn tracing off (the fragment's
    `nullable`); `live.*` and made-up event types are not in the create API's list."""
    stack = cli.stack("tracing.yaml", BASE + """\
agents:
  support:
    instructions: Hi.
    session: {tracing: null}
routes:
  "+14067704205": {openai: proj_XnGzQBp38qGPqjV5GaYVXVGY, agent: support}
webhooks:
  calls: {url: "https://voice.example.com/openai/webhook", events: [realtime.call.incoming]}
""")
    cli("validate", str(stack))
    assert agents.accept_body({"session": {"tracing": None}}) == {"type": "realtime", "tracing": None}
    stack.write_text(stack.read_text().replace("events: [realtime.call.incoming]",
                                               "events: [no.such.event, live.call.incoming, realtime.call.incomin]"))
    lines = cli("validate", str(stack), code=1).stderr.splitlines()
    text = stack.read_text().splitlines()[13]
    for line, event in zip(lines, ["no.such.event", "live.call.incoming", "realtime.call.incomin"], strict=False):
        where = f"{stack}:14:{text.index(event) + 1}"
        assert line.startswith(f"{where}: webhooks.calls: {event!r} is not an event type"), lines
    assert len(lines) == 3 and "did you mean realtime.call.incoming?" in lines[2]
