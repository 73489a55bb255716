"""Calibration: fit estimated parameters to observations by ABC-SMC, reproducibly.

A calibration file names a base scenario, the parameters to fit (each must have a continuous
prior there), the observations to fit them to -- the scenario's ``[[observations]]`` and the
file's own ``[[targets]]`` (facts about other districts are targets of a calibration, not
observations of the Fuyang scenarios) -- the replications per proposal, the population size
and the number of generations. :func:`run_calibration` runs ABC-SMC (pyabc) and writes the
posterior, its predictive checks and a calibrated scenario.

**Reproducible whatever the workers.** pyabc's own parallel samplers accept particles in the
order they finish, so their posteriors depend on timing. Here pyabc proposes on the unit cube
of the priors (uniform(0, 1) per parameter, mapped through the prior's quantile), and a sampler
of parksim's own (:class:`BatchSampler`) draws a batch of proposals in the driver (the numpy
random state saved first), evaluates the whole batch on parksim's executor -- local pool or
Dask -- with seeds drawn from the root seed by proposal number, restores the random state and
replays the batch through pyabc with the results, accepting in proposal order. The same seed
gives the same posterior with any number of workers.

**Distance.** Each summary statistic is an observation's simulated value, the mean over the
proposal's replications; the distance is the root mean square of (simulated − observed) /
scale, the scale being the observation's standard error, its interval's half-width / 1.645
(a 90% interval), or 10% of its value when it states no uncertainty. Epsilon is the median of
the previous generation's distances (pyabc's ``MedianEpsilon``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from parksim.execution.executors import Executor
from parksim.execution.tasks import Task
from parksim.io import (
    LOCK,
    ResultsDirError,
    atomic_write_bytes,
    atomic_write_table,
    lock_results_dir,
    read_kind_table,
    sha256_file,
    write_manifest,
)
from parksim.provenance import identity_of, library_versions, source_hash, what_changed
from parksim.scenario.loader import (
    Layer,
    ScenarioError,
    apply_file_overrides,
    check_priors,
    find_line,
    load_raw,
    read_toml,
    source_files,
    validate,
    validate_model,
)
from parksim.scenario.priors import Choice, Sample, active, quantile, realise, resolve, typed_like
from parksim.scenario.schema import Month, Observation, Scenario

__all__ = ["CalibrationFile", "CalibrationPlan", "Calibration", "BatchSampler",
           "load_calibration", "run_calibration", "load_calibration_results", "calibrate",
           "calibrated_scenario", "write_calibrated_scenario",
           "CALIBRATION_KIND", "distance_scales"]

CALIBRATION_KIND = "calibration"
"""The manifest's ``kind`` of a calibration's results directory."""

_STREAM = 1 << 40  # replication numbers of calibration runs start here (never a forecast's)
_TOP = 1.0 - 1e-9


class CalibrationFile(BaseModel):
    """A calibration file (TOML, in ``experiments/``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    name: str = Field("calibration", min_length=1, json_schema_extra={"unit": "text"},
                      description="short name")
    description: str = Field("", json_schema_extra={"unit": "text"}, description="what it fits")
    scenario: str = Field(min_length=1, json_schema_extra={"unit": "path"},
                          description="base scenario file, relative to the calibration file")
    overrides: tuple[str, ...] = Field((), json_schema_extra={"unit": "key=value"},
                                       description="scenario overrides applied first")
    parameters: tuple[str, ...] = Field(min_length=1, json_schema_extra={"unit": "key paths"},
                                        description="the parameters fitted (each with a "
                                        "continuous prior in the scenario)")
    replications: int = Field(2, ge=1, le=100, json_schema_extra={"unit": "replications"},
                              description="replications per proposal (summary: their mean)")
    seed: int = Field(ge=0, lt=2**63, json_schema_extra={"unit": "integer"},
                      description="root seed of proposals and replications")
    population: int = Field(ge=5, le=100_000, json_schema_extra={"unit": "particles"},
                            description="particles per generation")
    generations: int = Field(ge=1, le=50, json_schema_extra={"unit": "generations"},
                             description="ABC-SMC generations after the first")
    batch: int | None = Field(None, ge=1, le=100_000, json_schema_extra={"unit": "proposals"},
                              description="proposals evaluated together (default: population)")
    horizon: Month | None = Field(None, json_schema_extra={"unit": "YYYY-MM"},
                                  description="run the calibration to here (default: the last "
                                  "observation's month)")
    predictive: int = Field(50, ge=1, le=10_000, json_schema_extra={"unit": "draws"},
                            description="posterior draws for the predictive checks")
    targets: tuple[Observation, ...] = Field((), json_schema_extra={"unit": "list"},
                                             description="observations fitted beside the "
                                             "scenario's own (facts of other places)")


@dataclass(frozen=True)
class CalibrationPlan:
    """A loaded calibration: its file, the scenario it runs (observations and targets in it,
    cut at the horizon), the scenario it calibrates (as written) and the fitted priors."""

    path: Path
    file: CalibrationFile
    scenario_path: Path
    base: Scenario
    run: Scenario
    priors: dict[str, Any]
    sources: list[dict[str, str]]


def load_calibration(path: str | Path) -> CalibrationPlan:
    """Load and check a calibration file; ``ScenarioError`` naming file, line and key."""
    path = Path(path)
    data, text = read_toml(path)
    layer = Layer(path, data, text)
    calib: CalibrationFile = validate_model(CalibrationFile, data, [layer])
    scenario_path = path.parent / calib.scenario
    if not scenario_path.exists():
        raise ScenarioError(str(path), f"base scenario not found: {scenario_path}",
                            key="scenario", line=find_line(text, ("scenario",)))
    raw, layers = load_raw(scenario_path)
    base = validate(raw, layers)
    if calib.overrides:
        raw, base = apply_file_overrides(raw, layers, calib.overrides, path, text)
    check_priors(base, layers)
    priors = active(base.uncertain)
    for i, p in enumerate(calib.parameters):
        where = dict(key=f"parameters[{i}]", line=find_line(text, ("parameters",)))
        if p not in priors:
            raise ScenarioError(str(path), f"{p!r} has no prior in the base scenario", **where)
        if isinstance(priors[p], Choice | Sample) or "[" in p:
            raise ScenarioError(str(path), f"{p!r}: only a key outside arrays with a continuous "
                                "prior can be fitted", **where)
    observations = (*base.observations, *calib.targets)
    if not observations:
        raise ScenarioError(str(path), "nothing to fit: no observations in the scenario and no "
                            "[[targets]]", key="targets")
    def month(o: Observation) -> str:
        return o.date if o.date is not None else o.period.end

    horizon = calib.horizon or max(month(o) for o in observations)
    for i, o in enumerate(observations):
        if month(o) > horizon:
            own = i >= len(base.observations)
            where = (dict(key=f"targets[{i - len(base.observations)}]",
                          line=find_line(text, ("targets",))) if own
                     else dict(key="horizon", line=find_line(text, ("horizon",))))
            raise ScenarioError(str(path), f"the runs stop at {horizon}, before the "
                                f"{o.key} observed at {month(o)}"
                                + ("" if own else " (an observation of the scenario)")
                                + ": a calibration fits only what its runs reach", **where)
    dump = base.model_dump(mode="json")
    dump["calendar"]["horizon"] = horizon
    dump["targets"]["date"] = min(dump["targets"]["date"], horizon)
    dump["observations"] = [o.model_dump(mode="json") for o in observations]
    try:
        run = validate(dump)
    except ScenarioError as err:
        raise ScenarioError(str(path), f"the calibration runs are not a valid scenario: "
                            f"{err.key}: {err.message}", key="horizon") from None
    sources = source_files([layer, *layers])
    return CalibrationPlan(path, calib, scenario_path, base, run,
                           {p: priors[p] for p in calib.parameters}, sources)


def distance_scales(observations: Sequence[Observation]) -> np.ndarray:
    """Per observation, the scale its distance is measured in: its standard error, its
    interval's half-width / 1.645, or 10% of its value (at least 1e-9)."""
    out = []
    for o in observations:
        if o.se is not None:
            out.append(o.se)
        elif o.interval is not None:
            out.append((o.interval[1] - o.interval[0]) / 2 / 1.645)
        else:
            out.append(0.1 * abs(o.value))
    return np.maximum(np.asarray(out, dtype=float), 1e-9)


class BatchSampler:
    """A pyabc sampler that evaluates proposals in fixed batches on parksim's executor and
    accepts them in proposal order (see the module's docstring). Made by :func:`_sampler`, which
    subclasses pyabc's ``Sampler`` (pyabc is imported only when a calibration runs)."""


def _sampler(evaluate: Callable[[list[dict[str, float]]], list[dict[str, Any]]], batch: int,
             checkpoint: Callable[[str], None] | None = None):
    from pyabc.sampler import Sampler

    class _Batch(Sampler, BatchSampler):
        def __init__(self):
            super().__init__()
            self.mode = "record"
            self.recorded: list[dict[str, float]] = []
            self.results: list[dict[str, Any]] = []
            self.position = 0
            self.evaluations = 0

        def model(self, parameters) -> dict[str, Any]:
            if self.mode == "record":
                self.recorded.append({k: float(v) for k, v in parameters.items()})
                return self.placeholder
            proposal = {k: float(v) for k, v in parameters.items()}
            if proposal != self.recorded[self.position]:
                raise RuntimeError("pyabc proposed other parameters on replay than on record: "
                                   "the batch would be misassigned")
            out = self.results[self.position]
            self.position += 1
            return out

        def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf,
                                    all_accepted=False, ana_vars=None):
            if checkpoint is not None:
                checkpoint(f"start{t}")
            sample = self._create_empty_sample()
            evaluated = 0
            while sample.n_accepted < n and evaluated < max_eval:
                state = np.random.get_state()
                self.mode, self.recorded = "record", []
                for _ in range(batch):
                    simulate_one()
                np.random.set_state(state)
                self.results = evaluate(self.recorded)
                self.mode, self.position = "replay", 0
                for _ in range(batch):
                    sample.append(simulate_one())
                    evaluated += 1
                    if sample.n_accepted >= n:
                        break
            self.nr_evaluations_ = evaluated
            self.evaluations += evaluated
            if sample.n_accepted < n:
                sample.ok = False
            if checkpoint is not None:
                checkpoint(f"end{t}")
            return sample

    return _Batch()


