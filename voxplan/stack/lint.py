"""Offline checks of a stack's telephony values and secrets, run by `validate` after the schema.

- Every phone number (numbers and routes keys, forwards, transfer targets, caller ids), SIP URI, SIP
  header, tech prefix, username and host is parsed by `voxplan.stack.telephony`.
- A Secret (an interpolated value, or a literal under a secret-named key) may sit only where voxplan
  passes it to a vendor as a value (`SECRET_PLACES`); anywhere else it would be printed, compared or
  formatted into another field, so it is refused with a hint to mark it `:public`.
- SIP and trunk passwords shorter than 8 characters are refused.

Diagnostics never show a Secret's value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.core.secret import Secret
from voxplan.stack import telephony
from voxplan.stack.model import PathT, SourceMap
from voxplan.stack.telephony import Problem

MIN_PASSWORD = 8

# Where a Secret may sit: `*` is one key or index, `**` anything below. Each is handed to a vendor as a
# value (never formatted into another string, compared with a name, or printed by a lint).
SECRET_PLACES: tuple[tuple[str, ...], ...] = (
    ("providers", "*", "api_key"), ("providers", "*", "webhook_secret"), ("backend", "*", "url"),
    ("trunks", "*", "password"), ("trunks", "*", "auth", "*"), ("trunks", "*", "outbound", "auth", "*"),
    ("trunks", "*", "vapi", "**"), ("trunks", "*", "wavix", "**"), ("trunks", "*", "didlogic", "**"),
    ("numbers", "*", "auth", "*"), ("numbers", "*", "vapi", "**"),
    ("assistants", "*", "first_message"), ("assistants", "*", "end_call_message"),
    ("assistants", "*", "model", "system"), ("assistants", "*", "metadata", "**"),
    ("assistants", "*", "voice", "**"), ("assistants", "*", "transcriber", "**"), ("assistants", "*", "vapi", "**"),
    ("tools", "*", "description"), ("tools", "*", "vapi", "**"), ("tools", "*", "handoff", "*", "description"),
    ("tools", "*", "transfer", "*", "message"), ("tools", "*", "transfer", "*", "when"),
    ("tools", "*", "transfer", "*", "headers", "*"),
)
PASSWORDS: tuple[tuple[str, ...], ...] = (("trunks", "*", "password"), ("trunks", "*", "auth", "password"),
                                          ("trunks", "*", "outbound", "auth", "password"),
                                          ("numbers", "*", "auth", "password"))


def _matches(path: PathT, pattern: tuple[str, ...]) -> bool:
    for i, part in enumerate(pattern):
        if part == "**":
            return len(path) > i
        if i >= len(path) or (part != "*" and path[i] != part):
            return False
    return len(path) == len(pattern)


def _secrets(value: Any, path: PathT) -> Iterator[tuple[PathT, Secret]]:
    if isinstance(value, Secret):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _secrets(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _secrets(v, (*path, i))


def secret_errors(data: dict[str, Any], source: SourceMap) -> Iterator[Diagnostic]:
    for path, secret in _secrets(data, ()):
        where = ".".join(map(str, path))
        if not any(_matches(path, p) for p in SECRET_PLACES):
            origin = secret.origin if secret.origin != "literal" else "a secret-named key"
            yield Diagnostic(source.at(path), f"{where}: holds a secret ({origin}); voxplan treats every "
                             "interpolated value as secret and cannot use one here",
                             hint="if this value is not secret, mark it public: ${env:NAME:public}")
        elif any(_matches(path, p) for p in PASSWORDS) and 0 < len(secret.reveal()) < MIN_PASSWORD:  # 0: unset
            yield Diagnostic(source.at(path), f"{where}: the password is shorter than {MIN_PASSWORD} characters",
                             hint="use a long random password")
    for path in PASSWORDS:  # a literal password that is not a Secret (a number, say) still has a length
        for found, value in _at(data, path):
            if isinstance(value, str | int) and not isinstance(value, bool) and len(str(value)) < MIN_PASSWORD:
                yield Diagnostic(source.at(found), f"{'.'.join(map(str, found))}: the password is shorter than "
                                 f"{MIN_PASSWORD} characters", hint="use a long random password")


def _at(data: Any, pattern: tuple[str, ...], path: PathT = ()) -> Iterator[tuple[PathT, Any]]:
    """Every (path, value) in `data` matching `pattern` (`*` only)."""
    if not pattern:
        yield path, data
        return
    head, rest = pattern[0], pattern[1:]
    if isinstance(data, dict):
        keys = list(data) if head == "*" else [head] if head in data else []
        for k in keys:
            yield from _at(data[k], rest, (*path, k))
    elif isinstance(data, list) and head == "*":
        for i, v in enumerate(data):
            yield from _at(v, rest, (*path, i))


Check = Callable[[str], "Problem | None"]


def _sip_uri(default_scheme: str = "") -> Check:
    def check(text: str) -> Problem | None:
        parsed = telephony.parse_sip_uri(text, default_scheme=default_scheme)
        return parsed if isinstance(parsed, Problem) else None
    return check


# (pattern, check, whether the pattern names a mapping key rather than a value)
VALUE_CHECKS: tuple[tuple[tuple[str, ...], Check], ...] = (
    (("routes", "*", "forward"), telephony.transfer_problem),
    (("routes", "*", "sip"), _sip_uri("sip")),
    (("tools", "*", "transfer", "*", "number"), telephony.transfer_problem),
    (("tools", "*", "transfer", "*", "sip"), _sip_uri()),
    (("tools", "*", "transfer", "*", "caller_id"), telephony.caller_id_problem),
    (("tools", "*", "transfer", "*", "headers", "*"), telephony.header_value_problem),
    (("tools", "*", "transfer", "*", "extension"), lambda t: None if t.isdigit() else Problem("is not digits")),
    (("trunks", "*", "caller_id"), telephony.caller_id_problem),
    (("trunks", "*", "tech_prefix"), telephony.tech_prefix_problem),
    (("trunks", "*", "sip_diversion_header"), telephony.header_value_problem),
    (("trunks", "*", "auth", "username"), telephony.username_problem),
    (("trunks", "*", "outbound", "auth", "username"), telephony.username_problem),
    (("trunks", "*", "register", "username"), telephony.username_problem),
    (("trunks", "*", "register", "domain"), telephony.host_problem),
    (("trunks", "*", "register", "realm"), telephony.host_problem),
    (("trunks", "*", "gateways", "*", "ip"), telephony.host_problem),
    (("trunks", "*", "outbound", "ip"), telephony.host_problem),
    (("trunks", "*", "outbound", "prefix"), telephony.tech_prefix_problem),
    (("trunks", "*", "proxy"), telephony.host_problem),
    (("trunks", "*", "domain"), telephony.host_problem),
    (("numbers", "*", "auth", "username"), telephony.username_problem),
)
KEY_CHECKS: tuple[tuple[str, ...], ...] = (("tools", "*", "transfer", "*", "headers", "*"),)


def _one_line(text: str) -> Problem | None:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return Problem("has a line break or control character; it must be one line")
    return None


# Values the schema checks with a pattern: JSON Schema's `$` is Python's here, which lets a final line
# break through (`proj_abc\n` matches `^proj_[A-Za-z0-9]+$`), so they are checked for one line too.
ONE_LINE: tuple[tuple[str, ...], ...] = (
    ("stack",), ("providers", "*", "base_url"), ("routes", "*", "openai"), ("routes", "*", "squad"),
    ("routes", "*", "server_url"), ("assistants", "*", "server_url"), ("trunks", "*", "cxml_url"),
    ("tools", "*", "name"), ("assistants", "*", "name"), ("trunks", "*", "name"), ("numbers", "*", "name"),
    ("trunks", "*", "outbound", "name"), ("trunks", "*", "carrier"), ("numbers", "*", "carrier"),
    ("numbers", "*", "trunk"), ("webhooks", "*", "url"), ("webhooks", "*", "name"), ("agents", "*", "model"),
)


def telephony_errors(data: dict[str, Any], source: SourceMap) -> Iterator[Diagnostic]:
    """Every telephony value, parsed. (Phone-number keys of numbers:/routes: are checked with the
    numbers themselves, in validate.)"""
    for pattern, check in VALUE_CHECKS:
        for path, value in _at(data, pattern):
            if isinstance(value, Secret):
                found, shown = check(value.reveal()), "(sensitive)"
            elif isinstance(value, str):
                found, shown = check(value), _short(value)
            else:
                continue
            if found is not None:
                yield Diagnostic(source.at(path), f"{'.'.join(map(str, path))}: {shown} {found.message}",
                                 hint=found.hint)
    for pattern in ONE_LINE:
        for path, value in _at(data, pattern):
            found = _one_line(value) if isinstance(value, str) else None
            if found is not None:
                yield Diagnostic(source.at(path), f"{'.'.join(map(str, path))}: {_short(value)} {found.message}")
    for section in ("numbers", "routes"):  # SIP-URI keys (Vapi SIP numbers, routes to them)
        for key in data.get(section) or {}:
            if isinstance(key, str) and key.lower().startswith(("sip:", "sips:")):
                parsed = telephony.parse_sip_uri(key)
                if isinstance(parsed, Problem):
                    yield Diagnostic(source.key_at((section, key)), f"{section}.{_short(key)} {parsed.message}",
                                     hint=parsed.hint)
    for pattern in KEY_CHECKS:
        for path, _value in _at(data, pattern):
            found = telephony.header_name_problem(str(path[-1]))
            if found is not None:
                yield Diagnostic(source.key_at(path), f"{'.'.join(map(str, path[:-1]))}: header "
                                 f"{_short(str(path[-1]))} {found.message}")


def _short(text: str) -> str:
    """A value as a diagnostic quotes it: repr (so a line break shows as \\n, never breaks the line), cut."""
    shown = repr(text if len(text) <= 60 else text[:57] + "...")
    return shown
