"""Secrets are a type, so no renderer has to remember to mask them.

`Secret.__str__`/`__repr__` give a placeholder, `json.dumps` refuses them, and the only ways to the
value are `reveal()` (for the request body sent to a vendor) and `fingerprint(key)` (for state).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Any

MASK = "(sensitive)"


_KNOWN: set[str] = set()  # every secret value seen, for the last line of defence in logs (redact)


class Secret:
    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str = ""):
        self._value = value
        self.origin = origin  # where it came from, e.g. "env:WAVIX_TRUNK_PASSWORD": safe to print
        if len(value) >= 4:
            _KNOWN.add(value)

    def reveal(self) -> str:
        return self._value

    def fingerprint(self, key: bytes) -> str:
        return fingerprint(self._value, key)

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("secret", hashlib.sha256(self._value.encode()).hexdigest()))

    def __copy__(self) -> Secret:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


def fingerprint(value: str, key: bytes) -> str:
    digest = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest[:32]}"


def reveal_all(value: Any) -> Any:
    """A deep copy with every Secret replaced by its value: only for a request body on its way out."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {k: reveal_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_all(v) for v in value]
    return value


def mask_all(value: Any) -> Any:
    """A deep copy with every Secret replaced by the mask: for anything a human or a file sees."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {k: mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_all(v) for v in value]
    return value


class SafeEncoder(json.JSONEncoder):
    """A JSON encoder that refuses to write a Secret raw."""

    def default(self, o: Any) -> Any:
        if isinstance(o, Secret):
            raise TypeError("refusing to serialise a Secret; mask or fingerprint it first")
        return super().default(o)


_BEARER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(bearer|basic)\s+)[^\s'\",}]+")
_FIELDS = re.compile(r"(?i)(['\"]?(password|authPassword|api_key|apiKey|secret|token|sipPassword)['\"]?\s*[:=]\s*)"
                     r"(['\"])[^'\"]*\3")


def redact(text: str) -> str:
    """Text with every known secret value, auth header and secret-named field masked."""
    for value in sorted(_KNOWN, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _FIELDS.sub(lambda m: f"{m.group(1)}{m.group(3)}{MASK}{m.group(3)}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in every record (message and arguments) before any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True
