"""Writing stack files: the one YAML writer, shared by `fmt`, `generate`, `drift --adopt` and the stack text
that history keeps. It is ruamel.yaml's round-trip mode, which keeps comments, key order, quoting and flow or
block style; reading a stack for a run stays voxplan.stack.loader (PyYAML with positions, located errors,
input caps). Nothing is written from text the loader refuses, and every write is checked: the loader must
read the result as the data it was meant to hold.

Three ways to write:

    canonical(text)            fmt: the same data and comments in the canonical layout (below)
    render(data, …)            generate: a new stack from plain data, with its header and footer comments
    edit(text, changes)        adopt: values set or removed at stack paths, by replacing only their text;
                               every other byte of the file stays as it was (`git diff` shows those fields)

The canonical layout: mappings indented by 2, a sequence's dash indented by 2 under its key (`gateways:`
then `  - ip: …`); flow and block style, key order, quotes and comments as written; a comment on its own
line indented as the line after it; no line longer than written (nothing is folded); no trailing spaces,
at most one blank line in a row, none at the start or end; no `---`.

Plain scalars keep the text written: YAML 1.1 (PyYAML, the reader) and 1.2 (ruamel) disagree on `yes`, `~`
and friends, and `+61290597521` must never become the integer 61290597521. So the writer reads every plain
scalar as its text and writes it back as that text; a new string is quoted when either reader would take it
for something else.
"""

from __future__ import annotations

import copy
import functools
import io
import math
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString, SingleQuotedScalarString

from voxplan.core.errors import Diagnostic, Location, StackErrors
from voxplan.core.model import json_equal, value_at
from voxplan.stack.loader import parse_yaml
from voxplan.stack.model import PathT

WIDTH = 1 << 16  # never fold a long line
_STR = "tag:yaml.org,2002:str"
_RESOLVE_12 = VersionedResolver()  # how ruamel (YAML 1.2) reads a plain scalar
_RESOLVE_11 = yaml.resolver.Resolver()  # how PyYAML (YAML 1.1), the stack reader, reads one


