"""The ledger file as an adversary or an accident leaves it: an export aimed at it, the file deleted or
replaced under a running server, its permissions, and files that are not a usable modelwise ledger."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from modelwise.ledger.migrations import LATEST
from modelwise.ledger.sqlite import SqliteLedger
from tests.conftest import BRIEF_REGISTRY, load_json, run_cli
from tests.test_serve_cli import start_serve, stop

APPLICATION_ID = 0x4D574C47  # 'MWLG', the mark in a modelwise ledger's header


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def ids_in(path: str | Path) -> set[str]:
    """The decision ids in the file at `path`, read by a connection of this test."""
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM decisions")}
    finally:
        conn.close()


def route(env: dict[str, str], n: int = 1) -> list[str]:
    out = []
    for i in range(n):
        r = run_cli("route", "math", f"task {i}", "--json", env=env)
        assert r.returncode == 0, r.stderr
        out.append(load_json(r.stdout)["decisionId"])
    return out


# -- the export never destroys data ----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["ledger", "wal", "shm", "registry", "config", "hardlink", "symlink", "dotted"],
)
def test_export_onto_modelwise_files_is_refused(cli_env, tmp_path, target):
    registry = tmp_path / "registry.json"
    registry.write_bytes(BRIEF_REGISTRY.read_bytes())
    env = dict(cli_env, MODELWISE_REGISTRY=str(registry))
    ledger = env["MODELWISE_LEDGER"]
    made = route(env, 3)
    holder = sqlite3.connect(ledger)  # a live reader keeps -wal and -shm on disk
    holder.execute("SELECT count(*) FROM decisions").fetchone()
    try:
        path = {
            "ledger": ledger,
            "wal": ledger + "-wal",
            "shm": ledger + "-shm",
            "registry": str(registry),
            "config": env["MODELWISE_CONFIG"],
            "hardlink": str(tmp_path / "hard.csv"),
            "symlink": str(tmp_path / "soft.csv"),
            "dotted": str(Path(ledger).parent / "." / Path(ledger).name),
        }[target]
        if target == "hardlink":
            os.link(ledger, path)
        if target == "symlink":
            os.symlink(ledger, path)
        before = {p: Path(p).read_bytes() for p in (str(registry), env["MODELWISE_CONFIG"])}
        r = run_cli("export", "csv", "--output", path, env=env)
        assert r.returncode == 2, r.stdout + r.stderr
        line = one_line(r.stderr)
        assert path in line and ("ledger" in line or "registry" in line or "config" in line)
        assert {p: Path(p).read_bytes() for p in before} == before
    finally:
        holder.close()
    conn = sqlite3.connect(ledger)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert ids_in(ledger) == set(made)


def test_export_to_a_full_device_fails_in_one_line_and_keeps_the_device(cli_env, tmp_path):
    full = tmp_path / "full"  # a private /dev/full: code that replaces it by rename cannot harm the system's
    try:
        os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    except OSError:
        pytest.skip("cannot create a device node here (needs root)")
    route(cli_env)
    r = run_cli("export", "json", "--output", str(full), env=cli_env)
    assert r.returncode != 0
    line = one_line(r.stderr)
    assert str(full) in line and "No space left" in line and "wrote" not in r.stderr
    assert stat.S_ISCHR(os.stat(full).st_mode)


def test_export_to_a_fifo_and_to_dev_stdout_writes_in_place(cli_env, tmp_path):
    made = route(cli_env, 2)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    r = run_cli("export", "json", "--output", str(fifo), env=cli_env)
    reader.join(timeout=60)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and got
    assert {row["decisionId"] for row in load_json(got[0].decode())} == set(made)
    r = run_cli("export", "csv", "--output", "/dev/stdout", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("decisionId,") and all(d in r.stdout for d in made)


def test_export_through_a_symlink_replaces_the_target_and_keeps_the_link(cli_env, tmp_path):
    route(cli_env)
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    r = run_cli("export", "csv", "--output", str(link), env=cli_env)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and target.read_text().startswith("decisionId,")


# -- a ledger deleted or replaced under a running process ------------------------------------------


def _remove_ledger(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


def _other_ledger(path: Path, env: dict[str, str]) -> set[str]:
    """A ledger made by another process at `path`, with one decision; returns its ids."""
    route(dict(env, MODELWISE_LEDGER=str(path)))
    return ids_in(path)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_in_process_ledger_follows_the_file_at_its_path(make_service, tmp_path, cli_env, how):
    svc = make_service()
    path = str(svc.paths.ledger)
    first = svc.route_mapping({"type": "math", "description": "before"})["decisionId"]
    reader_ids: list[int] = []

    def read_on_another_thread() -> None:  # another thread's connection is opened before the change
        reader_ids.append(svc.statistics(all_days=True)["costStatistics"]["totalTasks"])

    t = threading.Thread(target=read_on_another_thread)
    t.start()
    t.join()
    if how == "deleted":
        _remove_ledger(path)
        expected: set[str] = set()
    else:
        expected = _other_ledger(tmp_path / "other.sqlite3", cli_env)
        os.replace(tmp_path / "other.sqlite3", path)
    second = svc.route_mapping({"type": "math", "description": "after"})["decisionId"]
    assert ids_in(path) == expected | {second}
    assert first not in ids_in(path)
    t = threading.Thread(target=read_on_another_thread)
    t.start()
    t.join()
    assert reader_ids == [1, len(expected) + 1]


def test_group_commit_writer_follows_a_deleted_ledger(make_service):
    svc = make_service()
    svc.enable_group_commit()
    path = str(svc.paths.ledger)
    def one(text: str) -> str:
        return svc.submit_task({"type": "math", "description": text}).result()["decisionId"]

    before = [one(f"b{i}") for i in range(3)]
    assert ids_in(path) == set(before)
    _remove_ledger(path)
    after = [one(f"a{i}") for i in range(5)]
    assert ids_in(path) == set(after)
    assert svc.statistics()["costStatistics"]["totalTasks"] == 5


@pytest.mark.parametrize("writer", ["admit", "run_batch", "run_batch unacknowledged"])
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_ledger_changed_inside_a_write_transaction_is_written_again_on_the_new_file(tmp_path, writer, how):
    from tests.test_group_commit import DAY, decision

    path = tmp_path / "l.sqlite3"
    other = tmp_path / "other.sqlite3"
    if how == "replaced":
        o = SqliteLedger(str(other))
        o.admit(DAY, None, lambda spent: decision(9, spent))
        o.close()
    ledger = SqliteLedger(str(path))
    try:
        ledger.admit(DAY, None, lambda spent: decision(0, spent))
        seen: list[float] = []

        def make(spent):
            seen.append(sum(spent.values()))
            if len(seen) == 1:  # between BEGIN and COMMIT, the file at the path changes
                if how == "deleted":
                    _remove_ledger(str(path))
                else:
                    os.replace(other, path)
            return decision(1, spent)

        if writer == "admit":
            ledger.admit(DAY, None, make)
        else:
            durable = writer == "run_batch"
            [res] = ledger.run_batch([lambda: ledger.admit_in_batch(DAY, None, make)], durable)
            assert not isinstance(res, BaseException), res
            assert ledger._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL, as configured
        assert seen == [0.3, 0.0 if how == "deleted" else 0.3]
        assert ids_in(path) == ({"dec_000009"} if how == "replaced" else set()) | {"dec_000001"}
        assert ledger.count_decisions() == len(ids_in(path))
    finally:
        ledger.close()


@pytest.mark.parametrize("mode", ["group-commit", "no-group-commit"])
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_serve_never_acknowledges_a_decision_missing_from_the_ledger(cli_env, tmp_path, mode, how):
    path = cli_env["MODELWISE_LEDGER"]
    proc, base = start_serve(cli_env, *(["--no-group-commit"] if mode == "no-group-commit" else []))
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            for i in range(3):
                assert c.post("/route", json={"type": "math", "description": f"b{i}"}).status_code == 200
            assert c.get("/stats").json()["costStatistics"]["totalTasks"] == 3
            if how == "deleted":
                _remove_ledger(path)
                expected: set[str] = set()
            else:
                expected = _other_ledger(tmp_path / "other.sqlite3", cli_env)
                os.replace(tmp_path / "other.sqlite3", path)
            acked = set()
            for i in range(4):
                r = c.post("/route", json={"type": "math", "description": f"a{i}"})
                assert r.status_code == 200, r.text
                acked.add(r.json()["decisionId"])
            assert ids_in(path) == expected | acked
            s = c.get("/stats")
            assert s.status_code == 200, s.text
            assert s.json()["costStatistics"]["totalTasks"] == len(expected) + 4
            assert {d["decisionId"] for d in c.get("/decisions").json()} == expected | acked
    finally:
        stop(proc)
    cli = run_cli("stats", "--json", env=cli_env)
    assert cli.returncode == 0, cli.stderr
    assert load_json(cli.stdout)["costStatistics"]["totalTasks"] == len(expected) + 4


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "one-transaction-each"])
def test_http_answers_503_naming_the_file_when_the_ledger_is_replaced_by_garbage(make_service, group_commit):
    from tests.live import serving

    svc = make_service()
    path = str(svc.paths.ledger)
    with serving(svc, group_commit=group_commit) as base, httpx.Client(base_url=base, timeout=30) as c:
        assert c.post("/route", json={"type": "math"}).status_code == 200
        junk = path + ".junk"
        Path(junk).write_bytes(b"garbage, not a ledger\n" * 200)
        os.replace(junk, path)
        for r in (c.post("/route", json={"type": "math"}), c.get("/stats"), c.get("/decisions")):
            assert r.status_code == 503, r.text
            detail = r.json()["detail"]
            assert path in detail and "not a database" in detail and "\n" not in detail
        assert Path(path).read_bytes() == b"garbage, not a ledger\n" * 200


# -- private files ---------------------------------------------------------------------------------


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_ledger_its_wal_and_its_folder_are_private(tmp_path):
    path = tmp_path / "new" / "data" / "ledger.sqlite3"
    with umask(0):
        ledger = SqliteLedger(str(path))
        try:
            assert ledger.count_decisions() == 0
            assert mode(path) == 0o600
            assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "data") == 0o700
            for side in ("-wal", "-shm"):
                assert mode(str(path) + side) == 0o600, side
        finally:
            ledger.close()


def test_an_existing_ledger_is_made_private_when_opened(cli_env):
    path = cli_env["MODELWISE_LEDGER"]
    route(cli_env)
    holder = sqlite3.connect(path)
    holder.execute("SELECT count(*) FROM decisions").fetchone()
    try:
        for p in (path, path + "-wal", path + "-shm"):
            os.chmod(p, 0o644)
        with umask(0):
            route(cli_env)
        for p in (path, path + "-wal", path + "-shm"):
            assert mode(p) == 0o600, p
    finally:
        holder.close()


# -- clear errors ----------------------------------------------------------------------------------


def test_garbage_and_truncated_ledgers_name_the_file(cli_env, make_service):
    path = Path(cli_env["MODELWISE_LEDGER"])
    path.write_bytes(b"this is not a database, just some text\n" * 100)
    before = path.read_bytes()
    for argv in (("stats",), ("route", "math", "m"), ("export", "csv")):
        r = run_cli(*argv, env=cli_env)
        assert r.returncode == 2, (argv, r.stderr)
        line = one_line(r.stderr)
        assert str(path) in line and "not a database" in line
    assert path.read_bytes() == before
    assert not os.path.exists(str(path) + "-wal")


def _ledger_with_decisions(path: Path, n: int) -> None:
    from modelwise.service import TokenOptimizationService

    cfg = path.parent / "fill.toml"
    cfg.write_text("daily_budget = 1000\n")
    with TokenOptimizationService(registry=BRIEF_REGISTRY, ledger=path, config=cfg) as svc:
        for i in range(n):
            svc.route_mapping({"type": "math", "description": f"decision number {i} " + "x" * 200})


def _overwrite_pages_sqlite_can_see(path: Path) -> None:
    """Overwrite three pages from the middle of the file on with fixed garbage, at the first place where
    SQLite's own quick_check sees the damage (garbage inside an overflow page of a long text is invisible
    to it, and so to modelwise; where that lands depends on the file's layout)."""
    import random
    import shutil

    garbage = random.Random(7).randbytes(3 * 4096)
    size = path.stat().st_size
    probe = path.with_name("probe.sqlite3")
    for offset in range(size // 2 // 4096 * 4096, size - 3 * 4096, 4096):
        shutil.copyfile(path, probe)
        with open(probe, "r+b") as fh:
            fh.seek(offset)
            fh.write(garbage)
        conn = sqlite3.connect(probe)
        try:
            seen = conn.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok"
        except sqlite3.DatabaseError:
            seen = True
        finally:
            conn.close()
        probe.unlink()
        if seen:
            with open(path, "r+b") as fh:
                fh.seek(offset)
                fh.write(garbage)
            return
    raise AssertionError("garbage over no page of the second half of the file is seen by quick_check")


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_ledger_is_never_a_silent_success(cli_env, damage):
    path = Path(cli_env["MODELWISE_LEDGER"])
    _ledger_with_decisions(path, 300)
    size = path.stat().st_size
    assert size > 20 * 4096
    if damage == "truncated":
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
    else:  # garbage over pages in the middle, the header and the first pages intact
        _overwrite_pages_sqlite_can_see(path)
    for argv in (("stats",), ("export", "csv")):
        r = run_cli(*argv, env=cli_env)
        assert r.returncode == 2, (argv, r.returncode, r.stdout[:200], r.stderr)
        line = one_line(r.stderr)
        assert str(path) in line and "damaged" in line


def test_the_check_of_a_big_ledger_still_reads_the_roll_up(tmp_path):
    from modelwise.core.errors import BadLedger

    path = tmp_path / "l.sqlite3"
    _ledger_with_decisions(path, 50)
    conn = sqlite3.connect(path)
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'rollup'").fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    ledger = SqliteLedger(str(path))
    ledger.check(whole_up_to=0)
    ledger.close()
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * page_size)
    ledger = SqliteLedger(str(path))
    try:
        with pytest.raises(BadLedger, match="is damaged"):
            ledger.check(whole_up_to=0)
    finally:
        ledger.close()


