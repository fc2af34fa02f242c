"""The stack format is what the providers declare: the checked-in JSON Schema is generated from their
surfaces, every carrier and section comes from the registry, and each entry is validated against its own
carrier's definition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxplan.core.errors import StackErrors
from voxplan.providers import REGISTRY, SURFACE
from voxplan.stack import load_and_validate

ROOT = Path(__file__).resolve().parent.parent


def test_the_checked_in_schema_is_the_generated_one() -> None:
    checked_in = json.loads((ROOT / "schemas" / "stack.schema.json").read_text())
    assert checked_in == SURFACE.schema, "stale: run voxplan schema > schemas/stack.schema.json"


def test_carriers_and_sections_come_from_the_registry() -> None:
    schema = SURFACE.schema
    declared = [c.name for p in REGISTRY if p.surface for c in p.surface.carriers]
    assert schema["$defs"]["number"]["properties"]["carrier"]["enum"] == declared
    with_trunks = [c.name for p in REGISTRY if p.surface for c in p.surface.carriers if c.trunk is not None]
    assert schema["$defs"]["trunk"]["properties"]["carrier"]["enum"] == with_trunks
    for p in REGISTRY:
        for section in p.surface.sections if p.surface else ():
            assert section.name in schema["properties"], section.name
    settings = schema["properties"]["providers"]["properties"]
    assert set(settings) == {p.name for p in REGISTRY if p.surface and p.surface.settings is not None}


@pytest.mark.parametrize(("trunk", "message"), [
    ("{carrier: wavix, caller_id: '+14155550100'}", "trunks.t: 'password' is a required property"),
    ("{carrier: wavix, password: pw-long-enough, auth: {username: u, password: pw-long-enough}}",
     "trunks.t: unknown key 'auth'"),
    ("{carrier: byo, password: pw-long-enough, gateways: [{ip: 203.0.113.7}]}", "trunks.t: unknown key 'password'"),
    ("{carrier: cloudonix}", "trunks.t: 'domain' is a required property"),
])
def test_a_trunk_takes_what_its_carrier_declares(tmp_path: Path, trunk: str, message: str) -> None:
    """Each carrier's trunk is validated against that carrier's declaration (plus what every trunk's Vapi
    credential takes): a field another carrier uses is an unknown key, located, with the carrier's own list."""
    stack = tmp_path / "s.yaml"
    stack.write_text(f"version: 1\ntrunks:\n  t: {trunk}\n")
    with pytest.raises(StackErrors) as exc:
        load_and_validate(stack, surface=SURFACE, env={})
    text = str(exc.value)
    assert message in text and f"{stack}:3:" in text, text
