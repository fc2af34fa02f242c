"""What serve decides from a published snapshot (pure), and publications in both state backends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from voxplan.providers.openai.calls import Incoming
from voxplan.providers.openai.published import Agent, Routing
from voxplan.serve.answers import Answers
from voxplan.state import LocalStore, Published
from voxplan.state.postgres import PostgresStore

PROJECT_TO = ("To", "sip:proj_X@sip.api.openai.com;transport=tls")


def published(store: LocalStore | PostgresStore, *, caller_header: str | None = None) -> Published:
    Agent(store).create({"name": "support", "instructions": "Hi.", "numbers": ["+14155550100"],
                         "transfer": [{"to": "+17134810111"}]})
    Agent(store).create({"name": "idle", "instructions": "Unused.", "numbers": []})
    routing = {"name": "calls", "number_headers": ["x-number"], "reject_status": 486}
    Routing(store).create({**routing, **({"caller_header": caller_header} if caller_header else {})})
    return store.published()


def incoming(*headers: tuple[str, str]) -> Incoming:
    return Incoming("evt_1", "rtc_1", (PROJECT_TO, *headers))


def test_a_call_is_decided_by_the_published_routing(tmp_path: Path) -> None:
    answers = Answers.of(published(LocalStore(tmp_path / "s.state.json", "s")))
    routed = answers.decide(incoming(("x-number", "14155550100")), None)
    assert routed.action == "accept" and routed.agent == "support" and routed.version == 1
    assert routed.body is not None and routed.body["instructions"] == "Hi." and routed.follow is not None
    assert routed.body["tools"][0]["name"] == "transfer_call"
    unrouted = answers.decide(incoming(("x-number", "14155550101")), None)
    assert (unrouted.action, unrouted.reason, unrouted.status) == ("reject", "unrouted", 486)
    assert answers.decide(incoming(), None).reason == "no-number"  # To names the project, not a number
    assert Answers().decide(incoming(("x-number", "14155550100")), None).reason == "nothing-published"


def test_a_caller_header_keeps_direct_dialers_out(tmp_path: Path) -> None:
    """Anyone can dial the project's SIP URI and write any x-number: with caller_header, only calls that carry
    the carrier's shared secret reach an agent."""
    answers = Answers.of(published(LocalStore(tmp_path / "s.state.json", "s"), caller_header="X-Carrier-Key"))
    number = ("x-number", "14155550100")
    assert answers.decide(incoming(number), "s3cret").reason == "untrusted-caller"
    assert answers.decide(incoming(number, ("x-carrier-key", "wrong")), "s3cret").reason == "untrusted-caller"
    assert answers.decide(incoming(number, ("X-Carrier-Key", "s3cret")), "s3cret").action == "accept"
    assert answers.decide(incoming(number, ("X-Carrier-Key", "s3cret")), None).reason == "no-caller-secret"


def test_publications_are_versioned_and_a_waiter_wakes_on_the_next(tmp_path: Path, pg_url: str) -> None:
    for store in (LocalStore(tmp_path / "s.state.json", "s"), PostgresStore(pg_url, "s")):
        try:
            agent = Agent(store)
            made = agent.create({"name": "support", "instructions": "One.", "numbers": []})
            assert made["version"] == 1 and made["id"] == "s/default/support"
            serial = store.published().serial
            woke: list[float] = []

            def wait(store: LocalStore | PostgresStore = store, serial: int = serial, woke: list[float] = woke) -> None:
                start = time.monotonic()
                assert store.wait_published(serial, 10) != serial
                woke.append(time.monotonic() - start)

            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(0.3)
            updated = agent.update(made["id"], {"instructions": "Two.", "numbers": None})
            waiter.join()
            assert updated["version"] == 2 and updated["instructions"] == "Two." and "numbers" not in updated
            assert woke and woke[0] < 5
            agent.delete(made["id"])
            assert agent.list() == [] and store.published().of_kind("openai.agent") == {}
            assert agent.create({"name": "support", "instructions": "Three."})["version"] == 4  # history kept
        finally:
            store.close()


@pytest.mark.parametrize("value", ['"<sip:+14155550141@x>" <sip:+14155550142@y>', "<sip:+14155550142@y>;tag=1"])
def test_to_picks_the_request_uri_number(tmp_path: Path, value: str) -> None:
    store = LocalStore(tmp_path / "s.state.json", "s")
    Agent(store).create({"name": "b", "instructions": "B.", "numbers": ["+14155550142"]})
    Agent(store).create({"name": "a", "instructions": "A.", "numbers": ["+14155550141"]})
    Routing(store).create({"name": "calls", "number_headers": [], "reject_status": 603})
    decision = Answers.of(store.published()).decide(Incoming("e", "c", (("To", value),)), None)
    assert decision.agent == "b"
