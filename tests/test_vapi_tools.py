"""Vapi tools as Vapi's current spec defines them (CreateTransferCallToolDTO and the other Create…ToolDTO,
2026-08), and how a tool is told apart from another environment's or stack's twin."""

from __future__ import annotations

import json
from pathlib import Path

from voxplan import specs
from voxplan.providers.vapi import forms
from voxplan.providers.vapi.adapters import Tool
from voxplan.providers.vapi.surface import TOOL_TYPES

SPEC = specs.document("vapi")["components"]["schemas"]


def test_a_transfer_tool_carries_only_what_the_dto_defines_and_its_description_where_the_dto_allows() -> None:
    body = forms.tool("to-human", {"description": "Hand the caller to a person.", "transfer": [
        {"sip": "sip:desk@203.0.113.10"}, {"number": "+14155550100", "when": "Sales questions."}]}).body
    assert set(body) <= set(SPEC["CreateTransferCallToolDTO"]["properties"]) - {"function"}  # no `function`
    assert [d["description"] for d in body["destinations"]] == ["Hand the caller to a person.", "Sales questions."]


def test_the_tool_types_are_the_ones_post_tool_takes() -> None:
    check = specs.checker("vapi")
    union = check.request_schema("POST", "/tool")
    assert union is not None
    found = [SPEC[b["$ref"].rsplit("/", 1)[-1]]["properties"]["type"]["enum"][0] for b in union["oneOf"]]
    assert found == TOOL_TYPES and len(TOOL_TYPES) == 23
    raw = json.loads((Path(specs.__file__).parent / "vapi-openapi.json").read_text())
    mapping = raw["paths"]["/tool"]["post"]["requestBody"]["content"]["application/json"]["schema"]["discriminator"]
    assert "code" not in mapping["mapping"]  # the document's own gap (corrected): the checker reads the branches


def test_no_tool_is_ever_adopted_by_what_it_holds_nor_by_its_name() -> None:
    """19 types have no name; the other four's name is what the model calls (no -<env> may change it), so two
    environments could not be told apart by it: every tool is known by state alone, or imported by id."""
    made_before = {"type": "transferCall", "function": {"name": "to_human"},  # by older voxplan or the dashboard
                   "destinations": [{"type": "sip", "sipUri": "sip:desk@203.0.113.10"}]}
    wanted = forms.tool("to-human", {"transfer": [{"sip": "sip:desk@203.0.113.10"}]}).body
    assert Tool.natural_key(wanted) is None and Tool.natural_key(made_before) is None
    for kind in TOOL_TYPES:
        assert Tool.natural_key({"type": kind, "name": "x", "function": {"name": "x"}}) is None, kind
        assert Tool.named_path({"type": kind, "name": "x", "function": {"name": "x"}}) is None, kind


def test_a_typed_tool_names_stack_entries_where_vapi_wants_ids() -> None:
    draft = forms.tool("lookup", {"type": "function", "function": {"name": "lookup"},
                                  "server": {"url": "https://x.example.com", "credential": "hooks"}})
    ref = draft.body["server"]["credentialId"]
    assert ref.address == "vapi.credential/hooks" and "credential" not in draft.body["server"]
    assert draft.locate(("server", "credentialId")) == ("tools", "lookup", "server", "credential")
    inline = {"type": "handoff", "destinations": [{"type": "assistant", "assistant": {"name": "Inline"}}]}
    assert forms.tool("t", inline).body["destinations"][0]["assistant"] == {"name": "Inline"}  # Vapi's own