class _TextResolver(VersionedResolver):
    """Every plain scalar is text: the file's own spelling survives the round trip."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            return self.DEFAULT_SCALAR_TAG
        return super().resolve(kind, value, implicit)


class _Representer(RoundTripRepresenter):
    """A plain string is written as the text it is, plain where YAML allows: tagged as a 1.2 reader would
    take it, so the emitter writes no tag and adds no quotes (the reader side decided its meaning)."""

    def represent_text(self, data: Any) -> Any:
        return self.represent_scalar(_tag_12(str(data)), str(data))


_Representer.add_representer(str, _Representer.represent_text)


@functools.lru_cache(maxsize=4096)
def _tag_12(text: str) -> str:
    """The tag a YAML 1.2 reader gives `text` written plain (cached: a stack repeats its values)."""
    tag = _RESOLVE_12.resolve(ScalarNode, text, (True, False))
    return str(getattr(tag, "suffix", tag))


@functools.lru_cache(maxsize=4096)
def _tag_11(text: str) -> str:
    """The tag PyYAML (YAML 1.1, the stack reader) gives `text` written plain."""
    return str(_RESOLVE_11.resolve(yaml.ScalarNode, text, (True, False)))


def _reader() -> YAML:
    y = YAML()
    y.Resolver = _TextResolver
    y.preserve_quotes = True
    return y


def _writer(*, flow: bool = False) -> YAML:
    y = YAML()
    y.Representer = _Representer
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = WIDTH
    y.allow_unicode = True
    y.brace_single_entry_mapping_in_flow_sequence = True  # [{assistant: a}] stays as written, not [assistant: a]
    if flow:
        y.default_flow_style = True
    return y


def _dump(data: Any, *, flow: bool = False) -> str:
    out = io.StringIO()
    _writer(flow=flow).dump(data, out)
    return out.getvalue()


class WriteError(Exception):
    """The writer could not write what was asked without changing something else; nothing was written."""


# -- reading for writing ---------------------------------------------------------------------------------
def _checked(text: str, file: str) -> Any:
    """The data the stack reader finds in `text`; its located errors (syntax, caps, tags, duplicate keys)
    stop the write as they stop a run."""
    data, _, diags = parse_yaml(text, file)
    errors = [d for d in diags if d.severity == "error"]
    if data is None or errors:
        raise StackErrors(errors or diags or [Diagnostic(Location(file, 1, 1), "the stack file is empty")])
    return data


def _load(text: str, file: str) -> Any:
    try:
        return _reader().load(text)
    except RuamelError as exc:  # the loader accepted it; ruamel should too, but say where if not
        mark = getattr(exc, "problem_mark", None)
        where = Location(file, mark.line + 1, mark.column + 1) if mark is not None else Location(file, 1, 1)
        problem = getattr(exc, "problem", None) or exc
        raise StackErrors([Diagnostic(where, f"the YAML writer cannot read this: {problem}")]) from None


# -- fmt -----------------------------------------------------------------------------------------------
def canonical(text: str, file: str = "<stack>") -> str:
    """`text` in the canonical layout. Raises StackErrors (located) for what the stack reader refuses, and
    WriteError if the result would not read as the same data."""
    before = _checked(text, file)
    doc = _load(text, file)
    out = tidy(_dump(doc))
    if not json_equal(_checked(out, file), before):
        raise WriteError(f"{file}: formatting would change what the stack says; left as it is")
    return out


def tidy(text: str) -> str:
    """Line-level layout outside multi-line scalars (whose lines are content): no trailing spaces, a comment
    on its own line indented as the next content line, at most one blank line in a row, none at the ends."""
    lines = text.split("\n")
    kept = _scalar_lines(text)
    out: list[str] = []
    pending_comments: list[int] = []  # indexes in `out` of own-line comments waiting for the next content line
    for i, line in enumerate(lines):
        if i in kept:
            out.append(line)
            continue
        stripped = line.rstrip()
        body = stripped.lstrip()
        if not body:
            if out and out[-1] != "" and (out[-1] or i - 1 in kept):
                out.append("")
            continue
        if body.startswith("#"):
            pending_comments.append(len(out))
            out.append(body)
            continue
        indent = " " * (len(stripped) - len(body))
        for j in pending_comments:
            out[j] = indent + out[j]
        pending_comments.clear()
        out.append(stripped)
    while out and out[-1] == "":
        out.pop()
    while out and out[0] == "":
        out.pop(0)
    return "\n".join(out) + "\n" if out else ""


def _scalar_lines(text: str) -> set[int]:
    """Line indexes (0-based) that belong to a scalar spanning several lines, after its first line."""
    kept: set[int] = set()
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            start, end = event.start_mark, event.end_mark
            if isinstance(event, yaml.ScalarEvent) and start is not None and end is not None and end.line > start.line:
                last = end.line if end.column > 0 and event.style not in ("|", ">") else end.line - 1
                kept.update(range(start.line + 1, last + 1))  # a block scalar ends at the next line's start
    except yaml.YAMLError:
        pass
    return kept


# -- generate ------------------------------------------------------------------------------------------
def value(data: Any, *, flow: Callable[[PathT, Any], bool] = lambda path, v: False, path: PathT = (),
          inline: bool = False) -> Any:
    """Plain data as the writer's nodes: a string either reader would take for something else is quoted;
    `flow(path, value)` picks which mappings and sequences are written inline."""
    if isinstance(data, Mapping):
        inline = inline or flow(path, data)
        out = CommentedMap()
        for k, v in data.items():
            key = str(k)
            out[DoubleQuotedScalarString(key) if ":" in key or key.startswith("+") else _text(key, inline)] = \
                value(v, flow=flow, path=(*path, key), inline=inline)
        if inline:
            out.fa.set_flow_style()
        return out
    if isinstance(data, list | tuple):
        inline = inline or flow(path, data)
        seq = CommentedSeq(value(v, flow=flow, path=(*path, i), inline=inline) for i, v in enumerate(data))
        if inline:
            seq.fa.set_flow_style()
        return seq
    if isinstance(data, str):
        return _text(data, inline)
    if isinstance(data, float) and not math.isfinite(data):
        raise WriteError(f"{'.'.join(map(str, path))}: {data} is not a value a stack can hold")
    return data


def _text(text: str, inline: bool = False) -> Any:
    """A string to write: double-quoted if a YAML 1.1 or 1.2 reader would read its plain form as anything
    else, or if it holds what a flow collection cannot hold plain; in a block (`|`) when it spans lines."""
    if "\n" in text.rstrip("\n") and not inline and not text.startswith((" ", "\t")) and _printable(text):
        return LiteralScalarString(text)
    if text == "" or _tag_11(text) != _STR or _tag_12(text) != _STR \
            or (inline and any(c in text for c in ",[]{}#:")) or "\n" in text:
        return DoubleQuotedScalarString(text)
    return text


def _printable(text: str) -> bool:
    return all(ch == "\n" or ch.isprintable() for ch in text) and not any(line != line.rstrip()
                                                                            for line in text.split("\n"))


def render(data: Mapping[str, Any], *, header: Sequence[str] = (), footer: Sequence[str] = (),
           blank_before: Iterable[str] = (), flow: Callable[[PathT, Any], bool] = lambda path, v: False,
           comments: Mapping[PathT, str] | None = None, file: str = "<generated>") -> str:
    """A new stack's text: `header` and `footer` comment lines, a blank line before each top-level key in
    `blank_before`, `comments` at the end of a mapping entry's line (`{("numbers", "+61…"): "why"}`)."""
    doc = value(data, flow=flow)
    for path, note in (comments or {}).items():
        parent = value_at(doc, path[:-1])
        if isinstance(parent, CommentedMap) and path[-1] in parent:
            parent.yaml_add_eol_comment(f"# {note}", path[-1])
    lines = _dump(doc).split("\n")
    wanted = set(blank_before)
    out: list[str] = [f"# {h}".rstrip() for h in header]
    for line in lines:
        key = line.split(":", 1)[0].strip('"') if line and not line[0].isspace() and not line.startswith("#") else ""
        if key in wanted and out and out[-1] != "":
            out.append("")
        out.append(line)
    if footer:
        out += ["", *(f"# {f}".rstrip() for f in footer)]
    text = tidy("\n".join(out))
    if not json_equal(_checked(text, file), data):
        raise WriteError(f"{file}: the generated text would not read back as what was generated")
    return text


