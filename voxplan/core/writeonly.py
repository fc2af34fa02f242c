"""Write-only values (secrets a vendor never returns) and the paths that hold them: shared by diff, apply
and saved plans."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from voxplan.core.model import get_path
from voxplan.core.secret import Secret


def secrets_under(key: str, value: Any, write_only: Sequence[str]) -> dict[str, Any]:
    """The write-only values declared under top-level `key`, by dotted path."""
    found = {}
    for path in write_only:
        head, _, rest = path.partition(".")
        if head != key:
            continue
        secret = get_path(value, rest) if rest else value
        if secret is not None:
            found[path] = secret
    return found


def strip_write_only(key: str, value: Any, write_only: Sequence[str]) -> Any:
    """`value` of top-level `key` without its write-only parts (None when the key itself is write-only)."""
    if key in write_only:
        return None
    return strip_paths(value, [p.partition(".")[2] for p in write_only if p.partition(".")[0] == key])


def strip_paths(value: Any, paths: Sequence[str]) -> Any:
    """A copy of `value` without the dotted `paths` inside it."""
    if not paths or not isinstance(value, dict):
        return value
    value = copy.deepcopy(value)
    for rest in paths:
        parts = rest.split(".")
        node = value
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    return value


def secret_fingerprint(value: Any, key: bytes) -> str:
    return value.fingerprint(key) if isinstance(value, Secret) else Secret(str(value)).fingerprint(key)


def overlay(value: Any, live: Any, paths: Sequence[str]) -> Any:
    """`value` with each dotted path in `paths` set to its value in `live` (or removed if live lacks it)."""
    if not isinstance(value, dict):
        return value
    value = copy.deepcopy(value)
    for path in paths:
        parts = path.split(".")
        node, src = value, live
        for part in parts[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else None
            src = src.get(part) if isinstance(src, dict) else None
        if isinstance(node, dict):
            if isinstance(src, dict) and parts[-1] in src:
                node[parts[-1]] = copy.deepcopy(src[parts[-1]])
            else:
                node.pop(parts[-1], None)
    return value


def drop_echoed(obj: dict[str, Any], write_only: Sequence[str]) -> dict[str, Any]:
    """A live object without the write-only values a vendor echoed (Vapi's SDK models a SIP number's
    `authentication.password` as returned): dropped as it arrives, before any state, plan or output
    can hold it. Objects without them are returned as they are."""
    if not write_only or not any(_has(obj, path.split(".")) for path in write_only):
        return obj
    return dict(strip_paths(obj, list(write_only)))


def _has(node: Any, parts: list[str]) -> bool:
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
