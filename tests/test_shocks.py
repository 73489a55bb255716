"""Shocks with a shape: a window that takes revenue, and a recovery that gives it back.

The arithmetic of one shock (what it has taken by a date, what an interval loses or regains),
firms outside the parks meeting it at their applications, and, on common random numbers, a
lockdown that recovers leaving the firms in parks and the upgrades where they were, where one
that never recovers raises the first and cuts the second (the power check).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import parksim
from parksim.aggregate import paired_difference
from parksim.model.context import Context
from parksim.model.shocks import ShockSchedule, ShockWindow
from parksim.rng import Streams

LOCKDOWN = dict(start="2020-02", end="2020-04", growth_drift_per_year=-1.2,
                exit_hazard_multiplier=2.0, relocation_multiplier=0.2)
REPLICATIONS = 120


def _schedule(half_life):
    shock = SimpleNamespace(**LOCKDOWN, recovery_half_life_months=half_life)
    return ShockSchedule([shock], "2019-01")


def test_a_lockdown_takes_its_drift_and_gives_half_back_in_a_half_life():
    """Feb-Apr 2020 is t = 13 to 16: -1.2 a year for three months takes 0.3 log points; with a
    half-life of 3 months, 0.15 is still missing at t = 19 and 0.075 at t = 22."""
    w = ShockWindow(13.0, 16.0, -1.2, 2.0, 0.2, 3.0)
    np.testing.assert_allclose(w.taken(np.array([12.0, 13.0, 14.5, 16.0, 19.0, 22.0])),
                               [0.0, 0.0, 0.15, 0.3, 0.15, 0.075])
    schedule = _schedule(3.0)
    edges = np.arange(0.0, 241.0, 6.0)  # half-yearly intervals for twenty years
    drift, _ = schedule.effects(edges[:-1], edges[1:])
    assert drift.sum() == pytest.approx(0.0, abs=1e-9)  # all of it comes back
    assert drift[2] == pytest.approx(-0.3 * 2 ** (-2 / 3))  # [12, 18): 0.3 lost, some back
    assert (drift[3:] > 0).all()


def test_a_shock_without_recovery_keeps_the_old_arithmetic():
    """No half-life: the drift of the window over the part of the interval inside it, for good."""
    schedule = _schedule(None)
    a = np.array([0.0, 12.0, 14.0, 15.5, 18.0])
    b = np.array([6.0, 18.0, 15.0, 24.0, 24.0])
    drift, factor = schedule.effects(a, b)
    overlap = np.clip(np.minimum(b, 16.0) - np.maximum(a, 13.0), 0.0, None)
    np.testing.assert_allclose(drift, -1.2 * overlap / 12.0)
    np.testing.assert_allclose(factor, 1.0 + overlap / (b - a))


def test_firms_outside_the_parks_meet_the_shock_at_their_applications(baseline_path):
    """A pool firm's revenue at an application has taken the shock's loss and recovery since
    its last look: the walk with a lockdown differs from the walk without by exactly that."""
    def walk(shocks):
        scenario = parksim.load_scenario(baseline_path, overrides=["district.firms=500"])
        scenario = scenario.model_copy(update={"shocks": shocks})
        pool = Context(scenario, Streams(np.random.SeedSequence(2))).district.pool
        firms = np.arange(50)
        since, until = np.full(50, 10.0), np.linspace(12.0, 30.0, 50)
        return pool.grow_all(firms, pool.log_revenue0[firms], since, until, 0)

    shock = parksim.scenario.schema.Shock(name="lockdown", **LOCKDOWN,
                                          recovery_half_life_months=3.0)
    gap = walk((shock,)) - walk(())
    until = np.linspace(12.0, 30.0, 50)
    expected = -ShockWindow(13.0, 16.0, -1.2, 2.0, 0.2, 3.0).taken(until)
    np.testing.assert_allclose(gap, expected, atol=1e-12)


@pytest.fixture(scope="module")
def lockdowns(baseline_path):
    """No lockdown, one whose loss comes back (half in three months) and one whose loss stays,
    on the same replications; the lockdowns take revenue only (no extra exits, whose turnover
    brings smaller firms in and is a channel of its own)."""
    def run(*overrides):
        scenario = parksim.load_scenario(baseline_path, overrides=list(overrides))
        return parksim.simulate(scenario, replications=REPLICATIONS, seed=11, workers=2).targets

    shock = ("shocks=[{name='lockdown', start='2020-02', end='2020-04', "
             "growth_drift_per_year=-1.2, exit_hazard_multiplier=1.0, "
             "relocation_multiplier=0.2%s}]")
    return {
        "none": run(),
        "recovers": run(shock % ", recovery_half_life_months=3.0"),
        "lasts": run(shock % ""),
    }


def _against_none(lockdowns, name, target):
    return paired_difference(lockdowns["none"][target].to_numpy(float),
                             lockdowns[name][target].to_numpy(float))


def test_a_lockdown_that_recovers_leaves_firms_and_upgrades_where_they_were(lockdowns):
    """Against no lockdown, on the same replications: firms in parks are not raised (the 95%
    bound of the difference stays below +5) and upgrades by 2021-12 are back within 2."""
    firms = _against_none(lockdowns, "recovers", "firms")
    upgrades = _against_none(lockdowns, "recovers", "upgrades")
    assert firms[2] < 5.0, firms
    assert upgrades[1] > -2.0, upgrades


def test_the_bounds_see_a_lockdown_that_never_recovers(lockdowns):
    """Power check: a lasting loss raises firms in parks (shrunken firms stop outgrowing their
    floor) and cuts upgrades, failing both bounds above."""
    firms = _against_none(lockdowns, "lasts", "firms")
    upgrades = _against_none(lockdowns, "lasts", "upgrades")
    assert firms[2] >= 5.0 and upgrades[1] <= -2.0, (firms, upgrades)


def test_an_applicant_is_screened_on_its_usual_revenue_and_moves_in_with_the_shock(
        baseline_path, scenarios_dir):
    """In the epidemic, every passing application: the standards and the floor read the firm's
    usual revenue at the application (its revenue without what the shock had taken), and it
    moves in with its revenue moved by what the shock took or gave back while it fitted out
    (so, as it moves in, short of its usual revenue by what the shock has not yet given back).
    More than twenty of the applications fall in the shock's months."""
    scenario = parksim.load_scenario(scenarios_dir / "epidemic_2020.toml",
                                     overrides=["district.firms=8000"])
    ctx = Context(scenario, Streams(np.random.SeedSequence(6)))
    shocks, district = ctx.shocks, ctx.district
    params = ctx.tenancy.params
    batches = district.applications.batches
    seen = 0
    for batch in batches:
        t = np.array(batch.t)
        entry = np.array(batch.entry_t)
        usual = np.array(batch.usual)
        moving_in = np.array(batch.revenue)
        np.testing.assert_allclose(moving_in, usual * np.exp(-shocks.taken(entry)), rtol=1e-12)
        assert district.meets_standards(usual).all()
        np.testing.assert_allclose(batch.need_m2, params.floor_need(
            usual, np.array(batch.floor_factor)), rtol=1e-12)
        seen += int((shocks.taken(t) > 0.05).sum())
    assert seen > 20