@dataclass
class Calibration:
    """What a calibration gives: the posterior (one row per particle, the fitted parameters'
    values and ``weight``), each generation's epsilon, evaluations, acceptance and effective
    sample size, the predictive checks per observation, and the summary."""

    posterior: pd.DataFrame
    generations: pd.DataFrame
    predictive: pd.DataFrame
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _values(plan: CalibrationPlan, u: dict[str, float]) -> dict[str, Any]:
    """A unit-cube proposal as the parameters' values."""
    return {p: typed_like(resolve(plan.run, p), quantile(plan.priors[p],
                                                         min(max(u[p], 0.0), _TOP)))
            for p in plan.priors}


def _evaluator(plan: CalibrationPlan, executor: Executor, progress=None):
    """A function from a batch of unit-cube proposals to their summary statistics, and its
    proposal counter (``{"next": i}``): proposal ``i`` of the whole run uses replications
    ``_STREAM + i * R + j`` of the root seed."""
    calib = plan.file
    r = calib.replications
    counter = {"next": 0}
    n_obs = len(plan.run.observations)

    def evaluate(batch: list[dict[str, float]]) -> list[dict[str, Any]]:
        first = counter["next"]
        counter["next"] += len(batch)
        scenarios = [realise(plan.run, _values(plan, u)) for u in batch]
        tasks = [Task(f"{first + i}:{j}", i, _STREAM + (first + i) * r + j)
                 for i in range(len(batch)) for j in range(r)]
        sums = np.zeros((len(batch), n_obs))
        for rows in executor.run(scenarios, calib.seed, tasks, ("observed",), len(tasks)):
            for row in rows:
                if row["status"] != "ok":
                    raise RuntimeError(f"a calibration run failed: {row['error']}")
                sums[row["point"]] += [row[f"observed_{k}"] for k in range(n_obs)]
            if progress is not None:
                progress(len(rows))
        means = sums / r
        return [{f"s{k}": float(means[i, k]) for k in range(n_obs)} for i in range(len(batch))]

    return evaluate, counter


