"""The call path offline: the lints a call used to reveal, Liquid defaults, the Mermaid drawing of a plan's
changed paths (folded when large, within GitHub's limit), and the walker's loop safety."""

from __future__ import annotations

from pathlib import Path

from voxplan import callpath, workflow
from voxplan.core.context import RunContext
from voxplan.core.hops import ChangedPath, HopGraph, HopSet, Link, Node, node_key
from voxplan.core.plan import Action, Change, Plan
from voxplan.core.templates import fill, variables
from voxplan.render.markdown import GITHUB_LIMIT, render_markdown

BASE = """version: 1
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}
"""


def lint(tmp_path: Path, text: str) -> list[str]:
    stack = tmp_path / "s.yaml"
    stack.write_text(BASE + text)
    return [str(d) for d in workflow.load(stack, RunContext(sandbox=True, env={})).warnings]


def test_a_twilio_trunk_without_twilios_signalling_networks_is_warned(tmp_path: Path) -> None:
    trunk = """trunks:
  twilio:
    carrier: byo
    gateways:
      - {ip: example.pstn.twilio.com, inbound: false}
%s
"""
    found = lint(tmp_path, trunk % "")
    assert any("Twilio's signalling networks" in w and "8 of them" in w and "#1099" in w for w in found)
    nets = "\n".join(f"      - {{ip: {ip}, netmask: 30, outbound: false}}" for ip in (
        "54.172.60.0", "54.244.51.0", "54.171.127.192", "35.156.191.128", "54.65.63.192", "54.169.127.128",
        "54.252.254.64", "177.71.206.192"))
    assert not any("Twilio" in w for w in lint(tmp_path, trunk % nets))
    assert any("1 of them" in w and "br1" in w for w in lint(tmp_path, trunk % nets.rsplit("\n", 1)[0]))


def test_a_vapi_sip_number_as_transfer_origin_and_variables_without_default(tmp_path: Path) -> None:
    found = lint(tmp_path, """trunks:
  pbx: {carrier: byo, gateways: [{ip: 203.0.113.10}]}
tools:
  to-desk: {transfer: [{number: "+14155550100"}]}
assistants:
  a: {first_message: "Hi {{name}}, it is {{now}} {{ city | default: 'here' }}", tools: [to-desk],
      model: {provider: openai, model: gpt-4o, system: "Talk to {{customer.number}} about {{topic}}"}}
numbers:
  "sip:desk@sip.vapi.ai": {carrier: vapi}
routes:
  "sip:desk@sip.vapi.ai": {assistant: a}
""")
    assert any("{{name}} has no default" in w for w in found)
    assert any("{{topic}} has no default" in w for w in found)
    assert not any("{{now}}" in w or "{{city}}" in w or "customer.number" in w for w in found)
    assert any("transfers to +14155550100" in w and "#1197" in w for w in found)


def test_a_vapi_sip_number_cannot_be_the_test_caller(tmp_path: Path) -> None:
    import pytest

    from voxplan.core.errors import StackErrors

    with pytest.raises(StackErrors) as exc:
        lint(tmp_path, """assistants:
  a: {name: A}
numbers:
  "sip:desk@sip.vapi.ai": {carrier: vapi}
routes:
  "sip:desk@sip.vapi.ai": {assistant: a}
tests: {caller: "sip:desk@sip.vapi.ai"}
""")
    assert "tests.caller sip:desk@sip.vapi.ai" in str(exc.value) and "cannot call out" in str(exc.value)


def test_a_didlogic_transfer_needs_refer_enabled(tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "stacks" / "didlogic-vapi.yaml").read_text()
    stack = tmp_path / "d.yaml"
    stack.write_text(text.replace("    refer_enabled: true", "    refer_enabled: false"))
    warnings = [str(d) for d in workflow.load(stack, RunContext(sandbox=True, env={})).warnings]
    assert any("SIP REFER" in w and "refer_enabled: true" in w for w in warnings)
    stack.write_text(text)
    assert not any("REFER" in str(d) for d in workflow.load(stack, RunContext(sandbox=True, env={})).warnings)


