"""Upgrades as a managed process: crossing 20 M yuan makes a firm eligible, and registering as
above designated size (小升规入库) follows at a rate that the district's reward and its parks'
guidance raise.

The rule on hand-set firms at one review, with the firms' own keyed draws; and, on common
random numbers, a larger reward and more service platforms bringing more upgrades counted by
the target date, with the power check that an immediate registration leaves the reward
without effect (the artefact this replaces).
"""

from __future__ import annotations

import numpy as np
import pytest

import parksim
from parksim.aggregate import paired_difference
from parksim.model.context import Context
from parksim.model.enterprise import review
from parksim.records import Kind
from parksim.rng import Draw, Streams

REPLICATIONS = 80


def _world(baseline_path, *overrides):
    scenario = parksim.load_scenario(baseline_path, overrides=[
        "district.firms=6000", "enterprises.registration_rate_per_year=1.0", *overrides])
    ctx = Context(scenario, Streams(np.random.SeedSequence(4)))
    ctx.env.run(until=5.5)
    return ctx


@pytest.mark.parametrize("reward_rate", [0.0, 2.0])
def test_a_firm_above_the_line_registers_at_its_rate(baseline_path, reward_rate):
    """At the review closing June 2019 (the tax lever active from July: no reward yet) and at
    the one closing December (the reward adds 2.0 x 200,000 / 100,000 a year when it pays 2.0
    a year per 100,000 yuan), every firm above the line registers exactly when its keyed draw
    is below 1 - exp(-rate x guidance x its interval in years); firms below the line never
    do."""
    ctx = _world(baseline_path,
                 f"policies.tax.registration_rate_per_100k_yuan={reward_rate}")
    table, tenancy = ctx.tenancy, ctx.tenancy
    table = tenancy.table
    for t, now in ((6.0, 6.0 - 1e-6), (12.0, 12.0 - 1e-6)):
        ctx.env.run(until=now - 1e-3)
        rows = np.flatnonzero(table.active[:table.n] & (table.until[:table.n] <= t)
                              & (table.since[:table.n] < t))
        rows = rows[~table.upgraded[rows]]
        lifted = rows[::2]  # half of them lifted above the line, just before the review
        table.log_revenue[lifted] = np.log(5e7)
        table.log_revenue[rows[1::2]] = np.minimum(table.log_revenue[rows[1::2]], np.log(8e6))
        guidance = table.support_registration[lifted].copy()
        if t == 6.0:  # no platform begins to work before 6.25: the guidance is the park's now
            multiplier = ctx.scenario.parks.platforms.services.registration_rate_multiplier
            works = np.array([ctx.parks[int(p)].has_platform for p in table.park[lifted]])
            np.testing.assert_allclose(guidance, np.where(works, multiplier, 1.0))
            assert works.any() and not works.all()
        years = (t - table.since[lifted]) / 12.0  # a half-year, or less for an entrant
        draws = table.draws(lifted, table.review[lifted] + 1, (Draw.FIRM.register,))[0]
        review(tenancy, t, now)
        # the drift and a growth shock move revenue a little; all lifted stay above 20 M
        assert (np.exp(table.log_revenue[lifted]) >= 2e7).all()
        rate = 1.0 + (reward_rate * 2.0 if t == 12.0 else 0.0)
        expected = draws < -np.expm1(-rate * guidance * years)
        assert table.upgraded[lifted].tolist() == expected.tolist()
        assert not table.upgraded[rows[1::2]].any()
        assert 0 < expected.sum() < len(lifted)
        r = ctx.records.freeze()
        up = r.firm_id[(r.kind == Kind.FIRM_UPGRADED) & (r.time_months == now)]
        assert set(up.tolist()) == set(table.firm[lifted[expected]].tolist())


def _upgrades(baseline_path, *overrides):
    scenario = parksim.load_scenario(baseline_path, overrides=list(overrides))
    return parksim.simulate(scenario, replications=REPLICATIONS, seed=11,
                            workers=2).targets.upgrades.to_numpy(float)


@pytest.fixture(scope="module")
def registrations(baseline_path):
    """Upgrades counted by 2021-12 on the same replications: the baseline; no reward; a reward
    of 500,000 yuan; service platforms that guide twice as well; and, for the power check, the
    same without a reward and with one when registration is immediate."""
    immediate = "enterprises.registration_rate_per_year=100.0"
    return {
        "baseline": _upgrades(baseline_path),
        "no reward": _upgrades(baseline_path, "policies.tax.upgrade_reward_yuan=0.0"),
        "large reward": _upgrades(baseline_path, "policies.tax.upgrade_reward_yuan=5e5"),
        "guidance": _upgrades(baseline_path,
                              "parks.platforms.services.registration_rate_multiplier=2.6"),
        "immediate": _upgrades(baseline_path, immediate,
                               "policies.tax.upgrade_reward_yuan=0.0"),
        "immediate, rewarded": _upgrades(baseline_path, immediate,
                                         "policies.tax.upgrade_reward_yuan=5e5"),
    }


def test_rewards_and_guidance_bring_more_upgrades_by_the_target_date(registrations):
    """Firms above the line register sooner with a reward, and with a platform's guidance:
    paired 95% bounds above zero, and no reward below the baseline."""
    base = registrations["baseline"]
    for name in ("large reward", "guidance"):
        diff = paired_difference(base, registrations[name])
        assert diff[1] > 0, (name, diff)
    less = paired_difference(base, registrations["no reward"])
    assert less[2] < 0, less


def test_the_bounds_see_a_reward_that_changes_nothing(registrations):
    """Power check: with registration immediate (the old rule) a reward cannot bring an upgrade
    forward: the bound the reward passes above fails, the difference is not above zero."""
    diff = paired_difference(registrations["immediate"], registrations["immediate, rewarded"])
    assert diff[1] <= 0, diff


def test_the_reward_pulls_only_while_the_budget_can_pay_it(baseline_path):
    """The reward adds to the registration rate while the tax lever is active and this year's
    budget can still pay a reward; with less left than a reward, or before the lever opens, a
    firm registers at the base rate."""
    ctx = _world(baseline_path, "policies.tax.registration_rate_per_100k_yuan=0.5")
    policy = ctx.policy
    assert policy.registration_rate(3.0, 1.0) == 1.0  # before 2019-07
    assert policy.registration_rate(7.0, 1.0) == pytest.approx(2.0)  # 0.5 x 200,000 / 100,000
    tax = policy["tax"]
    policy.ledger.pay("tax", 7.0, tax.cap - 1.5e5, 0, -1)  # 150,000 left: not a reward
    assert policy.registration_rate(7.0, 1.0) == 1.0
    assert policy.registration_rate(13.0, 1.0) == pytest.approx(2.0)  # a new year, a new budget


def test_the_grading_log_counts_the_firms_waiting_above_the_line(baseline_path):
    """At a grading round, each park's row counts its firms above the line not yet registered:
    the cultivation pool (小升规培育库) as the round finds it."""
    ctx = _world(baseline_path)
    ctx.env.run(until=11.6)  # just after the December 2019 round
    table = ctx.tenancy.table
    rows = table.in_parks()
    waiting = ~table.upgraded[rows] & (np.exp(table.log_revenue[rows]) >= 2e7)
    expected = np.bincount(table.park[rows][waiting], minlength=len(ctx.parks))
    log = ctx.grading.columns()
    assert log["above_line_unregistered"] == [int(expected[p]) for p in log["park_id"]]
    assert sum(log["above_line_unregistered"]) > 0
