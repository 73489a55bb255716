"""Sensitivity analysis: which unknowns and which levers move each target, and how much.

A sensitivity study is a sweep whose design was drawn for it: a Sobol/Saltelli sample for
variance-based indices, or Morris trajectories for screening many factors. Its factors are the
scenario's uncertain parameters (``prior = true``, or ``uncertain = "all"``: each is sampled
through its prior's quantiles) and the policy levers the experiment file names (by a range).
:func:`run_sensitivity` runs the sweep (resumable, on any executor) and :func:`analyse_sweep`
turns its rows into indices, per output: each target's value, each P(met) and P(all six met).

* Sobol (SALib ``analyze.sobol``): first-order ``S1`` and total ``ST`` indices with bootstrap
  95% intervals (``S1_conf``, ``ST_conf``), computed on the design's unit hypercube.
* Morris (SALib ``analyze.morris``): ``mu_star`` (mean absolute elementary effect, in the
  output's units per unit of the factor's quantile scale) with its bootstrap interval, ``mu``
  and ``sigma`` (spread: interactions or non-linearity).

Each point's output is the mean over its replications, so replication noise is part of what
the indices see. Per output the analysis reports ``noise_share``: the share of the variance of
the point means that replication noise accounts for (:func:`noise_share`: the point x
replication residual, since luck common to every point under common random numbers moves no
index); and it says when the indices cannot be trusted --
the leading factor's interval wider than its index, or noise at least :data:`NOISE_LIMIT` of
the variance -- so that a small design is never read as a ranking. A Sobol total index below
the noise share is flagged ``below_noise``: an inert factor's total index is about that much.
With one replication per point the noise is unknown, and a warning says so.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from parksim.execution.executors import Executor
from parksim.io import (
    ResultsDirError,
    atomic_write_bytes,
    atomic_write_table,
    fault_point,
    interrupted_leftovers,
    read_kind_table,
    read_manifest,
    write_manifest,
)
from parksim.provenance import library_versions, source_hash
from parksim.scenario.schema import TARGET_KEYS
from parksim.study.experiment import Plan
from parksim.study.store import SWEEP_KIND, load_sweep
from parksim.study.sweep import SweepReport, run_sweep

__all__ = ["SENSITIVITY_KIND", "Sensitivity", "analyse", "analyse_sweep", "run_sensitivity",
           "load_sensitivity", "outputs_by_point", "noise_share", "OUTPUTS", "sensitivity"]

SENSITIVITY_KIND = "sensitivity"
"""The manifest's ``kind`` of a sensitivity study's results directory."""

OUTPUTS = (*TARGET_KEYS, *(f"met_{k}" for k in TARGET_KEYS), "met_all")
"""What the indices are computed for: each target's value, each target met (the point's mean is
its P(met)), and all six met."""

RESAMPLES = 1000
NOISE_LIMIT = 0.2
"""Replication noise at or above this share of the variance of the point means makes an
output's indices untrusted: noise inflates every total index (an inert factor's ST is about
the noise share) and deflates the first-order ones."""


@dataclass
class Sensitivity:
    """A sensitivity study's indices (one row per output and factor) and its summary."""

    indices: pd.DataFrame
    summary: dict[str, Any]
    sweep: SweepReport | None = None
    warnings: list[str] = field(default_factory=list)


def outputs_by_point(rows: pd.DataFrame, thresholds: dict[str, float], points: int,
                     replications: int) -> dict[str, np.ndarray]:
    """Each output as a ``(points, replications)`` array, from a sweep's rows (one per task);
    ``ValueError`` if a task has no result (an analysis of part of a design would mislead)."""
    ok = rows[rows["status"] == "ok"]
    if len(ok) != points * replications:
        raise ValueError(f"{points * replications - len(ok)} of {points * replications} tasks "
                         "have no result: finish the sweep (run the same command again) first")
    ok = ok.sort_values(["point", "replication"])
    out: dict[str, np.ndarray] = {}
    met_all = np.ones(len(ok), dtype=bool)
    for key in TARGET_KEYS:
        values = ok[key].to_numpy(dtype=float)
        met = values >= thresholds[key]
        met_all &= met
        out[key] = values.reshape(points, replications)
        out[f"met_{key}"] = met.astype(float).reshape(points, replications)
    out["met_all"] = met_all.astype(float).reshape(points, replications)
    return out


def noise_share(matrix: np.ndarray) -> float:
    """The share of the variance of the point means that replication noise accounts for; NaN
    with one replication per point or point means that never vary.

    Every point runs replication ``r`` on the same random numbers (common random numbers), so
    the part of a replication's luck that is common to all points shifts every point mean
    alike and moves no index. Only the rest -- the point x replication residual of a two-way
    layout, ``y[p, r] - mean_p - mean_r + mean`` -- is noise between points: its variance over
    R, against the variance of the point means (at most 1).
    """
    points, r = matrix.shape
    if r < 2 or points < 2:
        return math.nan
    means = matrix.mean(axis=1)
    between = float(means.var(ddof=1))
    if between <= 0:
        return math.nan
    residual = matrix - means[:, None] - matrix.mean(axis=0)[None, :] + matrix.mean()
    noise = float((residual ** 2).sum()) / ((points - 1) * (r - 1))
    return min(noise / r / between, 1.0)


