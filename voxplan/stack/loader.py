"""YAML → plain data with a SourceMap, and `${env:…}` / `${file:…}` / `${var:…}` interpolation.

One pass over libyaml's events (PyYAML's C parser where the wheel has it) builds the values, their
positions and enforces the input caps, so every value and key keeps its `file:line:col`, duplicate keys are
errors (PyYAML keeps the last silently) and nothing is built past a cap. Scalars resolve exactly as
PyYAML's SafeLoader resolves them (YAML 1.1: `0.3` is a float, `yes` a bool, `0x1F` 31, `~` null), with one
deliberate rule for phone numbers:

    A plain scalar that YAML would read as an integer but that is written with a leading `+` or `0`
    followed by more digits keeps the text written. `+61290597521` is an E.164 number, not 61290597521;
    `0290597521` is a national number to report with its fix, not an octal integer.

Values that JSON cannot carry (dates, timestamps, binary, sets) and tags other than the standard ones are
located errors: quote them if they are text.
"""

from __future__ import annotations

import copy
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
from voxplan.stack.model import Leaf, PathT, SourceMap, Where

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it
SENSITIVE_KEYS = frozenset({"password", "api_key", "secret", "token", "webhook_secret"})
_INTERP = re.compile(r"\$\{(env|file|var):([^}]*)\}")
_PHONE_LIKE = re.compile(r"^[+0][0-9]+$")  # the one rule (see the module docstring)
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_JSON_SCALARS = (str, int, float, bool, type(None))
PUBLIC = ":public"  # `${env:NAME:public}` / `${file:PATH:public}`: this value is not a secret

