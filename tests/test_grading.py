"""Grading that differentiates, platforms that parks build, demonstration parks earned, and 亩均
prices that push.

A grading round on a hand-built set of parks whose scores are known; the ranking rule and the
grace period's opt-in; an operator's sums for a platform; and runs on common random numbers
for each channel: a platform raises a park's score; the services lever raises platform
coverage and through it scores and demonstration parks (paired bounds, with a power check
that the bound fails for a lever that pays for no platform); 亩均 prices lower the growth of
C and D firms by exactly their surcharge and make D firms fail more, never the reverse
(exact comparisons; prices that would pay are refused).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import parksim
from parksim.aggregate import paired_difference
from parksim.model.context import Context
from parksim.model.grading import GradingLog, grade_parks, grades_by_position, grading_round
from parksim.model.parks import M2_PER_MU
from parksim.model.platforms import park_platform_effects, pays, platform_effects
from parksim.model.policies import MuPrices
from parksim.rng import Streams

REPLICATIONS = 40
CHANNEL_REPLICATIONS = 160  # the services lever adds about 0.4 demonstration parks: enough
                            # pairs for a bound above zero
SEED = 11
NEVER_BUILT = ("parks.platforms.services.setup_cost_yuan=1e12",
               "parks.platforms.digital.setup_cost_yuan=1e12")


# ------------------------------------------------------------------------- the ranking rule


def test_grades_by_position_follow_the_cumulative_shares():
    shares = {"A": 0.2, "B": 0.4, "C": 0.35, "D": 0.05}
    assert "".join("ABCD"[r] for r in grades_by_position(10, shares)) == "AABBBBCCCC"
    # Pingyang 2025 graded 11 parks 3/4/3/1: the rule gives 2/5/3/1 with these shares
    assert "".join("ABCD"[r] for r in grades_by_position(11, shares)) == "AABBBBBCCCD"
    assert grades_by_position(0, shares).size == 0
    assert set(grades_by_position(1000, {"A": 0, "B": 0, "C": 0, "D": 1}).tolist()) == {3}


@pytest.fixture(scope="module")
def baseline(baseline_path):
    return parksim.load_scenario(baseline_path)


def _spec(baseline, **update):
    return baseline.parks.grading.model_copy(update=update)


def test_a_park_in_grace_earns_the_grade_its_score_reaches_among_the_established(baseline):
    """Established parks are ranked among themselves; a park in grace earns the best grade
    whose lowest established score it reaches; with no established park it earns none."""
    spec = _spec(baseline, method="rank", rank_shares={"A": 0.2, "B": 0.4, "C": 0.2, "D": 0.2})
    scores = np.array([10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 9.5, 8.5, 3.5, 0.5])
    grace = np.array([False] * 10 + [True] * 4)
    assert grade_parks(scores, grace, spec) == [
        "A", "A", "B", "B", "B", "B", "C", "C", "D", "D", "A", "B", "C", "D",
    ]
    assert grade_parks(scores[10:], grace[10:], spec) == [None] * 4
    bands = _spec(baseline, method="bands", thresholds={"A": 8.0, "B": 5.0, "C": 2.0})
    assert grade_parks(scores, grace, bands) == [
        "A", "A", "A", "B", "B", "B", "C", "C", "C", "D", "A", "A", "C", "D",
    ]
    assert grade_parks(scores[10:], grace[10:], bands) == ["A", "A", "C", "D"]


# ------------------------------------------------------------ one round on a hand-built world


@pytest.fixture
def world(baseline_path):
    """Six recognised, provincial parks of the baseline's first six, emptied and set by hand:
    equal but for their revenue per mu (park 0 best) and their platforms; graded on 亩均
    returns alone, without noise; D for the last of six, delisted at once; demonstration for a
    B or better with both platforms, the site check always passed, the title kept at B."""
    scenario = parksim.load_scenario(baseline_path, overrides=[
        "district.firms=0", "parks.pipeline.candidate_sites_per_year=0",
        "parks.grading.weights={mu_returns=1.0, industry_focus=0.0, operations=0.0, "
        "firm_cultivation=0.0, innovation=0.0, services=0.0, digital=0.0}",
        "parks.grading.noise_sd=0.0",
        "parks.grading.rank_shares={A=0.2, B=0.4, C=0.2, D=0.2}",
        "parks.grading.delist_after_d_grades=1",
        'parks.demonstration.min_grade="B"', "parks.demonstration.min_consecutive=1",
        "parks.demonstration.selection_probability=1.0", 'parks.demonstration.keep_min_grade="B"',
        'parks.demonstration.requires_platforms=["services", "digital"]',
        "policies.mu_pricing.enabled=false",
    ])
    ctx = Context(scenario, Streams(np.random.SeedSequence(1)))
    parks = [p for p in ctx.parks][:6]
    for i, park in enumerate(parks):
        park.is_open, park.opened_at, park.recognised_at, park.provincial = True, -np.inf, 0.0, True
        park.n_firms, park.lead_firms, park.free_m2 = 20, 20, park.usable_m2 * 0.1
        park.has_platform = park.has_digital = i in (0, 1, 3)
    ctx.parks._parks = parks
    for park in parks:
        ctx.parks.vacancies.update(park)
    benchmark = scenario.parks.grading.benchmarks["mu_returns"]
    land = np.array([p.floor_area_m2 for p in parks]) / (scenario.parks.pipeline.plot_ratio
                                                       * M2_PER_MU)
    per_mu = benchmark * np.array([1.4, 1.2, 1.0, 0.8, 0.6, 0.4])  # scores 1.4 ... 0.4
    tenancy = SimpleNamespace(
        park_totals=lambda: (per_mu * land, *np.zeros((3, len(parks)))),
        policy=ctx.policy, table=ctx.tenancy.table,
    )
    return ctx, parks, tenancy, per_mu, land


def test_one_grading_round_grades_delists_and_selects(world):
    ctx, parks, tenancy, _, _ = world
    log = GradingLog()
    grading_round(ctx.parks, tenancy, log, 11.5, 0)
    # six ranked: (i + 1/2) / 6 against 0.2, 0.6, 0.8, 1.0
    assert [p.grade for p in parks] == ["A", "B", "B", "B", "C", "D"]
    assert [round(p.score, 9) for p in parks] == [1.4, 1.2, 1.0, 0.8, 0.6, 0.4]
    # the D park is delisted: no provincial standing, out of the vacancies, no new firm
    assert [p.delisted for p in parks] == [False] * 5 + [True]
    assert not parks[5].provincial and parks[5] not in ctx.parks.vacancies.all
    assert parks[0] in ctx.parks.vacancies.all
    # B or better with both platforms: parks 0, 1 and 3 (park 2 has none, park 4 is a C)
    assert [p.demonstration for p in parks] == [True, True, False, True, False, False]
    rows = log.columns()
    assert rows["park_id"] == [0, 1, 2, 3, 4, 5]
    assert rows["grade"] == ["A", "B", "B", "B", "C", "D"]
    assert rows["selected"] == [True, True, False, True, False, False]
    assert rows["delisted"] == [False] * 5 + [True]
    assert set(rows["year"]) == {2019}


def test_the_recheck_takes_the_title_of_a_park_whose_grade_falls(world):
    ctx, parks, tenancy, per_mu, land = world
    log = GradingLog()
    grading_round(ctx.parks, tenancy, log, 11.5, 0)
    benchmark = ctx.scenario.parks.grading.benchmarks["mu_returns"]
    per_mu[:] = benchmark * np.array([0.8, 1.4, 1.2, 1.0, 0.6, 0.4])  # park 0 falls to C
    grading_round(ctx.parks, tenancy, log, 23.5, 1)
    # five ranked (park 5 is delisted): park 1 A, parks 2 and 3 B, park 0 C, park 4 D
    assert [p.grade for p in parks[:5]] == ["C", "A", "B", "B", "D"]
    assert [p.demonstration for p in parks[:5]] == [False, True, False, True, False]
    records = ctx.records.freeze()
    demoted = records.park_id[records.kind == parksim.records.Kind.PARK_DEMOTED]
    assert demoted.tolist() == [0]
    rows = log.columns()
    assert [d for d, y in zip(rows["demoted"], rows["year"], strict=True) if y == 2020] == \
        [True, False, False, False, False]


def test_a_new_park_below_b_takes_no_part_unless_it_holds_a_title(world):
    """Parks 4 and 5 opened a year ago: in grace. Both score below the lowest C of the four
    established parks, so both would be D: they take no part (no grade, no record, no
    delisting) -- except park 5, which holds a demonstration title: it takes part and is
    re-checked."""
    ctx, parks, tenancy, _, _ = world
    for park in parks[4:]:
        park.opened_at = 0.0
    parks[5].demonstration = True
    log = GradingLog()
    grading_round(ctx.parks, tenancy, log, 11.5, 0)
    assert [p.grade for p in parks] == ["A", "B", "C", "D", None, "D"]
    assert not parks[5].delisted and not parks[5].demonstration  # re-checked, not delisted
    assert parks[3].delisted  # established: its D counts, and one is enough here
    rows = log.columns()
    assert rows["grade"] == ["A", "B", "C", "D", "", "D"]
    assert rows["delisted"] == [False, False, False, True, False, False]
    assert rows["in_grace"] == [False] * 4 + [True] * 2
    graded = ctx.records.freeze()
    assert sorted(graded.park_id[graded.kind == parksim.records.Kind.PARK_GRADED].tolist()) == \
        [0, 1, 2, 3, 5]


def test_a_park_without_platforms_is_not_selected_however_good(world):
    ctx, parks, tenancy, _, _ = world
    parks[0].has_platform = False
    grading_round(ctx.parks, tenancy, GradingLog(), 11.5, 0)
    assert parks[0].grade == "A" and not parks[0].demonstration


# ------------------------------------------------------------- channels, on common random numbers


def _forecast(scenario, replications=REPLICATIONS):
    return parksim.simulate(scenario, replications=replications, seed=SEED, workers=2)


def _with_platform(scenario, park: int, platform: bool):
    initial = list(scenario.parks.initial)
    initial[park] = initial[park].model_copy(update={"platform": platform, "digital": False})
    parks = scenario.parks.model_copy(update={"initial": tuple(initial)})
    return scenario.model_copy(update={"parks": parks})


def test_a_park_with_a_platform_scores_and_grades_higher(baseline_path):
    """The same park, the same firms and luck, with and without a service platform (no
    operator builds one during the run): its score is higher in every grading with it, and its
    grade never lower."""
    base = parksim.load_scenario(baseline_path, overrides=[*NEVER_BUILT, "district.firms=8000"])
    runs = {flag: _forecast(_with_platform(base, 0, flag), 10).grades for flag in (True, False)}
    with_, without = (runs[f][runs[f].park_id == 0].reset_index(drop=True) for f in (True, False))
    assert len(with_) == len(without) > 0
    assert (with_.score > without.score).all()
    graded = (with_.grade != "") & (without.grade != "")
    assert (with_.grade[graded] <= without.grade[graded]).all()  # "A" < "B" < ...
    assert (with_.grade[graded] < without.grade[graded]).any()


IDLE = ("policies.services.platform_subsidy_share=0.0",
        "policies.services.cost_yuan_per_firm_year=0.0")
"""A services lever that pays for no platform: no subsidy, nothing bought from a platform, the
same effects on the firms it serves."""


@pytest.fixture(scope="module")
def services_runs(baseline_path):
    """The baseline, the baseline with a services lever that pays for no platform, and the
    baseline without the services lever, on the same replications."""
    return {name: _forecast(parksim.load_scenario(baseline_path, overrides=list(overrides)),
                            CHANNEL_REPLICATIONS)
            for name, overrides in (("on", ()), ("idle", IDLE),
                                    ("off", ("policies.services.enabled=false",)))}


def _per_replication(forecast, column, year=2021, how="sum"):
    g = forecast.grades[forecast.grades.year == year]
    replications = forecast.replications
    return g.groupby("replication")[column].agg(how).reindex(range(replications), fill_value=0)


def _channel(a, b) -> dict[str, tuple[float, float, float]]:
    """Paired differences b - a of the platform channel in 2021: parks with a service platform,
    the mean score, demonstration parks."""
    return {
        "platforms": paired_difference(_per_replication(a, "has_platform").to_numpy(float),
                                       _per_replication(b, "has_platform").to_numpy(float)),
        "score": paired_difference(_per_replication(a, "score", how="mean").to_numpy(),
                                   _per_replication(b, "score", how="mean").to_numpy()),
        "demo": paired_difference(a.targets.demo_parks.to_numpy(float),
                                  b.targets.demo_parks.to_numpy(float)),
    }


def test_the_services_lever_builds_platforms_and_through_them_earns_demonstration(services_runs):
    """Purchased services and platform subsidies make operators build: against the same lever
    paying for no platform (so that its effects on firms cancel), more parks with a platform in
    2021, higher scores and more demonstration parks (paired 95% bounds); against no lever,
    more platforms and demonstration parks too."""
    paid = _channel(services_runs["idle"], services_runs["on"])
    assert paid["platforms"][1] > 1.0 and paid["score"][1] > 0 and paid["demo"][1] > 0, paid
    whole = _channel(services_runs["off"], services_runs["on"])
    assert whole["platforms"][1] > 1.0 and whole["demo"][1] > 0, whole


def test_the_services_bound_sees_a_lever_that_pays_for_no_platform(services_runs):
    """Power check: the lever that pays for no platform fails the platform bound against no
    lever (its firms grow a little faster, so a park or two may fill and build one)."""
    idle = _channel(services_runs["off"], services_runs["idle"])
    assert idle["platforms"][1] <= 1.0 and abs(idle["platforms"][0]) < 0.5, idle


# ----------------------------------------------------------------- 亩均 prices push, never pay


def _at(scenario, t: float) -> Context:
    ctx = Context(scenario, Streams(np.random.SeedSequence(7)))
    ctx.env.run(until=t)
    return ctx


PUSH_ONLY = ("policies.mu_pricing.withhold_grades=[]", "policies.mu_pricing.priority=false")
"""亩均 prices without their effect on who is paid first, so that only the surcharges differ."""


@pytest.mark.parametrize("pool", [(), ("district.firms=12000",)])
def test_mu_prices_lower_growth_and_raise_exits_of_low_grades_only(baseline_path, pool):
    """The first 亩均 grading is in December 2019; up to the report that follows it, the runs
    with and without the surcharges are the same. Over the next half-year every firm graded C
    or D grows by exactly its surcharge's drift less than without (never more), A and B
    firms as without; D firms fail at least as often."""
    on = parksim.load_scenario(baseline_path, overrides=[*pool, *PUSH_ONLY])
    off = parksim.load_scenario(baseline_path, overrides=[*pool, *PUSH_ONLY,
                                                          "policies.mu_pricing.enabled=false"])
    a, b = _at(on, 12.5), _at(off, 12.5)
    n = min(a.tenancy.table.n, b.tenancy.table.n)
    assert (a.tenancy.table.firm[:n] == b.tenancy.table.firm[:n]).all()
    grade = a.tenancy.table.mu_grade[:n].copy()  # in force over [12, 24)
    assert set(np.unique(grade).tolist()) == {-1, 0, 1, 2, 3}
    np.testing.assert_array_equal(a.tenancy.table.log_revenue[:n], b.tenancy.table.log_revenue[:n])
    a, b = _at(on, 18.5), _at(off, 18.5)
    ta, tb = a.tenancy.table, b.tenancy.table
    reviewed = ta.active[:n] & tb.active[:n] & (ta.since[:n] == 18.0) & (ta.entered_at[:n] < 12.0)
    gap = ta.log_revenue[:n] - tb.log_revenue[:n]
    drift = on.policies.mu_pricing.growth_drift_per_year
    for rank, letter in enumerate("ABCD"):
        mine = reviewed & (grade == rank)
        assert mine.any()
        np.testing.assert_allclose(gap[mine], drift.get(letter, 0.0) * 0.5, atol=1e-12)
    assert (gap[reviewed] <= 1e-12).all()


def test_mu_prices_make_d_firms_fail_more_and_no_other_firm(baseline_path):
    """With a D firm's exit hazard x 20 (to see it in half a year), the firms that fail over
    [12, 18) without the prices fail with them too, and many more D firms do; no firm of
    another grade fails that would not have."""
    hard = (*PUSH_ONLY, "policies.mu_pricing.exit_hazard_multiplier={D=20.0}")
    on = parksim.load_scenario(baseline_path, overrides=list(hard))
    off = parksim.load_scenario(baseline_path,
                                overrides=[*hard, "policies.mu_pricing.enabled=false"])
    first = _at(on, 12.5).tenancy.table
    n = first.n
    there = first.entered_at[:n] < 12.0  # in a park at the report that opened the half-year
    grade = dict(zip(first.firm[:n][there].tolist(), first.mu_grade[:n][there].tolist(),
                     strict=True))
    failed = {}
    for name, scenario in (("on", on), ("off", off)):
        r = _at(scenario, 18.0).records.freeze()
        gone = (r.kind == parksim.records.Kind.FIRM_EXITED) & (r.exit_reason == "failure") \
            & (r.time_months >= 12.0)
        failed[name] = {f for f in r.firm_id[gone].tolist() if f in grade}
    assert failed["off"] <= failed["on"]
    extra = failed["on"] - failed["off"]
    assert len(extra) >= 3 and {grade[f] for f in extra} == {3}


def test_prices_that_would_pay_are_refused(baseline_path):
    """The schema refuses prices that would pay: a positive drift or a multiplier below 1."""
    for bad in ("policies.mu_pricing.growth_drift_per_year={C=0.01}",
                "policies.mu_pricing.exit_hazard_multiplier={D=0.9}"):
        with pytest.raises(parksim.ScenarioError, match="push"):
            parksim.load_scenario(baseline_path, overrides=[bad])


def test_the_queue_withholds_d_from_the_levers_named_and_pays_better_grades_first(baseline):
    """A, then B and ungraded by take-up draw, then C; D left out of land, kept for tax;
    by draw alone while the prices are off."""
    prices = MuPrices(baseline.policies.mu_pricing, baseline.calendar.start)
    grades = np.array([3, 2, -1, 0, 1, 3, 0])
    draws = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.05, 0.5])
    assert prices.queue("land", grades, draws, 12.0).tolist() == [6, 3, 2, 4, 1]
    assert prices.queue("tax", grades, draws, 12.0).tolist() == [6, 3, 2, 4, 1, 5, 0]
    assert prices.queue("land", grades, draws, 40.0).tolist() == [5, 0, 1, 2, 4, 6, 3]


# ------------------------------------------------------------------- an operator's platform sums


@pytest.fixture
def bare(baseline_path):
    """The baseline's parks without firms (no pool, no pipeline) and operators whose hurdle is
    exactly 1, the services lever from 2019-07 with its purchases and a 10% subsidy."""
    def make(*overrides):
        scenario = parksim.load_scenario(baseline_path, overrides=[
            "district.firms=0", "parks.pipeline.candidate_sites_per_year=0",
            "parks.platforms.services.hurdle_log_sigma=0.0",
            "parks.platforms.digital.hurdle_log_sigma=0.0", *overrides,
        ])
        return Context(scenario, Streams(np.random.SeedSequence(3)))
    return make


def test_an_operator_builds_when_its_firms_pay_for_the_platform(bare):
    """Unsupported, a service platform pays when firms x 3,000 x 5 years >= 500,000: 34 firms
    do, 33 do not. With the lever active from 2019-07 (t = 6.25), the district buys 0.7 x
    8,000 a firm-year for the 2.48 years left of its window (13,883 a firm) and pays 10% of
    the cost: 16 firms x 28,883 = 462,133 >= 450,000 builds, 15 do not."""
    ctx = bare()
    park = ctx.parks[0]
    for firms, t, builds in ((34, 0.0, True), (33, 0.0, False), (16, 6.25, True),
                             (15, 6.25, False)):
        park.n_firms = firms
        assert pays(ctx.parks, park, "services", t)[0] is builds, (firms, t)
    park.n_firms = 16
    assert pays(ctx.parks, park, "services", 6.25) == (True, 50_000.0)
    assert pays(ctx.parks, park, "services", 6.25, supported=False) == (False, 0.0)
    # in the window's last half-year (t = 30.25, 0.48 years left) purchases count for what is
    # left of it: 26 firms x (15,000 + 2,683) = 459,767 >= 450,000 build, 25 do not (with five
    # years of purchases 25 would: 25 x 43,000)
    park.n_firms = 26
    assert pays(ctx.parks, park, "services", 30.25) == (True, 50_000.0)
    park.n_firms = 25
    assert pays(ctx.parks, park, "services", 30.25) == (False, 50_000.0)


def test_a_platform_works_after_its_build_time_and_its_subsidy_is_paid(bare):
    """An open park of 20 firms: at the first decision after the lever opens (2019-07, a
    quarter month after the report) its operator builds a service platform, which works six
    months later; the subsidy is paid as building starts."""
    ctx = bare()
    park = ctx.parks[0]
    park.n_firms = 20
    ctx.env.run(until=6.3)
    assert "services" in park.building and not park.has_platform
    ctx.env.run(until=12.3)
    assert park.has_platform
    r = ctx.records.freeze()
    works = (r.kind == parksim.records.Kind.PARK_PLATFORM) & (r.park_id == 0) \
        & (r.build == "services")
    assert r.time_months[works].tolist() == [6.25 + 6.0]
    paid = (r.kind == parksim.records.Kind.SUPPORT_PAID) & (r.park_id == 0) & (r.firm_id == -1)
    assert r.amount_yuan[paid & (r.lever == "services")].tolist()[:1] == [50_000.0]


def test_a_firm_holds_its_parks_platform_effects_from_the_start_of_its_interval(baseline_path):
    """With no lever acting on firms and no 亩均 prices, what a firm holds for its interval is
    its park's platform effects as they were when the interval opened: at the report at
    t = 18 for the firms committed there, at entry for a firm entering later (one park at a
    time, the same sums as for all parks at once). Service platforms decided at a report
    begin to work a quarter month after the next, so between 18.25 and 24 none begins."""
    scenario = parksim.load_scenario(baseline_path, overrides=[
        *(f"policies.{lever}.enabled=false" for lever in ("finance", "land", "tax")),
        "policies.services.growth_drift_per_year=0.0",  # it buys services: platforms are
        "policies.services.tech_hazard_multiplier=1.0",  # built, but it adds nothing itself
        "policies.mu_pricing.enabled=false",
        "policies.national.small_firm_relief.enabled=false",
        "enterprises.no_credit_growth_drift_per_year=0.0",
    ])
    ctx = Context(scenario, Streams(np.random.SeedSequence(5)))
    table, parks = ctx.tenancy.table, ctx.parks
    ctx.env.run(until=18.1)
    drift, tech, _ = platform_effects(parks)
    rows = table.in_parks()
    committed = rows[table.since[rows] == 18.0]
    assert committed.size > 100 and drift[table.park[committed]].any()
    np.testing.assert_allclose(table.support_drift[committed], drift[table.park[committed]])
    np.testing.assert_allclose(table.support_tech[committed], tech[table.park[committed]])
    ctx.env.run(until=23.9)
    drift, tech, registration = platform_effects(parks)
    for park in parks:
        assert park_platform_effects(parks, park) == pytest.approx(
            (drift[park.id], tech[park.id], registration[park.id]))
    rows = table.in_parks()
    entered = rows[table.entered_at[rows] > 18.3]
    assert entered.size > 10 and drift[table.park[entered]].any()
    np.testing.assert_allclose(table.support_drift[entered], drift[table.park[entered]])
    np.testing.assert_allclose(table.support_tech[entered], tech[table.park[entered]])
