"""The state store on a real SQLite file: events, leases, outcomes, operator actions."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from webhook.jobs.store import Job, Recorded, StateStore
from webhook.raynet.schemas import WebhookEvent

LEASE = 60.0


def event(event_id: str, case_id: int = 7, kind: str = "record.updated") -> WebhookEvent:
    return WebhookEvent(event_id, kind, "BusinessCase", case_id)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state.db")


def claim(store: StateStore, now: float = 100.0, owner: str = "w") -> Job:
    job = store.claim(owner, LEASE, now)
    assert job is not None
    return job


def test_events_are_deduplicated_and_coalesced_into_one_job(store: StateStore) -> None:
    assert store.record_event(event("a"), now=1) is Recorded.ACCEPTED
    assert store.record_event(event("a"), now=2) is Recorded.DUPLICATE
    assert store.record_event(event("b"), now=3) is Recorded.ACCEPTED
    job = claim(store)
    assert (job.case_id, job.generation) == (7, 1)
    assert store.claim("other", LEASE, 100.0) is None  # one job for the case, leased
    record = store.case(7)
    assert record is not None
    assert record.events == 2


def test_state_survives_reopening(tmp_path: Path) -> None:
    StateStore(tmp_path / "s.db").record_event(event("a"), now=1)
    reopened = StateStore(tmp_path / "s.db")
    assert reopened.record_event(event("a"), now=2) is Recorded.DUPLICATE
    assert claim(reopened).case_id == 7


def test_exported_case_takes_no_more_work(store: StateStore) -> None:
    store.record_event(event("a"), now=1)
    job = claim(store)
    assert store.exported(
        job, code="OP-1", file_name="OP-1.xml", location="/x/OP-1.xml", sha256="ab", now=101
    )
    assert store.record_event(event("b"), now=102) is Recorded.ALREADY_EXPORTED
    assert store.claim("w", LEASE, 200.0) is None
    assert [e.file_name for e in store.exports_of(7)] == ["OP-1.xml"]


def test_a_lease_runs_out_and_the_case_is_taken_again(store: StateStore) -> None:
    store.record_event(event("a"), now=1)
    first = claim(store, now=100, owner="dead-worker")
    assert store.claim("w2", LEASE, 100 + LEASE - 1) is None
    second = claim(store, now=100 + LEASE + 1, owner="w2")
    assert second.case_id == first.case_id
    # the slow first worker's result no longer counts
    assert not store.skipped(first, code="OP-1", reason="x", reason_code="x", now=170)
    assert store.exported(second, code="OP-1", file_name="f", location="l", sha256="s", now=171)


def test_skipped_case_is_looked_at_again_on_a_new_event(store: StateStore) -> None:
    store.record_event(event("a"), now=1)
    store.skipped(
        claim(store),
        code="OP-1",
        reason="not won (status B_ACTIVE)",
        reason_code="not_won",
        now=101,
    )
    record = store.case(7)
    assert record is not None
    assert (record.state, record.reason) == ("skipped", "not won (status B_ACTIVE)")
    assert store.claim("w", LEASE, 200.0) is None
    store.record_event(event("b"), now=201)
    assert claim(store, now=202).case_id == 7


def test_event_during_work_makes_a_skip_look_again(store: StateStore) -> None:
    store.record_event(event("a"), now=1)
    job = claim(store)
    store.record_event(event("b"), now=101)  # the case changed after we fetched it
    store.skipped(job, code="OP-1", reason="not won", reason_code="not_won", now=102)
    assert store.case(7).state == "pending"  # type: ignore[union-attr]
    assert claim(store, now=103).revision == job.revision + 1


def test_transient_failures_back_off_then_die(store: StateStore) -> None:
    store.record_event(event("a"), now=1)
    states = []
    now = 100.0
    for _ in range(3):
        job = claim(store, now=now)
        states.append(
            store.failed_transiently(
                job,
                reason="RAYNET answered 503",
                reason_code="RaynetUnavailable",
                retry_at=now + 10,
                max_attempts=3,
                now=now,
            )
        )
        assert store.claim("w", LEASE, now + 9) is None  # not before retry_at
        now += 10
    assert states == ["failed", "failed", "dead"]
    record = store.case(7)
    assert record is not None
    assert (record.attempts, record.reason) == (3, "RAYNET answered 503")


def test_permanent_failure_is_dead_until_replayed_or_changed(store: StateStore) -> None:
    store.record_event(event("a"), now=1)
    store.failed_permanently(claim(store), reason="totals do not match", reason_code="T", now=101)
    assert store.case(7).state == "dead"  # type: ignore[union-attr]
    assert store.claim("w", LEASE, 1000.0) is None
    assert store.replay(now=1001) == 1
    assert claim(store, now=1002).attempts == 0


def test_reexport_asks_for_the_next_generation(store: StateStore) -> None:
    store.record_event(event("a"), now=1)
    store.exported(
        claim(store), code="OP-1", file_name="OP-1.xml", location="l1", sha256="s1", now=101
    )
    store.request_reexport(7, now=102)
    job = claim(store, now=103)
    assert job.generation == 2
    store.exported(job, code="OP-1", file_name="OP-1-2.xml", location="l2", sha256="s2", now=104)
    assert [e.generation for e in store.exports_of(7)] == [1, 2]
    assert store.case(7).state == "exported"  # type: ignore[union-attr]


def test_sync_switch_and_flags(store: StateStore) -> None:
    assert store.sync_enabled()
    store.set_sync_enabled(False)
    assert not store.sync_enabled()
    store.set_flag("x", "1")
    assert store.flag("x") == "1"
    store.set_flag("x", None)
    assert store.flag("x") is None


def test_search_and_counts(store: StateStore) -> None:
    for number in range(1, 4):
        store.record_event(event(f"e{number}", case_id=number), now=number)
    job = claim(store, now=10)
    store.exported(job, code="OP_50%", file_name="f", location="l", sha256="s", now=11)
    assert store.counts()["pending"] == 2
    assert [c.case_id for c in store.cases(search="OP_50%")] == [job.case_id]
    assert store.cases(search="OP_5x") == []  # _ and % are matched literally
    assert [c.case_id for c in store.cases(search="2")] == [2]


def test_old_events_are_pruned(store: StateStore) -> None:
    store.record_event(event("old"), now=1)
    store.record_event(event("new"), now=1000)
    assert store.prune_events(older_than=500) == 1
    assert store.record_event(event("new"), now=1001) is Recorded.DUPLICATE


def test_concurrent_claims_never_share_a_case(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    setup = StateStore(path)
    for number in range(1, 101):
        setup.record_event(event(f"e{number}", case_id=number), now=1)
    claimed: list[int] = []
    lock = threading.Lock()

    def work(owner: str) -> None:
        store = StateStore(path)
        while (job := store.claim(owner, LEASE, 100.0)) is not None:
            with lock:
                claimed.append(job.case_id)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == list(range(1, 101))


def test_one_batch_with_duplicates_repeats_and_an_exported_case(store: StateStore) -> None:
    store.record_event(event("old", case_id=8), now=1)
    store.exported(claim(store, now=2), code="OP-8", file_name="f", location="l", sha256="s", now=3)
    results = store.record_events(
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
    record = store.case(7)
    assert record is not None
    assert (record.events, record.revision, record.next_try_at) == (2, 2, 10.0)


def test_concurrent_receivers_share_commits(store: StateStore) -> None:
    results: list[Recorded] = []

    def receive(prefix: str) -> None:
        for number in range(50):
            results.append(store.record_event(event(f"{prefix}{number}", case_id=number)))

    threads = [threading.Thread(target=receive, args=(p,)) for p in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(Recorded.ACCEPTED) == 200
    assert store.events_stored() == 200
    assert store.counts()["pending"] == 50


def _open_together(path: str, barrier: Any) -> None:
    barrier.wait()
    StateStore(Path(path)).ping()


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


def test_enqueue_without_a_webhook(store: StateStore) -> None:
    store.enqueue(9, now=5)
    record = store.case(9)
    assert record is not None
    assert (record.state, record.events, record.next_try_at) == ("pending", 0, 5)
    store.skipped(
        claim(store, now=6), code="OP-9", reason="no products", reason_code="no_products", now=7
    )
    store.enqueue(9, now=8)
    assert store.case(9).state == "pending"  # type: ignore[union-attr]
    store.exported(
        claim(store, now=9), code="OP-9", file_name="f", location="l", sha256="s", now=10
    )
    store.enqueue(9, now=11)
    assert store.case(9).state == "exported"  # type: ignore[union-attr]
