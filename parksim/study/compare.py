"""Paired comparison of scenarios on common random numbers.

Every scenario runs the same replications with the same seeds: replication ``r`` of each uses
:func:`~parksim.rng.replication_seed` and keyed streams, so the same firm meets the same luck in
every scenario and the difference between two scenarios is measured on matched pairs. Where the
scenarios declare priors, they run on the same parameter sets, and the intervals count the sets,
not the replications, as independent.

Per target, :func:`compare` gives each scenario's probability of meeting it (Wilson interval)
and the change in that probability against the first scenario (a paired interval:
:func:`~parksim.aggregate.probability_difference`); its median and the mean paired difference
of the target value with a t interval; the extra public cost per extra unit (the marginal
cost: yuan per extra upgrade, per extra tech firm, per extra firm in parks; never negative)
and, beside it, each scenario's average cost per unit. The public cost is the district's levers
plus capital outlays; the national statutory tax expenditure is reported beside it, not in it.
Beside the targets it pairs the channels the demonstration target is earned through (parks
with a service platform, with digital management, titles given and taken back:
:data:`~parksim.metrics.CHANNELS`), so a difference in demonstration parks can be traced to
them, and it lists the scenario keys whose values differ (:func:`differences`), so a reader
sees what was changed beside what it did. Undefined values -- the first scenario itself, or no
extra units (a difference whose 95% interval does not lie above zero) -- are ``None``, never
NaN or infinity. The figures are computed by :mod:`parksim.aggregate`; this module runs the
replications and assembles them.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w

from parksim.aggregate import (
    average_cost,
    cost_per_extra_unit,
    median,
    paired_difference,
    probability_difference,
    proportion,
)
from parksim.execution.executors import Executor
from parksim.execution.tasks import interleaved, scenario_hash
from parksim.io import (
    atomic_write_bytes,
    atomic_write_table,
    fault_point,
    prepare_results_dir,
    read_kind_table,
    write_manifest,
)
from parksim.metrics import CHANNELS
from parksim.provenance import library_versions, source_hash
from parksim.scenario.loader import check_parameter_sets
from parksim.scenario.priors import active, design
from parksim.scenario.schema import TARGET_KEYS, Scenario

__all__ = ["COMPARISON_KIND", "Comparison", "compare", "comparison_files", "differences",
           "write_comparison", "load_comparison"]

COMPARISON_KIND = "comparison"
"""The manifest's ``kind`` of a comparison's results directory (``parksim compare -o``)."""

COLUMNS = (*TARGET_KEYS, *CHANNELS, "fiscal_total_yuan", "capital_outlay_yuan",
           "tax_expenditure_yuan")
"""The per-replication values a comparison pairs."""


@dataclass
class Comparison:
    names: list[str]
    scenarios: list[Scenario]
    replications: int
    seed: int
    values: dict[str, dict[str, np.ndarray]]  # name -> column -> per-replication values
    parameter_sets: int = 0
    """K of the nested design over the scenarios' priors (0: the values as written)."""

    @classmethod
    def from_targets(cls, names: Sequence[str], scenarios: Sequence[Scenario],
                     targets: Sequence[pd.DataFrame], seed: int, parameter_sets: int = 0
                     ) -> Comparison:
        """The comparison of forecasts run on common random numbers: their ``targets`` tables
        (one row per replication, as :class:`~parksim.forecast.Forecast` holds them), which
        pair row by row when the forecasts ran the same replications on the same seed and
        parameter sets, as :func:`compare` runs them."""
        lengths = {len(t) for t in targets}
        if len(lengths) != 1:
            raise ValueError(f"forecasts of different lengths ({sorted(lengths)} replications) "
                             "do not pair")
        first = targets[0]
        for t in targets[1:]:
            same = np.array_equal(t["replication"].to_numpy(), first["replication"].to_numpy())
            if same and t["parameter_set"].nunique() > 1 and first["parameter_set"].nunique() > 1:
                # both drew parameter sets (a scenario without priors draws none)
                same = np.array_equal(t["parameter_set"].to_numpy(),
                                      first["parameter_set"].to_numpy())
            if not same:
                raise ValueError("the forecasts' replications or parameter sets differ row by "
                                 "row: they do not pair")
        values = {n: {c: t[c].to_numpy(dtype=float) for c in COLUMNS}
                  for n, t in zip(names, targets, strict=True)}
        return cls(list(names), list(scenarios), lengths.pop(), seed, values, parameter_sets)

    @property
    def sets(self) -> np.ndarray | None:
        """Each replication's parameter set, or None for a comparison at the written values."""
        if not self.parameter_sets:
            return None
        return np.arange(self.replications) // (self.replications // self.parameter_sets)

    def summary(self) -> dict[str, Any]:
        """The comparison as one JSON-ready object (the ``--json`` output); the figures come
        from :mod:`parksim.aggregate`, undefined ones are ``None``."""
        first = self.names[0]
        base = self.values[first]
        sets = self.sets
        out_targets = []
        for key in TARGET_KEYS:
            base_met = base[key] >= float(getattr(self.scenarios[0].targets, key))
            for name, scenario in zip(self.names, self.scenarios, strict=True):
                v = self.values[name][key]
                threshold = float(getattr(scenario.targets, key))
                probability, lo, hi = proportion(v >= threshold, sets)
                change = (None, None, None) if name == first else probability_difference(
                    base_met, v >= threshold, sets, seed=self.seed)
                row = {
                    "key": key,
                    "scenario": name,
                    "threshold": threshold,
                    "probability": probability,
                    "ci_low": lo,
                    "ci_high": hi,
                    "probability_diff": change[0],
                    "probability_diff_ci_low": change[1],
                    "probability_diff_ci_high": change[2],
                    "median": median(v),
                    "diff": None,
                    "diff_ci_low": None,
                    "diff_ci_high": None,
                    "cost_per_extra_yuan": None,
                    "extra_cost_yuan": None,
                    "average_cost_yuan": average_cost(self.values[name]["fiscal_total_yuan"], v),
                }
                if name != first:
                    diff, dlo, dhi = paired_difference(base[key], v, sets=sets)
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
            "fixed": not self.parameter_sets,
            "parameter_sets": self.parameter_sets or None,
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
            "differences": differences(self.scenarios, self.names),
        }

    def paired(self) -> pd.DataFrame:
        """The paired table: one row per scenario and replication (``scenario``,
        ``replication``, ``parameter_set`` or -1 at the written values), with each target,
        channel and cost; rows of the same replication are pairs."""
        sets = self.sets
        frames = []
        for name in self.names:
            frame = pd.DataFrame({"scenario": name,
                                  "replication": np.arange(self.replications),
                                  "parameter_set": sets if sets is not None
                                  else np.full(self.replications, -1)})
            for column, values in self.values[name].items():
                frame[column] = values
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def _channels(self) -> list[dict[str, Any]]:
        """What the demonstration target is earned through (:data:`CHANNELS`), per scenario:
        the mean per replication, and its paired difference against the first scenario."""
        first = self.names[0]
        rows = []
        for key in CHANNELS:
            for name in self.names:
                v = self.values[name][key]
                diff = (None, None, None) if name == first else paired_difference(
                    self.values[first][key], v, sets=self.sets)
                rows.append({k: _finite(x) for k, x in {
                    "key": key, "scenario": name, "mean": float(np.mean(v)),
                    "diff": diff[0], "diff_ci_low": diff[1], "diff_ci_high": diff[2],
                }.items()})
        return rows


