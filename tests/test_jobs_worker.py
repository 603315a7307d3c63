"""The worker against the RAYNET stand-in, a real state file and a real export folder."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.harness import Harness
from tests.servers import wait_until
from webhook.moneys3.validation import DocumentValidator
from webhook.raynet.standin import RaynetStandIn
from webhook.wiring import build_worker, open_state
from webhook.worker.gate import PROBE_AFTER
from webhook.worker.loop import backoff


@pytest.fixture
def harness(raynet: RaynetStandIn, tmp_path: Path) -> Harness:
    return Harness(raynet, tmp_path)


def test_won_case_becomes_one_valid_file(harness: Harness, validator: DocumentValidator) -> None:
    harness.webhook()
    assert harness.drain() == "exported"
    assert harness.files() == ["OP-24-057.xml"]
    validator.validate((harness.exports / "OP-24-057.xml").read_bytes())
    record = harness.records.case(1234)
    assert record is not None
    assert record.location == str(harness.exports / "OP-24-057.xml")
    assert record.code == "OP-24-057"
    content = (harness.exports / "OP-24-057.xml").read_bytes()
    assert record.sha256 == hashlib.sha256(content).hexdigest()


def test_many_events_one_fetch_and_none_once_exported(harness: Harness) -> None:
    for _ in range(5):
        harness.webhook()
    harness.drain()
    assert len(harness.raynet.calls("businessCase/")) == 1
    assert len(harness.raynet.calls("company/")) == 1
    before = len(harness.raynet.requests)
    harness.webhook()
    harness.webhook()
    harness.drain()
    assert len(harness.raynet.requests) == before  # an exported case costs no API call
    assert harness.files() == ["OP-24-057.xml"]


def test_not_won_case_is_skipped_with_its_reason(
    harness: Harness, won_case: dict[str, Any]
) -> None:
    harness.raynet.add_case({**won_case, "status": "B_ACTIVE"})
    harness.webhook()
    assert harness.drain() == "skipped"
    record = harness.records.case(1234)
    assert record is not None
    assert (record.reason, record.reason_code) == (
        "the deal is not won (status B_ACTIVE)",
        "not_won",
    )
    assert harness.raynet.calls("company/") == []
    harness.raynet.add_case(won_case)  # later the deal is won
    harness.webhook()
    assert harness.drain() == "exported"


def test_429_and_500_back_off_then_succeed(harness: Harness) -> None:
    harness.raynet.fail("businessCase/", 429, headers={"Retry-After": "0"})
    harness.raynet.fail("businessCase/", 500, times=2)
    harness.webhook()
    assert harness.drain(until_state="exported") == "exported"
    assert len(harness.raynet.calls("businessCase/")) == 4
    record = harness.records.case(1234)
    assert record is not None
    assert record.attempts == 0  # reset on success
    assert harness.files() == ["OP-24-057.xml"]


def test_daily_limit_reschedules_at_the_reset(harness: Harness) -> None:
    reset = int(time.time()) + 3600
    harness.raynet.fail(
        "businessCase/",
        429,
        headers={"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": str(reset)},
    )
    harness.webhook()
    assert harness.drain() == "failed"
    record = harness.records.case(1234)
    assert record is not None
    assert record.next_try_at >= reset - 5
    assert "rate limit" in (record.reason or "")


def test_a_missing_right_is_dead_at_once_with_raynets_words(harness: Harness) -> None:
    harness.raynet.fail(
        "company/",
        500,
        times=5,
        body={
            "message": "AttributeAccessDeniedException",
            "translatedMessage": "Nemáte dostatečná oprávnění pro čtení klienta",
        },
    )
    harness.webhook()
    assert harness.drain() == "dead"
    record = harness.records.case(1234)
    assert record is not None
    assert "Nemáte dostatečná oprávnění pro čtení klienta" in (record.reason or "")
    assert len(harness.raynet.calls("company/")) == 1  # not retried ten times


def test_401_one_request_and_every_worker_stops_calling(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    wrong = Harness(raynet, tmp_path, RAYNET_API_KEY="wrong-key")
    wrong.webhook(1234)
    wrong.webhook(999)
    wrong.drain()
    assert len(raynet.requests) == 1
    record = wrong.records.case(1234)
    assert record is not None
    assert record.state == "failed"
    assert "RAYNET_USERNAME, RAYNET_API_KEY and RAYNET_INSTANCE" in (record.reason or "")
    assert "wrong-key" not in (record.reason or "")
    another_process = build_worker(wrong.settings, open_state(wrong.settings))
    assert another_process.worker.gate.closed_because() is not None
    assert not another_process.worker.run_once()
    assert len(raynet.requests) == 1
    fixed = Harness(raynet, tmp_path)  # same state file, corrected key
    assert fixed.drain(until_state="exported") == "exported"
    assert fixed.files() == ["OP-24-057.xml"]


def test_the_hourly_probe_lifts_the_stop_once_raynet_takes_the_credentials(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    """No replay needed: an hour after the 401, one worker asks RAYNET once (one request
    for every process), and the case refused meanwhile is exported."""
    harness = Harness(raynet, tmp_path)
    restored, raynet.api_key = raynet.api_key, "revoked-in-raynet"
    harness.webhook()
    assert harness.drain() == "failed"
    raynet.api_key = restored
    harness.clock.advance(PROBE_AFTER - 60)
    harness.service.chores.run_due()
    assert raynet.calls("currency/") == []
    assert harness.worker.gate.closed_because() is not None
    harness.clock.advance(120)
    harness.service.chores.run_due()
    another_worker = build_worker(harness.settings, harness.state, clock=harness.clock)
    another_worker.chores.run_due()  # its turn was taken: no second probe
    assert len(raynet.calls("currency/")) == 1
    assert harness.drain(until_state="exported") == "exported"


def test_wrong_totals_are_refused_without_retry(harness: Harness, won_case: dict[str, Any]) -> None:
    harness.raynet.add_case({**won_case, "totalAmount": 99})
    harness.webhook()
    assert harness.drain() == "dead"
    record = harness.records.case(1234)
    assert record is not None
    assert record.reason_code == "TotalsMismatch"
    assert len(harness.raynet.calls("businessCase/")) == 1
    assert harness.files() == []


def test_deleted_case_is_dead_with_reason(harness: Harness) -> None:
    harness.webhook(case_id=4242)
    assert harness.drain(case_id=4242) == "dead"
    record = harness.records.case(4242)
    assert record is not None
    assert "not found" in (record.reason or "")


def test_sync_switch_keeps_recording_but_exports_nothing(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    off = Harness(raynet, tmp_path, SYNC_ENABLED="0")
    off.webhook()
    assert not off.worker.run_once()
    assert off.state_of() == "pending"
    assert raynet.requests == []
    on = Harness(raynet, tmp_path)
    on.records.set_sync_enabled(False)
    assert on.worker.gate.closed_because() == "sync switched off by an operator"
    on.records.set_sync_enabled(True)
    assert on.drain() == "exported"


def test_two_workers_on_duplicate_events_make_exactly_one_file(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    first = Harness(raynet, tmp_path)
    second = Harness(raynet, tmp_path)
    raynet.latency = 0.05
    for _ in range(5):
        first.webhook(event_id="same-event")
    first.webhook(event_id="another-event")
    stop = threading.Event()
    threads = [threading.Thread(target=h.service.run, args=(stop,)) for h in (first, second)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while first.state_of() != "exported" and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    assert first.files() == ["OP-24-057.xml"]
    assert len(raynet.reads("businessCase/1234/")) == 1


def test_file_written_before_a_crash_counts_as_delivered(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    before_crash = Harness(raynet, tmp_path)
    before_crash.webhook()
    before_crash.drain()
    original = (before_crash.exports / "OP-24-057.xml").read_bytes()
    # a state file that never heard of that export: the worker wrote, then died
    after_restart = Harness(raynet, tmp_path, STATE_DB=str(tmp_path / "fresh.db"))
    after_restart.webhook()
    assert after_restart.drain() == "exported"
    assert after_restart.files() == ["OP-24-057.xml"]
    assert (after_restart.exports / "OP-24-057.xml").read_bytes() == original
    record = after_restart.records.case(1234)
    assert record is not None
    assert record.location == str(after_restart.exports / "OP-24-057.xml")


def test_reexport_writes_the_next_file(harness: Harness) -> None:
    harness.webhook()
    harness.drain()
    harness.queue.request_reexport(1234)
    assert harness.drain() == "exported"
    assert harness.files() == ["OP-24-057+2.xml", "OP-24-057.xml"]


def test_every_file_of_a_case_carries_one_document_number_no_other_case_has(
    harness: Harness, won_case: dict[str, Any]
) -> None:
    """Money skips an order whose Doklad it has: a re-export imported again adds nothing."""
    harness.raynet.add_case({**won_case, "id": 4321, "code": "OP-2024-000057"})
    harness.webhook(1234)
    harness.webhook(4321)
    harness.drain()
    harness.queue.request_reexport(1234)
    harness.drain()
    numbers = {
        name: etree.parse(harness.exports / name).findtext("SeznamObjPrij/ObjPrij/Doklad")
        for name in harness.files()
    }
    assert numbers == {
        "OP-24-057.xml": "OP-24-057",
        "OP-24-057+2.xml": "OP-24-057",  # the re-export: same order for Money
        "OP-2024-000057.xml": "R#4321",  # a code too long for Doklad
    }


def test_file_name_taken_by_another_case_is_a_conflict(
    harness: Harness, won_case: dict[str, Any]
) -> None:
    (harness.exports / "OP-24-057.xml").write_bytes(b"<MoneyData/>")
    harness.webhook()
    assert harness.drain() == "dead"
    record = harness.records.case(1234)
    assert record is not None
    assert "another case" in (record.reason or "")
    assert (harness.exports / "OP-24-057.xml").read_bytes() == b"<MoneyData/>"


def test_unsafe_case_code_stays_inside_the_target(
    harness: Harness, won_case: dict[str, Any]
) -> None:
    harness.raynet.add_case({**won_case, "code": "../../etc/passwd"})
    harness.webhook()
    assert harness.drain() == "exported"
    (name,) = harness.files()
    assert name == "~2E~2E~2F~2E~2E~2F~65~74~63~2F~70~61~73~73~77~64.xml"  # no / left
    record = harness.records.case(1234)
    assert record is not None
    assert Path(record.location or "").parent == harness.exports


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    import random  # noqa: PLC0415

    rng = random.Random(1)
    waits = [backoff(attempt, 5.0, 3600.0, rng) for attempt in range(1, 15)]
    assert all(2.5 <= wait <= 3600 for wait in waits)
    assert max(waits[8:]) > 300  # grows
    assert len({round(w, 3) for w in waits}) == len(waits)  # jittered


class BuggySource:
    """A case source with a bug: every read raises what no handler expects."""

    def __init__(self) -> None:
        self.calls = 0

    def business_case(self, case_id: int) -> Any:
        self.calls += 1
        raise RuntimeError("bug")


def test_unexpected_exception_is_retried_not_fatal(harness: Harness) -> None:
    source = BuggySource()
    exporter = replace(harness.worker.exporter, source=source)  # type: ignore[arg-type]
    worker = replace(harness.worker, exporter=exporter)
    harness.webhook()
    assert worker.run_once()
    assert harness.state_of() == "failed"
    assert source.calls == 1


def test_housekeeping_removes_what_a_killed_writer_left(harness: Harness) -> None:
    stale = harness.exports / ".OP-1.xml.abc123.tmp"
    stale.write_bytes(b"<MoneyData>")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    stop = threading.Event()
    running = threading.Thread(target=harness.service.run, args=(stop,))
    running.start()
    try:
        wait_until(lambda: not stale.exists(), 5, "the stale temporary file to go")
    finally:
        stop.set()
        running.join()
