"""Speed benchmark of parksim: prints figures, never fails on a time.

Measures, on the baseline scenario:

* one replication: median wall time over several seeds, start-up (building the pool and
  parks) and event loop separately;
* SimPy events processed per replication and events per second;
* the model's time per event against bare SimPy (processes doing nothing but timeouts) with
  the same number of events pending, measured in the same process;
* events per in-park firm-year, and the scaling exponent of one replication's time over
  1x, 3x and 10x the district's firms and parks;
* replications per second with 1 and 2 local workers (start-up of the pool included), and
  the speed-up of 2 over 1 (``speedup_local_2w``).

Usage::

    python benchmarks/run.py                 # full
    python benchmarks/run.py --quick         # a short version
    python benchmarks/run.py --json out.json # also write the figures as JSON

Machines are shared and noisy: read medians and ratios, not single times.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import parksim
from parksim.model import run_replication
from parksim.model.context import Context
from parksim.rng import Streams

ROOT = Path(__file__).resolve().parents[1]


def one_replication(scenario, seeds: int) -> dict:
    """Median time of one replication (start-up and event loop), and its event count."""
    setup, loop, events = [], [], []
    for i in range(seeds):
        seq = np.random.SeedSequence([2024, i])
        t0 = time.perf_counter()
        ctx = Context(scenario, Streams(seq))
        t1 = time.perf_counter()
        ctx.env.run(until=ctx.horizon)
        t2 = time.perf_counter()
        setup.append(t1 - t0)
        loop.append(t2 - t1)
        # the same replication again, stepped by hand, to count the events it processes
        ctx = Context(scenario, Streams(seq))
        env, n = ctx.env, 0
        while env.peek() < ctx.horizon:
            env.step()
            n += 1
        events.append(n)
    total = [a + b for a, b in zip(setup, loop, strict=True)]
    return {
        "replication_s": statistics.median(total),
        "replication_setup_s": statistics.median(setup),
        "replication_loop_s": statistics.median(loop),
        "events_per_replication": statistics.median(events),
        "events_per_s": statistics.median(e / lp for e, lp in zip(events, loop, strict=True)),
    }


def throughput(scenario, replications: int, workers: int, repeats: int) -> float:
    """Best replications per second over ``repeats`` batches, pool start-up included."""
    best = 0.0
    for r in range(repeats):
        t0 = time.perf_counter()
        parksim.simulate(scenario, replications=replications, seed=100 + r, workers=workers)
        best = max(best, replications / (time.perf_counter() - t0))
    return best


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
    stay = dict(zip(records.firm_id[entered].tolist(), (ctx.horizon - records.time_months[entered]).tolist(), strict=True))
    for firm, t in zip(records.firm_id[exited].tolist(), records.time_months[exited].tolist(), strict=True):
        stay[firm] -= ctx.horizon - t
    return float(np.mean(samples)) if samples else 0.0, sum(stay.values()) / 12.0


def scaled(scenario, factor: int):
    """The scenario with ``factor`` times the district firms, initial parks and park pipeline."""
    from parksim.scenario.loader import validate

    data = scenario.model_dump(mode="json")
    data["district"]["firms"] = scenario.district.firms * factor
    parks = data["parks"]
    parks["initial"] = [dict(p, name=f"{p['name']} x{k}") for k in range(factor) for p in parks["initial"]]
    parks["pipeline"]["proposals_per_year"] *= factor
    parks["pipeline"]["land_quota_mu_per_year"] *= factor
    data["policies"]["land"]["extra_land_quota_mu_per_year"] *= factor
    for lever in ("finance", "land", "tax", "services"):
        data["policies"][lever]["budget_cap_yuan_per_year"] *= factor
    return validate(data)


def scaling_exponent(scenario, factors=(1, 3, 10), seeds: int = 3) -> tuple[float, dict[int, float]]:
    """Slope of log(replication time) on log(size), one replication per seed at each size."""
    times = {}
    for f in factors:
        s = scaled(scenario, f)
        runs = []
        for i in range(seeds):
            t0 = time.perf_counter()
            run_replication(s, np.random.SeedSequence([7, i]))
            runs.append(time.perf_counter() - t0)
        times[f] = statistics.median(runs)
    slope = float(np.polyfit(np.log(list(times)), np.log(list(times.values())), 1)[0])
    return slope, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds and a smaller batch")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "baseline.toml"))
    args = parser.parse_args(argv)

    scenario = parksim.load_scenario(args.scenario)
    seeds, batch, repeats = (5, 100, 1) if args.quick else (15, 200, 3)
    figures: dict = {"scenario": scenario.name, "python": sys.version.split()[0], "platform": platform.platform()}
    figures.update(one_replication(scenario, seeds))
    pending, firm_years = pending_and_firm_years(scenario, np.random.SeedSequence([2024, 0]))
    bare = bare_simpy_seconds_per_event(max(int(pending), 1), 200_000)
    per_event = 1.0 / figures["events_per_s"]
    figures.update({
        "mean_pending_events": pending,
        "bare_simpy_us_per_event": bare * 1e6,
        "model_us_per_event": per_event * 1e6,
        "overhead_per_event_ratio": per_event / bare,
        "in_park_firm_years": firm_years,
        "events_per_firm_year": figures["events_per_replication"] / firm_years,
    })
    slope, times = scaling_exponent(scenario, seeds=2 if args.quick else 3)
    figures["scaling_exponent"] = slope
    figures["scaling_seconds"] = {str(k): v for k, v in times.items()}
    one = throughput(scenario, batch, 1, repeats)
    two = throughput(scenario, batch, 2, repeats)
    figures.update({
        "batch_replications": batch,
        "replications_per_s_1w": one,
        "replications_per_s_2w": two,
        "speedup_local_2w": two / one,
        "seconds_for_1000_replications_2w": 1000 / two,
    })

    rows = [
        ("one baseline replication (median)", f"{figures['replication_s'] * 1000:.1f} ms"),
        ("  of which start-up (pool, parks)", f"{figures['replication_setup_s'] * 1000:.1f} ms"),
        ("  of which event loop", f"{figures['replication_loop_s'] * 1000:.1f} ms"),
        ("SimPy events per replication", f"{figures['events_per_replication']:,.0f}"),
        ("events per second (event loop)", f"{figures['events_per_s']:,.0f}"),
        ("bare SimPy per event (same pending)", f"{figures['bare_simpy_us_per_event']:.2f} us"),
        ("model per event", f"{figures['model_us_per_event']:.2f} us"),
        ("overhead per event, model / bare SimPy", f"{figures['overhead_per_event_ratio']:.1f}x"),
        ("events per in-park firm-year", f"{figures['events_per_firm_year']:.2f}"),
        ("scaling exponent (1x, 3x, 10x firms and parks)", f"N^{figures['scaling_exponent']:.2f}"),
        (f"replications/s, 1 worker ({batch} reps)", f"{one:.1f}"),
        (f"replications/s, 2 workers ({batch} reps)", f"{two:.1f}"),
        ("speed-up, 2 workers over 1", f"{two / one:.2f}x"),
        ("1,000 replications on 2 workers", f"{1000 / two:.0f} s"),
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
