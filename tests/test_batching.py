"""GroupWriter: callers share writes, each gets its own result or the write's error."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from webhook.state.batching import GroupWriter


class Recorder:
    """A write that takes a moment, so that callers arriving meanwhile gather."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.gate = threading.Event()

    def write(self, items: Sequence[int]) -> list[int]:
        self.gate.wait(5)
        self.batches.append(list(items))
        if self.fail_on in items:
            raise OSError("disk full")
        return [item * 10 for item in items]


def test_concurrent_callers_share_writes_and_get_their_own_results() -> None:
    recorder = Recorder()
    writer: GroupWriter[int, int] = GroupWriter(recorder.write)
    started = threading.Semaphore(0)

    def submit(number: int) -> int:
        started.release()
        return writer.submit(number)

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(submit, number) for number in range(64)]
        for _ in range(16):  # every thread is in, one write held at the gate
            assert started.acquire(timeout=5)
        time.sleep(0.1)
        recorder.gate.set()
        results = [future.result(10) for future in futures]
    assert results == [number * 10 for number in range(64)]
    assert sorted(item for batch in recorder.batches for item in batch) == list(range(64))
    assert len(recorder.batches) < 64  # callers that waited were written together


def test_a_failed_write_fails_each_of_its_callers_and_the_writer_goes_on() -> None:
    recorder = Recorder(fail_on=3)
    recorder.gate.set()
    writer: GroupWriter[int, int] = GroupWriter(recorder.write)
    with pytest.raises(OSError, match="disk full"):
        writer.submit_all([1, 2, 3])
    assert writer.submit(4) == 40


def test_most_caps_a_batch() -> None:
    recorder = Recorder()
    writer: GroupWriter[int, int] = GroupWriter(recorder.write, most=10)
    with ThreadPoolExecutor(2) as pool:
        future = pool.submit(writer.submit_all, list(range(25)))
        recorder.gate.set()
        assert future.result(10) == [number * 10 for number in range(25)]
    assert max(len(batch) for batch in recorder.batches) <= 10


def test_a_caller_whose_first_batch_failed_still_writes_the_batch_it_heads() -> None:
    recorder = Recorder(fail_on=1)
    recorder.gate.set()
    writer: GroupWriter[int, int] = GroupWriter(recorder.write, most=1)
    with pytest.raises(OSError, match="disk full"):
        writer.submit_all([1, 2])
    results: list[int] = []
    later = threading.Thread(target=lambda: results.append(writer.submit(3)), daemon=True)
    later.start()
    later.join(5)  # a daemon: if it waits for ever, the test fails and does not hang
    assert results == [30]
    assert recorder.batches == [[1], [2], [3]]


def test_an_interrupted_write_reaches_its_callers_and_the_next_caller_still_writes() -> None:
    def write(items: Sequence[int]) -> list[int]:
        if 1 in items:
            raise SystemExit("stopping")
        return [item * 10 for item in items]

    writer: GroupWriter[int, int] = GroupWriter(write)
    with pytest.raises(SystemExit):
        writer.submit(1)
    assert writer.submit(2) == 20  # not left waiting for a write that never ends


def test_writing_starts_no_thread() -> None:
    """The caller writes: nothing is left running that a fork would lose."""
    recorder = Recorder()
    recorder.gate.set()
    before = threading.active_count()
    writer: GroupWriter[int, int] = GroupWriter(recorder.write)
    assert writer.submit_all([1, 2]) == [10, 20]
    assert threading.active_count() == before
