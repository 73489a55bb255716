"""Benchmark of the experiments layer: executors, speed-up, driver memory, GC tuning.

Prints figures, never fails on a time:

* tasks per second and overhead per task (wall time per task per worker minus the task's
  own compute time) for the local pool and for a Dask cluster, on tiny tasks;
* speed-up of 2 workers over 1 on a batch of baseline replications, for the local pool and
  for Dask (start-up included, best of three);
* the driver's peak memory over sweeps of 1,000 and 10,000 tiny tasks (flat means streaming);
* the effect of the garbage-collector tuning inside long-lived Dask workers.

The Dask cluster is started with Dask's own commands (``dask scheduler``, ``dask worker``)
on 127.0.0.1 and torn down at the end.

Usage::

    python benchmarks/study.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

import parksim
from parksim.execution.executors import DaskExecutor, LocalExecutor
from parksim.execution.tasks import interleaved, scenario_hash
from parksim.study.experiment import Plan
from parksim.study.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "district.firms=200",
    'calendar.horizon="2019-03"',
    'targets.date="2019-03"',
    "parks.pipeline.candidate_sites_per_year=0",
]


def _plan(scenario, points: int, replications: int, seed: int = 1) -> Plan:
    """A plan of ``points`` copies of one scenario (distinct names, so distinct task keys)."""
    from parksim.study.experiment import Design, Experiment, Factor

    scenarios = [
        scenario.model_copy(update={"name": f"{scenario.name}-{i}"}) for i in range(points)
    ]
    exp = Experiment(scenario="-", replications=replications, seed=seed, design=Design(kind="grid"),
                     factors=(Factor(path="name", values=tuple(s.name for s in scenarios)),))
    return Plan(Path(__file__), exp, scenario, [(s.name,) for s in scenarios], scenarios,
                [scenario_hash(s) for s in scenarios], [])


def _tasks_rate(executor, scenario, tasks: int) -> tuple[float, float]:
    """(tasks per second, overhead per task in ms) for ``tasks`` replications of ``scenario``."""
    hashes = [scenario_hash(scenario)]
    rows = []
    t0 = time.perf_counter()
    for chunk in executor.run(
        [scenario], 3, interleaved(hashes, tasks, 3, "b", "b"), ("targets",), tasks
    ):
        rows.extend(chunk)
    wall = time.perf_counter() - t0
    compute = statistics.fmean(r["seconds"] for r in rows)
    return tasks / wall, (wall * executor.workers / tasks - compute) * 1000


def _batch_rate(
    executor, scenario, replications: int, repeats: int, first_seed: int = 100
) -> float:
    """Best replications per second over ``repeats`` batches, seeds ``first_seed`` upwards."""
    best = 0.0
    hashes = [scenario_hash(scenario)]
    for seed in range(first_seed, first_seed + repeats):
        t0 = time.perf_counter()
        for _ in executor.run(
            [scenario],
            seed,
            interleaved(hashes, replications, seed, "b", "b"),
            ("targets",),
            replications,
        ):
            pass
        best = max(best, replications / (time.perf_counter() - t0))
    return best


class Cluster:
    """A Dask scheduler and workers on 127.0.0.1, started with Dask's own commands."""

    def __init__(self, workers: int):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs = [
            subprocess.Popen(
                [
                    "dask",
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-dashboard",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        ]
        # Dask's statistical profiler samples the worker thread's stack every 10 ms, holding
        # the GIL; for pure-Python tasks it costs tens of percent (the README recommends this).
        env = {**os.environ, "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
        for _ in range(workers):
            self.procs.append(
                subprocess.Popen(
                    [
                        "dask",
                        "worker",
                        self.address,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)

    def close(self) -> None:
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _dask_rates(scenario, tiny, batch: int, repeats: int, tiny_tasks: int) -> dict:
    out = {}
    for workers in (1, 2):
        cluster = Cluster(workers)
        try:
            ex = DaskExecutor(cluster.address)
            _batch_rate(ex, tiny, 20, 1)  # warm the workers
            if workers == 2:
                out["dask_tasks_per_s"], out["dask_overhead_ms_per_task"] = _tasks_rate(
                    ex, tiny, tiny_tasks
                )
            out[f"dask_rps_{workers}w"] = _batch_rate(ex, scenario, batch, repeats)
            ex.close()
        finally:
            cluster.close()
    out["speedup_dask_2w"] = out["dask_rps_2w"] / out["dask_rps_1w"]
    return out


def _gc_effect(scenario, replications: int) -> dict:
    """Mean task time in fresh Dask workers, with and without the GC tuning."""
    out = {}
    for tune in (False, True):
        cluster = Cluster(1)
        try:
            ex = DaskExecutor(cluster.address, tune_gc=tune)
            hashes = [scenario_hash(scenario)]
            rows = [
                r
                for chunk in ex.run(
                    [scenario],
                    5,
                    interleaved(hashes, replications, 5, "b", "b"),
                    ("targets",),
                    replications,
                )
                for r in chunk
            ]
            out["dask_task_ms_gc_tuned" if tune else "dask_task_ms_gc_default"] = (
                1000 * statistics.median(r["seconds"] for r in rows)
            )
            ex.close()
        finally:
            cluster.close()
    out["gc_tuning_speedup"] = out["dask_task_ms_gc_default"] / out["dask_task_ms_gc_tuned"]
    return out


def _driver_memory(tiny, tasks: int) -> float:
    """Peak resident memory of this (driver) process during a sweep of ``tasks`` tiny tasks, MiB."""
    plan = _plan(tiny, points=100, replications=tasks // 100)
    me = psutil.Process()
    peak = [me.memory_info().rss]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory() as tmp:
        run_sweep(plan, Path(tmp) / "sweep", LocalExecutor(2))
    done.set()
    thread.join()
    return peak[0] / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    scenario = parksim.load_scenario(ROOT / "scenarios" / "baseline.toml")
    tiny = parksim.load_scenario(ROOT / "scenarios" / "baseline.toml", overrides=TINY)
    batch, repeats, tiny_tasks = (100, 1, 400) if args.quick else (120, 3, 2000)

    fig: dict = {}
    local = LocalExecutor(2)
    fig["local_tasks_per_s"], fig["local_overhead_ms_per_task"] = _tasks_rate(
        local, tiny, tiny_tasks
    )
    fig["local_rps_1w"] = _batch_rate(LocalExecutor(1), scenario, batch, repeats)
    fig["local_rps_2w"] = _batch_rate(LocalExecutor(2), scenario, batch, repeats)
    fig["speedup_local_2w"] = fig["local_rps_2w"] / fig["local_rps_1w"]
    fig.update(_dask_rates(scenario, tiny, batch, repeats, tiny_tasks))
    fig.update(_gc_effect(scenario, 30 if args.quick else 60))
    base = psutil.Process().memory_info().rss / 2**20
    fig["driver_base_mb"] = base
    fig["driver_peak_mb_1000_tasks"] = _driver_memory(tiny, 1000)
    fig["driver_peak_mb_10000_tasks"] = _driver_memory(tiny, 10_000)

    rows = [
        ("local pool: tiny tasks per second (2 workers)", f"{fig['local_tasks_per_s']:.0f}"),
        ("local pool: overhead per task", f"{fig['local_overhead_ms_per_task']:.2f} ms"),
        ("Dask: tiny tasks per second (2 workers)", f"{fig['dask_tasks_per_s']:.0f}"),
        ("Dask: overhead per task", f"{fig['dask_overhead_ms_per_task']:.2f} ms"),
        (
            f"local: baseline replications/s, 1 -> 2 workers ({batch} reps)",
            f"{fig['local_rps_1w']:.1f} -> {fig['local_rps_2w']:.1f}",
        ),
        ("local: speed-up, 2 workers over 1", f"{fig['speedup_local_2w']:.2f}x"),
        (
            f"Dask: baseline replications/s, 1 -> 2 workers ({batch} reps)",
            f"{fig['dask_rps_1w']:.1f} -> {fig['dask_rps_2w']:.1f}",
        ),
        ("Dask: speed-up, 2 workers over 1", f"{fig['speedup_dask_2w']:.2f}x"),
        (
            "Dask worker: median task, GC default -> tuned",
            f"{fig['dask_task_ms_gc_default']:.1f} -> {fig['dask_task_ms_gc_tuned']:.1f} ms",
        ),
        (
            "driver peak memory: 1,000 / 10,000 tiny tasks",
            f"{fig['driver_peak_mb_1000_tasks']:.0f} / {fig['driver_peak_mb_10000_tasks']:.0f} MiB",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print("parksim experiments benchmark (medians and ratios; shared machines are noisy)")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>18}")
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
