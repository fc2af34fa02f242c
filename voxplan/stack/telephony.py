"""Telephony values, parsed rather than pattern-matched: phone numbers (by `phonenumbers`, Google's
libphonenumber), SIP URIs, SIP header names and values, tech prefixes, SIP usernames, hostnames and IP
addresses (by `ipaddress`).

Every parser returns a problem (one sentence, and a hint) or nothing; none echoes a value it was handed
as a Secret. What a parser accepts is what a SIP stack or carrier can take without the value spilling
into another field: no CR/LF (a second header line), no `<`/`>` (the end of a name-addr), no spaces or
control characters anywhere in a URI.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType, shortnumberinfo

from voxplan.stack import e164


@dataclass(frozen=True)
class Problem:
    message: str
    hint: str = ""


# --- phone numbers --------------------------------------------------------------------------------

REFUSED_TYPES = {PhoneNumberType.PREMIUM_RATE: "a premium-rate number", PhoneNumberType.SHARED_COST:
                 "a shared-cost number"}


@lru_cache(maxsize=1 << 16)  # numbers: and routes: name the same 10,000 numbers
def phone_problem(text: str) -> Problem | None:
    """Whether `text` is a dialable E.164 number as written: `+`, country code, subscriber number, in
    that country's numbering plan, digits only. The spaces and punctuation people write (`+1 415 555 0199`,
    `+61 (0)2 …`) are refused with the E.164 form as the fix: vendors are sent numbers as written, and
    Vapi stores a carrier number with its E.164 check off."""
    if not text.startswith("+"):
        if _emergency(text):
            return Problem("is an emergency number", "voxplan never routes or transfers to one")
        return Problem("is not an E.164 number", e164.hint(text))
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        return Problem(f"is not a phone number ({_reason(exc)})", e164.hint(text))
    canon = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        why = {phonenumbers.ValidationResult.TOO_SHORT: "too short",
               phonenumbers.ValidationResult.TOO_LONG: "too long",
               phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "an unknown country code"}.get(possible,
                                                                                                 "the wrong length")
        return Problem(f"is not a valid phone number: {why} for +{number.country_code}",
                       "check the digits: + country code and the full subscriber number")
    if not phonenumbers.is_valid_number(number):
        return Problem(f"is not a valid number in +{number.country_code}'s numbering plan",
                       "check the area code and digits")
    if text != canon:
        return Problem(f"is not in E.164 form (it means {canon})", f"write {canon}")
    return None


def transfer_problem(text: str) -> Problem | None:
    """A number calls are sent to (a transfer, a forward): a valid number that is neither an emergency
    service nor premium-rate or shared-cost (a prompt-injected transfer there costs money or ties up a
    public line)."""
    found = phone_problem(text)
    if found is not None:
        return found
    number = phonenumbers.parse(text, None)
    national = phonenumbers.national_significant_number(number)
    for region in phonenumbers.region_codes_for_country_code(number.country_code or 0):
        if shortnumberinfo.is_emergency_number(national, region):
            return Problem("is an emergency number", "voxplan never transfers or forwards calls to one")
    kind = REFUSED_TYPES.get(phonenumbers.number_type(number))
    if kind:
        return Problem(f"is {kind}", "transfers and forwards to premium-rate or shared-cost numbers are refused")
    return None


def _emergency(text: str) -> bool:
    digits = text.strip()
    if not digits.isdigit() or len(digits) > 6:
        return False
    return any(shortnumberinfo.is_emergency_number(digits, region) for region in ("US", "GB", "AU", "DE", "FR",
                                                                                  "IN", "JP", "BR", "NZ"))


def _reason(exc: phonenumbers.NumberParseException) -> str:
    return {phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
            phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
            phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
            phonenumbers.NumberParseException.TOO_LONG: "too long"}.get(exc.error_type, "unparsable")


_TEMPLATE = re.compile(r"^\{\{ ?[A-Za-z_][A-Za-z0-9_.]* ?\}\}\Z")  # Vapi's Liquid: {{customer.number}}


def caller_id_problem(text: str) -> Problem | None:
    """A caller id: an E.164 number, or a Vapi template such as `{{customer.number}}`."""
    if _TEMPLATE.match(text):
        return None
    return phone_problem(text)


# --- SIP ------------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[\x00-\x20\x7f<>\"]")  # controls, CR/LF, space, and what ends a name-addr
_USER = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})+\Z")  # RFC 3261 user, less ; ? /
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+\Z")  # RFC 3261 token
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_PREFIX = re.compile(r"^[0-9A-Za-z#*+._-]*\Z")  # \Z: "$" would let a final line break through


@dataclass(frozen=True)
class SipUri:
    scheme: str
    user: str
    host: str
    port: int | None
    params: tuple[tuple[str, str], ...]


def parse_sip_uri(text: str, *, default_scheme: str = "") -> SipUri | Problem:
    """`sip:user@host:port;param=value` (sips: too). `default_scheme` admits a URI written without one
    (a carrier route's target). Headers (`?…`) and a password in the user part are refused."""
    shown = _unsafe_char(text)
    if shown:
        return Problem(f"is not a SIP URI: it contains {shown}", "a SIP URI has no spaces, line breaks, quotes, < or >")
    scheme, colon, rest = text.partition(":")
    if colon and scheme.lower() in ("sip", "sips"):
        scheme = scheme.lower()
    elif default_scheme:
        scheme, rest = default_scheme, text
    else:
        return Problem("is not a SIP URI: it must start with sip: or sips:")
    if "?" in rest:
        return Problem("is not a SIP URI voxplan accepts: it carries headers (?…)", "set headers with headers:")
    address, *raw_params = rest.split(";")
    user, at, hostport = address.rpartition("@")
    if not at:
        user, hostport = "", address
    if ":" in user:
        return Problem("is not a SIP URI voxplan accepts: it carries a password in the user part")
    if at and not _USER.match(user):
        return Problem("is not a SIP URI: its user part is empty or has characters SIP does not allow")
    host, port = _split_port(hostport)
    if isinstance(port, Problem):
        return port
    found = host_problem(host)
    if found:
        return Problem(f"is not a SIP URI: its host {found.message}")
    params = []
    for raw in raw_params:
        name, _, value = raw.partition("=")
        if not _TOKEN.match(name) or (value and not re.match(r"^[A-Za-z0-9\-.!%*_+`'~\[\]/:&$]+\Z", value)):
            return Problem("is not a SIP URI: a ;parameter is not name=value in SIP's characters")
        params.append((name, value))
    return SipUri(scheme, user, host, port, tuple(params))


def _split_port(hostport: str) -> tuple[str, int | None | Problem]:
    if hostport.startswith("["):
        host, close, after = hostport[1:].partition("]")
        if not close:
            return hostport, Problem("is not a SIP URI: an IPv6 host is not closed with ]")
        host = f"[{host}]"
    else:
        host, _, after = hostport.partition(":")
        after = f":{after}" if _ else ""
    if not after:
        return host, None
    if not after.startswith(":") or not after[1:].isdigit() or not 1 <= int(after[1:]) <= 65535:
        return host, Problem("is not a SIP URI: its port is not a number from 1 to 65535")
    return host, int(after[1:])


def _unsafe_char(text: str) -> str:
    match = _UNSAFE.search(text)
    if not match:
        return ""
    char = match.group()
    return {"\r": "a carriage return", "\n": "a line break", " ": "a space", "\t": "a tab", "<": "'<'", ">": "'>'",
            '"': "a quote"}.get(char, f"the control character U+{ord(char):04X}")


def host_problem(text: str) -> Problem | None:
    """A hostname (RFC 1123 labels, at most 253 characters), an IPv4 address, or an IPv6 one in [ ]."""
    if not text:
        return Problem("is empty")
    if text.startswith("[") and text.endswith("]"):
        try:
            ipaddress.IPv6Address(text[1:-1])
            return None
        except ValueError:
            return Problem("is not an IPv6 address")
    if re.fullmatch(r"[0-9.]+", text):
        try:
            ipaddress.IPv4Address(text)
            return None
        except ValueError:
            return Problem("is not an IPv4 address")
    try:
        ipaddress.IPv6Address(text)
        return None  # bare, as a gateway's ip: may hold it
    except ValueError:
        pass
    if len(text) > 253 or not all(_LABEL.match(label) for label in text.rstrip(".").split(".")):
        return Problem("is not a hostname or IP address")
    return None


# Addresses no SIP peer can be at, whatever the network between: `ipaddress`'s own classification. Private
# ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) are accepted: a PBX reached over a VPN or a
# carrier's private interconnect is legitimate, and voxplan cannot see the route from the vendor to it.
_UNUSABLE = (("is_unspecified", "the unspecified address"), ("is_loopback", "a loopback address"),
             ("is_multicast", "a multicast address"), ("is_link_local", "a link-local address"),
             ("is_reserved", "a reserved address"))


def gateway_problem(text: str) -> Problem | None:
    """A gateway's address: a host (`host_problem`) that, when it is an IP address, a SIP peer can have:
    not 0.0.0.0 or ::, not the broadcast address, not loopback, multicast, link-local or reserved."""
    found = host_problem(text)
    if found is not None:
        return found
    try:
        ip = ipaddress.ip_address(text[1:-1] if text.startswith("[") else text)
    except ValueError:
        return None  # a hostname
    hint = "give the address the PBX or carrier sends SIP from and receives it on"
    if ip == ipaddress.IPv4Address("255.255.255.255"):
        return Problem("is the broadcast address, not a SIP peer", hint)
    for attribute, what in _UNUSABLE:
        if getattr(ip, attribute):
            return Problem(f"is {what}, not a SIP peer", hint)
    return None


def header_name_problem(name: str) -> Problem | None:
    if not _TOKEN.match(name):
        return Problem("is not a SIP header name (letters, digits and -.!%*_+`'~ only)")
    return None


def header_value_problem(value: str) -> Problem | None:
    """A header value: printable text on one line (a CR or LF would start a header of the caller's
    choosing), at most 1024 characters."""
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value):
        return Problem("has a line break or control character; a SIP header value is one line")
    if len(value) > 1024:
        return Problem(f"is {len(value)} characters; a SIP header value here is at most 1024")
    return None


