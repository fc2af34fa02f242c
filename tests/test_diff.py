"""The differ as data: desired, live, state in; the plan's actions and fields out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voxplan.core.errors import PlanError
from voxplan.core.live import Live
from voxplan.core.model import UNKNOWN, Ref, Resource
from voxplan.core.plan import Action
from voxplan.core.secret import Secret
from voxplan.diff import make_plan
from voxplan.providers.vapi.adapters import Assistant, Credential, PhoneNumber, Tool
from voxplan.state import Entry, LocalStore, State

ADAPTERS: dict[str, Any] = {cls.kind: cls(None) for cls in (Credential, PhoneNumber, Assistant, Tool)}  # type: ignore[arg-type]
KEY = b"k" * 32


def plan_of(desired: list[Resource], live: dict[str, list[dict[str, Any]]], entries: dict[str, Entry] | None = None):
    state = State(LocalStore(Path("/nonexistent/state.json"), "t"), key=KEY, resources=entries or {})
    lives = {kind: Live.index(live.get(kind, []), adapter) for kind, adapter in ADAPTERS.items()}
    return make_plan("t", desired, lives, state, ADAPTERS), state


CRED_BODY = {"provider": "byo-sip-trunk", "name": "pbx", "gateways": [{"ip": "203.0.113.1"}]}
CRED_LIVE = {"id": "c1", "provider": "byo-sip-trunk", "name": "pbx", "createdAt": "x",
             "gateways": [{"ip": "203.0.113.1", "port": 5060, "netmask": 32, "inboundEnabled": True,
                           "outboundEnabled": True, "outboundProtocol": "udp", "optionsPingEnabled": False}]}


def test_documented_server_defaults_are_not_drift_even_without_state() -> None:
    plan, _ = plan_of([Resource("vapi.credential", "pbx", CRED_BODY)], {"vapi.credential": [CRED_LIVE]})
    [change] = plan.changes
    assert change.importing and change.action is Action.NOOP


def test_undocumented_server_addition_is_absorbed_by_the_baseline() -> None:
    body = {"name": "A", "server": {"url": "https://x"}}
    live = {"id": "a1", "name": "A", "server": {"url": "https://x", "timeoutSeconds": 20, "secretHeader": "srv"}}
    entry = Entry("vapi.assistant", "a1", sent=dict(body), seen={"name": "A", "server": live["server"]})
    plan, _ = plan_of([Resource("vapi.assistant", "a", body)], {"vapi.assistant": [live]}, {"vapi.assistant/a": entry})
    assert plan.changes[0].action is Action.NOOP
    # without the baseline, the whole declared object differs: one update that sends it whole
    plan, _ = plan_of([Resource("vapi.assistant", "a", body)], {"vapi.assistant": [live]})
    assert plan.changes[0].send_keys == ("server",)


def test_edit_elsewhere_is_drift_and_shows_the_leaf() -> None:
    body = {"name": "A", "model": {"provider": "openai", "model": "gpt-4o"}}
    live = {"id": "a1", "name": "A", "model": {"provider": "openai", "model": "gpt-4o-mini"}}
    entry = Entry("vapi.assistant", "a1", sent=dict(body), seen={"name": "A", "model": dict(body["model"])})
    plan, _ = plan_of([Resource("vapi.assistant", "a", body)], {"vapi.assistant": [live]}, {"vapi.assistant/a": entry})
    [change] = plan.changes
    assert change.action is Action.UPDATE and change.send_keys == ("model",)
    assert [(f.path, f.before, f.after) for f in change.fields] == [("model.model", "gpt-4o-mini", "gpt-4o")]


def test_declared_null_matches_absent() -> None:
    body = {"provider": "vapi", "sipUri": "sip:a@sip.vapi.ai", "assistantId": None, "squadId": None}
    live = {"id": "n1", "provider": "vapi", "sipUri": "sip:a@sip.vapi.ai"}
    plan, _ = plan_of([Resource("vapi.phone_number", "sip:a@sip.vapi.ai", body)], {"vapi.phone_number": [live]})
    assert plan.changes[0].action is Action.NOOP


def test_secret_compared_by_fingerprint_and_sent_with_its_whole_block() -> None:
    body = {**CRED_BODY, "outboundAuthenticationPlan": {"authUsername": "u", "authPassword": Secret("new")}}
    live = {**CRED_LIVE, "outboundAuthenticationPlan": {"authUsername": "u"}}
    old = Secret("old").fingerprint(KEY)
    entry = Entry("vapi.credential", "c1", sent={"outboundAuthenticationPlan": {"authUsername": "u"}},
                  seen={"outboundAuthenticationPlan": {"authUsername": "u"}},
                  fingerprints={"outboundAuthenticationPlan.authPassword": old})
    plan, _ = plan_of([Resource("vapi.credential", "pbx", body)], {"vapi.credential": [live]},
                      {"vapi.credential/pbx": entry})
    [change] = plan.changes
    assert change.send_keys == ("outboundAuthenticationPlan",)
    assert [(f.path, f.sensitive) for f in change.fields] == [("outboundAuthenticationPlan.authPassword", True)]
    same = Entry("vapi.credential", "c1", sent=entry.sent, seen=entry.seen,
                 fingerprints={"outboundAuthenticationPlan.authPassword": Secret("new").fingerprint(KEY)})
    plan, _ = plan_of([Resource("vapi.credential", "pbx", body)], {"vapi.credential": [live]},
                      {"vapi.credential/pbx": same})
    assert plan.changes[0].action is Action.NOOP


@pytest.mark.parametrize(("was", "now"), [(1, True), (True, 1), (0, False), (1, 1.5)])
def test_unchanged_shortcut_never_hides_a_type_change(was: Any, now: Any) -> None:
    """The no-op shortcut compares whole bodies with ==, where True == 1: the stack moving from 1 to
    true (or back) must still be an update, as the key-by-key comparison says."""
    live = {"id": "a1", "name": "A", "maxDurationSeconds": was}
    entry = Entry("vapi.assistant", "a1", sent={"name": "A", "maxDurationSeconds": was},
                  seen={"name": "A", "maxDurationSeconds": was})
    body = {"name": "A", "maxDurationSeconds": now}
    plan, _ = plan_of([Resource("vapi.assistant", "a", body)], {"vapi.assistant": [live]}, {"vapi.assistant/a": entry})
    [change] = plan.changes
    assert change.action is Action.UPDATE and change.send_keys == ("maxDurationSeconds",)
    # and the live side: the server now answering 1 where it said true is drift too
    entry = Entry("vapi.assistant", "a1", sent={"name": "A", "maxDurationSeconds": now},
                  seen={"name": "A", "maxDurationSeconds": now})
    plan, _ = plan_of([Resource("vapi.assistant", "a", body)], {"vapi.assistant": [live]}, {"vapi.assistant/a": entry})
    assert plan.changes[0].action is Action.UPDATE


def test_unchanged_shortcut_never_hides_a_nested_type_change() -> None:
    live = {"id": "a1", "name": "A", "voice": {"provider": "vapi", "speed": 1}}
    entry = Entry("vapi.assistant", "a1", sent={"name": "A", "voice": {"provider": "vapi", "speed": 1}},
                  seen={"name": "A", "voice": {"provider": "vapi", "speed": 1}})
    body = {"name": "A", "voice": {"provider": "vapi", "speed": True}}
    plan, _ = plan_of([Resource("vapi.assistant", "a", body)], {"vapi.assistant": [live]}, {"vapi.assistant/a": entry})
    assert plan.changes[0].send_keys == ("voice",)


def test_unchanged_shortcut_still_checks_secrets_and_accepts_reordered_keys() -> None:
    body = {**CRED_BODY, "outboundAuthenticationPlan": {"authUsername": "u", "authPassword": Secret("new")}}
    live = {**CRED_LIVE, "outboundAuthenticationPlan": {"authUsername": "u"}}
    sent = {**CRED_BODY, "outboundAuthenticationPlan": {"authUsername": "u"}}
    seen = {k: live.get(k) for k in body}
    stale = Entry("vapi.credential", "c1", sent=sent, seen=seen,
                  fingerprints={"outboundAuthenticationPlan.authPassword": Secret("old").fingerprint(KEY)})
    plan, _ = plan_of([Resource("vapi.credential", "pbx", body)], {"vapi.credential": [live]},
                      {"vapi.credential/pbx": stale})
    assert plan.changes[0].send_keys == ("outboundAuthenticationPlan",)  # only the password moved
    fresh = Entry("vapi.credential", "c1", sent=dict(reversed(sent.items())), seen=dict(reversed(seen.items())),
                  fingerprints={"outboundAuthenticationPlan.authPassword": Secret("new").fingerprint(KEY)})
    plan, _ = plan_of([Resource("vapi.credential", "pbx", body)], {"vapi.credential": [live]},
                      {"vapi.credential/pbx": fresh})
    assert plan.changes[0].action is Action.NOOP  # key order is not a change (the long way decides it)


def test_provider_change_forces_replacement() -> None:
    body = {"provider": "vapi", "sipUri": "sip:a@sip.vapi.ai"}
    live = {"id": "n1", "provider": "byo-phone-number", "number": "+15550001111", "sipUri": "sip:a@sip.vapi.ai"}
    was = {"provider": "byo-phone-number"}
    entry = Entry("vapi.phone_number", "n1", sent=was, seen=was)
    plan, _ = plan_of([Resource("vapi.phone_number", "x", body)], {"vapi.phone_number": [live]},
                      {"vapi.phone_number/x": entry})
    [change] = plan.changes
    assert change.action is Action.REPLACE and "provider cannot be changed in place" in change.reason
    assert plan.to_add == 1 and plan.to_destroy == 1


def test_refs_to_new_resources_are_unknown_and_to_existing_ones_resolved() -> None:
    tool = Resource("vapi.assistant", "t", {"name": "T"})  # adopted by its name
    assistant = Resource("vapi.assistant", "a", {"name": "A", "model": {"provider": "openai", "model": "m",
                                                                        "toolIds": [Ref("vapi.assistant/t")]}})
    plan, _ = plan_of([assistant, tool], {})
    assert [c.address for c in plan.changes] == ["vapi.assistant/t", "vapi.assistant/a"]  # dependencies first
    model = next(f for f in plan.changes[1].fields if f.path == "model")
    assert model.after["toolIds"] == [UNKNOWN]
    live_tool = {"id": "t1", "name": "T"}
    plan, _ = plan_of([assistant, tool], {"vapi.assistant": [live_tool]})
    assert plan.changes[1].body["model"]["toolIds"] == ["t1"]


def test_deletes_go_dependents_first() -> None:
    entries = {
        "vapi.credential/c": Entry("vapi.credential", "c1"),
        "vapi.phone_number/+1": Entry("vapi.phone_number", "n1", deps=("vapi.credential/c",)),
    }
    live = {"vapi.credential": [{"id": "c1", "provider": "byo-sip-trunk"}],
            "vapi.phone_number": [{"id": "n1", "provider": "byo-phone-number"}]}
    plan, _ = plan_of([], live, entries)
    assert [c.address for c in plan.changes] == ["vapi.phone_number/+1", "vapi.credential/c"]


def test_gone_remotely_and_from_stack_is_forgotten_not_deleted() -> None:
    plan, _ = plan_of([], {}, {"vapi.tool/x": Entry("vapi.tool", "gone")})
    assert plan.changes == () and plan.forget == ("vapi.tool/x",)


def test_two_adoption_candidates_stop_the_plan() -> None:
    live = [{"id": "a1", "name": "A"}, {"id": "a2", "name": "A"}]
    with pytest.raises(PlanError, match="2 remote objects match 'A'"):
        plan_of([Resource("vapi.assistant", "a", {"name": "A"})], {"vapi.assistant": live})


def test_adoption_skips_objects_already_owned_by_another_address() -> None:
    live = [{"id": "a1", "name": "A"}]
    entries = {"vapi.assistant/other": Entry("vapi.assistant", "a1")}
    plan, _ = plan_of([Resource("vapi.assistant", "other", {"name": "A"}),
                       Resource("vapi.assistant", "a", {"name": "A"})], {"vapi.assistant": live}, entries)
    actions = {c.address: c.action for c in plan.changes}
    assert actions == {"vapi.assistant/other": Action.NOOP, "vapi.assistant/a": Action.CREATE}


def test_topological_order_keeps_input_order_among_ready_and_names_a_cycle() -> None:
    from voxplan.core.graph import topo_order

    assert topo_order({"c": ["a"], "a": [], "b": ["a", "elsewhere"], "d": ["c", "b", "b"]}) == ["a", "c", "b", "d"]
    with pytest.raises(PlanError, match="dependency cycle: a -> b -> c -> a"):
        topo_order({"a": ["b"], "b": ["c"], "c": ["a"], "z": []})


def test_json_equal_tells_types_apart_but_not_key_order_or_string_identity() -> None:
    import json
    import sys

    from voxplan.core.model import Ref, json_equal

    shared = sys.intern("wavix")
    built = {"carrier": shared, "list": [shared, shared], "n": 1}
    assert json_equal(built, json.loads(json.dumps(built)))  # the same value, every string a fresh object
    assert not json_equal({"n": 1}, {"n": True}) and not json_equal({"n": 1}, {"n": 1.0})
    assert not json_equal([0], [False]) and not json_equal({"n": "1"}, {"n": 1}) and not json_equal(None, {})
    assert json_equal({"a": 1, "b": 2}, {"b": 2, "a": 1})  # JSON objects are unordered
    assert not json_equal({"a": 1}, {"a": 1, "b": None}) and not json_equal([1, 2], [2, 1])
    assert not json_equal({"p": Secret("x")}, {"p": "x"})
    assert not json_equal({"r": Ref("vapi.credential/x")}, {"r": "x"})


def test_the_no_op_shortcut_decides_a_resource_loaded_from_state() -> None:
    """The shortcut must actually fire for a body built from the stack against entries decoded from JSON
    (shared, interned strings on one side, fresh ones on the other), or every plan goes the long way."""
    import json

    from voxplan.diff import _unmoved

    body = {"name": "Agent", "firstMessage": "Hello", "maxDurationSeconds": 600}
    live = {"id": "a1", **body, "createdAt": "2026-01-01"}
    entry = Entry.from_json(json.loads(json.dumps(Entry("vapi.assistant", "a1", sent=dict(body), seen=dict(body))
                                                  .to_json())))
    assert entry.seen is entry.sent  # state shares them when the server answered what was sent
    adapter = ADAPTERS["vapi.assistant"]
    assert _unmoved(adapter, body, live, entry, KEY)
    assert not _unmoved(adapter, {**body, "maxDurationSeconds": 601}, live, entry, KEY)
    assert not _unmoved(adapter, body, {**live, "firstMessage": "Hi"}, entry, KEY)


# -- declared means managed, absence included ------------------------------------------------------

def test_a_key_no_longer_declared_is_cleared_with_the_adapters_value() -> None:
    sent = {"name": "A", "firstMessage": "Hi", "metadata": {"team": "x"}}
    live = {"id": "a1", **sent}
    entry = Entry("vapi.assistant", "a1", sent=dict(sent), seen=dict(sent))
    plan, _ = plan_of([Resource("vapi.assistant", "a", {"name": "A"})], {"vapi.assistant": [live]},
                      {"vapi.assistant/a": entry})
    [change] = plan.changes
    assert change.action is Action.UPDATE
    assert change.clears == ("firstMessage", "metadata")
    assert {k: change.body[k] for k in change.send_keys} == {"firstMessage": None, "metadata": None}
    assert [(f.path, f.before, f.after, f.removed) for f in change.fields] == [
        ("firstMessage", "Hi", None, True), ("metadata", {"team": "x"}, None, True)]


def test_a_key_already_clear_live_is_not_planned_again() -> None:
    sent = {"name": "A", "firstMessage": "Hi"}
    entry = Entry("vapi.assistant", "a1", sent=dict(sent), seen=dict(sent))
    live = {"id": "a1", "name": "A", "firstMessage": None}
    plan, _ = plan_of([Resource("vapi.assistant", "a", {"name": "A"})], {"vapi.assistant": [live]},
                      {"vapi.assistant/a": entry})
    assert plan.changes[0].action is Action.NOOP and not plan.has_changes


def test_a_route_change_clears_what_the_old_route_set() -> None:
    old = {"provider": "vapi", "sipUri": "sip:a@sip.vapi.ai", "assistantId": None, "server": {"url": "https://x"}}
    live = {"id": "n1", **old, "server": {"url": "https://x", "timeoutSeconds": 20}}
    entry = Entry("vapi.phone_number", "n1", sent=dict(old), seen={k: live[k] for k in old})
    new = {"provider": "vapi", "sipUri": "sip:a@sip.vapi.ai", "assistantId": "a1"}
    plan, _ = plan_of([Resource("vapi.phone_number", "sip:a@sip.vapi.ai", new)], {"vapi.phone_number": [live]},
                      {"vapi.phone_number/sip:a@sip.vapi.ai": entry})
    [change] = plan.changes
    assert set(change.send_keys) == {"assistantId", "server"} and change.body["server"] is None
    shown = [(f.path, f.before, f.after) for f in change.fields]
    assert ("server", {"url": "https://x", "timeoutSeconds": 20}, None) in shown


def test_an_unknown_tool_id_is_unknown_only_at_its_path() -> None:
    body = {"name": "A", "model": {"provider": "openai", "model": "gpt-4o", "toolIds": [Ref("vapi.tool/t")]}}
    live = {"id": "a1", "name": "A", "model": {"provider": "openai", "model": "gpt-4o", "toolIds": ["t-old"]}}
    entry = Entry("vapi.assistant", "a1", sent={"name": "A", "model": dict(live["model"])},
                  seen={"name": "A", "model": dict(live["model"])})
    plan, _ = plan_of([Resource("vapi.tool", "t", {"type": "transferCall", "destinations": []}),
                       Resource("vapi.assistant", "a", body)], {"vapi.assistant": [live]}, {"vapi.assistant/a": entry})
    change = next(c for c in plan.changes if c.address == "vapi.assistant/a")
    assert [(f.path, f.before, f.after) for f in change.fields] == [("model.toolIds[0]", "t-old", UNKNOWN)]


def test_adding_or_removing_protect_alone_is_a_change_recorded_in_state() -> None:
    body = {"name": "A"}
    live = {"id": "a1", "name": "A"}
    for before, after in ((False, {"protect": True}), (True, {})):
        entry = Entry("vapi.assistant", "a1", sent=dict(body), seen=dict(body), protect=before)
        plan, _ = plan_of([Resource("vapi.assistant", "a", body, lifecycle=after)], {"vapi.assistant": [live]},
                          {"vapi.assistant/a": entry})
        [change] = plan.changes
        assert change.action is Action.NOOP and change.protect_changed and plan.has_changes
        assert plan.to_record == 1 and "1 lifecycle change(s) to record in state" in plan.summary()


def test_a_full_replace_put_clears_by_leaving_the_key_out_and_says_so() -> None:
    from voxplan.providers.wavix import Trunk

    adapters = {**ADAPTERS, "wavix.trunk": Trunk(None)}  # type: ignore[arg-type]
    sent = {"label": "t", "channels_restrict": True, "max_channels": 10}
    live = {"id": "1", **sent}
    state = State(LocalStore(Path("/nonexistent/state.json"), "t"), key=KEY, resources={
        "wavix.trunk/t": Entry("wavix.trunk", "1", sent=dict(sent), seen=dict(sent))})
    lives = {"wavix.trunk": Live.index([live], adapters["wavix.trunk"])}
    body = {"label": "t", "channels_restrict": False}
    plan = make_plan("t", [Resource("wavix.trunk", "t", body)], lives, state, adapters)
    [change] = plan.changes
    assert change.action is Action.UPDATE and "max_channels" not in change.body
    assert set(change.send_keys) == {"label", "channels_restrict"} and change.clears == ("max_channels",)
    assert ("max_channels", 10, None, True) in [(f.path, f.before, f.after, f.removed) for f in change.fields]


def test_protect_follows_the_stack_while_declared_and_state_once_gone() -> None:
    live = {"id": "n1", "provider": "byo-phone-number", "number": "+1"}
    entry = Entry("vapi.phone_number", "n1", sent={"provider": "byo-phone-number"},
                  seen={"provider": "byo-phone-number"}, protect=True)
    state = {"vapi.phone_number/+1": entry}
    with pytest.raises(PlanError, match="is protected"):  # gone from the stack: state's protect holds
        plan_of([], {"vapi.phone_number": [live]}, state)
    # still declared, protect taken out, and a replacement forced in the same edit: the stack decides
    body = {"provider": "vapi", "sipUri": "sip:x@sip.vapi.ai"}
    plan, _ = plan_of([Resource("vapi.phone_number", "+1", body)], {"vapi.phone_number": [live]}, state)
    assert plan.changes[0].action is Action.REPLACE and not plan.changes[0].protect
