"""Group commit in the ledger: a batch keeps `admit`'s meaning (each admission sees the spend before it,
request ids replay, one failure is rolled back alone), and several processes each batching their own
admissions on one file still never overspend."""

from __future__ import annotations

import functools
import multiprocessing as mp
import threading
from pathlib import Path

import pytest

from modelwise.ledger import NewDecision
from modelwise.ledger.group import GroupCommitter
from modelwise.ledger.sqlite import SqliteLedger

DAY = "2026-11-26"
BUDGET = 1.0


def decision(
    i: int, spent: dict[str, float], cost: float = 0.3, request_id: str | None = None
) -> NewDecision:
    """Admit `cost` if it fits BUDGET given `spent`, else refuse (reserve 0)."""
    fits = sum(spent.values()) + cost <= BUDGET + 1e-12
    return NewDecision(
        id=f"dec_{i:06d}",
        request_id=request_id,
        ts="2026-11-26T12:00:00.000Z",
        ts_unix=1.0,
        day=DAY,
        task_type="documentation",
        tier="simple",
        agent="t",
        model_id="m" if fits else None,
        model_name="M" if fits else None,
        status="routed" if fits else "refused",
        reserved=cost if fits else 0.0,
        estimated_cost=cost,
        input_tokens=1,
        output_tokens=1,
        desc_chars=0,
        budget=1.0,
        score=None,
        description=None,
        response={"decisionId": f"dec_{i:06d}", "fits": fits},
    )


def test_each_admission_in_a_batch_sees_the_ones_before_it(tmp_path: Path):
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    seen: list[float] = []

    def make(i: int):
        def f(spent):
            seen.append(sum(spent.values()))
            return decision(i, spent)

        return f

    results = ledger.admit_many([(DAY, None, make(i)) for i in range(5)])
    assert [r[0]["fits"] for r in results] == [True, True, True, False, False]
    assert seen == pytest.approx([0.0, 0.3, 0.6, 0.9, 0.9])
    assert ledger.spent_by_tier(DAY)["simple"] == pytest.approx(0.9)
    ledger.close()


def test_request_ids_replay_within_and_across_batches(tmp_path: Path):
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    a = ledger.admit_many(
        [
            (DAY, "same", lambda s: decision(1, s, request_id="same")),
            (DAY, "same", lambda s: decision(2, s, request_id="same")),
        ]
    )
    assert a[0] == ({"decisionId": "dec_000001", "fits": True}, False)
    assert a[1] == ({"decisionId": "dec_000001", "fits": True}, True)
    b = ledger.admit_many([(DAY, "same", lambda s: decision(3, s, request_id="same"))])
    assert b[0][1] is True and ledger.count_decisions() == 1
    ledger.close()


def test_a_failing_admission_is_rolled_back_alone(tmp_path: Path):
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))

    def boom(spent):
        raise ValueError("no")

    # the third writes a duplicate id: its insert fails inside its savepoint
    results = ledger.admit_many(
        [
            (DAY, None, lambda s: decision(1, s)),
            (DAY, None, boom),
            (DAY, None, lambda s: decision(1, s)),
            (DAY, None, lambda s: decision(4, s)),
        ]
    )
    assert isinstance(results[1], ValueError) and isinstance(results[2], Exception)
    assert results[0][0]["fits"] and results[3][0]["fits"]
    assert ledger.count_decisions() == 2
    assert ledger.spent_by_tier(DAY)["simple"] == pytest.approx(0.6)  # the failed one reserved nothing
    ledger.close()


def test_committer_answers_only_after_commit_and_keeps_the_budget(tmp_path: Path):
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    group = GroupCommitter(ledger)
    out: list[dict] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        response, _ = group.admit(DAY, None, lambda s: decision(i, s, cost=0.07))
        # once answered, another connection sees the decision: it was committed
        other = SqliteLedger(ledger.path)
        try:
            assert other.decision(response["decisionId"]) is not None
        finally:
            other.close()
        with lock:
            out.append(response)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    group.close()
    assert len(out) == 40 and sum(r["fits"] for r in out) == 14  # 14 x 0.07 = 0.98 <= 1.0 < 15 x 0.07
    assert group.batches < 40  # they were grouped
    assert ledger.spent_by_tier(DAY)["simple"] == pytest.approx(0.98)
    with pytest.raises(RuntimeError):
        group.admit(DAY, None, lambda s: decision(99, s))
    ledger.close()


