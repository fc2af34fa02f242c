from __future__ import annotations

import re
from pathlib import Path

import pytest

from voxplan.core.errors import StackErrors
from voxplan.core.secret import Secret
from voxplan.stack import load_and_validate
from voxplan.stack.e164 import hint, is_e164
from voxplan.stack.loader import parse_yaml


def test_positions_of_values_and_keys() -> None:
    data, source, diags = parse_yaml("version: 1\nassistants:\n  a:\n    name: X\n", "s.yaml")
    assert not diags
    assert str(source.at(("assistants", "a", "name"))) == "s.yaml:4:11"
    assert str(source.key_at(("assistants", "a"))) == "s.yaml:3:3"
    assert str(source.at(("assistants", "a", "missing", 3))) == "s.yaml:4:5"  # nearest parent


def test_unquoted_phone_number_keeps_its_text() -> None:
    data, _, _ = parse_yaml("numbers:\n  +61290597521: {x: 0044123}\n", "s.yaml")
    assert data == {"numbers": {"+61290597521": {"x": "0044123"}}}


TRICKY = """\
version: 1
plain: [a, 2, +4412, '+4413', 0044, 2020-01-01, null, ~, 1.5, true, no, 0x1F, .inf, "", '']
nested: {a: [{b: [1, {c: d}]}], e: {}, f: []}
block:
  - x: 1
    y: |
      multi
      line
  - >-
    folded
    text
"1": one
2: two
+15550001111: {trunk: t}
"""


@pytest.mark.parametrize("text", [TRICKY, *[p.read_text() for p in sorted(Path("stacks").glob("*.yaml"))]])
def test_fast_load_gives_what_the_positioned_build_gives(text: str) -> None:
    from voxplan.stack.loader import _fast_load, _load_with_positions

    fast = _fast_load(text)
    assert fast is not None  # nothing here needs the slow path
    slow, _, diags = _load_with_positions(text, "s.yaml")
    assert not diags and fast == slow and repr(fast) == repr(slow)  # same values, types and key order


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "a: &x {b: 1}\nc: *x\n", "? [k]\n: v\n", "a: !!str 1\n",
                                  "<<: {a: 1}\n", "a: 1\n---\nb: 2\n", ""])
def test_what_the_fast_load_leaves_to_the_positioned_one(text: str) -> None:
    from voxplan.stack.loader import _fast_load

    assert _fast_load(text) is None


def test_positions_are_computed_only_when_asked() -> None:
    data, source, diags = parse_yaml("version: 1\nnumbers:\n  +15550001111: {trunk: t}\n", "s.yaml")
    assert not diags and not source.values  # nothing located yet
    assert str(source.key_at(("numbers", "+15550001111"))) == "s.yaml:3:3"
    assert str(source.at(("numbers", "+15550001111", "trunk"))) == "s.yaml:3:25"


def test_a_clean_stack_is_loaded_and_expanded_without_locating_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Positions cost as much as the parse: validation, interpolation and expansion must only ask for
    one when they report something."""
    from voxplan import workflow

    stack = Path("stacks/multi-carrier.yaml")
    for var in re.findall(r"\$\{env:(\w+)\}", stack.read_text()):
        monkeypatch.setenv(var, "x" * 24)
    loaded = workflow.load(stack)
    assert loaded.desired and not loaded.warnings and not loaded.stack.source.values


def test_interpolation_env_file_and_secret_typing(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("file-secret-value\n")
    stack = tmp_path / "s.yaml"
    stack.write_text(
        "version: 1\n"
        "providers:\n  vapi:\n    api_key: ${file:key.txt}\n"
        "assistants:\n  a:\n    name: ${env:ANAME}\n"
        "trunks:\n  t:\n    carrier: byo\n    gateways: [{ip: 203.0.113.1}]\n"
        "    auth: {username: u, password: \"pre-${env:PW}\"}\n")
    loaded, warnings = load_and_validate(stack, env={"ANAME": "Alice", "PW": "s3cret"})
    assert loaded.data["assistants"]["a"]["name"] == "Alice"
    key = loaded.data["providers"]["vapi"]["api_key"]
    password = loaded.data["trunks"]["t"]["auth"]["password"]
    assert isinstance(key, Secret) and key.reveal() == "file-secret-value"
    assert isinstance(password, Secret) and password.reveal() == "pre-s3cret"
    assert str(password) == "(sensitive)" and "s3cret" not in repr(loaded.data)


def test_sandbox_placeholder_is_stable_and_warned(tmp_path: Path) -> None:
    stack = tmp_path / "s.yaml"
    stack.write_text("version: 1\ntrunks:\n  t:\n    carrier: byo\n    gateways: [{ip: 203.0.113.1}]\n"
                     "    auth: {username: u, password: \"${env:NOPE_PW}\"}\n")
    with pytest.raises(StackErrors):
        load_and_validate(stack, env={})
    first, warnings = load_and_validate(stack, env={}, sandbox=True)
    second, _ = load_and_validate(stack, env={}, sandbox=True)
    assert [w.severity for w in warnings] == ["warning"]
    assert first.data["trunks"]["t"]["auth"]["password"] == second.data["trunks"]["t"]["auth"]["password"]


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    stack = tmp_path / "s.yaml"
    stack.write_text("version: 1\nassistants:\n  a: {tools: [x, y]}\nroutes:\n  \"+15550001111\": {assistant: z}\n")
    with pytest.raises(StackErrors) as exc:
        load_and_validate(stack, env={})
    messages = [str(d) for d in exc.value.diagnostics]
    assert len(messages) == 4, messages  # two unknown tools, an undeclared number, an unknown assistant


@pytest.mark.parametrize(("text", "ok", "fix"), [
    ("+14155550100", True, ""),
    ("+1 (415) 555-0100", True, ""),
    ("04155550100", False, "+<country code>4155550100"),
    ("0114155550100", False, "+4155550100"),
    ("14155550100", False, "+14155550100"),
    ("+0123", False, ""),
])
def test_e164(text: str, ok: bool, fix: str) -> None:
    assert is_e164(text) is ok
    if fix:
        assert fix in hint(text)


def test_didlogic_trunk_without_inbound_gateways_is_a_warning_not_an_error(tmp_path: Path) -> None:
    from voxplan.core.context import RunContext
    from voxplan.workflow import load

    stack = tmp_path / "s.yaml"
    body = "version: 1\ntrunks:\n  dl:\n    carrier: didlogic\n    password: \"${env:PW}\"\n"
    stack.write_text(body)
    warnings = [str(w) for w in load(stack, RunContext(env={"PW": "x" * 12})).warnings]
    assert any("no inbound gateway" in w and w.startswith(f"{stack}:4:5: warning:") for w in warnings), warnings
    stack.write_text(body + "    gateways: [{ip: 198.51.100.20, outbound: false}]\n")
    assert not [w for w in load(stack, RunContext(env={"PW": "x" * 12})).warnings if "inbound" in str(w)]
