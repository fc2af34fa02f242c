"""Generate the hostile-stack corpus: mutations of every stacks/*.yaml (secret exfiltration through
`${file:}`, secrets where they cannot go, SIP and header injection, bad phone numbers, YAML that is
malformed in every way the parser can meet) plus bombs (billion laughs, deep nesting, huge files and
values, /dev/zero, FIFOs, symlink loops).

Every case must make `voxplan validate`, `plan` and `apply` exit 1 with located errors and send nothing.

    python tests/hostile_corpus.py OUT_DIR      # writes the corpus (and its FIFO, links, dirs) there
"""

from __future__ import annotations

import copy
import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from voxplan.stack.loader import MAX_STACK_BYTES

ROOT = Path(__file__).resolve().parent.parent
STACKS = sorted((ROOT / "stacks").glob("*.yaml"))


@dataclass(frozen=True)
class Case:
    name: str  # file name of the stack in the corpus directory
    content: bytes | None  # None: the stack file is a special file made by `make_special`
    heavy: bool = False  # a resource bomb: also run as a process under rlimits


Data = dict[str, Any]
Mutation = Callable[[Data], bool]  # edits the stack in place; False when it does not apply to this stack


# --- helpers that find a place in any example stack ---------------------------------------------------

def _first(section: Data | None) -> tuple[str, Any] | None:
    return next(iter(section.items()), None) if isinstance(section, dict) and section else None


def _secret_capable_field(data: Data) -> tuple[Data, str] | None:
    """An assistant's first message, or a trunk's password: where a secret may legitimately sit."""
    assistant = _first(data.get("assistants"))
    if assistant:
        return assistant[1], "first_message"
    for trunk in (data.get("trunks") or {}).values():
        if "password" in trunk:
            return trunk, "password"
    return None


def _sip_targets(data: Data) -> Iterator[tuple[Data, str]]:
    for tool in (data.get("tools") or {}).values():
        for dest in tool.get("transfer") or []:
            if "sip" in dest:
                yield dest, "sip"
    for route in (data.get("routes") or {}).values():
        if "sip" in route:
            yield route, "sip"


def _transfer(data: Data) -> Data | None:
    for tool in (data.get("tools") or {}).values():
        for dest in tool.get("transfer") or []:
            return dest  # type: ignore[no-any-return]
    return None


def _e164_keys(data: Data) -> list[str]:
    return [k for k, v in (data.get("numbers") or {}).items() if str(k).startswith("+")]


def _rename_number(data: Data, old: str, new: str) -> None:
    for section in ("numbers", "routes"):
        entries = data.get(section) or {}
        if old in entries:
            data[section] = {new if k == old else k: v for k, v in entries.items()}


def _trunk(data: Data, *carriers: str) -> Data | None:
    for trunk in (data.get("trunks") or {}).values():
        if not carriers or trunk.get("carrier") in carriers:
            return trunk  # type: ignore[no-any-return]
    return None


# --- mutations on the data ---------------------------------------------------------------------------

def read_file(ref: str) -> Mutation:
    def mutate(data: Data) -> bool:
        place = _secret_capable_field(data)
        if place is None:
            return False
        place[0][place[1]] = "${file:" + ref + "}"
        return True
    return mutate


def secret_where_none_may_go(field: str) -> Mutation:
    def mutate(data: Data) -> bool:
        if field == "carrier":
            trunk = _trunk(data)
            if trunk is None:
                return False
            trunk["carrier"] = "${env:VAPI_API_KEY}"
        elif field == "assistant name":
            assistant = _first(data.get("assistants"))
            if assistant is None:
                return False
            assistant[1]["name"] = "${env:VAPI_API_KEY}"
        elif field == "caller id":
            dest = _transfer(data)
            if dest is None:
                return False
            dest["caller_id"] = "${env:VAPI_API_KEY}"
        return True
    return mutate


def short_password(data: Data) -> bool:
    for trunk in (data.get("trunks") or {}).values():
        if "password" in trunk:
            trunk["password"] = "abc123"
            return True
        if "auth" in trunk:
            trunk["auth"]["password"] = "abc123"
            return True
    return False


def sip_uri(bad: Callable[[str], str]) -> Mutation:
    def mutate(data: Data) -> bool:
        found = False
        for holder, key in _sip_targets(data):
            holder[key] = bad(str(holder[key]))
            found = True
        return found
    return mutate


