"""Write-only values (secrets a vendor never returns) and the paths that hold them: shared by diff, apply
and saved plans.

A body's *secret paths* are its adapter's write-only paths plus the dotted path of every `Secret` in it
(an interpolated first message, a vendor secret field): all of them are kept out of `sent`/`seen` in
state, compared by keyed fingerprint and masked wherever a plan shows the live side. A path may step
through a list by index (`destinations.0.message`)."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from voxplan.core.model import get_path, loosely_equal
from voxplan.core.secret import MASK, Secret


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
    return _edit_paths(value, paths, None)


def mask_paths(key: str, value: Any, paths: Sequence[str]) -> Any:
    """`value` of top-level `key` with whatever sits at the secret `paths` shown as the mask."""
    if key in paths:
        return None if value is None else MASK
    return _edit_paths(value, [p.partition(".")[2] for p in paths if p.partition(".")[0] == key], MASK)


def _edit_paths(value: Any, paths: Sequence[str], replacement: str | None) -> Any:
    """A copy of `value` with each dotted path removed (replacement None) or, where present, replaced."""
    if not paths or not isinstance(value, dict | list):
        return value
    value = copy.deepcopy(value)
    for rest in paths:
        parts = rest.split(".")
        node: Any = value
        for part in parts[:-1]:
            node = _child(node, part)
        last = parts[-1]
        if isinstance(node, dict) and last in node:
            if replacement is None:
                node.pop(last)
            else:
                node[last] = replacement
        elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
            if replacement is None:
                node[int(last)] = None
            else:
                node[int(last)] = replacement
    return value


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return None


def mark_secret_fields(body: dict[str, Any], patterns: Sequence[str], origin: str) -> None:
    """Wrap in place every string at one of `patterns` (dotted; `*` is any key or index) as a Secret: the
    vendor fields that are secrets whatever their source."""
    for parts in _split(tuple(patterns)):
        if parts[0] == "*" or parts[0] in body:  # most bodies hold none of a kind's secret fields
            _mark(body, parts, origin)


@functools.cache
def _split(patterns: tuple[str, ...]) -> tuple[list[str], ...]:
    return tuple(p.split(".") for p in patterns)


def _mark(node: Any, parts: list[str], origin: str) -> None:
    if not parts or not isinstance(node, dict | list):
        return
    head, rest = parts[0], parts[1:]
    keys: list[Any]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
    else:
        index = int(head) if head.isdigit() else len(node)
        keys = list(range(len(node))) if head == "*" else [index] if index < len(node) else []
    for k in keys:
        child = node[k]
        if not rest:
            if isinstance(child, str):
                node[k] = Secret(child, origin=origin)
        else:
            _mark(child, rest, origin)


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
    if not write_only or heads(tuple(write_only)).isdisjoint(obj) or \
            not any(_has(obj, parts) for parts in _split(tuple(write_only))):
        return obj
    return dict(strip_paths(obj, list(write_only)))


@functools.cache
def heads(paths: tuple[str, ...]) -> frozenset[str]:
    """The top-level keys `paths` (dotted) start at: most bodies and live objects hold none of them, which one
    set test says."""
    return frozenset(p.partition(".")[0] for p in paths)


def _has(node: Any, parts: list[str]) -> bool:
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def carries(sent: Mapping[str, Any], obj: Mapping[str, Any], write_only: Sequence[str],
            fill_defaults: Callable[[str, Any], Any]) -> bool:
    """Whether live `obj` holds every top-level value `sent` carried (the server's documented defaults filled
    in; write-only values left out, they never come back; a null sent is an absent key): how an object voxplan
    created is found again when no natural key names it."""
    for key, value in sent.items():
        if value is None:
            continue
        if not loosely_equal(fill_defaults(key, strip_write_only(key, value, write_only)),
                             strip_write_only(key, obj.get(key), write_only)):
            return False
    return True