def test_a_shock_before_the_start_is_refused(baseline_path):
    with pytest.raises(parksim.ScenarioError, match="before calendar.start"):
        parksim.load_scenario(baseline_path, overrides=[
            "shocks=[{name='x', start='2018-10', end='2019-02', growth_drift_per_year=-1.2, "
            "exit_hazard_multiplier=1.0, relocation_multiplier=1.0}]"])


# --------------------------------------------------------------------------- relief


def _failures(scenario_path, *overrides: str, replications: int = 100):
    """Failures from the parks by 2020-12, per replication, on the same seeds."""
    scenario = parksim.load_scenario(scenario_path, overrides=[
        "district.firms=12000", 'calendar.horizon="2020-12"', 'targets.date="2020-12"',
        *overrides])
    series = parksim.simulate(scenario, replications=replications, seed=5, workers=2).series
    return series.groupby("replication")["exits_failure"].last().to_numpy(float)


@pytest.fixture(scope="module")
def reliefs(scenarios_dir):
    epidemic = scenarios_dir / "epidemic_2020.toml"
    return {
        "none": _failures(epidemic, "policies.relief.enabled=false"),
        "relief": _failures(epidemic, "policies.relief.exit_hazard_multiplier=0.5"),
        # paid, with an effect on growth (so the runs differ) but none on survival
        "inert": _failures(epidemic, "policies.relief.exit_hazard_multiplier=1.0",
                           "policies.relief.growth_drift_per_year=0.1"),
    }