def transfer_header(name: str, value: str) -> Mutation:
    def mutate(data: Data) -> bool:
        for tool in (data.get("tools") or {}).values():
            for dest in tool.get("transfer") or []:
                if "sip" in dest:
                    dest["headers"] = {name: value}
                    return True
        return False
    return mutate


def trunk_field(path: tuple[str, ...], value: str, *carriers: str) -> Mutation:
    def mutate(data: Data) -> bool:
        trunk = _trunk(data, *carriers)
        if trunk is None:
            return False
        node = trunk
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
        return True
    return mutate


def gateway_ip(value: str) -> Mutation:
    def mutate(data: Data) -> bool:
        for trunk in (data.get("trunks") or {}).values():
            for gw in trunk.get("gateways") or []:
                gw["ip"] = value
                return True
        return False
    return mutate


def number_key(rewrite: Callable[[str], str]) -> Mutation:
    def mutate(data: Data) -> bool:
        keys = _e164_keys(data)
        if not keys:
            return False
        _rename_number(data, keys[0], rewrite(keys[0]))
        return True
    return mutate


def route_forward(value: str) -> Mutation:
    def mutate(data: Data) -> bool:
        keys = [k for k in _e164_keys(data) if (data.get("routes") or {}).get(k)]
        if not keys:
            return False
        data["routes"][keys[0]] = {"forward": value}
        return True
    return mutate


def transfer_number(value: str) -> Mutation:
    def mutate(data: Data) -> bool:
        tool = _first(data.get("tools"))
        if tool is None or "transfer" not in tool[1]:
            return False
        tool[1]["transfer"].append({"number": value, "message": "One moment."})
        if not data.get("trunks"):
            data["trunks"] = {"pstn": {"carrier": "byo", "gateways": [{"ip": "203.0.113.99"}]}}
        return True
    return mutate


def trunk_caller_id(value: str) -> Mutation:
    return trunk_field(("caller_id",), value, "wavix", "didlogic")


def final_line_break(where: str) -> Mutation:
    """A value the schema checks with a pattern, plus a final line break (`$` lets it through)."""
    def mutate(data: Data) -> bool:
        if where == "stack name":
            if "stack" not in data:
                return False
            data["stack"] = f"{data['stack']}\n"
            return True
        if where == "openai project":
            routes = [r for r in (data.get("routes") or {}).values() if "openai" in r]
            for route in routes:
                route["openai"] += "\n"
            return bool(routes)
        keys = [k for k in data.get("numbers") or {} if str(k).startswith("sip:")]  # a SIP-URI number key
        for key in keys:
            _rename_number(data, key, key + "\n")
        return bool(keys)
    return mutate


def agent_field(mutate_agent: Callable[[Data], None]) -> Mutation:
    def mutate(data: Data) -> bool:
        agent = _first(data.get("agents"))
        if agent is None:
            return False
        mutate_agent(agent[1])
        return True
    return mutate


