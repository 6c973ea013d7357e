"""Group commit: one writer thread runs queued jobs (admissions, or whole routings) and commits them in
one transaction.

Under many concurrent routers a transaction per decision spends most of its time in BEGIN/COMMIT (and,
with synchronous=full, in fsync), and handing each request to a pool thread costs more than routing it.
The writer drains whatever is queued (up to `max_batch`) into one `run_batch` transaction; each job is
rolled back alone if it fails and admits with `admit_in_batch`, so it sees the spend of the jobs before it.
Every caller's future resolves only after the COMMIT: an answer still means the decision is durable.

A write nobody is told of (a gateway's settlement: the client already has its answer, and the worst case
it reserved stays counted until it is settled) goes through `submit_unacknowledged`: a batch of only
such writes commits without waiting for the disk, so it does not hold the writer for an fsync while the
next call's admission waits; the next durable commit carries it to the disk with its own. Within a batch
such writes run first (none of them is the answer to a job of the same batch: a settlement is only
submitted once its admission has committed)."""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from modelwise.ledger import NewDecision

log = logging.getLogger("modelwise.ledger")

Make = Callable[[Mapping[str, float]], NewDecision]


class GroupCommitter:
    """`submit(fn, *args)` runs `fn` on the writer thread inside a batch transaction and returns a Future;
    `admit(day, request_id, make)` has the signature and meaning of `Ledger.admit`, batched.

    The ledger must offer `run_batch`, `admit_in_batch` and `in_batch` (SqliteLedger does)."""

    def __init__(self, ledger: Any, max_batch: int = 256, idle: Callable[[], None] | None = None):
        """`idle()`: called on the writer thread after a batch with an unacknowledged write that leaves
        nothing queued (outside any transaction; what it raises is logged, never a caller's)."""
        self._ledger = ledger
        self._idle = idle
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future, bool] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self.batches = 0
        self.jobs = 0
        self._thread = threading.Thread(target=self._run, name="modelwise-group-commit", daemon=True)
        self._thread.start()

    def on_writer_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        return self._put(functools.partial(fn, *args, **kwargs), True)

    def submit_unacknowledged(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """`submit` for a write whose result nobody is told of: its batch, when it holds only such writes,
        commits without waiting for the disk (`run_batch(durable=False)`)."""
        return self._put(functools.partial(fn, *args, **kwargs), False)

    def _put(self, job: Callable[[], Any], acknowledged: bool) -> Future:
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._queue.put((job, fut, acknowledged))
        return fut

    def admit(self, day: str, request_id: str | None, make: Make) -> tuple[dict[str, Any], bool]:
        if self.on_writer_thread():
            return self._ledger.admit_in_batch(day, request_id, make)
        return self.submit(self._ledger.admit_in_batch, day, request_id, make).result()

    def close(self) -> None:
        """Commit what is queued, then stop the writer."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        if not self.on_writer_thread():
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
            live = [(job, fut, ack) for job, fut, ack in batch if fut.set_running_or_notify_cancel()]
            if not live:
                continue
            durable = any(ack for _, _, ack in live)
            durable_only = all(ack for _, _, ack in live)
            if durable and not durable_only:
                # the settlements first: every admission of the batch then plans against the spend and
                # what outcomes taught after them, so the ranking is recomputed once, not once per call
                live.sort(key=lambda item: item[2])
            try:
                results = self._ledger.run_batch([job for job, _, _ in live], durable)
            except BaseException as exc:  # noqa: BLE001 - the whole transaction failed: tell every caller
                for _, fut, _ in live:
                    fut.set_exception(exc)
                continue
            self.batches += 1
            self.jobs += len(live)
            for (_, fut, _), res in zip(live, results, strict=True):
                if isinstance(res, BaseException):
                    fut.set_exception(res)
                else:
                    fut.set_result(res)
            # only after unacknowledged writes (what changes what the idle work reads): after an
            # admission, its caller is resuming, and the idle work would take the GIL from it
            if self._idle is not None and not durable_only and self._queue.empty():
                try:
                    self._idle()
                except Exception:  # noqa: BLE001 - an aid to the next caller, never a caller's failure
                    log.exception("the group commit's idle work failed")
