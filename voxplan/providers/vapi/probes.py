"""Read-only probes of the Vapi assumptions no source settles (fact sheet §12), for `voxplan doctor`."""

from __future__ import annotations

from voxplan.providers.base import Finding, run_probes
from voxplan.providers.http import ApiClient
from voxplan.providers.vapi.adapters import page_order

ECHOED = (("/phone-number", "authentication", "password"), ("/credential", "outboundAuthenticationPlan",
                                                             "authPassword"))


def probe(client: ApiClient) -> list[Finding]:
    return run_probes("vapi", client, (_list_order, _total_pages, _echoes))


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
