"""Policy channels: each lever moves its own target through the mechanism a district official
would recognise, shown by paired runs on common random numbers (the same firms meet the same
luck in both scenarios), with a statistical bound and a power check that the bound can fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import parksim

REPLICATIONS = 40
SEED = 11

GROWTH_SUPPORT = (  # finance support that makes firms grow much faster, for everyone who wants it
    "policies.finance.growth_drift_per_year=0.3",
    "policies.finance.take_up=0.9",
    "policies.finance.budget_cap_yuan_per_year=1e9",
)


def _targets(baseline_path, *overrides: str, replications: int = REPLICATIONS):
    scenario = parksim.load_scenario(baseline_path, overrides=list(overrides))
    return parksim.simulate(scenario, replications=replications, seed=SEED, workers=2).targets


def _paired(a, b) -> tuple[float, float, float]:
    """Mean of ``b - a`` over the paired replications and its 95% t interval."""
    from parksim.aggregate import paired_difference

    return paired_difference(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


def _net_exits_added(baseline_path, *rule: str) -> tuple[tuple[float, float, float], dict]:
    """How many more firms leave the parks (net of entries) with growth support than without:
    the paired difference of (cumulative entries - firms in parks), and the two runs."""
    base = _targets(baseline_path, *rule)
    grown = _targets(baseline_path, *rule, *GROWTH_SUPPORT)
    left = {name: t["firms_cumulative_entries"] - t["firms_stock"]
            for name, t in (("base", base), ("grown", grown))}
    return _paired(left["base"], left["grown"]), {"base": base, "grown": grown}


@pytest.fixture(scope="module")
def chain(baseline_path):
    return _net_exits_added(baseline_path)


def test_growth_support_does_not_empty_the_parks_through_graduates(chain):
    """Firms that outgrow a full park move to another or wait; only those needing their own
    industrial land graduate. So faster growth adds few exits from the parks (at most 10 firms
    at the 95% bound, against ~470 in them), and the graduates it does add are counted."""
    (diff, low, high), runs = chain
    assert low > -10.0 and high < 10.0, (diff, low, high)
    graduates = _paired(runs["base"]["graduates"], runs["grown"]["graduates"])
    assert graduates[1] > 0  # more graduates, each reported in the graduates column
    moves = _paired(runs["base"]["moves"], runs["grown"]["moves"])
    assert moves[1] > 0  # growth shows up as firms moving to parks with room


def test_the_bound_sees_graduates_vanishing(baseline_path):
    """Power check: when every firm without room graduates (the rule before moves,
    industrial_land_floor_m2 = 0), the same comparison finds growth support emptying the parks."""
    old_rule = "enterprises.industrial_land_floor_m2=0.0"
    (diff, low, high), _ = _net_exits_added(baseline_path, old_rule)
    assert high < -10.0 or low > 10.0, (diff, low, high)


BUILDING_SUPPORT = (  # what land_boost does for park supply, without its rent relief
    "policies.land.renovation_subsidy_yuan_per_m2=300.0",
    "policies.land.construction_subsidy_yuan_per_m2=600.0",
    "policies.land.land_discount_yuan_per_mu=2.5e5",
    "policies.land.extra_land_quota_mu_per_year=300.0",
    "policies.land.budget_cap_yuan_per_year=5e7",
)


@pytest.fixture(scope="module")
def baseline_targets(baseline_path):
    return _targets(baseline_path)


def test_building_support_brings_more_parks_and_floor_by_2021(baseline_path, baseline_targets):
    """Renovation and construction subsidies, land-price concessions and land quota make more
    candidate sites pay for their developers: more parks and more floor area by 2021-12 (both
    paired 95% intervals above zero)."""
    boosted = _targets(baseline_path, *BUILDING_SUPPORT)
    for key in ("parks", "floor_area_m2"):
        diff, low, high = _paired(baseline_targets[key], boosted[key])
        assert low > 0, (key, diff, low, high)


def test_the_supply_bound_sees_a_lever_that_builds_nothing(baseline_path, baseline_targets):
    """Power check: rent relief moves tenants, not developers; the same bound finds no more
    parks from it."""
    rent_only = _targets(baseline_path, "policies.land.rent_subsidy_share_by_year=[1.0, 0.75, 0.5]")
    diff, low, high = _paired(baseline_targets["parks"], rent_only["parks"])
    assert not low > 0, (diff, low, high)


def test_developers_who_may_sell_units_build_more(baseline_path):
    """Industrial real estate: a developer who sells the units recovers the price from buyers
    at once instead of rent over years, so more sites pay. Forbidding sales (every project
    lets its units) leaves fewer parks and less floor area by 2021-12 (paired 95% intervals
    above zero for the baseline, which allows them; 120 pairs, as a delisting now and then
    makes the floor area vary more). The supply bound's power check is above."""
    base = _targets(baseline_path, replications=120)
    rent_only = _targets(baseline_path, "parks.pipeline.models.third_party.sells_units_share=0.0",
                         "parks.pipeline.models.consortium.sells_units_share=0.0",
                         replications=120)
    for key in ("parks", "floor_area_m2"):
        diff, low, high = _paired(rent_only[key], base[key])
        assert low > 0, (key, diff, low, high)


