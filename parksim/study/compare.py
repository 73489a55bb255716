"""Paired comparison of scenarios on common random numbers.

Every scenario runs the same replications with the same seeds: replication ``r`` of each
uses :func:`~parksim.rng.replication_seed` and keyed streams, so the same firm meets the same
luck in every scenario and the difference between two scenarios is measured on matched
pairs. Per target, :func:`compare` gives each scenario's probability of meeting it (Wilson
interval) and median, the mean paired difference of the target value against the first
scenario with a t interval, the extra public cost per extra unit (the marginal cost: yuan per
extra upgrade, per extra tech firm, per extra firm in parks; never negative) and, beside it,
each scenario's average cost per unit. The public cost is the district's levers plus capital
outlays; the national statutory tax expenditure is reported beside it, not in it. Beside the
targets it pairs the channels the demonstration target is earned through (parks with a
service platform, with digital management, titles given and taken back:
:data:`~parksim.metrics.CHANNELS`), so a difference in demonstration parks can be traced to
them. Undefined values -- the first scenario itself,
or no extra units (a difference whose 95% interval does not lie above zero) -- are ``None``,
never NaN or infinity. The figures are computed by :mod:`parksim.aggregate`; this module runs
the replications and assembles them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from parksim.aggregate import (
    average_cost,
    cost_per_extra_unit,
    median,
    paired_difference,
    proportion,
)
from parksim.execution.executors import Executor
from parksim.execution.tasks import interleaved, scenario_hash
from parksim.metrics import CHANNELS
from parksim.provenance import library_versions, source_hash
from parksim.scenario.schema import TARGET_KEYS, Scenario

__all__ = ["Comparison", "compare"]


@dataclass
class Comparison:
    names: list[str]
    scenarios: list[Scenario]
    replications: int
    seed: int
    values: dict[str, dict[str, np.ndarray]]  # name -> column -> per-replication values

    def summary(self) -> dict[str, Any]:
        """The comparison as one JSON-ready object (the ``--json`` output); the figures come
        from :mod:`parksim.aggregate`, undefined ones are ``None``."""
        first = self.names[0]
        base = self.values[first]
        out_targets = []
        for key in TARGET_KEYS:
            for name, scenario in zip(self.names, self.scenarios, strict=True):
                v = self.values[name][key]
                threshold = float(getattr(scenario.targets, key))
                probability, lo, hi = proportion(v >= threshold)
                row = {
                    "key": key,
                    "scenario": name,
                    "threshold": threshold,
                    "probability": probability,
                    "ci_low": lo,
                    "ci_high": hi,
                    "median": median(v),
                    "diff": None,
                    "diff_ci_low": None,
                    "diff_ci_high": None,
                    "cost_per_extra_yuan": None,
                    "extra_cost_yuan": None,
                    "average_cost_yuan": average_cost(self.values[name]["fiscal_total_yuan"], v),
                }
                if name != first:
                    diff, dlo, dhi = paired_difference(base[key], v)
                    row.update(
                        extra_cost_yuan=float(np.mean(self.values[name]["fiscal_total_yuan"])
                                              - np.mean(base["fiscal_total_yuan"])),
                        diff=diff,
                        diff_ci_low=dlo,
                        diff_ci_high=dhi,
                        cost_per_extra_yuan=cost_per_extra_unit(
                            base["fiscal_total_yuan"],
                            self.values[name]["fiscal_total_yuan"],
                            diff,
                            dlo,
                        ),
                    )
                out_targets.append({k: _finite(x) for k, x in row.items()})
        return {
            "scenarios": self.names,
            "replications": self.replications,
            "seed": self.seed,
            "fiscal_cost_yuan": {
                n: median(self.values[n]["fiscal_total_yuan"]) for n in self.names
            },
            "capital_outlay_yuan": {
                n: median(self.values[n]["capital_outlay_yuan"]) for n in self.names
            },
            "tax_expenditure_yuan": {
                n: median(self.values[n]["tax_expenditure_yuan"]) for n in self.names
            },
            "targets": out_targets,
            "channels": self._channels(),
        }

    def _channels(self) -> list[dict[str, Any]]:
        """What the demonstration target is earned through (:data:`CHANNELS`), per scenario:
        the mean per replication, and its paired difference against the first scenario."""
        first = self.names[0]
        rows = []
        for key in CHANNELS:
            for name in self.names:
                v = self.values[name][key]
                diff = (None, None, None) if name == first else paired_difference(
                    self.values[first][key], v)
                rows.append({k: _finite(x) for k, x in {
                    "key": key, "scenario": name, "mean": float(np.mean(v)),
                    "diff": diff[0], "diff_ci_low": diff[1], "diff_ci_high": diff[2],
                }.items()})
        return rows


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def compare(scenarios: Sequence[Scenario], names: Sequence[str], replications: int, seed: int,
            executor: Executor, progress=None) -> Comparison:
    """Run every scenario's replications on common random numbers and pair them up."""
    hashes = [scenario_hash(s) for s in scenarios]
    version, source = library_versions()["parksim"], source_hash()
    tasks = list(interleaved(hashes, replications, seed, version, source))
    columns = [*TARGET_KEYS, *CHANNELS, "fiscal_total_yuan", "capital_outlay_yuan",
               "tax_expenditure_yuan"]
    values = {n: {c: np.full(replications, np.nan) for c in columns} for n in names}
    failed = 0
    for rows in executor.run(list(scenarios), seed, tasks, ("targets", "fiscal"), len(tasks)):
        for row in rows:
            if row["status"] != "ok":
                failed += 1
                continue
            name = names[row["point"]]
            for c in columns:
                values[name][c][row["replication"]] = row[c]
        if progress is not None:
            progress(len(rows))
    if failed:
        raise RuntimeError(
            f"{failed} of {len(tasks)} replications failed; the comparison would not be paired"
        )
    return Comparison(list(names), list(scenarios), replications, seed, values)
