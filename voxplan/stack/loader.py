"""YAML → plain data with a SourceMap, and `${env:…}` / `${file:…}` interpolation.

PyYAML's composer gives nodes with marks; we build the values ourselves so that every value and key
keeps its `file:line:col`, duplicate keys are errors (PyYAML keeps the last silently), and phone numbers
written without quotes (`+61290597521`, which YAML reads as an integer) keep their text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from voxplan.core.errors import Diagnostic, Location
from voxplan.core.secret import Secret
from voxplan.stack.model import PathT, SourceMap

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it
SENSITIVE_KEYS = frozenset({"password", "api_key", "secret", "token"})
_INTERP = re.compile(r"\$\{(env|file):([^}]*)\}")


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, file: str, source: SourceMap | None = None):
        self.file = file
        self.source = source or SourceMap(file)
        self.diagnostics: list[Diagnostic] = []
        self._scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: PathT) -> Any:
        self.source.values[path] = _loc(self.file, node)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.diagnostics.append(Diagnostic(_loc(self.file, key_node), "mapping keys must be scalars"))
                    continue
                key = str(key_node.value)
                if key == "<<":
                    self.diagnostics.append(Diagnostic(_loc(self.file, key_node), "YAML merge keys are not supported"))
                    continue
                if key in out:
                    self.diagnostics.append(
                        Diagnostic(_loc(self.file, key_node), f"duplicate key {key!r} (an earlier one is ignored by "
                                   "most YAML tools)")
                    )
                    continue
                self.source.keys[path + (key,)] = _loc(self.file, key_node)
                out[key] = self.build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node)

    def scalar(self, node: yaml.ScalarNode) -> Any:
        value = self._scalars.construct_object(node, deep=True)
        if isinstance(value, int | float) and not isinstance(value, bool) and not node.style:
            text = str(node.value)
            if text.startswith(("+", "0")) and len(text) > 1:
                return text  # a phone number, not arithmetic
        if not isinstance(value, str | int | float | bool | type(None)):
            return str(node.value)  # timestamps, binary: keep the text
        return value


def parse_yaml(text: str, file: str) -> tuple[Any, SourceMap, list[Diagnostic]]:
    """The data, where each part came from, and the problems found. A stack with nothing to report
    takes the fast path (libyaml events, no node tree, positions computed only if asked for)."""
    try:
        data = _fast_load(text)
    except yaml.YAMLError:
        data = None
    if data is not None:
        return data, SourceMap(file, locate=lambda source: _locate(text, source)), []
    return _load_with_positions(text, file)


def _locate(text: str, source: SourceMap) -> None:
    node = yaml.compose(text, Loader=_LOADER)
    if node is not None:
        _Builder(source.file, source).build(node, ())


class _Undecided(Exception):
    """Something the fast path leaves to the positioned one: anchors, tags, odd keys, several documents."""


class _Mapping:
    __slots__ = ("data", "key")

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.key: str | None = None


def _fast_load(text: str) -> Any:
    """The same values as `_Builder.build` gives for a well-formed stack, without nodes or positions; None
    whenever there is something to report or a construct it does not handle."""
    loader = _LOADER(text)
    get = loader.get_event
    resolve = yaml.resolver.Resolver().resolve
    scalar = _Builder("").scalar
    plain: dict[str, Any] = {}  # plain scalars repeat ("wavix", "true"): resolve each text once
    open_: list[Any] = []  # containers being filled: _Mapping or list
    root: Any = None
    documents = 0
    try:
        while True:
            event = get()
            kind = type(event)
            top: Any = open_[-1] if open_ else None
            in_key = type(top) is _Mapping and top.key is None
            if kind is yaml.ScalarEvent:
                if event.anchor is not None or (event.tag is not None and event.tag != "!"):
                    raise _Undecided
                if in_key:
                    key = str(event.value)
                    if key == "<<" or key in top.data:
                        raise _Undecided  # a merge key or a duplicate: the positioned path reports it
                    top.key = key
                    continue
                if not event.style:  # plain (libyaml says '', the Python parser None)
                    value = plain.get(event.value, plain)
                    if value is plain:
                        tag = resolve(yaml.ScalarNode, event.value, event.implicit)
                        value = event.value if tag == _STR else scalar(yaml.ScalarNode(tag, event.value))
                        plain[event.value] = value
                else:
                    value = event.value
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if in_key or event.anchor is not None or (event.tag is not None and event.tag != "!"):
                    raise _Undecided
                open_.append(_Mapping() if kind is yaml.MappingStartEvent else [])
                continue
            elif kind is yaml.MappingEndEvent:
                value = open_.pop().data
            elif kind is yaml.SequenceEndEvent:
                value = open_.pop()
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Undecided
                continue
            elif kind is yaml.StreamEndEvent:
                return root
            elif kind is yaml.AliasEvent:
                raise _Undecided
            else:  # stream start, document end
                continue
            top = open_[-1] if open_ else None
            if top is None:
                root = value
            elif type(top) is _Mapping:
                top.data[top.key] = value  # type: ignore[index]
                top.key = None
            else:
                top.append(value)
    except _Undecided:
        return None
    finally:
        loader.dispose()


_STR = "tag:yaml.org,2002:str"


def _load_with_positions(text: str, file: str) -> tuple[Any, SourceMap, list[Diagnostic]]:
    builder = _Builder(file)
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark and "end of stream" in (exc.problem or ""):
            # an unclosed quote or bracket: point at where it was opened, not at the end of the file
            mark, problem = exc.context_mark, f"{exc.context}, {problem}"
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        lines = text.splitlines()
        hint = ""
        if mark and mark.line < len(lines) and "${" in lines[mark.line]:
            hint = 'inside { } or [ ], quote interpolations: "${env:NAME}"'
        return None, builder.source, [Diagnostic(loc, f"YAML syntax error: {problem}", hint)]
    except yaml.YAMLError as exc:
        return None, builder.source, [Diagnostic(Location(file, 1, 1), f"YAML error: {exc}")]
    if node is None:
        return None, builder.source, [Diagnostic(Location(file, 1, 1), "the stack file is empty")]
    data = builder.build(node, ())
    return data, builder.source, builder.diagnostics


def placeholder(kind: str, name: str) -> str:
    """The stand-in the sandbox uses for an unset variable: stable, so plans stay clean."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "value"
    return f"sandbox-{kind}-{slug}-placeholder"[:40].ljust(20, "x")


