"""Speed benchmark of parksim: prints figures, never fails on a time.

Measures, on the baseline scenario:

* one replication, run as :func:`~parksim.model.run_replication` runs it (the collector
  tuned): median wall time over several seeds, start-up (building the pool and parks), event
  loop and hand-back (records in time order, the parks' table) separately;
* SimPy events processed per replication and events per second;
* the model's time per event against bare SimPy (processes doing nothing but timeouts) with
  the same number of events pending, measured in the same process just before each seed's
  replication (the median of the per-seed ratios: the machine's speed drifts less within a
  pair than across a run);
* where the event loop's time goes: events of each kind (applications, firm failures, the
  half-yearly reports, the yearly grading, park building and land) per replication, and
  their mean time against bare SimPy's;
* events per in-park firm-year, and the scaling exponent of one replication's time over
  1x, 3x and 10x the district's firms and parks;
* the model against its vectorised numpy twin (:mod:`parksim.validation.twin`): a
  replication's median time over the twin's, on the same seeds (``twin_ratio``);
* replications per second with 1 and 2 local workers (start-up of the pool included), and
  the speed-up of 2 over 1 (``speedup_local_2w``);
* the same on a Dask cluster started with Dask's own commands on 127.0.0.1, as in
  ``benchmarks/study.py`` (workers warmed, profiler off; ``speedup_dask_2w``);
* full run only: one replication of ``scenarios/zhejiang_province.toml`` (~1,000 parks,
  570,000 firms, 60 months) in a fresh process, its wall time measured in that process and
  its peak resident memory read by this one (``province_seconds``, ``province_peak_mb``).

Usage::

    python benchmarks/run.py                 # full (a few minutes)
    python benchmarks/run.py --quick         # without the province (a minute or two)
    python benchmarks/run.py --json out.json # also write the figures as JSON

Machines are shared and noisy: read medians and ratios, not single times.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import parksim
from parksim.gc_tuning import collector_tuned
from parksim.model import run_replication
from parksim.model.context import Context, finish
from parksim.rng import Streams
from parksim.validation.twin import run_twin

ROOT = Path(__file__).resolve().parents[1]
PROVINCE = ROOT / "scenarios" / "zhejiang_province.toml"


def replication_peak_mb(scenario) -> float:
    """Peak memory (MiB) one replication allocates: Python objects, numpy arrays (tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    try:
        run_replication(scenario, np.random.SeedSequence([2024, 0]))
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def one_replication(scenario, seeds: int, pending: int) -> dict:
    """Median time of one replication (start-up, event loop, finish), its event count, and the
    loop's time per event against bare SimPy's with ``pending`` events pending.

    Each seed's replication runs the way :func:`~parksim.model.run_replication` runs it (the
    collector tuned), in its three phases timed apart. Just before it, bare SimPy's time per
    event is measured under the same conditions, so each seed gives one ratio of the two
    taken a moment apart; the median of those ratios is ``overhead_per_event_ratio``.
    """
    setup, loop, finishing, events, bare, ratios = [], [], [], [], [], []
    for i in range(seeds):
        seq = np.random.SeedSequence([2024, i])
        # the replication stepped by hand, untimed, to count the events it processes
        ctx = Context(scenario, Streams(seq))
        env, n = ctx.env, 0
        while env.peek() < ctx.horizon:
            env.step()
            n += 1
        events.append(n)
        del ctx, env
        with collector_tuned():
            bare.append(bare_simpy_seconds_per_event(pending, 20_000))
            t0 = time.perf_counter()
            ctx = Context(scenario, Streams(seq))
            t1 = time.perf_counter()
            ctx.env.run(until=ctx.horizon)
            t2 = time.perf_counter()
            finish(ctx)
            t3 = time.perf_counter()
        setup.append(t1 - t0)
        loop.append(t2 - t1)
        finishing.append(t3 - t2)
        ratios.append((t2 - t1) / n / bare[-1])
    total = [a + b + c for a, b, c in zip(setup, loop, finishing, strict=True)]
    return {
        "replication_s": statistics.median(total),
        "replication_setup_s": statistics.median(setup),
        "replication_loop_s": statistics.median(loop),
        "replication_finish_s": statistics.median(finishing),
        "events_per_replication": statistics.median(events),
        "events_per_s": statistics.median(e / lp for e, lp in zip(events, loop, strict=True)),
        "bare_simpy_us_per_event": statistics.median(bare) * 1e6,
        "model_us_per_event": statistics.median(lp / e for e, lp in zip(events, loop, strict=True))
        * 1e6,
        "overhead_per_event_ratio": statistics.median(ratios),
    }


def event_costs(scenario, seeds: int, pending: int) -> dict[str, dict]:
    """Where the event loop's time goes: events of each kind per replication, and their mean
    time against bare SimPy's time per event with ``pending`` events pending, measured just
    before each seed's replication (as in :func:`one_replication`).

    Each step is timed on its own and its event classified by what it wakes: the applications
    chain, a firm's failure, or a process (the half-yearly reports, the yearly grading, park
    building and land). SimPy has no public accessor for its queue or a process's generator,
    hence private reads: a benchmark-only look. The cost of reading the clock twice, measured
    here, is taken off each step.
    """
    totals: dict[str, list] = {}
    clock = time.perf_counter
    reads = []
    for _ in range(20_000):
        t0 = clock()
        reads.append(clock() - t0)
    stamp = statistics.median(reads)
    for i in range(seeds):
        with collector_tuned():
            bare = bare_simpy_seconds_per_event(pending, 20_000)
            ctx = Context(scenario, Streams(np.random.SeedSequence([2024, i])))
            env, queue = ctx.env, ctx.env._queue
            while env.peek() < ctx.horizon:
                kind = _event_kind(queue[0][3])
                t0 = clock()
                env.step()
                spent = clock() - t0 - stamp
                entry = totals.setdefault(kind, [0, 0.0, 0.0])
                entry[0] += 1
                entry[1] += spent
                entry[2] += spent / bare
    return {
        kind: {"events": n / seeds, "us_per_event": s / n * 1e6, "x_bare": x / n}
        for kind, (n, s, x) in sorted(totals.items(), key=lambda kv: -kv[1][1])
    }


_PROCESS_KINDS = {"reporting": "half-yearly reports", "annual_grading": "yearly grading",
                  "platform_building": "platform decisions"}


def _event_kind(event) -> str:
    if type(event).__name__ == "Process":  # a process has returned: nothing waits for it
        return "processes ending"
    for callback in event.callbacks or ():
        if isinstance(callback, functools.partial):
            if callback.func.__module__ == "parksim.model.platforms":
                return "platforms working"
            owner = getattr(callback.func, "__self__", None)
            return "firms moving in" if type(owner).__name__ == "Applications" else "firm failures"
        owner = getattr(callback, "__self__", None)
        if type(owner).__name__ == "Applications":
            return "applications"
        if type(owner).__name__ == "Process":
            return _PROCESS_KINDS.get(owner._generator.__name__, "parks and land")
    return "other"


def twin_seconds(scenario, seeds: int) -> float:
    """Median time of one run of the vectorised twin, on the seeds of :func:`one_replication`."""
    times = []
    for i in range(seeds):
        seq = np.random.SeedSequence([2024, i])
        t0 = time.perf_counter()
        run_twin(scenario, seq)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def throughput(scenario, replications: int, repeats: int) -> dict[int, float]:
    """Best replications per second with 1 and with 2 local workers, pool start-up included.

    Batches alternate between 1 and 2 workers (1, 2, 1, 2, ...), so a shared machine's drift
    in speed falls on both alike rather than on whichever ran last.
    """
    best = {1: 0.0, 2: 0.0}
    for r in range(repeats):
        for workers in (1, 2):
            t0 = time.perf_counter()
            parksim.simulate(scenario, replications=replications, seed=100 + r, workers=workers)
            best[workers] = max(best[workers], replications / (time.perf_counter() - t0))
    return best


def dask_throughput(scenario_path: str, scenario, replications: int,
                    repeats: int) -> dict[int, float]:
    """Best replications per second on a Dask cluster of 1 and of 2 workers.

    Both clusters are up at once (an idle one costs next to nothing) and the timed batches
    alternate between them, as in :func:`throughput`. The clusters, the warm-up and the timed
    batches are those of ``benchmarks/study.py``; each timed batch includes its own
    submission and scheduling.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from study import TINY, Cluster, _batch_rate

    from parksim.execution.executors import DaskExecutor

    tiny = parksim.load_scenario(scenario_path, overrides=TINY)
    clusters, executors = {}, {}
    try:
        for workers in (1, 2):
            clusters[workers] = Cluster(workers)
            executors[workers] = DaskExecutor(clusters[workers].address)
            _batch_rate(executors[workers], tiny, 20, 1)  # warm the workers: imports, first tasks
        best = {1: 0.0, 2: 0.0}
        for r in range(repeats):
            for workers in (1, 2):
                best[workers] = max(
                    best[workers],
                    _batch_rate(executors[workers], scenario, replications, 1, 100 + r),
                )
        return best
    finally:
        for executor in executors.values():
            executor.close()
        for cluster in clusters.values():
            cluster.close()


PROVINCE_CHILD = """
import json, sys, time
import numpy as np
import parksim
from parksim.model import run_replication
from parksim.records import Kind

scenario = parksim.load_scenario(sys.argv[1])
t0 = time.perf_counter()
out = run_replication(scenario, np.random.SeedSequence([2024, 0]))
seconds = time.perf_counter() - t0
records = out.records
entered = records.of(Kind.FIRM_ENTERED)
print(json.dumps({
    "province_seconds": seconds,
    "province_records": len(records),
    "province_firms_entered": int(entered.sum()),
    "province_firms_seated_at_start": int((entered & (records.time_months == 0)).sum()),
    "province_parks": len(out.parks["park_id"]),
}))
"""


def province(path: Path, timeout_s: float) -> dict:
    """One replication of the province scenario in a fresh process: time, size, peak memory.

    The wall time is measured inside the child, around ``run_replication`` alone. The peak
    resident memory is the largest of this process's finished children
    (``RUSAGE_CHILDREN``), so run it before any other child (pools, Dask) is started.
    """
    scenario = parksim.load_scenario(path)
    figures = {
        "province_initial_parks": len(scenario.parks.initial),
        "province_district_firms": scenario.district.firms,
        "province_months": scenario.horizon_months,
    }
    command = [sys.executable, "-c", PROVINCE_CHILD, str(path)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:  # the child is killed and reaped: its peak still counts
        figures.update(province_seconds=None, province_timed_out_after_s=timeout_s)
    else:
        if proc.returncode != 0:
            raise RuntimeError(f"the province replication failed:\n{proc.stderr}")
        figures.update(json.loads(proc.stdout.splitlines()[-1]))
    figures["province_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return figures


def bare_simpy_seconds_per_event(processes: int, events: int) -> float:
    """Time per event of bare SimPy: ``processes`` processes doing nothing but timeouts."""
    import simpy

    env = simpy.Environment()
    rng = np.random.default_rng(0)
    delays = rng.exponential(6.0, size=4096).tolist()

    def idle(env, k):
        i = k
        while True:
            yield env.timeout(delays[i % 4096])
            i += 7

    for k in range(processes):
        env.process(idle(env, k))
    for _ in range(processes * 2):  # start every process and settle
        env.step()
    t0 = time.perf_counter()
    for _ in range(events):
        env.step()
    return (time.perf_counter() - t0) / events


def pending_and_firm_years(scenario, seed) -> tuple[float, float]:
    """(mean events pending, in-park firm-years) of one replication, stepped by hand, untimed.

    SimPy has no public accessor for its queue, hence the private attribute: a benchmark-only read.
    """
    from parksim.records import Kind

    ctx = Context(scenario, Streams(seed))
    env, samples, pick = ctx.env, [], np.random.default_rng(1)
    while env.peek() < ctx.horizon:
        env.step()
        if pick.random() < 0.05:
            samples.append(len(env._queue))
    records = ctx.records.freeze()
    entered = records.kind == Kind.FIRM_ENTERED
    exited = records.kind == Kind.FIRM_EXITED
    stay = dict(
        zip(
            records.firm_id[entered].tolist(),
            (ctx.horizon - records.time_months[entered]).tolist(),
            strict=True,
        )
    )
    for firm, t in zip(
        records.firm_id[exited].tolist(), records.time_months[exited].tolist(), strict=True
    ):
        stay[firm] -= ctx.horizon - t
    return float(np.mean(samples)) if samples else 0.0, sum(stay.values()) / 12.0


def scaled(scenario, factor: int):
    """The scenario with ``factor`` times the district firms, initial parks and park pipeline."""
    from parksim.scenario.loader import validate

    data = scenario.model_dump(mode="json")
    data["district"]["firms"] = scenario.district.firms * factor
    parks = data["parks"]
    parks["initial"] = [
        dict(p, name=f"{p['name']} x{k}") for k in range(factor) for p in parks["initial"]
    ]
    parks["pipeline"]["candidate_sites_per_year"] *= factor
    parks["pipeline"]["government_budget_yuan_per_year"] *= factor
    parks["pipeline"]["land_quota_mu_per_year"] *= factor
    data["policies"]["land"]["extra_land_quota_mu_per_year"] *= factor
    for lever in ("finance", "land", "tax", "services"):
        data["policies"][lever]["budget_cap_yuan_per_year"] *= factor
    return validate(data)


def scaling_exponent(
    scenario, factors=(1, 3, 10), seeds: int = 3
) -> tuple[float, dict[int, float]]:
    """Slope of log(replication time) on log(size), the median of ``seeds`` replications at
    each size. Sizes take turns within each seed (1x, 3x, 10x, 1x, ...), so a shared machine's
    drift in speed falls on every size alike rather than bending the slope."""
    runs: dict[int, list[float]] = {f: [] for f in factors}
    sized = {f: scaled(scenario, f) for f in factors}
    for i in range(seeds):
        for f in factors:
            t0 = time.perf_counter()
            run_replication(sized[f], np.random.SeedSequence([7, i]))
            runs[f].append(time.perf_counter() - t0)
    times = {f: statistics.median(r) for f, r in runs.items()}
    slope = float(np.polyfit(np.log(list(times)), np.log(list(times.values())), 1)[0])
    return slope, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds and a smaller batch")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "baseline.toml"))
    parser.add_argument("--province-timeout", type=float, default=3600.0, metavar="SECONDS",
                        help="give up the province replication after this long (full run only)")
    args = parser.parse_args(argv)

    scenario = parksim.load_scenario(args.scenario)
    seeds, batch, repeats = (5, 100, 1) if args.quick else (15, 200, 3)
    figures: dict = {
        "scenario": scenario.name,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    if not args.quick:  # first: its peak memory is read over all finished children
        figures.update(province(PROVINCE, args.province_timeout))
    pending, firm_years = pending_and_firm_years(scenario, np.random.SeedSequence([2024, 0]))
    figures.update(one_replication(scenario, seeds, max(int(round(pending)), 1)))
    figures.update({
        "mean_pending_events": pending,
        "in_park_firm_years": firm_years,
        "events_per_firm_year": figures["events_per_replication"] / firm_years,
    })
    figures["event_costs"] = event_costs(scenario, seeds, max(int(round(pending)), 1))
    figures["replication_peak_mb"] = replication_peak_mb(scenario)
    figures["twin_s"] = twin_seconds(scenario, seeds)
    figures["twin_ratio"] = figures["replication_s"] / figures["twin_s"]
    slope, times = scaling_exponent(scenario, seeds=3 if args.quick else 5)
    figures["scaling_exponent"] = slope
    figures["scaling_seconds"] = {str(k): v for k, v in times.items()}
    rates = throughput(scenario, batch, repeats)
    one, two = rates[1], rates[2]
    figures.update({
        "batch_replications": batch,
        "replications_per_s_1w": one,
        "replications_per_s_2w": two,
        "speedup_local_2w": two / one,
        "seconds_for_1000_replications_2w": 1000 / two,
    })
    dask = dask_throughput(args.scenario, scenario, batch, repeats)
    figures.update({
        "replications_per_s_dask_1w": dask[1],
        "replications_per_s_dask_2w": dask[2],
        "speedup_dask_2w": dask[2] / dask[1],
    })

    rows = [
        ("one baseline replication (median)", f"{figures['replication_s'] * 1000:.1f} ms"),
        ("  of which start-up (pool, parks)", f"{figures['replication_setup_s'] * 1000:.1f} ms"),
        ("  of which event loop", f"{figures['replication_loop_s'] * 1000:.1f} ms"),
        (
            "  of which records and parks handed back",
            f"{figures['replication_finish_s'] * 1000:.1f} ms",
        ),
        ("  peak memory allocated (tracemalloc)", f"{figures['replication_peak_mb']:.1f} MiB"),
        ("SimPy events per replication", f"{figures['events_per_replication']:,.0f}"),
        ("events per second (event loop)", f"{figures['events_per_s']:,.0f}"),
        ("bare SimPy per event (same pending)", f"{figures['bare_simpy_us_per_event']:.2f} us"),
        ("model per event", f"{figures['model_us_per_event']:.2f} us"),
        ("overhead per event, model / bare SimPy", f"{figures['overhead_per_event_ratio']:.1f}x"),
        *(
            (
                f"  {kind} ({cost['events']:,.0f} events)",
                f"{cost['us_per_event']:.1f} us = {cost['x_bare']:.1f}x",
            )
            for kind, cost in figures["event_costs"].items()
        ),
        ("events per in-park firm-year", f"{figures['events_per_firm_year']:.2f}"),
        ("scaling exponent (1x, 3x, 10x firms and parks)", f"N^{figures['scaling_exponent']:.2f}"),
        ("vectorised twin, one run (median)", f"{figures['twin_s'] * 1000:.1f} ms"),
        ("model / twin, time per replication", f"{figures['twin_ratio']:.1f}x"),
        (f"replications/s, 1 worker ({batch} reps)", f"{one:.1f}"),
        (f"replications/s, 2 workers ({batch} reps)", f"{two:.1f}"),
        ("speed-up, 2 workers over 1", f"{two / one:.2f}x"),
        ("1,000 replications on 2 workers", f"{1000 / two:.0f} s"),
        (f"Dask replications/s, 1 -> 2 workers ({batch} reps)", f"{dask[1]:.1f} -> {dask[2]:.1f}"),
        ("Dask speed-up, 2 workers over 1", f"{figures['speedup_dask_2w']:.2f}x"),
    ]
    if "province_seconds" in figures:
        seconds = figures["province_seconds"]
        rows += [
            ("province: one replication (fresh process)",
             f"{seconds:.1f} s" if seconds is not None else f"> {args.province_timeout:.0f} s"),
            ("province: peak resident memory", f"{figures['province_peak_mb']:.0f} MiB"),
        ]
        if seconds is not None:
            rows += [
                ("province: event records", f"{figures['province_records']:,}"),
                (
                    "province: firms seated at the start",
                    f"{figures['province_firms_seated_at_start']:,}",
                ),
                ("province: firms entered in all", f"{figures['province_firms_entered']:,}"),
            ]
    width = max(len(r[0]) for r in rows)
    print(f"parksim benchmark -- {scenario.name}, Python {figures['python']}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>12}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
