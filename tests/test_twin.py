"""The numpy twin of the firm lifecycle (``parksim/validation/twin.py``): its own consistency, and
its agreement in distribution with the SimPy model in a district whose parks never fill.

The agreement check runs both over many replications of one scenario -- the baseline reduced
to eight operating parks too large to fill, of five sectors and on four kinds of terms (the
market rent, dearer, cheaper with a stricter entry standard, and cheaper, one park selling its
units), no park pipeline, no lead-sector rule, no budget caps, no grade effects, service
platforms in half the parks (as their entries say; no operator builds one), land rent relief,
firms that take the park they are offered only with a probability that follows its platform,
sector and rent net of the relief they expect, and an epidemic-like shock that recovers -- and
compares entries (in all and by park), upgrades, tech status and exits (by reason and by age)
with two-sample tests at the 99.9% level. A twin with a 30%
stronger in-park exit hazard must fail the same comparison, and so must a twin that reads a
term of the firm's acceptance of a park, or of the park it is offered, differently: this shows
that the comparison can see errors of that size.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import parksim
from parksim.calendar import month_index
from parksim.metrics import firm_histories
from parksim.validation.twin import (
    EXIT_REASONS,
    TwinOutput,
    _accepts,
    _AgeHazard,
    _Levers,
    _Parks,
    run_twin,
)

REPO_DIR = Path(__file__).resolve().parent.parent
BASELINE = REPO_DIR / "scenarios" / "baseline.toml"
LEVEL = 0.001  # each comparison is a two-sided test at the 99.9% level
REPLICATIONS = 40
AGE_BANDS = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0, math.inf)


@pytest.fixture(scope="module")
def baseline() -> parksim.Scenario:
    return parksim.load_scenario(BASELINE)


@pytest.fixture(scope="module")
def small() -> parksim.Scenario:
    return parksim.load_scenario(BASELINE, overrides=["district.firms=6000"])


# ---------------------------------------------------------------------------- the twin alone


def test_one_row_per_firm_with_consistent_columns(baseline):
    out = run_twin(baseline, 11)
    n = len(out)
    assert n > 500
    for name in (
        "firm_id",
        "park",
        "entered_at",
        "age_at_entry",
        "revenue_at_entry",
        "upgraded_at",
        "tech_at",
        "tech_at_entry",
        "exited_at",
        "exit_reason",
        "age_at_exit",
    ):
        assert len(getattr(out, name)) == n, name
    assert out.firm_id.dtype == np.int64
    assert len(np.unique(out.firm_id)) == n  # no firm enters twice, so none exits twice
    assert out.firm_id.min() >= 0 and out.firm_id.max() < out.pool_firms
    assert out.pool_firms > baseline.district.firms  # new firms formed during the run
    assert set(out.exit_reason) <= set(EXIT_REASONS) - {"graduated"}  # parks never fill


def test_seated_firms_and_entrants(baseline):
    out = run_twin(baseline, 12)
    horizon = baseline.horizon_months
    adm = baseline.parks.admission
    seated = out.entered_at < 0
    assert seated.sum() == sum(p.firms for p in baseline.parks.initial if p.status == "operating")
    assert np.all(out.entered_at[seated] == -baseline.parks.initial_tenure_months)
    entrants = ~seated
    assert np.all((out.entered_at[entrants] > 0) & (out.entered_at[entrants] < horizon))
    assert np.all(np.diff(out.entered_at) >= 0)  # in order of entry
    revenue = out.revenue_at_entry
    assert np.all(
        (revenue >= adm.min_revenue_yuan) & (revenue < baseline.enterprises.upgrade_threshold_yuan)
    )
    assert np.all(out.age_at_entry[entrants] >= 0)


def test_exits_follow_entries_and_ages_add_up(baseline):
    out = run_twin(baseline, 13)
    horizon = baseline.horizon_months
    exited = ~np.isnan(out.exited_at)
    assert exited.any()
    assert np.all((out.exit_reason != "") == exited)
    assert np.all(out.exited_at[exited] > np.maximum(out.entered_at[exited], 0.0))
    assert np.all(out.exited_at[exited] < horizon)
    assert np.all(np.isnan(out.age_at_exit[~exited]))
    expected = out.age_at_entry[exited] + (out.exited_at[exited] - out.entered_at[exited]) / 12.0
    np.testing.assert_allclose(out.age_at_exit[exited], expected, rtol=0, atol=1e-9)


def _on_report(t: np.ndarray, dt: float) -> np.ndarray:
    """Whether each time is a report's: the last instant (1e-6 month) before a multiple of dt."""
    return np.abs((t + 1e-6) / dt - np.round((t + 1e-6) / dt)) < 1e-9


