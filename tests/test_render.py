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
    assert data["format_version"] == "1.0" and "pw-canary-1" not in text
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