class Interpolator:
    def __init__(self, stack_dir: Path, env: Mapping[str, str], source: SourceMap, sandbox: bool):
        self.stack_dir = stack_dir
        self.env = env
        self.source = source
        self.sandbox = sandbox
        self.diagnostics: list[Diagnostic] = []

    def walk(self, value: Any, path: PathT) -> Any:
        """Interpolate in place (the data was just parsed and is ours): no copy of 10,000 entries, and a
        path is built only where something is replaced."""
        if type(value) is dict or type(value) is list:
            container: Any = value
            for k, v in value.items() if type(value) is dict else enumerate(value):
                if type(v) is dict or type(v) is list:
                    self.walk(v, (*path, k))
                elif type(v) is str and "${" in v:
                    container[k] = self._string(v, (*path, k))
                elif type(k) is str and k in SENSITIVE_KEYS and isinstance(v, str | int):
                    container[k] = Secret(str(v), origin="literal")
            return value
        if isinstance(value, str) and "${" in value:
            return self._string(value, path)
        return value

    def _string(self, text: str, path: PathT) -> Any:
        origins: list[str] = []

        def sub(match: re.Match[str]) -> str:
            kind, ref = match.group(1), match.group(2).strip()
            origins.append(f"{kind}:{ref}")
            return self._resolve(kind, ref, path)

        value = _INTERP.sub(sub, text)
        leftover = value.find("${") if not origins else -1
        if leftover >= 0:
            self.diagnostics.append(
                Diagnostic(self.source.at(path), f"unknown interpolation in {text!r}",
                           hint="use ${env:NAME} or ${file:PATH}")
            )
        key = path[-1] if path else ""
        if origins and (isinstance(key, str) and key in SENSITIVE_KEYS):
            return Secret(value, origin=",".join(origins))
        return value

    def _resolve(self, kind: str, ref: str, path: PathT) -> str:
        if kind == "env":
            if ref in self.env:
                return self.env[ref]
            if self.sandbox:
                self.diagnostics.append(
                    Diagnostic(self.source.at(path), f"environment variable {ref} is not set; the sandbox uses a "
                               "placeholder", severity="warning")
                )
                return placeholder("env", ref)
            self.diagnostics.append(Diagnostic(self.source.at(path), f"environment variable {ref} is not set",
                                               hint=f"export {ref}=... or run with --sandbox"))
            return ""
        file = (self.stack_dir / os.path.expanduser(ref)).resolve()
        try:
            return file.read_text().rstrip("\r\n")
        except OSError as exc:
            if self.sandbox:
                self.diagnostics.append(
                    Diagnostic(self.source.at(path), f"cannot read {ref} ({exc.strerror}); the sandbox uses a "
                               "placeholder", severity="warning")
                )
                return placeholder("file", ref)
            self.diagnostics.append(Diagnostic(self.source.at(path), f"cannot read file {ref}: {exc.strerror}"))
            return ""
