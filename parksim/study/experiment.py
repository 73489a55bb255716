"""Experiment files: a base scenario, factors, a design, replications; and their design points.

An experiment file (TOML, in ``experiments/``) names a base scenario, the factors to vary
(any scenario key path, by a list of values, by a range, or by the base scenario's prior for
it -- ``uncertain = "all"`` makes every prior a factor), a design -- a full grid, a Latin
hypercube (``scipy.stats.qmc``), a Sobol/Saltelli sample or Morris trajectories (SALib) -- the
replications per point and the outputs to keep. A sampled design is drawn on the unit
hypercube (:attr:`Plan.unit`, :attr:`Plan.problem`) and mapped to each factor's values: its
range, or its prior's quantiles. :func:`load_experiment` validates it with the same quality of
errors as a scenario file, then builds and validates every design point's scenario, so a bad
factor path, a range of the wrong type, an empty design or a value the scenario schema
refuses is reported (exit code 2) before anything runs.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from parksim.execution.replication import ROW_OUTPUTS
from parksim.execution.tasks import scenario_hash
from parksim.provenance import identity_of
from parksim.scenario.loader import (
    Layer,
    ScenarioError,
    apply_file_overrides,
    check_parameter_sets,
    check_priors,
    find_line,
    load_raw,
    nearest_name,
    parse_key,
    read_toml,
    source_files,
    validate,
    validate_model,
)
from parksim.scenario.priors import Sample, active, quantile, typed_like
from parksim.scenario.schema import Scenario

__all__ = ["Experiment", "Factor", "Design", "Plan", "load_experiment", "OUTPUTS"]

OUTPUTS = ROW_OUTPUTS
"""What a sweep can keep per task: target values, fiscal cost by lever, observed-date values
(the outputs that flatten into a row's columns; a store keeps no tables)."""


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


Value = float | int | str | bool


class Factor(_Table):
    """One scenario key varied by the design."""

    path: str = Field(min_length=1, description="scenario key path, e.g. policies.finance.take_up",
                      json_schema_extra={"unit": "key path"})
    values: tuple[Value, ...] | None = Field(None, min_length=1, description="the levels to use",
                                             json_schema_extra={"unit": "the key's unit"})
    range: tuple[float, float] | None = Field(
        None,
        description="[low, high] for sampled or gridded designs",
        json_schema_extra={"unit": "the key's unit"},
    )
    levels: int | None = Field(None, ge=1, le=10_000, description="grid levels across the range",
                               json_schema_extra={"unit": "levels"})
    scale: Literal["linear", "log"] = Field("linear", description="spacing of a range",
                                            json_schema_extra={"unit": "linear|log"})
    prior: bool = Field(False, description="sample the key from the base scenario's prior for it "
                        "(a sampled design: its quantile at the design's unit value)",
                        json_schema_extra={"unit": "bool"})

    @model_validator(mode="after")
    def _one_source(self) -> Factor:
        if self.prior:
            if self.values is not None or self.range is not None or self.levels is not None:
                raise ValueError("a factor drawn from its prior takes no values, range or levels")
            return self
        if (self.values is None) == (self.range is None):
            raise ValueError("give either values, range or prior = true")
        if self.range is not None:
            lo, hi = self.range
            if not lo <= hi:
                raise ValueError(f"range must be [low, high] with low <= high, got [{lo}, {hi}]")
            if self.scale == "log" and lo <= 0:
                raise ValueError(f"a log-scaled range needs low > 0, got {lo}")
        elif self.levels is not None:
            raise ValueError("levels go with a range, not with values")
        return self


class Design(_Table):
    kind: Literal["grid", "lhs", "sobol", "morris"] = Field(
        description="full grid, Latin hypercube, Sobol/Saltelli or Morris trajectories",
        json_schema_extra={"unit": "grid|lhs|sobol|morris"},
    )
    samples: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        json_schema_extra={"unit": "points"},
        description="lhs: number of points; sobol: base sample N "
        "(points = N(D+2), or N(2D+2) with second_order); morris: trajectories r "
        "(points = r(D+1))",
    )
    levels: int = Field(4, ge=2, le=100, description="morris: levels of the grid each factor "
                        "moves on (even)", json_schema_extra={"unit": "levels"})
    seed: int = Field(
        0, ge=0, description="seed of the sampler", json_schema_extra={"unit": "integer"}
    )
    second_order: bool = Field(False, description="sobol: sample for second-order indices too",
                               json_schema_extra={"unit": "bool"})

    @model_validator(mode="after")
    def _samples(self) -> Design:
        if self.kind in ("lhs", "sobol", "morris") and self.samples is None:
            raise ValueError(
                f"{'an' if self.kind == 'lhs' else 'a'} {self.kind} design needs samples"
            )
        if self.kind == "morris" and self.levels % 2:
            raise ValueError(f"levels: a morris design needs an even number, got {self.levels}")
        if self.kind == "sobol" and self.samples & (self.samples - 1):
            raise ValueError(
                "samples: a sobol design needs a power of two (Sobol sequences), got "
                f"{self.samples}"
            )
        return self