def analyse(outputs: dict[str, np.ndarray], problem: dict[str, Any], unit: np.ndarray,
            seed: int = 0, kinds: dict[str, str] | None = None) -> Sensitivity:
    """Indices of every output over the design ``unit`` (points x factors, on [0, 1]) of
    ``problem`` (:attr:`~parksim.study.experiment.Plan.problem`: ``names``, ``kind`` sobol or
    morris, ``second_order``, ``levels``). ``outputs`` holds, per output, a ``(points, R)``
    array of results. ``kinds`` says per factor whether it is a ``prior`` or a ``lever``."""
    from SALib.analyze import morris, sobol

    names = list(problem["names"])
    salib = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    method = problem["kind"]
    if method not in ("sobol", "morris"):
        raise ValueError(f"a {method} design has no sensitivity indices: use sobol or morris")
    rows, per_output, notes = [], [], []
    for output, matrix in outputs.items():
        y = matrix.mean(axis=1)
        noise = noise_share(matrix)
        constant = float(np.ptp(y)) == 0.0
        if constant:
            indices = {}
        elif method == "sobol":
            with warnings.catch_warnings():  # of near-constant outputs: the summary says so
                warnings.simplefilter("ignore", UserWarning)
                si = sobol.analyze(salib, y,
                                   calc_second_order=problem.get("second_order", False),
                                   num_resamples=RESAMPLES, seed=seed)
            indices = {k: si[k] for k in ("S1", "S1_conf", "ST", "ST_conf")}
        else:
            si = morris.analyze(salib, unit, y, num_resamples=RESAMPLES,
                                num_levels=problem.get("levels", 4), seed=seed)
            indices = {k: np.asarray(si[k], dtype=float)
                       for k in ("mu_star", "mu_star_conf", "mu", "sigma")}
        main = "ST" if method == "sobol" else "mu_star"
        for i, name in enumerate(names):
            row = {"output": output, "factor": name,
                   "factor_kind": (kinds or {}).get(name, "prior")}
            row.update({k: float(v[i]) for k, v in indices.items()})
            row["interval_wider_than_index"] = bool(indices) and bool(
                row[f"{main}_conf"] > abs(row[main]))
            row["below_noise"] = bool(indices) and method == "sobol" and \
                math.isfinite(noise) and bool(row["ST"] < noise)
            rows.append(row)
        order = (np.argsort(-np.nan_to_num(np.asarray(indices[main], dtype=float), nan=-1.0))
                 if indices else [])
        top = [{"factor": names[i], main: _num(indices[main][i]),
                f"{main}_conf": _num(indices[f"{main}_conf"][i])} for i in order[:3]]
        trusted = bool(top) and top[0][f"{main}_conf"] is not None and \
            top[0][f"{main}_conf"] < (top[0][main] or 0.0) and \
            not (math.isfinite(noise) and noise >= NOISE_LIMIT)
        if constant:
            notes.append(f"{output}: the same at every point of the design; no indices")
        elif matrix.shape[1] < 2:
            notes.append(f"{output}: one replication per point, so how much of the indices is "
                         "replication noise is unknown (a stochastic model needs two or more)")
        elif not trusted:
            why = (f"replication noise is {noise:.0%} of the variance of the point means, at "
                   f"least {NOISE_LIMIT:.0%}"
                   if math.isfinite(noise) and noise >= NOISE_LIMIT else
                   "the leading factor's interval is wider than its index")
            notes.append(f"{output}: the indices cannot be trusted ({why}): "
                            "a larger design or more replications per point")
        per_output.append({"output": output, "noise_share": _num(noise), "constant": constant,
                           "trusted": trusted, "top": top})
    indices = pd.DataFrame(rows)
    summary = {"method": method, "factors": names, "noise_limit": NOISE_LIMIT,
               "outputs": per_output, "warnings": notes}
    return Sensitivity(indices, summary, warnings=notes)


