"""Sweeps: run every task of an experiment on an executor, streaming rows into a results store.

:func:`run_sweep` opens (or re-opens) the store, skips the tasks already finished, feeds the
rest to the executor in interleaved order (replication by replication across the design) and
hands each arriving chunk of rows to the store. A task that fails is recorded with its error
and the sweep goes on; the report says how many failed. Ctrl-C writes what has arrived and
stops; the next run picks up from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from parksim.results import library_versions, source_hash
from parksim.study.executors import Executor
from parksim.study.experiment import Plan
from parksim.study.store import SweepStore
from parksim.study.tasks import interleaved

__all__ = ["SweepReport", "run_sweep"]


@dataclass
class SweepReport:
    experiment: str
    results_dir: str
    executor: str
    tasks: int
    skipped: int
    run: int
    failed: int
    wall_time_s: float

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.skipped + self.run == self.tasks

    def as_dict(self) -> dict:
        out = asdict(self)
        out["tasks_per_s"] = self.run / self.wall_time_s if self.wall_time_s > 0 else None
        return out


def run_sweep(plan: Plan, path: str | Path, executor: Executor, rerun_failed: bool = False,
              progress: Callable[[int], None] | None = None, on_total: Callable[[int], None] | None = None,
              flush_rows: int = 500, flush_seconds: float = 5.0) -> SweepReport:
    """Run the tasks of ``plan`` not yet in the store at ``path``; rows stream to disk as they arrive.

    ``progress`` is called with the number of task rows that arrived; ``on_total`` once, with
    the number of tasks to run. A shard is written every ``flush_rows`` rows or
    ``flush_seconds`` seconds, whichever comes first.
    """
    exp = plan.experiment
    version, source = library_versions()["parksim"], source_hash()
    store = SweepStore(path, plan, plan.identity(version, source), flush_rows=flush_rows, flush_seconds=flush_seconds)
    try:
        ok, failed = store.finished()
        skip = ok if rerun_failed else ok | failed
        keys = [t.key for t in interleaved(plan.point_hashes, exp.replications, exp.seed, version, source)]
        skipped = sum(1 for k in keys if k in skip)
        still_failed = 0 if rerun_failed else sum(1 for k in keys if k in failed)
        todo = len(keys) - skipped
        del keys
        if on_total is not None:
            on_total(todo)
        started = time.perf_counter()
        tasks = (t for t in interleaved(plan.point_hashes, exp.replications, exp.seed, version, source) if t.key not in skip)
        run = new_failed = 0
        for rows in executor.run(plan.scenarios, exp.seed, tasks, exp.outputs, todo):
            store.add(rows)
            run += len(rows)
            new_failed += sum(1 for r in rows if r["status"] != "ok")
            if progress is not None:
                progress(len(rows))
        report = SweepReport(exp.name, str(path), executor.describe(), plan.tasks, skipped, run,
                             still_failed + new_failed, time.perf_counter() - started)
    except KeyboardInterrupt:
        store.close()
        raise
    except BaseException:
        store.abandon()
        raise
    store.close(report.as_dict())
    return report
