"""Detect a SQLite ledger on a network filesystem (its locks and WAL's shared memory do not work there) and
warn once, on stderr."""

from __future__ import annotations

import os
import sys

NETWORK_TYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p", "afs", "ncpfs",
    "ceph", "fuse.ceph", "glusterfs", "fuse.glusterfs", "lustre", "gpfs", "fuse.rclone", "davfs",
    "fuse.davfs2", "fuse.s3fs", "fuse.gcsfuse", "virtiofs",
})
_warned: set[str] = set()


def _unescape(field: str) -> str:
    """/proc/mounts writes a space, tab, newline and backslash in a path as octal escapes."""
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def filesystem_type(path: str, mounts: str = "/proc/mounts") -> str | None:
    """The type of the filesystem that holds `path` (the longest mount point containing its folder), or
    None when it cannot be told."""
    folder = os.path.dirname(os.path.realpath(path)) or "/"
    try:
        with open(mounts, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    best, kind = -1, None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = _unescape(parts[1])
        inside = folder == point or folder.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and len(point) > best:
            best, kind = len(point), parts[2]
    return kind


def network_filesystem(path: str, mounts: str = "/proc/mounts") -> str | None:
    """The network filesystem type `path` is on, or None when it is on a local one."""
    kind = filesystem_type(path, mounts)
    return kind if kind is not None and kind.lower() in NETWORK_TYPES else None


def warn_if_network(path: str, mounts: str = "/proc/mounts") -> bool:
    """One line on stderr (once per path and process) when the SQLite ledger sits on a network share."""
    if path in ("", ":memory:") or path in _warned:
        return False
    kind = network_filesystem(path, mounts)
    if kind is None:
        return False
    _warned.add(path)
    print(
        f"modelwise: warning: ledger {path} is on a network filesystem ({kind}); SQLite's locking does not "
        "work there and machines sharing it can overspend or corrupt it: use a PostgreSQL ledger "
        "(ledger = \"postgresql://...\")",
        file=sys.stderr,
    )
    return True
