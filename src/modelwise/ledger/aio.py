"""An fdatasync the server's event loop waits for without a thread: Linux's native AIO (`io_submit` of an
IOCB_CMD_FDSYNC, Linux 4.18 and later) runs the sync on a kernel worker and signals its end on an
eventfd, which the loop watches like a socket (docs/design.md, "Ledger guarantees").

A thread that syncs for the loop must take the GIL back after the sync, and again after each step
around it; on a busy server each of those waits lasted about a millisecond, on every batch. Here the
loop only submits the sync (a system call) and reads its result when the eventfd is readable.

`open_syncer()` gives None where this is not offered (not Linux, an architecture whose system call
numbers are not listed here, a kernel or a seccomp filter that refuses `io_setup`); the ledger then
syncs on its commit thread, as before. A kernel that takes the context but refuses the sync itself
raises OSError from `submit`, which the caller answers the same way."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys

# io_setup, io_destroy, io_getevents, io_submit
_SYSCALLS = {"x86_64": (206, 207, 208, 209), "aarch64": (0, 1, 4, 2)}
_IOCB_CMD_FDSYNC = 3
_IOCB_FLAG_RESFD = 1  # signal the end on aio_resfd (an eventfd)


class _Iocb(ctypes.Structure):  # struct iocb (linux/aio_abi.h), little-endian
    _fields_ = [
        ("aio_data", ctypes.c_uint64),
        ("aio_key", ctypes.c_uint32),
        ("aio_rw_flags", ctypes.c_uint32),
        ("aio_lio_opcode", ctypes.c_uint16),
        ("aio_reqprio", ctypes.c_int16),
        ("aio_fildes", ctypes.c_uint32),
        ("aio_buf", ctypes.c_uint64),
        ("aio_nbytes", ctypes.c_uint64),
        ("aio_offset", ctypes.c_int64),
        ("aio_reserved2", ctypes.c_uint64),
        ("aio_flags", ctypes.c_uint32),
        ("aio_resfd", ctypes.c_uint32),
    ]


class _Event(ctypes.Structure):  # struct io_event
    _fields_ = [("data", ctypes.c_uint64), ("obj", ctypes.c_uint64), ("res", ctypes.c_int64),
                ("res2", ctypes.c_int64)]


class DiskSync:
    """One fdatasync at a time, submitted (`submit(fd)`) and reaped (`reap()`) without blocking; the
    eventfd `fileno()` is readable once the sync has ended. Not thread-safe: the loop's own."""

    def __init__(self) -> None:
        numbers = _SYSCALLS.get(platform.machine())
        if sys.platform != "linux" or numbers is None or not hasattr(os, "eventfd"):
            raise OSError(errno.ENOSYS, "Linux AIO is not available here")
        self._setup, self._destroy, self._getevents, self._submit = numbers
        self._syscall = ctypes.CDLL(None, use_errno=True).syscall
        self._syscall.restype = ctypes.c_long
        self._ctx: ctypes.c_ulong | None = ctypes.c_ulong(0)
        if self._syscall(ctypes.c_long(self._setup), ctypes.c_uint(1), ctypes.byref(self._ctx)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"io_setup: {os.strerror(err)}")
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._iocb = _Iocb(aio_lio_opcode=_IOCB_CMD_FDSYNC, aio_flags=_IOCB_FLAG_RESFD, aio_resfd=self._efd)
        self._iocbs = (ctypes.POINTER(_Iocb) * 1)(ctypes.pointer(self._iocb))
        self._events = (_Event * 1)()
        self._no_wait = (ctypes.c_long * 2)(0, 0)  # a struct timespec of zero: io_getevents does not wait
        self.in_flight = False

    def fileno(self) -> int:
        return self._efd

    def submit(self, fd: int) -> None:
        """Start an fdatasync of `fd` (only one at a time). OSError when the kernel refuses it."""
        if self.in_flight:
            raise RuntimeError("a sync is already in flight")
        self._iocb.aio_fildes = fd
        if self._syscall(ctypes.c_long(self._submit), self._ctx, ctypes.c_long(1), self._iocbs) != 1:
            err = ctypes.get_errno()
            raise OSError(err, f"io_submit: {os.strerror(err)}")
        self.in_flight = True

    def reap(self) -> int | None:
        """The sync's result once it has ended (0, or a negative errno: it failed); None while it runs."""
        if not self.in_flight:
            return None
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            return None
        while True:
            n = self._syscall(ctypes.c_long(self._getevents), self._ctx, ctypes.c_long(0), ctypes.c_long(1),
                              self._events, self._no_wait)
            if n >= 0 or ctypes.get_errno() != errno.EINTR:
                break
        if n < 1:
            return None
        self.in_flight = False
        return int(self._events[0].res)

    def close(self) -> None:
        """Let go of the context (the kernel finishes a sync in flight first) and the eventfd."""
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            self._syscall(ctypes.c_long(self._destroy), ctx)
            os.close(self._efd)


def open_syncer() -> DiskSync | None:
    """A DiskSync, or None where the kernel does not offer one."""
    try:
        return DiskSync()
    except OSError:
        return None
