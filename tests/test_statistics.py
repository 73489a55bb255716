"""Statistical tests: the model's random mechanisms against what is known analytically.

* Policy effects have the right sign: all levers vs no support, paired by common random
  numbers (same seed), lower end of a one-sided 99% t-bound on the mean paired difference.
* The hindcast puts the observed end-2019 numbers inside the simulated 5-95% range.
* Exits: with growth, contracts, graduation and policies switched off, a park firm of age
  ``a`` fails within a year with probability ``1 - exp(-m * (L(a + 1) - L(a)))``, where ``L``
  is the integrated hazard of ``enterprises.exit_hazard_by_age`` and ``m`` the park multiplier;
  the initial firms' ages are exponential with mean ``district.age_mean_years``.
* Growth: one review's log-revenue change is ``drift * dt + Laplace(0, b)`` with
  ``b = scale * (revenue / reference) ** -beta * sqrt(dt)`` (variance ``2 b^2``). A contract
  that every firm misses makes each firm leave at its first review, so the exit record
  carries the revenue after exactly one growth step.

All bounds are wide (about 4 standard errors, or p > 1e-4) and every run is seeded.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

import parksim
from parksim.model import run_replication
from parksim.records import Kind
from parksim.scenario.schema import LEVERS

_SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
_BASELINE = _SCENARIOS / "baseline.toml"
NO_POLICIES = tuple(f"policies.{lever}.enabled=false" for lever in LEVERS)


def _integrated_hazard(table, age: np.ndarray) -> np.ndarray:
    """Integral of the piecewise-constant yearly hazard from 0 to ``age`` (last value beyond)."""
    h = np.asarray(table, dtype=float)
    age = np.asarray(age, dtype=float)
    out = np.zeros_like(age)
    for i, rate in enumerate(h):
        hi = np.inf if i == len(h) - 1 else i + 1.0
        out += rate * np.clip(np.minimum(age, hi) - i, 0.0, None)
    return out


def test_integrated_hazard_helper():
    table = (0.1, 0.2, 0.4)
    np.testing.assert_allclose(_integrated_hazard(table, np.array([0.0, 0.5, 1.0, 2.5, 5.0])),
                               [0.0, 0.05, 0.1, 0.3 + 0.2, 0.3 + 0.4 * 3])


# --------------------------------------------------------------------------- policy effects


def test_all_levers_raise_upgrades_over_no_support_on_common_random_numbers():
    n, seed = 50, 20240601
    full = parksim.simulate(
        parksim.load_scenario(_SCENARIOS / "all_levers.toml"), replications=n, seed=seed, workers=2
    )
    none = parksim.simulate(
        parksim.load_scenario(_SCENARIOS / "no_support.toml"), replications=n, seed=seed, workers=2
    )
    for key in ("upgrades", "tech_firms"):
        a, b = full.targets[key].to_numpy(), none.targets[key].to_numpy()
        d = a - b
        lower = d.mean() - stats.t.ppf(0.99, n - 1) * d.std(ddof=1) / math.sqrt(n)
        assert lower > 0, (
            f"{key}: mean paired difference {d.mean():.2f}, 99% lower bound {lower:.2f}"
        )
    # common random numbers pair the replications: the paired outcomes are positively correlated
    a, b = full.targets["upgrades"].to_numpy(), none.targets["upgrades"].to_numpy()
    assert stats.pearsonr(a, b).statistic > 0.3
    # the district's levers cost money while no support costs none; the district still builds
    # its own parks (capital outlays), and the statutory reliefs are there in both
    levers = [f"fiscal_{lever}_yuan" for lever in parksim.scenario.LEVERS]
    assert (none.targets[levers].sum(axis=1) == 0).all()
    assert (full.targets[levers].sum(axis=1) > 0).all()
    np.testing.assert_allclose(none.targets["fiscal_total_yuan"],
                               none.targets["capital_outlay_yuan"])
    assert (none.targets["tax_expenditure_yuan"] > 0).all()
    assert (full.targets["tax_expenditure_yuan"] > 0).all()


# --------------------------------------------------------------------------- hindcast


def test_hindcast_puts_the_observed_end_2019_numbers_inside_the_simulated_range():
    scenario = parksim.load_scenario(_SCENARIOS / "hindcast_2019.toml")
    forecast = parksim.simulate(scenario, replications=100, seed=scenario.run.seed, workers=2)
    observed = {row["key"]: row for row in forecast.summary()["observed"]}
    assert set(observed) == {"parks", "provincial_parks"}
    assert observed["parks"]["observed"] == 11 and observed["provincial_parks"]["observed"] == 7
    for row in observed.values():
        assert row["date"] == "2019-12"
        assert row["p05"] <= row["observed"] <= row["p95"], row
        assert row["inside_p05_p95"] is True
        # the summary's range is the simulated one
        col = forecast.observed[f"observed_{list(observed).index(row['key'])}"].to_numpy()
        assert row["p05"] == pytest.approx(np.quantile(col, 0.05))
        assert row["p95"] == pytest.approx(np.quantile(col, 0.95))


# --------------------------------------------------------------------------- exits


EXIT_ONLY = (
    'calendar.horizon="2019-12"',
    'targets.date="2019-12"',
    "enterprises.growth_drift_per_year=0.0",
    "parks.growth_drift_per_year=0.0",
    "enterprises.growth_scale_per_year=1e-9",
    "enterprises.expansion_tolerance=10.0",
    "enterprises.contract_enforcement_probability=0.0",
    "district.relocation_rate_per_year=0.0",
    "district.formation_rate_per_year=0.0",
    *NO_POLICIES,
)


@pytest.fixture(scope="module")
def initial_firm_exits():
    """Ages at entry, and whether each initial firm failed within 12 months, over replications."""
    scenario = parksim.load_scenario(_BASELINE, overrides=list(EXIT_ONLY))
    ages, failed = [], []
    for seq in np.random.SeedSequence(4242).spawn(50):
        r = run_replication(scenario, seq).records
        entered = r.of(Kind.FIRM_ENTERED)
        assert np.all(r.time_months[entered] == 0.0)  # no relocation: only the initial firms
        exited = r.of(Kind.FIRM_EXITED)
        assert set(r.exit_reason[exited].tolist()) <= {"failure"}
        gone = set(r.firm_id[exited].tolist())
        ages.append(r.firm_age_years[entered])
        failed.append(np.array([f in gone for f in r.firm_id[entered].tolist()]))
    return scenario, np.concatenate(ages), np.concatenate(failed)


def test_initial_firm_ages_are_exponential(initial_firm_exits):
    scenario, ages, _ = initial_firm_exits
    assert len(ages) > 5000
    mean = scenario.district.age_mean_years
    assert stats.kstest(ages, "expon", args=(0, mean)).pvalue > 1e-4


def test_exits_within_a_year_match_the_integrated_hazard_given_the_ages(initial_firm_exits):
    scenario, ages, failed = initial_firm_exits
    table = scenario.enterprises.exit_hazard_by_age
    m = scenario.parks.exit_hazard_multiplier
    p = 1.0 - np.exp(-m * (_integrated_hazard(table, ages + 1.0) - _integrated_hazard(table, ages)))
    expected, sd = p.sum(), math.sqrt((p * (1 - p)).sum())
    observed = failed.sum()
    assert abs(observed - expected) < 4 * sd, (
        f"{observed} exits, expected {expected:.1f} +- {sd:.1f}"
    )
    # the test can tell the park multiplier from none: without it the expectation is far off
    p1 = 1.0 - np.exp(-(_integrated_hazard(table, ages + 1.0) - _integrated_hazard(table, ages)))
    assert abs(observed - p1.sum()) > 8 * sd


def test_exit_share_matches_the_hazard_integrated_over_the_age_distribution(initial_firm_exits):
    scenario, ages, failed = initial_firm_exits
    table = scenario.enterprises.exit_hazard_by_age
    m = scenario.parks.exit_hazard_multiplier
    mean = scenario.district.age_mean_years

    def p_exit(a: float) -> float:
        d = (
            _integrated_hazard(table, np.array([a + 1.0]))[0]
            - _integrated_hazard(table, np.array([a]))[0]
        )
        return (1.0 - math.exp(-m * d)) * math.exp(-a / mean) / mean

    # split at the table's integer ages, where the integrand has kinks
    edges = [0.0, *range(1, len(table) + 1), np.inf]
    share = sum(
        integrate.quad(p_exit, lo, hi)[0] for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    )
    n, k = len(failed), int(failed.sum())
    lo, hi = stats.binomtest(k, n).proportion_ci(0.9999, method="wilson")
    assert lo <= share <= hi, f"simulated {k / n:.4f} [{lo:.4f}, {hi:.4f}], analytic {share:.4f}"


def test_exit_times_inside_the_review_interval_follow_the_truncated_exponential():
    """Given a failure in the first interval ``[0, dt)`` (hazard integral ``h`` over it), the exit
    time has CDF ``F(s) = (1 - exp(-h s / dt)) / (1 - exp(-h))``; ``F(T)`` is uniform (probability
    integral transform, firm by firm)."""
    scenario = parksim.load_scenario(
        _BASELINE, overrides=[*EXIT_ONLY, "enterprises.review_interval_months=12.0"]
    )
    table = scenario.enterprises.exit_hazard_by_age
    m = scenario.parks.exit_hazard_multiplier
    pit = []
    for seq in np.random.SeedSequence(77).spawn(40):
        r = run_replication(scenario, seq).records
        entered, exited = r.of(Kind.FIRM_ENTERED), r.of(Kind.FIRM_EXITED)
        age = dict(
            zip(r.firm_id[entered].tolist(), r.firm_age_years[entered].tolist(), strict=True)
        )
        a = np.array([age[f] for f in r.firm_id[exited].tolist()])
        t = r.time_months[exited]
        # the exit record's age is the entry age plus the time in the park
        np.testing.assert_allclose(r.firm_age_years[exited], a + t / 12.0, rtol=1e-9)
        h = m * (_integrated_hazard(table, a + 1.0) - _integrated_hazard(table, a))
        pit.append(-np.expm1(-h * t / 12.0) / -np.expm1(-h))
    pit = np.concatenate(pit)
    assert len(pit) > 300
    assert stats.kstest(pit, "uniform").pvalue > 1e-4


# --------------------------------------------------------------------------- growth


GROWTH_ONE_STEP = (
    'calendar.horizon="2019-12"',
    'targets.date="2019-12"',
    "enterprises.exit_hazard_by_age=[0.0]",
    "enterprises.contract_months=0.0",
    "enterprises.contract_min_revenue_yuan_per_m2=1e12",
    "enterprises.contract_enforcement_probability=1.0",
    "enterprises.expansion_tolerance=10.0",
    "enterprises.growth_drift_per_year=0.08",
    "parks.growth_drift_per_year=0.04",
    "enterprises.growth_scale_per_year=0.3",
    "enterprises.growth_size_exponent=0.17",
    "enterprises.review_interval_months=6.0",
    *NO_POLICIES,
)


@pytest.fixture(scope="module")
def one_step_growth():
    """Each firm's first review: it closes the half-year in which the firm entered (reports every
    ``review_interval_months`` from the start), over an interval of ``dy`` years."""
    scenario = parksim.load_scenario(_BASELINE, overrides=list(GROWTH_ONE_STEP))
    e = scenario.enterprises
    dt = e.review_interval_months
    drift_per_year = e.growth_drift_per_year + scenario.parks.growth_drift_per_year
    steps, scales = [], []
    for seq in np.random.SeedSequence(2718).spawn(10):
        r = run_replication(scenario, seq).records
        entered, exited = r.of(Kind.FIRM_ENTERED), r.of(Kind.FIRM_EXITED)
        start = dict(
            zip(
                r.firm_id[entered].tolist(),
                zip(r.time_months[entered], r.revenue_yuan[entered], strict=True),
                strict=True,
            )
        )
        for f, t, revenue, reason in zip(
            r.firm_id[exited].tolist(),
            r.time_months[exited],
            r.revenue_yuan[exited],
            r.exit_reason[exited],
            strict=True,
        ):
            t0, r0 = start[f]
            # the breach found by the review closing the half-year is acted on as the next opens
            report = (math.floor(t0 / dt) + 1) * dt
            assert reason == "contract" and t == report
            dy = (report - t0) / 12.0
            steps.append(math.log(revenue / r0) - drift_per_year * dy)
            scales.append(
                e.growth_scale_per_year
                * (r0 / e.growth_reference_revenue_yuan) ** -e.growth_size_exponent
                * math.sqrt(dy)
            )
    return np.array(steps), np.array(scales)


def test_one_review_log_revenue_change_is_laplace_with_the_size_dependent_scale(one_step_growth):
    steps, b = one_step_growth
    assert len(steps) > 1500
    z = steps / b
    assert stats.kstest(z, "laplace").pvalue > 1e-4
    # not merely symmetric with the right variance: a normal of the same variance is rejected
    assert stats.kstest(z, "norm", args=(0, math.sqrt(2))).pvalue < 1e-4


def test_one_review_log_revenue_variance_is_two_b_squared(one_step_growth):
    steps, b = one_step_growth
    # E[step^2] = 2 b^2 for each firm: compare the mean of step^2 / (2 b^2) with 1
    ratio = steps**2 / (2 * b**2)
    se = ratio.std(ddof=1) / math.sqrt(len(ratio))
    assert abs(ratio.mean() - 1.0) < 4 * se
    # and the spread falls with size (beta > 0): small firms move more than large ones
    small = b > np.median(b)
    assert np.var(steps[small]) > np.var(steps[~small])
    # the mean change is the drift (the Laplace part has mean 0)
    assert abs(steps.mean()) < 4 * steps.std(ddof=1) / math.sqrt(len(steps))
