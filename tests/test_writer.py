"""The YAML writer's edits (voxplan.stack.writer.edit): a value changes where it is written and nothing else
does; the loader must read the result as intended or nothing is written."""

from __future__ import annotations

import difflib

import pytest

from tests.conftest import STACKS
from voxplan.stack.loader import parse_yaml
from voxplan.stack.writer import Change, WriteError, edit, render

TEXT = (STACKS / "wavix-vapi.yaml").read_text()


def changed(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize(("changes", "expected"), [
    ([Change(("assistants", "support", "model", "system"), "Be brief.")],
     ["-      system: You are a friendly support agent. Transfer to a person when asked.", "+      system: Be brief."]),
    ([Change(("routes", "+14067704205", "forward"), "+61280000099")],  # quotes kept, comment kept at its column
     ['-  "+14067704205": {forward: "+61280000000"}   # the transfer target: its own routing goes to a person',
      '+  "+14067704205": {forward: "+61280000099"}   # the transfer target: its own routing goes to a person']),
    ([Change(("routes", "+14067704205"), {"sip": "sip:desk@pbx.example.com"})],
     ['-  "+14067704205": {forward: "+61280000000"}   # the transfer target: its own routing goes to a person',
      '+  "+14067704205": {sip: "sip:desk@pbx.example.com"}  # the transfer target: its own routing goes to a person']),
    ([Change(("trunks", "wavix-main", "name"), "W")],
     ["-    name: Wavix                       # the Vapi credential's name and the Wavix trunk's label",
      "+    name: W                           # the Vapi credential's name and the Wavix trunk's label"]),
    ([Change(("assistants", "support", "first_message"), "yes")],  # YAML 1.1 would read a plain yes as true
     ["-    first_message: Hello, you've reached support. How can I help?", '+    first_message: "yes"']),
    ([Change(("assistants", "support", "model", "system"), "Line one.\nLine two: a colon.")],
     ["-      system: You are a friendly support agent. Transfer to a person when asked.", "+      system: |-",
      "+        Line one.", "+        Line two: a colon."]),
    ([Change(("trunks", "wavix-main", "max_channels"), 4)], ["+    max_channels: 4"]),
    ([Change(("assistants", "support", "vapi", "silenceTimeoutSeconds"), 30)],
     ["+    vapi:", "+      silenceTimeoutSeconds: 30"]),
    ([Change.remove(("trunks", "wavix-main", "caller_id"))], ['-    caller_id: "+61290597521"']),
    ([Change(("numbers", "+14067704205", "name"), "Montana")],
     ['-  "+14067704205": {carrier: wavix, trunk: wavix-main}',
      '+  "+14067704205": {carrier: wavix, trunk: wavix-main, name: Montana}']),
    ([Change(("tools", "to-human", "transfer", 1), {"sip": "sip:b@c.example.com", "message": "Two"})],
     ["+      - sip: sip:b@c.example.com", "+        message: Two"]),
    ([Change(("assistants", "support", "tools", 1), "other")],
     ["-    tools: [to-human]", "+    tools: [to-human, other]"]),
])
def test_an_edit_changes_only_its_lines(changes: list[Change], expected: list[str]) -> None:
    after = edit(TEXT, changes)
    assert changed(TEXT, after) == expected


def test_edits_read_back_as_intended_and_compose() -> None:
    after = edit(TEXT, [Change.remove(("routes", "+14067704205", "forward")),
                        Change(("routes", "+14067704205", "sip"), "sip:x@y.example.com"),
                        Change(("assistants", "support", "model", "temperature"), 0.2)])
    data = parse_yaml(after, "x")[0]
    assert data["routes"]["+14067704205"] == {"sip": "sip:x@y.example.com"}
    assert data["assistants"]["support"]["model"]["temperature"] == 0.2
    assert data["routes"]["+61290597521"] == {"assistant": "support"}


def test_a_literal_block_stays_a_block_and_trailing_blank_lines_stay() -> None:
    text = "version: 1\nassistants:\n  a:\n    model:\n      system: |\n        One.\n        Two.\n\n  b: {}\n"
    after = edit(text, [Change(("assistants", "a", "model", "system"), "Three.\nFour.\n")])
    assert after == text.replace("One.", "Three.").replace("Two.", "Four.")


def test_what_the_loader_refuses_is_never_edited() -> None:
    with pytest.raises(Exception, match="duplicate key"):
        edit("version: 1\nstack: a\nstack: b\n", [Change(("stack",), "c")])
    with pytest.raises(WriteError):
        edit(TEXT, [Change((), {})])


def test_render_checks_what_it_wrote() -> None:
    text = render({"version": 1, "numbers": {"+61290597521": {"carrier": "byo", "name": "a, b"}}},
                  flow=lambda path, v: path == ("numbers", "+61290597521"))
    assert text == 'version: 1\nnumbers:\n  "+61290597521": {carrier: byo, name: "a, b"}\n'
    assert parse_yaml(text, "x")[0]["numbers"]["+61290597521"]["name"] == "a, b"