class Experiment(_Table):
    name: str = Field(
        "experiment", min_length=1, json_schema_extra={"unit": "text"}, description="short name"
    )
    description: str = Field(
        "", json_schema_extra={"unit": "text"}, description="what the experiment asks"
    )
    scenario: str = Field(min_length=1, json_schema_extra={"unit": "path"},
                          description="base scenario file, relative to the experiment file")
    overrides: tuple[str, ...] = Field((), json_schema_extra={"unit": "key=value"},
                                       description="scenario overrides applied before the factors")
    replications: int = Field(ge=1, le=1_000_000, json_schema_extra={"unit": "replications"},
                              description="replications per design point")
    seed: int = Field(
        ge=0,
        lt=2**63,
        json_schema_extra={"unit": "integer"},
        description="root seed; every point uses the same replication seeds "
        "(common random numbers)",
    )
    outputs: tuple[Literal["targets", "fiscal", "observed"], ...] = Field(
        ("targets", "fiscal"),
        min_length=1,
        json_schema_extra={"unit": "list"},
        description="what to keep per task",
    )
    design: Design
    uncertain: Literal["all", "none"] = Field(
        "none", json_schema_extra={"unit": "all|none"},
        description="all: every prior of the base scenario is a factor too (prior = true)")
    fixed: bool = Field(False, json_schema_extra={"unit": "bool"},
                        description="priors that are not factors at their written values "
                        "(default: each task draws its own parameter set of them)")
    factors: tuple[Factor, ...] = Field(
        (), validate_default=True, json_schema_extra={"unit": "list"},
        description="the keys varied"
    )

    @field_validator("factors")
    @classmethod
    def _some(cls, factors: tuple[Factor, ...], info: ValidationInfo) -> tuple[Factor, ...]:
        if "uncertain" not in info.data:  # itself invalid: said on its own
            return factors
        if not factors and info.data["uncertain"] == "none":
            raise ValueError('give at least one factor (or uncertain = "all")')
        return factors

    @model_validator(mode="after")
    def _factors(self) -> Experiment:
        seen = set()
        for i, f in enumerate(self.factors):
            if f.path in seen:
                raise ValueError(f"factors[{i}].path: factors[{i}].path {f.path!r} is given twice")
            seen.add(f.path)
            if self.design.kind == "grid" and f.range is not None and f.levels is None:
                raise ValueError(
                    f"factors[{i}].levels: factors[{i}] has a range; a grid design needs its levels"
                )
            if self.design.kind != "grid" and f.levels is not None:
                raise ValueError(f"factors[{i}].levels: levels only apply to a grid design")
            if self.design.kind == "grid" and f.prior:
                raise ValueError(f"factors[{i}].prior: a factor drawn from its prior needs a "
                                 "sampled design (lhs, sobol or morris), not a grid")
        return self