def test_liquid_variables_and_their_defaults() -> None:
    assert [(v.name, v.default) for v in variables("{{a}} {{ b | default: 'x' }} {{c|default:\"y z\"}}")] == [
        ("a", None), ("b", "x"), ("c", "y z")]
    assert fill("Hello {{first_name | default: 'there'}}!", {}) == "Hello there!"
    assert fill("Hello {{first_name}}!", {"first_name": "John"}) == "Hello John!"
    assert fill("Hello {{first_name}}!", {}) == "Hello !"


def test_the_walker_is_loop_safe_and_names_the_first_broken_hop() -> None:
    a, b, c = (node_key("t.n", x) for x in "abc")
    nodes = [Node(a, "t.n", "a", "A", (Link("to", to=b),), number="+1"),
             Node(b, "t.n", "b", "B", (Link("to", to=c), Link("back", to=a))),
             Node(c, "t.n", "c", "C", (Link("to", to=node_key("t.n", "gone"), missing="gone is gone"),
                                       Link("to", to=b)))]
    path = callpath.walk(HopGraph.join([HopSet(tuple(nodes))]), nodes[0])
    assert [(s.label, s.repeat) for s in path.steps] == [("A", False), ("B", False), ("C", False), ("gone", False),
                                                         ("B", True), ("A", True)]
    assert path.broken is not None and path.broken.reason == "gone is gone"


def test_the_drawing_is_folded_when_large_and_the_comment_stays_under_githubs_limit() -> None:
    small = Plan("s", (Change("vapi.assistant/a", "vapi.assistant", Action.UPDATE, affects=("+1",)),),
                 paths=(ChangedPath("+1", (("wavix.number/+1", "vapi.assistant/a"),)),))
    text = render_markdown(small)
    assert "### Call paths this plan changes (1 number(s))" in text and "```mermaid" in text
    many = tuple(ChangedPath(f"+1415555{i:04d}", ((f"wavix.number/+1415555{i:04d}", "vapi.credential/c"),
                                                 ("vapi.credential/c", "vapi.assistant/a"))) for i in range(3000))
    big = Plan("s", tuple(Change(f"vapi.assistant/a{i}", "vapi.assistant", Action.UPDATE,
                                 affects=tuple(p.number for p in many)) for i in range(300)), paths=many)
    text = render_markdown(big)
    assert len(text) <= GITHUB_LIMIT
    assert "<details><summary>Call paths this plan changes (3000 number(s))</summary>" in text
    assert "more number(s) not drawn" in text


def test_squads_and_numbers_vapi_holds_on_the_pstn_plug_in() -> None:
    """Kinds the Vapi surface issue adds (squads; Twilio, Vonage, Telnyx and free Vapi numbers) walk as soon as
    their objects are read: a squad's members answer, a PSTN number of Vapi's is dialled into directly."""
    objects = {
        "vapi.phone_number": {"n1": {"provider": "twilio", "number": "+14155550100", "squadId": "s1"},
                              "n2": {"provider": "vapi", "sipUri": "sip:desk@sip.vapi.ai", "assistantId": "a2"}},
        "vapi.squad": {"s1": {"name": "Front line", "members": [{"assistantId": "a1"}, {"assistantId": "gone"}]}},
        "vapi.assistant": {"a1": {"name": "A"}, "a2": {"name": "B", "model": {"toolIds": ["t1"]}}},
        "vapi.tool": {"t1": {"type": "transferCall", "destinations": [{"type": "number", "number": "+14155550100"}]}},
    }
    graph = callpath.graph(objects)
    [twilio, sip] = callpath.trace(graph, ["+14155550100", "sip:desk@sip.vapi.ai"])
    assert [s.kind for s in twilio.steps] == ["vapi.phone_number", "vapi.squad", "vapi.assistant", "vapi.assistant"]
    assert twilio.broken is not None and "member assistant gone does not exist" in twilio.broken.reason
    # a transfer to a phone number from a call on a Vapi SIP number needs an outbound leg it cannot place
    assert sip.broken is not None and "#1197" in sip.broken.reason
