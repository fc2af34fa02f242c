from __future__ import annotations

from voxplan.plan import Action, Plan
from voxplan.render.values import field_line, headline


def render_markdown(plan: Plan) -> str:
    """A PR comment: the summary line, a warning when anything is destroyed, per-resource diffs."""
    out = [f"### voxplan: `{plan.stack}`", ""]
    if not plan.has_changes:
        out.append("**No changes.** The live accounts match the stack.")
        return "\n".join(out) + "\n"
    out.append(f"**{plan.summary()}**")
    destroyed = [c.address for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE)]
    if destroyed:
        out += ["", f"> [!WARNING]\n> This plan destroys or replaces {len(destroyed)} resource(s): "
                + ", ".join(f"`{a}`" for a in destroyed)]
    out += ["", "| action | resource | reason |", "|---|---|---|"]
    for c in plan.actionable:
        out.append(f"| {headline(c)} | `{c.address}` | {c.reason.replace('|', '/')} |")
    for c in plan.actionable:
        out += ["", f"<details><summary><code>{c.address}</code> {headline(c)}</summary>", "", "```diff"]
        for f in c.fields:
            sym, text = field_line(f)
            out.append(f"{'!' if sym == '~' else sym} {text}")
        out += ["```", "</details>"]
    return "\n".join(out) + "\n"