def _num(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def analyse_sweep(sweep_dir: str | Path, out: str | Path | None = None,
                  seed: int | None = None) -> Sensitivity:
    """Analyse a finished sweep directory whose design is a Sobol or Morris sample (its
    manifest stores the SALib problem and the targets' thresholds); with ``out``, write the
    study's results directory there (``indices`` table, ``summary.json``, manifest)."""
    sweep_dir = Path(sweep_dir)
    manifest = read_manifest(sweep_dir)
    if manifest.get("kind") != SWEEP_KIND:
        raise ValueError(f"{sweep_dir}: holds {manifest.get('kind')!r} results, not a sweep")
    problem = manifest.get("problem")
    if not problem or problem.get("kind") not in ("sobol", "morris"):
        raise ValueError(f"{sweep_dir}: a sweep of a {(problem or {}).get('kind', 'grid')} "
                         "design; sensitivity indices need a sobol or morris design")
    if "thresholds" not in manifest:
        raise ValueError(f"{sweep_dir}: its manifest has no targets' thresholds (written by an "
                         "older version): run the sweep again into a new directory")
    unit = pd.read_parquet(sweep_dir / "design.parquet").sort_values("point")
    unit = unit[problem["names"]].to_numpy(dtype=float)
    rows = load_sweep(sweep_dir)
    outputs = outputs_by_point(rows, manifest["thresholds"], manifest["points"],
                               manifest["replications"])
    result = analyse(outputs, problem, unit, seed=manifest["seed"] if seed is None else seed,
                     kinds=manifest.get("factor_kinds"))
    result.summary.update(experiment=manifest["experiment"], sweep=str(sweep_dir),
                          points=manifest["points"], replications=manifest["replications"],
                          tasks=manifest["tasks"], seed=manifest["seed"])
    if out is not None:
        check_output(Path(out), sweep=Path(out) == sweep_dir.parent)
        _write(Path(out), result, manifest)
    return result


STUDY_FILES = ("indices.parquet", "indices.csv", "summary.json")
"""What a sensitivity study writes beside its manifest (and its ``sweep/``)."""


def check_output(out: Path, sweep: bool = True) -> None:
    """``out`` may take a sensitivity study: it does not exist, is empty, holds a study already
    (written again), or only what an interrupted one leaves (with ``sweep``, its ``sweep/``;
    the analysis's files without the manifest); ``ResultsDirError`` for anything else, so no
    other results are overwritten."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ResultsDirError(f"{out}: output path is a file, expected a directory")
    if (out / "manifest.json").exists():
        kind = read_manifest(out).get("kind")
        if kind != SENSITIVITY_KIND:
            raise ResultsDirError(f"{out}: holds {kind!r} results, not a sensitivity study; "
                                  "use a new output directory")
        return
    if not interrupted_leftovers(out, (*STUDY_FILES, *(("sweep",) if sweep else ()))):
        raise ResultsDirError(f"{out}: output directory is not empty and holds no sensitivity "
                              "study")


def _write(out: Path, result: Sensitivity, sweep_manifest: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_table(result.indices, out / "indices.parquet")
    atomic_write_table(result.indices, out / "indices.csv")
    fault_point("sensitivity:indices")
    atomic_write_bytes(out / "summary.json", (json.dumps(
        result.summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode())
    manifest = {
        "kind": SENSITIVITY_KIND,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "experiment": sweep_manifest["experiment"],
        "method": result.summary["method"],
        "sweep": result.summary["sweep"],
        "sweep_identity": sweep_manifest["identity"],
        "package_version": library_versions()["parksim"],
        "source_sha256": source_hash(),
        "versions": library_versions(),
    }
    write_manifest(out, manifest, STUDY_FILES)


def run_sensitivity(plan: Plan, out: str | Path, executor: Executor, progress=None,
                    on_total=None) -> Sensitivity:
    """Run the sweep of ``plan`` into ``out/sweep`` (resumable: finished tasks are kept) and,
    when every task has a result, write the analysis into ``out``."""
    out = Path(out)
    if plan.problem is None or plan.problem["kind"] not in ("sobol", "morris"):
        raise ValueError(f"{plan.path}: sensitivity needs a sobol or morris design")
    check_output(out)
    report = run_sweep(plan, out / "sweep", executor, progress=progress, on_total=on_total)
    if not report.complete:
        return Sensitivity(pd.DataFrame(), {}, report,
                           [f"{report.failed} tasks failed: no indices until every task has a "
                            "result (run the same command again, with --rerun-failed)"])
    result = analyse_sweep(out / "sweep", out)
    result.sweep = report
    return result


def load_sensitivity(path: str | Path, meta: bool = False) -> pd.DataFrame:
    """A sensitivity study's indices: one row per output and factor (``meta`` is unused)."""
    return read_kind_table(path, SENSITIVITY_KIND, "a sensitivity study", "indices.parquet")


def sensitivity(experiment: str | Path, out: str | Path, workers: int | None = None,
                scheduler: str | None = None, fixed: bool = False) -> pd.DataFrame:
    """``parksim sensitivity EXPERIMENT -o OUT`` from Python: run (or resume) the study and
    return its indices, one row per output and factor (``RuntimeError`` if tasks failed)."""
    from parksim.execution.executors import make_executor
    from parksim.study.experiment import load_experiment

    plan = load_experiment(experiment, fixed=fixed)
    executor = make_executor(workers, scheduler)
    try:
        result = run_sensitivity(plan, out, executor)
    finally:
        executor.close()
    if result.sweep is not None and not result.sweep.complete:
        raise RuntimeError(result.warnings[0])
    return result.indices
