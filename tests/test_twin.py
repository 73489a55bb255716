"""The numpy twin of the firm lifecycle (``parksim/validation/twin.py``): its own consistency, and
its agreement in distribution with the SimPy model in a district whose parks never fill.

The agreement check runs both over many replications of one scenario — the baseline reduced
to one operating park too large to fill, no park pipeline, no lead-sector rule, no budget
caps, no grade effects, a service platform everywhere and an epidemic-like shock — and
compares entries, upgrades, tech status and exits (by reason and by age) with two-sample
tests at the 99.9% level. A twin with a 30% stronger in-park exit hazard must fail the same
comparison, which shows that the comparison can see an error of that size.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import parksim
from parksim.metrics import firm_histories
from parksim.validation.twin import EXIT_REASONS, TwinOutput, _AgeHazard, run_twin

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
description = "One park too large to fill; no pipeline, caps, grade effects or lead-sector rule."

[district]
firms = 20000
acceptance_probability = 1.0         # the twin leaves the firm's acceptance of a park out
rent_elasticity = 0.0
off_sector_acceptance_multiplier = 1.0

[[parks.initial]]
name = "a park that never fills"
status = "operating"
floor_area_m2 = 1.0e7
lead_sector = "machinery_equipment"
development_model = "government"
firms = 1500

[parks.pipeline]
candidate_sites_per_year = 0.0

[parks.admission]
lead_sector_min_share = 0.0

[parks.grading]
delist_after_d_grades = 1000

[policies.finance]
budget_cap_yuan_per_year = 1.0e15
min_park_grade = "D"

[policies.land]
budget_cap_yuan_per_year = 1.0e15
min_park_grade = "D"
grade_drift_per_year = {{ A = 0.0, B = 0.0, C = 0.0, D = 0.0 }}

[policies.tax]
budget_cap_yuan_per_year = 1.0e15

[policies.services]
budget_cap_yuan_per_year = 1.0e15
platform_coverage = 1.0

[[shocks]]
name = "lockdown"
start = "2020-02"
end = "2020-04"
growth_drift_per_year = -1.2
exit_hazard_multiplier = 2.0
relocation_multiplier = 0.2
"""


@pytest.fixture(scope="module")
def never_full(tmp_path_factory) -> parksim.Scenario:
    path = tmp_path_factory.mktemp("twin") / "never_full.toml"
    path.write_text(NEVER_FULL.format(baseline=BASELINE.as_posix()), encoding="utf-8")
    return parksim.load_scenario(path)


COLUMNS = (
    "seated",
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
    # the park never fills: occupied floor stays below its usable floor, and no firm graduates
    entered, expanded, exited = (
        r.kind == kind for kind in (Kind.FIRM_ENTERED, Kind.FIRM_EXPANDED, Kind.FIRM_EXITED)
    )
    change = np.where(entered | expanded, r.floor_m2, 0.0) - np.where(exited, r.floor_m2, 0.0)
    assert (
        np.cumsum(change).max()
        < scenario.parks.usable_share * scenario.parks.initial[0].floor_area_m2
    )
    assert not np.any(firms.exit_reason == "graduated")
    return {column: getattr(firms, column) for column in COLUMNS}


def _twin_firms(scenario, seed) -> dict[str, np.ndarray]:
    out = run_twin(scenario, seed)
    seated = out.entered_at < 0
    return {
        "seated": seated,
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


def _comparisons(
    model: dict[str, np.ndarray], twin: dict[str, np.ndarray], replications: int
) -> list[tuple]:
    """``(statistic, model value, twin value, p-value)`` for every comparison."""
    rows: list[tuple] = []
    seated_m, seated_t = model["seated"], twin["seated"]
    assert seated_m.sum() == seated_t.sum()  # every seat is filled in both
    k_m, k_t = int((~seated_m).sum()), int((~seated_t).sum())
    # equal exposure: given the total, the model's count of entrants is binomial(total, 1/2)
    rows.append(("entrants per replication", k_m / replications, k_t / replications,
                 stats.binomtest(k_m, k_m + k_t, 0.5).pvalue))
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
def model_firms(never_full) -> dict[str, np.ndarray]:
    root = np.random.SeedSequence(20190723)
    return _pooled([_model_firms(never_full, s) for s in root.spawn(REPLICATIONS)])


def test_twin_agrees_with_the_model_where_parks_never_fill(never_full, model_firms):
    twin = _pooled(
        [_twin_firms(never_full, s) for s in np.random.SeedSequence(1).spawn(REPLICATIONS)]
    )
    rows = _comparisons(model_firms, twin, REPLICATIONS)
    print("\n" + _report(rows))
    rejected = [row for row in rows if row[3] < LEVEL]
    assert not rejected, "twin and model disagree:\n" + _report(rejected)


def test_the_comparison_sees_a_30_percent_stronger_exit_hazard(never_full, model_firms):
    parks = never_full.parks
    stronger = never_full.model_copy(
        update={
            "parks": parks.model_copy(
                update={"exit_hazard_multiplier": parks.exit_hazard_multiplier * 1.3}
            ),
        }
    )
    twin = _pooled(
        [_twin_firms(stronger, s) for s in np.random.SeedSequence(2).spawn(REPLICATIONS)]
    )
    rows = {row[0]: row for row in _comparisons(model_firms, twin, REPLICATIONS)}
    print("\n" + _report([rows["seated: share failed"], rows["entrants: share failed"]]))
    assert rows["seated: share failed"][3] < LEVEL
