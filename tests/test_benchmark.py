"""The benchmark's own bookkeeping, on a tiny scenario (it prints times; no test judges one).

``python benchmarks/run.py`` is a documented command, so its parts are run here on small
inputs: the per-seed overhead pairs count the events a replication processes, every event of
a run is put under a named kind (none left as "other"), and the scaled scenarios it fits the
exponent on really hold 3x and 10x the firms and parks.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from parksim.model.context import Context
from parksim.rng import Streams

REPO_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO_DIR / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(
            "parksim_benchmark_run", REPO_DIR / "benchmarks" / "run.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(REPO_DIR / "benchmarks"))


def _events(scenario, seed) -> int:
    ctx = Context(scenario, Streams(np.random.SeedSequence(seed)))
    n = 0
    while ctx.env.peek() < ctx.horizon:
        ctx.env.step()
        n += 1
    return n


def test_overhead_pairs_count_the_events_of_each_replication(bench, tiny_scenario):
    figures = bench.one_replication(tiny_scenario, 3, 5)
    counts = [_events(tiny_scenario, [2024, i]) for i in range(3)]
    assert figures["events_per_replication"] == sorted(counts)[1]
    assert figures["overhead_per_event_ratio"] > 0 and figures["bare_simpy_us_per_event"] > 0
    assert figures["replication_s"] >= figures["replication_loop_s"] > 0


def test_every_event_falls_under_a_named_kind(bench, tiny_scenario):
    costs = bench.event_costs(tiny_scenario, 2, 5)
    assert "other" not in costs
    assert {"applications", "half-yearly reports"} <= set(costs)
    counted = sum(c["events"] for c in costs.values())
    assert counted == pytest.approx(np.mean([_events(tiny_scenario, [2024, i]) for i in range(2)]))


def test_scaled_scenarios_hold_that_many_firms_and_parks(bench, tiny_scenario):
    for factor in (3, 10):
        scaled = bench.scaled(tiny_scenario, factor)
        assert scaled.district.firms == factor * tiny_scenario.district.firms
        assert len(scaled.parks.initial) == factor * len(tiny_scenario.parks.initial)
        assert (
            scaled.parks.pipeline.candidate_sites_per_year
            == factor * tiny_scenario.parks.pipeline.candidate_sites_per_year
        )
