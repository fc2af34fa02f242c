"""YAML → plain data with a SourceMap, and `${env:…}` / `${file:…}` / `${var:…}` interpolation.

One path: PyYAML composes the node tree (libyaml's C composer where the wheel has it) and we build the
values from the nodes, so every value and key keeps its `file:line:col` and duplicate keys are errors
(PyYAML keeps the last silently). Scalars resolve exactly as PyYAML's SafeLoader resolves them (YAML 1.1:
`0.3` is a float, `yes` a bool, `0x1F` 31, `~` null), with one deliberate rule for phone numbers:

    A plain scalar that YAML would read as an integer but that is written with a leading `+` or `0`
    followed by more digits keeps the text written. `+61290597521` is an E.164 number, not 61290597521;
    `0290597521` is a national number to report with its fix, not an octal integer.

Values that JSON cannot carry (dates, timestamps, binary, sets) and tags other than the standard ones are
located errors: quote them if they are text.
"""

from __future__ import annotations

import datetime
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
SENSITIVE_KEYS = frozenset({"password", "api_key", "secret", "token", "webhook_secret"})
_INTERP = re.compile(r"\$\{(env|file|var):([^}]*)\}")
_PHONE_LIKE = re.compile(r"^[+0][0-9]+$")  # the one rule (see the module docstring)
_INT_TAG = "tag:yaml.org,2002:int"
_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_JSON_SCALARS = (str, int, float, bool, type(None))


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, file: str):
        self.file = file
        self.source = SourceMap(file)
        self.diagnostics: list[Diagnostic] = []
        self._scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: PathT) -> Any:
        self.source.values[path] = _loc(self.file, node)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _COLLECTION_TAGS:
            self._error(node, f"the tag {node.tag!r} is not supported here")
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self._error(key_node, "mapping keys must be scalars")
                    continue
                key = str(key_node.value)
                if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                    self._error(key_node, "YAML merge keys are not supported")
                    continue
                if key in out:
                    self._error(key_node, f"duplicate key {key!r} (an earlier one is ignored by most YAML tools)")
                    continue
                self.source.keys[path + (key,)] = _loc(self.file, key_node)
                out[key] = self.build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node)

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _INT_TAG and not node.style and _PHONE_LIKE.match(node.value) and len(node.value) > 1:
            return node.value  # a phone number, not arithmetic
        try:
            value = self._scalars.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self._error(node, f"YAML error: {getattr(exc, 'problem', None) or exc}")
            return None
        if not isinstance(value, _JSON_SCALARS):
            kind = "date" if isinstance(value, datetime.date) else type(value).__name__
            self._error(node, f"{node.value!r} is read as a {kind}, which no vendor API takes",
                        hint=f'quote it if it is text: "{node.value}"')
            return None
        return value

    def _error(self, node: yaml.Node, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(_loc(self.file, node), message, hint))


def parse_yaml(text: str, file: str) -> tuple[Any, SourceMap, list[Diagnostic]]:
    """The data, where each part came from, and the problems found."""
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
    def __init__(self, stack_dir: Path, env: Mapping[str, str], source: SourceMap, sandbox: bool,
                 offline: bool = False, *, variables: Mapping[str, str] | None = None,
                 environment: str = "default"):
        self.stack_dir = stack_dir
        self.env = env
        self.source = source
        self.sandbox = sandbox
        self.offline = offline  # validate: nothing is sent, so an unset value is a warning, not an error
        self.variables = variables or {}  # the chosen environment's `${var:…}` values (voxplan.stack.environments)
        self.environment = environment
        self.diagnostics: list[Diagnostic] = []

    def walk(self, value: Any, path: PathT) -> Any:
        """Interpolate in place (the data was just parsed and is ours): no copy of 10,000 entries, and a
        path is built only where something is replaced."""
        if type(value) is dict and any(type(k) is str and "${" in k for k in value):
            self._keys(value, path)  # `"sip:${var:line}@sip.vapi.ai": …`: environments differ in keys too
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

    def _keys(self, mapping: dict[str, Any], path: PathT) -> None:
        """Interpolate mapping keys in place, keeping their order."""
        items = list(mapping.items())
        mapping.clear()
        for key, item in items:
            if type(key) is str and "${" in key:
                text = self._string(key, (*path, key))
                key = text.reveal() if isinstance(text, Secret) else str(text)
            mapping[key] = item

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
                           hint="use ${env:NAME}, ${file:PATH} or ${var:NAME}")
            )
        key = path[-1] if path else ""
        if origins and (isinstance(key, str) and key in SENSITIVE_KEYS):
            return Secret(value, origin=",".join(origins))
        return value

    def _resolve(self, kind: str, ref: str, path: PathT) -> str:
        if kind == "var":
            if ref not in self.variables:
                if self.sandbox:
                    self.diagnostics.append(Diagnostic(self.source.at(path), f"variable {ref} is not set for "
                                                       f"environment {self.environment!r}; the sandbox uses a "
                                                       "placeholder", severity="warning"))
                    return placeholder("var", ref)
                self.diagnostics.append(Diagnostic(self.source.at(path), f"variable {ref} is not set for environment "
                                                   f"{self.environment!r}", hint=f"set it under environments: "
                                                   f"{self.environment}: or in the stack's var file"))
                return ""
            value = self.variables[ref]  # it may use ${env:…} and ${file:…} itself, not ${var:…}
            return _INTERP.sub(lambda m: m.group(0) if m.group(1) == "var" else
                               self._resolve(m.group(1), m.group(2).strip(), path), value)
        if kind == "env":
            if ref in self.env:
                return self.env[ref]
            if self.sandbox or self.offline:
                self.diagnostics.append(
                    Diagnostic(self.source.at(path), f"environment variable {ref} is not set; " + (
                        "the sandbox uses a placeholder" if self.sandbox else "plan and apply will need it"),
                        severity="warning")
                )
                return placeholder("env", ref)
            self.diagnostics.append(Diagnostic(self.source.at(path), f"environment variable {ref} is not set",
                                               hint=f"export {ref}=... or run with --sandbox"))
            return ""
        file = (self.stack_dir / os.path.expanduser(ref)).resolve()
        try:
            return file.read_text().rstrip("\r\n")
        except OSError as exc:
            if self.sandbox or self.offline:
                self.diagnostics.append(
                    Diagnostic(self.source.at(path), f"cannot read {ref} ({exc.strerror}); the sandbox uses a "
                               "placeholder" if self.sandbox else f"cannot read file {ref}: {exc.strerror}; plan "
                               "and apply will need it", severity="warning")
                )
                return placeholder("file", ref)
            self.diagnostics.append(Diagnostic(self.source.at(path), f"cannot read file {ref}: {exc.strerror}"))
            return ""