def _on_opening(t: np.ndarray, dt: float) -> np.ndarray:
    """Whether each time opens a half-year: a multiple of ``dt``."""
    return np.abs(t / dt - np.round(t / dt)) < 1e-9


def test_events_fall_on_report_dates_while_in_the_park(baseline):
    out = run_twin(baseline, 14)
    dt = baseline.enterprises.review_interval_months
    end = np.where(np.isnan(out.exited_at), np.inf, out.exited_at)
    for name in ("upgraded_at", "tech_at"):
        t = getattr(out, name)
        seen = ~np.isnan(t)
        assert seen.any(), name
        assert np.all(_on_report(t[seen], dt)), name
        assert np.all(t[seen] > np.maximum(out.entered_at[seen], 0.0)), name
        assert np.all(t[seen] <= end[seen]), name
    assert np.all(np.isnan(out.tech_at[out.tech_at_entry]))
    contract = out.exit_reason == "contract"
    assert contract.any()
    # moved out when the half-year after the report
    # that found the breach opens, never at the horizon
    assert np.all(_on_opening(out.exited_at[contract], dt))
    assert np.all(out.exited_at[contract] < baseline.horizon_months)
    assert np.all(
        out.exited_at[contract] - out.entered_at[contract] >= baseline.enterprises.contract_months
    )


def test_reproducible_for_a_seed_and_different_for_another(small):
    a, b = run_twin(small, 5), run_twin(small, 5)
    for name in TwinOutput.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    c = run_twin(small, np.random.SeedSequence(5))
    np.testing.assert_array_equal(a.firm_id, c.firm_id)
    d = run_twin(small, 6)
    assert len(d) != len(a) or not np.array_equal(d.firm_id, a.firm_id)


def test_no_pressure_no_entrants_and_no_levers():
    quiet = parksim.load_scenario(
        BASELINE, overrides=["district.firms=6000", "district.relocation_rate_per_year=0.0"]
    )
    out = run_twin(quiet, 1)
    assert np.all(out.entered_at < 0)
    bare = parksim.load_scenario(
        REPO_DIR / "scenarios" / "no_support.toml", overrides=["district.firms=6000"]
    )
    assert len(run_twin(bare, 1)) > 0
    empty = parksim.load_scenario(BASELINE, overrides=["district.firms=0"])
    assert len(run_twin(empty, 1)) == 0


def test_parks_seat_their_firms_and_admit_firms_meeting_their_standard(baseline):
    out = run_twin(baseline, 15)
    initial = baseline.parks.initial
    assert out.park.dtype == np.int64
    assert np.all((out.park >= 0) & (out.park < len(initial)))
    seated = out.entered_at < 0
    seats = np.bincount(out.park[seated], minlength=len(initial))
    assert seats.tolist() == [p.firms if p.status == "operating" else 0 for p in initial]
    models = baseline.parks.pipeline.models
    standard = np.array(
        [models[p.development_model].min_revenue_yuan or 0.0 for p in initial], dtype=float
    )
    entrants = ~seated
    assert np.all(out.revenue_at_entry[entrants] >= standard[out.park[entrants]])
    # every park takes entrants, not only those operating at the start: the twin leaves out
    # opening dates
    assert set(out.park[entrants]) == set(range(len(initial)))