# -- edit ----------------------------------------------------------------------------------------------
_REMOVE: Any = object()


@dataclass(frozen=True)
class Change:
    """Set `path` (keys and indexes from the top of the stack) to `value`, or remove it (`Change.remove`). A
    key that is not there yet goes after its mapping's last entry, or right after the key `after`."""

    path: PathT
    value: Any = _REMOVE
    after: str | None = None

    @classmethod
    def remove(cls, path: PathT) -> Change:
        return cls(tuple(path))

    @property
    def removes(self) -> bool:
        return self.value is _REMOVE


def edit(text: str, changes: Iterable[Change], file: str = "<stack>") -> str:
    """`text` with each change made by replacing only the text of the value it touches (a new key goes
    after its mapping's last entry, at that entry's indentation); comments, layout and every other byte
    stay. Raises WriteError if a change cannot be made, or the result does not read as intended."""
    data = _checked(text, file)
    for change in changes:
        text = _Editor(text, file).apply(change)
        data = _applied(data, change)
    if not json_equal(_checked(text, file), data):
        raise WriteError(f"{file}: an edit would change more than it should; the file was not written")
    return text


def _applied(data: Any, change: Change) -> Any:
    """`data` with `change` made: what the edited text must read as."""
    data = copy.deepcopy(data)
    *head, last = change.path
    node = data
    for i, step in enumerate(head):
        child = value_at(node, (step,))
        if not isinstance(child, dict | list):
            child = [] if isinstance((*head, last)[i + 1], int) else {}
            node[step] = child
        node = child
    if change.removes:
        if isinstance(node, dict):
            node.pop(last, None)
        elif isinstance(last, int) and last < len(node):
            node.pop(last)
    elif isinstance(node, list) and last == len(node):
        node.append(copy.deepcopy(change.value))
    else:
        node[last] = copy.deepcopy(change.value)
    return data


