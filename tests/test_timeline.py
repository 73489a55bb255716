"""Timelines of the model on hand-built worlds: a park, three firms, nothing left to chance.

The world is the baseline's rules with every source of chance switched off where it matters:
no pool (the three firms are seated by hand), no new projects, no levers (nor the national
reliefs, but where a test turns one on), no exit hazard, no
R&D or tech certification, growth that is all drift (a Laplace scale of 1e-9), a contract that
is always enforced. What happens then follows from the rules alone, and the expected log below
is worked out from them by hand; the test asserts the model's event log equals it, SimPy-style.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import parksim
from parksim.model.context import Context, finish
from parksim.model.enterprise import CLOSE_MONTHS
from parksim.records import KINDS
from parksim.rng import Streams

DRIFT = 0.2  # log revenue per year: a factor exp(0.1) per half-year
FLOOR_PER_MILLION = 100.0  # m2 per million yuan of revenue
FLOOR_MIN = 500.0
TOLERANCE = 0.05  # a firm seeks space once its need exceeds its floor by 5%
CONTRACT_MIN = 3000.0  # yuan of revenue per m2, checked from month 18 on

# Firm 0 grows from 19 M yuan: it crosses 20 M at the first report (19 e^0.1 = 21.0) and needs
# 2,100 m2 for its 1,900 (more than 5% over), so it expands at month 6 into the 300 m2 left. At
# the second report it needs 2,321 m2 for its 2,100: 221 m2 more, but only 100 are free. It is
# far below the floor that would take it to its own industrial land, so it looks for another
# park with room: with none, it waits (month 12 passes without a record); with one, it moves
# there. Firm 1 (3 M yuan on 500 m2) needs the minimum floor all along and earns 6,000 yuan per
# m2: it stays. Firm 2 (2 M yuan on 1,000 m2) earns 2,000-2,700 yuan per m2, below the
# contract's 3,000: the report at month 18 finds the breach and it is moved out as the next
# half-year opens, before firm 0 (needing 2,565 m2 by then) is given room. Nobody fails; what
# the report at month 24 finds falls after the horizon.
FIRMS = {
    "revenue": [19e6, 3e6, 2e6],
    "floor_m2": [1900.0, 500.0, 1000.0],
}
PARK_FLOOR = sum(FIRMS["floor_m2"]) + 300.0

SCENARIO = f"""
extends = "{{baseline}}"
name = "timeline"

[calendar]
horizon = "2020-12"

[targets]
date = "2020-12"

[district]
firms = 0
formation_rate_per_year = 0.0
floor_m2_per_million_yuan = {FLOOR_PER_MILLION}
floor_min_m2 = {FLOOR_MIN}
floor_log_sigma = 0.0

[parks]
usable_share = 1.0
growth_drift_per_year = 0.0
exit_hazard_multiplier = 1.0

[parks.pipeline]
candidate_sites_per_year = 0.0

[[parks.initial]]
name = "hand-built park"
status = "operating"
floor_area_m2 = {PARK_FLOOR}
lead_sector = "machinery_equipment"
development_model = "government"
firms = 0

[enterprises]
review_interval_months = 6.0
growth_drift_per_year = {DRIFT}
growth_scale_per_year = 1e-9
exit_hazard_by_age = [0.0]
tech_hazard_per_year = 0.0
rd_adoption_per_year = 0.0
expansion_tolerance = {TOLERANCE}
contract_months = 18.0
contract_min_revenue_yuan_per_m2 = {CONTRACT_MIN}
contract_enforcement_probability = 1.0
registration_rate_per_year = 100.0   # registered at the report that finds it above the line
no_credit_growth_drift_per_year = 0.0   # the seated firms have no credit: no penalty here

[policies.finance]
enabled = false

[policies.land]
enabled = false

[policies.tax]
enabled = false

[policies.services]
enabled = false

[policies.national.small_firm_relief]
enabled = false

