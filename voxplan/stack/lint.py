"""Offline checks of a stack's telephony values and secrets, run by `validate` after the schema, over the
tables the providers declare in their surfaces (voxplan.stack.surface).

- Every phone number (numbers and routes keys, forwards, transfer targets, caller ids), SIP URI, SIP
  header, tech prefix, username and host a provider declares (`Surface.value_checks`) is parsed by
  `voxplan.stack.telephony`.
- A Secret (an interpolated value, or a literal under a secret-named key) may sit only where a provider
  passes it to its vendor as a value (`Surface.secret_places`); anywhere else it would be printed,
  compared or formatted into another field, so it is refused with a hint to mark it `:public`.
- SIP and trunk passwords (`Surface.passwords`) shorter than 8 characters are refused.

Diagnostics never show a Secret's value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.core.secret import Secret
from voxplan.stack import telephony
from voxplan.stack.model import PathT, SourceMap
from voxplan.stack.surface import Check, Pattern, StackSurface, matches, values_at
from voxplan.stack.telephony import Problem

MIN_PASSWORD = 8


def _secrets(value: Any, path: PathT) -> Iterator[tuple[PathT, Secret]]:
    if isinstance(value, Secret):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _secrets(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _secrets(v, (*path, i))


def secret_errors(data: dict[str, Any], source: SourceMap, surface: StackSurface) -> Iterator[Diagnostic]:
    for path, secret in _secrets(data, ()):
        where = ".".join(map(str, path))
        if not any(matches(path, p) for p in surface.secret_places):
            origin = secret.origin if secret.origin != "literal" else "a secret-named key"
            yield Diagnostic(source.at(path), f"{where}: holds a secret ({origin}); voxplan treats every "
                             "interpolated value as secret and cannot use one here",
                             hint="if this value is not secret, mark it public: ${env:NAME:public}")
        elif any(matches(path, p) for p in surface.passwords) and len(secret.reveal()) < MIN_PASSWORD:  # "" too
            yield Diagnostic(source.at(path), f"{where}: the password is shorter than {MIN_PASSWORD} characters",
                             hint="use a long random password")
    for pattern in surface.passwords:  # a literal password that is not a Secret (a number, say) has a length
        for found, value in values_at(data, pattern):
            if isinstance(value, str | int) and not isinstance(value, bool) and len(str(value)) < MIN_PASSWORD:
                yield Diagnostic(source.at(found), f"{'.'.join(map(str, found))}: the password is shorter than "
                                 f"{MIN_PASSWORD} characters", hint="use a long random password")


def sip_uri(default_scheme: str = "") -> Check:
    """A check that parses a SIP URI, for `Surface.value_checks`."""
    def check(text: str) -> Problem | None:
        parsed = telephony.parse_sip_uri(text, default_scheme=default_scheme)
        return parsed if isinstance(parsed, Problem) else None
    return check


def digits(text: str) -> Problem | None:
    return None if text.isdigit() else Problem("is not digits")


# The route targets no vendor owns: any SIP URI, and a phone number to forward to.
CORE_VALUE_CHECKS: tuple[tuple[Pattern, Check], ...] = (
    (("routes", "*", "forward"), telephony.transfer_problem),
    (("routes", "*", "sip"), sip_uri("sip")),
)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> Problem | None:
    if _CONTROL.search(text):
        return Problem("has a line break or control character; it must be one line")
    return None


def telephony_errors(data: dict[str, Any], source: SourceMap, surface: StackSurface) -> Iterator[Diagnostic]:
    """Every telephony value, parsed; every value a schema pattern checks, one line (JSON Schema's `$` is
    Python's here, which lets a final line break through). Phone-number keys of numbers:/routes: are
    checked with the numbers themselves, in validate."""
    for pattern, check in CORE_VALUE_CHECKS + surface.value_checks:
        for path, value in values_at(data, pattern):
            if isinstance(value, Secret):
                found, shown = check(value.reveal()), "(sensitive)"
            elif isinstance(value, str):
                found, shown = check(value), _short(value)
            else:
                continue
            if found is not None:
                yield Diagnostic(source.at(path), f"{'.'.join(map(str, path))}: {shown} {found.message}",
                                 hint=found.hint)
    for pattern in surface.one_line:
        for path, value in values_at(data, pattern):
            found = _one_line(value) if isinstance(value, str) else None
            if found is not None:
                yield Diagnostic(source.at(path), f"{'.'.join(map(str, path))}: {_short(value)} {found.message}")
    for section in ("numbers", "routes"):  # SIP-URI keys (SIP numbers, routes to them)
        for key in data.get(section) or {}:
            if isinstance(key, str) and key.lower().startswith(("sip:", "sips:")):
                parsed = telephony.parse_sip_uri(key)
                if isinstance(parsed, Problem):
                    yield Diagnostic(source.key_at((section, key)), f"{section}.{_short(key)} {parsed.message}",
                                     hint=parsed.hint)
    for pattern in surface.header_names:
        for path, _value in values_at(data, pattern):
            found = telephony.header_name_problem(str(path[-1]))
            if found is not None:
                yield Diagnostic(source.key_at(path), f"{'.'.join(map(str, path[:-1]))}: header "
                                 f"{_short(str(path[-1]))} {found.message}")


def _short(text: str) -> str:
    """A value as a diagnostic quotes it: repr (so a line break shows as \\n, never breaks the line), cut."""
    return repr(text if len(text) <= 60 else text[:57] + "...")
