"""Read live state: one paged list per kind, every kind concurrently. Never a GET per resource."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from voxplan.core.errors import ProviderError
from voxplan.core.live import Live
from voxplan.providers import Providers


def refresh(providers: Providers, kinds: Iterable[str],
            interest: Mapping[str, frozenset[str]] | None = None) -> dict[str, Live]:
    """`interest`: per kind, the natural keys and remote ids the stack and state name."""
    kinds = sorted(set(kinds))
    if not kinds:
        return {}

    def one(kind: str) -> tuple[str, Live]:
        adapter = providers.adapter(kind)
        try:
            return kind, Live.index(adapter.list((interest or {}).get(kind)), adapter)
        except ProviderError as exc:
            raise exc.at(f"refresh {kind}") from None

    with ThreadPoolExecutor(max_workers=min(8, len(kinds))) as pool:
        return dict(pool.map(one, kinds))