[policies.national.rd_super_deduction]
enabled = false
"""


def _world(path) -> Context:
    """The hand-built world of the scenario file at ``path``: its one park, and the three firms
    of :data:`FIRMS` seated in it by hand at the start."""
    ctx = Context(parksim.load_scenario(path), Streams(np.random.SeedSequence(1)))
    park = ctx.parks[0]
    n = len(FIRMS["revenue"])
    revenue = np.array(FIRMS["revenue"])
    floor = np.array(FIRMS["floor_m2"])
    columns = {
        "firm": np.arange(n),
        "sector": np.full(n, park.lead_sector),
        "born_at": np.full(n, -60.0),
        "log_revenue": np.log(revenue),
        "rd": np.zeros(n, bool),
        "tech": np.zeros(n, bool),
        "floor_m2": floor,
        "floor_factor": np.ones(n),
        "entered_at": 0.0,
        "since": 0.0,
        "until": 0.0,
        "seed": np.arange(n, dtype=np.uint64),
    }
    ctx.tenancy.seat(park, columns, revenue, park.usable_m2 - floor.sum())
    return ctx


@pytest.fixture
def world(write_toml, baseline_path) -> Context:
    return _world(
        write_toml("timeline.toml", SCENARIO.replace("{baseline}", baseline_path.as_posix()))
    )


def _log(ctx: Context) -> list[tuple]:
    """The run's records as ``(time, kind, park, firm, exit reason)``."""
    ctx.env.run(until=ctx.horizon)
    r = finish(ctx).records
    columns = (r.time_months, r.kind, r.park_id, r.firm_id, r.exit_reason)
    return [(t, KINDS[k], park, firm, reason)
            for t, k, park, firm, reason in zip(*(c.tolist() for c in columns), strict=True)]


def _scenario(write_toml, baseline_path, name: str, *changes: tuple[str, str]):
    """The timeline's scenario file, with ``changes`` (old text, new text) made to it."""
    text = SCENARIO.replace("{baseline}", baseline_path.as_posix())
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    return write_toml(f"{name}.toml", text)


START = [
    (0.0, "park_opened", 0, -1, ""),
    (0.0, "firm_entered", 0, 0, ""),
    (0.0, "firm_entered", 0, 1, ""),
    (0.0, "firm_entered", 0, 2, ""),
    (6.0 - CLOSE_MONTHS, "firm_upgraded", 0, 0, ""),
    (6.0, "firm_expanded", 0, 0, ""),
]
"""What happens in every variant up to month 6."""


def test_one_park_three_firms(world):
    """With no other park, firm 0 waits at month 12 and gets room when firm 2 leaves."""
    assert _log(world) == [
        *START,
        (18.0, "firm_exited", 0, 2, "contract"),
        (18.0, "firm_expanded", 0, 0, ""),
    ]


def test_the_small_firm_relief_covers_every_eligible_firm_at_every_report(write_toml,
                                                                          baseline_path):
    """The national relief, turned on with no effect on growth or survival: it changes nothing
    in the log but adds, at every report from the start, one payment per firm in the park (no
    take-up draw, no budget): its revenue then x the relief's share x the half-year it covers.
    Firm 2, moved out at month 18, is not paid then; with a ceiling below firm 0's revenue,
    firm 0 is never paid."""
    relief = ("[policies.national.small_firm_relief]\nenabled = false",
              "[policies.mu_pricing]\nenabled = false\n\n"  # no grade's drift on revenue
              "[policies.national.small_firm_relief]\ngrowth_drift_per_year = 0.0\n"
              "exit_hazard_multiplier = 1.0")
    ctx = _world(_scenario(write_toml, baseline_path, "relief", relief))
    share = ctx.scenario.policies.national.small_firm_relief.relief_share_of_revenue
    log = _log(ctx)
    assert [e for e in log if e[1] != "support_paid"] == [
        *START, (18.0, "firm_exited", 0, 2, "contract"), (18.0, "firm_expanded", 0, 0, "")]
    r = finish(ctx).records
    paid = r.kind == KINDS.index("support_paid")
    assert set(r.lever[paid].tolist()) == {"small_firm_relief"}
    got = sorted(zip(r.time_months[paid].tolist(), r.firm_id[paid].tolist(),
                     r.amount_yuan[paid].tolist(), strict=True))
    expected = sorted(
        (6.0 * k, firm, FIRMS["revenue"][firm] * math.exp(DRIFT * k / 2) * share * 0.5)
        for k in range(4) for firm in range(3) if not (firm == 2 and k == 3))
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    np.testing.assert_allclose([g[2] for g in got], [e[2] for e in expected], rtol=1e-9)
    capped = (relief[0], relief[1] + "\nmax_revenue_yuan = 1.5e7")
    ctx = _world(_scenario(write_toml, baseline_path, "relief_capped", capped))
    _log(ctx)
    r = finish(ctx).records
    paid = r.kind == KINDS.index("support_paid")
    assert 0 not in r.firm_id[paid].tolist() and paid.sum() == 7


ROOMY_PARK = """
[[parks.initial]]
name = "roomy park"
status = "operating"
floor_area_m2 = 5000.0
lead_sector = "machinery_equipment"
development_model = "government"
firms = 0
"""


