from __future__ import annotations

from collections.abc import Callable

from voxplan.core.plan import Action, Plan
from voxplan.render.values import affects, change_lines, headline

COLOURS = {"+": "32", "-": "31", "~": "33", "-/+": "35", "-~": "36", " ": "0", ">": "36"}


def render_text(plan: Plan, *, colour: bool = False) -> str:
    """Terraform-like text. `colour` is decided by the caller (TTY, NO_COLOR)."""

    paint = painter(colour)
    lines: list[str] = outside_lines(plan, paint)
    if not plan.has_changes:
        lines.append("No changes. The live accounts match the stack.")
        if plan.forget:
            lines.append(f"({len(plan.forget)} resource(s) gone remotely and from the stack will be dropped "
                         "from state.)")
        return "\n".join(lines) + "\n"
    lines.append("voxplan will perform the following actions:")
    for change in plan.actionable:
        symbol = ("+" if change.importing else "~") if change.action is Action.NOOP else change.action.symbol
        symbol = ">" if change.moved_from and change.action is Action.NOOP and not change.importing else symbol
        lines.append("")
        lines.append(f"  # {change.address} {headline(change)}")
        if change.reason:
            lines.append(f"  # ({change.reason})")
        if change.affects:
            lines.append(f"  # affects {affects(change.affects)}")
        ident = f" (id {change.remote_id})" if change.remote_id else ""
        lines.append(paint(symbol, f"  {symbol} {change.address}{ident}"))
        for sym, text in change_lines(change):
            lines.append(paint(sym, f"      {sym} {text}"))
    lines.append("")
    lines.append(plan.summary())
    return "\n".join(lines) + "\n"


def painter(colour: bool) -> Callable[[str, str], str]:
    """(symbol, text) -> the text in the symbol's colour, or as it is."""
    return lambda symbol, text: f"\x1b[{COLOURS[symbol]}m{text}\x1b[0m" if colour and symbol.strip() else text


OUTSIDE_HEAD = "Changed outside voxplan since the last apply"
OUTSIDE_HEADLINES = {Action.UPDATE: "has changed", Action.DELETE: "has been deleted"}


def outside_lines(plan: Plan, paint: Callable[[str, str], str] | None = None, *, before_plan: bool = True
                  ) -> list[str]:
    """Terraform's "Objects have changed outside of Terraform": what the vendors show now against their
    answer at the last apply, apart from (and before, `before_plan`) the stack's own changes."""
    if not plan.outside or plan.refresh_only:  # a refresh-only plan is nothing else
        return []
    paint = paint or painter(False)
    lines = [f"Note: {OUTSIDE_HEAD}:", "",
             "voxplan detected these changes made outside voxplan since the last apply (vendor dashboards, other "
             "tools):"]
    for change in plan.outside:
        ident = f" (id {change.remote_id})" if change.remote_id else ""
        symbol = "-" if change.action is Action.DELETE else "~"
        lines += ["", f"  # {change.address} {OUTSIDE_HEADLINES[change.action]}",
                  paint(symbol, f"  {symbol} {change.address}{ident}")]
        lines += [paint(sym, f"      {sym} {text}") for sym, text in change_lines(change)]
    if before_plan:
        lines += ["", "Unless the stack was changed to match, the plan below puts these back as the stack declares.",
                  "", "─" * 77, ""]
    return lines
