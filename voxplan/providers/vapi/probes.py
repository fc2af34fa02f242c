"""Read-only probes of the Vapi assumptions no source settles (fact sheet §12), for `voxplan doctor`."""

from __future__ import annotations

from voxplan.providers.base import Finding, run_probes
from voxplan.providers.http import ApiClient
from voxplan.providers.vapi.adapters import page_order

ECHOED = (("/phone-number", "authentication", "password"), ("/credential", "outboundAuthenticationPlan",
                                                             "authPassword"))


def probe(client: ApiClient) -> list[Finding]:
    return run_probes("vapi", client, (_list_order, _total_pages, _echoes, _telnyx_credential))


def _list_order(client: ApiClient) -> Finding:
    seen = []
    for path in ("/assistant", "/tool", "/credential"):
        page = client.request("GET", path, params={"limit": 100})
        if isinstance(page, list) and len(page) > 1:
            seen.append(f"{path}: {page_order(page) or 'in no order'} ({len(page)} objects)")
    return Finding("vapi", "v1 lists come newest first, or oldest first",
                   "voxplan/providers/vapi/adapters.py: list_all",
                   "; ".join(seen) or "not enough objects on the account to tell",
                   "reads the order off each full page and pages towards the rest; a page in no order stops "
                   "the refresh with an error")


def _total_pages(client: ApiClient) -> Finding:
    body = client.request("GET", "/v2/phone-number", params={"limit": 1, "page": 1, "sortBy": "createdAt",
                                                             "sortOrder": "ASC"})
    meta = body.get("metadata") if isinstance(body, dict) else None
    found = ("no metadata in the answer" if not isinstance(meta, dict) else
             "metadata has " + ", ".join(f"{k} {'present' if k in meta else 'absent'}"
                                         for k in ("totalItems", "totalPages", "hasNextPage")))
    return Finding("vapi", "/v2/phone-number metadata carries totalPages (the spec marks it optional)",
                   "voxplan/providers/vapi/adapters.py: PhoneNumber.list", found,
                   "counts pages from totalItems (required) and checks the ids seen against it; never stops "
                   "at an absent totalPages")


def _echoes(client: ApiClient) -> Finding:
    found = []
    for path, parent, key in ECHOED:
        objects = client.request("GET", path, params={"limit": 1000})
        holding = [o for o in objects if isinstance(o, dict) and isinstance(o.get(parent), dict)] \
            if isinstance(objects, list) else []
        echoed = sum(1 for o in holding if key in o[parent])
        if holding:
            found.append(f"{parent}.{key} returned on {echoed} of {len(holding)} {path.strip('/')}s")
    return Finding("vapi", "write-only values (SIP number password, trunk authPassword) are never returned",
                   "voxplan/core/writeonly.py: drop_echoed (each adapter's write_only)",
                   "; ".join(found) or "no object with a password block on the account",
                   "drops any echoed value as it arrives, before state, plans or output see it")


TELNYX_ASSUMED = ("apiKey", "name")  # voxplan's assumed body (vapi-corrections.json, CreateTelnyxCredentialDTO)


def _telnyx_credential(client: ApiClient) -> Finding:
    """No document has a Telnyx credential (not the 2026-08 spec, not the 2024-12 /credential paths, not the
    SDK): the keys of the account's own telnyx credentials show what Vapi stores. Read-only, so what a POST
    takes is not probed."""
    listed = client.request("GET", "/credential", params={"limit": 1000})
    telnyx = [o for o in listed if isinstance(o, dict) and o.get("provider") == "telnyx"] \
        if isinstance(listed, list) else []
    server = {"id", "orgId", "createdAt", "updatedAt", "provider"}
    keys = sorted({k for o in telnyx for k in o if k not in server})
    unknown = sorted(set(keys) - set(TELNYX_ASSUMED))
    found = (f"{len(telnyx)} telnyx credential(s) with keys {', '.join(keys) or 'none but the server-set ones'}"
             + (f"; not in voxplan's assumed body: {', '.join(unknown)}" if unknown else "")
             if telnyx else "no telnyx credential on the account")
    return Finding("vapi", "a Telnyx credential is {provider: telnyx, apiKey (write-only), name} (no Vapi document "
                   "has one)", "voxplan/specs/vapi-corrections.json: CreateTelnyxCredentialDTO", found + "; what "
                   "POST /credential takes is not probed (a write)",
                   "checks a telnyx credentials: entry against that assumed body; change the one correction if "
                   "Vapi's answers show other keys")