def test_a_firm_that_outgrows_its_park_moves_to_one_with_room(write_toml, baseline_path):
    """A second, empty park: at month 12 firm 0 moves there with all the floor it needs, and
    at month 18 it expands in its new park."""
    second_park = ("\n[enterprises]", ROOMY_PARK + "\n[enterprises]")
    path = _scenario(write_toml, baseline_path, "two_parks", second_park)
    assert _log(_world(path)) == [
        (0.0, "park_opened", 0, -1, ""),
        (0.0, "park_opened", 1, -1, ""),
        *START[1:],
        (12.0, "firm_exited", 0, 0, "moved"),
        (12.0, "firm_moved", 1, 0, ""),
        (18.0, "firm_exited", 0, 2, "contract"),
        (18.0, "firm_expanded", 1, 0, ""),
    ]


def test_a_firm_big_enough_for_its_own_land_graduates(write_toml, baseline_path):
    """From 2,000 m2 a firm without room goes to its own industrial land: firm 0 (2,321 m2)
    graduates at month 12."""
    path = _scenario(write_toml, baseline_path, "graduates",
                     ("\n[enterprises]\n", "\n[enterprises]\nindustrial_land_floor_m2 = 2000.0\n"))
    assert _log(_world(path)) == [
        *START,
        (12.0, "firm_exited", 0, 0, "graduated"),
        (18.0, "firm_exited", 0, 2, "contract"),
    ]


def test_the_numbers_behind_the_timeline():
    """The hand reckoning above, so that a change of a constant here cannot hide in the log."""
    first, second = (19e6 * math.exp(DRIFT * k / 2) for k in (1, 2))
    assert first >= 20e6 > 19e6
    need_1, need_2 = (max(FLOOR_MIN, FLOOR_PER_MILLION * r / 1e6) for r in (first, second))
    assert need_1 > 1900 * (1 + TOLERANCE) and need_1 - 1900 <= 300
    assert need_2 > need_1 * (1 + TOLERANCE) and need_2 - need_1 > 300 - (need_1 - 1900)
    assert 2000 <= need_2 < 10_000 and need_2 <= 5000  # graduates from 2,000; fits the roomy park
    third = 19e6 * math.exp(DRIFT * 3 / 2)
    need_3 = FLOOR_PER_MILLION * third / 1e6
    assert need_3 > need_1 * (1 + TOLERANCE) and need_3 - need_1 <= 300 - (need_1 - 1900) + 1000
    assert need_3 > need_2 * (1 + TOLERANCE) and need_3 - need_2 <= 5000 - need_2
    assert all(2e6 * math.exp(DRIFT * k / 2) / 1000 < CONTRACT_MIN for k in range(5))
    assert all(3e6 * math.exp(DRIFT * k / 2) / 500 >= CONTRACT_MIN for k in range(5))
    assert 3e6 * math.exp(DRIFT * 2) * FLOOR_PER_MILLION / 1e6 < FLOOR_MIN


def test_a_weaker_contract_keeps_the_breaching_firm(write_toml, baseline_path):
    """Power check: the log is not fixed whatever the world does. Below firm 2's revenue per m2,
    the contract moves nobody out."""
    path = _scenario(write_toml, baseline_path, "weak", (
        f"contract_min_revenue_yuan_per_m2 = {CONTRACT_MIN}",
        "contract_min_revenue_yuan_per_m2 = 1500.0",
    ))
    assert (18.0, "firm_exited", 0, 2, "contract") not in _log(_world(path))


def _site(world: Context, renovation: bool = True, sells_units: bool = False,
          **model_changes) -> list[tuple]:
    """A third-party developer considers one 9,000 m2 site (renovation unless told) at month 7:
    what happens to it (the records of park 1)."""
    from parksim.model.parks import Site

    spec = world.scenario.parks.pipeline
    model = spec.models["third_party"].model_copy(
        update={"renovation_cost_yuan_per_m2": 1000.0, **model_changes}
    )
    site = Site(number=0, model_name="third_party", model=model, renovation=renovation,
                floor_area_m2=9000.0, build_months=6.0, lead_sector=0, hurdle=1.0,
                sells_units=sells_units)

    def consider(_event) -> None:
        world.parks.pending.append(site)
        world.parks.consider(world.env.now)

    world.env.timeout(7.0).callbacks.append(consider)
    return [entry for entry in _log(world) if entry[2] == 1]


DEVELOPER = (
    ("\n[parks.pipeline]\n", "\n[parks.pipeline]\npayback_years = 4.0\n"),
    ("[policies.land]\nenabled = false",
     "[policies.land]\ntake_up = 0.0\nrenovation_subsidy_yuan_per_m2 = 0.0"),
)


