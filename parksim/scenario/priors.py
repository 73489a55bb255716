"""Priors: what a scenario does not know, written beside what it assumes, and parameter sets.

A scenario's estimated parameters ([E] in the files) are guesses within a range. A prior says
how plausible each value of the range is, in one table per parameter keyed by its path::

    [uncertain."enterprises.growth_drift_per_year"]
    dist = "triangular"
    low = 0.03
    mode = 0.08
    high = 0.10
    source = "[E 0.03-0.10]"

The value written at the key itself stays the *point value*: what a forecast conditional on the
written values (``--fixed``) uses, and it must lie in the prior's support. This module owns the
families (uniform, triangular, normal, lognormal, beta -- the unbounded ones truncated by
``low``/``high`` where given -- a discrete ``choice``, ``fixed``, which removes an inherited
prior, and ``sample``, a weighted joint sample read from a Parquet file, which is how a
posterior is carried), the check that every prior names a key that exists and holds a value in
its support, and the *parameter sets* an integrated forecast runs on.

Parameter set ``k`` under a root seed is a pure function of (seed, k, the parameter's path):
each parameter's value is its prior's quantile at a keyed uniform draw (:mod:`parksim.rng`'s
splitmix hash), so set ``k`` is the same whatever the number of sets, the order they run in,
or the other priors a scenario declares. Two scenarios that share a prior (a comparison) meet
the same values of it in set ``k``; the parameters of one joint sample (one file) draw the same
row. :func:`realise` turns a scenario and a set into the concrete scenario a replication runs:
the drawn values written in, no priors left.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import special

from parksim.rng import firm_stream_seed, keyed_uniform

__all__ = [
    "Prior",
    "FAMILIES",
    "active",
    "support",
    "quantile",
    "draw",
    "realise",
    "nested_design",
    "design",
    "resolve",
    "set_value",
    "quoted",
    "canonical",
    "typed_like",
    "paths_written",
]

FAMILIES = ("uniform", "triangular", "normal", "lognormal", "beta", "choice", "fixed", "sample")

_PRIOR_STREAM = 0x5052494F52  # "PRIOR": the spawn key of the parameter sets' stream


class _Family(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    source: str = Field("", description="where the range comes from",
                        json_schema_extra={"unit": "text"})


def _bounded(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and not low < high:
        raise ValueError(f"low must be below high, got low {low:g} and high {high:g}")


class Uniform(_Family):
    dist: Literal["uniform"]
    low: float = Field(description="lower end", json_schema_extra={"unit": "the key's unit"})
    high: float = Field(description="upper end", json_schema_extra={"unit": "the key's unit"})

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        _bounded(self.low, self.high)
        return self


class Triangular(_Family):
    dist: Literal["triangular"]
    low: float = Field(description="lower end", json_schema_extra={"unit": "the key's unit"})
    mode: float = Field(description="most likely value",
                        json_schema_extra={"unit": "the key's unit"})
    high: float = Field(description="upper end", json_schema_extra={"unit": "the key's unit"})

    @model_validator(mode="after")
    def _order(self) -> Triangular:
        _bounded(self.low, self.high)
        if not self.low <= self.mode <= self.high:
            raise ValueError(f"mode {self.mode:g} is not within [low, high] = "
                             f"[{self.low:g}, {self.high:g}]")
        return self


class Normal(_Family):
    dist: Literal["normal"]
    mean: float = Field(description="mean", json_schema_extra={"unit": "the key's unit"})
    sd: float = Field(gt=0, description="standard deviation",
                      json_schema_extra={"unit": "the key's unit"})
    low: float | None = Field(None, description="truncated below here",
                              json_schema_extra={"unit": "the key's unit"})
    high: float | None = Field(None, description="truncated above here",
                               json_schema_extra={"unit": "the key's unit"})

    @model_validator(mode="after")
    def _order(self) -> Normal:
        _bounded(self.low, self.high)
        return self


class LogNormal(_Family):
    dist: Literal["lognormal"]
    median: float = Field(gt=0, description="median", json_schema_extra={"unit": "the key's unit"})
    sigma: float = Field(gt=0, description="standard deviation of the log",
                         json_schema_extra={"unit": "log units"})
    low: float | None = Field(None, gt=0, description="truncated below here",
                              json_schema_extra={"unit": "the key's unit"})
    high: float | None = Field(None, gt=0, description="truncated above here",
                               json_schema_extra={"unit": "the key's unit"})

    @model_validator(mode="after")
    def _order(self) -> LogNormal:
        _bounded(self.low, self.high)
        return self


class Beta(_Family):
    dist: Literal["beta"]
    a: float = Field(gt=0, description="first shape parameter", json_schema_extra={"unit": "1"})
    b: float = Field(gt=0, description="second shape parameter", json_schema_extra={"unit": "1"})
    low: float = Field(0.0, description="lower end of the scaled beta",
                       json_schema_extra={"unit": "the key's unit"})
    high: float = Field(1.0, description="upper end of the scaled beta",
                        json_schema_extra={"unit": "the key's unit"})

    @model_validator(mode="after")
    def _order(self) -> Beta:
        _bounded(self.low, self.high)
        return self


Scalar = float | int | str | bool


class Choice(_Family):
    dist: Literal["choice"]
    values: tuple[Scalar, ...] = Field(min_length=1, description="the values it can take",
                                       json_schema_extra={"unit": "the key's unit"})
    weights: tuple[float, ...] | None = Field(None, description="their relative weights "
                                              "(default: equal)", json_schema_extra={"unit": "1"})

    @model_validator(mode="after")
    def _weights(self) -> Choice:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(f"weights: {len(self.weights)} weights for "
                                 f"{len(self.values)} values")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights: must be >= 0 and not all 0")
        return self


class Fixed(_Family):
    """No prior: the key keeps its written value (removes a prior the file inherits)."""

    dist: Literal["fixed"]


class Sample(_Family):
    """A weighted joint sample: one column of a Parquet file, with the file's ``weight`` column
    (equal weights without one). The loader reads the file into ``values`` and ``weights``,
    and names the sample by its content (``sample_id``), so every parameter of one file draws
    the same row."""

    dist: Literal["sample"]
    file: str = Field(min_length=1, description="Parquet file, relative to the scenario file",
                      json_schema_extra={"unit": "path"})
    column: str | None = Field(None, description="its column (default: the parameter's path)",
                               json_schema_extra={"unit": "text"})
    values: tuple[float, ...] = Field((), description="read from the file",
                                      json_schema_extra={"unit": "the key's unit"})
    weights: tuple[float, ...] = Field((), description="read from the file",
                                       json_schema_extra={"unit": "1"})
    sample_id: str = Field("", description="SHA-256 of the file, read with it",
                           json_schema_extra={"unit": "text"})

    @model_validator(mode="after")
    def _loaded(self) -> Sample:
        if not self.values:
            raise ValueError(f"file: no values were read from {self.file!r}")
        if len(self.weights) != len(self.values):
            raise ValueError("weights: one weight per value")
        if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ValueError("weights: must be >= 0 and not all 0")
        return self


Prior = Annotated[Uniform | Triangular | Normal | LogNormal | Beta | Choice | Fixed | Sample,
                  Field(discriminator="dist")]
"""One parameter's prior: a family, chosen by ``dist``, and its own keys."""


