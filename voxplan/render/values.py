"""What text and markdown share: headlines, and each field change as lines.

A field change becomes one or more `(symbol, body)` lines; a renderer puts its own indent and symbol
column in front. Objects and lists span several lines; a long or multi-line string is diffed line by line
with unchanged runs collapsed to a count, as Terraform does for heredocs, so a one-word edit deep in a
prompt is visible."""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from typing import Any

from voxplan.core.model import UNKNOWN
from voxplan.core.plan import Action, Change, FieldChange
from voxplan.core.secret import MASK, Secret, map_leaves, mask_all

HEADLINES = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in-place",
    Action.REPLACE: "must be replaced",
    Action.DELETE: "will be destroyed",
    Action.UNROUTE: "will be unrouted (kept on the account; only its routing is cleared)",
    Action.NOOP: "will be imported",
}
LONG = 120  # a string longer than this, or with a line break, is shown as lines
WRAP = 100  # width of the pieces a long single-line string is cut into (at sentence ends, then words)

Line = tuple[str, str]  # (symbol: "+", "-", "~" or " ", body)


AFFECTS_SHOWN = 10  # numbers named on a change; the rest are counted


def affects(numbers: tuple[str, ...]) -> str:
    """A change's blast radius as a reviewer reads it: the numbers whose call path passes through it."""
    shown = ", ".join(numbers[:AFFECTS_SHOWN])
    return shown + (f" and {len(numbers) - AFFECTS_SHOWN} more" if len(numbers) > AFFECTS_SHOWN else "")


def headline(change: Change) -> str:
    if change.purchase and change.action is Action.CREATE:
        return "will be purchased" + (f" ({change.cost})" if change.cost else " (the vendor lists no price)")
    if change.release:
        return "will be released (given back to the carrier; buying it again costs money)"
    if change.action is Action.NOOP and not change.importing and change.protect_changed:
        return "lifecycle changes: recorded in state, nothing remote changes"
    text = HEADLINES[change.action]
    if change.moved_from and change.action is Action.NOOP and not change.importing:
        return f"has moved from {change.moved_from}"
    if change.importing and change.action is not Action.NOOP:
        text = f"will be imported and {'updated in-place' if change.action is Action.UPDATE else text[8:]}"
    return text


def fmt(value: Any, width: int = 200) -> str:
    """A one-line display form: strings quoted, secrets masked, unknowns named."""
    if value is UNKNOWN:
        return "(known after apply)"
    if value == MASK:
        return MASK
    if value is None:
        return "null"
    text = json.dumps(jsonable(value), ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= width else text[: width - 1] + "…"


def jsonable(value: Any) -> Any:
    return map_leaves(value, lambda v: "(known after apply)" if v is UNKNOWN else MASK if isinstance(v, Secret) else v)


def field_line(f: FieldChange) -> tuple[str, str]:
    """The first line of `field_lines` (kept for callers that want one line per field)."""
    return field_lines(f)[0]


def change_lines(change: Change) -> list[Line]:
    """Every line of a change's body: its fields, then a lifecycle change that only state records."""
    out = [line for f in change.fields for line in field_lines(f)]
    if change.protect_changed:
        out.append(("~", f"lifecycle.protect = {fmt(change.prior_protect)} -> {fmt(change.protect)}"
                         "  # recorded in state"))
    return out


def field_lines(f: FieldChange) -> list[Line]:
    """One field change as lines: `~ path = before -> after`, `+ path = value`, `- path = value -> null`."""
    if f.sensitive:
        return [("~", f"{f.path} = {MASK}")]
    suffix = "  # forces replacement" if f.forces_replacement else ""
    if _is_text(f.before) or _is_text(f.after):
        return _text_lines(f, suffix)
    if f.added:
        return _value_lines("+", f"{f.path} = ", f.after, suffix)
    if f.removed:
        return _value_lines("-", f"{f.path} = ", f.before, f" -> {fmt(f.after)}{suffix}")
    if _is_block(f.before) or _is_block(f.after):
        return (_value_lines("-", f"{f.path} = ", f.before, "") +
                _value_lines("+", f"{f.path} = ", f.after, suffix))
    return [("~", f"{f.path} = {fmt(f.before)} -> {fmt(f.after)}{suffix}")]


def _is_block(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value != MASK and ("\n" in value or len(value) > LONG)


def _value_lines(symbol: str, head: str, value: Any, tail: str) -> list[Line]:
    """`head` + the value, over several lines when it is an object or a list."""
    if not _is_block(value):
        return [(symbol, f"{head}{fmt(value)}{tail}")]
    text = json.dumps(_marked(value), ensure_ascii=False, indent=2).replace(_UNKNOWN_JSON, str(UNKNOWN)).splitlines()
    return [(symbol, head + text[0])] + [(symbol, line) for line in text[1:-1]] + [(symbol, text[-1] + tail)]


_UNKNOWN_MARK = "\x00unknown\x00"
_UNKNOWN_JSON = json.dumps(_UNKNOWN_MARK)


def _marked(value: Any) -> Any:
    """`jsonable`, with unknowns as a mark that becomes a bare `(known after apply)`, never a quoted string."""
    if value is UNKNOWN:
        return _UNKNOWN_MARK
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return mask_all(value)


def text_pieces(text: str) -> list[str]:
    """A string as the lines it is diffed by: its own lines; a long line is cut at sentence ends, and a
    long sentence at words, so an edit changes few pieces."""
    out: list[str] = []
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":  # a final line break ends the last line, as in a heredoc
        lines.pop()
    for line in lines:
        if len(line) <= WRAP:
            out.append(line)
            continue
        for sentence in re.split(r"(?<=[.!?;:])\s+", line):
            out += textwrap.wrap(sentence, WRAP, break_long_words=False, break_on_hyphens=False) or [sentence]
    return out


def _text_lines(f: FieldChange, suffix: str) -> list[Line]:
    before = text_pieces(f.before) if isinstance(f.before, str) else None
    after = text_pieces(f.after) if isinstance(f.after, str) else None
    if before is None or after is None:  # added or removed (or a type change): shown whole, as a heredoc
        symbol = "+" if after is not None else "-"
        pieces = after if after is not None else before or []
        other = f.before if after is not None else f.after
        tail = "" if f.added or (after is not None and other is None) else f" -> {fmt(other)}"
        if after is not None and other is not None:  # from a non-string to a long string
            return [("-", f"{f.path} = {fmt(other)}"), ("+", f"{f.path} = <<-EOT")] + [
                ("+", f"    {p}") for p in pieces] + [("+", f"  EOT{suffix}")]
        return [(symbol, f"{f.path} = <<-EOT")] + [(symbol, f"    {p}") for p in pieces] + [
            (symbol, f"  EOT{tail}{suffix}")]
    out: list[Line] = [("~", f"{f.path} = <<-EOT")]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if op == "equal":
            n = i2 - i1
            out.append((" ", f"    # ({n} unchanged line{'s' if n != 1 else ''} hidden)"))
            continue
        out += [("-", f"    {p}") for p in before[i1:i2]]
        out += [("+", f"    {p}") for p in after[j1:j2]]
    out.append((" ", f"  EOT{suffix}"))
    return out