def test_a_developer_builds_a_site_only_when_support_makes_it_pay(write_toml, baseline_path):
    """Expected rent: 20 yuan/m2/month on 9,000 m2 for 4 years at the open park's occupancy
    (3,600 of 3,700 m2 taken since firm 0 expanded at month 6) = 8.41 M yuan. The renovation
    costs 9 M yuan: the developer, who wants the rent to cover the cost (hurdle 1), waits. With
    200 yuan/m2 of renovation subsidy the cost is 7.2 M yuan: the subsidy is committed as it
    decides at month 7, building starts at once, and the park opens six months later."""
    rent = 20.0 * 12 * 9000 * 4 * (3600 / 3700)
    assert 7.2e6 < rent < 9.0e6
    path = _scenario(write_toml, baseline_path, "developer", *DEVELOPER)
    assert _site(_world(path)) == []
    subsidised = _scenario(write_toml, baseline_path, "subsidised", *DEVELOPER, (
        "renovation_subsidy_yuan_per_m2 = 0.0", "renovation_subsidy_yuan_per_m2 = 200.0"))
    assert _site(_world(subsidised)) == [
        (7.0, "support_paid", 1, -1, ""),
        (7.0, "park_started", 1, -1, ""),
        (13.0, "park_opened", 1, -1, ""),
    ]


def test_a_developer_who_sells_the_units_builds_what_a_landlord_would_not(
    write_toml, baseline_path
):
    """The renovation above, without subsidy, does not pay in rent (8.41 M yuan against 9 M).
    Sold at 1,100 yuan per m2 of usable floor to the share of it the developer expects to
    sell (the open park's occupancy), it brings 9.63 M yuan: the developer builds, and the park
    charges its buyers the cost of owning, 1,100 x 5% / 12 = 4.58 yuan/m2/month."""
    from parksim.model.parks import Site, site_economics

    path = _scenario(write_toml, baseline_path, "developer", *DEVELOPER)
    assert _site(_world(path)) == []
    world = _world(path)
    model = world.scenario.parks.pipeline.models["third_party"].model_copy(
        update={"renovation_cost_yuan_per_m2": 1000.0, "sale_price_yuan_per_m2": 1100.0})
    site = Site(0, "third_party", model, True, 9000.0, 6.0, 0, 1.0, sells_units=True)
    occupancy = 3600 / 3700
    assert site_economics(world.parks, site, 7.0, occupancy) == pytest.approx(
        (1100.0 * 9000 * occupancy, 9.0e6))
    letting = Site(0, "third_party", model, True, 9000.0, 6.0, 0, 1.0)
    assert site_economics(world.parks, letting, 7.0, occupancy) == pytest.approx(
        (20.0 * 12 * 9000 * 4 * occupancy, 9.0e6))
    own_terms = model.model_copy(update={"rent_yuan_m2_month": 12.0, "payback_years": 10.0})
    letting = Site(0, "third_party", own_terms, True, 9000.0, 6.0, 0, 1.0)
    assert site_economics(world.parks, letting, 7.0, occupancy) == pytest.approx(
        (12.0 * 12 * 9000 * 10 * occupancy, 9.0e6))  # the model's own rent and payback
    assert _site(world, sells_units=True, sale_price_yuan_per_m2=1100.0) == [
        (7.0, "park_started", 1, -1, ""),
        (13.0, "park_opened", 1, -1, ""),
    ]
    assert world.parks[1].sells_units
    assert world.parks[1].rent == pytest.approx(1100.0 * 0.05 / 12)


def test_a_new_build_on_land_its_developer_holds_needs_no_quota(write_toml, baseline_path):
    """A new build at 500 yuan/m2 (4.5 M yuan) on 6.75 mu of state land at 300,000 yuan/mu
    (2.0 M) pays (8.41 M yuan of rent): the developer decides for it (the project exists) but
    with no land quota released it waits for land that never comes (its record says so from
    the month it was decided), and nothing is started.
    On land the developer already holds it needs no quota and no purchase: building starts at
    once. At 1 M yuan/mu the state land (6.75 M) would not pay; held land still does."""
    for price in ("3e5", "1e6"):
        no_quota = (("\n[parks.pipeline]\n", "\n[parks.pipeline]\npayback_years = 4.0\n"
                     f"land_quota_mu_per_year = 0.0\nland_price_yuan_per_mu = {price}\n"),)
        path = _scenario(write_toml, baseline_path, f"no_quota_{price}", *no_quota)
        world = _world(path)
        waits = [(7.0, "park_awaiting_land", 1, -1, "")] if price == "3e5" else []
        assert _site(world, renovation=False, new_build_cost_yuan_per_m2=500.0) == waits
        assert len(world.parks) == (2 if price == "3e5" else 1)  # decided, or waiting
        assert _site(_world(path), renovation=False, new_build_cost_yuan_per_m2=500.0,
                     own_land=True) == [
            (7.0, "park_started", 1, -1, ""),
            (13.0, "park_opened", 1, -1, ""),
        ]