def run_calibration(plan: CalibrationPlan, out: str | Path, executor: Executor,
                    progress=None) -> Calibration:
    """Run ABC-SMC for ``plan`` and write its results directory ``out``.

    ``out`` is new or empty, or holds an unfinished (or finished) run of the same calibration:
    then it resumes after the last finished generation, and gives what one uninterrupted run
    would. Numpy's random state and the proposal counter are saved as each generation's sample
    ends (``out/checkpoints``); a resumed run loads pyabc's database, restores the state saved
    after the last finished generation and runs the rest. ``generations`` may be raised between
    runs (not the other settings). The directory is locked while the calibration runs: a second
    one in it is refused (``ResultsDirError``) before it touches anything.
    """
    out = Path(out)
    lock = lock_results_dir(out)
    try:
        return _calibrate(plan, out, executor, progress)
    finally:
        lock.release()


def _calibrate(plan: CalibrationPlan, out: Path, executor: Executor, progress) -> Calibration:
    """:func:`run_calibration` in its locked directory."""
    import pyabc

    logging.getLogger("ABC").setLevel(logging.WARNING)
    logging.getLogger("pyabc").setLevel(logging.WARNING)
    identity = _identity(plan)
    resume = _resumable(out, identity)
    (out / "checkpoints").mkdir(exist_ok=True)
    atomic_write_bytes(out / "calibration.json", json.dumps(identity).encode())
    calib = plan.file
    observations = plan.run.observations
    observed = {f"s{k}": float(o.value) for k, o in enumerate(observations)}
    scales = distance_scales(observations)

    def distance(x: dict[str, float], y: dict[str, float]) -> float:
        sim = np.array([x[f"s{k}"] for k in range(len(scales))])
        obs = np.array([y[f"s{k}"] for k in range(len(scales))])
        if not np.all(np.isfinite(sim)):
            return math.inf
        return float(np.sqrt(np.mean(((sim - obs) / scales) ** 2)))

    evaluate, counter = _evaluator(plan, executor, progress)

    def checkpoint(name: str) -> None:
        atomic_write_bytes(out / "checkpoints" / f"{name}.pickle",
                           pickle.dumps({"state": np.random.get_state(), "next": counter["next"]}))

    sampler = _sampler(evaluate, calib.batch or calib.population, checkpoint)
    sampler.placeholder = dict(observed)
    prior = pyabc.Distribution(**{_name(i): pyabc.RV("uniform", 0.0, 1.0)
                                  for i in range(len(plan.priors))})
    names = list(plan.priors)

    def model(parameters):
        return sampler.model({p: parameters[_name(i)] for i, p in enumerate(names)})

    abc = pyabc.ABCSMC(model, prior, distance, population_size=calib.population,
                       sampler=sampler, eps=pyabc.MedianEpsilon())
    database = f"sqlite:///{out / 'abc.db'}"
    done = int(pyabc.History(database).max_t) if resume else -2
    saved = out / "checkpoints" / f"end{done}.pickle"
    if resume and done >= 0 and saved.exists():
        # the state after the last finished generation's sampling: pyabc redoes what follows
        # it (fitting the transition, the next epsilon) when it loads the run
        abc.load(database, 1)
        state = pickle.loads(saved.read_bytes())
        np.random.set_state(state["state"])
        counter["next"] = state["next"]
        remaining = calib.generations - (done + 1)
    else:  # a new run, or one stopped before its first generation was stored: start again
        if resume:
            (out / "abc.db").unlink()
        np.random.seed(calib.seed % 2**32)
        abc.new(database, observed)
        remaining = calib.generations
    history = abc.run(max_nr_populations=remaining) if remaining > 0 else abc.history
    result = _collect(plan, history, names, executor, scales)
    _write(out, plan, result)
    return result


