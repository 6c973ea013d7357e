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
submitted once its admission has committed).

Bound to an event loop (`bind`, the server's), the batches run on the loop instead: on one thread the
jobs of a call cost no hand-over of the GIL to the writer and back, which at 16 connections cost the
server more than the jobs themselves. The loop runs a batch's jobs (`start_batch`: a BEGIN that waits
for no lock, the jobs' statements, no disk wait) and hands only its COMMIT, which waits on the disk, to
a commit thread; while it commits, the loop serves the other calls and queues their jobs for the next
batch, which starts as soon as the COMMIT lets go of the write lock, while the commit thread syncs the
WAL for the one before (`finish_batch`'s `released`). A batch the loop cannot start at once (another
process holds the write lock; the file was replaced; a job failed after writing) runs whole on the
commit thread with `run_batch`, as in the writer thread's way. Either way, a caller's future resolves
only once its batch is committed and, as the ledger's `synchronous` says, on the disk; the batches'
callers are answered in the order the batches ran.

Where the kernel syncs a file for the loop (ledger.aio: Linux's native AIO signals the end of an
fdatasync on an eventfd the loop watches), the commit thread has no part in a batch the loop started:
the loop COMMITs it (the WAL's frames written to the page cache, not synced: `commit_batch`), submits
the WAL's sync and serves the other calls; jobs queued meanwhile wait for the next batch, which starts
once the sync has ended and the batch's callers are answered (one sync at a time, each covering a whole
batch). A thread that syncs must take the GIL back after each step, and on a busy server each of those
waits lasted about a millisecond (at 16 gateway connections: 1.3 ms from the hand-over to the commit
thread's first step, 0.8 ms more to commit, 0.6 ms to sync). Measured in one run at 16 connections,
with the idle work on the loop too (`_delivered`), the process served 1,881 calls a second instead of
1,506, at 495 us of CPU a call instead of 587. Where the kernel does not (not Linux, a kernel or a
seccomp filter that refuses it), the commit thread commits and syncs as above.

A server with nothing else in flight (`bind`'s `alone`, asked as a batch starts with no other batch
committing or queued) has its loop commit and sync the batch itself: the loop would only wait for the
disk, and the hand-overs to the commit thread or the kernel and back add to a lone call's latency and
save it nothing. While anything else is in flight the loop keeps serving it."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from modelwise.core.errors import LedgerError
from modelwise.ledger import NewDecision

log = logging.getLogger("modelwise.ledger")

Make = Callable[[Mapping[str, float]], NewDecision]
_COMMIT = object()  # handed to the commit thread with a started batch: commit it
# a queued job: the job, its caller's future (concurrent.futures' or a loop's), whether acknowledged
Item = tuple[Callable[[], Any], Any, bool]


class GroupCommitter:
    """`submit(fn, *args)` runs `fn` inside a batch transaction (on the writer thread, or on the bound
    loop) and returns a Future (on the bound loop's own thread, one of the loop's: `_put`);
    `admit(day, request_id, make)` has the signature and meaning of `Ledger.admit`, batched.

    The ledger must offer `run_batch`, `admit_in_batch` and `in_batch` (SqliteLedger does)."""

    def __init__(self, ledger: Any, max_batch: int = 256, idle: Callable[[], None] | None = None):
        """`idle()`: called on the writer thread (bound to a loop: on the loop) after a batch with an
        unacknowledged write that leaves nothing queued (outside any transaction; what it raises is
        logged, never a caller's)."""
        self._ledger = ledger
        self._idle = idle
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self.batches = 0
        self.jobs = 0
        # bound to an event loop (`bind`): its queue; whether a batch is started and holds the write
        # lock (or is about to start); the batches committed or committing whose callers wait, oldest
        # first; the commit thread and what it is handed (a batch, or None: stop)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._pending: collections.deque[Item] = collections.deque()
        self._busy = False
        self._committing: collections.deque[tuple[list[Item], bool]] = collections.deque()
        self._commits: queue.SimpleQueue[Any] | None = None
        self._committer: threading.Thread | None = None
        self._alone: Callable[[], bool] | None = None
        # the kernel's async fdatasync (ledger.aio) the loop waits on, when it offers one (else the commit
        # thread commits and syncs); the batch committed on the loop that waits for it: (results, WAL fd)
        self._disk: Any = None
        self._on_disk: tuple[list[Any], int] | None = None
        self._thread = threading.Thread(target=self._run, name="modelwise-group-commit", daemon=True)
        self._thread.start()

    def _on_loop(self) -> bool:
        return self._loop is not None and threading.current_thread() is self._loop_thread

    def wait(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` in a batch, waited for: at once inside a job; on the bound loop's thread (which
        must not wait on a batch it runs itself) in a transaction of its own; else through the queue."""
        if self._ledger.in_batch():
            return fn(*args)
        if self._on_loop():
            result = self._ledger.run_batch([functools.partial(fn, *args)])[0]
            if isinstance(result, BaseException):
                raise result
            return result
        return self.submit(fn, *args).result()

    def bind(self, loop: asyncio.AbstractEventLoop, alone: Callable[[], bool] | None = None,
             thread_syncs: bool = False) -> bool:
        """From now on run the batches on `loop` (call it from that loop's thread). Only a ledger that
        can start a batch without waiting (`starts_batches`: SQLite's) is bound; returns whether it was.
        `alone()`: whether the loop has nothing in flight but the batch about to commit (the server's
        count of requests); then the loop commits it itself instead of handing it over.
        Where the kernel syncs a file for the loop (ledger.aio) the loop commits every batch itself and
        waits for the WAL's sync as for a socket; `thread_syncs`: hand the COMMIT and the sync to the
        commit thread even so (what happens where the kernel does not)."""
        if not getattr(self._ledger, "starts_batches", False) or self._closed or self._loop is not None:
            return False
        self._commits = queue.SimpleQueue()
        self._committer = threading.Thread(target=self._commit_loop, args=(loop, self._commits),
                                           name="modelwise-commit", daemon=True)
        self._committer.start()
        self._loop_thread = threading.current_thread()
        self._loop = loop
        self._alone = alone
        if not thread_syncs and hasattr(self._ledger, "commit_batch"):
            from modelwise.ledger.aio import open_syncer

            self._disk = open_syncer()
            if self._disk is not None:
                loop.add_reader(self._disk.fileno(), self._synced)
        return True

    async def unbind(self) -> None:
        """Commit what the loop has queued, then go back to the writer thread (the loop is stopping)."""
        if self._loop is None:
            return
        while self._busy or self._committing:  # what is queued and what commits, committed and answered
            await asyncio.sleep(0.002)
        self._stop_disk()
        self._loop = None
        self._stop_committer()
        while self._pending:  # (none: a drain empties the queue; kept for a submission racing this)
            self._queue.put(self._pending.popleft())

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        return self._put(functools.partial(fn, *args, **kwargs), True)

    def submit_unacknowledged(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """`submit` for a write whose result nobody is told of: its batch, when it holds only such writes,
        commits without waiting for the disk (`run_batch(durable=False)`)."""
        return self._put(functools.partial(fn, *args, **kwargs), False)

    def _put(self, job: Callable[[], Any], acknowledged: bool) -> Any:
        """The job queued; its future: on the bound loop's thread one of the loop's (no thread to wake
        when it resolves), else a concurrent.futures.Future. Both take `add_done_callback`, and
        `asyncio.wrap_future` takes both."""
        loop = self._loop
        if loop is not None and self._on_loop():
            if self._closed:
                raise RuntimeError("the group committer is closed")
            here = loop.create_future()
            self._enqueue((job, here, acknowledged))
            return here
        fut: Future = Future()
        item = (job, fut, acknowledged)
        with self._lock:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            loop = self._loop
            if loop is None:
                self._queue.put(item)
                return fut
        loop.call_soon_threadsafe(self._enqueue, item)
        return fut

    def admit(self, day: str, request_id: str | None, make: Make) -> tuple[dict[str, Any], bool]:
        return self.wait(self._ledger.admit_in_batch, day, request_id, make)

    def _enqueue(self, item: Item) -> None:
        """On the bound loop: queue a job for the next batch, and start draining if nothing does."""
        if self._closed:  # closed since it was sent: the writer has stopped
            _resolve(item[1], RuntimeError("the group committer is closed"))
            return
        if self._loop is None:  # unbound since it was sent
            self._queue.put(item)
            return
        self._pending.append(item)
        if not self._busy:  # a batch from the next turn of the loop, with what this turn queues
            self._busy = True
            self._loop.call_soon(self._next)

    def _next(self) -> None:
        """On the bound loop: start the next batch of what is queued (its jobs now, on this thread) and
        hand it to the commit thread, which calls this again once its COMMIT lets go of the write lock
        (the disk may still be syncing it) and `_committed` with its results once they are durable.
        Where the kernel syncs for the loop, commit it here instead and submit its sync; what is queued
        meanwhile waits for the next batch, which `_synced` starts once the sync has ended. Nothing
        queued: idle."""
        pending, ledger = self._pending, self._ledger
        if self._on_disk is not None:  # a batch waits for the disk: what is queued goes in the next one
            return
        while pending and self._commits is not None:
            batch = [pending.popleft() for _ in range(min(len(pending), self._max_batch))]
            live, durable, durable_only = _live(batch)
            if not live:
                continue
            jobs = [job for job, _, _ in live]
            try:
                started = ledger.start_batch(jobs, durable)
            except Exception as exc:  # noqa: BLE001 - the whole transaction failed: tell every caller
                for _, fut, _ in live:
                    _resolve(fut, exc)
                continue
            alone = started is not None and not pending and not self._committing and (
                self._alone is not None and self._alone())
            self._committing.append((live, durable_only))
            if alone:
                if self._commit_here(started):
                    return
                started = None  # rolled back there (the file was replaced): run again, whole, as below
            elif started is not None and self._disk is not None:
                done = self._commit_on_loop(started)
                if done is None:  # its sync is under way: `_synced` goes on
                    return
                if done:
                    continue
                started = None  # rolled back (the file was replaced): run again, whole, as below
            # None: the loop could not start it: the writer's way, whole, on the commit thread
            self._commits.put((ledger.run_batch, jobs, durable) if started is None else (_COMMIT, started))
            return
        self._busy = False

    def _commit_here(self, started: Any) -> bool:
        """On the bound loop, nothing else in flight: commit (and sync) the batch just started and answer
        its callers, as the commit thread would. False, with the batch rolled back, when the file was
        replaced since it started: it then runs whole on the commit thread."""
        try:
            results = self._ledger.finish_batch(started, rerun=False)
            failure = None
        except Exception as exc:  # noqa: BLE001 - handed to the batch's callers
            results, failure = None, exc
        if failure is None and results is None:
            return False
        self._busy = False  # (so that the idle work may follow it)
        self._committed(results, failure, False)
        return True

    def _commit_on_loop(self, started: Any) -> bool | None:
        """On the bound loop, where the kernel syncs for it: commit the batch just started and submit the
        WAL's sync, its callers answered once that has ended (`_synced`). None: the sync is under way;
        True: answered already (nothing to sync, or the commit failed); False: rolled back, the file
        having been replaced since the batch started (it then runs whole on the commit thread)."""
        try:
            committed = self._ledger.commit_batch(started)
        except Exception as exc:  # noqa: BLE001 - handed to the batch's callers
            self._committed(None, exc, False)
            return True
        if committed is None:
            return False
        results, wal = committed
        if wal is None:
            if not self._pending:
                self._busy = False  # (so that the idle work may follow it)
            self._committed(results, None, False)
            return True
        try:
            self._disk.submit(wal)
        except OSError as exc:  # the kernel takes no async fdatasync of this file: sync here, and
            # from now on on the commit thread
            log.warning("the kernel would not sync the ledger's WAL for the event loop (%s); "
                        "the commit thread syncs it from now on", exc)
            self._stop_disk()
            try:
                os.fdatasync(wal)
            except OSError as failed:
                self._committed(None, _unsynced(self._ledger, failed.errno), False)
                return True
            self._committed(results, None, False)
            return True
        self._on_disk = (results, wal)
        return None

    def _synced(self) -> None:
        """On the bound loop, the kernel's sync readable: answer the batch that waited for it (or tell
        its callers it failed), then start the next."""
        disk = self._disk
        res = None if disk is None else disk.reap()
        if res is None or self._on_disk is None:
            return
        results, _ = self._on_disk
        self._on_disk = None
        if not self._pending:
            self._busy = False  # (so that the idle work may follow it)
        if res < 0:
            self._committed(None, _unsynced(self._ledger, -res), False)
        else:
            self._committed(results, None, False)
        if self._pending and self._busy:
            self._next()

    def _stop_disk(self) -> None:
        """Stop waiting on the kernel's syncs (a batch still waiting for one is synced here and answered)."""
        disk, self._disk = self._disk, None
        if disk is None:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed() and (self._on_loop() or not loop.is_running()):
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_reader(disk.fileno())
        disk.close()  # (after the kernel has finished a sync in flight)
        waiting, self._on_disk = self._on_disk, None
        if waiting is not None:
            results, wal = waiting
            try:
                os.fdatasync(wal)
                failure = None
            except OSError as exc:
                failure = _unsynced(self._ledger, exc.errno)
            self._committed(results if failure is None else None, failure, False)

    def _committed(self, results: Any, failure: BaseException | None, then_next: bool) -> None:
        """On the bound loop: the oldest batch the commit thread committed (or failed to), its callers
        answered; then the next batch if the commit thread did not already let it start."""
        if self._committing:
            live, durable_only = self._committing.popleft()
            if failure is not None:
                for _, fut, _ in live:
                    _resolve(fut, failure)
            else:
                self._delivered(live, results, durable_only)
        if then_next:
            self._next()

    def _commit_loop(self, loop: asyncio.AbstractEventLoop, commits: queue.SimpleQueue[Any]) -> None:
        """The commit thread: each batch handed to it committed (or run whole), its results sent back."""
        while True:
            work = commits.get()
            if work is None:
                return
            fn, *args = work
            released = False

            def release() -> None:  # the COMMIT let go of the lock: the next batch may start
                nonlocal released
                released = True
                loop.call_soon_threadsafe(self._next)

            try:
                if fn is _COMMIT:
                    results = self._ledger.finish_batch(args[0], release)
                else:
                    results = fn(*args)
                failure = None
            except BaseException as exc:  # noqa: BLE001 - handed to the batch's callers
                results, failure = None, exc
            try:
                loop.call_soon_threadsafe(self._committed, results, failure, not released)
            except RuntimeError:  # the loop is closed: nobody is left to answer
                return

    def _stop_committer(self) -> None:
        commits, committer = self._commits, self._committer
        self._commits = self._committer = None
        if commits is not None:
            commits.put(None)
        if committer is not None and committer is not threading.current_thread():
            committer.join()

    def close(self) -> None:
        """Commit what is queued, then stop the writer. (Still bound to a loop that no longer runs, what
        it had queued is committed by the writer.)"""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_disk()
            self._loop = None
            while self._pending:
                self._queue.put(self._pending.popleft())
            self._queue.put(None)
        self._stop_committer()
        if threading.current_thread() is not self._thread:
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
            live, durable, durable_only = _live(batch)
            if not live:
                continue
            try:
                results = self._ledger.run_batch([job for job, _, _ in live], durable)
            except BaseException as exc:  # noqa: BLE001 - the whole transaction failed: tell every caller
                for _, fut, _ in live:
                    _resolve(fut, exc)
                continue
            self._delivered(live, results, durable_only)

    def _delivered(self, live: list[Item], results: list[Any],
                   durable_only: bool) -> None:
        """Each caller's result of a committed batch; then, after unacknowledged writes (what changes
        what the idle work reads) that leave nothing queued, the idle work (after an admission, its
        caller is resuming, and the idle work would take the GIL from it). Bound to a loop, the idle
        work runs on the loop, after what the answers set going: on the commit thread it waited for the
        GIL and made the loop wait for it (at 16 gateway connections it ran after ~1 batch in 8, and the
        process spent 571 us of CPU a call with it there, 495 with it on the loop)."""
        self.batches += 1
        self.jobs += len(live)
        for (_, fut, _), res in zip(live, results, strict=True):
            _resolve(fut, res)
        if self._idle is None or durable_only:
            return
        if self._loop is not None:
            if not (self._pending or self._committing or self._busy) and self._on_loop():
                self._loop.call_soon(self._idle_on_loop)
        elif self._queue.empty():
            self._run_idle()

    def _idle_on_loop(self) -> None:
        if self._loop is not None and not (self._pending or self._committing or self._busy):
            self._run_idle()

    def _run_idle(self) -> None:
        assert self._idle is not None
        try:
            self._idle()
        except Exception:  # noqa: BLE001 - an aid to the next caller, never a caller's failure
            log.exception("the group commit's idle work failed")


def _unsynced(ledger: Any, err: int | None) -> LedgerError:
    """What the callers of a committed batch hear when its WAL could not be synced: not that it is on
    the disk."""
    why = os.strerror(err) if err else "unknown error"
    return LedgerError(f"ledger {getattr(ledger, 'path', '')}: its WAL could not be synced to the disk "
                       f"({why}); the last writes may be lost if the machine stops now")


def _live(batch: list[Item]) -> tuple[list[Item], bool, bool]:
    """The jobs of `batch` whose callers still wait (a cancelled future's job is dropped), whether any
    and whether all of them are acknowledged; settlements first when both are there: every admission
    of the batch then plans against the spend and what outcomes taught after them, so the ranking is
    recomputed once, not once per call."""
    live = [
        (job, fut, ack) for job, fut, ack in batch
        if (fut.set_running_or_notify_cancel() if isinstance(fut, Future) else not fut.done())
    ]
    durable = any(ack for _, _, ack in live)
    durable_only = all(ack for _, _, ack in live)
    if durable and not durable_only:
        live.sort(key=lambda item: item[2])
    return live, durable, durable_only


def _resolve(fut: Any, result: Any) -> None:
    """Give a job's caller its result (an exception is raised to it): a concurrent.futures.Future from any
    thread; a loop's future on its loop (from another thread, through it: a job queued on the loop and
    committed by the writer after the loop let go), unless its caller stopped waiting."""
    if isinstance(fut, Future):
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)
        return
    loop = fut.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not loop:
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, fut, result)
        return
    if fut.done():
        return
    if isinstance(result, BaseException):
        fut.set_exception(result)
    else:
        fut.set_result(result)