def test_a_firm_takes_the_park_it_is_offered_only_by_its_acceptance(small):
    def entrants(**district) -> int:
        out = run_twin(_with_district(small, **district), 4)
        return int((out.entered_at > 0).sum())

    assert entrants(acceptance_probability=0.0) == 0
    always = entrants(acceptance_probability=1.0, rent_elasticity=0.0,
                      off_sector_acceptance_multiplier=1.0, platform_acceptance_multiplier=1.0)
    assert always > entrants() > 0


def test_acceptance_follows_platform_sector_rent_and_expected_relief(small):
    scenario = _with_district(
        small, acceptance_probability=0.3, platform_acceptance_multiplier=1.2,
        off_sector_acceptance_multiplier=0.7, rent_elasticity=1.0, lease_years=2.5,
    )
    land = scenario.policies.land.model_copy(
        update={"rent_subsidy_share_by_year": (0.5, 0.25, 0.25), "take_up": 0.6}
    )
    scenario = scenario.model_copy(
        update={"policies": scenario.policies.model_copy(update={"land": land})}
    )
    levers = _Levers(scenario)
    # the relief over a lease of 2.5 years: (0.5 + 0.25 + 0.25 / 2) / 2.5
    assert levers.lease_relief == pytest.approx(0.35)
    # park 0: sector 0, a platform, rent 70% of the market's, relieved by the land lever;
    # park 1: sector 1, no platform, a buyer's cost 130% of the market rent, not relieved
    parks = _Parks(lead=np.array([0, 1]), platform=np.array([True, False]),
                   rent_ratio=np.array([0.7, 1.3]), relieves=np.array([True, False]),
                   min_revenue=np.zeros(2), seats=np.zeros(2, dtype=np.int64))
    in_window = float(month_index(scenario.calendar.start, land.window.start)) + 1.0
    n = 200_000
    rng = np.random.default_rng(0)
    for park, sector, land_draw, expected in (
        (0, 0, 0.1, 0.3 * 1.2 / (0.7 * (1.0 - 0.35))),  # takes the land lever up
        (0, 0, 0.9, 0.3 * 1.2 / 0.7),  # does not take it up
        (0, 1, 0.1, 0.3 * 1.2 * 0.7 / (0.7 * (1.0 - 0.35))),  # off-sector
        (1, 0, 0.1, 0.3 * 0.7 / 1.3),  # off-sector, no platform, nothing to relieve
    ):
        takes = _accepts(rng, scenario, parks, levers, np.full(n, park), np.full(n, sector),
                         np.full(n, 3.0e6), np.full(n, in_window), np.full(n, land_draw))
        se = math.sqrt(expected * (1.0 - expected) / n)
        assert abs(takes.mean() - expected) < 5.0 * se, (park, sector, land_draw)
    # no park offered: not taken
    assert not _accepts(rng, scenario, parks, levers, np.full(3, -1), np.zeros(3, dtype=int),
                        np.full(3, 3.0e6), np.full(3, in_window), np.zeros(3)).any()


def test_age_hazard_integral_and_its_inverse(baseline):
    by_age = baseline.enterprises.exit_hazard_by_age
    hazard = _AgeHazard(by_age)
    ages = np.array([0.0, 0.5, 1.0, 2.25, len(by_age) - 0.5, len(by_age) + 3.0])
    expected = [0.0, 0.5 * by_age[0], by_age[0], by_age[0] + by_age[1] + 0.25 * by_age[2],
                sum(by_age[:-1]) + 0.5 * by_age[-1], sum(by_age) + 3.0 * by_age[-1]]
    np.testing.assert_allclose(hazard.integral(ages), expected, rtol=1e-12)
    np.testing.assert_allclose(hazard.age_at(hazard.integral(ages)), ages, rtol=1e-12)
    flat = _AgeHazard((0.0, 0.1, 0.0))
    assert flat.age_at(np.array([0.05]))[0] == pytest.approx(1.5)
    assert flat.age_at(np.array([0.2]))[0] == math.inf


# ------------------------------------------------------------- agreement with the SimPy model