def _identity(plan: CalibrationPlan) -> dict[str, str]:
    """What a resumed run must share with the run it continues: the calibration file's settings
    but ``generations`` and ``predictive``, with the scenario files (``settings_sha256``), the
    package version and the source of the model and of the calibration itself (which maps
    proposals to parameters and seeds their runs); ``identity`` hashes the three."""
    settings = plan.file.model_dump(mode="json", exclude={"generations", "predictive"})
    parts = {
        "settings_sha256": hashlib.sha256(json.dumps(
            {"settings": settings, "sources": [s["sha256"] for s in plan.sources[1:]]},
            sort_keys=True).encode()).hexdigest(),
        "package_version": library_versions()["parksim"],
        "source_sha256": hashlib.sha256((source_hash() + sha256_file(Path(__file__))).encode()
                                        ).hexdigest(),
    }
    return {"identity": identity_of(parts), **parts}


def _resumable(out: Path, identity: dict[str, str]) -> bool:
    """Whether the (locked) directory ``out`` holds a run of this calibration to resume
    (``ResultsDirError`` if it holds anything else)."""
    if not any(p.name != LOCK for p in out.iterdir()):
        return False
    marker = out / "calibration.json"
    if not marker.exists() or not (out / "abc.db").exists():
        raise ResultsDirError(f"{out}: output directory is not empty and holds no calibration")
    try:
        recorded = json.loads(marker.read_text())
    except (ValueError, UnicodeDecodeError):
        recorded = None
    if not isinstance(recorded, dict):
        raise ResultsDirError(f"{marker}: damaged (not a JSON object); to start over, use a new "
                              f"output directory or delete {out}")
    if recorded.get("identity") != identity["identity"]:
        changed = what_changed(recorded, {k: v for k, v in identity.items() if k != "identity"},
                               {"settings_sha256": "the calibration (its settings or scenario "
                                "files)", "source_sha256": "the source of the model or of the "
                                "calibration"})
        raise ResultsDirError(f"{out}: holds a calibration that cannot be resumed: {changed}; "
                              f"to start over, use a new output directory or delete {out}")
    return True


