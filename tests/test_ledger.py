"""The fiscal ledger: three accounts, budgets released by each lever's allocation rule, and who
missed out.

Timeline tests on a bare :class:`~parksim.model.policies.Ledger` show each allocation rule
paying whom it says; a property test drives it with random claims and checks that no payment
exceeds what the rule has released, that every refusal is recorded and that the totals are
the sums of the payments; runs of every shipped scenario show the statutory reliefs booked,
uncapped, in each, ``no_support`` included; and paired runs on common random numbers show the
district's own tax measures (local R&D subsidies) raising tech firms, with a power check.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parksim
from parksim.aggregate import paired_difference
from parksim.model import run_replication
from parksim.model.policies import Cohort, Ledger, Policy, Standing
from parksim.records import Kind, RecordBuffer
from parksim.scenario import STATUTORY_ITEMS

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
CAP = 1_200.0


def _ledger(allocation: str, cap: float = CAP) -> tuple[Ledger, RecordBuffer]:
    """A ledger from 2019-01 with one lever, ``land``, capped at ``cap`` a year."""
    records = RecordBuffer()
    ledger = Ledger("2019-01", records)
    ledger.budget("land", cap, allocation)
    return ledger, records


def _refused(records: RecordBuffer) -> list[tuple[float, int]]:
    r = records.freeze()
    out = r.kind == Kind.SUPPORT_REFUSED
    return list(zip(r.time_months[out].tolist(), r.firm_id[out].tolist(), strict=True))


def test_first_come_pays_claims_as_they_arrive_until_the_year_is_spent():
    """The whole cap from January: the report's claims take it all; a firm entering in
    September finds nothing left and is refused; January of the next year pays again."""
    ledger, records = _ledger("first_come")
    paid = ledger.pay_all("land", 0.0, np.array([500.0, 500.0, 500.0]), np.zeros(3, int),
                          np.array([1, 2, 3]), until=6.0)
    assert paid.tolist() == [True, True, False]  # 1,000 paid; 500 more would pass the cap
    assert not ledger.pay("land", 8.0, 300.0, 0, 4, until=12.0)
    assert ledger.pay("land", 8.0, 200.0, 0, 5, until=12.0)  # what is left still pays
    assert _refused(records) == [(0.0, 3), (8.0, 4)]
    assert ledger.pay("land", 12.0, 1_200.0, 0, 6, until=18.0)  # a new year, a new cap


def test_quarterly_releases_a_quarter_a_quarter_and_carries_what_is_unspent():
    """A claim draws on the tranches up to the quarter its period ends in: January's report,
    covering January-June, may take half the cap; an instant's claim in February a quarter;
    a claim in October all that is left of the year."""
    ledger, records = _ledger("quarterly")
    assert ledger.left("land", 1.0) == CAP / 4  # an instant in Q1
    assert ledger.left("land", 0.0, until=6.0) == CAP / 2  # the report's half-year
    paid = ledger.pay_all("land", 0.0, np.full(4, 200.0), np.zeros(4, int), np.arange(4),
                          until=6.0)
    assert paid.tolist() == [True, True, True, False]  # 600 of the 600 released for H1
    assert not ledger.pay("land", 2.0, 100.0, 0, 9, until=6.0)  # an entrant in March: none left
    assert ledger.left("land", 6.0, until=12.0) == CAP - 600.0  # July: the rest of the year
    assert ledger.left("land", 9.0) == CAP - 600.0  # October: what Q1-Q3 left, carried
    assert ledger.pay("land", 9.5, 600.0, 0, 10)
    assert ledger.left("land", 11.0) == 0.0
    assert _refused(records) == [(0.0, 3), (2.0, 9)]
    # a claim reaching into the next year draws on all of this one's cap
    fresh, _ = _ledger("quarterly")
    assert fresh.left("land", 10.0, until=16.0) == CAP
    assert fresh.left("land", 12.0) == CAP / 4  # and the next year starts with a quarter


def test_ranked_pays_the_best_revenue_per_m2_first(baseline_path):
    """An annual round, best first: with a budget for two firms, the ranked lever pays the two
    with the highest revenue per m2, whatever their take-up draws; first come pays the two
    whose draws come first, and records the others as refused."""
    firms = np.arange(4)
    revenue = np.array([2e6, 8e6, 4e6, 6e6])
    floor = np.full(4, 1_000.0)
    draws = np.array([0.01, 0.30, 0.02, 0.20])  # all below the take-up rate
    cohort = Cohort(firms, firms, np.zeros(4, dtype=np.int64), revenue, floor, np.zeros(4))
    standing = Standing(np.array([-1]), np.array([False]), np.array([True]), np.array([1.0]))
    paid_by = {}
    for allocation in ("ranked", "first_come"):
        scenario = parksim.load_scenario(baseline_path, overrides=[
            f'policies.finance.allocation="{allocation}"', "policies.finance.take_up=0.5",
            "policies.finance.window={start=\"2019-01\", end=\"2021-12\"}",
            "policies.finance.budget_cap_yuan_per_year=40000.0"])  # two firms' half-year
        records = RecordBuffer()
        policy = Policy(scenario, records)
        policy.mu_prices.spec = policy.mu_prices.spec.model_copy(update={"enabled": False})
        paid, _ = policy["finance"].offer(cohort, standing, 0.0, 6.0, draws, policy.ledger)
        paid_by[allocation] = sorted(paid.tolist())
        refused = _refused(records)
        assert sorted(f for _, f in refused) == sorted(set(firms.tolist()) - set(paid.tolist()))
    assert paid_by["ranked"] == [1, 3]  # 8,000 and 6,000 yuan per m2
    assert paid_by["first_come"] == [0, 2]  # the smallest draws


CLAIMS = st.lists(
    st.tuples(
        st.floats(0.0, 35.9),  # when (model months from 2019-01)
        st.floats(0.0, 8.0),  # the months the claim covers (0: an instant)
        st.floats(0.0, 600.0),  # amount
        st.integers(1, 5),  # how many claims at that instant
    ),
    min_size=1,
    max_size=40,
)


@settings(deadline=None, max_examples=60)
@given(claims=CLAIMS, allocation=st.sampled_from(("first_come", "quarterly", "ranked")),
       cap=st.floats(0.0, 3_000.0))
def test_no_rule_pays_more_than_it_has_released_and_the_ledger_adds_up(claims, allocation, cap):
    ledger, records = _ledger(allocation, cap)
    released_at: list[tuple[float, float]] = []
    for t, months, amount, n in sorted(claims):
        until = t + months if months > 0 else None
        ledger.pay_all("land", t, np.full(n, amount), np.zeros(n, int), np.arange(n), until)
        # the rule, worked out apart: quarterly releases a quarter a quarter, up to the quarter
        # of the last month the claim covers (the whole cap if that is in the next year)
        released = cap
        if allocation == "quarterly":
            last = max(math.ceil(until - 1e-9) - 1, int(t)) if until is not None else int(t)
            if last // 12 == int(t) // 12:
                released = cap * ((last % 12) // 3 + 1) / 4
        released_at.append((t, released))
        ledger.pay("small_firm_relief", t, amount, 0, 99)  # statutory: never capped
    r = records.freeze()
    paid = r.kind == Kind.SUPPORT_PAID
    land = paid & (r.lever == "land")
    by_year = defaultdict(float)
    for t, amount in zip(r.time_months[land].tolist(), r.amount_yuan[land].tolist(), strict=True):
        by_year[int(t) // 12] += amount
        released = max(x for s, x in released_at if s == t)
        assert by_year[int(t) // 12] <= released * (1 + 1e-12) + 1e-9
    for year, total in by_year.items():
        assert total <= cap * (1 + 1e-12) + 1e-9
        assert ledger.spent[("land", 2019 + year)] == pytest.approx(total)
    relief = paid & (r.lever == "small_firm_relief")
    expected = [a for _, _, a, _ in sorted(claims) if a > 0]
    assert r.amount_yuan[relief].tolist() == pytest.approx(expected)  # every one paid
    refused = r.kind == Kind.SUPPORT_REFUSED
    assert set(r.lever[refused].tolist()) <= {"land"}
    n_claims = sum(n for _, _, a, n in claims if a > 0)
    assert int(land.sum()) + int(refused.sum()) == n_claims  # each claim paid or refused


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_the_statutory_reliefs_are_booked_in_every_scenario_uncapped(path):
    """In every shipped scenario, no_support included, the national reliefs are paid to the
    firms they cover without a cap or a refusal, and only inside their windows."""
    scenario = parksim.load_scenario(path, overrides=[
        "district.firms=1500", 'calendar.horizon="2022-06"', 'targets.date="2022-06"'])
    r = run_replication(scenario, np.random.SeedSequence(2)).records
    paid = r.of(Kind.SUPPORT_PAID) & np.isin(r.lever, STATUTORY_ITEMS)
    assert (r.lever[paid] == "small_firm_relief").sum() > 50
    assert (r.lever[paid] == "rd_super_deduction").sum() > 5
    assert not np.isin(r.lever[r.of(Kind.SUPPORT_REFUSED)], STATUTORY_ITEMS).any()
    assert r.time_months[paid].min() < 1.0 and r.time_months[paid].max() < 36.0  # 2019-2021


def test_the_super_deduction_pulls_r_and_d_by_its_user_cost(baseline_path):
    """At the reference rate the deduction leaves R&D alone; raised to 100% it makes R&D
    cheaper after tax -- by 1 - 0.25 x 2 against 1 - 0.25 x 1.75 for a firm paying the
    standard rate, by far less for one under the small-firm relief (5%) -- and R&D adoption
    rises by the user-cost elasticity, certification by that factor to the power of
    ``enterprises.tech_intensity_elasticity``; the tax spared is booked for firms doing R&D
    only, on their own R&D spending."""
    scenario = parksim.load_scenario(baseline_path, overrides=[
        'policies.national.rd_super_deduction.rate_changes={"2020-01"=1.0}'])
    policy = Policy(scenario, RecordBuffer())
    deduction = policy.statutory[1]
    spec = scenario.policies.national.rd_super_deduction
    revenue = np.array([5e6, 8e7, 5e6])  # small, standard, small without R&D
    intensity = np.array([0.02, 0.05, 0.04])
    cohort = Cohort(np.arange(3), np.arange(3), np.zeros(3, dtype=np.int64), revenue,
                    np.full(3, 1e3), np.zeros(3), rd=np.array([True, True, False]),
                    rd_intensity=intensity)
    _, cost, (_, _, tech, before) = deduction.terms(cohort, 6.0, 12.0)
    np.testing.assert_allclose(before, 1.0)
    np.testing.assert_allclose(tech, 1.0)
    _, cost, (_, _, tech, after) = deduction.terms(cohort, 12.0, 18.0)
    e = spec.user_cost_elasticity
    standard = ((1 - 0.25 * 2.0) / (1 - 0.25 * 1.75)) ** -e
    small = ((1 - 0.05 * 2.0) / (1 - 0.05 * 1.75)) ** -e
    np.testing.assert_allclose(after, [small, standard, small])
    np.testing.assert_allclose(tech, after ** scenario.enterprises.tech_intensity_elasticity)
    assert standard > small > 1.0
    np.testing.assert_allclose(cost, [5e6 * 0.02 * 1.0 * 0.05 * 0.5,
                                      8e7 * 0.05 * 1.0 * 0.25 * 0.5, 0.0])


# --------------------------------------------------------------------------- channels

REPLICATIONS = 60
SEED = 23
SMALL = ["district.firms=6000"]


def _target(baseline_path, key: str, *overrides: str) -> np.ndarray:
    """``key`` at the target date per replication, on the common seeds."""
    scenario = parksim.load_scenario(baseline_path, overrides=[*SMALL, *overrides])
    return parksim.simulate(scenario, replications=REPLICATIONS, seed=SEED,
                            workers=2).targets[key].to_numpy()


def _tech(baseline_path, *overrides: str) -> np.ndarray:
    return _target(baseline_path, "tech_firms", *overrides)


@pytest.fixture(scope="module")
def without_tax(baseline_path):
    return _tech(baseline_path, "policies.tax.enabled=false")


def test_the_districts_tax_measures_raise_tech_firms(baseline_path, without_tax):
    """The district's own measures (local R&D subsidies: faster R&D adoption and certification)
    raise tech firms over the same world without them, on common random numbers."""
    boosted = _tech(baseline_path, "policies.tax.take_up=0.9",
                    "policies.tax.rd_adoption_multiplier=3.0",
                    "policies.tax.tech_hazard_multiplier=2.0")
    diff, low, _ = paired_difference(without_tax, boosted)
    assert low > 0, (diff, low)


def test_the_tech_bound_sees_measures_that_change_nothing(baseline_path, without_tax):
    """Power check: a tax lever that pays but moves neither R&D nor certification nor growth
    (and whose reward pulls no registration) leaves tech firms where they were: the bound the
    test above passes fails."""
    inert = _tech(baseline_path, "policies.tax.take_up=0.9",
                  "policies.tax.rd_adoption_multiplier=1.0",
                  "policies.tax.tech_hazard_multiplier=1.0",
                  "policies.tax.growth_drift_per_year=0.05",  # growth only: the runs differ
                  "policies.tax.registration_rate_per_100k_yuan=0.0")
    diff, low, high = paired_difference(without_tax, inert)
    assert low < high and not low > 0, (diff, low, high)
    assert math.isfinite(diff)


def _upgrades(baseline_path, *overrides: str) -> np.ndarray:
    return _target(baseline_path, "upgrades", *overrides)


@pytest.fixture(scope="module")
def without_finance(baseline_path):
    return _upgrades(baseline_path, "policies.finance.enabled=false")


def test_finance_brings_more_upgrades(baseline_path, without_finance):
    """Credit that makes supported firms grow faster brings more of them over the line by the
    target date, on common random numbers."""
    financed = _upgrades(baseline_path, "policies.finance.take_up=0.9",
                         "policies.finance.growth_drift_per_year=0.15")
    diff, low, _ = paired_difference(without_finance, financed)
    assert low > 0, (diff, low)


def test_the_upgrade_bound_sees_credit_that_changes_nothing(baseline_path):
    """Power check: credit that is paid for but moves neither growth nor survival, in a world
    where lacking credit costs nothing, brings no upgrade: the bound the test above passes
    fails."""
    world = ("enterprises.no_credit_growth_drift_per_year=0.0",
             "enterprises.no_credit_shock_exit_multiplier=1.0")
    without = _upgrades(baseline_path, *world, "policies.finance.enabled=false")
    inert = _upgrades(baseline_path, *world, "policies.finance.take_up=0.9",
                      "policies.finance.growth_drift_per_year=0.0",
                      "policies.finance.exit_hazard_multiplier=1.0")
    diff, low, high = paired_difference(without, inert)
    assert not low > 0, (diff, low, high)
    assert diff == 0.0  # it changes nothing the model reads: the same upgrades, run by run
