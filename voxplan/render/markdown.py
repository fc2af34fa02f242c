"""A plan as a pull-request comment, in the manner of tfcmt: the summary line, a warning when anything is
destroyed or replaced, a table of changes, per-resource field diffs, and the full plan collapsed.

GitHub refuses comments over 65,536 characters; a longer plan is cut below `limit` at whole lines and
sections, with a note saying how much was left out."""

from __future__ import annotations

from voxplan.core.plan import Action, Change, Plan
from voxplan.render.mermaid import flowchart
from voxplan.render.text import OUTSIDE_HEAD, render_text
from voxplan.render.values import affects, change_lines, headline

GITHUB_LIMIT = 65_536
ACTION_ICON = {Action.CREATE: "🟢 create", Action.UPDATE: "🟡 update", Action.REPLACE: "🔴 replace",
               Action.DELETE: "🔴 destroy", Action.UNROUTE: "⚪ unroute", Action.NOOP: "🔵 import"}
DRAWN_EDGES = 400  # a flowchart larger than this is no help to a reviewer (and GitHub renders it slowly)
OPEN_PATHS, OPEN_EDGES = 8, 60  # larger: folded under <details>
DIFF_MARK = {"~": "!", "+": "+", "-": "-", " ": " "}  # a ```diff block colours + and -, and ! as a change


def title(what: str, plan: Plan) -> str:
    """`## voxplan plan: `stack``, naming the environment unless it is the default one."""
    env = f" · environment `{plan.environment}`" if plan.environment not in ("", "default") else ""
    return f"## voxplan {what}: `{plan.stack}`{env}"


def outside_section(plan: Plan) -> list[str]:
    """Objects changed outside voxplan since the last apply, apart from the stack's own changes."""
    if not plan.outside or plan.refresh_only:
        return []
    out = ["", f"### {OUTSIDE_HEAD}", "",
           f"{len(plan.outside)} object(s) changed outside voxplan (vendor dashboards, other tools); unless the "
           "stack was changed to match, the plan puts them back.", "", "| resource | what changed |", "|---|---|"]
    for c in plan.outside:
        what = "deleted" if c.action is Action.DELETE else ", ".join(f"`{f.path}`" for f in c.fields[:6]) + (
            f" and {len(c.fields) - 6} more" if len(c.fields) > 6 else "")
        out.append(f"| `{c.address}` | {_cell(what)} |")
    out += ["", "<details><summary>What the vendors show now (before: at the last apply)</summary>", ""]
    for c in plan.outside:
        if c.action is Action.DELETE:
            continue
        out += [f"`{c.address}`", "", "```diff", *(f"{DIFF_MARK[sym]} {text}" for sym, text in change_lines(c)),
                "```", ""]
    out.append("</details>")
    return out


def render_markdown(plan: Plan, *, limit: int = GITHUB_LIMIT) -> str:
    head = [title("plan", plan), *outside_section(plan), ""]
    if not plan.has_changes:
        head.append("**No changes.** The live accounts match the stack.")
        return "\n".join(head) + "\n"
    if plan.outside:
        head += ["### Plan", ""]
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
        if c.affects:
            lines.append(f"_affects {affects(c.affects)}_")
        lines += ["", "```diff"]
        for sym, text in change_lines(c):
            lines.append(f"{DIFF_MARK[sym]} {text}")
        lines.append("```")
        sections.append("\n".join(lines))
    full = ["", "<details><summary>Full plan</summary>", "", "```text", render_text(plan).rstrip("\n"), "```",
            "</details>"]
    return _fit(head, rows, sections, full, limit, len(changes), _drawing(plan))


def _drawing(plan: Plan) -> list[str]:
    """The call paths the plan changes, as a Mermaid flowchart (GitHub draws it), changed resources marked;
    folded when large, and at most DRAWN_EDGES edges."""
    if not plan.paths:
        return []
    changed = [c.address for c in plan.actionable]
    edges: list[tuple[str, str, str]] = []
    drawn = 0
    for path in plan.paths:
        if len(edges) + len(path.edges) > DRAWN_EDGES and edges:
            break
        edges += [(a, "", b) for a, b in path.edges]
        drawn += 1
    numbers = len(plan.paths)
    left = f"\n\n_{numbers - drawn} more number(s) not drawn._" if drawn < numbers else ""
    chart = "```mermaid\n" + flowchart(edges, highlight=changed) + "```" + left
    caption = f"Call paths this plan changes ({numbers} number(s))"
    if numbers > OPEN_PATHS or len(edges) > OPEN_EDGES:
        return ["", f"<details><summary>{caption}</summary>", "", chart, "", "</details>"]
    return ["", f"### {caption}", "", chart]


def _icon(change: Change) -> str:
    if change.action is Action.NOOP and not change.importing:
        return "🔵 lifecycle"
    return ACTION_ICON[change.action]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fit(head: list[str], rows: list[str], sections: list[str], full: list[str], limit: int, total: int,
         drawing: list[str] | None = None) -> str:
    """Everything if it fits; otherwise head, then as many rows and sections as fit, then a note. The drawing
    of the call paths goes after the table, when it fits in what the table leaves."""
    drawing = drawing or []
    whole = "\n".join([*head, *rows, *drawing, "", "### Changes", *sections, *full]) + "\n"
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
    size = sum(len(line) + 1 for line in drawing)
    if drawing and used + size <= budget * 0.8:
        out += drawing
        used += size
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


def render_drift_markdown(plan: Plan) -> str:
    """A drift report for one stack: only what changed outside voxplan. What the stack asks for and was
    not applied yet (a merge whose apply is pending) is named apart: it is not drift."""
    out = [title("drift", plan), ""]
    if plan.drifted:
        out.append(f"**Drift: {len(plan.outside)} object(s) changed outside voxplan since the last apply.**")
        out += outside_section(plan)[2:]  # the section, under this report's own title
    else:
        out.append("**No drift.** Nothing changed outside voxplan since the last apply.")
    pending = plan.pending
    if pending:
        shown = ", ".join(f"`{c.address}`" for c in pending[:20]) + (f" and {len(pending) - 20} more"
                                                                      if len(pending) > 20 else "")
        out += ["", f"> [!NOTE]\n> Pending, not drift: {len(pending)} change(s) the stack declares are not applied yet "
                f"({shown}). Apply the stack to converge."]
    return "\n".join(out) + "\n"
