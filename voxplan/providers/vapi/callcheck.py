"""Vapi's lints about the call path, the failures only a call used to reveal:

- a Twilio Elastic SIP trunk's credential must list Twilio's signalling networks as inbound gateways; the
  termination host alone carries outbound calls only, and inbound ones are refused with 401 (VapiAI/docs
  #1099, Twilio's "IP addresses: signaling");
- a Vapi SIP number (`carrier: vapi`) cannot call out: not as the test caller, not as a transfer's caller
  id, not as the origin of a transfer to a phone number (VapiAI/docs #1197, "Vapi Numbers Can't Dial
  Outbound Yet");
- a `{{variable}}` in a first message or system prompt with no `default:` is spoken as nothing when a call
  does not bring it (seed 002 fills `{{first_name}}` from an `x-first_name` SIP header) — a warning.

Twilio numbers and credentials of their own arrive with the Vapi surface issue (19); until then a trunk is
taken to be Twilio's when a gateway is a Twilio termination host (`*.pstn.twilio.com`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.core.secret import Secret
from voxplan.core.templates import variables
from voxplan.stack.model import Stack
from voxplan.stack.validate import number_key

# Twilio's signalling networks, one per edge (twilio.com/docs/sip-trunking#ip-addresses-signaling)
TWILIO_SIGNALLING = {"us1 (Virginia)": "54.172.60.0/30", "us2 (Oregon)": "54.244.51.0/30",
                     "ie1 (Dublin)": "54.171.127.192/30", "de1 (Frankfurt)": "35.156.191.128/30",
                     "jp1 (Tokyo)": "54.65.63.192/30", "sg1 (Singapore)": "54.169.127.128/30",
                     "au1 (Sydney)": "54.252.254.64/30", "br1 (São Paulo)": "177.71.206.192/30"}
TWILIO_HOST = ".pstn.twilio.com"
BUILTIN = {"now", "date", "time", "month", "day", "year"}  # Vapi's own template variables
BUILTIN_ROOTS = ("customer.", "phoneNumber.", "call.", "assistant.")
NO_OUTBOUND = "a Vapi SIP number cannot call out (Vapi: \"Vapi Numbers Can't Dial Outbound Yet\", VapiAI/docs #1197)"


def lint(stack: Stack) -> Iterator[Diagnostic]:
    yield from _twilio(stack)
    yield from _sip_numbers_calling_out(stack)
    yield from _template_defaults(stack)


def _twilio(stack: Stack) -> Iterator[Diagnostic]:
    for name, trunk in stack.section("trunks").items():
        gateways = [g for g in trunk.get("gateways") or [] if isinstance(g, dict)]
        if not any(str(g.get("ip", "")).lower().endswith(TWILIO_HOST) for g in gateways):
            continue
        inbound: list[ipaddress.IPv4Network] = []
        for g in gateways:
            if g.get("inbound", True) is False:
                continue
            try:
                inbound.append(ipaddress.IPv4Network(f"{g['ip']}/{g.get('netmask', 32)}", strict=False))
            except ValueError:
                continue
        missing = [edge for edge, net in TWILIO_SIGNALLING.items()
                   if not any(ipaddress.IPv4Network(net).subnet_of(have) for have in inbound)]
        if missing:
            yield Diagnostic(stack.source.at(("trunks", name, "gateways")),
                             f"trunks.{name}: a Twilio trunk's inbound calls come from Twilio's signalling networks, "
                             f"and {len(missing)} of them are no inbound gateway here ({', '.join(missing)}): Vapi "
                             "refuses those calls with 401 (VapiAI/docs #1099)",
                             hint="add each as {ip: <network>, netmask: 30, outbound: false}, e.g. "
                                  f"{TWILIO_SIGNALLING[missing[0]]}", severity="warning")


def _sip_numbers_calling_out(stack: Stack) -> Iterator[Diagnostic]:
    sip = {number_key(k) for k, v in stack.section("numbers").items() if isinstance(v, dict)
           and v.get("carrier") == "vapi"}
    if not sip:
        return  # what follows asks only about Vapi SIP numbers (10,000 trunk numbers are not keyed for nothing)
    caller = stack.section("tests").get("caller")
    if isinstance(caller, str) and number_key(caller) in sip and not stack.section("tests").get("stack"):
        yield Diagnostic(stack.source.at(("tests", "caller")), f"tests.caller {caller}: {NO_OUTBOUND}",
                         hint="call from a number on a trunk (a BYO, Wavix or didlogic number routed on Vapi)")
    tools = stack.section("tools")
    for tool, spec in tools.items():
        for i, dest in enumerate(spec.get("transfer") or []):
            cid = dest.get("caller_id")
            if isinstance(cid, str) and cid.lower().startswith("sip:") and number_key(cid) in sip:
                yield Diagnostic(stack.source.at(("tools", tool, "transfer", i, "caller_id")),
                                 f"tools.{tool}: caller_id {cid}: {NO_OUTBOUND}", severity="warning")
    routes = {number_key(k): v for k, v in stack.section("routes").items() if isinstance(v, dict)}
    assistants = stack.section("assistants")
    for number in sorted(sip):
        route = routes.get(number) or {}
        assistant = assistants.get(str(route.get("assistant"))) if route.get("assistant") else None
        for tool in (assistant or {}).get("tools") or []:
            for i, dest in enumerate((tools.get(tool) or {}).get("transfer") or []):
                if "number" in dest:
                    yield Diagnostic(stack.source.at(("tools", tool, "transfer", i, "number")),
                                     f"tools.{tool}: a call to {number} transfers to {dest['number']}, a new leg that "
                                     f"would have to come from {number}; {NO_OUTBOUND}", severity="warning",
                                     hint="transfer to a sip: URI (a REFER), or route the number through a trunk")


def _template_defaults(stack: Stack) -> Iterator[Diagnostic]:
    for key, spec in stack.section("assistants").items():
        places: list[tuple[tuple[str | int, ...], Any]] = [(("assistants", key, "first_message"),
                                                            spec.get("first_message"))]
        model = spec.get("model") if isinstance(spec.get("model"), dict) else {}
        places.append((("assistants", key, "model", "system"), (model or {}).get("system")))
        for path, text in places:
            if not isinstance(text, str) or isinstance(text, Secret):
                continue
            for var in variables(text):
                if var.default is not None or var.name in BUILTIN or var.name.startswith(BUILTIN_ROOTS):
                    continue
                yield Diagnostic(stack.source.at(path), f"assistants.{key}: {{{{{var.name}}}}} has no default: a call "
                                 f"that brings no {var.name} (an x-{var.name} SIP header, or variableValues) hears "
                                 "nothing there",
                                 hint=f"write \"{{{{{var.name} | default: 'there'}}}}\" (quoted: YAML "
                                      "reads ': ' as a key)",
                                 severity="warning")