def _name(i: int) -> str:
    return f"u{i}"


def _collect(plan: CalibrationPlan, history, names: list[str], executor: Executor,
             scales: np.ndarray) -> Calibration:
    calib = plan.file
    populations = history.get_all_populations()
    generations = []
    for _, row in populations[populations["t"] >= 0].iterrows():
        frame, weights = history.get_distribution(m=0, t=int(row["t"]))
        generations.append({"generation": int(row["t"]), "epsilon": float(row["epsilon"]),
                            "evaluations": int(row["samples"]),
                            "acceptance": float(row["particles"]) / float(row["samples"]),
                            "effective_sample_size": float(1.0 / np.sum(weights ** 2))})
    frame, weights = history.get_distribution(m=0)
    unit = {p: frame[_name(i)].to_numpy(dtype=float) for i, p in enumerate(names)}
    posterior = pd.DataFrame({p: [_values(plan, {q: unit[q][k] for q in names})[p]
                                  for k in range(len(weights))] for p in names})
    posterior["weight"] = np.asarray(weights, dtype=float) / np.sum(weights)
    summaries, notes = [], []
    for p in names:
        lo_u, med_u, hi_u = _weighted_quantiles(unit[p], posterior["weight"], (0.05, 0.5, 0.95))
        prior = plan.priors[p]
        width = hi_u - lo_u  # on the prior's quantile scale, where the prior's own is 0.9
        row = {"path": p, "prior": prior.dist, "source": prior.source,
               "median": _q(prior, med_u), "p05": _q(prior, lo_u), "p95": _q(prior, hi_u),
               "prior_p05": _q(prior, 0.05), "prior_p95": _q(prior, 0.95),
               "width_of_prior": width / 0.9, "identified": width / 0.9 < 0.8}
        summaries.append(row)
        if not row["identified"]:
            notes.append(f"{p}: the observations do not identify it (its posterior 90% "
                         f"interval is {width / 0.9:.0%} of its prior's)")
    predictive = _predictive(plan, posterior, names, executor)
    for row in predictive.to_dict("records"):
        if not row["inside_p05_p95"]:
            notes.append(f"observation {row['index']} ({row['key']} {row['when']}: "
                         f"{row['observed']:g}) lies outside the posterior predictive 90% "
                         f"interval [{row['p05']:g}, {row['p95']:g}]: the model cannot reach it")
    summary = {"calibration": calib.name, "seed": calib.seed, "population": calib.population,
               "generations": generations, "parameters": summaries,
               "predictive": predictive.to_dict("records"), "warnings": notes,
               "evaluations": int(sum(g["evaluations"] for g in generations))}
    return Calibration(posterior, pd.DataFrame(generations), predictive, summary, notes)