NEVER_FULL = """
extends = "{baseline}"
name = "never_full"
description = "Parks too large to fill, on their own terms; no pipeline, caps, grades, sector rule."

[district]
firms = 20000
acceptance_probability = 0.5         # a firm takes the park it is offered: all the terms
rent_elasticity = 1.0
platform_acceptance_multiplier = 1.2
off_sector_acceptance_multiplier = 0.7
lease_years = 3.0
owner_cost_rate_per_year = 0.05

[parks]
rent_yuan_m2_month = 20.0            # the market rent

# eight parks operating at the start, each too large to fill, of five of the seven sectors
# (firms of the other two are always offered a park of another sector), on four kinds of terms:
# the market rent (lead_enterprise: its rent and standard unset, see the fixture), dearer
# (third_party), cheaper with a stricter entry standard (government), and cheaper (consortium),
# one of whose parks sells its units (a buyer weighs 3,600 x 0.05 / 12 = 15 yuan/m2/month)
[[parks.initial]]
name = "machinery, market rent"
status = "operating"
platform = true
digital = false
floor_area_m2 = 1.0e7
lead_sector = "machinery_equipment"
development_model = "lead_enterprise"
firms = 250

[[parks.initial]]
name = "machinery, dear"
status = "operating"
platform = false
digital = false
floor_area_m2 = 1.0e7
lead_sector = "machinery_equipment"
development_model = "third_party"
firms = 200

[[parks.initial]]
name = "paper, cheap and selective"
status = "operating"
platform = true
digital = false
floor_area_m2 = 1.0e7
lead_sector = "paper_packaging"
development_model = "government"
firms = 200

[[parks.initial]]
name = "paper, market rent"
status = "operating"
platform = false
digital = false
floor_area_m2 = 1.0e7
lead_sector = "paper_packaging"
development_model = "lead_enterprise"
firms = 150

[[parks.initial]]
name = "metal, selling its units"
status = "operating"
platform = true
digital = false
floor_area_m2 = 1.0e7
lead_sector = "metal_products"
development_model = "consortium"
sells_units = true
firms = 200

[[parks.initial]]
name = "digital, dear"
status = "operating"
platform = false
digital = false
floor_area_m2 = 1.0e7
lead_sector = "digital_services"
development_model = "third_party"
firms = 200

[[parks.initial]]
name = "digital, cheap"
status = "operating"
platform = true
digital = false
floor_area_m2 = 1.0e7
lead_sector = "digital_services"
development_model = "consortium"
firms = 150

[[parks.initial]]
name = "textiles, cheap and selective"   # its smaller firms are offered other sectors' parks
status = "operating"
platform = false
digital = false
floor_area_m2 = 1.0e7
lead_sector = "textiles_apparel"
development_model = "government"
firms = 150

[parks.pipeline]
candidate_sites_per_year = 0.0

[parks.pipeline.models.government]
rent_yuan_m2_month = 14.0
min_revenue_yuan = 4.0e6

[parks.pipeline.models.third_party]
rent_yuan_m2_month = 26.0
min_revenue_yuan = 0.0

[parks.pipeline.models.consortium]
rent_yuan_m2_month = 14.0
min_revenue_yuan = 0.0
sale_price_yuan_per_m2 = 3600.0

[parks.admission]
lead_sector_min_share = 0.0

[parks.platforms.services]           # no operator builds one: the parks keep what they have
setup_cost_yuan = 1.0e15

[parks.platforms.digital]
setup_cost_yuan = 1.0e15

[parks.grading]
delist_after_d_grades = 1000

[policies.finance]
budget_cap_yuan_per_year = 1.0e15
min_park_grade = "D"

[policies.land]
window = {{ start = "2019-07", end = "2021-12" }}   # no relief for a firm moving in before it
budget_cap_yuan_per_year = 1.0e15
min_park_grade = "D"
take_up = 0.6
max_revenue_yuan = 2.0e7
rent_subsidy_share_by_year = [0.5, 0.25]   # a lease of 3 years relieved by a quarter

[policies.tax]
budget_cap_yuan_per_year = 1.0e15

[policies.services]
budget_cap_yuan_per_year = 1.0e15

[policies.mu_pricing]
enabled = false

[[shocks]]
name = "lockdown"
start = "2020-02"
end = "2020-04"
growth_drift_per_year = -1.2
exit_hazard_multiplier = 2.0
relocation_multiplier = 0.2
recovery_half_life_months = 3.0      # what it took comes back: half in three months
"""


