"""Group commit: one writer thread takes queued admissions and commits them together.

Under many concurrent routers a transaction per decision spends most of its time in BEGIN/COMMIT (and,
with synchronous=full, in fsync). The writer drains whatever is queued (up to `max_batch`) into one
`admit_many` transaction; every caller blocks until the transaction holding its decision has committed,
so `admit` keeps its meaning: check and reservation are atomic; an answer means the decision is durable."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from modelwise.ledger import NewDecision

Make = Callable[[Mapping[str, float]], NewDecision]


class GroupCommitter:
    """`admit(day, request_id, make)` with the signature and semantics of `Ledger.admit`, batched.

    The ledger must offer `admit_many` (SqliteLedger does)."""

    def __init__(self, ledger: Any, max_batch: int = 256):
        self._ledger = ledger
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[str, str | None, Make, Future] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self.batches = 0
        self.admitted = 0
        self._thread = threading.Thread(target=self._run, name="modelwise-group-commit", daemon=True)
        self._thread.start()

    def admit(self, day: str, request_id: str | None, make: Make) -> tuple[dict[str, Any], bool]:
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._queue.put((day, request_id, make, fut))
        return fut.result()

    def close(self) -> None:
        """Commit what is queued, then stop the writer."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            try:
                results = self._ledger.admit_many([(d, r, m) for d, r, m, _ in batch])
            except BaseException as exc:  # noqa: BLE001 - the whole transaction failed: tell every caller
                for *_, fut in batch:
                    fut.set_exception(exc)
                continue
            self.batches += 1
            self.admitted += len(batch)
            for (*_, fut), res in zip(batch, results, strict=True):
                if isinstance(res, BaseException):
                    fut.set_exception(res)
                else:
                    fut.set_result(res)
