"""How a snapshot's entries are written (format 3): what repeats across entries is written once.

The objects of an account are alike: 10,000 numbers on 100 trunks send 100 different destination lists,
name 100 credential ids and depend on 100 pairs of addresses. Format 2 wrote every entry whole (9.4 MB
at 10,000 numbers, most of it the same values again); format 3 keeps a table `shared` of the values
that repeat, and an entry's `sent`, `seen` and `deps` may name one of them:

    {"&": n}              the shared value n
    {"&": n, "k": v, …}   the shared mapping n with these keys set (the rest of its keys as shared)

The shared values themselves are literal (never read for "&"); a mapping of the entry's own that has a
key "&" is written as a shared value so it cannot be mistaken for a reference. An entry keeps its `kind`
and `id` as written (tools read them), and leaves out `fingerprints` and `deps` when they are empty. Read back,
every entry that names a shared value holds the same object (entries are replaced, never edited in
place), so a state in memory is as small as its file.

`encode` and `decode` are the two directions (`decode` one entry at a time); a malformed entry is a
StateError naming it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from voxplan.core.errors import StateError

FORMAT = 3  # the state format that writes shared values once (the head's format_version)
REF = "&"
_FIELDS = ("sent", "seen")  # mappings: shared whole, or as a base with the entry's own keys set
_READ = ("sent", "seen", "deps")  # the fields that may name a shared value
_SCALARS = (str, int, float, bool, type(None))


class _Keys:
    """A hashable stand-in for a JSON value, equal for equal values (types count: True is not 1): a string
    itself, (type, value) for another scalar, (type, JSON text) for a list or mapping, made once per object
    (entries read back from a state hold the same object wherever they name one shared value)."""

    def __init__(self, dumps: Callable[[Any], str]):
        self.dumps = dumps
        self.texts: dict[int, tuple[Any, Any]] = {}  # id -> (the object, kept alive while its id is used; key)
        self.keys: dict[Any, Any] = {}  # one key object per distinct value (apply's entries share none)

    def __call__(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return value
        if isinstance(value, _SCALARS):
            return (kind, value)
        known = self.texts.get(id(value))
        if known is None:
            key = (kind, self.dumps(value))
            known = self.texts[id(value)] = (value, self.keys.setdefault(key, key))
        return known[1]


def encode(entries: Mapping[str, Mapping[str, Any]], dumps: Callable[[Any], str]) -> tuple[list[Any],
                                                                                          dict[str, Any]]:
    """(shared values, entries as written) for `entries` (address -> entry as Entry.to_json gives it)."""
    shared, written = encoded(entries, dumps)
    return shared, dict(written)


def encoded(entries: Mapping[str, Mapping[str, Any]], dumps: Callable[[Any], str]) -> tuple[
        list[Any], Iterator[tuple[str, dict[str, Any]]]]:
    """`encode`, with the entries as written made one at a time as they are taken (address, entry), in
    `entries`' order: a snapshot is written without all of them in memory at once (at 100,000 numbers
    they were ~150 MB). `shared` is whole when this returns (a pass works out what the entries name, in
    the order they name it, and drops each written entry); `entries` is read again as they are taken.

    Four passes over the entries, each working out again what it needs of a mapping (its keys' stand-ins
    are made once per object), so that nothing per entry is held between them: at 200,000 entries, the
    per-entry tables of an earlier version took more memory than the state itself."""
    _key = _Keys(dumps)
    # a mapping's key whose value repeats (among mappings of the same field and kind) goes into its base
    repeats: Counter[tuple[str, str, str, Any]] = Counter()
    for address, entry in entries.items():
        prefix = address.partition("/")[0]
        for field in _FIELDS:
            mapping = entry.get(field)
            if type(mapping) is dict:
                repeats.update((prefix, field, k, _key(v)) for k, v in mapping.items())

    def common_of(prefix: str, field: str, mapping: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        """Each key of `mapping` with its value's stand-in where the value repeats, None where it is the
        entry's own."""
        return tuple((k, key if repeats[(prefix, field, k, key)] > 1 else None)
                     for k, key in ((k, _key(v)) for k, v in mapping.items()))

    bases: Counter[Any] = Counter()
    for address, entry in entries.items():
        prefix = address.partition("/")[0]
        for field in _FIELDS:
            mapping = entry.get(field)
            if type(mapping) is dict:
                bases[common_of(prefix, field, mapping)] += 1
    deps = Counter(_key(e["deps"]) for e in entries.values() if e.get("deps"))
    shared: list[Any] = []
    index: dict[Any, int] = {}

    def share(value: Any, key: Any) -> int:
        if key not in index:
            index[key] = len(shared)
            shared.append(value)
        return index[key]

    def written_of(address: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        prefix = address.partition("/")[0]
        written: dict[str, Any] = {}
        for name, value in entry.items():
            if name in ("fingerprints", "deps") and not value:
                continue
            if name in _FIELDS and type(value) is dict:
                if REF in value:  # a key of its own that reads as a reference: written whole, as shared
                    value = {REF: share(value, ("whole", dumps(value)))}
                else:
                    common = common_of(prefix, name, value)
                    own = sum(1 for _, kept in common if kept is None)
                    if bases[common] > 1 and own < len(common):  # worth a shared base
                        base = {k: (None if kept is None else value[k]) for k, kept in common}
                        value = {REF: share(base, ("base", name, common)),
                                 **{k: value[k] for k, kept in common if kept is None}}
            elif name == "deps" and deps[_key(value)] > 1:
                value = {REF: share(value, ("deps", _key(value)))}
            written[name] = value
        return written

    for address, entry in entries.items():  # shared, in the order the entries name its values
        written_of(address, entry)
    return shared, ((address, written_of(address, entry)) for address, entry in entries.items())


def check(shared: Any, entries: Any, where: str) -> tuple[list[Any], dict[str, Any]]:
    """The shared values and the entries as `encode` wrote them; `where` names the state in errors."""
    if not isinstance(shared, list) or not isinstance(entries, dict):
        raise StateError(f"{where}: not a voxplan state (no shared values and resources)")
    return shared, entries


def decode(shared: list[Any], address: Any, entry: Any, where: str) -> dict[str, Any]:
    """One entry as Entry.from_json reads it, from what `encode` wrote (the shared values it names filled
    in); `where` names the state in errors. The loaded JSON is ours: the entry is completed in place.

    Entries are read one at a time, each as its Entry is made (not all of them first), and only ever
    entries `encode` wrote: a journal record's entry is whole, and `escape` puts it in this form."""
    if not isinstance(entry, dict) or not isinstance(address, str) or "/" not in address:
        raise StateError(f"{where}: resource {_shown(address)} is not a state entry ({_shown(entry)}); "
                         "refusing to guess")
    try:
        for name in _READ:
            value = entry.get(name)
            if type(value) is dict and REF in value:
                base = shared[value[REF]]
                if len(value) == 1:
                    if name == "deps" and type(base) is list:  # held as a tuple (Entry.deps): made once, shared
                        base = shared[value[REF]] = tuple(base)
                    entry[name] = base
                else:  # the base with the entry's own keys set (a base never has a key "&": see encode)
                    entry[name] = merged = {**base, **value}
                    del merged[REF]
    except (IndexError, TypeError) as exc:
        raise StateError(f"{where}: resource {address} names a shared value that is not there ({exc}); "
                         "refusing to guess") from None
    return entry


def escape(entry: Any, shared: list[Any]) -> Any:
    """A whole entry (a journal record's) in the form `decode` reads with `shared`: a `sent`, `seen` or
    `deps` mapping with a key "&" of its own goes into `shared` and is named (as `encode` writes one), so
    it is read back as itself, never as a reference. Any other entry is already in that form."""
    if type(entry) is not dict or not any(type(entry.get(name)) is dict and REF in entry[name] for name in _READ):
        return entry
    escaped = dict(entry)
    for name in _READ:
        value = escaped.get(name)
        if type(value) is dict and REF in value:
            escaped[name] = {REF: len(shared)}
            shared.append(value)
    return escaped


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