def _with_models(scenario: parksim.Scenario, **changes: dict) -> parksim.Scenario:
    """``scenario`` with the development models named in ``changes`` changed (a field set to
    None is unset: a scenario file extending another cannot unset a key)."""
    pipeline = scenario.parks.pipeline
    models = dict(pipeline.models)
    for name, update in changes.items():
        models[name] = models[name].model_copy(update=update)
    pipeline = pipeline.model_copy(update={"models": models})
    return scenario.model_copy(
        update={"parks": scenario.parks.model_copy(update={"pipeline": pipeline})}
    )


def _with_district(scenario: parksim.Scenario, **update) -> parksim.Scenario:
    return scenario.model_copy(update={"district": scenario.district.model_copy(update=update)})


@pytest.fixture(scope="module")
def never_full(tmp_path_factory) -> parksim.Scenario:
    path = tmp_path_factory.mktemp("twin") / "never_full.toml"
    path.write_text(NEVER_FULL.format(baseline=BASELINE.as_posix()), encoding="utf-8")
    # the lead-enterprise parks let at the market rent and apply only the district's standard,
    # whatever the baseline sets: their model's rent and standard are unset
    return _with_models(
        parksim.load_scenario(path),
        lead_enterprise={"rent_yuan_m2_month": None, "min_revenue_yuan": None},
    )


COLUMNS = (
    "seated",
    "park",
    "entered_at",
    "age_at_entry",
    "revenue_at_entry",
    "tech_at_entry",
    "upgraded_at",
    "tech_at",
    "exited_at",
    "exit_reason",
    "age_at_exit",
)
"""The columns the model and the twin are compared on, one row per firm that was in a park."""


