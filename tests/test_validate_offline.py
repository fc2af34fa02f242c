"""validate is offline: it needs no secret and no API key, so CI's lint job holds none."""

from __future__ import annotations

import gc
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import STACKS
from voxplan.cli import main


@pytest.mark.parametrize("stack", sorted(STACKS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_validates_with_an_empty_environment(stack: Path, tmp_path: Path) -> None:
    unset: dict[str, str | None] = {k: None for k in os.environ if k.endswith(("_KEY", "_PASSWORD", "_TOKEN"))
                                    or k.startswith("VOXPLAN_")}
    text = stack.read_text()
    unset |= {name: None for name in _env_names(text)}
    copy = tmp_path / stack.name  # never the checkout's stacks/
    copy.write_text(text)
    result = _invoke(["validate", str(copy)], unset)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{copy}: valid (")
    lines = result.stderr.splitlines()
    assert all(": warning: " in line for line in lines), result.stderr
    if "${env:" in text:
        assert any("is not set; plan and apply will need it" in line for line in lines)


def test_plan_still_refuses_an_unset_variable(tmp_path: Path) -> None:
    copy = tmp_path / "byo-trunk.yaml"
    copy.write_text((STACKS / "byo-trunk.yaml").read_text())
    env: dict[str, str | None] = {name: None for name in _env_names(copy.read_text())}
    result = _invoke(["plan", str(copy)], env)
    assert result.exit_code == 1 and "is not set" in result.stderr and ": warning: " not in result.stderr


def _invoke(args: list[str], env: dict[str, str | None]) -> Result:
    try:
        return CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    finally:  # the CLI owns its process's collector; this process is pytest's
        gc.unfreeze()
        gc.enable()


def _env_names(text: str) -> set[str]:
    return set(re.findall(r"\$\{env:([A-Za-z0-9_]+)\}", text))


def test_a_transfer_to_a_carrier_number_outside_the_stack_needs_a_reason(tmp_path: Path) -> None:
    stack = tmp_path / "s.yaml"
    base = """version: 1
trunks:
  wx: {carrier: wavix, password: "pw-not-a-secret-000", caller_id: "+61290597521"}
tools:
  to-human:
    transfer:
      - sip: sip:14155550100@us.wavix.net
"""
    stack.write_text(base + "numbers:\n  \"+61290597521\": {carrier: wavix, trunk: wx}\n")
    refused = _invoke(["validate", str(stack)], {})
    assert refused.exit_code == 1 and f"{stack}:7:14: " in refused.stderr
    assert "+14155550100 is not a wavix number of this stack" in refused.stderr and "external:" in refused.stderr
    stack.write_text(base.replace("us.wavix.net\n", "us.wavix.net\n        external: the office PBX, routed in "
                                  "the Wavix portal\n") + "numbers:\n  \"+61290597521\": {carrier: wavix, trunk: wx}\n")
    assert _invoke(["validate", str(stack)], {}).exit_code == 0