def username_problem(value: str) -> Problem | None:
    if not value or not _USER.match(value):
        return Problem("is not a SIP username (letters, digits and -_.!~*'()&=+$, or %XX escapes; no spaces, "
                       "line breaks, @, : or < >)")
    return None


def tech_prefix_problem(value: str) -> Problem | None:
    if not _PREFIX.match(value):
        return Problem("is not a tech prefix (digits, letters and # * + . _ - only)")
    return None


_DISPLAY_TOKENS = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~ \t]*\Z")  # RFC 3261 tokens, and the spaces between them


def name_addr_uri(value: str) -> str | None:
    """The URI of a SIP `From`/`To`-style header value (RFC 3261 §20.10, §25.1), or None when it is not
    well formed. `name-addr = [display-name] "<" addr-spec ">"`; a display name is tokens or a quoted
    string (with backslash escapes, so `"<sip:a@b>"` inside quotes is text, never the address); the
    display name never counts. Without `<…>` the addr-spec ends at the first `;` (those are the header's
    parameters, not the URI's)."""
    text = value.strip()
    rest = text
    if text.startswith('"'):
        i, escaped = 1, False
        while i < len(text):
            ch = text[i]
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                break
            i += 1
        else:
            return None  # an unterminated quoted string
        rest = text[i + 1:].lstrip()
        if not rest.startswith("<"):
            return None
    elif "<" in text:
        display, _, _after = text.partition("<")
        if not _DISPLAY_TOKENS.match(display):
            return None
        rest = text[len(display):]
    if rest.startswith("<"):
        uri, closed, _params = rest[1:].partition(">")
        return uri.strip() if closed and uri.strip() and '"' not in uri and "<" not in uri else None
    if any(c in rest for c in '"<>'):
        return None
    uri = rest.split(";", 1)[0].strip()
    return uri or None


def uri_user(uri: str) -> str:
    """The user part of a sip:/sips: URI, or the number of a tel: URI (without parameters)."""
    scheme, colon, rest = uri.partition(":")
    if not colon:
        return ""
    if scheme.lower() == "tel":
        return rest.split(";", 1)[0]
    user, at, _host = rest.rpartition("@")
    return user.split(";", 1)[0] if at else ""
