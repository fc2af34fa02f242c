from __future__ import annotations

import json

from voxplan.core.model import UNKNOWN
from voxplan.core.plan import Action, Change, FieldChange, Plan
from voxplan.core.secret import SafeEncoder, Secret
from voxplan.render import plan_to_json, render_markdown, render_text

PLAN = Plan("demo", (
    Change("vapi.credential/t", "vapi.credential", Action.UPDATE, remote_id="c1",
           body={"outboundAuthenticationPlan": {"authUsername": "u", "authPassword": Secret("pw-canary-1")}},
           send_keys=("outboundAuthenticationPlan",),
           fields=(FieldChange("outboundAuthenticationPlan.authPassword", "(sensitive)", "(sensitive)",
                               sensitive=True),)),
    Change("vapi.phone_number/+1", "vapi.phone_number", Action.CREATE,
           fields=(FieldChange("credentialId", None, UNKNOWN, added=True),)),
    Change("vapi.tool/x", "vapi.tool", Action.DELETE, remote_id="t1"),
))


def test_text_summary_colour_and_masking() -> None:
    plain = render_text(PLAN)
    assert plain.rstrip().endswith("Plan: 1 to add, 1 to change, 1 to destroy.")
    assert "~ outboundAuthenticationPlan.authPassword = (sensitive)" in plain
    assert "+ credentialId = (known after apply)" in plain
    assert "\x1b[" not in plain and "\x1b[" in render_text(PLAN, colour=True)
    assert "pw-canary-1" not in plain


def test_json_plan_masks_and_is_serialisable_only_when_masked() -> None:
    data = plan_to_json(PLAN)
    text = json.dumps(data, cls=SafeEncoder)
    assert data["format_version"] == "1.1" and "pw-canary-1" not in text
    cred = data["resource_changes"][0]
    assert cred["change"]["after"]["outboundAuthenticationPlan"]["authPassword"] == "(sensitive)"
    assert data["resource_changes"][2]["change"]["actions"] == ["delete"]
    try:
        json.dumps({"x": Secret("raw")}, cls=SafeEncoder)
    except TypeError:
        pass
    else:
        raise AssertionError("a raw Secret was serialised")


def test_markdown_warns_on_destroy_and_no_changes_is_short() -> None:
    md = render_markdown(PLAN)
    assert "[!WARNING]" in md and "`vapi.tool/x`" in md
    assert render_markdown(Plan("demo", ())).count("\n") < 5


# -- readable diffs ---------------------------------------------------------------------------------

PROMPT = "\n".join(f"Line {i}: keep it short." for i in range(1, 31))


def _update(*fields: FieldChange, **kw: object) -> Plan:
    return Plan("demo", (Change("vapi.assistant/a", "vapi.assistant", Action.UPDATE, remote_id="a1", fields=fields,
                                **kw),))  # type: ignore[arg-type]


def test_a_multi_line_string_is_diffed_by_line_with_unchanged_runs_counted() -> None:
    after = PROMPT.replace("Line 12: keep it short.", "Line 12: keep it very short.")
    plan = _update(FieldChange("model.messages[0].content", PROMPT, after))
    text = render_text(plan)
    assert text.splitlines()[4:10] == [
        "      ~ model.messages[0].content = <<-EOT",
        "            # (11 unchanged lines hidden)",
        "      -     Line 12: keep it short.",
        "      +     Line 12: keep it very short.",
        "            # (18 unchanged lines hidden)",
        "          EOT",
    ]
    md = render_markdown(plan)
    assert "-     Line 12: keep it short.\n+     Line 12: keep it very short.\n" in md


def test_a_long_single_line_string_is_cut_at_sentences_so_one_word_shows() -> None:
    before = " ".join(f"Sentence {i} says something long enough to matter here." for i in range(60))
    after = before.replace("Sentence 41 says something", "Sentence 41 says nothing")
    text = render_text(_update(FieldChange("firstMessage", before, after)))
    assert "-     Sentence 41 says something long enough to matter here." in text
    assert "+     Sentence 41 says nothing long enough to matter here." in text
    assert "…" not in text and "Sentence 40" not in text


def test_removed_keys_read_as_cleared_and_objects_span_lines() -> None:
    text = render_text(_update(FieldChange("metadata", {"team": "x"}, None, removed=True),
                               FieldChange("firstMessage", "Hi", None, removed=True)))
    assert '      - metadata = {\n      -   "team": "x"\n      - } -> null\n' in text
    assert '      - firstMessage = "Hi" -> null\n' in text


def test_unknown_values_are_bare_and_only_where_unknown() -> None:
    plan = Plan("demo", (Change("vapi.assistant/a", "vapi.assistant", Action.CREATE, fields=(
        FieldChange("model", None, {"provider": "openai", "toolIds": [UNKNOWN]}, added=True),)),))
    text = render_text(plan)
    assert '      +   "provider": "openai",\n' in text and "      +     (known after apply)\n" in text
    assert '"(known after apply)"' not in text
    assert plan_to_json(plan)["resource_changes"][0]["change"]["fields"][0]["after"]["toolIds"] == [
        "(known after apply)"]  # JSON keeps the whole value


def test_unroute_has_its_own_symbol_count_and_no_destroy_banner() -> None:
    plan = Plan("demo", (Change("wavix.number/+1", "wavix.number", Action.UNROUTE, remote_id="1", fields=(
        FieldChange("destinations", [{"destination": "x"}], [], removed=True),)),))
    text = render_text(plan)
    assert "  -~ wavix.number/+1 (id 1)" in text and "will be unrouted" in text
    assert text.rstrip().endswith("Plan: 0 to add, 0 to change, 0 to destroy, 1 to unroute.")
    md = render_markdown(plan)
    assert "⚪ unroute" in md and "[!WARNING]" not in md
    assert plan_to_json(plan)["summary"]["unroute"] == 1


def test_a_saved_plan_renders_the_same_from_its_json() -> None:
    from voxplan.render import plan_from_json

    plan = _update(FieldChange("model.messages[0].content", PROMPT, PROMPT.replace("Line 3", "Row 3")),
                   FieldChange("name", "A", "B"), protect=True)
    again = plan_from_json(json.loads(json.dumps(plan_to_json(plan), cls=SafeEncoder)))
    assert render_text(again) == render_text(plan) and render_markdown(again) == render_markdown(plan)
    assert render_text(PLAN) == render_text(plan_from_json(json.loads(json.dumps(plan_to_json(PLAN), cls=SafeEncoder))))
