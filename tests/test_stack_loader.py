from __future__ import annotations

from pathlib import Path

import pytest

from voxplan.core.errors import StackErrors
from voxplan.core.secret import Secret
from voxplan.providers import SURFACE
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


# (YAML as written, what a stack gets): PyYAML's SafeLoader resolution, except the one phone-number rule
SCALARS = [
    ("0.3", 0.3), ("-0.5", -0.5), (".5", 0.5), ("1e3", "1e3"), ("1.5e3", "1.5e3"), ("1.5e+3", 1500.0), ("1_000", 1000),
    ("0x1F", 31), ("'0.3'", "0.3"), ('"0.3"', "0.3"), ("yes", True), ("no", False), ("on", True), ("off", False),
    ("~", None), ("null", None), ("", None), ("true", True), ("-5", -5), ("0", 0), ("7", 7), (".inf", float("inf")),
    ("a b", "a b"), ("'+61290597521'", "+61290597521"),
    # the deliberate rule: + or 0 then digits, which YAML 1.1 reads as an integer, keeps its text
    ("+61290597521", "+61290597521"), ("012", "012"), ("0290597521", "0290597521"), ("0044123", "0044123"),
    ("+1", "+1"),
]


@pytest.mark.parametrize(("written", "expected"), SCALARS)
def test_scalars_resolve_as_pyyaml_resolves_them_but_phone_numbers(written: str, expected: object) -> None:
    data, _, diags = parse_yaml(f"v: {written}\n", "s.yaml")
    assert not diags and data == {"v": expected} and type(data["v"]) is type(expected)
    import yaml

    pyyaml = yaml.safe_load(f"v: {written}\n")["v"]
    as_pyyaml = pyyaml == expected and type(pyyaml) is type(expected)
    phone_rule = type(pyyaml) is int and written[:1] in "+0" and written[1:].isdigit() and expected == written
    assert as_pyyaml != phone_rule  # exactly one of the two explains every row


@pytest.mark.parametrize("written", ["2026-12-01", "2026-12-01T10:00:00Z", "!!binary aGVsbG8=", "!!set {a}",
                                     "!custom x", "!!python/object:os.system x"])
def test_what_json_cannot_carry_is_a_located_error(written: str) -> None:
    data, _, diags = parse_yaml(f"version: 1\nv: {written}\n", "s.yaml")
    assert diags and all(str(d).startswith("s.yaml:2:4: ") for d in diags), [str(d) for d in diags]


def test_temperature_from_the_readme_validates(tmp_path: Path) -> None:
    stack = tmp_path / "s.yaml"
    stack.write_text("version: 1\nassistants:\n  a:\n    model: {provider: openai, model: gpt-4o, temperature: 0.3}\n")
    loaded, _ = load_and_validate(stack, surface=SURFACE, env={})
    assert loaded.data["assistants"]["a"]["model"]["temperature"] == 0.3


def test_interpolation_env_file_and_secret_typing(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("file-secret-value\n")
    stack = tmp_path / "s.yaml"
    stack.write_text(
        "version: 1\n"
        "providers:\n  vapi:\n    api_key: ${file:key.txt}\n"
        "assistants:\n  a:\n    name: ${env:ANAME:public}\n"
        "trunks:\n  t:\n    carrier: byo\n    gateways: [{ip: 203.0.113.1}]\n"
        "    auth: {username: u, password: \"pre-${env:PW}\"}\n")
    loaded, warnings = load_and_validate(stack, surface=SURFACE, env={"ANAME": "Alice", "PW": "s3cret"})
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
        load_and_validate(stack, surface=SURFACE, env={})
    first, warnings = load_and_validate(stack, surface=SURFACE, env={}, sandbox=True)
    second, _ = load_and_validate(stack, surface=SURFACE, env={}, sandbox=True)
    assert [w.severity for w in warnings] == ["warning"]
    assert first.data["trunks"]["t"]["auth"]["password"] == second.data["trunks"]["t"]["auth"]["password"]


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    stack = tmp_path / "s.yaml"
    stack.write_text("version: 1\nassistants:\n  a: {tools: [x, y], model: {provider: openai, model: gpt-4o}}\n"
                     "routes:\n  \"+15550001111\": {assistant: z}\n")
    with pytest.raises(StackErrors) as exc:
        load_and_validate(stack, surface=SURFACE, env={})
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
