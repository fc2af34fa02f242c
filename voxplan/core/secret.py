"""Secrets are a type, so no renderer has to remember to mask them.

`Secret.__str__`/`__repr__` give a placeholder, `json.dumps` refuses them, and the only ways to the
value are `reveal()` (for the request body sent to a vendor) and `fingerprint(key)` (for state).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "(sensitive)"


_KNOWN: set[str] = set()  # every form of every secret value seen, for the last line of defence (redact)
REDACT_MIN = 4  # shorter values are masked by type only: replacing "abc" wherever it occurs would garble
# every output; passwords are refused below 8 characters at validation, so none of those is this short


def encodings(value: str) -> set[str]:
    """Every form in which `value` can reach an output: raw, JSON-escaped (ASCII-only or not, as json.dumps
    and our renderers write it), Python's repr, URL-encoded (quote with and without `/` safe, quote_plus),
    and base64 (standard and URL-safe, with and without padding) of its UTF-8 bytes."""
    raw = value.encode()
    b64 = base64.b64encode(raw).decode()
    url64 = base64.urlsafe_b64encode(raw).decode()
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
             quote(value), quote(value, safe=""), quote_plus(value), quote_plus(value, safe=""),
             b64, b64.rstrip("="), url64, url64.rstrip("=")}
    return {f for f in forms if len(f) >= REDACT_MIN}


class Secret:
    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str = ""):
        self._value = value
        self.origin = origin  # where it came from, e.g. "env:WAVIX_TRUNK_PASSWORD": safe to print
        if len(value) >= REDACT_MIN:
            _KNOWN.update(encodings(value))

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


def header_unsafe(value: str) -> str:
    """Why `value` cannot travel as an HTTP header value (an API key in `Authorization: Bearer …`), without
    showing it: "" when it can. httpx sends header values as ASCII; a line break would end the header."""
    for i, char in enumerate(value, 1):
        if not " " <= char <= "~":
            what = "a non-ASCII character" if ord(char) > 0x7E else "a control character or line break"
            return f"{what} at position {i} of {len(value)}"
    return ""


def fingerprint(value: str, key: bytes) -> str:
    digest = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest[:32]}"


class Stars(str):
    """A secret's stand-in where a check needs a string as long as the value (a schema's length limits, a
    pattern): its characters are stars, and it shows as MASK however it is printed, so an error about it
    tells neither the value nor its length."""

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK


def stars(value: Any) -> Any:
    """`value` with every Secret replaced by its Stars (an empty one by 20: its length is the check's)."""
    return map_leaves(value, lambda v: Stars("*" * (len(v.reveal()) or 20)) if isinstance(v, Secret) else v)


def map_leaves(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """A deep copy of JSON-shaped `value` (dicts and lists) with `leaf` applied to every other value."""
    if isinstance(value, dict):
        return {k: map_leaves(v, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [map_leaves(v, leaf) for v in value]
    return leaf(value)


def reveal_all(value: Any) -> Any:
    """A deep copy with every Secret replaced by its value: only for a request body on its way out."""
    return map_leaves(value, lambda v: v.reveal() if isinstance(v, Secret) else v)


def mask_all(value: Any) -> Any:
    """A deep copy with every Secret replaced by the mask: for anything a human or a file sees."""
    return map_leaves(value, lambda v: MASK if isinstance(v, Secret) else v)


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
    """Text with every known secret value (in each of its `encodings`), auth header and secret-named field
    masked. Longest first, so a secret that contains another is masked whole."""
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


PRIVATE = 0o600  # debug logs, journals, plan files, state and its lock: readable by the owner only


def open_private(path: str | Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """A file descriptor on `path`, created 0600 and made 0600 if it existed with wider bits (a umask
    cannot widen it, and an old world-readable file does not stay so)."""
    fd = os.open(path, flags | os.O_CLOEXEC, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: str | Path, text: str) -> None:
    with os.fdopen(open_private(path), "w") as fh:
        fh.write(text)


class PrivateFileHandler(logging.FileHandler):
    """A logging.FileHandler whose file is created 0600."""

    def _open(self):  # type: ignore[no-untyped-def]
        return os.fdopen(open_private(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "a",
                         encoding=self.encoding or "utf-8")
