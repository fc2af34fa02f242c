from __future__ import annotations

import json
from typing import Any

from voxplan.core.model import UNKNOWN
from voxplan.core.plan import Action, Change, FieldChange
from voxplan.core.secret import MASK, mask_all

HEADLINES = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in-place",
    Action.REPLACE: "must be replaced",
    Action.DELETE: "will be destroyed",
    Action.NOOP: "will be imported",
}


def headline(change: Change) -> str:
    text = HEADLINES[change.action]
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
    if value is UNKNOWN:
        return "(known after apply)"
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return mask_all(value)


def field_line(f: FieldChange) -> tuple[str, str]:
    """(symbol, 'path: before -> after') for one field change."""
    if f.sensitive:
        return "~", f"{f.path} = {MASK}"
    suffix = "  # forces replacement" if f.forces_replacement else ""
    if f.added:
        return "+", f"{f.path} = {fmt(f.after)}{suffix}"
    if f.removed:
        return "-", f"{f.path} = {fmt(f.before)}{suffix}"
    return "~", f"{f.path} = {fmt(f.before)} -> {fmt(f.after)}{suffix}"