def differences(scenarios: Sequence[Scenario], names: Sequence[str]) -> list[dict[str, Any]]:
    """The scenario keys whose values differ between the compared scenarios (their names,
    descriptions and ``[run]`` tables aside: every scenario runs the same replications), in
    the order of the first scenario's keys: ``{"key": path, "values": {name: value}}``, a
    value ``None`` where a scenario lacks the key. Tables are followed key by key and arrays
    of tables item by item (``parks.initial[3].firms``); other arrays are one value; a prior
    (``uncertain."path"``) is one value, a table."""
    flat = [_flatten(s.model_dump(mode="json")) for s in scenarios]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    out = []
    for key in keys:
        if key in ("name", "description") or key.startswith("run."):
            continue  # compare runs every scenario with the first's replications and seed
        values = [f.get(key) for f in flat]
        if any(v != values[0] for v in values[1:]):
            out.append({"key": key, "values": dict(zip(names, values, strict=True))})
    return out


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if prefix == "uncertain":  # a prior is one value, whole
        return {f'uncertain."{k}"': v for k, v in node.items()}
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            name = f'"{k}"' if "." in str(k) else str(k)
            out.update(_flatten(v, f"{prefix}.{name}" if prefix else name))
        return out
    if isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        out = {}
        for i, v in enumerate(node):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: node}


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def compare(scenarios: Sequence[Scenario], names: Sequence[str], replications: int, seed: int,
            executor: Executor, progress=None, parameter_sets: int | None = None,
            fixed: bool = False) -> Comparison:
    """Run every scenario's replications on common random numbers and pair them up.

    Where the scenarios declare priors, every scenario runs on the same parameter sets
    (:func:`~parksim.scenario.priors.design`; a prior one scenario fixes is simply not drawn
    there) and replication ``r`` of each on the same set and seed, so pairs stay pairs;
    ``fixed`` takes every parameter at its written value.
    """
    k, per_set = design(scenarios, replications, parameter_sets, fixed)
    if fixed:
        scenarios = [s.model_copy(update={"uncertain": {}}) for s in scenarios]
    for scenario in scenarios:
        if active(scenario.uncertain):
            check_parameter_sets(scenario, seed, k)
    hashes = [scenario_hash(s) for s in scenarios]
    version, source = library_versions()["parksim"], source_hash()
    per_point = [per_set if active(s.uncertain) else 0 for s in scenarios]
    tasks = list(interleaved(hashes, replications, seed, version, source, per_point))
    values = {n: {c: np.full(replications, np.nan) for c in COLUMNS} for n in names}
    failed = 0
    for rows in executor.run(list(scenarios), seed, tasks, ("targets", "fiscal"), len(tasks)):
        for row in rows:
            if row["status"] != "ok":
                failed += 1
                continue
            name = names[row["point"]]
            for c in COLUMNS:
                values[name][c][row["replication"]] = row[c]
        if progress is not None:
            progress(len(rows))
    if failed:
        raise RuntimeError(
            f"{failed} of {len(tasks)} replications failed; the comparison would not be paired"
        )
    return Comparison(list(names), list(scenarios), replications, seed, values, k)