# --------------------------------------------------------------------------- families


def _cdf(prior: Any, x: float) -> float:
    """The cumulative probability of an untruncated normal or lognormal family at ``x``."""
    if isinstance(prior, Normal):
        return float(special.ndtr((x - prior.mean) / prior.sd))
    return float(special.ndtr((math.log(x) - math.log(prior.median)) / prior.sigma))


def _ppf(prior: Any, u: float) -> float:
    """The quantile of a continuous family at ``u``, before truncation (closed forms and
    scipy.special: a parameter set draws a hundred of these, so no frozen distributions)."""
    if isinstance(prior, Uniform):
        return prior.low + u * (prior.high - prior.low)
    if isinstance(prior, Triangular):
        low, mode, high = prior.low, prior.mode, prior.high
        width = high - low
        if u * width < mode - low:
            return low + math.sqrt(u * width * (mode - low))
        return high - math.sqrt((1 - u) * width * (high - mode))
    if isinstance(prior, Normal):
        return prior.mean + prior.sd * float(special.ndtri(u))
    if isinstance(prior, LogNormal):
        return prior.median * math.exp(prior.sigma * float(special.ndtri(u)))
    if isinstance(prior, Beta):
        return prior.low + (prior.high - prior.low) * float(special.betaincinv(prior.a, prior.b, u))
    raise TypeError(f"a {type(prior).__name__} prior has no quantile")


