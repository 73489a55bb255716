"""Speed benchmark of parksim: prints figures, never fails on a time.

Measures, on the baseline scenario:

* one replication: median wall time over several seeds, start-up (building the pool and
  parks) and event loop separately;
* SimPy events processed per replication and events per second;
* replications per second with 1 and 2 local workers (start-up of the pool included), and
  the speed-up of 2 over 1.

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
