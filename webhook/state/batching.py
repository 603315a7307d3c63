"""Group writes: the callers that arrive while one write is in flight share the next one.

The receiver's events share an SQLite commit and its fsync (``sqlite/queue.py``); settled
SQS messages share a DeleteMessageBatch (``aws/sqs.py``). Nobody waits for a batch to
fill: a write starts as soon as the previous one ended, with whatever has gathered, so an
idle service answers as fast as one without batching and a busy one makes few writes.
"""

from __future__ import annotations

import os
import queue
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
    done: threading.Lock = field(default_factory=_held_lock)  # released once written
    result: Result | None = None
    error: BaseException | None = None


class GroupWriter(Generic[Item, Result]):
    """A thread that hands whatever items have queued up (at most ``most``) to ``write``,
    which returns one result per item in order; each caller gets its own result, or the
    write's exception.

    On the receiver's hot path, so the hand-over uses the cheapest primitives CPython has:
    a ``SimpleQueue`` to the writer and a held lock per caller, released when written.
    """

    def __init__(
        self,
        write: Callable[[Sequence[Item]], Sequence[Result]],
        name: str,
        most: int | None = None,
    ) -> None:
        self._write = write
        self._most = most
        self._queue: queue.SimpleQueue[_Waiting[Item, Result]] = queue.SimpleQueue()
        self._pid = os.getpid()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def serves_this_process(self) -> bool:
        return self._pid == os.getpid()  # a forked child needs a thread of its own

    def submit(self, item: Item) -> Result:
        (result,) = self.submit_all([item])
        return result

    def submit_all(self, items: Sequence[Item]) -> list[Result]:
        """Results of several items, each written in whichever batch takes it."""
        waiting = [_Waiting[Item, Result](item) for item in items]
        for one in waiting:
            self._queue.put(one)
        for one in waiting:
            one.done.acquire()
            if one.error is not None:
                raise one.error
        return [one.result for one in waiting]  # type: ignore[misc]  # set before release

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while self._most is None or len(batch) < self._most:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                results = self._write([waiting.item for waiting in batch])
            except Exception as error:  # noqa: BLE001 - re-raised in every waiting caller
                for waiting in batch:
                    waiting.error = error
            else:
                for waiting, result in zip(batch, results, strict=True):
                    waiting.result = result
            for waiting in batch:
                waiting.done.release()