def support(prior: Any) -> tuple[float, float] | tuple[Any, ...]:
    """The values a prior can give: ``(low, high)`` of a continuous family (infinite where
    unbounded), the values of a choice, the range of a sample."""
    if isinstance(prior, Choice):
        return tuple(prior.values)
    if isinstance(prior, Sample):
        return min(prior.values), max(prior.values)
    if isinstance(prior, Uniform | Triangular | Beta):
        return prior.low, prior.high
    if isinstance(prior, Normal):
        return (-math.inf if prior.low is None else prior.low,
                math.inf if prior.high is None else prior.high)
    if isinstance(prior, LogNormal):
        return (0.0 if prior.low is None else prior.low,
                math.inf if prior.high is None else prior.high)
    raise TypeError(f"a {type(prior).__name__} prior has no support")


def quantile(prior: Any, u: float) -> Any:
    """The prior's value at probability ``u`` in [0, 1): its quantile (truncated families are
    the parent's quantile over the kept part of its range; a choice or a sample picks the
    value whose cumulative weight first exceeds ``u``)."""
    if isinstance(prior, Choice | Sample):
        weights = np.asarray(prior.weights if prior.weights else [1.0] * len(prior.values),
                             dtype=float)
        cumulative = np.cumsum(weights) / weights.sum()
        index = min(int(np.searchsorted(cumulative, u, side="right")), len(prior.values) - 1)
        return prior.values[index]
    low, high = getattr(prior, "low", None), getattr(prior, "high", None)
    if isinstance(prior, Normal | LogNormal) and (low is not None or high is not None):
        f_low = _cdf(prior, low) if low is not None else 0.0
        f_high = _cdf(prior, high) if high is not None else 1.0
        u = f_low + u * (f_high - f_low)
    value = _ppf(prior, u)
    lo, hi = support(prior)
    return min(max(value, lo), hi)


def active(uncertain: Mapping[str, Any]) -> dict[str, Any]:
    """The priors that draw (every one but ``fixed``), by path, in path order."""
    return {path: uncertain[path] for path in sorted(uncertain)
            if not isinstance(uncertain[path], Fixed)}


# --------------------------------------------------------------------------- paths


def quoted(path: str) -> str:
    """The key of a prior as the TOML table names it: ``uncertain."a.b"``."""
    return f'uncertain."{path}"'


def _parts(path: str) -> tuple[Any, ...]:
    from parksim.scenario.loader import parse_key

    return parse_key(path)