COMPARISON_FILES = ("manifest.json", "summary.json", "paired.parquet", "paired.csv",
                    "report.html", "forecasts")
"""What any comparison writes in its directory, besides its ``scenario_N.toml`` files."""


def comparison_files(count: int) -> tuple[str, ...]:
    """What a comparison of ``count`` scenarios writes in its directory: all of it but the
    manifest is what an interrupted one may leave, and the same command writes over it."""
    return (*COMPARISON_FILES, *(f"scenario_{i}.toml" for i in range(1, count + 1)))


def write_comparison(result: Comparison, path: str | Path, summary: dict[str, Any],
                     force: bool = False, sources: Sequence[dict[str, str]] = (),
                     command: list[str] | None = None,
                     before_manifest: Callable[[Path], dict[str, Any]] | None = None) -> Path:
    """Write a comparison's results directory (claimed by the caller): ``summary.json`` (what
    ``--json`` prints), the paired table (``paired.parquet`` and ``.csv``: :meth:`Comparison.
    paired`), each scenario as run (``scenario_1.toml``, ...; priors dropped for a ``--fixed``
    comparison) and the manifest, last. ``before_manifest`` writes more into the directory
    just before the manifest (each scenario's forecast, for ``compare --report``) and gives
    the fields the manifest names them by."""
    path = prepare_results_dir(path, force, leftovers=comparison_files(len(result.names)))
    fault_point("comparison:writing")
    path.mkdir(parents=True, exist_ok=True)
    # an overwritten directory: its manifest goes first, so a failure leaves no valid-looking
    # mixture of old and new files, then every file of an earlier comparison
    for old in (*COMPARISON_FILES, *(f.name for f in path.glob("scenario_*.toml"))):
        if old == "forecasts":  # written by compare --report
            shutil.rmtree(path / old, ignore_errors=True)
        else:
            (path / old).unlink(missing_ok=True)
    atomic_write_bytes(path / "summary.json", (json.dumps(
        summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode())
    paired = result.paired()
    atomic_write_table(paired, path / "paired.parquet")
    atomic_write_table(paired, path / "paired.csv")
    fault_point("comparison:paired")
    files = ["summary.json", "paired.parquet", "paired.csv"]
    listed = []
    for i, (name, scenario) in enumerate(zip(result.names, result.scenarios, strict=True), 1):
        resolved = scenario.model_dump(mode="json", exclude_none=True)
        resolved["run"] = {"replications": result.replications, "seed": result.seed}
        if result.parameter_sets:
            resolved["run"]["parameter_sets"] = result.parameter_sets
        else:
            resolved["uncertain"] = {}  # a --fixed comparison ran the written values
        file = f"scenario_{i}.toml"
        atomic_write_bytes(path / file, tomli_w.dumps(resolved).encode())
        files.append(file)
        listed.append({"name": name, "file": file})
    extra = before_manifest(path) if before_manifest is not None else {}
    manifest = {
        **extra,
        "kind": COMPARISON_KIND,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "scenarios": listed, "scenario_files": list(sources), "command": command,
        "seed": result.seed, "replications": result.replications,
        "parameter_sets": result.parameter_sets or None,
        "package_version": library_versions()["parksim"], "source_sha256": source_hash(),
        "versions": library_versions(),
    }
    write_manifest(path, manifest, files)
    return path


def load_comparison(path: str | Path, meta: bool = False) -> pd.DataFrame:
    """A comparison's paired table (see :meth:`Comparison.paired`)."""
    return read_kind_table(path, COMPARISON_KIND, "a comparison", "paired.parquet")
