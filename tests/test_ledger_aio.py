"""The server's loop waits for the ledger's disk without a thread where the kernel syncs a file for it
(ledger.aio: Linux's native AIO, an fdatasync whose end an eventfd signals): each batch is committed on
the loop, and its callers are answered only once the WAL's sync has ended; a sync that fails is an
error to them, and a kernel that refuses the sync hands the work back to the commit thread."""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import platform
import select
import sys
import threading
from pathlib import Path

import pytest

from modelwise.core.errors import LedgerError
from modelwise.ledger import aio
from modelwise.ledger.sqlite import SqliteLedger
from tests.test_group_commit import DAY, _on_loop, decision

ON_LINUX_AIO = sys.platform == "linux" and platform.machine() in ("x86_64", "aarch64")


@pytest.mark.skipif(not ON_LINUX_AIO, reason="Linux's native AIO (x86_64, aarch64)")
def test_the_kernel_syncs_a_file_and_signals_its_end_on_the_eventfd(tmp_path: Path):
    disk = aio.open_syncer()
    assert disk is not None  # this kernel offers it (CI's and the server's do)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, b"x" * 8192)
        disk.submit(fd)
        with pytest.raises(RuntimeError):
            disk.submit(fd)  # one at a time
        readable, _, _ = select.select([disk.fileno()], [], [], 10)
        assert readable
        assert disk.reap() == 0  # synced
        assert disk.reap() is None  # nothing more in flight
        r, w = os.pipe()  # a pipe cannot be synced: the kernel refuses at once
        with pytest.raises(OSError) as refused:
            disk.submit(r)
        assert refused.value.errno == errno.EINVAL and not disk.in_flight
        os.close(r)
        os.close(w)
    finally:
        disk.close()
        os.close(fd)


class HeldSync:
    """A stand-in for the kernel's sync that the test lets end (`release`), with the result it is given:
    it records each WAL descriptor submitted and syncs it for real when let go."""

    def __init__(self, result: int = 0, refuse: bool = False):
        self.result, self.refuse = result, refuse
        self.held = threading.Event()
        self.held.set()  # ends at once unless the test holds it
        self.submitted: list[int] = []
        self.in_flight = False
        self._efd = os.eventfd(0, os.EFD_NONBLOCK)

    def fileno(self) -> int:
        return self._efd

    def submit(self, fd: int) -> None:
        if self.refuse:
            raise OSError(errno.EINVAL, "io_submit: Invalid argument")
        self.submitted.append(fd)
        self.in_flight = True
        if self.held.is_set():
            self.release()

    def release(self) -> None:
        os.fdatasync(self.submitted[-1])
        os.eventfd_write(self._efd, 1)

    def reap(self) -> int | None:
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            return None
        self.in_flight = False
        return self.result

    def close(self) -> None:
        os.close(self._efd)


needs_eventfd = pytest.mark.skipif(not hasattr(os, "eventfd"), reason="os.eventfd (Linux)")


def _bound(ledger: SqliteLedger, disk, body, monkeypatch):
    """Run `body(group)` with a committer bound to a fresh loop whose kernel sync is `disk`."""
    monkeypatch.setattr(aio, "open_syncer", lambda: disk)

    async def run(group, loop):
        assert group._disk is disk
        return await body(group)

    return _on_loop(ledger, run)


def _job(ledger: SqliteLedger, i: int, ran: list[tuple[int, str]], cost: float = 0.3):
    def make(spent):
        ran.append((i, threading.current_thread().name))
        return decision(i, spent, cost)

    return functools.partial(ledger.admit_in_batch, DAY, None, make)


async def _until(check, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.005)):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("timed out")


