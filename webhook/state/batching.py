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


@dataclass(slots=True)
class _Waiting(Generic[Item, Result]):
    item: Item
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    error: BaseException | None = None


class GroupWriter(Generic[Item, Result]):
    """A thread that hands whatever items have queued up (at most ``most``) to ``write``,
    which returns one result per item in order; each caller gets its own result, or the
    write's exception."""

    def __init__(
        self,
        write: Callable[[Sequence[Item]], Sequence[Result]],
        name: str,
        most: int | None = None,
    ) -> None:
        self._write = write
        self._most = most
        self._queue: list[_Waiting[Item, Result]] = []
        self._wake = threading.Condition()
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
        with self._wake:
            self._queue.extend(waiting)
            self._wake.notify()
        for one in waiting:
            one.done.wait()
            if one.error is not None:
                raise one.error
        return [one.result for one in waiting]  # type: ignore[misc]  # set with done

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                cut = len(self._queue) if self._most is None else self._most
                batch, self._queue = self._queue[:cut], self._queue[cut:]
            try:
                results = self._write([waiting.item for waiting in batch])
            except Exception as error:  # noqa: BLE001 - re-raised in every waiting caller
                for waiting in batch:
                    waiting.error = error
            else:
                for waiting, result in zip(batch, results, strict=True):
                    waiting.result = result
            for waiting in batch:
                waiting.done.set()
