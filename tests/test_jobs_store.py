"""The state on a real SQLite file: events, leases, settlements, operator actions."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support import TestClock
from webhook.order import Reason
from webhook.state.model import (
    CaseEvent,
    CaseQuery,
    CaseState,
    DeliveredFile,
    FollowUp,
    Happening,
    Job,
    Recorded,
    Settlement,
    WorkPolicy,
)
from webhook.state.ports import State
from webhook.state.sqlite import open_state
from webhook.state.sqlite.database import StateUnavailable
from webhook.state.sqlite.queue import SqliteJobQueue
from webhook.state.sqlite.records import HISTORY_RETENTION

LEASE = 60.0


def event(event_id: str, case_id: int = 7, kind: str = "record.updated") -> CaseEvent:
    return CaseEvent(event_id, case_id, kind)


@pytest.fixture
def clock() -> TestClock:
    return TestClock(start=100.0)


@pytest.fixture
def state(tmp_path: Path, clock: TestClock) -> State:
    return open_state(tmp_path / "state.db", clock, WorkPolicy(lease_seconds=LEASE, max_attempts=3))


def claim(state: State, worker: str = "w") -> Job:
    job = state.queue.claim(worker)
    assert job is not None
    return job


def exported(name: str = "OP-1.xml", code: str = "OP-1") -> Settlement:
    return Settlement.exported(code, DeliveredFile(name, f"/x/{name}", "ab"))


def skipped(status: str = "B_ACTIVE") -> Settlement:
    return Settlement.skipped(
        "OP-1", Reason("not_won", "not won (status %(status)s)", {"status": status})
    )


def test_events_are_deduplicated_and_coalesced_into_one_job(state: State) -> None:
    assert state.queue.record_event(event("a")) is Recorded.ACCEPTED
    assert state.queue.record_event(event("a")) is Recorded.DUPLICATE
    assert state.queue.record_event(event("b")) is Recorded.ACCEPTED
    job = claim(state)
    assert (job.case_id, job.generation) == (7, 1)
    assert state.queue.claim("other") is None  # one job for the case, leased
    record = state.records.case(7)
    assert record is not None
    assert record.events == 2


def test_state_survives_reopening(tmp_path: Path, clock: TestClock) -> None:
    open_state(tmp_path / "s.db", clock).queue.record_event(event("a"))
    reopened = open_state(tmp_path / "s.db", clock)
    assert reopened.queue.record_event(event("a")) is Recorded.DUPLICATE
    assert claim(reopened).case_id == 7


def test_exported_case_takes_no_more_work(state: State, clock: TestClock) -> None:
    state.queue.record_event(event("a"))
    assert state.queue.settle(claim(state), exported()) is CaseState.EXPORTED
    assert state.queue.record_event(event("b")) is Recorded.ALREADY_EXPORTED
    clock.advance(100)
    assert state.queue.claim("w") is None
    assert [e.file_name for e in state.records.exports_of(7)] == ["OP-1.xml"]


def test_a_lease_runs_out_and_the_case_is_taken_again(state: State, clock: TestClock) -> None:
    state.queue.record_event(event("a"))
    first = claim(state, worker="dead-worker")
    clock.advance(LEASE - 1)
    assert state.queue.claim("w2") is None
    clock.advance(2)
    second = claim(state, worker="w2")
    assert second.case_id == first.case_id
    # the slow first worker's result no longer counts
    assert state.queue.settle(first, skipped()) is None
    assert state.queue.settle(second, exported()) is CaseState.EXPORTED


def test_a_claim_of_the_same_worker_name_after_the_lease_is_a_new_claim(
    state: State, clock: TestClock
) -> None:
    """A restarted worker keeps its name; its predecessor's late result must not count."""
    state.queue.record_event(event("a"))
    stale = claim(state, worker="host:1/0")
    clock.advance(LEASE + 1)
    fresh = claim(state, worker="host:1/0")
    assert state.queue.settle(stale, exported()) is None
    assert state.queue.settle(fresh, exported()) is CaseState.EXPORTED


def test_skipped_case_is_looked_at_again_on_a_new_event(state: State) -> None:
    state.queue.record_event(event("a"))
    assert state.queue.settle(claim(state), skipped()) is CaseState.SKIPPED
    record = state.records.case(7)
    assert record is not None
    assert (record.state, record.reason) == (
        CaseState.SKIPPED,
        "not won (status B_ACTIVE)",
    )
    assert state.queue.claim("w") is None
    state.queue.record_event(event("b"))
    assert claim(state).case_id == 7