def _q(prior, u: float) -> float:
    return float(quantile(prior, min(max(float(u), 0.0), _TOP)))


def _weighted_quantiles(values: np.ndarray, weights, qs: Sequence[float]) -> list[float]:
    order = np.argsort(values)
    v, w = np.asarray(values)[order], np.asarray(weights, dtype=float)[order]
    cumulative = (np.cumsum(w) - 0.5 * w) / np.sum(w)
    return [float(np.interp(q, cumulative, v)) for q in qs]


def _predictive(plan: CalibrationPlan, posterior: pd.DataFrame, names: list[str],
                executor: Executor) -> pd.DataFrame:
    """Posterior predictive checks: ``predictive`` particles drawn by weight (seeded by the
    root seed), each run ``replications`` times; per observation the simulated median and
    5-95% range against the observed value."""
    calib = plan.file
    rng = np.random.default_rng([calib.seed, 7])
    rows = rng.choice(len(posterior), size=calib.predictive, p=posterior["weight"].to_numpy())
    scenarios = [realise(plan.run, {p: typed_like(resolve(plan.run, p), posterior[p].iloc[k])
                                    for p in names}) for k in rows]
    r = calib.replications
    start = _STREAM * 2
    tasks = [Task(f"ppc{i}:{j}", i, start + i * r + j) for i in range(len(rows)) for j in range(r)]
    n_obs = len(plan.run.observations)
    values = np.full((len(tasks), n_obs), np.nan)
    for chunk in executor.run(scenarios, calib.seed, tasks, ("observed",), len(tasks)):
        for row in chunk:
            if row["status"] == "ok":
                values[(row["replication"] - start)] = [row[f"observed_{k}"]
                                                        for k in range(n_obs)]
    out = []
    for k, o in enumerate(plan.run.observations):
        column = values[:, k][np.isfinite(values[:, k])]
        p05, p50, p95 = (np.quantile(column, (0.05, 0.5, 0.95)) if len(column)
                         else (math.nan,) * 3)
        out.append({"index": k, "key": o.key, "when": o.when, "observed": o.value,
                    "median": float(p50), "p05": float(p05), "p95": float(p95),
                    "inside_p05_p95": bool(p05 <= o.value <= p95), "source": o.source})
    return pd.DataFrame(out)