DATA_MUTATIONS: dict[str, Mutation] = {
    "file-etc-passwd": read_file("/etc/passwd"),
    "file-dev-zero": read_file("/dev/zero"),
    "file-dev-urandom": read_file("/dev/urandom"),
    "file-proc-environ": read_file("/proc/self/environ"),
    "file-dotdot": read_file("../../../../../../etc/hostname"),
    "file-home": read_file("~"),  # the home directory: outside the repository (a missing file only warns in validate)
    "file-fifo": read_file("fifo"),
    "file-directory": read_file("a-directory"),
    "file-escaping-link": read_file("link-to-etc-passwd"),
    "file-link-loop": read_file("loop-a"),
    "file-too-big": read_file("big.bin"),
    "file-not-utf8": read_file("binary.bin"),
    "secret-as-carrier": secret_where_none_may_go("carrier"),
    "secret-as-assistant-name": secret_where_none_may_go("assistant name"),
    "secret-as-caller-id": secret_where_none_may_go("caller id"),
    "password-short": short_password,
    "sip-crlf": sip_uri(lambda u: u + "\r\nX-Injected: 1"),
    "sip-lf": sip_uri(lambda u: u + "\nContact: <sip:evil@203.0.113.66>"),
    "sip-gt": sip_uri(lambda u: u + ">"),
    "sip-lt": sip_uri(lambda u: "<" + u),
    "sip-space": sip_uri(lambda u: u.replace("@", " @")),
    "sip-bad-port": sip_uri(lambda u: u + ":99999"),
    "sip-headers-part": sip_uri(lambda u: u + "?Subject=hi"),
    "sip-password-in-user": sip_uri(lambda u: u.replace("@", ":hunter22@") if "@" in u else u + ":x@h"),
    "header-value-crlf": transfer_header("X-Account", "42\r\nX-Evil: 1"),
    "header-name-space": transfer_header("X Account", "42"),
    "header-name-colon": transfer_header("X-Account:", "42"),
    "tech-prefix-crlf": trunk_field(("tech_prefix",), "99\r\nVia: evil"),
    "tech-prefix-gt": trunk_field(("tech_prefix",), "99>"),
    "diversion-header-lf": trunk_field(("sip_diversion_header",), "<sip:a@b>\nX-Evil: 1"),
    "register-domain-crlf": trunk_field(("register", "domain"), "sip.example.com\r\nVia: evil", "byo"),
    "register-username-lt": trunk_field(("register", "username"), "bob<sip:evil@x>", "byo"),
    "auth-username-crlf": trunk_field(("auth", "username"), "bob\r\nX: y", "byo"),
    "gateway-ip-crlf": gateway_ip("203.0.113.10\r\n"),
    "gateway-ip-bad-octet": gateway_ip("203.0.113.300"),
    "gateway-host-underscore": gateway_ip("bad_host.example.com"),
    "number-trunk-prefix": number_key(lambda k: k[:3] + " (0)" + k[3:]),
    "number-too-long": number_key(lambda k: k + "0"),
    "number-too-short": number_key(lambda k: k[:8]),
    "number-bad-country": number_key(lambda k: "+999" + k[4:]),
    "number-letters": number_key(lambda k: k[:6] + "CALLME"),
    "forward-too-short": route_forward("+1415555"),
    "forward-premium": route_forward("+19005551234"),
    "forward-emergency-short": route_forward("911"),
    "transfer-emergency": transfer_number("112"),
    "transfer-premium-uk": transfer_number("+448712345678"),
    "transfer-too-long": transfer_number("+1 415 555 01000"),
    "caller-id-bad": trunk_caller_id("+1415555"),
    "stack-name-lf": final_line_break("stack name"),
    "openai-project-lf": final_line_break("openai project"),
    "sip-number-key-lf": final_line_break("sip number key"),
    "agent-transfer-premium": agent_field(lambda a: a.setdefault("transfer", []).append({"to": "+19005551234"})),
    "agent-transfer-emergency": agent_field(lambda a: a.setdefault("transfer", []).append({"to": "911"})),
    "agent-transfer-sip-crlf": agent_field(lambda a: a.setdefault("transfer", []).append(
        {"to": "sip:desk@example.com\r\nX-Evil: 1"})),
    "agent-instructions-secret": agent_field(lambda a: a.update(instructions="${env:VAPI_API_KEY}")),
}


# --- mutations of the text ---------------------------------------------------------------------------

