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
import errno
import os
import re
import stat
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
PUBLIC = ":public"  # `${env:NAME:public}` / `${file:PATH:public}`: this value is not a secret

# Bounds on what a stack may make voxplan do (issue 13, item 7). A 10,000-number stack is 0.85 MB and
# 122,000 YAML events; the caps leave room for five times that and refuse bombs before any is built.
MAX_STACK_BYTES = 4 * 1024 * 1024
MAX_NODES = 1_000_000  # YAML nodes after alias expansion
MAX_ALIAS_NODES = 100_000  # of which at most this many come from aliases (billion laughs: 10^9)
MAX_DEPTH = 64  # nesting of mappings and sequences (a stack is 6 deep; Vapi pass-through a few more)
MAX_SCALAR = 1_000_000  # characters in one value (Vapi's longest limit, a model message, is far beyond any
# prompt a stack holds; its other limits are in the schema: names 40, tech prefix 10,000, caller id 40)
MAX_NUMBER_DIGITS = 4_000  # an unquoted integer longer than this is refused before int() is asked to parse it
MAX_FILE_BYTES = 64 * 1024  # one `${file:}` value: a key, a password, a certificate
MAX_ENV_CHARS = 64 * 1024
ALLOWED_TAGS = frozenset({"!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


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
    """The data, where each part came from, and the problems found. `input_limits` runs first: nothing is
    composed from a stack that is over a cap."""
    problems = input_limits(text, file)
    if problems:
        return None, SourceMap(file), problems
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


def _at(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1) if mark is not None else Location(file, 1, 1)


def input_limits(text: str, file: str) -> list[Diagnostic]:
    """The caps on a stack's YAML, checked on the event stream (iterative: no node is built, so neither a
    billion laughs nor 100,000 nested brackets costs memory or recursion): nesting depth, nodes after
    alias expansion, aliases of an anchor still open (recursive), scalar length, unsupported tags. One
    located diagnostic, the first cap hit; a syntax error is left to the parser, which locates it."""
    depth = 0
    total = alias_nodes = 0
    sizes: dict[str, int] = {}  # anchor -> nodes it stands for
    open_anchors: list[tuple[str | None, int]] = []  # per open collection: its anchor, `total` at its start
    resolve = yaml.resolver.Resolver().resolve
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            where = event.start_mark
            if isinstance(event, yaml.AliasEvent):
                anchor = str(event.anchor)
                if any(a == anchor for a, _ in open_anchors):
                    return [Diagnostic(_at(file, where), f"recursive alias *{anchor}: the anchor contains itself")]
                size = sizes.get(anchor, 1)
                total += size
                alias_nodes += size
                if alias_nodes > MAX_ALIAS_NODES:
                    return [Diagnostic(_at(file, where), f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
                                       "(an alias bomb?)", hint="write the values out, or use fewer aliases")]
            elif isinstance(event, yaml.NodeEvent):
                total += 1
                tag = getattr(event, "tag", None)
                if tag is not None and tag not in ALLOWED_TAGS:
                    return [Diagnostic(_at(file, where), f"unsupported YAML tag {tag[:40]!r}",
                                       hint="remove the tag (quote the value if it is a string)")]
                if isinstance(event, yaml.CollectionStartEvent):
                    depth += 1
                    open_anchors.append((event.anchor, total - 1))
                    if depth > MAX_DEPTH:
                        return [Diagnostic(_at(file, where), f"nested more than {MAX_DEPTH} levels deep")]
                else:
                    assert isinstance(event, yaml.ScalarEvent)
                    problem = _scalar_problem(event, resolve)
                    if problem:
                        return [Diagnostic(_at(file, where), problem)]
                    if event.anchor is not None:
                        sizes[str(event.anchor)] = 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                opened, start = open_anchors.pop()
                if opened is not None:
                    sizes[opened] = total - start
            if total > MAX_NODES:
                return [Diagnostic(_at(file, where), f"more than {MAX_NODES:,} YAML nodes")]
    except yaml.YAMLError:
        return []  # the parser reports it, located
    return []


def _scalar_problem(event: yaml.ScalarEvent, resolve: Any) -> str:
    value = event.value
    if len(value) > MAX_SCALAR:
        return f"a value of {len(value):,} characters (at most {MAX_SCALAR:,})"
    if not event.style and len(value) > MAX_NUMBER_DIGITS:
        if resolve(yaml.ScalarNode, value, event.implicit) in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            return f"a number of {len(value):,} digits"
    return ""


def read_stack(path: Path) -> tuple[str | None, list[Diagnostic]]:
    """A stack file's text, read as `${file:}` values are: a regular file (a FIFO or device fails at once,
    never blocks), at most MAX_STACK_BYTES, UTF-8 without a byte-order mark. Each refusal is one
    diagnostic at the file (1:1, or where a bad byte is)."""
    file = str(path)
    try:
        raw = read_regular(path, MAX_STACK_BYTES)
    except _Refused as exc:
        # a file that is not there has no line to point at; one that is there but refused has 1:1
        where = None if exc.missing else Location(file, 1, 1)
        return None, [Diagnostic(where, f"{file}: cannot read stack: {exc}" if exc.missing else
                                 f"cannot read stack: {exc}")]
    return decode(raw, file)


def decode(raw: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    if raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return None, [Diagnostic(Location(file, 1, 1), "the file starts with a byte-order mark",
                                 hint="save it as UTF-8 without BOM")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic(_offset(raw[: exc.start].decode("utf-8", "replace"), file),
                                 f"not UTF-8 (byte 0x{raw[exc.start]:02x})", hint="save the file as UTF-8")]
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)  # what PyYAML's reader refuses, located here
    if bad:
        return None, [Diagnostic(_offset(text[: bad.start()], file),
                                 f"a control character (U+{ord(bad.group()):04X}) YAML does not allow")]
    return text, []


def _offset(before: str, file: str) -> Location:
    """The location just after `before`, the text that precedes it in the file."""
    line = before.count("\n") + 1
    return Location(file, line, len(before) - (before.rfind("\n") + 1) + 1)


class _Refused(Exception):
    """A file voxplan will not read; the message says why, and never what is in it."""

    def __init__(self, reason: str, missing: bool = False):
        super().__init__(reason)
        self.missing = missing


def read_regular(path: Path, cap: int) -> bytes:
    """At most `cap` bytes of a regular file. Opened non-blocking (a FIFO with no writer would otherwise
    hang the run) and checked with fstat on the open descriptor, so what is read is what was checked."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        reason = "a symlink loop" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise _Refused(reason, missing=exc.errno == errno.ENOENT) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise _Refused(f"it is {kind}, not a regular file")
        if info.st_size > cap:
            raise _Refused(f"it is {info.st_size:,} bytes (at most {cap:,})")
        chunks: list[bytes] = []
        size = 0
        while size <= cap:  # a file that grows after fstat still stops at the cap
            chunk = os.read(fd, min(65536, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:
            raise _Refused(f"it is over {cap:,} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise _Refused(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def peek(path: Path, size: int) -> bytes:
    """The first `size` bytes of a regular file; b"" for anything else (missing, a FIFO, a device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return b""
    try:
        return os.read(fd, size) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return b""
    finally:
        os.close(fd)


def repository_root(stack_dir: Path) -> Path:
    """Where `${file:}` may read: the stack's git work tree (the nearest directory up with a .git), or the
    stack's own directory when it is in none."""
    start = stack_dir.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def placeholder(kind: str, name: str) -> str:
    """The stand-in the sandbox uses for an unset variable: stable, so plans stay clean."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "value"
    return f"sandbox-{kind}-{slug}-placeholder"[:40].ljust(20, "x")


class Interpolator:
    """`${env:NAME}` and `${file:PATH}` in string values.

    Secret by origin: a value with any interpolation in it becomes a `Secret` (masked in every output,
    fingerprinted in state, never in a diagnostic) unless every interpolation in it is marked public with
    `:public` (`${env:REGION:public}`). The mark sits where the value is used, so a reviewer reading the
    stack sees which values will be printed; a separate `public:` list would let a rename quietly change
    that. Literal values under a secret-named key (password, api_key, secret, token) are Secrets too.

    `${file:}` reads only regular files inside the stack's repository (`repository_root`), at most
    MAX_FILE_BYTES, UTF-8; symlinks are followed only while they stay inside. Under `offline` (validate)
    an unset variable or a missing file is a warning, as under --sandbox; a refused read never is."""

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
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = repository_root(self.stack_dir)
        return self._root

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
        secret = False

        def sub(match: re.Match[str]) -> str:
            nonlocal secret
            kind, ref = match.group(1), match.group(2).strip()
            public = ref.endswith(PUBLIC)
            ref = ref.removesuffix(PUBLIC).strip() if public else ref
            if kind == "var":  # the stack's own value: a secret only if it takes one from ${env:} or ${file:}
                secret |= any(m.group(1) != "var" and not m.group(2).strip().endswith(PUBLIC)
                              for m in _INTERP.finditer(self.variables.get(ref, "")))
            else:
                secret |= not public
            origins.append(f"{kind}:{ref}")
            return self._resolve(kind, ref, path)

        value = _INTERP.sub(sub, text)
        leftover = value.find("${") if not origins else -1
        if leftover >= 0:
            shown = text if len(text) <= 60 else text[:57] + "..."
            self.diagnostics.append(
                Diagnostic(self.source.at(path), f"unknown interpolation in {shown!r}",
                           hint="use ${env:NAME}, ${file:PATH} or ${var:NAME}")
            )
        key = path[-1] if path else ""
        if origins and (secret or (isinstance(key, str) and key in SENSITIVE_KEYS)):
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
                               self._resolve(m.group(1), m.group(2).strip().removesuffix(PUBLIC).strip(), path), value)
        if kind == "env":
            if ref in self.env:
                value = self.env[ref]
                if len(value) > MAX_ENV_CHARS:
                    self._error(path, f"environment variable {ref} is {len(value):,} characters (at most "
                                f"{MAX_ENV_CHARS:,})")
                    return ""
                return value
            if self.sandbox or self.offline:
                self.diagnostics.append(
                    Diagnostic(self.source.at(path), f"environment variable {ref} is not set; " + (
                        "the sandbox uses a placeholder" if self.sandbox else "plan and apply will need it"),
                        severity="warning")
                )
                return placeholder("env", ref)
            self._error(path, f"environment variable {ref} is not set", hint=f"export {ref}=... or run with --sandbox")
            return ""
        return self._file(ref, path)

    def _file(self, ref: str, path: PathT) -> str:
        shown = ref if len(ref) <= 80 else ref[:77] + "..."
        try:
            target = (self.stack_dir / os.path.expanduser(ref)).resolve(strict=True)
        except FileNotFoundError:
            if self.sandbox or self.offline:
                self.diagnostics.append(
                    Diagnostic(self.source.at(path), f"cannot read {shown} (No such file or directory); the sandbox "
                               "uses a placeholder" if self.sandbox else f"cannot read file {shown}: No such file or "
                               "directory; plan and apply will need it", severity="warning")
                )
                return placeholder("file", ref)
            self._error(path, f"cannot read file {shown}: No such file or directory")
            return ""
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop, before Python 3.13
            loop = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
            self._error(path, f"cannot read file {shown}: " + ("a symlink loop" if loop else
                                                                 getattr(exc, "strerror", None) or "unreadable"))
            return ""
        if not target.is_relative_to(self.root):
            self._error(path, f"${{file:{shown}}} is outside the stack's repository {self.root}",
                        hint="${file:} reads only files inside the repository; take outside values from ${env:}")
            return ""
        try:
            raw = read_regular(target, MAX_FILE_BYTES)
        except _Refused as exc:
            self._error(path, f"cannot read file {shown}: {exc}")
            return ""
        try:
            return raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            self._error(path, f"cannot read file {shown}: not UTF-8 text")
            return ""

    def _error(self, path: PathT, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(self.source.at(path), message, hint=hint))