def test_event_during_work_makes_a_skip_look_again(state: State) -> None:
    state.queue.record_event(event("a"))
    job = claim(state)
    state.queue.record_event(event("b"))  # the case changed after we fetched it
    assert state.queue.settle(job, skipped("not won")) is CaseState.PENDING
    assert claim(state).case_id == 7


def test_transient_failures_back_off_then_die(state: State, clock: TestClock) -> None:
    state.queue.record_event(event("a"))
    states = []
    for _ in range(3):
        job = claim(state)
        failure = Settlement.failed("RAYNET answered 503", "RaynetUnavailable", clock() + 10)
        states.append(state.queue.settle(job, failure))
        clock.advance(9)
        assert state.queue.claim("w") is None  # not before retry_at
        clock.advance(1)
    assert states == [CaseState.FAILED, CaseState.FAILED, CaseState.DEAD]
    record = state.records.case(7)
    assert record is not None
    assert (record.attempts, record.reason) == (3, "RAYNET answered 503")


def test_permanent_failure_is_dead_until_replayed_or_changed(
    state: State, clock: TestClock
) -> None:
    state.queue.record_event(event("a"))
    dead = Settlement.dead("totals do not match", "T", code="OP-7")
    assert state.queue.settle(claim(state), dead) is CaseState.DEAD
    record = state.records.case(7)
    assert record is not None
    assert (record.state, record.code) == (CaseState.DEAD, "OP-7")
    clock.advance(900)
    assert state.queue.claim("w") is None
    assert state.queue.replay() == 1
    assert claim(state).attempts == 0


def test_reexport_asks_for_the_next_generation(state: State) -> None:
    state.queue.record_event(event("a"))
    state.queue.settle(claim(state), exported())
    state.queue.request_reexport(7)
    job = claim(state)
    assert job.generation == 2
    state.queue.settle(job, exported("OP-1+2.xml"))
    assert [e.generation for e in state.records.exports_of(7)] == [1, 2]
    assert state.records.case(7).state == CaseState.EXPORTED  # type: ignore[union-attr]


def test_a_delivered_file_is_recorded_even_when_the_lease_lapsed(
    state: State, clock: TestClock
) -> None:
    """The file exists whoever holds the case now; its follow-ups wait for a valid claim."""
    state.queue.record_event(event("a"))
    late = claim(state)
    clock.advance(LEASE + 1)
    current = claim(state)
    followed = Settlement.exported(
        "OP-1", DeliveredFile("OP-1.xml", "/x/OP-1.xml", "ab"), (FollowUp.EMAIL,)
    )
    assert state.queue.settle(late, followed) is None
    assert [e.file_name for e in state.records.exports_of(7)] == ["OP-1.xml"]
    assert state.outbox.counts() == {}
    assert state.queue.settle(current, followed) is CaseState.EXPORTED
    assert state.outbox.counts() == {"pending": 1}


def test_sync_switch_and_flags(state: State) -> None:
    assert state.records.sync_enabled()
    state.records.set_sync_enabled(False)
    assert not state.records.sync_enabled()
    state.records.set_flag("x", "1")
    assert state.records.flag("x") == "1"
    state.records.set_flag("x", None)
    assert state.records.flag("x") is None


def test_one_turn_per_interval(state: State, clock: TestClock) -> None:
    assert state.records.take_turn("sweep", 600)
    assert not state.records.take_turn("sweep", 600)
    clock.advance(601)
    assert state.records.take_turn("sweep", 600)


def test_search_and_counts(state: State) -> None:
    for number in range(1, 4):
        state.queue.record_event(event(f"e{number}", case_id=number))
    job = claim(state)
    state.queue.settle(job, exported(code="OP_50%"))
    assert state.records.counts()[CaseState.PENDING] == 2
    assert [c.case_id for c in state.records.cases(CaseQuery(search="OP_50%"))] == [job.case_id]
    assert state.records.cases(CaseQuery(search="OP_5x")) == []  # _ and % matched literally
    assert [c.case_id for c in state.records.cases(CaseQuery(search="2"))] == [2]
    exported_cases = state.records.cases(CaseQuery(state=CaseState.EXPORTED))
    assert [c.case_id for c in exported_cases] == [job.case_id]


def test_due_count_and_oldest_due(state: State, clock: TestClock) -> None:
    assert (state.queue.due_count(), state.queue.oldest_due()) == (0, None)
    state.queue.record_event(event("a", case_id=1))
    clock.advance(30)
    state.queue.record_event(event("b", case_id=2))
    assert state.queue.due_count() == 2
    assert state.queue.oldest_due() == pytest.approx(30, abs=0.5)


