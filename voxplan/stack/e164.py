"""E.164: the one number format users write. Vendors' own forms are made by their adapters."""

from __future__ import annotations

import re

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PUNCT = re.compile(r"[\s().\-/]")


def normalise(text: str) -> str:
    """Drop the punctuation people write in numbers: '+1 (406) 770-4205' -> '+14067704205'."""
    return _PUNCT.sub("", text) if _PUNCT.search(text) else text  # most are written plain: no new string


def is_e164(text: str) -> bool:
    return bool(_E164.match(normalise(text)))


def hint(text: str) -> str:
    """How to turn a national or dial-prefixed form into E.164."""
    digits = normalise(text)
    for prefix in ("011", "00"):
        if digits.startswith(prefix) and digits[len(prefix):].isdigit():
            return f"strip the {prefix} international prefix and write +{digits[len(prefix):]}"
    if digits.startswith("0") and digits.isdigit():
        return f"strip the trunk prefix 0 and add the country code: +<country code>{digits[1:]}"
    if digits.isdigit():
        return f"add the leading + (if {digits[:3]}… starts with the country code): +{digits}"
    return "write the number as + country code and subscriber number, digits only, e.g. +14155551234"
