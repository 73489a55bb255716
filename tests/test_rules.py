"""Rules of supply and demand, each checked on its own: rectification campaigns, the district's
capital budget, a firm's fit-out and its acceptance of a park, the rent relief it weighs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import parksim
from parksim.model.context import Context
from parksim.model.parks import Site
from parksim.model.policies import lease_relief
from parksim.model.shocks import ShockSchedule
from parksim.records import Kind
from parksim.rng import Streams

SMALL = ("district.firms=3000", 'calendar.horizon="2020-12"', 'targets.date="2020-12"')


def _context(baseline_path, *overrides: str, seed: int = 3) -> Context:
    scenario = parksim.load_scenario(baseline_path, overrides=[*SMALL, *overrides])
    return Context(scenario, Streams(np.random.SeedSequence(seed)))


def test_a_campaign_raises_the_pressure_in_its_months_only():
    campaign = SimpleNamespace(start="2019-04", end="2019-06", pressure_multiplier=3.0)
    shock = SimpleNamespace(start="2019-05", end="2019-05", growth_drift_per_year=0.0,
                            exit_hazard_multiplier=1.0, relocation_multiplier=0.5,
                            recovery_half_life_months=None)
    profile = ShockSchedule([shock], "2019-01", [campaign]).relocation_profile(9)
    assert profile.tolist() == [1, 1, 1, 3, 1.5, 3, 1, 1, 1]
    # a campaign does not enter the reports' arithmetic: no drift, no hazard factor
    assert ShockSchedule([], "2019-01", [campaign]).effects(np.array([0.0]), 12.0) == (0.0, 1.0)


def test_a_campaign_brings_more_applications_in_its_window(baseline_path):
    """Paired on the same pool: pressure doubled over 2020 brings more first applications in
    2020 and the same number before it."""
    window = ('district.campaigns=[{name="c", start="2020-01", end="2020-12", '
              'pressure_multiplier=2.0}]')
    plain = _context(baseline_path, "district.campaigns=[]").district.pool.applies_at
    pressed = _context(baseline_path, window).district.pool.applies_at
    years = [0.0, 12.0, 24.0]
    (plain_2019, plain_2020), (pressed_2019, pressed_2020) = (
        np.histogram(t, years)[0] for t in (plain, pressed))
    assert pressed_2019 == plain_2019
    assert pressed_2020 > 1.6 * plain_2020


def test_a_firm_moves_in_after_its_fit_out(baseline_path):
    """Every entrant's firm_entered record falls exactly fit_out_months after an application
    of its that passed; none falls earlier."""
    ctx = _context(baseline_path, "district.fit_out_months=2.5")
    applied = {}
    for batch in ctx.district.applications.batches:
        for t, entry, firm in zip(batch.t, batch.entry_t, batch.firm, strict=True):
            assert entry == t + 2.5
            applied.setdefault(firm, set()).add(entry)
    ctx.env.run(until=ctx.horizon)
    r = ctx.records.freeze()
    entered = r.of(Kind.FIRM_ENTERED) & (r.time_months > 0)
    assert entered.sum() > 50
    for firm, t in zip(r.firm_id[entered].tolist(), r.time_months[entered].tolist(), strict=True):
        assert t in applied[firm]


def _site(ctx: Context, cost_yuan_per_m2: float, build_months: float) -> Site:
    model = ctx.scenario.parks.pipeline.models["government"].model_copy(
        update={"renovation_cost_yuan_per_m2": cost_yuan_per_m2})
    return Site(number=0, model_name="government", model=model, renovation=True,
                floor_area_m2=1000.0, build_months=build_months, lead_sector=0, hurdle=1.0)


def test_the_capital_budget_spreads_a_project_over_the_years_it_is_built(baseline_path):
    """A 150,000-yuan project built over 24 months from month 6 costs 37,500 in 2019, 75,000
    in 2020 and 37,500 in 2021. A budget of 100,000 a year funds one, not a second."""
    ctx = _context(baseline_path, "parks.pipeline.government_budget_yuan_per_year=100000.0")
    site = _site(ctx, 150.0, 24.0)
    assert ctx.parks._fund(site, 6.0)
    assert ctx.parks._government_spent == pytest.approx({0: 37_500.0, 1: 75_000.0, 2: 37_500.0})
    assert not ctx.parks._fund(site, 6.0)  # 2020 would need 150,000
    assert ctx.parks._fund(_site(ctx, 20.0, 6.0), 18.0)  # 20,000, all in 2020: room for it


def test_a_lease_weighs_the_relief_of_its_years():
    assert lease_relief([1.0], 3.0) == pytest.approx(1 / 3)
    assert lease_relief([1.0, 0.5, 0.5], 3.0) == pytest.approx(2 / 3)
    assert lease_relief([1.0, 0.75, 0.5], 3.0) == pytest.approx(0.75)  # deeper relief, more
    assert lease_relief([1.0, 0.5], 1.5) == pytest.approx((1.0 + 0.25) / 1.5)
    assert lease_relief([0.0], 3.0) == 0.0


@pytest.mark.parametrize(("platform", "sector", "threshold"), [
    (False, 0, 0.5), (True, 0, 0.6), (False, 1, 0.35), (True, 1, 0.42),
])
def test_acceptance_follows_the_platform_and_the_sector(baseline_path, platform, sector, threshold):
    """At full rent (no relief weighed): 0.5, times 1.2 with a platform, times 0.7 off the
    park's sector. A draw just below the probability accepts, one just above refuses."""
    ctx = _context(baseline_path, "district.rent_elasticity=0.0",
                   "district.acceptance_probability=0.5",
                   "district.platform_acceptance_multiplier=1.2",
                   "district.off_sector_acceptance_multiplier=0.7")
    park = SimpleNamespace(has_platform=platform, lead_sector=0)
    for u, accepted in ((threshold - 1e-9, True), (threshold + 1e-9, False)):
        batch = SimpleNamespace(sector=[sector], accept_u=[u], terms=None)
        assert ctx.district.accepts(park, batch, 0, 12.0) is accepted