def _route_many(ledger_path: str, config: str, registry: str, n: int, worker: int, q) -> None:
    from modelwise.service import TokenOptimizationService

    svc = TokenOptimizationService(registry=registry, ledger=ledger_path, config=config)
    svc.enable_group_commit()
    tasks = [
        {"type": t, "description": f"p{worker} {i}", "agent": f"proc-{worker}"}
        for i, t in enumerate(["architecture", "code_generation", "documentation"] * (n // 3))
    ]
    results = svc.route_tasks(tasks, concurrency=8)
    svc.close()
    q.put([r["decisionId"] for r in results if r["status"] != "refused"])


def test_several_processes_with_group_commit_never_overspend(tmp_path: Path):
    from tests.conftest import BRIEF_REGISTRY, assert_within_budget

    cfg = tmp_path / "c.toml"
    cfg.write_text("daily_budget = 0.3\n")
    path = str(tmp_path / "shared.sqlite3")
    SqliteLedger(path).close()  # created and migrated once, before the processes race
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [
        ctx.Process(target=_route_many, args=(path, str(cfg), str(BRIEF_REGISTRY), 60, w, q))
        for w in range(3)
    ]
    for p in procs:
        p.start()
    admitted = [i for _ in procs for i in q.get(timeout=120)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    ledger = SqliteLedger(path)
    rows = list(ledger.decisions())
    ledger.close()
    assert len(rows) == 180
    kept = [r for r in rows if r["status"] != "refused"]
    assert sorted(r["id"] for r in kept) == sorted(admitted)
    assert_within_budget(rows, 0.3, {"simple": 0.2, "medium": 0.5, "complex": 0.3})
    assert sum(r["reserved"] for r in rows) > 0.15


def test_service_with_group_commit_routes_and_settles_from_any_thread(make_service):
    svc = make_service()
    svc.enable_group_commit()
    r = svc.route_task("documentation", "from the main thread", agent="main")
    settled = svc.record_outcome(r["decisionId"], "success", cost=0.001)
    assert settled["actualCost"] == 0.001
    via_writer = svc.submit_outcome(svc.route_task("documentation", "again")["decisionId"], "error").result(
        timeout=10
    )
    assert via_writer["outcome"] == "error"
    from modelwise.core.errors import UnknownDecision

    with pytest.raises(UnknownDecision):
        svc.submit_outcome("dec_missing", "success").result(timeout=10)
    assert svc.submit_task({"type": "documentation", "agent": "w"}).result(timeout=10)["agent"] == "w"
    svc.close()
    assert not svc.group_commit_enabled
    stats = svc.statistics()
    assert stats["outcomes"] == 2 and stats["costStatistics"]["totalTasks"] == 3


def test_unacknowledged_writes_go_first_and_alone_skip_the_fsync(tmp_path: Path):
    """A batch of only unacknowledged writes (a gateway's settlements) commits with synchronous=NORMAL;
    a batch with any acknowledged job commits durably (FULL), its unacknowledged jobs first; the
    connection is left at FULL either way."""
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    gate = threading.Event()
    seen: list[tuple[str, int]] = []

    def job(name: str) -> None:
        seen.append((name, ledger._conn().execute("PRAGMA synchronous").fetchone()[0]))

    g = GroupCommitter(ledger)
    try:
        blocker = g.submit(lambda: gate.wait(10))  # holds the writer so the next jobs queue as one batch
        jobs = [g.submit(job, "admit-1"), g.submit_unacknowledged(job, "settle-1"),
                g.submit(job, "admit-2"), g.submit_unacknowledged(job, "settle-2")]
        gate.set()
        blocker.result(10)
        for f in jobs:
            f.result(10)
        assert seen == [("settle-1", 2), ("settle-2", 2), ("admit-1", 2), ("admit-2", 2)]
        seen.clear()
        g.submit_unacknowledged(job, "settle-3").result(10)
        assert seen == [("settle-3", 1)]  # NORMAL: no fsync of its own
        g.submit(job, "admit-3").result(10)
        assert seen[-1] == ("admit-3", 2)  # and FULL again after it
    finally:
        g.close()
        ledger.close()


def test_an_idle_writer_ranks_again_after_outcomes_so_the_next_call_does_not(make_service, monkeypatch):
    """One client's calls one after another, an outcome between each: the writer, idle after the
    settlement, brings the call's ranking up to date with it, so the next call ranks nothing."""
    import time

    from modelwise.app import context

    made: list[str] = []  # rankings made, whether every model is scored or only those outcomes moved

    def counting(real):
        def count(*a, **kw):
            made.append(threading.current_thread().name)
            return real(*a, **kw)

        return count

    monkeypatch.setattr(context, "rank_models", counting(context.rank_models))
    monkeypatch.setattr(context, "recalibrated", counting(context.recalibrated))
    svc = make_service()
    svc.enable_group_commit()
    try:
        for i in range(3):
            before = len(made)
            d = svc.submit_call("documentation", 20, None, api=None).result(timeout=10)
            if i:
                assert len(made) == before, "the call ranked while it waited"
            svc.submit_settlement(d["decisionId"], "success", input_tokens=20, output_tokens=30).result(10)
            deadline = time.monotonic() + 5
            while len(made) == before + (i == 0) and time.monotonic() < deadline:
                time.sleep(0.01)  # the writer's idle work follows the settlement's answer
            assert len(made) == before + (i == 0) + 1  # ranked once more, after the outcome
    finally:
        svc.close()


def _settled_at(cost: float, seen: list | None = None):
    from modelwise.ledger import Settlement

    def make(dec, spent):
        if seen is not None:
            seen.append((dict(dec), sum(spent.values())))
        return Settlement("success", 10.0, 1, 1, cost)

    return make


def test_a_batch_keeps_its_own_spend_across_settlements_and_rolled_back_jobs(tmp_path: Path):
    """Inside one batch the spend is read once and then moved by the batch's own writes: a settlement
    that frees part of a reservation lets a later admission of the same batch use it, and a job rolled
    back after admitting gives back what it reserved."""
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    first = ledger.admit_many([(DAY, None, lambda s, i=i: decision(i, s)) for i in range(3)])
    assert [r[0]["fits"] for r in first] == [True, True, True]  # 0.9 of 1.0 reserved

    def admit_then_fail():
        ledger.admit_in_batch(DAY, None, lambda s: decision(10, s, cost=0.05))
        raise ValueError("after its admission")

    seen: list[float] = []

    def admit(i: int, cost: float):
        def f(spent):
            seen.append(sum(spent.values()))
            return decision(i, spent, cost=cost)

        return lambda: ledger.admit_in_batch(DAY, None, f)

    results = ledger.run_batch([
        lambda: ledger.settle_in_batch("dec_000000", "2026-11-26T12:00:01.000Z", 2.0, _settled_at(0.1)),
        admit(20, 0.25),  # fits only once the settlement's 0.2 is given back: 0.7 + 0.25
        admit_then_fail,
        admit(21, 0.05),  # fits only if the rolled-back 0.05 is not counted: 0.95 + 0.05
    ])
    assert isinstance(results[2], ValueError)
    assert results[1][0]["fits"] and results[3][0]["fits"]
    assert seen[-2:] == pytest.approx([0.7, 0.95])  # (run again with savepoints: it failed after writing)
    assert ledger.spent_by_tier(DAY)["simple"] == pytest.approx(1.0)
    assert ledger.count_decisions() == 5
    ledger.close()


def test_a_decision_a_batch_committed_settles_without_being_read_back_and_as_if_it_were(tmp_path: Path):
    """The settlement of a decision this ledger's batch committed uses the decision as kept, which is
    what reading it back gives; and when another connection gave it an outcome meanwhile, the second
    outcome is refused by name, as it is for a decision read from the file."""
    import sqlite3

    from modelwise.core.errors import BadInput

    path = str(tmp_path / "l.sqlite3")
    ledger = SqliteLedger(path)
    ledger.admit_many([(DAY, None, lambda s, i=i: decision(i, s)) for i in range(3)])
    kept: list = []
    ledger.run_batch([lambda: ledger.settle_in_batch("dec_000000", "t1", 2.0, _settled_at(0.1, kept))])
    other = SqliteLedger(str(tmp_path / "other.sqlite3"))  # never admitted here: read back
    for i in range(3):  # one transaction each, which keeps nothing
        other.admit(DAY, None, lambda s, i=i: decision(i, s))
    assert not other._committed
    read: list = []
    other.settle("dec_000000", "t1", 2.0, _settled_at(0.1, read))
    assert kept == read and kept[0][0]["outcome"] is None
    assert kept[0][0]["reserved"] == 0.3 and kept[0][0]["detail"] == '{"decisionId":"dec_000000","fits":true}'

    # another process settles dec_000001 behind this ledger's back
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO outcomes (decision_id, ts, ts_unix, outcome, latency_ms, input_tokens, output_tokens, "
        "actual_cost, model_id, task_type, day) VALUES ('dec_000001', 't', 1.0, 'failure', NULL, NULL, NULL, "
        "0.0, 'm', 'documentation', ?)", (DAY,),
    )
    conn.commit()
    conn.close()
    [res] = ledger.run_batch([lambda: ledger.settle_in_batch("dec_000001", "t2", 3.0, _settled_at(0.1))])
    assert isinstance(res, BadInput) and "already has an outcome (failure)" in str(res)
    ledger.close()
    other.close()


def test_the_outcomes_version_inside_a_batch_moves_with_the_batch_own_outcomes(tmp_path: Path):
    """The batch reads the version once, and again after it records an outcome (what outcomes taught
    is read again by the admissions after a settlement of the same batch)."""
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    ledger.admit_many([(DAY, None, lambda s: decision(0, s))])
    before = ledger.outcomes_version()
    got = ledger.run_batch([
        ledger.outcomes_version,
        ledger.outcomes_version,
        lambda: ledger.settle_in_batch("dec_000000", "t1", 2.0, _settled_at(0.1)) and None,
        ledger.outcomes_version,
    ])
    assert got[0] == got[1] == before and got[3] == ledger.outcomes_version() > before
    ledger.close()


def test_a_batch_whose_failures_wrote_nothing_runs_each_job_once(tmp_path: Path):
    """Jobs run without savepoints; one that fails before writing (a refusal, a bad input) leaves
    nothing to undo, so the batch is not run again for it."""
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    calls: list[int] = []

    def make(i: int):
        def f(spent):
            calls.append(i)
            if i == 1:
                raise ValueError("refused before writing")
            return decision(i, spent)

        return f

    results = ledger.admit_many([(DAY, None, make(i)) for i in range(3)])
    assert isinstance(results[1], ValueError) and results[0][0]["fits"] and results[2][0]["fits"]
    assert calls == [0, 1, 2] and ledger.count_decisions() == 2
    ledger.close()


# -- bound to an event loop (the server's way) -----------------------------------------------------------


def _on_loop(ledger: SqliteLedger, body, thread_syncs: bool = False):
    """Run `body(group, loop)` (a coroutine function) with a committer bound to a fresh event loop; the
    committer is unbound (what is queued committed) before the loop stops. `thread_syncs`: the commit
    thread commits and syncs, even where the kernel could sync for the loop (ledger.aio)."""
    import asyncio

    group = GroupCommitter(ledger)

    async def main():
        loop = asyncio.get_running_loop()
        assert group.bind(loop, thread_syncs=thread_syncs)
        try:
            return await body(group, loop)
        finally:
            await group.unbind()

    try:
        return asyncio.run(main())
    finally:
        group.close()


@pytest.mark.parametrize("thread_syncs", [False, True], ids=["kernel-syncs", "commit-thread-syncs"])
def test_bound_to_a_loop_the_jobs_run_on_it_and_each_answer_follows_its_commit(tmp_path: Path, thread_syncs):
    import asyncio
    import platform
    import sys

    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    threads: set[str] = set()

    def make(i: int):
        def f(spent):
            threads.add(threading.current_thread().name)
            return decision(i, spent, cost=0.07)

        return f

    async def body(group, loop):
        # where the kernel syncs a file for the loop (ledger.aio), it waits for the disk that way
        kernel = sys.platform == "linux" and platform.machine() in ("x86_64", "aarch64")
        assert (group._disk is not None) == (kernel and not thread_syncs)
        futures = [asyncio.wrap_future(group.submit(ledger.admit_in_batch, DAY, None, make(i)))
                   for i in range(40)]
        other = SqliteLedger(ledger.path)
        try:
            out = []
            for fut in futures:
                response, _ = await fut
                assert other.decision(response["decisionId"]) is not None  # committed before answered
                out.append(response)
        finally:
            other.close()
        return out

    out = _on_loop(ledger, body, thread_syncs)
    assert threads == {threading.current_thread().name}  # the loop's thread (here, the test's)
    assert sum(r["fits"] for r in out) == 14 and [r["fits"] for r in out] == [True] * 14 + [False] * 26
    assert ledger.spent_by_tier(DAY)["simple"] == pytest.approx(0.98)
    ledger.close()


def test_a_loop_batch_another_process_locks_out_waits_off_the_loop_and_commits_after(tmp_path: Path):
    """Another connection holds the write lock: the loop keeps running (its timer ticks) while the batch
    waits for the lock on the commit thread, and the batch commits once the lock is let go."""
    import asyncio
    import sqlite3

    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    ledger.spent_by_tier(DAY)  # the file exists
    holder = sqlite3.connect(ledger.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    threads: set[str] = set()

    def make(spent):
        threads.add(threading.current_thread().name)
        return decision(1, spent)

    async def body(group, loop):
        fut = asyncio.wrap_future(group.submit(ledger.admit_in_batch, DAY, None, make))
        ticks, longest, last = 0, 0.0, loop.time()
        for _ in range(30):  # 0.3 s with the lock held: a loop blocked on it would not tick
            await asyncio.sleep(0.01)
            ticks += 1
            longest, last = max(longest, loop.time() - last), loop.time()
        assert not fut.done()
        holder.execute("ROLLBACK")
        return ticks, longest, await asyncio.wait_for(fut, 10)

    ticks, longest, (response, _) = _on_loop(ledger, body)
    holder.close()
    assert ticks == 30 and longest < 1.0 and response["fits"]
    assert threads and all(t.startswith("modelwise-commit") for t in threads)
    assert ledger.decision("dec_000001") is not None
    ledger.close()


def test_a_loop_batch_whose_file_is_replaced_before_its_commit_runs_again_on_the_new_file(tmp_path: Path):
    import os

    path = str(tmp_path / "l.sqlite3")
    ledger = SqliteLedger(path)
    ledger.spent_by_tier(DAY)
    runs: list[str] = []

    def make(spent):
        runs.append(threading.current_thread().name)
        return decision(1, spent)

    started = ledger.start_batch([lambda: ledger.admit_in_batch(DAY, None, make)])
    assert started is not None and len(runs) == 1
    os.replace(path, path + ".old")  # moved away between the jobs and the COMMIT
    results = ledger.finish_batch(started)
    assert results[0][0]["fits"] and len(runs) == 2  # ran again, on the file at the path now
    ledger.close()
    fresh = SqliteLedger(path)
    assert fresh.decision("dec_000001") is not None  # in the file at the path
    fresh.close()


def test_on_the_loop_thread_a_waited_admission_runs_at_once_instead_of_waiting_on_itself(tmp_path: Path):
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))

    async def body(group, loop):
        return group.admit(DAY, None, lambda s: decision(1, s))  # (through the queue it would never run)

    response, replayed = _on_loop(ledger, body)
    assert response["fits"] and not replayed and ledger.decision("dec_000001") is not None
    ledger.close()


def test_unbinding_commits_what_the_loop_had_queued(tmp_path: Path):
    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    futures = []

    async def body(group, loop):
        futures.extend(group.submit(ledger.admit_in_batch, DAY, None, lambda s, i=i: decision(i, s, 0.01))
                       for i in range(5))

    _on_loop(ledger, body)  # returns before any batch ran; unbinding drains them
    assert [f.result()[0]["fits"] for f in futures] == [True] * 5  # (the loop's futures, done)
    assert ledger.spent_by_tier(DAY)["simple"] == pytest.approx(0.05)
    ledger.close()


def test_a_ledger_in_memory_is_not_bound_to_a_loop():
    import asyncio

    group = GroupCommitter(SqliteLedger(":memory:"))

    async def main():
        return group.bind(asyncio.get_running_loop())

    assert asyncio.run(main()) is False
    group.close()


def test_unbinding_while_a_loop_batch_commits_waits_for_it_and_answers(tmp_path: Path):
    import asyncio
    import time

    class SlowCommit(SqliteLedger):
        def finish_batch(self, started, released=None):
            time.sleep(0.2)
            return super().finish_batch(started, released)

    ledger = SlowCommit(str(tmp_path / "l.sqlite3"))
    futures = []

    async def body(group, loop):
        futures.append(group.submit(ledger.admit_in_batch, DAY, None, lambda s: decision(1, s)))
        await asyncio.sleep(0.05)  # its COMMIT is under way on the commit thread as the loop stops

    _on_loop(ledger, body)
    assert futures[0].result()[0]["fits"]  # told it was committed, as it was
    assert ledger.decision("dec_000001") is not None
    ledger.close()


def test_bound_to_a_loop_a_job_from_another_thread_runs_there_and_answers_that_thread(tmp_path: Path):
    import asyncio
    import concurrent.futures

    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    ran_on: list[str] = []

    def make(i):
        def f(spent):
            ran_on.append(threading.current_thread().name)
            return decision(i, spent, 0.1)
        return f

    async def body(group, loop):
        here = group.submit(ledger.admit_in_batch, DAY, None, make(1))
        assert isinstance(here, asyncio.Future)  # on the loop's thread: the loop's own future
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            # from pool threads, waiting as a sync caller does (group.admit)
            theirs = [loop.run_in_executor(pool, group.admit, DAY, None, make(i)) for i in (2, 3)]
            answers = [await here] + list(await asyncio.gather(*theirs))
        return answers

    answers = _on_loop(ledger, body)
    assert [a[0]["fits"] for a in answers] == [True, True, True]
    assert set(ran_on) == {threading.current_thread().name}  # every job ran on the loop
    assert ledger.spent_by_tier(DAY)["simple"] == pytest.approx(0.3)
    ledger.close()


def test_bound_to_a_loop_the_idle_work_runs_on_the_loop_between_batches(tmp_path: Path):
    import asyncio

    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    idle_on: list[str] = []
    group = GroupCommitter(ledger, idle=lambda: idle_on.append(threading.current_thread().name))

    async def main():
        assert group.bind(asyncio.get_running_loop())
        try:
            answers = []
            def job(i):
                return functools.partial(ledger.admit_in_batch, DAY, None, lambda s: decision(i, s, 0.01))

            for i in range(5):  # an unacknowledged write (its idle work follows), then the next call at once
                await asyncio.wait_for(asyncio.wrap_future(group.submit_unacknowledged(job(i))), 5)
                answers.append(await asyncio.wait_for(asyncio.wrap_future(group.submit(job(100 + i))), 5))
            return answers
        finally:
            await group.unbind()

    answers = asyncio.run(main())
    group.close()
    assert [a[0]["fits"] for a in answers] == [True] * 5
    assert idle_on and set(idle_on) == {threading.current_thread().name}  # the loop's (the test's)
    ledger.close()


def test_bound_to_a_loop_an_answer_waits_for_the_disk_while_the_next_batch_runs(tmp_path: Path, monkeypatch):
    """Syncing on the commit thread (where the kernel does not sync for the loop), a batch's COMMIT lets
    go of the write lock before the WAL is synced: the next batch runs its jobs meanwhile, but no caller
    is answered before the sync that makes its decision durable."""
    import asyncio

    from modelwise.ledger import sqlite as backend

    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    ledger.spent_by_tier(DAY)
    syncing, go = threading.Event(), threading.Event()
    synced: list[str] = []
    real = backend._BatchConnection.sync_wal

    def slow_sync(path):
        if not synced:  # the first batch's sync waits until the test lets it go
            syncing.set()
            assert go.wait(10)
        real(path)
        synced.append(path)

    monkeypatch.setattr(backend._BatchConnection, "sync_wal", slow_sync)
    ran: list[int] = []

    def make(i):
        def f(spent):
            ran.append(i)
            return decision(i, spent, 0.3)
        return f

    async def body(group, loop):
        first = asyncio.wrap_future(group.submit(ledger.admit_in_batch, DAY, None, make(1)))
        for _ in range(400):
            if syncing.is_set():
                break
            await asyncio.sleep(0.005)
        assert syncing.is_set(), "the first batch's WAL was not synced"
        second = asyncio.wrap_future(group.submit(ledger.admit_in_batch, DAY, None, make(2)))
        for _ in range(200):  # the second batch's jobs run while the first one's sync waits
            if ran == [1, 2]:
                break
            await asyncio.sleep(0.005)
        seen = (ran[:], first.done(), second.done())
        go.set()
        return seen, await first, await second

    (ran_then, first_done, second_done), first, second = _on_loop(ledger, body, thread_syncs=True)
    assert ran_then == [1, 2]  # the second batch ran before the first was on the disk
    assert not first_done and not second_done  # and nobody was answered before the sync
    assert first[0]["fits"] and second[0]["fits"] and len(synced) == 2
    assert ledger.spent_by_tier(DAY)["simple"] == pytest.approx(0.6)  # the second saw the first's spend
    ledger.close()


def test_bound_to_a_loop_with_nothing_else_in_flight_the_loop_commits_and_syncs_the_batch_itself(
    tmp_path: Path, monkeypatch
):
    """A server with one request in flight (`alone`) has its loop commit and sync that request's batch
    (no hand-over to the commit thread and back), the answer still after the WAL's sync and the idle
    work on the loop after it; with another request in flight the commit thread commits (where the
    kernel does not sync for the loop)."""
    import asyncio

    from modelwise.ledger import sqlite as backend

    ledger = SqliteLedger(str(tmp_path / "l.sqlite3"))
    ledger.spent_by_tier(DAY)
    events: list[tuple[str, str]] = []  # (what, on which thread)
    real_finish, real_sync = SqliteLedger.finish_batch, backend._BatchConnection.sync_wal

    def finish(self, started, released=None, rerun=True):
        events.append(("commit", threading.current_thread().name))
        return real_finish(self, started, released, rerun)

    def sync(conn):
        real_sync(conn)
        events.append(("synced", threading.current_thread().name))

    monkeypatch.setattr(SqliteLedger, "finish_batch", finish)
    monkeypatch.setattr(backend._BatchConnection, "sync_wal", sync)
    in_flight = [1]
    idle_on: list[str] = []
    group = GroupCommitter(ledger, idle=lambda: idle_on.append(threading.current_thread().name))

    def job(i):
        return functools.partial(ledger.admit_in_batch, DAY, None, lambda s: decision(i, s, 0.01))

    async def main():
        assert group.bind(asyncio.get_running_loop(), alone=lambda: in_flight[0] <= 1, thread_syncs=True)
        try:
            answered = []
            for i in range(3):  # alone: an admission, then its settlement (an unacknowledged write)
                fut = asyncio.wrap_future(group.submit(job(i)))
                answered.append((await asyncio.wait_for(fut, 5), list(events)))
                await asyncio.wait_for(asyncio.wrap_future(group.submit_unacknowledged(job(50 + i))), 5)
                for _ in range(200):  # its idle work, on the loop after it
                    if len(idle_on) > i:
                        break
                    await asyncio.sleep(0.005)
            alone_events = list(events)
            events.clear()
            in_flight[0] = 2  # another request in flight: the commit thread commits
            await asyncio.wait_for(asyncio.wrap_future(group.submit(job(99))), 5)
            return answered, alone_events, list(events)
        finally:
            await group.unbind()

    answered, alone_events, busy_events = asyncio.run(main())
    group.close()
    loop_thread = threading.current_thread().name
    assert all(answer[0]["fits"] for answer, _ in answered)
    # each admission's answer came after its batch was committed and synced, on the loop's thread
    for _, seen in answered:
        assert seen[-2:] == [("commit", loop_thread), ("synced", loop_thread)]
    assert {t for _, t in alone_events} == {loop_thread}
    assert len(idle_on) == 3 and set(idle_on) == {loop_thread}
    assert busy_events == [("commit", "modelwise-commit"), ("synced", "modelwise-commit")]
    assert ledger.count_decisions() == 7
    ledger.close()


def test_a_batch_the_loop_commits_alone_whose_file_was_replaced_runs_again_on_the_new_file(tmp_path: Path):
    """The loop's own commit (one request in flight) finds the file replaced since its batch started: the
    batch is rolled back there and runs again, whole, on the commit thread, on the file at the path now."""
    import asyncio
    import os

    path = str(tmp_path / "l.sqlite3")
    ledger = SqliteLedger(path)
    ledger.spent_by_tier(DAY)
    runs: list[str] = []
    group = GroupCommitter(ledger)

    def make(spent):
        runs.append(threading.current_thread().name)
        if len(runs) == 1:
            os.replace(path, path + ".old")  # moved away between the job and the loop's COMMIT
        return decision(1, spent)

    async def main():
        assert group.bind(asyncio.get_running_loop(), alone=lambda: True)
        try:
            fut = group.submit(lambda: ledger.admit_in_batch(DAY, None, make))
            return await asyncio.wait_for(asyncio.wrap_future(fut), 5)
        finally:
            await group.unbind()

    answer = asyncio.run(main())
    group.close()
    ledger.close()
    assert answer[0]["fits"]
    assert runs == [threading.current_thread().name, "modelwise-commit"]  # the loop's run, then the thread's
    fresh = SqliteLedger(path)
    assert fresh.decision("dec_000001") is not None  # in the file at the path
    fresh.close()
