"""A plan as a pull-request comment, in the manner of tfcmt: the summary line, a warning when anything is
destroyed or replaced, a table of changes, per-resource field diffs, and the full plan collapsed.

GitHub refuses comments over 65,536 characters; a longer plan is cut below `limit` at whole lines and
sections, with a note saying how much was left out."""

from __future__ import annotations

from voxplan.core.plan import Action, Change, Plan
from voxplan.render.text import render_text
from voxplan.render.values import change_lines, headline

GITHUB_LIMIT = 65_536
ACTION_ICON = {Action.CREATE: "🟢 create", Action.UPDATE: "🟡 update", Action.REPLACE: "🔴 replace",
               Action.DELETE: "🔴 destroy", Action.UNROUTE: "⚪ unroute", Action.NOOP: "🔵 import"}
DIFF_MARK = {"~": "!", "+": "+", "-": "-", " ": " "}  # a ```diff block colours + and -, and ! as a change


def render_markdown(plan: Plan, *, limit: int = GITHUB_LIMIT) -> str:
    head = [f"## voxplan plan: `{plan.stack}`", ""]
    if not plan.has_changes:
        head.append("**No changes.** The live accounts match the stack.")
        return "\n".join(head) + "\n"
    head.append(f"**{plan.summary()}**")
    destroyed = [c.address for c in plan.changes if c.action.destroys]
    if destroyed:
        shown = ", ".join(f"`{a}`" for a in destroyed[:20]) + (f" and {len(destroyed) - 20} more"
                                                                  if len(destroyed) > 20 else "")
        head += ["", "> [!WARNING]", f"> **This plan destroys or replaces {len(destroyed)} resource(s):** {shown}"]
    for warning in plan.warnings:
        head += ["", f"> [!NOTE]\n> {warning}"]
    head += ["", "| action | resource | reason |", "|---|---|---|"]
    changes = plan.actionable
    rows = [f"| {_icon(c)} | `{c.address}` | {_cell(c.reason)} |" for c in changes]
    sections = []
    for c in changes:
        lines = ["", f"#### `{c.address}` {headline(c)}"]
        if c.reason:
            lines.append(f"_{c.reason}_")
        lines += ["", "```diff"]
        for sym, text in change_lines(c):
            lines.append(f"{DIFF_MARK[sym]} {text}")
        lines.append("```")
        sections.append("\n".join(lines))
    full = ["", "<details><summary>Full plan</summary>", "", "```text", render_text(plan).rstrip("\n"), "```",
            "</details>"]
    return _fit(head, rows, sections, full, limit, len(changes))


def _icon(change: Change) -> str:
    if change.action is Action.NOOP and not change.importing:
        return "🔵 lifecycle"
    return ACTION_ICON[change.action]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fit(head: list[str], rows: list[str], sections: list[str], full: list[str], limit: int, total: int) -> str:
    """Everything if it fits; otherwise head, then as many rows and sections as fit, then a note."""
    whole = "\n".join([*head, *rows, "", "### Changes", *sections, *full]) + "\n"
    if len(whole) <= limit:
        return whole
    budget = limit - 600  # room for the note and closing lines
    out = list(head)
    used = sum(len(line) + 1 for line in out)
    shown_rows = 0
    for row in rows:
        if used + len(row) + 1 > budget * 0.6:
            break
        out.append(row)
        used += len(row) + 1
        shown_rows += 1
    out += ["", "### Changes"]
    shown_sections = 0
    for section in sections:
        if used + len(section) + 1 > budget:
            break
        out.append(section)
        used += len(section) + 1
        shown_sections += 1
    left_out = len(whole) - used
    out += ["", f"> [!CAUTION]\n> This plan is too long for one comment: {total - shown_rows} of {total} table rows "
            f"and {total - shown_sections} of {total} resource diffs are not shown, and the full plan is left out "
            f"(about {left_out:,} characters in all). Run `voxplan plan` for the whole plan, or save it with "
            "`--out` as a build artifact."]
    return "\n".join(out) + "\n"
