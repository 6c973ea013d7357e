"""Writing files from a command: an export to a path (atomically when it is a regular file, never over
the ledger, the registry or the config), and any file replaced atomically."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from modelwise.core.errors import BadInput, OutputError


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def refuse_own_file(path: str, paths: Any) -> None:
    """BadInput if `path` is (a link to, or another name of) the ledger, its side files, the registry or
    the config: writing an export there would destroy it."""
    ledger = str(paths.ledger)
    guarded = [(ledger, "the ledger")]
    for base in dict.fromkeys((ledger, os.path.realpath(ledger))):
        guarded += [
            (base + "-wal", "the ledger's write-ahead log"),
            (base + "-shm", "the ledger's shared-memory file"),
            (base + "-journal", "the ledger's journal"),
        ]
    guarded += [(str(paths.registry), "the model registry"), (str(paths.config), "the config file")]
    for own, what in guarded:
        if _same_file(path, own):
            raise BadInput(f"--output {path} is {what} ({own}); choose another file")


def write_output(path: str, text: str) -> None:
    """Write an export to `path`. A regular file is replaced atomically (through a symlink, the file it
    points to); anything else (a FIFO, a device, /dev/stdout) is written in place, never replaced.
    A failed write raises OutputError."""
    import stat

    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    real = os.path.realpath(path)
    special = any(p.startswith(("/dev/", "/proc/")) for p in (os.path.abspath(path), real))
    try:
        if st is not None and (special or not stat.S_ISREG(st.st_mode)):
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        else:
            write_atomic(real if st is not None else path, text)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_atomic(path: str, text: str) -> None:
    """Write `text` to `path` atomically (a reader sees the old file or the new one, never half)."""

    def fill(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)

    replace_atomically(path, fill)


def replace_atomically(path: str, fill: Callable[[str], Any]) -> None:
    """Let `fill(tmp)` write a temporary file beside `path`, give it the mode an ordinary new file would
    have (mkstemp makes 0600), then rename it over `path`; on any error nothing is left behind."""
    import tempfile
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise BadInput(f"{path} is a folder; give a file name")
    if not target.parent.exists():
        raise BadInput(f"folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(fd)
    try:
        fill(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
