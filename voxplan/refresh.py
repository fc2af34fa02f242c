"""Read live state: one paged list per kind, every kind concurrently. Never a GET per resource."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from voxplan.diff import Live
from voxplan.errors import ProviderError
from voxplan.providers import Providers


def refresh(providers: Providers, kinds: Iterable[str]) -> dict[str, Live]:
    kinds = sorted(set(kinds))
    if not kinds:
        return {}

    def one(kind: str) -> tuple[str, Live]:
        adapter = providers.adapter(kind)
        try:
            return kind, Live.index(adapter.list(), adapter)
        except ProviderError as exc:
            raise exc.at(f"refresh {kind}") from None

    with ThreadPoolExecutor(max_workers=min(8, len(kinds))) as pool:
        return dict(pool.map(one, kinds))
