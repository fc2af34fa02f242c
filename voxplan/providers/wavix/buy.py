"""Buying and releasing Wavix numbers (wavix-openapi.json, tags "Buy", "Cart", "My numbers"): money, only
for a number the stack marks `purchase: true` (or `release: true`), and only with `--allow-purchase`
(`--allow-release`).

A number is found in Wavix's stock by walking it as the portal does: the countries (matched by the name
libphonenumber gives the number's country), the regions of a country that has them, the cities (the one whose
rate-centre `area_code` begins the national number), and that city's available numbers, paged. The listing
carries the price (`activation_fee`, `monthly_fee`, USD) and the `id` the cart takes. Buying is
`PUT /v1/buy/cart {ids}` then `POST /v1/buy/cart/checkout {ids}`; releasing is `DELETE /v1/numbers?ids=`.

Unconfirmed, and kept here: that the cart's `ids` are the listing's `id` (the spec's example has id and number
equal); how many regions a country's walk reads before its city (every region of the US at worst: tens of
requests, at plan time, only while the number is not yet bought).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import phonenumbers

from voxplan.core import errors
from voxplan.providers.http import ApiClient

PER_PAGE = 100


def offer(client: ApiClient, digits: str) -> dict[str, Any] | None:
    """The stock listing of `digits` (its id and prices), or None when Wavix does not offer it."""
    from phonenumbers import geocoder  # its data takes half a second to import: only when a number is bought

    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    name = geocoder.country_name_for_number(parsed, "en").lower()
    national = phonenumbers.national_significant_number(parsed)
    countries = client.request("GET", "/v1/buy/countries").get("countries") or []
    country = next((c for c in countries if str(c.get("name", "")).lower() == name), None)
    if country is None:
        return None
    for city in _cities(client, country):
        area = str(city.get("area_code") or "").split(".")[0]
        if not area or not national.startswith(area):
            continue
        for item in _stock(client, country["id"], city["id"]):
            if str(item.get("number", "")).lstrip("+") == digits:
                return dict(item)
    return None


def _cities(client: ApiClient, country: dict[str, Any]) -> Iterator[dict[str, Any]]:
    base = f"/v1/buy/countries/{country['id']}"
    if not country.get("has_provinces_or_states"):
        yield from client.request("GET", f"{base}/cities").get("cities") or []
        return
    for region in client.request("GET", f"{base}/regions").get("regions") or []:
        yield from client.request("GET", f"{base}/regions/{region['id']}/cities").get("cities") or []


def _stock(client: ApiClient, country: int, city: int) -> Iterator[dict[str, Any]]:
    page = 1
    while True:
        body = client.request("GET", f"/v1/buy/countries/{country}/cities/{city}/dids",
                              params={"page": page, "per_page": PER_PAGE})
        yield from body.get("dids") or []
        pages = int((body.get("pagination") or {}).get("total_pages") or 1)
        if page >= pages:
            return
        page += 1


def price(item: dict[str, Any]) -> str:
    return f"{item.get('activation_fee')} USD now, {item.get('monthly_fee')} USD a month (Wavix's listing)"


def buy(client: ApiClient, digits: str) -> None:
    """Put the number in the cart and check it out. Raises InvalidRequest when Wavix does not offer it."""
    item = offer(client, digits)
    if item is None:
        raise errors.InvalidRequest(f"+{digits} is not in Wavix's stock (nothing was bought)", provider="wavix")
    ids = [str(item["id"])]
    client.request("PUT", "/v1/buy/cart", json={"ids": ids})
    client.request("POST", "/v1/buy/cart/checkout", json={"ids": ids})


def release(client: ApiClient, remote_id: str) -> None:
    client.request("DELETE", "/v1/numbers", params={"ids": remote_id})