def test_old_events_are_pruned(state: State, clock: TestClock) -> None:
    state.queue.record_event(event("old"))
    clock.advance(31 * 24 * 3600)
    state.queue.record_event(event("new"))
    state.queue.maintain()
    assert state.records.events_stored() == 1
    assert state.queue.record_event(event("new")) is Recorded.DUPLICATE


def test_history_older_than_its_retention_is_forgotten(state: State, clock: TestClock) -> None:
    def settled_at_now(event_id: str) -> None:
        state.queue.record_event(event(event_id))
        state.queue.settle(claim(state), skipped())

    settled_at_now("old")
    clock.advance(HISTORY_RETENTION + 3600)
    settled_at_now("new")
    settled = [e for e in state.records.history(7) if e.what is Happening.SKIPPED]
    assert len(settled) == 2
    state.records.maintain()
    kept = [e for e in state.records.history(7) if e.what is Happening.SKIPPED]
    assert [entry.at for entry in kept] == [settled[1].at]
    assert state.records.case(7) is not None  # the case itself is kept


def test_concurrent_claims_never_share_a_case(tmp_path: Path, clock: TestClock) -> None:
    path = tmp_path / "state.db"
    setup = open_state(path, clock)
    for number in range(1, 101):
        setup.queue.record_event(event(f"e{number}", case_id=number))
    claimed: list[int] = []
    lock = threading.Lock()

    def work(worker: str) -> None:
        state = open_state(path, clock)
        while (job := state.queue.claim(worker)) is not None:
            with lock:
                claimed.append(job.case_id)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == list(range(1, 101))


def test_one_batch_with_duplicates_repeats_and_an_exported_case(state: State) -> None:
    state.queue.record_event(event("old", case_id=8))
    state.queue.settle(claim(state), exported(code="OP-8"))
    assert isinstance(state.queue, SqliteJobQueue)
    results = state.queue.record_events(
        [
            (event("a", case_id=7), 10.0),
            (event("a", case_id=7), 10.5),  # the same delivery twice in one batch
            (event("b", case_id=7), 11.0),
            (event("c", case_id=8), 12.0),
            (event("old", case_id=8), 13.0),
        ]
    )
    assert results == [
        Recorded.ACCEPTED,
        Recorded.DUPLICATE,
        Recorded.ACCEPTED,
        Recorded.ALREADY_EXPORTED,
        Recorded.DUPLICATE,
    ]
    record = state.records.case(7)
    assert record is not None
    assert (record.events, record.next_try_at) == (2, 10.0)


