"""Read live state: one paged list per kind, every kind concurrently. Never a GET per resource, except
to confirm that an object state tracks is really gone: a list that omits it once (a vendor's paging or
consistency slip) must not make voxplan create a second copy, so the missing object is fetched by id,
and only a 404 (the adapter's None) makes it vanish."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from voxplan.core.errors import ProviderError
from voxplan.core.live import Live
from voxplan.core.writeonly import drop_echoed
from voxplan.providers import Providers


def refresh(providers: Providers, kinds: Iterable[str], interest: Mapping[str, frozenset[str]] | None = None,
            tracked: Mapping[str, Iterable[str]] | None = None) -> dict[str, Live]:
    """`interest`: per kind, the natural keys and remote ids the stack and state name. `tracked`: per
    kind, the ids state holds; any a list leaves out is fetched by id before it counts as gone."""
    kinds = sorted(set(kinds))
    if not kinds:
        return {}

    def one(kind: str) -> tuple[str, Live]:
        adapter = providers.adapter(kind)
        try:
            write_only = adapter.write_only
            # a listed object without an id is one clear error (identify), not a KeyError
            live = Live({adapter.identify(o): drop_echoed(o, write_only)
                         for o in adapter.list((interest or {}).get(kind))}, adapter)
            for remote_id in sorted(set((tracked or {}).get(kind, ())) - set(live.by_id)):
                one_more = adapter.get(remote_id)
                if one_more is not None:
                    live.by_id[adapter.identify(one_more)] = drop_echoed(one_more, adapter.write_only)
                    live.relisted.append(remote_id)
            return kind, live
        except ProviderError as exc:
            raise exc.at(f"refresh {kind}") from None

    with ThreadPoolExecutor(max_workers=min(8, len(kinds))) as pool:
        return dict(pool.map(one, kinds))
