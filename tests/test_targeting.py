"""Support where the policy puts it: the firm attributes the levers target, each lever's
eligibility table, and credit access as the channel the finance lever acts through.

A hand-built cohort shows each eligibility condition filtering the firms it names (leading
firms exempt from the revenue cap unless the table says otherwise); a run shows a narrower
table paying other firms, every one of them meeting it; paired runs on common random numbers
show a lockdown hitting firms without credit harder and the finance lever's credit lifting
upgrades where firms lack it, each with a power check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import parksim
from parksim.aggregate import paired_difference
from parksim.model.context import Context
from parksim.model.policies import Cohort, build_levers
from parksim.records import Kind
from parksim.rng import Streams

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

# six firms: small; small with R&D and a brand; small with credit; a leading firm (60 M yuan);
# a firm between the cap and the leading line (30 M); a small firm graded D
REVENUE = np.array([5e6, 8e6, 6e6, 6e7, 3e7, 4e6])
COHORT = Cohort(
    rows=np.arange(6), firm=np.arange(6), park=np.zeros(6, dtype=np.int64), revenue=REVENUE,
    floor_m2=np.full(6, 1e3), entered_at=np.zeros(6), mu_grade=np.array([-1, 0, 1, 2, -1, 3]),
    rd=np.array([False, True, False, True, False, False]),
    employees=np.array([10.0, 40.0, 25.0, 120.0, 60.0, 8.0]),
    rd_intensity=np.array([0.03, 0.05, 0.02, 0.01, 0.04, 0.03]),
    brand=np.array([False, True, False, True, False, False]),
    credit=np.array([False, False, True, True, True, False]),
)


def _eligible(baseline_path, **table) -> list[int]:
    overrides = [f"policies.finance.eligibility.{key}={value}" for key, value in table.items()]
    scenario = parksim.load_scenario(baseline_path, overrides=overrides)
    return np.flatnonzero(build_levers(scenario)["finance"].eligible(COHORT)).tolist()


def test_each_eligibility_condition_keeps_the_firms_it_names(baseline_path):
    # the revenue cap (20 M yuan) keeps the small firms; a leading firm (>= 50 M) is exempt
    assert _eligible(baseline_path) == [0, 1, 2, 3, 5]
    assert _eligible(baseline_path, leading_firms='"as_others"') == [0, 1, 2, 5]
    assert _eligible(baseline_path, leading_firms='"only"') == [3]
    assert _eligible(baseline_path, min_employees=20.0) == [1, 2, 3]
    assert _eligible(baseline_path, min_rd_intensity=0.02) == [1]  # R&D firms at 2% or more
    assert _eligible(baseline_path, own_brand_or_core_tech="true") == [1, 3]
    assert _eligible(baseline_path, credit_access='"with"') == [2, 3]
    assert _eligible(baseline_path, credit_access='"without"') == [0, 1, 5]
    assert _eligible(baseline_path, min_firm_grade='"B"') == [0, 1, 2]  # ungraded qualify
    assert _eligible(baseline_path, own_brand_or_core_tech="true",
                     leading_firms='"as_others"') == [1]


def test_a_bad_eligibility_table_is_refused_at_its_key(baseline_path):
    with pytest.raises(parksim.ScenarioError, match="eligibility.credit_access"):
        parksim.load_scenario(baseline_path,
                              overrides=['policies.finance.eligibility.credit_access="some"'])
    with pytest.raises(parksim.ScenarioError, match="eligibility.min_employees"):
        parksim.load_scenario(baseline_path,
                              overrides=["policies.finance.eligibility.min_employees=-1"])


def _paid_firms(baseline_path, *overrides: str) -> tuple[set[int], Context]:
    scenario = parksim.load_scenario(baseline_path, overrides=[
        "district.firms=8000", 'calendar.horizon="2020-12"', 'targets.date="2020-12"',
        "policies.finance.budget_cap_yuan_per_year=1e9", *overrides])
    ctx = Context(scenario, Streams(np.random.SeedSequence(3)))
    ctx.env.run(until=ctx.horizon)
    r = ctx.records.freeze()
    paid = r.of(Kind.SUPPORT_PAID) & (r.lever == "finance") & (r.firm_id >= 0)
    return set(r.firm_id[paid].tolist()), ctx


def test_a_narrower_table_pays_other_firms_each_meeting_it(baseline_path):
    """Targeting finance at firms with an own brand or core technology and without credit
    pays far fewer firms, every one of them with a brand and without credit of its own; the
    broad table pays many that have neither."""
    broad, ctx = _paid_firms(baseline_path)
    table = ctx.tenancy.table
    row = {int(f): i for i, f in enumerate(table.firm[: table.n].tolist())}
    narrow, ctx_narrow = _paid_firms(
        baseline_path, "policies.finance.eligibility.own_brand_or_core_tech=true",
        'policies.finance.eligibility.credit_access="without"')
    t2 = ctx_narrow.tenancy.table
    row2 = {int(f): i for i, f in enumerate(t2.firm[: t2.n].tolist())}
    assert 0 < len(narrow) < len(broad) / 3
    assert all(t2.brand[row2[f]] and not t2.credit[row2[f]] for f in narrow)
    assert sum(not table.brand[row[f]] for f in broad) > len(broad) / 2


# --------------------------------------------------------------------------- credit


def _run(path, *overrides: str, column: str, replications: int = 80):
    scenario = parksim.load_scenario(path, overrides=[
        "district.firms=12000", 'calendar.horizon="2020-12"', 'targets.date="2020-12"',
        *overrides])
    forecast = parksim.simulate(scenario, replications=replications, seed=9, workers=2)
    if column in forecast.targets:
        return forecast.targets[column].to_numpy(float)
    return forecast.series.groupby("replication")[column].last().to_numpy(float)


@pytest.mark.parametrize(("hit", "harder"), [(2.5, True), (1.0, False)])
def test_a_lockdown_hits_firms_without_credit_harder(hit, harder):
    """In the 2020 lockdown, a district where no firm has credit loses more firms to failure
    than one where every firm has it, on the same replications; with no extra hazard for the
    lack of credit (and no slower growth) the two are the same (the power check)."""
    path = SCENARIOS / "epidemic_2020.toml"
    world = (f"enterprises.no_credit_shock_exit_multiplier={hit}",
             "enterprises.no_credit_growth_drift_per_year=-0.05",  # so the runs differ
             "policies.finance.enabled=false", "policies.relief.enabled=false")
    without = _run(path, *world, "district.credit_access_share=0.0", column="exits_failure")
    with_credit = _run(path, *world, "district.credit_access_share=1.0", column="exits_failure")
    diff, low, high = paired_difference(with_credit, without)
    assert low < high and (low > 0) == harder, (diff, low, high)


@pytest.mark.parametrize(("share", "lifts"), [(0.0, True), (1.0, False)])
def test_finance_acts_through_credit_where_firms_lack_it(share, lifts):
    """Finance that does nothing but give credit (no extra growth or survival of its own)
    brings more upgrades where firms lack credit; where every firm has it, the same finance
    changes nothing (the power check)."""
    path = SCENARIOS / "baseline.toml"
    world = (f"district.credit_access_share={share}",)
    credit_only = ("policies.finance.growth_drift_per_year=0.0",
                   "policies.finance.exit_hazard_multiplier=1.0", "policies.finance.take_up=0.9",
                   "policies.finance.budget_cap_yuan_per_year=1e9")
    none = _run(path, *world, "policies.finance.enabled=false", column="upgrades")
    financed = _run(path, *world, *credit_only, column="upgrades")
    diff, low, high = paired_difference(none, financed)
    assert (low > 0) == lifts, (diff, low, high)
    if not lifts:  # every firm has credit: what finance gives changes nothing the model reads,
        assert diff == 0.0  # so every replication comes out the same


def test_only_a_shocks_extra_hazard_is_amplified_for_firms_without_credit(baseline_path):
    """In a lockdown (hazard x 2 over a window) a firm without credit meets 1 + (2 - 1) x 1.5 of
    the hazard a firm with credit meets; in a boom that lowers the hazard (x 0.3) both meet the
    same, never less than nothing (the entrant's factor and the report's hazard agree)."""
    for multiplier, expected in ((2.0, 2.5 / 2.0), (0.3, 1.0)):
        shock = (f"shocks=[{{name='s', start='2020-02', end='2020-04', growth_drift_per_year=0.0, "
                 f"exit_hazard_multiplier={multiplier}, relocation_multiplier=1.0}}]")
        scenario = parksim.load_scenario(baseline_path, overrides=[
            "district.firms=500", shock, "enterprises.no_credit_shock_exit_multiplier=1.5"])
        tenancy = Context(scenario, Streams(np.random.SeedSequence(1))).tenancy
        t0, t1 = np.array([12.0]), np.array([18.0])  # January-June 2020: the whole window inside
        share = 3.0 / 6.0
        shock_factor = 1.0 + (multiplier - 1.0) * share
        factor = tenancy.no_credit_shock_factors(t0, t1)[0]
        with_credit, without = tenancy.exit_hazard(np.full(2, 5.0), np.full(2, 12.0), 18.0,
                                                   np.array([True, False]))
        assert without >= 0.0
        if multiplier > 1:
            assert factor == pytest.approx((1 + (shock_factor - 1) * 1.5) / shock_factor)
        else:
            assert factor == 1.0
        assert without / with_credit == pytest.approx(factor)
        assert (factor > 1.0) == (expected > 1.0)
