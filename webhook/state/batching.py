"""Group writes: the callers that arrive while one write is in flight share the next one.

The receiver's events share an SQLite commit and its fsync (``sqlite/queue.py``); settled
SQS messages share a DeleteMessageBatch (``aws/sqs.py``). Nobody waits for a batch to
fill: a write starts as soon as the previous one ended, with whatever has gathered, so an
idle service answers as fast as one without batching and a busy one makes few writes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(slots=True)
class _Waiting(Generic[Item, Result]):
    item: Item
    done: threading.Lock = field(default_factory=_held_lock)  # released once written, or
    lead: bool = False  # ... to make this caller write the next batch
    result: Result | None = None
    error: BaseException | None = None


class GroupWriter(Generic[Item, Result]):
    """Hands whatever items have queued up (at most ``most``) to ``write``, which returns
    one result per item in order; each caller gets its own result, or the write's exception.

    There is no writer thread: the caller that finds no write in flight writes the batch
    itself, and when it is done it wakes the first caller still waiting to write the next.
    On the receiver's hot path that saves a thread hand-over per batch (against a writer
    thread, a median 1.10 x the webhooks a second: README, Performance), and there is no
    thread for a fork to lose.
    """

    def __init__(
        self, write: Callable[[Sequence[Item]], Sequence[Result]], most: int | None = None
    ) -> None:
        self._write = write
        self._most = most
        self._guard = threading.Lock()  # over _pending and _writing
        self._pending: list[_Waiting[Item, Result]] = []
        self._writing = False
        self._pid = os.getpid()

    def serves_this_process(self) -> bool:
        return self._pid == os.getpid()  # a fork copies the guard and the queue as they were

    def submit(self, item: Item) -> Result:
        (result,) = self.submit_all([item])
        return result

    def submit_all(self, items: Sequence[Item]) -> list[Result]:
        """Results of several items, each written in whichever batch takes it."""
        waiting = [_Waiting[Item, Result](item) for item in items]
        with self._guard:
            self._pending.extend(waiting)
            first = not self._writing
            self._writing = True
        if first:
            self._write_next()
        for one in waiting:  # every item first: a later one may be woken to write a batch
            one.done.acquire()
            while one.lead:  # woken to write the batch it heads
                one.lead = False
                self._write_next()
                one.done.acquire()
        for one in waiting:
            if one.error is not None:
                raise one.error
        return [one.result for one in waiting]  # type: ignore[misc]  # set before release

    def _write_next(self) -> None:
        """Write the batch at the head of the queue; then wake the caller heading the rest."""
        with self._guard:
            batch = self._pending[: self._most]
            del self._pending[: len(batch)]
        try:
            results = self._write([waiting.item for waiting in batch])
            for waiting, result in zip(batch, results, strict=True):
                waiting.result = result
        except BaseException as error:  # re-raised in every caller of the batch
            for waiting in batch:
                waiting.error = error
            if not isinstance(error, Exception):
                raise
        finally:
            for waiting in batch:
                waiting.done.release()
            with self._guard:
                successor = self._pending[0] if self._pending else None
                self._writing = successor is not None
                if successor is not None:
                    successor.lead = True
            if successor is not None:
                successor.done.release()
