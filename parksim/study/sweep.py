"""Sweeps: run every task of an experiment on an executor, streaming rows into a results store.

:func:`run_sweep` opens (or re-opens) the store, skips the tasks already finished, feeds the rest to
the executor in interleaved order (replication by replication across the design) and hands each
arriving chunk of rows to the store. A task that fails is recorded with its error and the sweep goes
on; the report says how many failed. Results are never held in memory; the driver keeps the set of
task keys (a couple of hundred bytes per task). Ctrl-C writes what has arrived and stops; the next
run picks up from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from parksim.execution.executors import Executor
from parksim.execution.tasks import Task, interleaved
from parksim.provenance import library_versions, source_hash
from parksim.study.experiment import Plan
from parksim.study.store import SweepStore

__all__ = ["SweepReport", "run_sweep"]


@dataclass
class SweepReport:
    """How a sweep went: ``skipped`` tasks were not run again (``skipped_failed`` of them had
    failed before), ``run`` were run now, ``failed`` have no result (before or now)."""

    experiment: str
    results_dir: str
    executor: str
    tasks: int
    skipped: int
    skipped_failed: int
    run: int
    failed: int
    wall_time_s: float

    @property
    def complete(self) -> bool:
        """Every task of the design has a result (a report exists only once all were tried)."""
        return self.failed == 0


    def as_dict(self) -> dict:
        out = asdict(self)
        out["tasks_per_s"] = self.run / self.wall_time_s if self.wall_time_s > 0 else None
        return out


def _to_run(plan: Plan, version: str, source: str, skip: set[str]) -> Iterator[Task]:
    """The tasks still to run, interleaved; a task shared by repeated design points runs once."""
    seen: set[str] = set()
    exp = plan.experiment
    for task in interleaved(plan.point_hashes, exp.replications, exp.seed, version, source,
                            plan.per_set):
        if task.key not in skip and task.key not in seen:
            seen.add(task.key)
            yield task


def run_sweep(
    plan: Plan,
    path: str | Path,
    executor: Executor,
    rerun_failed: bool = False,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    flush_rows: int = 500,
    flush_seconds: float = 5.0,
) -> SweepReport:
    """Run the tasks of ``plan`` not yet in the store at ``path``; rows stream to disk as they
    arrive.

    ``progress`` is called with the number of task rows that arrived; ``on_total`` once, with
    the number of tasks to run. A shard is written every ``flush_rows`` rows or
    ``flush_seconds`` seconds, whichever comes first.
    """
    exp = plan.experiment
    version, source = library_versions()["parksim"], source_hash()
    store = SweepStore(
        path,
        plan,
        version,
        source,
        flush_rows=flush_rows,
        flush_seconds=flush_seconds,
    )
    try:
        ok, failed = store.finished()
        skip = ok if rerun_failed else ok | failed
        done_before = failed_before = 0
        for t in interleaved(plan.point_hashes, exp.replications, exp.seed, version, source,
                            plan.per_set):
            done_before += t.key in ok
            failed_before += (not rerun_failed) and t.key in failed
        todo = sum(1 for _ in _to_run(plan, version, source, skip))
        if on_total is not None:
            on_total(todo)
        started = time.perf_counter()
        run = 0
        for rows in executor.run(
            plan.scenarios, exp.seed, _to_run(plan, version, source, skip), exp.outputs, todo
        ):
            store.add(rows)
            run += len(rows)
            if progress is not None:
                progress(len(rows))
        store.flush()
        # failures counted per task of the design (repeated
        # points share a key), as the store holds them
        _, failed_now = store.finished()
        failed_total = sum(
            t.key in failed_now
            for t in interleaved(plan.point_hashes, exp.replications, exp.seed, version, source,
                            plan.per_set)
        )
        report = SweepReport(
            exp.name,
            str(path),
            executor.describe(),
            plan.tasks,
            done_before + failed_before,
            failed_before,
            run,
            failed_total,
            time.perf_counter() - started,
        )
    except OSError:
        store.abandon()  # a full disk, say: the buffered rows are computed again next time
        raise
    except BaseException:
        store.close()  # Ctrl-C, a lost scheduler, a failure: keep every row that arrived
        raise
    store.close(report.as_dict())
    return report