def _write(out: Path, plan: CalibrationPlan, result: Calibration) -> None:
    atomic_write_table(result.posterior, out / "posterior.parquet")
    atomic_write_table(result.generations, out / "generations.csv")
    atomic_write_table(result.predictive, out / "predictive.csv")
    atomic_write_bytes(out / "summary.json", (json.dumps(
        result.summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode())
    atomic_write_bytes(out / "calibrated.toml",
                       calibrated_scenario(plan, result.summary, out / "calibrated.toml",
                                           "posterior.parquet"))
    files = ("posterior.parquet", "generations.csv", "predictive.csv", "summary.json",
             "calibrated.toml")
    manifest = {
        "kind": CALIBRATION_KIND,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "calibration": plan.file.name, "calibration_file": str(plan.path),
        "source_files": plan.sources, "seed": plan.file.seed,
        "package_version": library_versions()["parksim"], "source_sha256": source_hash(),
        "versions": library_versions(),
    }
    write_manifest(out, manifest, files)


def calibrated_scenario(plan: CalibrationPlan, summary: dict[str, Any], path: Path,
                        sample: str, command: str | None = None) -> bytes:
    """The TOML of a scenario at ``path`` that extends the calibrated one (by a path relative
    to ``path``'s folder) with each fitted parameter at its posterior median and a
    ``dist = "sample"`` prior on the posterior sample ``sample`` (relative to the same folder);
    ``command``, if given, is named in a header comment as the way to regenerate it."""
    import tomli_w

    folder = path.resolve().parent
    scenario: dict[str, Any] = {
        "extends": Path(os.path.relpath(plan.scenario_path.resolve(), folder)).as_posix(),
        "name": f"{plan.base.name}_calibrated",
        "description": f"{plan.base.name}, its fitted parameters drawn from the posterior of "
                       f"{plan.file.name} ({sample})",
    }
    for row in summary["parameters"]:
        node = scenario
        keys = row["path"].split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        # four significant digits: to read, well inside the sample's range
        node[keys[-1]] = typed_like(resolve(plan.base, row["path"]), float(f"{row['median']:.4g}"))
    scenario["uncertain"] = {row["path"]: {
        "dist": "sample", "file": sample,
        "source": f"[C {plan.file.name}: ABC-SMC posterior]"}
        for row in summary["parameters"]}
    header = ""
    if command:
        header = (f"# Written by `{command}`,\n# with the calibration's posterior sample in "
                  f"{sample}. Do not edit by hand:\n# run that command again to regenerate "
                  "both files.\n")
    return (header + tomli_w.dumps(scenario)).encode()


def write_calibrated_scenario(plan: CalibrationPlan, result: Calibration, path: str | Path,
                              command: str | None = None) -> tuple[Path, Path]:
    """Write the calibrated scenario to ``path`` and its posterior sample beside it, as
    ``<stem>.posterior.parquet``; returns both paths."""
    path = Path(path)
    if path.suffix != ".toml":
        raise ValueError(f"{path}: a calibrated scenario is a .toml file")
    sample = path.with_name(f"{path.stem}.posterior.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_table(result.posterior, sample)
    atomic_write_bytes(path, calibrated_scenario(plan, result.summary, path, sample.name,
                                                 command))
    return path, sample


def calibrate(calibration: str | Path, out: str | Path, workers: int | None = None,
              scheduler: str | None = None, scenario: str | Path | None = None
              ) -> pd.DataFrame:
    """``parksim calibrate CALIBRATION -o OUT [--scenario PATH]`` from Python: run (or resume)
    the calibration and return its posterior, one row per particle with its ``weight``."""
    from parksim.execution.executors import make_executor

    plan = load_calibration(calibration)
    executor = make_executor(workers, scheduler)
    try:
        result = run_calibration(plan, out, executor)
    finally:
        executor.close()
    if scenario is not None:
        write_calibrated_scenario(plan, result, scenario)
    return result.posterior


def load_calibration_results(path: str | Path, meta: bool = False) -> pd.DataFrame:
    """A calibration's posterior: one row per particle, the fitted values and ``weight``."""
    return read_kind_table(path, CALIBRATION_KIND, "a calibration", "posterior.parquet")
