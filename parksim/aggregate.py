"""Aggregates: pure functions from per-replication values to what a forecast or comparison reports.

Metrics (:mod:`parksim.metrics`) reduce one replication; this module reduces many. Every
figure a summary prints across replications is computed here, in one way: the probability
that a target is met with its binomial confidence interval (Wilson score, scipy), quantiles
(the median and the 5-95% range), the simulated range at each observation date, fiscal cost
summaries, the ledger per item and year, the cost per upgrade, the grade mix per grading year,
the paired difference between two scenarios on common random numbers (a t interval), the cost
per extra unit and the average cost per unit.
Inputs are numpy arrays, one value per replication; outputs are floats or small frozen
records, NaN where a figure is undefined (formatting, e.g. ``None`` in JSON, is the
caller's). Nothing here runs the model or knows where the values came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from parksim.scenario.schema import OBSERVABLES, TARGET_KEYS, Scenario

__all__ = [
    "CONDITIONAL_ON",
    "reading",
    "FillSummary",
    "fill_summary",
    "INTERVAL_METHOD",
    "QUANTILES",
    "proportion_interval",
    "probability_difference",
    "quantile_method",
    "proportion",
    "quantiles",
    "median",
    "TargetSummary",
    "summarise_targets",
    "ObservationSummary",
    "summarise_observations",
    "FiscalSummary",
    "fiscal_summary",
    "cost_per_unit",
    "paired_difference",
    "wilson_interval",
    "effective_trials",
    "set_means",
    "VarianceSplit",
    "variance_split",
    "top_parameters",
    "MIN_SETS_FOR_TOP",
    "INTEGRATED_OVER",
    "cost_per_extra_unit",
    "average_cost",
    "GRADE_MIX",
    "grade_mix",
    "ledger_summary",
]

INTERVAL_METHOD = "wilson"
"""Confidence interval for a probability: Wilson score interval (scipy.stats.binomtest)."""

QUANTILES = (0.05, 0.5, 0.95)

CONDITIONAL_ON = (
    "These probabilities count the simulation's chance only: they are conditional on the "
    "scenario's estimated parameters ([E] in the scenario file), taken at their written values."
)
"""What a forecast's probabilities are conditional on when it takes the scenario's values as
written (``--fixed``, or a scenario without priors): the ``conditional_on`` field."""

INTEGRATED_OVER = (
    "These probabilities integrate over the priors of the scenario's {count} uncertain "
    "parameters ([uncertain] tables), {sets} parameter sets of {per_set} replications each: "
    "they count what the model does not know about those parameters as well as chance. They "
    "remain conditional on the model's structure and on every other value as written."
)
"""What an integrated forecast's probabilities are conditional on (``conditional_on``)."""


def proportion_interval(
    successes: int, trials: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Confidence interval of a binomial proportion (Wilson score), clipped to [0, 1]."""
    if trials == 0:
        return 0.0, 1.0
    ci = stats.binomtest(int(successes), int(trials)).proportion_ci(
        confidence, method=INTERVAL_METHOD
    )
    return float(min(max(ci.low, 0.0), 1.0)), float(min(max(ci.high, 0.0), 1.0))


def proportion(met: np.ndarray, sets: np.ndarray | None = None) -> tuple[float, float, float]:
    """Share of replications where ``met`` holds, and its confidence interval.

    With ``sets`` (the parameter set of each replication, of a nested design) the interval
    accounts for the nesting: replications of one set share its parameters, so they count for
    less than independent ones (:func:`effective_trials`).
    """
    met = np.asarray(met, dtype=bool)
    if sets is None:
        lo, hi = proportion_interval(int(met.sum()), len(met))
        return float(met.mean()), lo, hi
    p = float(met.mean())
    k = len(np.unique(sets))
    lo, hi = wilson_interval(p, effective_trials(met, sets), df=k - 1 if k > 1 else None)
    return p, lo, hi


def wilson_interval(p: float, trials: float, confidence: float = 0.95,
                    df: int | None = None) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``p`` observed in ``trials`` (which may be an
    effective, non-integer number of trials), clipped to [0, 1]. With ``df`` the normal
    quantile is replaced by Student's t with ``df`` degrees of freedom: with few independent
    units (parameter sets) the variance they estimate is itself uncertain."""
    if trials <= 0:
        return 0.0, 1.0
    q = 0.5 + confidence / 2
    z = float(stats.norm.ppf(q) if df is None else stats.t.ppf(q, df))
    z2n = z * z / trials
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials))
    return max(centre - half, 0.0), min(centre + half, 1.0)