def test_a_ledger_from_a_newer_schema_is_refused(cli_env):
    path = cli_env["MODELWISE_LEDGER"]
    route(cli_env)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST + 3}")
    conn.close()
    for argv in (("stats",), ("route", "math", "m")):
        r = run_cli(*argv, env=cli_env)
        assert r.returncode == 2
        assert one_line(r.stderr) == (
            f"modelwise: ledger {path} has schema {LATEST + 3}, this modelwise knows up to {LATEST}; "
            "upgrade modelwise"
        )


def test_a_folder_as_the_ledger_is_refused(cli_env, tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    env = dict(cli_env, MODELWISE_LEDGER=str(folder))
    for argv in (("stats",), ("route", "math", "m")):
        r = run_cli(*argv, env=env)
        assert r.returncode == 2
        line = one_line(r.stderr)
        assert str(folder) in line and "folder" in line
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("kind", ["tables", "application_id", "user_version"])
def test_another_programs_sqlite_file_is_refused_untouched(cli_env, kind):
    path = cli_env["MODELWISE_LEDGER"]
    conn = sqlite3.connect(path)
    if kind == "tables":
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('mine')")
    elif kind == "application_id":
        conn.execute("PRAGMA application_id = 1234")
    else:
        conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    before = Path(path).read_bytes()
    for argv in (("route", "math", "m"), ("stats",), ("export", "json")):
        r = run_cli(*argv, env=cli_env)
        assert r.returncode == 2, (argv, r.stderr)
        line = one_line(r.stderr)
        assert path in line and "another program" in line
    assert Path(path).read_bytes() == before
    assert not os.path.exists(path + "-wal")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_a_modelwise_ledger_without_the_mark_is_accepted_and_marked(cli_env):
    path = cli_env["MODELWISE_LEDGER"]
    made = route(cli_env)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 0")
    conn.commit()
    conn.close()
    made += route(cli_env)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()
    assert ids_in(path) == set(made)


# -- disk full -------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (needs root and mount rights; skipped otherwise); yields a function filling it."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")

    def fill() -> Path:
        filler = mnt / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        return filler

    try:
        yield mnt, fill
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_is_one_line_for_the_cli_and_503_for_http(cli_env, small_disk):
    mnt, fill = small_disk
    env = dict(cli_env, MODELWISE_LEDGER=str(mnt / "ledger.sqlite3"))
    made = route(env, 2)
    proc, base = start_serve(env)
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            ok = c.post("/route", json={"type": "math", "description": "fits"})
            assert ok.status_code == 200
            made.append(ok.json()["decisionId"])
            filler = fill()
            statuses = []
            for i in range(20):
                r = c.post("/route", json={"type": "math", "description": f"full {i} " + "y" * 3000})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    made.append(r.json()["decisionId"])
                else:
                    assert r.status_code == 503, r.text
                    detail = r.json()["detail"]
                    assert "\n" not in detail and "Traceback" not in r.text
                    assert str(mnt / "ledger.sqlite3") in detail and "disk is full" in detail
                    break
            assert statuses[-1] == 503, statuses
            cli = run_cli("route", "math", "from the cli " + "z" * 3000, env=env)
            assert cli.returncode == 1, cli.stderr
            line = one_line(cli.stderr)
            assert str(mnt / "ledger.sqlite3") in line and "disk is full" in line
            filler.unlink()
            again = c.post("/route", json={"type": "math", "description": "space again"})
            assert again.status_code == 200, again.text
            made.append(again.json()["decisionId"])
    finally:
        stop(proc)
    assert ids_in(mnt / "ledger.sqlite3") == set(made)



def test_closing_the_ledger_while_other_threads_read_it_does_not_crash(tmp_path):
    """A console quitting while its workers read the ledger: `close` lets go of the other threads'
    connections instead of closing them under a running statement (which crashed the process with a
    segmentation fault). Run in a child process, so that a crash fails this test, not the suite."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import threading, time
        from modelwise.ledger.sqlite import SqliteLedger
        for i in range(60):
            ledger = SqliteLedger({str(tmp_path)!r} + f"/l{{i}}.sqlite3")
            stop = False
            def read():
                while not stop:
                    ledger.last_seq()
            threads = [threading.Thread(target=read) for _ in range(2)]
            for t in threads:
                t.start()
            time.sleep(0.005)
            ledger.close()
            time.sleep(0.002)
            stop = True
            for t in threads:
                t.join()
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stderr[-2000:])
