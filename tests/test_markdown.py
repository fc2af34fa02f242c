"""PR-comment markdown: golden files for the shape, and a 5,000-change plan under GitHub's limit."""

from __future__ import annotations

import os
from pathlib import Path

from voxplan.core.model import UNKNOWN
from voxplan.core.plan import Action, Change, FieldChange, Plan
from voxplan.render.markdown import GITHUB_LIMIT, render_markdown

GOLDEN = Path(__file__).parent / "golden"


def sample_plan() -> Plan:
    return Plan("support-au", (
        Change("vapi.credential/wavix-main", "vapi.credential", Action.UPDATE, remote_id="c-1",
               fields=(FieldChange("outboundAuthenticationPlan.authPassword", "(sensitive)", "(sensitive)",
                                   sensitive=True),)),
        Change("vapi.assistant/support", "vapi.assistant", Action.UPDATE, remote_id="a-1",
               fields=(FieldChange("firstMessage", "Hi", "Hello {{first_name}}"),)),
        Change("vapi.phone_number/+61290597521", "vapi.phone_number", Action.REPLACE, remote_id="n-1",
               reason="provider cannot be changed in place",
               fields=(FieldChange("provider", "byo-phone-number", "vapi", forces_replacement=True),)),
        Change("wavix.number/+61290597521", "wavix.number", Action.UPDATE, remote_id="1001",
               fields=(FieldChange("destinations", [], UNKNOWN),)),
        Change("vapi.tool/old", "vapi.tool", Action.DELETE, remote_id="t-1", reason="not in the stack any more",
               fields=(FieldChange("type", "transferCall", None, removed=True),)),
        Change("vapi.assistant/new", "vapi.assistant", Action.CREATE,
               fields=(FieldChange("name", None, "New | one", added=True),)),
    ))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; rerun with UPDATE_GOLDEN=1 if that is intended"


def test_markdown_golden_plan() -> None:
    check_golden("plan.md", render_markdown(sample_plan()))


def test_markdown_golden_no_changes() -> None:
    check_golden("no-changes.md", render_markdown(Plan("support-au", ())))


def test_5000_changes_fit_one_github_comment_with_a_note() -> None:
    changes = tuple(
        Change(f"vapi.phone_number/+1555{i:07d}", "vapi.phone_number", Action.CREATE,
               fields=(FieldChange("number", None, f"+1555{i:07d}", added=True),
                       FieldChange("credentialId", None, UNKNOWN, added=True)))
        for i in range(5000)) + (Change("vapi.tool/gone", "vapi.tool", Action.DELETE, remote_id="t"),)
    text = render_markdown(Plan("agency", changes))
    assert len(text) < GITHUB_LIMIT
    assert "**Plan: 5000 to add, 0 to change, 1 to destroy.**" in text
    assert "> [!WARNING]" in text and "`vapi.tool/gone`" in text  # the banner survives the cut
    assert "This plan is too long for one comment" in text
    assert "table rows" in text and "characters in all" in text
    small = render_markdown(sample_plan())
    assert "too long" not in small and "<details><summary>Full plan</summary>" in small