# Bounds on what a stack may make voxplan do (issue 13, item 7; reshaped in issue 24). A 100,000-number
# stack is 8.6 MB and 1,000,000 YAML nodes: the byte and node caps leave room for twice that, and a file at
# them costs time in proportion to its size (the densest, two bytes a node, about as much as 200,000
# numbers). The amplifiers (aliases, nesting, one huge value or number) have caps of their own that do not
# grow with the file, so a bomb is refused before any of it is built.
MAX_STACK_BYTES = 16 * 1024 * 1024
MAX_NODES = 2_000_000  # YAML nodes after alias expansion
MAX_ALIAS_NODES = 100_000  # of which at most this many come from aliases (billion laughs: 10^9)
MAX_DEPTH = 64  # nesting of mappings and sequences (a stack is 6 deep; Vapi pass-through a few more)
MAX_SCALAR = 1_000_000  # characters in one value (Vapi's longest limit, a model message, is far beyond any
# prompt a stack holds; its other limits are in the schema: names 40, tech prefix 10,000, caller id 40)
MAX_NUMBER_DIGITS = 4_000  # an unquoted integer longer than this is refused before int() is asked to parse it
MAX_FILE_BYTES = 64 * 1024  # one `${file:}` value: a key, a password, a certificate
MAX_ENV_CHARS = 64 * 1024
ALLOWED_TAGS = frozenset({"!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


class _Refused(Exception):
    """A cap hit while reading the events: the one diagnostic the stack gets (nothing built is kept)."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Frame:
    """A mapping or sequence being built: its value, its positions, the key waiting for its value."""

    __slots__ = ("value", "where", "key", "key_at", "skip", "anchor", "start", "at", "mute")

    def __init__(self, value: dict[str, Any] | list[Any], where: Where, anchor: str | None, start: int, at: int,
                 mute: bool):
        self.value = value
        self.where = where
        self.key: Any = None  # in a mapping: the key whose value comes next (None: a key comes next)
        self.key_at = 0
        self.skip = False  # the value that comes next is dropped (its key was refused)
        self.anchor = anchor
        self.start = start  # nodes counted before this one began (for the size of its anchor)
        self.at = at
        self.mute = mute  # inside something dropped (a refused key's value, a key that is a mapping): not reported


_NO_KEY = object()  # a mapping key that was refused: its value is dropped


class _Builder:
    """One pass over libyaml's events that builds the values and their positions and enforces the caps.

    Scalars resolve through PyYAML's own resolver and constructor (SafeLoader's YAML 1.1 rules) with the
    phone-number rule of the module docstring; a plain scalar whose first character starts none of the
    resolver's implicit types, and a quoted one, is a string without asking. Mapping keys are their text.
    Positions go into a `Where` per mapping or sequence, two packed integers per entry. A cap (nesting,
    nodes after alias expansion, alias nodes, a recursive alias, value length, digits, tags) stops the pass
    with one located diagnostic."""

    def __init__(self, file: str):
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.total = 0  # nodes, each alias counted as the nodes it stands for
        self.alias_nodes = 0
        self.resolved: dict[str, str] = {}  # a plain scalar's text -> the tag PyYAML's resolver gives it
        # anchor -> (value, positions inside it, nodes it stands for, where it is, its text if a scalar)
        self.anchors: dict[str, tuple[Any, Where | Leaf | None, int, int, str | None]] = {}

    def build(self, text: str) -> tuple[Any, SourceMap]:
        loader = _LOADER(text)
        try:
            get = loader.get_event
            get()  # StreamStart
            first = get()
            if type(first) is yaml.StreamEndEvent:
                return None, SourceMap(self.file)
            value, where, at = self._node(loader)
            get()  # DocumentEnd
            after = get()
            if type(after) is not yaml.StreamEndEvent:  # worded as PyYAML's composer words it
                raise yaml.composer.ComposerError("expected a single document in the stream", first.start_mark,
                                                  "but found another document", after.start_mark)
            return value, SourceMap(self.file, where, at)
        finally:
            loader.dispose()

    def _node(self, loader: Any) -> tuple[Any, Where | Leaf | None, int]:
        """The document's one node, from its events: iteratively (no recursion, however deep)."""
        get, resolve = loader.get_event, loader.resolve
        implicit = loader.yaml_implicit_resolvers
        starters = None if None in implicit else frozenset(implicit)  # first characters of non-strings
        stack: list[_Frame] = []
        # one string per distinct scalar text and one tuple per set of keys, for this pass: a stack of many
        # numbers repeats its keys, carriers, trunks and assistants (and each number as a route's key)
        texts: dict[str, str] = {}
        shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
        while True:
            event = get()
            cls = type(event)
            mark = event.start_mark
            at = (mark.line + 1) << 32 | (mark.column + 1)
            parent = stack[-1] if stack else None
            kid: Where | Leaf | None = None
            if cls is yaml.ScalarEvent:
                self.total += 1
                text, tag = event.value, event.tag
                text = texts.setdefault(text, text)
                plain = not event.style
                if tag is not None and tag not in ALLOWED_TAGS:
                    self._refuse(at, f"unsupported YAML tag {tag[:40]!r}", "remove the tag (quote the value if it "
                                 "is a string)")
                if len(text) > MAX_SCALAR:
                    self._refuse(at, f"a value of {len(text):,} characters (at most {MAX_SCALAR:,})")
                if plain and len(text) > MAX_NUMBER_DIGITS and resolve(yaml.ScalarNode, text, event.implicit) in (
                        _INT_TAG, _FLOAT_TAG):
                    self._refuse(at, f"a number of {len(text):,} digits")
                if parent is not None and parent.key is None and type(parent.value) is dict:
                    self._key(parent, text, at, plain and text == "<<" and tag is None and
                              resolve(yaml.ScalarNode, text, event.implicit) == _MERGE_TAG)
                    if event.anchor is not None:
                        self._anchor(event.anchor, text, None, 1, at, stack, text)
                    continue
                if (tag is None or tag == "!") and (not plain or (text and starters is not None
                                                                  and text[0] not in starters)):
                    built: Any = text  # nothing else starts so, or it was quoted: a string
                else:
                    built = self._scalar(loader, event, plain, at, parent)
                if event.anchor is not None:
                    self._anchor(event.anchor, built, None, 1, at, stack, text)
            elif cls is yaml.MappingStartEvent or cls is yaml.SequenceStartEvent:
                self.total += 1
                tag = event.tag
                if tag is not None and tag not in ALLOWED_TAGS:
                    self._refuse(at, f"unsupported YAML tag {tag[:40]!r}", "remove the tag (quote the value if it "
                                 "is a string)")
                if len(stack) >= MAX_DEPTH:
                    self._refuse(at, f"nested more than {MAX_DEPTH} levels deep")
                if event.anchor is not None:
                    self._new_anchor(event.anchor, at, stack)
                mute = parent is not None and (parent.mute or parent.skip or (
                    type(parent.value) is dict and parent.key is None))
                if tag is not None and tag != "!" and tag not in _COLLECTION_TAGS and not mute:
                    self._error(at, f"the tag {tag!r} is not supported here")
                is_map = cls is yaml.MappingStartEvent
                stack.append(_Frame({} if is_map else [], Where([] if is_map else None), event.anchor,
                                    self.total - 1, at, mute))
                self._check_total(at)
                continue
            elif cls is yaml.MappingEndEvent or cls is yaml.SequenceEndEvent:
                frame = stack.pop()
                built, kid, at = frame.value, frame.where.done(shapes), frame.at
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = (built, kid, self.total - frame.start, at, None)
                parent = stack[-1] if stack else None
            elif cls is yaml.AliasEvent:
                anchor = str(event.anchor)
                if any(f.anchor == anchor for f in stack):
                    self._refuse(at, f"recursive alias *{anchor}: the anchor contains itself")
                if anchor not in self.anchors:
                    raise yaml.composer.ComposerError(None, None, "found undefined alias", mark)
                source, kid, size, _, text = self.anchors[anchor]
                self.total += size
                self.alias_nodes += size
                if self.alias_nodes > MAX_ALIAS_NODES:
                    self._refuse(at, f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (an alias bomb?)",
                                 "write the values out, or use fewer aliases")
                if parent is not None and parent.key is None and type(parent.value) is dict:
                    if text is None:
                        self._key(parent, None, at, False)  # a mapping or sequence as a key
                    else:
                        self._key(parent, text, at, False)
                    self._check_total(at)
                    continue
                built = copy.deepcopy(source) if kid is not None else source  # each use is a value of its own
            else:  # pragma: no cover - libyaml gives nothing else inside a document
                raise AssertionError(f"unexpected YAML event {cls.__name__}")
            self._check_total(at)
            if parent is None:
                return built, kid, at
            if type(parent.value) is list:
                parent.value.append(built)
                parent.where.add(None, 0, at, kid)
            elif parent.key is None:  # a mapping or sequence where a key goes
                self._key(parent, None, at, False)
            else:
                if not parent.skip:
                    parent.value[parent.key] = built
                    parent.where.add(parent.key, parent.key_at, at, kid)
                parent.key, parent.skip = None, False

    def _key(self, parent: _Frame, text: str | None, at: int, merge: bool) -> None:
        """A mapping key (its text; None when it is a mapping or sequence), or why its value is dropped."""
        problem = ("mapping keys must be scalars" if text is None else "YAML merge keys are not supported"
                   if merge else f"duplicate key {text!r} (an earlier one is ignored by most YAML tools)"
                   if text in parent.value else "")
        if problem:
            if not parent.mute:
                self._error(at, problem)
            parent.key, parent.key_at, parent.skip = _NO_KEY, at, True
        else:
            parent.key, parent.key_at, parent.skip = text, at, parent.mute

    def _scalar(self, loader: Any, event: Any, plain: bool, at: int, parent: _Frame | None) -> Any:
        """A scalar that may be something other than a string: resolved and constructed by PyYAML (the
        resolver's and constructor's own functions; a plain scalar's type is resolved once per text)."""
        text, tag = event.value, event.tag
        if tag is None and plain:
            tag = self.resolved.get(text)
            if tag is None:
                tag = self.resolved[text] = loader.resolve(yaml.ScalarNode, text, event.implicit)
        elif tag is None or tag == "!":
            tag = loader.resolve(yaml.ScalarNode, text, event.implicit)
        if tag == _STR_TAG:
            return text
        if plain and tag == _INT_TAG and len(text) > 1 and _PHONE_LIKE.match(text):
            return text  # a phone number, not arithmetic
        mute = parent is not None and (parent.mute or parent.skip)
        node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
        construct = loader.yaml_constructors.get(tag)
        try:
            if construct is None:  # PyYAML's own error for a tag it cannot construct
                loader.construct_object(node)
            built = construct(loader, node)
        except yaml.YAMLError as exc:
            if not mute:
                self._error(at, f"YAML error: {getattr(exc, 'problem', None) or exc}")
            return None
        if not isinstance(built, _JSON_SCALARS):
            if not mute:
                kind = "date" if isinstance(built, datetime.date) else type(built).__name__
                self._error(at, f"{text!r} is read as a {kind}, which no vendor API takes",
                            hint=f'quote it if it is text: "{text}"')
            return None
        return built

    def _new_anchor(self, anchor: str, at: int, stack: list[_Frame]) -> None:
        first = self.anchors[anchor][3] if anchor in self.anchors else next(
            (f.at for f in stack if f.anchor == anchor), 0)
        if first:
            here = yaml.Mark("", 0, (at >> 32) - 1, (at & 0xFFFFFFFF) - 1, None, 0)
            raise yaml.composer.ComposerError(None, None, f"found duplicate anchor &{anchor} (first at line "
                                              f"{first >> 32})", here)

    def _anchor(self, anchor: str, value: Any, where: Where | Leaf | None, size: int, at: int, stack: list[_Frame],
                text: str | None) -> None:
        self._new_anchor(anchor, at, stack)
        self.anchors[anchor] = (value, where, size, at, text)

    def _check_total(self, at: int) -> None:
        if self.total > MAX_NODES:
            self._refuse(at, f"more than {MAX_NODES:,} YAML nodes")

    def _refuse(self, at: int, message: str, hint: str = "") -> None:
        raise _Refused(Diagnostic(Location(self.file, at >> 32, at & 0xFFFFFFFF), message, hint))

    def _error(self, at: int, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(Location(self.file, at >> 32, at & 0xFFFFFFFF), message, hint))


def parse_yaml(text: str, file: str) -> tuple[Any, SourceMap, list[Diagnostic]]:
    """The data, where each part came from, and the problems found, from one pass over the events. A cap
    hit anywhere is the one problem reported (nothing of the stack is used)."""
    builder = _Builder(file)
    try:
        data, source = builder.build(text)
    except _Refused as refused:
        return None, SourceMap(file), [refused.diagnostic]
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
        return None, SourceMap(file), [Diagnostic(loc, f"YAML syntax error: {problem}", hint)]
    except yaml.YAMLError as exc:
        return None, SourceMap(file), [Diagnostic(Location(file, 1, 1), f"YAML error: {exc}")]
    if data is None and source.root is None and not builder.diagnostics:
        return None, source, [Diagnostic(Location(file, 1, 1), "the stack file is empty")]
    return data, source, builder.diagnostics


def read_stack(path: Path) -> tuple[str | None, list[Diagnostic]]:
    """A stack file's text, read as `${file:}` values are: a regular file (a FIFO or device fails at once,
    never blocks), at most MAX_STACK_BYTES, UTF-8 without a byte-order mark. Each refusal is one
    diagnostic at the file (1:1, or where a bad byte is)."""
    file = str(path)
    try:
        raw = read_regular(path, MAX_STACK_BYTES)
    except _Unreadable as exc:
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


class _Unreadable(Exception):
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
        raise _Unreadable(reason, missing=exc.errno == errno.ENOENT) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise _Unreadable(f"it is {kind}, not a regular file")
        if info.st_size > cap:
            raise _Unreadable(f"it is {info.st_size:,} bytes (at most {cap:,})")
        chunks: list[bytes] = []
        size = 0
        while size <= cap:  # a file that grows after fstat still stops at the cap
            chunk = os.read(fd, min(65536, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:
            raise _Unreadable(f"it is over {cap:,} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise _Unreadable(exc.strerror or str(exc)) from None
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
        except _Unreadable as exc:
            self._error(path, f"cannot read file {shown}: {exc}")
            return ""
        try:
            return raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            self._error(path, f"cannot read file {shown}: not UTF-8 text")
            return ""

    def _error(self, path: PathT, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(self.source.at(path), message, hint=hint))
