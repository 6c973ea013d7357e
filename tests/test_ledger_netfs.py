"""A SQLite ledger on a network filesystem gets one warning line on stderr (its locks do not work there)."""

from __future__ import annotations

from pathlib import Path

from modelwise.ledger.sqlite import filesystem_type, network_filesystem, warn_if_network


def _mounts(tmp_path: Path, share: Path, kind: str) -> str:
    m = tmp_path / "mounts"
    m.write_text(
        "/dev/sda1 / ext4 rw,relatime 0 0\n"
        "proc /proc proc rw 0 0\n"
        f"server:/export {str(share).replace(' ', chr(92) + '040')} {kind} rw,vers=4.2 0 0\n"
    )
    return str(m)


def test_network_filesystems_are_told_from_local_ones(tmp_path):
    share = tmp_path / "team share"
    for kind in ("nfs", "nfs4", "cifs", "smb3", "fuse.sshfs", "9p"):
        mounts = _mounts(tmp_path, share, kind)
        assert network_filesystem(str(share / "ledger.sqlite3"), mounts) == kind
        assert network_filesystem(str(share / "sub" / "ledger.sqlite3"), mounts) == kind
    mounts = _mounts(tmp_path, share, "nfs")
    assert network_filesystem(str(tmp_path / "local.sqlite3"), mounts) is None  # outside the share
    assert filesystem_type(str(tmp_path / "local.sqlite3"), mounts) == "ext4"
    assert network_filesystem(str(Path(str(share) + "-sibling") / "l.sqlite3"), mounts) is None
    assert network_filesystem(str(share / "l.sqlite3"), str(tmp_path / "no-such-mounts")) is None


def test_one_warning_line_on_stderr(tmp_path, capsys):
    share = tmp_path / "share"
    mounts = _mounts(tmp_path, share, "cifs")
    path = str(share / "ledger.sqlite3")
    assert warn_if_network(path, mounts)
    assert not warn_if_network(path, mounts)  # once per path
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "network filesystem (cifs)" in err and "postgresql://" in err
    assert not warn_if_network(str(tmp_path / "local.sqlite3"), mounts)
    assert capsys.readouterr().err == ""