class _Editor:
    """One change to one text, located through ruamel's composed nodes (their start and end marks)."""

    def __init__(self, text: str, file: str):
        self.text = text
        self.file = file
        try:
            self.root = _reader().compose(text)
        except RuamelError as exc:
            raise WriteError(f"{file}: the YAML writer cannot read this: {exc}") from None

    def apply(self, change: Change) -> str:
        path = tuple(change.path)
        if not path:
            raise WriteError(f"{self.file}: an edit names a place in the stack, not the whole of it")
        node, parent, flow = self._find(path)
        if change.removes:
            return self._remove(path, parent, flow) if node is not None else self.text
        if node is not None:
            return self._replace(node, parent, change.value, flow, path)
        return self._add(path, change.value, change.after)

    def _find(self, path: PathT) -> tuple[Node | None, Node | None, bool]:
        """The node at `path` (or None), its parent, and whether it sits inside a flow collection."""
        node: Node | None = self.root
        parent: Node | None = None
        flow = False
        for step in path:
            if node is None:
                return None, None, flow
            flow = flow or bool(getattr(node, "flow_style", False))
            parent, node = node, _child(node, step)
        return node, parent, flow

    def _replace(self, node: Node, parent: Node | None, new: Any, flow: bool, path: PathT) -> str:
        start, end = node.start_mark.index, self._end(node)
        if isinstance(new, str) and "\n" in new.rstrip("\n") and not flow:
            return self._literal(start, end, new, self._content_column(node, parent))
        if isinstance(node, MappingNode | SequenceNode) and not node.flow_style and not flow \
                and isinstance(new, Mapping | list) and new:
            column = node.start_mark.column
            return self.text[:start] + _block(new, column)[column:].rstrip("\n") + self.text[end:]
        style = node.style if isinstance(node, ScalarNode) else None
        return _keep_comment_column(self.text, start, end, _inline(new, style, flow))

    def _literal(self, start: int, end: int, new: str, column: int) -> str:
        """A string with line breaks as a `|` block; a comment after the old value moves after the `|`."""
        eol = self.text.find("\n", end)
        eol = len(self.text) if eol < 0 else eol
        comment = self.text[end:eol].strip()
        head, _, body = _dump({"k": LiteralScalarString(new)}).partition("\n")
        indicator = head.split(":", 1)[1].strip()
        lines = [" " * column + line[2:] if line.strip() else "" for line in body.rstrip("\n").split("\n")]
        return self.text[:start] + indicator + (f" {comment}" if comment else "") + "\n" + "\n".join(lines) \
            + self.text[eol:]

    def _content_column(self, node: Node, parent: Node | None) -> int:
        """Where a block scalar's lines go: two past the key that holds it (or the sequence item)."""
        if isinstance(parent, MappingNode):
            for k, v in parent.value:
                if v is node:
                    return int(k.start_mark.column) + 2
        return int(node.start_mark.column) + 2

    def _add(self, path: PathT, new: Any, after: str | None = None) -> str:
        """A key (or a sequence's next item) that is not there yet; a missing parent is added whole."""
        parent_path, last = path[:-1], path[-1]
        parent, _, flow = self._find(parent_path)
        if parent is None or isinstance(parent, ScalarNode):
            if not parent_path:
                raise WriteError(f"{self.file}: the stack is not a mapping")
            return self.apply(Change(parent_path, [new] if isinstance(last, int) else {last: new}))
        inline = flow or bool(getattr(parent, "flow_style", False))
        if isinstance(parent, MappingNode):
            if not parent.value:
                return self._replace(parent, None, {last: new}, flow, parent_path)
            if inline:
                return self._into_flow(parent, f"{_key(last)}: {_inline(new, None, True)}")
            column = parent.value[0][0].start_mark.column
            if isinstance(new, Mapping | list) and new and not (isinstance(new, list) and len(new) > 8):
                entry = f"{_key(last)}:\n" + _block(new, column + 2).rstrip("\n")
            else:
                entry = f"{_key(last)}: {_inline(new, None, False)}"
            sibling = next((v for k, v in parent.value if isinstance(k, ScalarNode) and k.value == after), None)
            return self._after(sibling if sibling is not None else parent, " " * column + entry)
        if isinstance(parent, SequenceNode) and isinstance(last, int) and last == len(parent.value):
            if not parent.value:
                return self._replace(parent, None, [new], flow, parent_path)
            if inline:
                return self._into_flow(parent, _inline(new, None, True))
            dash = self.text.rfind("-", 0, parent.value[0].start_mark.index)
            column = dash - (self.text.rfind("\n", 0, dash) + 1)
            return self._after(parent, _block([new], column).rstrip("\n"))
        raise WriteError(f"{self.file}: cannot add {_dotted(path)} there")

    def _into_flow(self, collection: Node, entry: str) -> str:
        close = collection.end_mark.index - 1  # its `}` or `]`
        inner = self.text[:close].rstrip()
        return inner + ", " + entry + self.text[close:].lstrip(" ")

    def _after(self, collection: Node, lines: str) -> str:
        """`lines` after the line of a block collection's last entry (and that line's comment)."""
        end = self._end(collection)
        eol = self.text.find("\n", end)
        eol = len(self.text) if eol < 0 else eol
        return self.text[:eol] + "\n" + lines + self.text[eol:]

    def _remove(self, path: PathT, parent: Node | None, flow: bool) -> str:
        inline = flow or bool(getattr(parent, "flow_style", False))
        if isinstance(parent, MappingNode):
            index = next(i for i, (k, _) in enumerate(parent.value) if isinstance(k, ScalarNode)
                         and k.value == str(path[-1]))
            if len(parent.value) == 1:
                return self._replace(parent, None, {}, flow, path[:-1])
            key, item = parent.value[index]
            start, end = key.start_mark.index, self._end(item)
        elif isinstance(parent, SequenceNode):
            index = int(path[-1])
            if len(parent.value) == 1:
                return self._replace(parent, None, [], flow, path[:-1])
            start, end = parent.value[index].start_mark.index, self._end(parent.value[index])
            if not inline:
                start = self.text.rfind("-", 0, start)
        else:
            raise WriteError(f"{self.file}: nothing to remove at {_dotted(path)}")
        if inline:
            after = self.text[end:].lstrip(" ")
            if after.startswith(","):
                return self.text[:start] + after[1:].lstrip(" ")
            return self.text[:start].rstrip().removesuffix(",") + self.text[end:]
        line_start = self.text.rfind("\n", 0, start) + 1
        eol = self.text.find("\n", end)
        return self.text[:line_start] + (self.text[eol + 1:] if eol >= 0 else "")

    def _end(self, node: Node) -> int:
        """Where the text of `node` ends: its last descendant's end (a block collection's own end mark runs
        on past the comments after it), a block scalar's at its last character."""
        last = node
        while isinstance(last, MappingNode | SequenceNode) and not last.flow_style and last.value:
            last = last.value[-1][1] if isinstance(last, MappingNode) else last.value[-1]
        end = int(last.end_mark.index)
        if isinstance(last, ScalarNode) and last.style in ("|", ">"):
            end = int(last.start_mark.index) + len(self.text[last.start_mark.index:end].rstrip())
        return end