NO_RENT_RELIEF = "policies.land.rent_subsidy_share_by_year=[0.0]"
AMPLE_LAND_BUDGET = "policies.land.budget_cap_yuan_per_year=1e9"
"""Both arms of the rent-relief rows get a land budget that never binds. The baseline's budget
pays rent relief and building subsidies from one cap, so there relief also crowds out
subsidies (fewer parks with relief on): that is the ledger's question, not the tenant's."""


def _rent_relief_runs(baseline_path, *rule: str):
    """Forecasts with the baseline's rent relief off and on (an ample land budget in both)."""
    off = parksim.simulate(
        parksim.load_scenario(baseline_path, overrides=[AMPLE_LAND_BUDGET, *rule, NO_RENT_RELIEF]),
        replications=REPLICATIONS, seed=SEED, workers=2,
    )
    on = parksim.simulate(
        parksim.load_scenario(baseline_path, overrides=[AMPLE_LAND_BUDGET, *rule]),
        replications=REPLICATIONS, seed=SEED, workers=2,
    )
    return off, on


def _months_to_fill_saved(off, on, column: str) -> tuple[float, float, float]:
    """Paired difference (on - off) of the mean months from opening to a share of occupancy,
    over the parks opened during the run in both forecasts (one never filling counts as 36)."""
    def months(result):
        parks = result.parks[result.parks["opened_during_run"]]
        return parks.set_index(["replication", "name"])[column].fillna(36.0)

    both = pd.concat({"off": months(off), "on": months(on)}, axis=1, join="inner")
    per_replication = (both["on"] - both["off"]).groupby(level=0).mean()
    return _paired(np.zeros(len(per_replication)), per_replication.to_numpy())


@pytest.fixture(scope="module")
def rent_relief(baseline_path):
    return _rent_relief_runs(baseline_path)


@pytest.fixture(scope="module")
def rent_relief_deaf(baseline_path):
    return _rent_relief_runs(baseline_path, "district.rent_elasticity=0.0")


def test_rent_relief_brings_more_firms_into_the_parks(rent_relief):
    """A firm offered a park weighs the rent net of the relief it expects: with the baseline's
    'one year free, two at half rent', more offers are taken and more firms enter the parks by
    2021-12 (paired 95% interval above zero)."""
    off, on = rent_relief
    diff, low, high = _paired(off.targets["firms_cumulative_entries"],
                              on.targets["firms_cumulative_entries"])
    assert low > 0, (diff, low, high)


def test_rent_relief_fills_new_parks_faster(rent_relief):
    """The offers taken fill the parks opened during the run sooner: fewer months from opening
    to 50% and to 90% occupancy (paired 95% intervals below zero)."""
    for column in ("months_to_50pct", "months_to_90pct"):
        diff, low, high = _months_to_fill_saved(*rent_relief, column)
        assert high < 0, (column, diff, low, high)


def test_the_demand_bounds_see_tenants_deaf_to_rent(rent_relief_deaf):
    """Power check: with acceptance indifferent to rent (rent_elasticity = 0), the same bounds
    find neither more entries nor faster fill from rent relief."""
    off, on = rent_relief_deaf
    diff, low, high = _paired(off.targets["firms_cumulative_entries"],
                              on.targets["firms_cumulative_entries"])
    assert not low > 0, (diff, low, high)
    for column in ("months_to_50pct", "months_to_90pct"):
        diff, low, high = _months_to_fill_saved(off, on, column)
        assert not high < 0, (column, diff, low, high)
