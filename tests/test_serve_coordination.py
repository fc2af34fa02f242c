"""The call record two replicas share, on a real PostgreSQL: claim, takeover of a dead owner's call,
sideband leases, hand-back on a graceful stop, and pruning."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from voxplan.serve.coordination import Claim, PostgresCoordinator
from voxplan.state.postgres import PostgresStore

ACCEPT = {"action": "accept", "agent": "support", "follow": {"name": "support", "transfer": [{"to": "+1"}]}}


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[PostgresCoordinator, PostgresCoordinator]]:
    store = PostgresStore(pg_url, "s")
    store.published()  # the schema, as apply or serve's start makes it
    store.close()
    a, b = PostgresCoordinator(pg_url, "s", "default"), PostgresCoordinator(pg_url, "s", "default")
    a.start()
    b.start()
    yield a, b
    for c in (a, b):
        c.stop()


def kill(pg_url: str, replica: PostgresCoordinator) -> None:
    """What a SIGKILL leaves: the replica's last heartbeat, long ago by now."""
    replica.stop()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE voxplan_serve_replicas SET heartbeat_at = now() - interval '1 minute' WHERE id = %s",
                     (replica.replica,))


def test_one_replica_decides_a_call_and_a_retry_finds_it_done(two: tuple[PostgresCoordinator, ...]) -> None:
    a, b = two
    assert a.claim("rtc_1", "wh_1", ACCEPT) == (Claim.MINE, ACCEPT)
    assert b.claim("rtc_1", "wh_2", {"action": "reject"}) == (Claim.BUSY, None)  # A is alive and deciding
    assert a.claim("rtc_1", "wh_1", ACCEPT) == (Claim.BUSY, None)  # its own retry, while it decides
    a.decided("rtc_1", "accepted", ACCEPT["follow"])
    assert b.claim("rtc_1", "wh_1", ACCEPT) == (Claim.DONE, None)
    a.release("rtc_1")  # too late: decided calls are never released
    assert b.claim("rtc_1", "wh_3", ACCEPT) == (Claim.DONE, None)


def test_a_dead_owners_call_is_taken_over_with_its_first_decision(pg_url: str,
                                                                 two: tuple[PostgresCoordinator, ...]) -> None:
    a, b = two
    assert a.claim("rtc_2", "wh_1", ACCEPT)[0] is Claim.MINE
    kill(pg_url, a)
    claim, carried = b.claim("rtc_2", "wh_1", {"action": "reject", "status": 486})
    assert claim is Claim.MINE and carried == ACCEPT  # B re-sends A's decision, never a different one
    assert b.claim("rtc_3", "wh_9", ACCEPT)[0] is Claim.MINE
    b.release("rtc_3")  # B could not reach OpenAI: the next delivery, anywhere, takes it at once
    assert b.claim("rtc_3", "wh_9", ACCEPT)[0] is Claim.MINE


def test_sidebands_of_a_dead_replica_are_leased_to_one_survivor(pg_url: str,
                                                               two: tuple[PostgresCoordinator, ...]) -> None:
    a, b = two
    for n in range(3):
        a.claim(f"rtc_{n}", f"wh_{n}", ACCEPT)
        a.decided(f"rtc_{n}", "accepted", ACCEPT["follow"])
    a.claim("rtc_x", "wh_x", {"action": "reject"})
    a.decided("rtc_x", "rejected", None)
    assert b.orphans() == []  # A is alive
    kill(pg_url, a)
    taken = b.orphans()
    assert sorted(c for c, _ in taken) == ["rtc_0", "rtc_1", "rtc_2"] and taken[0][1] == ACCEPT["follow"]
    assert b.orphans() == []  # leased to B now
    assert b.owns("rtc_1") and not b.owns("rtc_x")  # a tool call on rtc_1 is B's to answer
    b.ended("rtc_0")
    assert b.hand_back() == 2  # a graceful stop: the two still in progress go to whoever is left
    c = PostgresCoordinator(pg_url, "s", "default")
    c.start()
    try:
        assert sorted(x for x, _ in c.orphans()) == ["rtc_1", "rtc_2"]
        assert c.owns("rtc_1") and not b.owns("rtc_1")  # had B been slow, not gone, its next tool call lets go
    finally:
        c.stop()


def test_old_records_are_pruned(pg_url: str, two: tuple[PostgresCoordinator, ...]) -> None:
    a, _ = two
    a.claim("rtc_old", "wh_old", ACCEPT)
    a.decided("rtc_old", "rejected", None)
    a.claim("rtc_new", "wh_new", ACCEPT)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE voxplan_serve_calls SET received_at = now() - interval '5 days' WHERE call_id = 'rtc_old'")
        conn.execute("UPDATE voxplan_serve_deliveries SET at = now() - interval '5 days' WHERE webhook_id = 'wh_old'")
    assert a.prune() == 2
    assert a.claim("rtc_new", "wh_new", ACCEPT)[0] is Claim.BUSY  # the recent one is kept