@needs_eventfd
def test_the_loop_commits_and_answers_only_once_the_kernel_has_synced_the_wal(tmp_path: Path, monkeypatch):
    """The batch is committed on the loop (another connection sees it) but nobody hears of it until its
    sync has ended; what is queued meanwhile waits and goes in the next batch, synced in its turn."""
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    ledger.spent_by_tier(DAY)
    disk = HeldSync()
    disk.held.clear()
    ran: list[tuple[int, str]] = []

    async def body(group):
        first = asyncio.wrap_future(group.submit(_job(ledger, 1, ran)))
        await _until(lambda: disk.submitted)
        other = SqliteLedger(ledger.path)
        try:
            committed = other.decision("dec_000001") is not None
        finally:
            other.close()
        second = asyncio.wrap_future(group.submit(_job(ledger, 2, ran)))
        third = asyncio.wrap_future(group.submit(_job(ledger, 3, ran)))
        await asyncio.sleep(0.1)  # the sync is held: nobody answered, the next batch not started
        seen = (committed, first.done(), second.done(), [i for i, _ in ran])
        disk.held.set()
        disk.release()
        return seen, await first, await second, await third

    (committed, first_done, second_done, ran_then), *answers = _bound(ledger, disk, body, monkeypatch)
    assert committed and not first_done and not second_done
    assert ran_then == [1]  # the next batch waited for the sync
    assert [a[0]["fits"] for a in answers] == [True, True, True]
    assert len(disk.submitted) == 2  # one sync per batch: [1], then [2, 3] together
    assert {t for _, t in ran} == {threading.current_thread().name}  # every job on the loop
    assert ledger.spent_by_tier(DAY)["simple"] == pytest.approx(0.9)
    ledger.close()


@needs_eventfd
def test_a_sync_that_fails_is_a_ledger_error_to_its_batch_and_the_next_batch_goes_on(
    tmp_path: Path, monkeypatch
):
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    disk = HeldSync(result=-errno.EIO)
    ran: list[tuple[int, str]] = []

    async def body(group):
        with pytest.raises(LedgerError) as failed:
            await asyncio.wait_for(asyncio.wrap_future(group.submit(_job(ledger, 1, ran))), 5)
        disk.result = 0
        second = asyncio.wrap_future(group.submit(_job(ledger, 2, ran)))
        return failed.value, await asyncio.wait_for(second, 5)

    error, answer = _bound(ledger, disk, body, monkeypatch)
    assert "could not be synced" in str(error) and os.strerror(errno.EIO) in str(error)
    assert answer[0]["fits"]
    ledger.close()


@needs_eventfd
def test_where_the_kernel_refuses_the_sync_the_loop_syncs_that_batch_and_the_commit_thread_the_rest(
    tmp_path: Path, monkeypatch
):
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    disk = HeldSync(refuse=True)
    synced: list[str] = []
    real = os.fdatasync

    def fdatasync(fd):
        synced.append(threading.current_thread().name)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    ran: list[tuple[int, str]] = []

    async def body(group):
        first = await asyncio.wait_for(asyncio.wrap_future(group.submit(_job(ledger, 1, ran, 0.1))), 5)
        assert group._disk is None  # given up
        others = [asyncio.wrap_future(group.submit(_job(ledger, i, ran, 0.1))) for i in (2, 3)]
        return [first, *[await asyncio.wait_for(f, 5) for f in others]]

    answers = _bound(ledger, disk, body, monkeypatch)
    loop_thread = threading.current_thread().name
    assert [a[0]["fits"] for a in answers] == [True] * 3
    assert synced[0] == loop_thread  # the refused batch, synced on the loop before it was answered
    assert synced[1:] and set(synced[1:]) == {"modelwise-commit"}  # the rest, by the commit thread
    ledger.close()


@needs_eventfd
def test_unbinding_while_a_batch_waits_for_its_sync_waits_for_it_and_answers(tmp_path: Path, monkeypatch):
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    disk = HeldSync()
    disk.held.clear()
    futures = []

    async def body(group):
        futures.append(group.submit(_job(ledger, 1, [])))
        await _until(lambda: disk.submitted)
        # the sync ends while the loop is unbinding (a timer of the loop's: a thread's timed wait never
        # ends under faketime)
        asyncio.get_running_loop().call_later(0.2, disk.release)

    _bound(ledger, disk, body, monkeypatch)
    assert futures[0].result()[0]["fits"]  # told it was committed, once it was synced
    ledger.close()