def _model_firms(scenario, seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """The model's firm histories of one replication (:func:`~parksim.metrics.firm_histories`)."""
    from parksim.model import run_replication
    from parksim.records import Kind

    r = run_replication(scenario, seed).records
    firms = firm_histories(r)
    # no park fills: the floor occupied in all of them stays below the usable floor of each,
    # and no firm graduates
    entered, expanded, exited = (
        r.kind == kind for kind in (Kind.FIRM_ENTERED, Kind.FIRM_EXPANDED, Kind.FIRM_EXITED)
    )
    change = np.where(entered | expanded, r.floor_m2, 0.0) - np.where(exited, r.floor_m2, 0.0)
    smallest = min(park.floor_area_m2 for park in scenario.parks.initial)
    assert np.cumsum(change).max() < scenario.parks.usable_share * smallest
    assert not np.any(firms.exit_reason == "graduated")
    columns = {column: getattr(firms, column) for column in COLUMNS if column != "park"}
    return {**columns, "park": firms.park_id.astype(np.int64)}


def _twin_firms(scenario, seed) -> dict[str, np.ndarray]:
    out = run_twin(scenario, seed)
    seated = out.entered_at < 0
    return {
        "seated": seated,
        "park": out.park,
        "entered_at": out.entered_at,
        # the model records the age of a seated firm at the start, not at the start of its tenure
        "age_at_entry": np.where(
            seated, out.age_at_entry - out.entered_at / 12.0, out.age_at_entry
        ),
        "revenue_at_entry": out.revenue_at_entry,
        "tech_at_entry": out.tech_at_entry,
        "upgraded_at": out.upgraded_at,
        "tech_at": out.tech_at,
        "exited_at": out.exited_at,
        "exit_reason": out.exit_reason,
        "age_at_exit": out.age_at_exit,
    }


def _pooled(runs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([run[key] for run in runs]) for key in runs[0]}


def _proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the two-proportion z test (pooled variance)."""
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1.0 - p) * (1.0 / n1 + 1.0 / n2))
    if se == 0:
        return 1.0
    return float(2.0 * stats.norm.sf(abs(k1 / n1 - k2 / n2) / se))


def _means_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of Welch's t test of equal means (1 if both samples are one value)."""
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if a[0] == b[0] else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def _comparisons(
    model_runs: list[dict[str, np.ndarray]], twin_runs: list[dict[str, np.ndarray]], parks: int
) -> list[tuple]:
    """``(statistic, model value, twin value, p-value)`` for every comparison."""
    model, twin = _pooled(model_runs), _pooled(twin_runs)
    rows: list[tuple] = []
    seated_m, seated_t = model["seated"], twin["seated"]
    assert seated_m.sum() == seated_t.sum()  # every seat is filled in both
    # entrants are counted per replication, and the counts compared, in all and by park: each
    # replication draws its own pool, so a count varies between replications more than it
    # would by the chance of each firm alone
    counts = [
        np.array([np.bincount(run["park"][~run["seated"]], minlength=parks) for run in runs])
        for runs in (model_runs, twin_runs)
    ]
    total_m, total_t = (c.sum(axis=1) for c in counts)
    rows.append(("entrants per replication (t)", total_m.mean(), total_t.mean(),
                 _means_p(total_m, total_t)))
    for park in range(parks):
        m, t = counts[0][:, park], counts[1][:, park]
        rows.append((f"entrants in park {park} per replication (t)", m.mean(), t.mean(),
                     _means_p(m, t)))
    for group, m_rows, t_rows in (
        ("seated", seated_m, seated_t),
        ("entrants", ~seated_m, ~seated_t),
    ):
        m = {key: value[m_rows] for key, value in model.items()}
        t = {key: value[t_rows] for key, value in twin.items()}
        shares = {
            "upgraded": (~np.isnan(m["upgraded_at"]), ~np.isnan(t["upgraded_at"]), None),
            "tech in a park (of non-tech)": (
                ~np.isnan(m["tech_at"]),
                ~np.isnan(t["tech_at"]),
                "tech",
            ),
            "failed": (m["exit_reason"] == "failure", t["exit_reason"] == "failure", None),
            "contract exits": (
                m["exit_reason"] == "contract",
                t["exit_reason"] == "contract",
                None,
            ),
        }
        if group == "entrants":
            shares["tech at entry"] = (m["tech_at_entry"], t["tech_at_entry"], None)
        for name, (hit_m, hit_t, among) in shares.items():
            base_m = ~m["tech_at_entry"] if among else np.ones(len(hit_m), dtype=bool)
            base_t = ~t["tech_at_entry"] if among else np.ones(len(hit_t), dtype=bool)
            k1, n1 = int(hit_m[base_m].sum()), int(base_m.sum())
            k2, n2 = int(hit_t[base_t].sum()), int(base_t.sum())
            rows.append((f"{group}: share {name}", k1 / n1, k2 / n2, _proportion_p(k1, n1, k2, n2)))
        failed_m, failed_t = m["exit_reason"] == "failure", t["exit_reason"] == "failure"
        rows.append(
            (
                f"{group}: failure age (KS, median)",
                float(np.median(m["age_at_exit"][failed_m])),
                float(np.median(t["age_at_exit"][failed_t])),
                stats.ks_2samp(m["age_at_exit"][failed_m], t["age_at_exit"][failed_t]).pvalue,
            )
        )
        rows.append(
            (
                f"{group}: failure time (KS, median)",
                float(np.median(m["exited_at"][failed_m])),
                float(np.median(t["exited_at"][failed_t])),
                stats.ks_2samp(m["exited_at"][failed_m], t["exited_at"][failed_t]).pvalue,
            )
        )
        for column in ("revenue_at_entry", "age_at_entry") + (
            ("entered_at",) if group == "entrants" else ()
        ):
            rows.append((f"{group}: {column} (KS, median)", float(np.median(m[column])),
                         float(np.median(t[column])), stats.ks_2samp(m[column], t[column]).pvalue))
    # failures by age band at exit, all firms: a 2 x bands contingency table
    failed_m, failed_t = model["exit_reason"] == "failure", twin["exit_reason"] == "failure"
    counts = np.array([np.histogram(model["age_at_exit"][failed_m], AGE_BANDS)[0],
                       np.histogram(twin["age_at_exit"][failed_t], AGE_BANDS)[0]])
    rows.append(("failures by age band (chi-square)", counts[0].tolist(), counts[1].tolist(),
                 stats.chi2_contingency(counts).pvalue))
    return rows


def _report(rows: list[tuple]) -> str:
    lines = [f"{'statistic':<44} {'model':>12} {'twin':>12} {'p':>9}"]
    for name, m, t, p in rows:
        if isinstance(m, list):
            lines.append(f"{name:<44} {str(m):>12} {str(t):>12} {p:9.4f}")
        else:
            lines.append(f"{name:<44} {m:12.4g} {t:12.4g} {p:9.4f}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def model_runs(never_full) -> list[dict[str, np.ndarray]]:
    root = np.random.SeedSequence(20190723)
    return [_model_firms(never_full, s) for s in root.spawn(REPLICATIONS)]


def _compare_twin(scenario, model_runs, seed: int) -> dict[str, tuple]:
    """The comparisons of the model's runs with as many twin runs of ``scenario``, by name."""
    twin = [_twin_firms(scenario, s) for s in np.random.SeedSequence(seed).spawn(REPLICATIONS)]
    rows = _comparisons(model_runs, twin, len(scenario.parks.initial))
    return {row[0]: row for row in rows}


def test_twin_agrees_with_the_model_where_parks_never_fill(never_full, model_runs):
    rows = list(_compare_twin(never_full, model_runs, 1).values())
    print("\n" + _report(rows))
    rejected = [row for row in rows if row[3] < LEVEL]
    assert not rejected, "twin and model disagree:\n" + _report(rejected)


def test_the_comparison_sees_a_30_percent_stronger_exit_hazard(never_full, model_runs):
    parks = never_full.parks
    stronger = never_full.model_copy(
        update={
            "parks": parks.model_copy(
                update={"exit_hazard_multiplier": parks.exit_hazard_multiplier * 1.3}
            ),
        }
    )
    rows = _compare_twin(stronger, model_runs, 2)
    print("\n" + _report([rows["seated: share failed"], rows["entrants: share failed"]]))
    assert rows["seated: share failed"][3] < LEVEL


@pytest.mark.parametrize(
    ("twin_reads", "update", "seen_by"),
    [
        # the rent ratio and the relief a firm expects left out of its acceptance
        ("rent_elasticity = 0", {"district": {"rent_elasticity": 0.0}},
         "entrants per replication (t)"),
        # a lower base acceptance
        ("acceptance_probability = 0.4", {"district": {"acceptance_probability": 0.4}},
         "entrants per replication (t)"),
        # the government parks' stricter entry standard left out of park choice
        ("government min_revenue_yuan unset", {"government": {"min_revenue_yuan": None}},
         "entrants in park 2 per replication (t)"),
    ],
    ids=["no rent terms", "acceptance 0.4", "no park standard"],
)
def test_the_comparison_sees_a_twin_that_misreads_acceptance(
    never_full, model_runs, twin_reads, update, seen_by
):
    """The twin run with one term of the firm's acceptance of a park, or of the park it is
    offered, read differently from the model's scenario must fail the comparison."""
    misread = never_full
    if "district" in update:
        misread = _with_district(misread, **update["district"])
    else:
        misread = _with_models(misread, **update)
    rows = _compare_twin(misread, model_runs, 3)
    print(f"\ntwin with {twin_reads}:\n" + _report([rows[seen_by]]))
    assert rows[seen_by][3] < LEVEL
