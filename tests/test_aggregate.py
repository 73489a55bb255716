"""Aggregates across replications: probabilities and their intervals, quantiles, observation
ranges, fiscal summaries, costs per unit and paired differences -- checked against scipy,
numpy and the arithmetic the summaries have always printed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import parksim
from parksim.aggregate import (
    cost_per_extra_unit,
    cost_per_unit,
    fiscal_summary,
    median,
    paired_difference,
    probability_difference,
    proportion,
    proportion_interval,
    quantiles,
    summarise_observations,
    summarise_targets,
)

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"


# ---------------------------------------------------------------------------
# intervals and summaries


@settings(deadline=None, max_examples=80)
@given(n=st.integers(1, 5000), data=st.data())
def test_proportion_interval_is_in_unit_interval_and_matches_scipy(n, data):
    k = data.draw(st.one_of(st.just(0), st.just(n), st.integers(0, n)))
    lo, hi = proportion_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert lo == pytest.approx(max(ci.low, 0.0), abs=1e-12)
    assert hi == pytest.approx(min(ci.high, 1.0), abs=1e-12)


def test_proportion_interval_edges():
    assert proportion_interval(0, 0) == (0.0, 1.0)
    lo, hi = proportion_interval(0, 20)
    assert lo == 0.0 and 0.0 < hi < 0.25
    lo, hi = proportion_interval(20, 20)
    assert hi == 1.0 and 0.75 < lo < 1.0
    wide, narrow = proportion_interval(5, 10, 0.99), proportion_interval(5, 10, 0.80)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]


def test_summarise_targets_counts_replications_that_meet_each_threshold():
    scenario = parksim.load_scenario(BASELINE)
    t = scenario.targets
    n = 40
    rng = np.random.default_rng(0)
    values = {key: np.full(n, float(getattr(t, key)) + 1.0) for key in
              ("parks", "floor_area_m2", "firms", "upgrades", "tech_firms", "demo_parks")}
    # 30 of 40 meet it (>=)
    values["upgrades"] = np.where(np.arange(n) < 10, t.upgrades - 1.0, t.upgrades)
    values["firms"] = rng.normal(t.firms, 50.0, n)
    per_target, all_met = summarise_targets(values, scenario)
    by_key = {s.key: s for s in per_target}
    assert by_key["upgrades"].probability == 0.75
    assert by_key["upgrades"].threshold == t.upgrades
    assert by_key["parks"].probability == 1.0
    assert (by_key["upgrades"].ci_low, by_key["upgrades"].ci_high) == proportion_interval(30, 40)
    firms = values["firms"]
    assert by_key["firms"].probability == pytest.approx(np.mean(firms >= t.firms))
    assert by_key["firms"].median == pytest.approx(np.median(firms))
    assert by_key["firms"].p05 == pytest.approx(np.quantile(firms, 0.05))
    assert by_key["firms"].p95 == pytest.approx(np.quantile(firms, 0.95))
    both = np.mean((firms >= t.firms) & (np.arange(n) >= 10))
    assert all_met["probability"] == pytest.approx(both)
    assert all_met["ci_low"] <= both <= all_met["ci_high"]


def test_proportion_is_the_share_met_with_its_interval():
    met = np.array([True, False, True, True])
    assert proportion(met) == (0.75, *proportion_interval(3, 4))


def test_quantiles_and_median():
    x = np.array([4.1, 1.0, 3.0, 2.0])  # not counts: linear interpolation
    assert quantiles(x) == tuple(float(q) for q in np.quantile(x, (0.05, 0.5, 0.95)))
    assert median(x) == 2.5
    counts = np.array([4.0, 1.0, 3.0, 2.0, 7.0, 5.0])  # counts: values that occurred
    assert quantiles(counts) == (1.0, 3.0, 7.0) and median(counts) == 3.0
    assert all(float(q).is_integer() for q in quantiles(np.arange(1001.0) ** 2))
    assert all(math.isnan(q) for q in quantiles(np.array([])))


# --------------------------------------------------------------------------- observations


def test_observations_summarise_the_finite_values_and_say_whether_the_observation_is_inside():
    scenario = parksim.load_scenario(BASELINE)
    assert len(scenario.observations) >= 2
    first, second = scenario.observations[:2]
    inside = np.array([first.value - 2, first.value, first.value + 2, np.nan, first.value + 1])
    outside = np.full(5, second.value + 100.0)
    rest = [np.full(5, np.nan) for _ in scenario.observations[2:]]
    out = summarise_observations([inside, outside, *rest], scenario)
    assert [o.key for o in out] == [o.key for o in scenario.observations]
    finite = inside[np.isfinite(inside)]
    assert (out[0].p05, out[0].median, out[0].p95) == quantiles(finite)
    assert (
        out[0].inside_p05_p95 and out[0].observed == first.value and out[0].source == first.source
    )
    assert not out[1].inside_p05_p95 and out[1].median == second.value + 100.0
    for o in out[2:]:
        assert math.isnan(o.median) and not o.inside_p05_p95


# --------------------------------------------------------------------------- fiscal cost


@settings(deadline=None, max_examples=60)
@given(values=st.lists(st.floats(0, 1e9, allow_nan=False), min_size=1, max_size=120))
def test_fiscal_summary_keeps_the_arithmetic_of_the_summary(values):
    """Total: interpolated quantiles; by lever and park investment: pandas' median and
    quantiles, as the forecast summary computed them from its DataFrame."""
    x = np.array(values)
    y = x[::-1].copy() * 0.5
    summary = fiscal_summary(x, {"finance": y, "land": x}, y)
    assert (summary.p05, summary.median, summary.p95) == tuple(
        float(q) for q in np.quantile(x, (0.05, 0.5, 0.95))
    )
    assert summary.by_lever == {
        "finance": float(pd.Series(y).median()),
        "land": float(pd.Series(x).median()),
    }
    s = pd.Series(y)
    assert (summary.investment_median, summary.investment_p05, summary.investment_p95) == (
        float(s.median()), float(s.quantile(0.05)), float(s.quantile(0.95)))


def test_cost_per_unit_skips_replications_without_units():
    cost = np.array([100.0, 50.0, 90.0, 30.0])
    units = np.array([2.0, 0.0, 3.0, 1.0])
    assert cost_per_unit(cost, units) == 30.0  # median of 50, 30, 30
    assert math.isnan(cost_per_unit(cost, np.zeros(4)))


def test_cost_per_extra_unit_only_for_a_gain_that_is_there():
    base, cost = np.array([10.0, 20.0]), np.array([16.0, 30.0])
    assert cost_per_extra_unit(base, cost, diff=2.0, diff_ci_low=0.5) == 4.0
    assert math.isnan(cost_per_extra_unit(base, cost, diff=2.0, diff_ci_low=0.0))
    assert math.isnan(cost_per_extra_unit(base, cost, diff=2.0, diff_ci_low=math.nan))


# --------------------------------------------------------------------------- paired differences


def test_paired_difference_of_a_constant_shift_has_a_zero_width_interval():
    a = np.array([1.0, 5.0, 2.0, 8.0])
    assert paired_difference(a, a + 3) == (3.0, 3.0, 3.0)
    mean, lo, hi = paired_difference(a, a + np.array([1.0, 2.0, 3.0, 4.0]))
    assert mean == 2.5 and lo < 2.5 < hi
    d = np.array([1.0, 2.0, 3.0, 4.0])
    assert (lo, hi) == tuple(float(v) for v in stats.ttest_1samp(d, 0.0).confidence_interval(0.95))


def _paired_met(rng, sets: int, per_set: int, effect_sd: float):
    """A toy compare: per parameter set a baseline propensity theta and an effect of the
    change delta ~ N(0.2, effect_sd); each replication one common uniform u, met in A if
    u < Phi(theta) and in B if u < Phi(theta + delta) (common random numbers)."""
    theta = np.repeat(0.5 * rng.standard_normal(sets), per_set)
    delta = np.repeat(0.2 + effect_sd * rng.standard_normal(sets), per_set)
    u = rng.random(sets * per_set)
    return (u < stats.norm.cdf(theta), u < stats.norm.cdf(theta + delta),
            np.repeat(np.arange(sets), per_set))


def _true_change(effect_sd: float) -> float:
    """E[Phi(theta + delta) - Phi(theta)] of the toy, by quadrature."""
    def inner(t):
        return integrate.quad(lambda d: (stats.norm.cdf(t + d) - stats.norm.cdf(t))
                              * stats.norm.pdf(d, 0.2, effect_sd), -6, 6)[0] if effect_sd else \
            stats.norm.cdf(t + 0.2) - stats.norm.cdf(t)
    return integrate.quad(lambda t: inner(t) * stats.norm.pdf(t, 0, 0.5), -4, 4)[0]


def test_the_change_in_p_met_has_its_coverage_when_pairs_are_clustered_in_parameter_sets():
    """The effect of the change varies between parameter sets (as a lever's effect size does
    under its prior): the interval over sets covers the true change in about 95% of 300
    toy comparisons of 20 sets x 10 pairs, where an interval that takes the pairs as
    independent covers it in about 70% (the power check: the same bound fails it)."""
    truth = _true_change(0.6)
    rng = np.random.default_rng(11)
    clustered = naive = 0
    trials = 300
    for i in range(trials):
        a, b, sets = _paired_met(rng, 20, 10, 0.6)
        _, lo, hi = probability_difference(a, b, sets, seed=i)
        clustered += lo <= truth <= hi
        _, lo, hi = probability_difference(a, b)
        naive += lo <= truth <= hi
    # binomial standard error at 0.95 of 300 trials: 0.0126
    assert clustered / trials >= 0.89, clustered / trials
    assert naive / trials < 0.89, naive / trials


def test_the_change_in_p_met_of_independent_pairs_is_a_paired_interval():
    """Values as written (no sets): Newcombe's paired interval covers the true change in
    about 95% of 600 comparisons of 200 pairs on common random numbers, and it is narrower
    than the interval of two independent proportions, which covers nearly always (the
    power check: the same bounds fail it)."""
    truth = _true_change(0.0)
    rng = np.random.default_rng(12)
    covered = unpaired = 0
    trials = 600
    for _ in range(trials):
        a, b, _ = _paired_met(rng, 200, 1, 0.0)
        diff, lo, hi = probability_difference(a, b)
        assert -1 <= lo <= diff <= hi <= 1
        covered += lo <= truth <= hi
        lo_a, hi_a = proportion_interval(int(a.sum()), len(a))
        lo_b, hi_b = proportion_interval(int(b.sum()), len(b))
        pa, pb = a.mean(), b.mean()
        wide = math.hypot(pb - lo_b, hi_a - pa), math.hypot(hi_b - pb, pa - lo_a)
        unpaired += diff - wide[0] <= truth <= diff + wide[1]
    assert 0.93 <= covered / trials <= 0.985, covered / trials
    assert unpaired / trials > 0.985, unpaired / trials


def test_the_change_in_p_met_at_the_edges():
    met = np.ones(50, dtype=bool)
    diff, lo, hi = probability_difference(met, met)
    assert diff == 0 and -0.1 < lo < 0 < hi < 0.1  # no discordant pair: still an interval
    diff, lo, hi = probability_difference(~met, met)
    assert diff == 1 and hi == 1 and lo > 0.85
    sets = np.repeat(np.arange(10), 5)
    # sets that agree cannot say how much sets differ: the pairs count as many as the sets
    assert probability_difference(met, met, sets) == pytest.approx(
        probability_difference(met[:10], met[:10]))
    assert probability_difference(met, met, np.zeros(50)) == pytest.approx(
        probability_difference(met[:1], met[:1]))  # one set: one trial's width
    mixed = met ^ (np.arange(50) % 3 == 0)
    assert probability_difference(~met, mixed, sets, seed=1) == probability_difference(
        ~met, mixed, sets, seed=1)  # the bootstrap is seeded