def canonical(path: str) -> str:
    """``path`` as priors are keyed: dotted names, ``[i]`` for an item of an array, no spaces
    or empty parts (``district..rd_share`` is ``district.rd_share``)."""
    out = ""
    for part in _parts(path):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def resolve(scenario: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a scenario (``parks.initial[2].floor_area_m2``);
    ``KeyError`` with a message saying which part is missing."""
    node: Any = scenario
    walked: list[str] = []
    for part in _parts(path):
        where = ".".join(walked) or "the scenario"
        if isinstance(part, int):
            if not isinstance(node, tuple | list) or not 0 <= part < len(node):
                raise KeyError(f"{where} has no item [{part}]")
            node = node[part]
        elif isinstance(node, BaseModel):
            if part not in type(node).model_fields:
                raise KeyError(f"{where} has no key {part!r}")
            node = getattr(node, part)
        elif isinstance(node, Mapping):
            if part not in node:
                raise KeyError(f"{where} has no key {part!r}")
            node = node[part]
        else:
            raise KeyError(f"{where} is a value, not a table")
        walked.append(f"[{part}]" if isinstance(part, int) else str(part))
    return node


def set_value(data: dict[str, Any], path: str, value: Any) -> None:
    """Write ``value`` at ``path`` into the nested data of a scenario (``model_dump``)."""
    keys = _parts(path)
    node: Any = data
    for part in keys[:-1]:
        node = node[part]
    if isinstance(node, tuple):
        raise TypeError("set_value needs lists, not tuples")
    node[keys[-1]] = value


def _thawed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thawed(v) for v in value]
    return value


# --------------------------------------------------------------------------- parameter sets


def _tag(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _set_state(seed: int, k: int) -> int:
    key = int(np.random.SeedSequence(seed, spawn_key=(_PRIOR_STREAM,)).generate_state(
        1, np.uint64)[0])
    return firm_stream_seed(key, k)


def draw(uncertain: Mapping[str, Any], template: Any, seed: int, k: int) -> dict[str, Any]:
    """Parameter set ``k`` under ``seed``: a value for every active prior, by path.

    ``template`` is the scenario the priors belong to: a parameter whose written value is an
    integer gets its draw rounded to the nearest integer.
    """
    state = _set_state(seed, k)
    values: dict[str, Any] = {}
    for path, prior in active(uncertain).items():
        tag = f"sample:{prior.sample_id}" if isinstance(prior, Sample) else f"prior:{path}"
        value = quantile(prior, keyed_uniform(state, _tag(tag)))
        values[path] = typed_like(resolve(template, path), value)
    return values


def typed_like(written: Any, value: Any) -> Any:
    """``value`` as the type of the value ``written`` at its key: an integer key gets its
    draw rounded to the nearest integer, a float key a float."""
    if isinstance(written, bool) or isinstance(value, bool | str):
        return value
    if isinstance(written, int) and isinstance(value, float):
        return int(round(value))
    if isinstance(written, float) and isinstance(value, int):
        return float(value)
    return value


def realise(scenario: Any, values: Mapping[str, Any]) -> Any:
    """The concrete scenario with ``values`` written at their paths and no priors left."""
    data = _thawed(scenario.model_dump())
    for path, value in values.items():
        set_value(data, path, value)
    data["uncertain"] = {}
    return type(scenario).model_validate(_frozen(data))


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def design(scenarios: Iterable[Any], replications: int, parameter_sets: int | None = None,
           fixed: bool = False) -> tuple[int, int]:
    """``(K, R)`` of a forecast or comparison of ``scenarios``: parameter sets and replications
    per set, or ``(0, 0)`` when it takes the written values (``fixed``, or no scenario declares
    a prior). ``parameter_sets`` defaults to the first scenario's ``run.parameter_sets``, then
    to :func:`nested_design`'s. ``ValueError`` for a design that cannot be made."""
    scenarios = list(scenarios)
    if fixed and parameter_sets is not None:
        raise ValueError("--parameter-sets and --fixed exclude each other: a fixed forecast "
                         "takes every parameter at its written value")
    if fixed or not any(active(s.uncertain) for s in scenarios):
        return 0, 0
    if parameter_sets is None:
        parameter_sets = scenarios[0].run.parameter_sets
    return nested_design(replications, parameter_sets)


def nested_design(replications: int, parameter_sets: int | None) -> tuple[int, int]:
    """``(K, R)``: parameter sets and replications per set of ``replications`` model runs.

    ``parameter_sets`` defaults to ``replications / 10`` (10 replications per set); where ten
    does not divide the runs, or would leave one set, to the largest number of replications
    per set below ten (and at most half the runs) that does: ``-n 4`` is 2 sets of 2, a prime
    ``-n 7`` 7 sets of 1. ``ValueError`` unless ``parameter_sets`` divides ``replications``.
    """
    n = int(replications)
    if parameter_sets is None:  # at most 10 per set, and at least two sets where n allows
        per_set = max(r for r in range(1, min(10, max(n // 2, 1)) + 1) if n % r == 0)
        return n // per_set, per_set
    k = int(parameter_sets)
    if k < 1 or k > n or n % k:
        raise ValueError(f"{k} parameter sets do not divide the {n} replications "
                         "(replications = parameter sets x replications per set)")
    return k, n // k


def paths_written(data: Mapping[str, Any], paths: Iterable[str]) -> list[str]:
    """Those of ``paths`` whose key ``data`` (one file, or ``--set``) writes anew: a value at
    the key itself, or an array that holds it (arrays are replaced whole, so a prior on an
    item of one the file rewrites, or empties, is dropped with it)."""
    out = []
    for path in paths:
        node: Any = data
        for part in _parts(path):
            if isinstance(node, list | tuple):
                out.append(path)
                break
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                break
        else:
            out.append(path)
    return out