BILLION_LAUGHS = "x-lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"x-lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10))
TEXT_MUTATIONS: dict[str, tuple[Callable[[bytes], bytes], bool]] = {
    "bom-utf8": (lambda t: b"\xef\xbb\xbf" + t, False),
    "bom-utf16": (lambda t: b"\xff\xfe" + t.decode().encode("utf-16-le"), False),
    "latin1-byte": (lambda t: t.replace(b"version: 1\n", b"version: 1\nstack: caf\xe9\n", 1), False),
    "nul-byte": (lambda t: t.replace(b"version: 1\n", b"version: 1\n# \x00\n", 1), False),
    "tag-python-object": (lambda t: t + b"x: !!python/object/apply:os.system [id]\n", False),
    "tag-custom": (lambda t: t.replace(b"version: 1", b"version: !secret 1", 1), False),
    "tag-binary": (lambda t: t + b"x: !!binary aGVsbG8=\n", False),
    "tag-int-bad": (lambda t: t.replace(b"version: 1", b"version: !!int one", 1), False),
    "alias-recursive": (lambda t: t + b"x-loop: &loop [*loop]\n", False),
    "alias-recursive-map": (lambda t: t + b"x-loop: &loop {a: *loop}\n", False),
    "alias-undefined": (lambda t: t + b"x: *nowhere\n", False),
    "alias-billion-laughs": (lambda t: t + BILLION_LAUGHS.encode(), True),
    "nesting-flow-deep": (lambda t: t + b"x: " + b"[" * 50_000 + b"]" * 50_000 + b"\n", True),
    "nesting-block-deep": (lambda t: t + b"x:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 300)), True),
    "nesting-65": (lambda t: t + b"x: " + b"[" * 65 + b"]" * 65 + b"\n", False),
    "file-over-cap": (lambda t: t + b"# " + b"x" * MAX_STACK_BYTES + b"\n", True),
    "value-over-cap": (lambda t: t + b'x: "' + b"a" * (1_100_000) + b'"\n', True),
    "integer-huge": (lambda t: t + b"x: " + b"9" * 50_000 + b"\n", True),
    "duplicate-key": (lambda t: t + b"version: 1\n", False),
    "tab-indent": (lambda t: t.replace(b"\n  ", b"\n\t", 1), False),
    "unclosed-quote": (lambda t: t + b'x: "never closed\n', False),
    "several-documents": (lambda t: t + b"---\nversion: 1\n", False),
}

BIG = ("file-over-cap", "value-over-cap")
BIG_ONE = ROOT / "stacks" / "wavix-vapi.yaml"

# stacks that are special files (made by make_special): FIFO, symlink loop, a link to /dev/zero
SPECIAL = ["stack-is-fifo.yaml", "stack-is-link-loop.yaml", "stack-is-dev-zero.yaml"]


def cases() -> list[Case]:
    """Every case (a new list each call; the cases themselves are frozen)."""
    return list(_cases())


@functools.cache
def _cases() -> tuple[Case, ...]:
    """Made once per process: dumping ~350 mutated stacks costs ~0.5 s of CPU, and every corpus test (each
    shard, each bomb) asks for them."""
    out: list[Case] = []
    for path in STACKS:
        text = path.read_bytes()
        data = yaml.safe_load(text)
        for name, mutate in DATA_MUTATIONS.items():
            changed = copy.deepcopy(data)
            if mutate(changed):
                dumped = yaml.safe_dump(changed, sort_keys=False, allow_unicode=True, width=1_000_000)
                out.append(Case(f"{path.stem}--{name}.yaml", dumped.encode(), heavy=name in ("file-dev-zero",
                                                                                           "file-dev-urandom")))
        for name, (mutate_text, heavy) in TEXT_MUTATIONS.items():
            if name in BIG and path != BIG_ONE:
                continue  # megabytes each: once is enough
            out.append(Case(f"{path.stem}--{name}.yaml", mutate_text(text), heavy=heavy))
    out += [Case(name, None, heavy=True) for name in SPECIAL]
    return tuple(out)


def make_special(directory: Path) -> None:
    """The files `${file:}` mutations point at, and the stacks that are special files."""
    os.mkfifo(directory / "fifo")
    os.mkfifo(directory / "stack-is-fifo.yaml")
    (directory / "a-directory").mkdir()
    (directory / "link-to-etc-passwd").symlink_to("/etc/passwd")
    (directory / "loop-a").symlink_to("loop-b")
    (directory / "loop-b").symlink_to("loop-a")
    (directory / "stack-is-link-loop.yaml").symlink_to("stack-is-link-loop.yaml")
    (directory / "stack-is-dev-zero.yaml").symlink_to("/dev/zero")
    (directory / "big.bin").write_bytes(b"A" * (1024 * 1024))
    (directory / "binary.bin").write_bytes(b"\xff\xfe\x00secret")


def write(directory: Path, only: Iterable[str] = ()) -> list[Case]:
    """Write the corpus (or only the cases named) and the special files into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    make_special(directory)
    wanted = set(only)
    made = [c for c in cases() if not wanted or c.name in wanted]
    for case in made:
        if case.content is not None:
            (directory / case.name).write_bytes(case.content)
    return made


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    written = write(Path(sys.argv[1]))
    print(f"{len(written)} hostile stacks in {sys.argv[1]}")
