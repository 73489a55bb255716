"""Policy channels: each lever moves its own target through the mechanism a district official
would recognise, shown by paired runs on common random numbers (the same firms meet the same
luck in both scenarios), with a statistical bound and a power check that the bound can fail.
"""

from __future__ import annotations

import numpy as np
import pytest

import parksim

REPLICATIONS = 40
SEED = 11

GROWTH_SUPPORT = (  # finance support that makes firms grow much faster, for everyone who wants it
    "policies.finance.growth_drift_per_year=0.3",
    "policies.finance.take_up=0.9",
    "policies.finance.budget_cap_yuan_per_year=1e9",
)


def _targets(baseline_path, *overrides: str):
    scenario = parksim.load_scenario(baseline_path, overrides=list(overrides))
    return parksim.simulate(scenario, replications=REPLICATIONS, seed=SEED, workers=2).targets


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


NO_RENT_RELIEF = "policies.land.rent_subsidy_share_by_year=[0.0]"


def _rent_relief_entries(baseline_path, *rule: str) -> tuple[float, float, float]:
    """Paired difference of the firms that entered parks by 2021-12: rent relief on against off."""
    off = _targets(baseline_path, *rule, NO_RENT_RELIEF)
    on = _targets(baseline_path, *rule)
    return _paired(off["firms_cumulative_entries"], on["firms_cumulative_entries"])


def test_rent_relief_brings_more_firms_into_the_parks(baseline_path):
    """A firm offered a park weighs the rent net of the relief it expects: with the baseline's
    'one year free, two at half rent', more offers are taken and more firms enter the parks by
    2021-12 (paired 95% interval above zero)."""
    diff, low, high = _rent_relief_entries(baseline_path)
    assert low > 0, (diff, low, high)


def test_the_demand_bound_sees_tenants_deaf_to_rent(baseline_path):
    """Power check: with acceptance indifferent to rent (rent_elasticity = 0), the same bound
    finds no more entries from rent relief."""
    diff, low, high = _rent_relief_entries(baseline_path, "district.rent_elasticity=0.0")
    assert not low > 0, (diff, low, high)
