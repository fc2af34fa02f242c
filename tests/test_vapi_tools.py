"""transferCall tools as Vapi's current spec defines them (CreateTransferCallToolDTO, 2026-08)."""

from __future__ import annotations

from tests import contract
from voxplan.providers.vapi.adapters import Tool
from voxplan.providers.vapi.platform import VapiPlatform

SPEC = contract.spec("vapi").document["components"]["schemas"]


def test_a_transfer_tool_carries_only_what_the_dto_defines_and_its_description_where_the_dto_allows() -> None:
    body = VapiPlatform()._tool("to-human", {"description": "Hand the caller to a person.", "transfer": [
        {"sip": "sip:desk@203.0.113.10"}, {"number": "+14155550100", "when": "Sales questions."}]})
    assert set(body) <= set(SPEC["CreateTransferCallToolDTO"]["properties"])  # no `function`
    assert [d["description"] for d in body["destinations"]] == ["Hand the caller to a person.", "Sales questions."]


def test_transfer_tools_are_adopted_by_where_they_transfer_to_handoffs_by_name() -> None:
    made_before = {"type": "transferCall", "function": {"name": "to_human"},  # by older voxplan or the dashboard
                   "destinations": [{"type": "sip", "sipUri": "sip:desk@203.0.113.10"}]}
    wanted = VapiPlatform()._tool("to-human", {"transfer": [{"sip": "sip:desk@203.0.113.10"}]})
    assert Tool.natural_key(wanted) == Tool.natural_key(made_before) == "transfer:sip:desk@203.0.113.10"
    assert Tool.natural_key({"type": "handoff", "function": {"name": "to_sales"}}) == "to_sales"