def test_concurrent_receivers_share_commits(state: State) -> None:
    results: list[Recorded] = []

    def receive(prefix: str) -> None:
        for number in range(50):
            results.append(state.queue.record_event(event(f"{prefix}{number}", case_id=number)))

    threads = [threading.Thread(target=receive, args=(p,)) for p in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(Recorded.ACCEPTED) == 200
    assert state.records.events_stored() == 200
    assert state.records.counts()[CaseState.PENDING] == 50


def _open_together(path: str, barrier: Any) -> None:
    barrier.wait()
    open_state(Path(path), TestClock()).records.ping()


def test_processes_creating_the_state_file_at_once_all_succeed(tmp_path: Path) -> None:
    """gunicorn boots its workers together; a fresh file must not make one of them fail."""
    context = multiprocessing.get_context("fork")
    for trial in range(10):
        barrier = context.Barrier(6)
        path = str(tmp_path / f"state-{trial}.db")
        processes = [context.Process(target=_open_together, args=(path, barrier)) for _ in range(6)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=30)
        assert [process.exitcode for process in processes] == [0] * 6


def test_enqueue_without_a_webhook(state: State) -> None:
    state.queue.enqueue(9)
    record = state.records.case(9)
    assert record is not None
    assert (record.state, record.events) == (CaseState.PENDING, 0)
    state.queue.settle(
        claim(state), Settlement.skipped("OP-9", Reason("no_products", "the deal has no products"))
    )
    state.queue.enqueue(9)
    assert state.records.case(9).state == CaseState.PENDING  # type: ignore[union-attr]
    state.queue.settle(claim(state), exported(code="OP-9"))
    state.queue.enqueue(9)
    assert state.records.case(9).state == CaseState.EXPORTED  # type: ignore[union-attr]


def test_a_state_file_of_the_previous_version_is_brought_up_to_date(
    tmp_path: Path, clock: TestClock
) -> None:
    """Version 2 kept e-mails in a table of their own and no claimed revision."""
    path = tmp_path / "v2.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE cases (case_id INTEGER PRIMARY KEY, state TEXT NOT NULL, code TEXT,
            revision INTEGER NOT NULL DEFAULT 1, attempts INTEGER NOT NULL DEFAULT 0,
            next_try_at REAL NOT NULL, lease_owner TEXT, lease_until REAL NOT NULL DEFAULT 0,
            exports_wanted INTEGER NOT NULL DEFAULT 1, exports_done INTEGER NOT NULL DEFAULT 0,
            reason TEXT, reason_code TEXT, file_name TEXT, location TEXT, sha256 TEXT,
            exported_at REAL, events INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
            updated_at REAL NOT NULL);
        CREATE TABLE exports (case_id INTEGER NOT NULL, generation INTEGER NOT NULL,
            file_name TEXT NOT NULL, location TEXT NOT NULL, sha256 TEXT NOT NULL,
            exported_at REAL NOT NULL, PRIMARY KEY (case_id, generation));
        CREATE TABLE notifications (case_id INTEGER NOT NULL, generation INTEGER NOT NULL,
            state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_try_at REAL NOT NULL,
            lease_owner TEXT, lease_until REAL NOT NULL DEFAULT 0, error TEXT, sent_at REAL,
            PRIMARY KEY (case_id, generation));
        INSERT INTO cases (case_id, state, code, next_try_at, exports_done, file_name,
            location, sha256, created_at, updated_at)
            VALUES (7, 'exported', 'OP-7', 1, 1, 'OP-7.xml', '/x/OP-7.xml', 'ab', 1, 1),
                   (8, 'pending', NULL, 1, 0, NULL, NULL, NULL, 1, 1);
        INSERT INTO exports VALUES (7, 1, 'OP-7.xml', '/x/OP-7.xml', 'ab', 1);
        INSERT INTO notifications (case_id, generation, state, next_try_at)
            VALUES (7, 1, 'pending', 1);
        PRAGMA user_version = 2;
        """
    )
    old.close()
    state = open_state(path, clock)
    item = state.outbox.claim("w", [FollowUp.EMAIL])
    assert item is not None
    assert (item.kind, item.case_id, item.file_name) == (FollowUp.EMAIL, 7, "OP-7.xml")
    job = claim(state)
    assert state.queue.settle(job, skipped()) is CaseState.SKIPPED
    assert open_state(path, clock).records.counts()[CaseState.EXPORTED] == 1  # opens again


def test_a_deleted_state_file_is_not_made_anew_unasked(tmp_path: Path, clock: TestClock) -> None:
    """A process started after the file was deleted would answer 202 into an empty file."""
    path = tmp_path / "state.db"
    open_state(path, clock).queue.record_event(event("a"))
    path.unlink()
    with pytest.raises(StateUnavailable, match=r"missing, but the bridge kept its state there"):
        open_state(path, clock)
    assert not path.exists()
    (tmp_path / "state.db.lock").unlink()  # what the message says to do to start afresh
    assert open_state(path, clock).records.counts()[CaseState.PENDING] == 0


def _write_cases(path: str, count: int) -> None:
    state = open_state(Path(path), TestClock())
    for number in range(1, count + 1):
        state.queue.enqueue(number)


def test_a_process_that_opens_the_file_often_still_reads_every_write(tmp_path: Path) -> None:
    """Checking the file's header must not close a descriptor of it: that drops SQLite's
    POSIX locks in this process, and its readers were left on a stale snapshot while
    another process went on writing (an end-to-end test saw 78 of 200 cases, for good; here
    the old check made SQLite report a disk I/O error). The writer is spawned, as ``serve``
    starts its processes: a forked one would inherit this process's SQLite state."""
    path = tmp_path / "state.db"
    open_state(path, TestClock())
    writer = multiprocessing.get_context("spawn").Process(
        target=_write_cases, args=(str(path), 300)
    )
    writer.start()
    seen = [open_state(path, TestClock()).records.counts()[CaseState.PENDING]]
    while writer.is_alive():
        seen.append(open_state(path, TestClock()).records.counts()[CaseState.PENDING])
    writer.join()
    assert writer.exitcode == 0
    assert open_state(path, TestClock()).records.counts()[CaseState.PENDING] == 300
    assert seen == sorted(seen)


def test_a_process_starting_while_the_file_is_held_starts_and_waits_its_turn(
    tmp_path: Path, clock: TestClock
) -> None:
    """A gunicorn worker restarted while a backup holds the file must not die of it (the
    whole service would stop): it starts, refuses writes in time, and takes them later."""
    path = tmp_path / "state.db"
    open_state(path, clock)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    started = open_state(path, clock, write_wait=0.2)
    with pytest.raises(StateUnavailable, match="busy"):
        started.queue.record_event(event("e1"))
    holder.execute("COMMIT")
    holder.close()
    assert started.queue.record_event(event("e1")) is Recorded.ACCEPTED
