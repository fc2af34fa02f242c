"""Placing calls on Vapi, and reading them back (`voxplan call`, `voxplan test`): money, only when asked.

POST /call/phone (the path seeds 000 and 001 use; POST /call in the current spec takes the same
CreateCallDTO) with the phone number's and the assistant's ids from state; GET /call/{id} until it ends;
GET /call?phoneNumberId=…&createdAtGe=… for the calls a number took.

SIP headers for the far side travel as header fields of the customer's SIP URI (RFC 3261 §19.1.1:
`sip:user@host?x-first_name=John`): the CreateCallDTO has no field for custom INVITE headers.
Unconfirmed, and kept here: that Vapi copies those URI headers into its INVITE (only a call shows it);
a PSTN number carries no headers, so `call` refuses them there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from voxplan.core import errors
from voxplan.providers.base import CallRecord
from voxplan.providers.http import ApiClient


def record(raw: Mapping[str, Any]) -> CallRecord:
    return CallRecord(id=str(raw.get("id")), status=str(raw.get("status") or ""),
                      ended_reason=str(raw.get("endedReason") or ""), ended_message=str(raw.get("endedMessage") or ""),
                      answered_by=str(raw.get("assistantId") or raw.get("squadId") or ""), raw=dict(raw))


def customer(to: str, headers: Mapping[str, str] | None) -> dict[str, Any]:
    if to.lower().startswith(("sip:", "sips:")):
        fields = "&".join(f"{quote(k, safe='-_.')}={quote(v, safe='-_.')}" for k, v in (headers or {}).items())
        return {"sipUri": f"{to}?{fields}" if fields else to}
    if headers:
        raise errors.PlanError("SIP headers travel only to a SIP URI destination: a call to a phone number crosses "
                               "the PSTN, which carries none")
    return {"number": to, "numberE164CheckEnabled": True}


class VapiCalls:
    number_kind: str = "vapi.phone_number"
    answerer_kinds: tuple[str, ...] = ("vapi.assistant", "vapi.squad")

    def __init__(self, client: ApiClient):
        self.client = client

    def place(self, from_id: str, to: str, *, answerer: tuple[str, str] | None = None,
              headers: Mapping[str, str] | None = None) -> CallRecord:
        body: dict[str, Any] = {"phoneNumberId": from_id, "customer": customer(to, headers)}
        if answerer:  # CreateCallDTO takes an assistant or a squad by id
            body["squadId" if answerer[0] == "vapi.squad" else "assistantId"] = answerer[1]
        return record(self.client.request("POST", "/call/phone", json=body))

    def get(self, call_id: str) -> CallRecord:
        return record(self.client.request("GET", f"/call/{call_id}"))

    def received(self, number_id: str, since: str) -> list[CallRecord]:
        found = self.client.request("GET", "/call", params={"phoneNumberId": number_id, "createdAtGe": since,
                                                            "limit": 100})
        return [record(c) for c in found or [] if c.get("type") == "inboundPhoneCall"]