def test_acceptance_follows_the_rent_of_the_park(baseline_path, monkeypatch):
    """Elasticity 1: a park letting at 12 yuan/m2 where the market rent is 20 is taken with
    0.2 x 20/12 = 0.333 when the firm expects no relief, and with 0.2 / (0.6 x (1 - 0.5))
    = 0.667 when it expects half its rent relieved over the lease (the relief is a share of
    the park's own rent); one letting at the market rent with 0.2, or 0.4 with that relief."""
    ctx = _context(baseline_path, "district.rent_elasticity=1.0",
                   "district.acceptance_probability=0.2")
    for relief in (0.0, 0.5):
        monkeypatch.setattr(ctx.tenancy.policy, "expected_rent_relief",
                            lambda *args, relief=relief: relief)
        for rent_ratio in (12 / 20, 1.0):
            threshold = 0.2 / (rent_ratio * (1.0 - relief))
            park = SimpleNamespace(has_platform=False, lead_sector=0, rent_ratio=rent_ratio)
            for u, accepted in ((threshold - 1e-9, True), (threshold + 1e-9, False)):
                batch = SimpleNamespace(sector=[0], accept_u=[u], terms=None)
                assert ctx.district.accepts(park, batch, 0, 12.0) is accepted


MODELS = "parks.pipeline.models"


def test_a_park_takes_its_rent_and_entry_standard_from_its_development_model(baseline_path):
    """Government-led parks let at 12 yuan/m2 and admit firms of 5 M yuan and more; the land
    lever relieves 12/20 of a m2 at market rent there. A park that sells its units charges a
    buyer the cost of owning (6,000 yuan/m2 x 5% a year / 12 = 25 yuan/m2/month) and relieves
    no rent: an owner pays none."""
    ctx = _context(baseline_path, f"{MODELS}.government.rent_yuan_m2_month=12.0",
                   f"{MODELS}.government.min_revenue_yuan=5e6",
                   f"{MODELS}.third_party.sale_price_yuan_per_m2=6000.0",
                   "district.owner_cost_rate_per_year=0.05")
    assert ctx.scenario.parks.pipeline.models["lead_enterprise"].rent_yuan_m2_month is None
    government = [p for p in ctx.parks if p.development_model == "government"]
    others = [p for p in ctx.parks if p.development_model == "lead_enterprise"]
    assert government and others
    land = ctx.tenancy.policy["land"]
    for park in government:
        assert (park.rent, park.rent_ratio, park.min_revenue) == (12.0, 0.6, 5e6)
        assert land.cost_ratio(park.relief_ratio) == 0.6
    for park in others:
        assert (park.rent, park.rent_ratio, park.min_revenue) == (20.0, 1.0, 0.0)
    model = ctx.scenario.parks.pipeline.models["third_party"]
    seller = ctx.parks.add_project(Site(0, "third_party", model, True, 20000.0, 6.0, 0, 1.0,
                                        sells_units=True))
    assert seller.rent == pytest.approx(25.0) and seller.relief_ratio == 0.0
    assert not land.park_admits(seller, 12.0)
    assert land.park_admits(others[0], 12.0)


def test_a_park_with_a_stricter_entry_standard_turns_smaller_firms_to_other_parks(baseline_path):
    """The only operating park of digital services is government-led; with a 5 M yuan standard
    there, a digital-services firm of 3 M yuan is placed in a park of another sector, one of
    6 M yuan in it."""
    from parksim.model.parks import choose_park

    ctx = _context(baseline_path, f"{MODELS}.government.min_revenue_yuan=5e6")
    ctx.env.run(until=0.1)  # the vacancy lists open at t = 0
    sector = ctx.parks.sector_names.index("digital_services")
    lead = [p for p in ctx.parks if p.lead_sector == sector and p.is_open]
    assert [p.development_model for p in lead] == ["government"]
    for seed in range(20):
        small = choose_park(ctx.parks.vacancies, sector, seed, 0, 500.0, 3e6)
        assert small is not None and small.lead_sector != sector
        assert choose_park(ctx.parks.vacancies, sector, seed, 0, 500.0, 6e6) is lead[0]
