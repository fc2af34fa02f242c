"""Vapi's template variables in prompts and first messages (LiquidJS output tags): `{{first_name}}`,
`{{ first_name | default: "there" }}`. Only what voxplan needs of Liquid: which variables a text uses and
whether each has a default (the lint), and filling them in (the sandbox, as Vapi fills them from a call's
`x-` SIP headers). Tags (`{% … %}`) and filters other than `default` are left as written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TAG = re.compile(r"\{\{\s*(?P<name>[A-Za-z_][\w.]*)\s*(?P<filters>(?:\|[^}]*)?)\}\}")
_DEFAULT = re.compile(r"\|\s*default\s*:\s*(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<bare>[^|\s}]+))")


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None  # None: no `default:` filter


def variables(text: str) -> list[Variable]:
    out = []
    for match in _TAG.finditer(text):
        found = _DEFAULT.search(match.group("filters") or "")
        default = None if found is None else next(g for g in (found.group("dq"), found.group("sq"),
                                                              found.group("bare")) if g is not None)
        out.append(Variable(match.group("name"), default))
    return out


def fill(text: str, values: Mapping[str, str]) -> str:
    """Each `{{name}}` replaced by its value, else its default, else nothing (Liquid prints an unset variable as
    an empty string)."""

    def one(match: re.Match[str]) -> str:
        name = match.group("name")
        if name in values:
            return str(values[name])
        found = _DEFAULT.search(match.group("filters") or "")
        if found is None:
            return ""
        return next(g for g in (found.group("dq"), found.group("sq"), found.group("bare")) if g is not None)

    return _TAG.sub(one, text)