def _keep_comment_column(text: str, start: int, end: int, new: str) -> str:
    """`text` with [start, end) replaced by `new`; a comment after it on the same line keeps its column
    while there is room (two spaces at least, as yamllint's `comments` rule and fmt write them), and is two
    spaces after the value otherwise."""
    head, tail = text[:start] + new, text[end:]
    eol = tail.find("\n")
    rest = tail if eol < 0 else tail[:eol]
    if rest.strip().startswith("#"):
        line_start = text.rfind("\n", 0, start) + 1
        column = end - line_start + len(rest) - len(rest.lstrip(" "))
        width = len(head) - line_start
        tail = " " * (column - width if width + 1 < column else 2) + tail.lstrip(" ")
    return head + tail


def _child(node: Node, step: Any) -> Node | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == str(step):
                return v  # type: ignore[no-any-return]
        return None
    if isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return node.value[step]  # type: ignore[no-any-return]
    return None


def _dotted(path: PathT) -> str:
    return ".".join(map(str, path))


def _key(key: Any) -> str:
    return _inline(str(key), None, True)


def _inline(new: Any, style: str | None, flow: bool) -> str:
    """`new` on one line: a string in the quotes it had (`style`), else plain where that reads back the
    same, else quoted; a mapping or sequence as a flow collection."""
    if isinstance(new, str) and style == '"':
        node: Any = DoubleQuotedScalarString(new)
    elif isinstance(new, str) and style == "'" and "\n" not in new:
        node = SingleQuotedScalarString(new)
    else:
        node = value(new, flow=lambda path, v: True)
    holder = CommentedMap(k=node)
    if flow:
        holder.fa.set_flow_style()
        return _dump(holder).strip()[1:-1].strip().split(":", 1)[1].strip()
    return _dump(holder).rstrip("\n").split(":", 1)[1].strip()


def _block(new: Any, column: int) -> str:
    """`new` (a mapping or sequence) as block lines indented by `column`, each ending in a newline."""
    text = textwrap.dedent(_dump(value(new)))  # a sequence at the top is written with its dash indented
    return "".join(" " * column + line + "\n" if line else "\n" for line in text.rstrip("\n").split("\n"))