def effective_trials(met: np.ndarray, sets: np.ndarray) -> float:
    """The number of independent trials a nested design's replications are worth: ``n`` over
    Kish's design effect ``R var(set means) / (p (1 - p))``, kept between the number of sets
    ``K`` (replications of a set all alike) and ``n`` (parameters that change nothing). With
    every replication alike (``p`` 0 or 1) it is ``K``: with K parameter sets the model cannot
    rule out a share below about 4/K of parameter values that would have met it."""
    met = np.asarray(met, dtype=float)
    n = len(met)
    means = set_means(met, sets)
    k = len(means)
    p = float(met.mean())
    if k < 2 or p in (0.0, 1.0):
        return float(k)
    design_effect = (n / k) * float(np.var(means, ddof=1)) / (p * (1 - p))
    return float(min(max(n / max(design_effect, 1e-12), k), n))


def set_means(values: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """The mean of ``values`` over the replications of each parameter set, in set order."""
    values = np.asarray(values, dtype=float)
    ids, index = np.unique(np.asarray(sets), return_inverse=True)
    return np.bincount(index, weights=values, minlength=len(ids)) / np.bincount(index)


@dataclass(frozen=True)
class VarianceSplit:
    """How much of an output's variance comes from the uncertain parameters (between parameter
    sets) and how much from chance (between replications of a set): the law of total variance,
    ``Var Y = Var E[Y | theta] + E Var[Y | theta]``, estimated by one-way random-effects
    analysis of variance on a nested design, with percentile intervals from a bootstrap over
    parameter sets. NaN where it cannot be estimated (one set, one replication per set, or an
    output that never varies)."""

    parameters: float
    parameters_ci: tuple[float, float]
    chance: float
    chance_ci: tuple[float, float]


def _parameter_share(groups: np.ndarray) -> float:
    """The parameters' share of variance in a ``(K, R)`` array of outputs by set."""
    k, r = groups.shape
    within = float(groups.var(axis=1, ddof=1).mean())
    between = float(groups.mean(axis=1).var(ddof=1))
    parametric = max(between - within / r, 0.0)
    total = parametric + within
    return parametric / total if total > 0 else math.nan


def variance_split(values: np.ndarray, sets: np.ndarray, seed: int = 0,
                   resamples: int = 1000, confidence: float = 0.95) -> VarianceSplit:
    """:class:`VarianceSplit` of per-replication ``values`` whose parameter sets are ``sets``
    (equal replications per set); the bootstrap is seeded by ``seed``."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(np.asarray(sets), kind="stable")
    k = len(np.unique(sets))
    nan = VarianceSplit(math.nan, (math.nan, math.nan), math.nan, (math.nan, math.nan))
    if k < 2 or len(values) % k or len(values) // k < 2:
        return nan
    groups = values[order].reshape(k, len(values) // k)
    share = _parameter_share(groups)
    if not math.isfinite(share):
        return nan
    rng = np.random.default_rng(seed)
    boot = np.array([_parameter_share(groups[rng.integers(0, k, k)]) for _ in range(resamples)])
    boot = boot[np.isfinite(boot)]
    tail = (1 - confidence) / 2
    lo, hi = (np.quantile(boot, (tail, 1 - tail)) if len(boot) else (math.nan, math.nan))
    return VarianceSplit(share, (float(lo), float(hi)), 1 - share, (1 - float(hi), 1 - float(lo)))


MIN_SETS_FOR_TOP = 10
"""Parameter sets below which no parameter is named as mattering (:func:`top_parameters`)."""


def top_parameters(set_mean: np.ndarray, parameters: Mapping[str, np.ndarray],
                   count: int = 3, alpha: float = 0.05) -> list[tuple[str, float]]:
    """The parameters whose drawn values go most with an output's mean over each set's
    replications: Spearman's rank correlation, largest in size first, ``count`` of them.

    Only correlations that are there count: among many parameters some correlate by chance, so
    a parameter is kept only if its correlation's p-value is below ``alpha`` divided by the
    number of parameters (Bonferroni). A parameter that never varies, or an output that does
    not, is left out. Below :data:`MIN_SETS_FOR_TOP` sets the list is empty: Spearman's p-value
    (a t approximation) is no guard with a handful of points, where four values in order give a
    correlation of 1 by chance.
    """
    set_mean = np.asarray(set_mean, dtype=float)
    if len(set_mean) < MIN_SETS_FOR_TOP or np.ptp(set_mean) == 0:
        return []
    varying = {path: np.asarray(drawn) for path, drawn in parameters.items()
               if np.asarray(drawn).dtype.kind in "iuf" and np.ptp(np.asarray(drawn)) > 0}
    out = []
    for path, drawn in varying.items():
        result = stats.spearmanr(drawn, set_mean)
        rho, p = float(result.statistic), float(result.pvalue)
        if math.isfinite(rho) and p < alpha / len(varying):
            out.append((path, rho))
    out.sort(key=lambda item: -abs(item[1]))
    return out[:count]


def quantiles(values: np.ndarray) -> tuple[float, float, float]:
    """The 5%, 50% and 95% quantiles, NaN for no values: of counts (whole numbers only) a
    value that occurred (the inverse of the empirical distribution function), so a count's
    range is in whole numbers; of other values linear interpolation."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    p05, p50, p95 = np.quantile(values, QUANTILES, method=quantile_method(values))
    return float(p05), float(p50), float(p95)


def median(values: np.ndarray) -> float:
    """The median: of counts the lower middle value (a count, as :func:`quantiles`), of other
    values ``numpy.median`` (the mean of the middle two of an even count)."""
    values = np.asarray(values, dtype=float)
    if len(values) and quantile_method(values) != "linear":
        return float(np.quantile(values, 0.5, method="inverted_cdf"))
    return float(np.median(values))


def quantile_method(values: np.ndarray) -> str:
    """``inverted_cdf`` for counts (finite whole numbers), else ``linear``."""
    finite = np.isfinite(values)
    whole = bool(finite.all()) and bool(np.all(values == np.round(values)))
    return "inverted_cdf" if whole else "linear"


@dataclass(frozen=True)
class TargetSummary:
    key: str
    threshold: float
    probability: float
    ci_low: float
    ci_high: float
    median: float
    p05: float
    p95: float

    def as_dict(self) -> dict[str, float | str]:
        return dict(self.__dict__)


def summarise_targets(
    values: dict[str, np.ndarray], scenario: Scenario, sets: np.ndarray | None = None
) -> tuple[list[TargetSummary], dict[str, float]]:
    """Per target: probability met (with CI), median and 5-95% range; and all six together.
    ``sets``: each replication's parameter set, for intervals that account for the nesting."""
    out = []
    n = len(next(iter(values.values())))
    all_met = np.ones(n, dtype=bool)
    for key in TARGET_KEYS:
        v = np.asarray(values[key], dtype=float)
        threshold = float(getattr(scenario.targets, key))
        met = v >= threshold
        all_met &= met
        probability, lo, hi = proportion(met, sets)
        p05, p50, p95 = quantiles(v)
        out.append(TargetSummary(key, threshold, probability, lo, hi, p50, p05, p95))
    probability, lo, hi = proportion(all_met, sets)
    return out, {"probability": probability, "ci_low": lo, "ci_high": hi}


@dataclass(frozen=True)
class ObservationSummary:
    """The simulated range at one observation date, against the observed value."""

    key: str
    date: str
    observed: float
    median: float
    p05: float
    p95: float
    inside_p05_p95: bool
    source: str
    kind: str = "count"
    period: tuple[str, str] | None = None
    interval: tuple[float, float] | None = None
    se: float | None = None
    detail: dict[str, object] | None = None
    """What narrows the key: ``grade``, ``age`` or ``level``, where written."""


def summarise_observations(
    values: list[np.ndarray], scenario: Scenario
) -> list[ObservationSummary]:
    """For each of the scenario's observations, in order, with ``values[i]`` the simulated value
    of observation ``i`` per replication (NaN where its date lies outside the run): the median
    and 5-95% range of the finite values, and whether the observed value lies inside it."""
    out = []
    for obs, column in zip(scenario.observations, values, strict=True):
        column = np.asarray(column, dtype=float)
        p05, p50, p95 = quantiles(column[np.isfinite(column)])
        inside = bool(math.isfinite(p05) and p05 <= obs.value <= p95)
        period = (obs.period.start, obs.period.end) if obs.period is not None else None
        out.append(ObservationSummary(
            obs.key, obs.date if obs.date is not None else obs.period.end, obs.value, p50, p05,
            p95, inside, obs.source, OBSERVABLES[obs.key], period, obs.interval, obs.se,
            {k: getattr(obs, k) for k in ("grade", "age", "level") if getattr(obs, k) is not None}
            or None))
    return out


@dataclass(frozen=True)
class FiscalSummary:
    """Policy spend across replications (total: median and 5-95% range; by lever: median) and,
    beside it, the investment in park projects (median and 5-95% range)."""

    median: float
    p05: float
    p95: float
    by_lever: dict[str, float]
    investment_median: float
    investment_p05: float
    investment_p95: float


def fiscal_summary(
    total: np.ndarray, by_lever: Mapping[str, np.ndarray], investment: np.ndarray
) -> FiscalSummary:
    """Summarise the fiscal cost and park investment of many replications."""
    p05, p50, p95 = quantiles(total)
    inv05, _, inv95 = quantiles(investment)
    return FiscalSummary(
        p50, p05, p95,
        {lever: median(values) for lever, values in by_lever.items()},
        median(investment), inv05, inv95,
    )


def cost_per_unit(cost: np.ndarray, units: np.ndarray) -> float:
    """Median over replications of ``cost / units`` (e.g. yuan per upgrade), among those with
    ``units > 0``; NaN when there are none."""
    cost = np.asarray(cost, dtype=float)
    units = np.asarray(units, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(units > 0, cost / np.where(units > 0, units, 1), np.nan)
    per = per[np.isfinite(per)]
    return median(per) if len(per) else math.nan


def paired_difference(
    a: np.ndarray, b: np.ndarray, confidence: float = 0.95, sets: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Mean of ``b - a`` and its t interval (zero width when every pair differs alike).

    With ``sets`` (a nested design's parameter set of each pair) the interval is the t
    interval of the mean difference per set: pairs of one set share its parameters, so the
    sets, not the pairs, are the independent units.
    """
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    mean = float(d.mean())
    if sets is not None and len(np.unique(sets)) >= 2:
        d = set_means(d, sets)
    if len(d) < 2 or float(d.std(ddof=1)) <= 1e-12 * max(abs(mean), 1.0):
        return mean, mean, mean
    lo, hi = stats.ttest_1samp(d, 0.0).confidence_interval(confidence)
    return mean, float(lo), float(hi)


def probability_difference(
    met_a: np.ndarray, met_b: np.ndarray, sets: np.ndarray | None = None,
    confidence: float = 0.95, seed: int = 0, resamples: int = 4000,
) -> tuple[float, float, float]:
    """The change in P(met) from ``a`` to ``b`` on paired replications, with its interval.

    Without ``sets`` (values as written; pairs independent) the interval is Newcombe's hybrid
    score interval for paired proportions (1998, method 10): it joins the Wilson intervals of
    the two proportions through the pairs' correlation, so it is the McNemar-type interval
    that stays inside [-1, 1] and keeps its coverage with few discordant pairs.

    With ``sets`` (a nested design's parameter set of each pair) pairs of one set share its
    parameters, so the sets are resampled: a percentile bootstrap over sets of the mean
    difference (seeded by ``seed``), or Student's t over the sets' mean differences below 10
    sets, where percentiles of a few values are too narrow. The interval is never narrower
    than the pairs' own (Newcombe's). Sets that all agree (say, no discordant pair in any), or
    a single set, cannot say how much sets differ: then the interval is Newcombe's with the
    pairs counting as many as the sets, as P(met)'s own interval counts them
    (:func:`effective_trials`).
    """
    a = np.asarray(met_a, dtype=bool)
    b = np.asarray(met_b, dtype=bool)
    n = len(a)
    if n == 0:
        return math.nan, -1.0, 1.0
    diff, lo, hi = _paired_proportions(a, b, confidence, n)
    if sets is None:
        return diff, lo, hi
    d = set_means(b.astype(float) - a.astype(float), sets)
    if len(d) < 2 or np.ptp(d) <= 1e-12:
        # sets that agree (or one set) cannot tell how much they differ: the pairs count as
        # many as the sets, as :func:`effective_trials` counts them for P(met) itself
        return _paired_proportions(a, b, confidence, len(d))
    if len(d) < 10:
        c_lo, c_hi = stats.ttest_1samp(d, 0.0).confidence_interval(confidence)
    else:
        rng = np.random.default_rng([seed, 3])
        boot = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
        tail = (1 - confidence) / 2
        c_lo, c_hi = np.quantile(boot, (tail, 1 - tail))
    return diff, max(min(float(c_lo), lo), -1.0), min(max(float(c_hi), hi), 1.0)


def _paired_proportions(a: np.ndarray, b: np.ndarray, confidence: float,
                        trials: float) -> tuple[float, float, float]:
    """``P(b) - P(a)`` and Newcombe's method-10 interval, the pairs counting as ``trials``
    independent ones (the cells scaled by ``trials / n``), with the correlation term's
    continuity correction as Newcombe gives it (Altman et al., Statistics with Confidence)."""
    n = len(a)
    scale = trials / n
    both = float(np.sum(a & b)) * scale
    only_b = float(np.sum(b & ~a)) * scale
    only_a = float(np.sum(a & ~b)) * scale
    neither = trials - both - only_b - only_a
    p_b, p_a = (both + only_b) / trials, (both + only_a) / trials
    lo_b, hi_b = wilson_interval(p_b, trials, confidence)
    lo_a, hi_a = wilson_interval(p_a, trials, confidence)
    margins = (both + only_b) * (neither + only_a) * (both + only_a) * (neither + only_b)
    cross = both * neither - only_b * only_a
    cross = cross - trials / 2 if cross > trials / 2 else 0.0 if cross >= 0 else cross
    phi = cross / math.sqrt(margins) if margins > 0 else 0.0
    below = math.sqrt(max((p_b - lo_b) ** 2 - 2 * phi * (p_b - lo_b) * (hi_a - p_a)
                          + (hi_a - p_a) ** 2, 0.0))
    above = math.sqrt(max((hi_b - p_b) ** 2 - 2 * phi * (hi_b - p_b) * (p_a - lo_a)
                          + (p_a - lo_a) ** 2, 0.0))
    diff = p_b - p_a
    return diff, max(diff - below, -1.0), min(diff + above, 1.0)


def cost_per_extra_unit(
    base_cost: np.ndarray, cost: np.ndarray, diff: float, diff_ci_low: float
) -> float:
    """Extra mean cost over the base per extra unit gained, ``diff`` being the mean paired gain
    (the marginal cost): a price only for a gain that is there (its interval lies above zero),
    else NaN; 0 where the gain comes at no extra cost (never negative)."""
    if not diff_ci_low > 0:
        return math.nan
    return max(float(np.mean(cost) - np.mean(base_cost)), 0.0) / diff


def average_cost(cost: np.ndarray, units: np.ndarray) -> float:
    """Mean cost per mean unit (e.g. yuan per upgrade, all upgrades counted, not only the extra
    ones): NaN when there are no units."""
    total = float(np.mean(units)) if len(units) else 0.0
    return float(np.mean(cost)) / total if total > 0 else math.nan


def reading(values: np.ndarray, threshold: float) -> dict[str, float]:
    """One reading of a target over replications: the share meeting ``threshold`` and the
    median and 5-95% range of the value."""
    values = np.asarray(values, dtype=float)
    p05, p50, p95 = quantiles(values)
    return {"probability": float((values >= threshold).mean()) if len(values) else math.nan,
            "median": p50, "p05": p05, "p95": p95}


@dataclass(frozen=True)
class FillSummary:
    """How fast the parks opened during the run filled, over all replications: how many opened,
    the median months from opening to 50% and to 90% occupancy (a park that never got there
    counts as never, so a median of never is NaN), and the share that got there."""

    parks_opened: int
    months_to_50pct_median: float
    months_to_90pct_median: float
    reached_50pct: float
    reached_90pct: float


def fill_summary(opened_during_run: np.ndarray, months_to_50pct: np.ndarray,
                 months_to_90pct: np.ndarray) -> FillSummary:
    """:class:`FillSummary` from the parks table's columns (one row per replication and park)."""
    opened = np.asarray(opened_during_run, dtype=bool)
    out = []
    for months in (months_to_50pct, months_to_90pct):
        m = np.asarray(months, dtype=float)[opened]
        never = np.where(np.isnan(m), math.inf, m)
        mid = float(np.median(never)) if len(m) else math.nan
        out.append((mid if math.isfinite(mid) else math.nan,
                    float(np.isfinite(never).mean()) if len(m) else math.nan))
    return FillSummary(int(opened.sum()), out[0][0], out[1][0], out[0][1], out[1][1])


GRADE_MIX = ("A", "B", "C", "D", "not_graded", "delisted", "demonstration_selected", "demoted",
             "with_platform", "with_digital", "above_line_unregistered")
"""What :func:`grade_mix` counts per grading year, as a mean per replication: parks graded A to
D, parks in grace that took no part, parks delisted, parks selected as demonstration parks,
demonstration parks that lost the title at the re-check, and parks graded or in grace with a
working service platform or digital management; and the firms in those parks above the
upgrade line not (yet) registered above designated size."""


def grade_mix(log: Mapping[str, np.ndarray], replications: int) -> list[dict[str, float]]:
    """The grade mix per grading year from the grading logs of ``replications`` replications
    (``log``: columns ``year``, ``grade``, ``selected``, ``demoted``, ``delisted``,
    ``has_platform``, ``has_digital``, ``above_line_unregistered``, one value per park and
    round): for each year, the mean count per replication of each of :data:`GRADE_MIX`."""
    year = np.asarray(log["year"])
    grade = np.asarray(log["grade"]).astype(str)
    counted = {
        **{g: grade == g for g in "ABCD"},
        "not_graded": grade == "",
        "delisted": np.asarray(log["delisted"], dtype=bool),
        "demonstration_selected": np.asarray(log["selected"], dtype=bool),
        "demoted": np.asarray(log["demoted"], dtype=bool),
        "with_platform": np.asarray(log["has_platform"], dtype=bool),
        "with_digital": np.asarray(log["has_digital"], dtype=bool),
    }
    n = max(replications, 1)
    waiting = np.asarray(log["above_line_unregistered"], dtype=float)
    return [
        {"year": int(y), **{name: float(np.count_nonzero(mask[year == y])) / n
                            for name, mask in counted.items()},
         "above_line_unregistered": float(waiting[year == y].sum()) / n}
        for y in np.unique(year).tolist()
    ]


def ledger_summary(ledger: Mapping[str, np.ndarray]) -> list[dict[str, object]]:
    """The ledger across replications (``ledger``: the columns of
    :data:`~parksim.metrics.LEDGER_COLUMNS` and ``replication``, one row per replication, item
    and year): per item and year, its account and cap, the mean paid and its 5-95% range, the
    share of replications in which the cap bound, ``cap_bound`` (it bound in at least half of
    them) and the mean number of firms refused. A cap that never binds shows as
    ``cap_bound_share`` 0."""
    item = np.asarray(ledger["item"]).astype(str)
    year = np.asarray(ledger["year"])
    spent = np.asarray(ledger["spent_yuan"], dtype=float)
    refused = np.asarray(ledger["refused_firms"], dtype=float)
    bound = np.asarray(ledger["cap_bound"], dtype=bool)
    cap = np.asarray(ledger["budget_cap_yuan"], dtype=float)
    account = np.asarray(ledger["account"]).astype(str)
    out = []
    seen: dict[str, None] = dict.fromkeys(item.tolist())  # items in ledger order
    for name in seen:
        for y in np.unique(year[item == name]).tolist():
            rows = (item == name) & (year == y)
            p05, _, p95 = quantiles(spent[rows])
            share = float(bound[rows].mean())
            first = int(np.flatnonzero(rows)[0])
            out.append({
                "lever": name,
                "account": str(account[first]),
                "year": int(y),
                "budget_cap_yuan": float(cap[first]),
                "spent_yuan": float(spent[rows].mean()),
                "spent_p05_yuan": p05,
                "spent_p95_yuan": p95,
                "cap_bound": share >= 0.5,
                "cap_bound_share": share,
                "refused_firms": float(refused[rows].mean()),
            })
    return out