@dataclass(frozen=True)
class Plan:
    """A loaded experiment: its settings, design points and each point's scenario."""

    path: Path
    experiment: Experiment
    base: Scenario
    factor_values: list[tuple[Any, ...]]
    scenarios: list[Scenario]
    point_hashes: list[str]
    sources: list[dict[str, str]]
    unit: np.ndarray | None = None
    """A sampled design's points in the unit hypercube, one row per point (the design before
    each factor's values: its range, or its prior's quantiles); None for a grid."""
    integrated: bool = False
    """Every task runs on its own parameter set of the scenario's priors: replication ``r`` of
    every point on set ``r`` (so the points meet the same parameters as well as the same
    luck); False when the experiment takes the written values (``fixed``) or the base scenario
    declares no priors (a factor's key is always fixed by the factor)."""
    factors: tuple[Factor, ...] = ()
    """Every factor: the file's, then one per prior with ``uncertain = "all"``."""

    @property
    def per_set(self) -> list[int]:
        """Replications per parameter set, per point (1: each task its own set; 0: none)."""
        return [1 if self.integrated else 0] * len(self.scenarios)

    @property
    def uncertain(self) -> list[str]:
        """The paths of the priors every task draws."""
        return list(active(self.base.uncertain)) if self.integrated else []

    @property
    def factor_names(self) -> list[str]:
        return [f.path for f in self.factors]

    @property
    def problem(self) -> dict[str, Any] | None:
        """The SALib problem of a sampled design: its factors on the unit hypercube (the space
        the design was drawn in, and the one sensitivity indices are computed in)."""
        if self.unit is None:
            return None
        names = self.factor_names
        return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names),
                "kind": self.experiment.design.kind,
                "second_order": self.experiment.design.second_order,
                "levels": self.experiment.design.levels}

    @property
    def tasks(self) -> int:
        return len(self.scenarios) * self.experiment.replications

    def experiment_hash(self) -> str:
        """The experiment's own part of a sweep's identity: its settings and its points (their
        resolved scenarios, so an edited scenario file counts)."""
        e = self.experiment
        payload = {
            "replications": e.replications,
            "seed": e.seed,
            "outputs": list(e.outputs),
            "factors": self.factor_names,
            "points": self.point_hashes,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def identity_parts(self, version: str, source: str) -> dict[str, str]:
        """What makes two sweeps the same: the experiment (:meth:`experiment_hash`) and the
        model that computes it (package ``version`` and ``source`` hash)."""
        return {"experiment_sha256": self.experiment_hash(), "package_version": version,
                "source_sha256": source}

    def identity(self, version: str, source: str) -> str:
        """The hash of :meth:`identity_parts`, which a sweep's manifest records."""
        return identity_of(self.identity_parts(version, source))


def _unit_samples(design: Design, d: int) -> np.ndarray:
    if design.kind == "lhs":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=d, seed=design.seed).random(design.samples)
    problem = {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": [[0.0, 1.0]] * d}
    if design.kind == "morris":
        from SALib.sample import morris

        return morris.sample(problem, design.samples, num_levels=design.levels, seed=design.seed)
    from SALib.sample import sobol

    return sobol.sample(
        problem, design.samples, calc_second_order=design.second_order, seed=design.seed
    )


_TOP = 1.0 - 1e-9  # a unit value of 1 (Sobol, Morris) is the prior's upper end, not past it


def _from_unit(factor: Factor, u: np.ndarray, prior: Any = None) -> list[Any]:
    if factor.prior:
        return [quantile(prior, float(min(max(x, 0.0), _TOP))) for x in u]
    if factor.values is not None:
        idx = np.minimum((u * len(factor.values)).astype(int), len(factor.values) - 1)
        return [factor.values[i] for i in idx]
    lo, hi = factor.range
    if factor.scale == "log":
        return list(np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
    return list(lo + u * (hi - lo))


def _levels(factor: Factor) -> list[Any]:
    if factor.values is not None:
        return list(factor.values)
    lo, hi = factor.range
    n = factor.levels
    if factor.scale == "log":
        return list(np.geomspace(lo, hi, n)) if n > 1 else [lo]
    return list(np.linspace(lo, hi, n)) if n > 1 else [lo]


MAX_POINTS = 100_000
"""The most design points an experiment may have: each is a scenario, validated and kept."""
MAX_TASKS = 10_000_000
"""The most tasks (points x replications) a study may run."""


def point_count(exp: Experiment, factors: tuple[Factor, ...]) -> int:
    """How many points the design has, counted before any is made."""
    d = len(factors)
    samples = exp.design.samples or 0
    if exp.design.kind == "grid":
        return math.prod(len(_levels(f)) for f in factors)
    if exp.design.kind == "lhs":
        return samples
    if exp.design.kind == "morris":
        return samples * (d + 1)
    return samples * ((2 * d + 2) if exp.design.second_order else (d + 2))


def _points(exp: Experiment, factors: tuple[Factor, ...], priors: dict[str, Any]
            ) -> tuple[list[tuple[Any, ...]], np.ndarray | None]:
    if exp.design.kind == "grid":
        return list(itertools.product(*(_levels(f) for f in factors))), None
    u = _unit_samples(exp.design, len(factors))
    columns = [_from_unit(f, u[:, i], priors.get(f.path)) for i, f in enumerate(factors)]
    return list(zip(*columns, strict=True)), u


def _get(data: Any, key: tuple[Any, ...]) -> Any:
    node = data
    for part in key:
        node = node[part]
    return node


def _set(data: Any, key: tuple[Any, ...], value: Any) -> None:
    node = data
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value


def _check_path(
    exp_file: Path, text: str, data: dict[str, Any], i: int, path: str
) -> tuple[Any, ...]:
    """The factor's key as a tuple, or an error naming the part that does not exist."""
    key = parse_key(path)
    node: Any = data
    for depth, part in enumerate(key):
        ok = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        if not ok:
            where = ".".join(str(p) for p in key[:depth]) or "the scenario"
            hint = nearest_name(str(part), node) if isinstance(node, dict) else None
            raise ScenarioError(
                str(exp_file),
                f"factor path {path!r} does not exist: {where} has no {part!r}",
                key=f"factors[{i}].path",
                line=find_line(text, ("factors", i, "path")),
                suggestion=hint,
            )
        node = node[part]
    if isinstance(node, dict | list):
        raise ScenarioError(str(exp_file), f"factor path {path!r} is a table or list, not a value",
                            key=f"factors[{i}].path", line=find_line(text, ("factors", i, "path")))
    return key


def _coerce(template: Any, value: Any) -> Any:
    """A design value in the type of the scenario key it sets (ints rounded, numpy unwrapped)."""
    if isinstance(value, np.generic):
        value = value.item()
    return typed_like(template, value)


def load_experiment(path: str | Path, fixed: bool = False) -> Plan:
    """Load and validate an experiment file and every design point's scenario.

    A factor's key is fixed by the factor at every point (its prior, if the base scenario has
    one, is dropped); with ``fixed`` every key is taken at its written value. Otherwise every
    task draws its own parameter set of the remaining priors (:attr:`Plan.integrated`).

    Raises
    ------
    ScenarioError
        For any bad input (experiment file, base scenario, factor path or design point),
        naming the file and the key.
    """
    path = Path(path)
    data, text = read_toml(path)
    layer = Layer(path, data, text)
    exp: Experiment = validate_model(Experiment, data, [layer])
    fixed = fixed or exp.fixed
    base_path = path.parent / exp.scenario
    if not base_path.exists():
        raise ScenarioError(str(path), f"base scenario not found: {base_path}", key="scenario",
                            line=find_line(text, ("scenario",)))
    raw, layers = load_raw(base_path)
    base = validate(raw, layers)
    check_priors(base, layers)
    if exp.overrides:
        raw, base = apply_file_overrides(raw, layers, exp.overrides, path, text)
    priors = active(base.uncertain)
    factors = exp.factors
    if exp.uncertain == "all":
        written = {f.path for f in factors}
        factors += tuple(Factor(path=p, prior=True) for p in priors if p not in written)
    for i, f in enumerate(factors):
        where = dict(key=f"factors[{i}].prior" if i < len(exp.factors) else "uncertain",
                     line=find_line(text, ("factors", i, "prior") if i < len(exp.factors)
                                    else ("uncertain",)))
        if f.prior and f.path not in priors:
            raise ScenarioError(str(path), f"factor {f.path!r} has prior = true, but the base "
                                "scenario declares no prior for it", **where)
        if f.prior and exp.design.kind == "grid":
            raise ScenarioError(str(path), f"factor {f.path!r} is drawn from its prior: that "
                                "needs a sampled design (lhs, sobol or morris), not a grid",
                                **where)
        if f.prior and isinstance(priors[f.path], Sample):
            raise ScenarioError(str(path), f"factor {f.path!r} has a joint sample as its prior: "
                                "as a design factor it would lose its correlation with the "
                                "sample's other columns; give it a range instead", **where)
    raw = base.model_dump(mode="json")  # every key, those left to their defaults included
    keys = [_check_path(path, text, raw, i, f.path) for i, f in enumerate(factors)]
    varied = {".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in k).replace(".[", "[")
              for k in keys}
    raw["uncertain"] = {} if fixed else {
        p: prior for p, prior in raw["uncertain"].items() if p not in varied}
    base = validate(raw, layers)
    for i, f in enumerate(factors):
        template = _get(raw, keys[i])
        if f.range is not None and (
            isinstance(template, bool) or not isinstance(template, int | float)
        ):
            raise ScenarioError(
                str(path),
                f"factor {f.path!r} is {type(template).__name__}, a range needs a number",
                key=f"factors[{i}].range",
                line=find_line(text, ("factors", i, "range")),
            )
    n_points = point_count(exp, factors)
    if n_points > MAX_POINTS or n_points * exp.replications > MAX_TASKS:
        raise ScenarioError(
            str(path), f"the design has {n_points:,} points x {exp.replications:,} replications "
            f"= {n_points * exp.replications:,} tasks; at most {MAX_POINTS:,} points and "
            f"{MAX_TASKS:,} tasks are run (split the study, or use fewer levels or samples)",
            key="design", line=find_line(text, ("design",)))
    points, unit = _points(exp, factors, priors)
    if not points:
        raise ScenarioError(
            str(path), "the design has no points", key="design", line=find_line(text, ("design",))
        )
    scenarios, values, hashes = [], [], []
    for n, point in enumerate(points):
        data_n = copy.deepcopy(raw)
        coerced = tuple(_coerce(_get(raw, k), v) for k, v in zip(keys, point, strict=True))
        for k, v in zip(keys, coerced, strict=True):
            _set(data_n, k, v)
        try:
            scenario = validate(data_n)
        except ScenarioError as err:
            setting = ", ".join(
                f"{f.path}={v!r}" for f, v in zip(factors, coerced, strict=True)
            )
            raise ScenarioError(
                str(path),
                f"design point {n} ({setting}) is not a valid scenario: {err.key}: {err.message}",
                key="factors",
            ) from None
        scenarios.append(scenario)
        values.append(coerced)
        hashes.append(scenario_hash(scenario))
    sources = source_files([layer, *layers])
    integrated = bool(active(base.uncertain))
    if integrated:  # replication r of every point runs on parameter set r
        check_parameter_sets(base, exp.seed, exp.replications, layers)
    return Plan(path, exp, base, values, scenarios, hashes, sources, unit, integrated, factors)