def test_relief_in_the_lockdown_means_fewer_failures(reliefs):
    """Rent waived in public parks, when the lockdown strikes, keeps more of their firms alive:
    fewer failures than the same lockdown without relief, on the same replications."""
    diff, _, high = paired_difference(reliefs["none"], reliefs["relief"])
    assert high < 0, (diff, high)


def test_the_relief_bound_sees_a_waiver_that_saves_nobody(reliefs):
    """Power check: a waiver that is paid and moves growth but changes no firm's survival
    leaves the failures where they were: the bound the test above passes fails (on runs that
    differ, not on identical ones)."""
    diff, low, high = paired_difference(reliefs["none"], reliefs["inert"])
    assert low < high and not high < 0, (diff, low, high)


def test_the_relief_round_pays_the_firms_in_public_parks_when_the_window_opens(baseline_path):
    """When the window opens (2020-02, month 13) the firms then in parks part-way through their
    interval are offered the waiver for the window's months left in it (February and March):
    each firm that takes it up, small enough, in a government or collective park that lets its
    units, is paid its floor x its park's rent x the share waived x 2 months, dated month 13;
    none is paid in a park of another model or after the window."""
    scenario = parksim.load_scenario(baseline_path, overrides=[
        "district.firms=6000", 'calendar.horizon="2020-12"', 'targets.date="2020-12"',
        "policies.relief.enabled=true", "policies.relief.take_up=1.0"])
    ctx = Context(scenario, Streams(np.random.SeedSequence(8)))
    ctx.env.run(until=12.99)
    table = ctx.tenancy.table
    rows = table.in_parks()
    before = {int(table.firm[r]): (float(table.floor_m2[r]), int(table.park[r]),
                                    float(np.exp(table.log_revenue[r]))) for r in rows}
    ctx.env.run(until=ctx.horizon)
    r = ctx.records.freeze()
    paid = r.of(parksim.records.Kind.SUPPORT_PAID) & (r.lever == "relief")
    assert paid.any() and np.all((r.time_months[paid] >= 13.0) & (r.time_months[paid] < 15.0))
    spec = scenario.policies.relief
    at_round = paid & (r.time_months == 13.0)
    checked = 0
    for firm, park, amount in zip(r.firm_id[at_round].tolist(), r.park_id[at_round].tolist(),
                                  r.amount_yuan[at_round].tolist(), strict=True):
        floor, park_before, revenue = before[firm]
        p = ctx.parks[park]
        assert park == park_before and p.development_model in spec.park_models
        assert revenue <= spec.max_revenue_yuan
        rent = scenario.parks.rent_yuan_m2_month * p.relief_ratio
        assert amount == pytest.approx(floor * rent * spec.rent_waived_share * 2.0)
        checked += 1
    assert checked > 20
    public = [f for f, (_, park, revenue) in before.items()
              if ctx.parks[park].development_model in spec.park_models
              and ctx.parks[park].relief_ratio > 0 and revenue <= spec.max_revenue_yuan]
    assert checked == len(public)  # take-up 1 and a budget that does not bind: every one
