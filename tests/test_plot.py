"""Figures of results directories (``parksim.plot`` and ``parksim plot``): what each figure
draws -- its axes, lines, bars, labels and thresholds, checked against the results it reads --
not its pixels; a Chinese name without a CJK font is a warning, with one no glyph is missing;
and the command's bad input is one line with exit code 2."""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SENSITIVITY, calibration_text
from matplotlib.container import BarContainer

import parksim
from parksim import plot
from parksim.scenario.schema import TARGET_KEYS, TARGET_LABELS

SMALL = ["district.firms=1500", 'calendar.horizon="2020-12"', 'targets.date="2020-12"']


@pytest.fixture(scope="module")
def forecast_dir(tmp_path_factory, baseline_path, parksim_cli):
    """A forecast of a small district over two years: 8 runs on 2 parameter sets."""
    out = tmp_path_factory.mktemp("plot") / "forecast"
    sets = [arg for item in SMALL for arg in ("--set", item)]
    proc = parksim_cli("run", baseline_path, *sets, "-n", "8", "-k", "2", "-w", "2", "-q",
                       "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def forecast(forecast_dir):
    return parksim.load_results(forecast_dir)


def test_fan_draws_the_bands_the_median_the_threshold_and_the_target_date(forecast):
    fig = plot.fan(forecast, "upgrades")
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    # a count's median is a value that occurred; the last month is drawn as a level
    median = forecast.series.groupby("month")["upgrades"].quantile(0.5, interpolation="lower")
    drawn = lines["median"].get_ydata()
    assert np.allclose(drawn[:-1], median.to_numpy()) and drawn[-1] == drawn[-2]
    threshold = lines["target 50"]
    assert set(threshold.get_ydata()) == {50.0}
    months = forecast.series["month"].max()
    assert set(lines["target date 2020-12"].get_xdata()) == {months}
    assert len(ax.collections) == 2  # the 90% and 50% bands
    assert ax.get_title() == "Upgrades over time (baseline)"
    assert ax.get_ylabel() == "upgrades"
    assert "2019-01" in [t.get_text() for t in ax.get_xticklabels()]
    with pytest.raises(ValueError, match="unknown target"):
        plot.fan(forecast, "revenue")


def test_pmet_bars_are_the_forecast_s_probabilities_with_their_intervals(forecast):
    fig = plot.pmet(forecast)
    (ax,) = fig.axes
    heights = [bar.get_height() for bar in ax.patches]
    expected = {t["key"]: t["probability"] for t in forecast.summary["targets"]}
    assert heights == pytest.approx([expected[k] for k in TARGET_KEYS])
    assert ax.get_ylim() == (0, 1)
    assert [t.get_text() for t in ax.get_xticklabels()][3] == "upgrades"


def test_pmet_of_a_comparison_shows_the_change_with_its_paired_interval(
        tmp_path, baseline_path, parksim_cli):
    boost = tmp_path / "boost.toml"
    boost.write_text(f'extends = "{baseline_path.as_posix()}"\nname = "boost"\n'
                     "[policies.finance]\ntake_up = 0.9\n")
    base = tmp_path / "base.toml"
    base.write_text(f'extends = "{baseline_path.as_posix()}"\nname = "base"\n')
    for path in (base, boost):  # compare takes no --set: the small district goes in the files
        path.write_text(path.read_text() + '[district]\nfirms = 1500\n[calendar]\n'
                        'horizon = "2020-12"\n[targets]\ndate = "2020-12"\n')
    out = tmp_path / "cmp"
    proc = parksim_cli("compare", base, boost, "-n", "8", "-k", "2", "-w", "2", "-q", "-o", out)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    fig = plot.pmet(summary)
    assert len(fig.axes) == 2
    change = fig.axes[1]
    points = change.containers[0].lines[0].get_ydata()
    rows = {t["key"]: t for t in summary["targets"] if t["scenario"] == "boost"}
    assert np.allclose(points, [rows[k]["probability_diff"] for k in TARGET_KEYS])
    assert change.get_ylabel() == "change in P(met) against base"
    image = tmp_path / "pmet.svg"
    proc = parksim_cli("plot", out, "pmet", "-o", image)
    assert proc.returncode == 0 and image.read_text().lstrip().startswith("<?xml")
    refused = parksim_cli("plot", out, "ledger", "-o", tmp_path / "l.png")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "drawn from a forecast" in refused.stderr


def test_ledger_draws_spend_against_each_cap_and_says_whether_it_binds(forecast):
    fig = plot.ledger(forecast)
    levers = [ax.get_title() for ax in fig.axes]
    assert levers == ["finance", "land", "tax", "services"]  # relief is off in the baseline
    land = fig.axes[1]
    table = forecast.ledger[forecast.ledger["item"] == "land"].groupby("year")
    assert [bar.get_height() for bar in land.patches] == pytest.approx(
        (table["spent_yuan"].mean() / 1e6).tolist())
    notes = [text.get_text() for text in land.texts]
    bound = table["cap_bound"].mean()
    assert len(notes) == len(bound)
    for note, share in zip(notes, bound, strict=True):
        assert (note == "never binds") == (share == 0)


def test_parks_and_grades(forecast):
    (ax,) = plot.parks(forecast).axes
    assert [line.get_label() for line in ax.get_lines()] == [
        "open", "recognised", "provincial", "demonstration"]
    (ax,) = plot.grades(forecast).axes
    years = sorted({bar.get_x() + bar.get_width() / 2 for bar in ax.patches})
    for year in years:  # each year's stacked shares of A, B, C, D add up to 1
        stack = [bar.get_height() for bar in ax.patches
                 if abs(bar.get_x() + bar.get_width() / 2 - year) < 1e-9]
        assert sum(stack) == pytest.approx(1.0)


def test_occupancy_draws_each_listed_park_and_the_parks_the_pipeline_built(forecast):
    (ax,) = plot.occupancy(forecast).axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    table = forecast.park_series
    names = forecast.parks.drop_duplicates("park_id").set_index("park_id")["name"]
    first = names[0]
    median = (table[(table["park_id"] == 0) & table["occupancy"].notna()]
              .groupby("month")["occupancy"].median())
    drawn = lines[first].get_ydata()
    assert np.allclose(drawn[median.index.to_numpy()], median.to_numpy())
    listed = len(forecast.scenario.parks.initial)
    opened = table[(table["park_id"] < listed) & table["occupancy"].notna()]["park_id"].nunique()
    built = (table["park_id"] >= listed) & table["occupancy"].notna()
    assert len(lines) == opened + bool(built.any())
    assert ax.get_ylabel() == "occupied share of usable floor (median)"


def test_chinese_names_need_a_cjk_font(forecast):
    """With a CJK font installed no glyph of a Chinese scenario name is missing; without one,
    the figure says so (a PlotWarning), once per figure."""
    forecast.scenario = forecast.scenario.model_copy(update={"name": "富阳基线"})
    if plot.cjk_font() is None:
        with pytest.warns(plot.PlotWarning, match="no CJK font"):
            plot.fan(forecast, "firms")
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = plot.fan(forecast, "firms")
        fig.canvas.draw()
    assert not [w for w in caught if "missing from" in str(w.message)], caught


def test_the_plot_command(forecast_dir, tmp_path, parksim_cli):
    image = tmp_path / "upgrades.png"
    proc = parksim_cli("plot", forecast_dir, "fan", "--target", "upgrades", "-o", image)
    assert proc.returncode == 0, proc.stderr
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"fan figure written to {image}" in proc.stderr
    for args, fragment in [
        ((forecast_dir, "fan"), "needs --target"),
        ((tmp_path, "ledger"), "no manifest.json"),
        ((forecast_dir, "ledger", "-o", tmp_path / "x.gif"), "must be .png, .svg or .pdf"),
        ((forecast_dir, "ledger", "-o", tmp_path / "nowhere" / "x.png"), "no such folder"),
    ]:
        proc = parksim_cli("plot", *args, cwd=tmp_path)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert fragment in proc.stderr


def test_the_command_s_names_are_the_figures_and_targets():
    """``parksim plot`` spells its choices out so that ``--help`` imports no plotting: they
    must stay the figures and targets there are."""
    from parksim.cli import FIGURE_NAMES, TARGET_NAMES

    assert FIGURE_NAMES == tuple(plot.FIGURES) and TARGET_NAMES == TARGET_KEYS


# ---------------------------------------------------------------- survival, studies, calibration

@pytest.fixture(scope="module")
def records_dir(tmp_path_factory, baseline_path, parksim_cli):
    """The small district's forecast with every event record: 4 runs on 2 parameter sets."""
    out = tmp_path_factory.mktemp("plot") / "records"
    sets = [arg for item in SMALL for arg in ("--set", item)]
    proc = parksim_cli("run", baseline_path, *sets, "-n", "4", "-k", "2", "-w", "2", "-q",
                       "--records", "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def with_records(records_dir):
    return parksim.load_results(records_dir)


@pytest.fixture(scope="module")
def sensitivity_dir(tmp_path_factory, baseline_path, parksim_cli):
    """A Sobol study of three factors (two priors, one lever) on 20 points x 2 runs."""
    folder = tmp_path_factory.mktemp("sensitivity")
    path = folder / "sens.toml"
    path.write_text(TINY_SENSITIVITY.format(baseline=baseline_path.as_posix(), kind="sobol",
                                            samples=4), encoding="utf-8")
    proc = parksim_cli("sensitivity", path, "-o", folder / "study", "-w", "2", "-q", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder / "study"


@pytest.fixture(scope="module")
def calibration_dir(tmp_path_factory, baseline_path, parksim_cli):
    """A one-generation calibration of two parameters with 5 particles, run from the folder of
    its file (the manifest names it relatively, as ``c.toml``): four observations, two of the
    scenario's (no stated uncertainty), one with an interval and one with a standard error."""
    folder = tmp_path_factory.mktemp("calibration")
    (folder / "c.toml").write_text(calibration_text(baseline_path), encoding="utf-8")
    proc = parksim_cli("calibrate", "c.toml", "-o", "cal", "-w", "2", "-q", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder / "cal"


def _by_hand(table, age: float) -> float:
    """The annual hazard ``table`` integrated from 0 to ``age``, year by year."""
    whole = int(age)
    if whole >= len(table):
        return sum(table) + (age - len(table)) * table[-1]
    return sum(table[:whole]) + (age - whole) * table[whole]


def test_a_stay_in_the_parks_ends_in_failure_or_is_censored():
    """A hand-built timeline: a move continues a stay, a failure ends it, a broken contract or
    graduation censors it, a firm still in a park is censored at the end, and one that comes
    back starts a second stay."""
    rows = [  # (t, kind, firm, age, exit reason)
        (0.0, "firm_entered", 1, 2.0, ""), (0.0, "firm_entered", 3, 5.0, ""),
        (0.0, "firm_entered", 4, 0.5, ""), (3.0, "firm_entered", 2, 1.0, ""),
        (6.0, "firm_exited", 1, 2.5, "moved"), (6.0, "firm_moved", 1, 2.5, ""),
        (9.0, "firm_exited", 2, 1.5, "contract"), (12.0, "firm_exited", 1, 3.0, "failure"),
        (12.0, "firm_exited", 4, 1.5, "graduated"), (18.0, "firm_entered", 4, 2.0, ""),
        (18.0, "firm_upgraded", 3, 6.5, ""),
    ]
    records = pd.DataFrame(rows, columns=["time_months", "kind", "firm_id", "firm_age_years",
                                          "exit_reason"]).assign(replication=0)
    stays = plot._stays(records, end_months=24.0)
    got = sorted(zip(stays["entry_age"], stays["exit_age"], stays["failed"], strict=True))
    assert got == [(0.5, 1.5, False), (1.0, 1.5, False), (2.0, 2.5, False), (2.0, 3.0, True),
                   (5.0, 7.0, False)]


def test_survival_draws_kaplan_meier_beside_the_assumed_survival(with_records):
    fig = plot.survival(with_records)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "firm age (years)"
    assert ax.get_ylabel() == "share still in business"
    km, assumed = ax.get_lines()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["95% interval", km.get_label(), assumed.get_label()]
    assert km.get_label().startswith("simulated firms in parks (Kaplan-Meier")
    assert assumed.get_label().startswith("assumed: age hazard x park multiplier")
    s = km.get_ydata()
    assert s[0] == 1.0 and np.all(np.diff(s) <= 0) and s[-1] < 1.0
    assert len(ax.collections) == 1  # the 95% band
    a0 = km.get_xdata()[0]
    assert assumed.get_xdata()[0] == pytest.approx(a0)
    # only failures are events: the label counts the failures after a0, not the other exits
    records = with_records.records
    failed = records[(records["kind"] == "firm_exited") & (records["exit_reason"] == "failure")]
    others = records[(records["kind"] == "firm_exited") & (records["exit_reason"] != "failure")]
    assert len(others) > 0
    assert f"{int((failed['firm_age_years'] > a0).sum()):,} failures" in km.get_label()
    # the assumed curve: exp(-m (H(a) - H(a0))), averaged over the runs' parameter sets
    table = with_records.scenario.enterprises.exit_hazard_by_age
    sets = with_records.targets.set_index("replication")["parameter_set"]
    m = with_records.parameters.set_index("parameter_set")["parks.exit_hazard_multiplier"]
    multipliers = [m[sets[r]] for r in sorted(records["replication"].unique())]
    for i in (0, 50, 120, 199):
        age = assumed.get_xdata()[i]
        expected = np.mean([np.exp(-k * (_by_hand(table, age) - _by_hand(table, a0)))
                            for k in multipliers])
        assert assumed.get_ydata()[i] == pytest.approx(expected, rel=1e-9)
    # without the parameter sets: the written multiplier
    fixed = dataclasses.replace(with_records, parameters=None)
    (ax,) = plot.survival(fixed).axes
    assumed = ax.get_lines()[1]
    assert assumed.get_label() == "assumed: age hazard x park multiplier 0.75"
    age = assumed.get_xdata()[100]
    assert assumed.get_ydata()[100] == pytest.approx(
        np.exp(-0.75 * (_by_hand(table, age) - _by_hand(table, a0))), rel=1e-9)


def test_absent_data_is_missing_data_naming_the_directory_and_the_remedy(forecast):
    assert issubclass(plot.MissingData, ValueError)
    with pytest.raises(plot.MissingData, match="--records") as caught:
        plot.survival(forecast)
    assert str(forecast.path) in str(caught.value)
    for figure, table in [(plot.ledger, "ledger"), (plot.grades, "grades"),
                          (plot.occupancy, "park_series")]:
        with pytest.raises(plot.MissingData, match=str(forecast.path)):
            figure(dataclasses.replace(forecast, **{table: None}))
    with pytest.raises(plot.MissingData):
        plot.sensitivity(pd.DataFrame())


def test_sensitivity_bars_are_the_factors_sorted_by_their_total_index(sensitivity_dir):
    indices = parksim.load_results(sensitivity_dir)
    factors = sorted(set(indices["factor"]))
    fig = plot.sensitivity(indices)
    assert [ax.get_title() for ax in fig.axes] == [TARGET_LABELS[k] for k in TARGET_KEYS]
    drawn = 0
    for ax, output in zip(fig.axes, TARGET_KEYS, strict=True):
        rows = indices[indices["output"] == output].set_index("factor")
        if rows["ST"].isna().all():
            assert "no indices" in ax.texts[0].get_text()
            continue
        drawn += 1
        bars = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
        total, first = bars["ST"], bars["S1"]
        assert len(total.patches) == len(first.patches) == len(factors)
        top_down = sorted(total.patches, key=lambda p: -p.get_y())
        widths = [p.get_width() for p in top_down]
        assert widths == sorted(widths, reverse=True)
        ticks = dict(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()],
                         strict=True))
        names = [ticks[y] for y in sorted(ticks, reverse=True)]
        assert sorted(names) == factors
        assert widths == pytest.approx(rows.loc[names, "ST"].fillna(0).tolist())
    assert drawn >= 1  # the floor per unit of revenue drives the firms in parks
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:3] == ["total index (ST), uncertain parameter",
                          "total index (ST), policy lever", "first-order index (S1)"]
    assert len(plot.sensitivity(indices, ["met_all", "firms"]).axes) == 2
    with pytest.raises(ValueError, match="no indices of revenue"):
        plot.sensitivity(indices, ["revenue"])


def test_morris_screening_draws_mu_star_sorted_with_sigma_as_dots():
    """A hand-made Morris table: mu* bars sorted, sigma dots beside them, a constant output
    said to have no indices."""
    rows = [("firms", "a", "prior", 5.0, 1.0, 2.0), ("firms", "b", "lever", 9.0, 2.0, 0.5),
            ("firms", "c", "prior", 1.0, 0.5, 0.1),
            *(("parks", f, "prior", np.nan, np.nan, np.nan) for f in "abc")]
    indices = pd.DataFrame(rows, columns=["output", "factor", "factor_kind", "mu_star",
                                          "mu_star_conf", "sigma"])
    fig = plot.sensitivity(indices)
    parks_ax, firms_ax = fig.axes
    assert "no indices" in parks_ax.texts[0].get_text()
    (bars,) = [c for c in firms_ax.containers if isinstance(c, BarContainer)]
    assert [p.get_width() for p in sorted(bars.patches, key=lambda p: -p.get_y())] == [9, 5, 1]
    (dots,) = [line for line in firms_ax.get_lines() if line.get_label() == "sigma"]
    assert list(dots.get_xdata()) == [0.5, 2.0, 0.1]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["mu* (mean |elementary effect|), uncertain parameter",
                      "mu* (mean |elementary effect|), policy lever",
                      "sigma (interactions, non-linearity)"]


def test_posterior_draws_each_parameter_against_its_prior(calibration_dir):
    cal = plot.read_calibration(calibration_dir)
    names = ["district.floor_m2_per_million_yuan", "enterprises.growth_drift_per_year"]
    assert sorted(cal.priors) == names and len(cal.observations) == 4
    fig = plot.posterior(cal)
    assert len(fig.axes) == 2
    medians = {row["path"]: row["median"] for row in cal.summary["parameters"]}
    for ax in fig.axes:
        name = ax.get_title().split("\n")[0]
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"prior", "posterior median"}
        assert set(lines["posterior median"].get_xdata()) == {medians[name]}
        x, density = lines["prior"].get_data()
        assert np.trapezoid(density, x) == pytest.approx(0.999, abs=0.01)
        heights = np.array([p.get_height() for p in ax.patches])
        widths = np.array([p.get_width() for p in ax.patches])
        assert len(heights) == 20 and np.sum(heights * widths) == pytest.approx(1.0)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["posterior (weighted particles)", "prior", "posterior median"]


def test_a_moved_calibration_draws_the_prior_s_range_and_warns(calibration_dir, tmp_path):
    moved = tmp_path / "elsewhere" / "cal"
    shutil.copytree(calibration_dir, moved)
    with pytest.warns(plot.PlotWarning, match="prior is drawn as its 90% range"):
        fig = plot.posterior(moved)
    summary = json.loads((moved / "summary.json").read_text(encoding="utf-8"))
    ax = fig.axes[0]
    (span,) = [p for p in ax.patches if p.get_label() == "prior 90% range"]
    row = summary["parameters"][0]
    assert span.get_x() == pytest.approx(row["prior_p05"])
    assert span.get_x() + span.get_width() == pytest.approx(row["prior_p95"])


def test_ppc_marks_each_observation_against_its_predictive_interval(calibration_dir):
    cal = plot.read_calibration(calibration_dir)
    fig = plot.ppc(cal)
    table = cal.predictive
    assert len(fig.axes) == len(table) == 4
    tolerances = [(11 - 1.645 * 1.1, 11 + 1.645 * 1.1), (7 - 1.645 * 0.7, 7 + 1.645 * 0.7),
                  (1330.0, 2930.0), (40 - 1.645 * 5, 40 + 1.645 * 5)]
    for ax, row, tolerance in zip(fig.axes, table.to_dict("records"), tolerances, strict=True):
        simulated, observed = ax.containers
        assert simulated.lines[0].get_ydata()[0] == pytest.approx(row["median"])
        (segment,) = simulated.lines[2][0].get_segments()
        assert segment[:, 1] == pytest.approx([row["p05"], row["p95"]])
        assert observed.get_label() == "observed, with its 90% tolerance"
        assert observed.lines[0].get_ydata()[0] == row["observed"]
        (segment,) = observed.lines[2][0].get_segments()
        assert segment[:, 1] == pytest.approx(tolerance)
        assert ax.get_title().startswith(f"{row['key']}\n{row['when']}")
        assert ("outside" in ax.get_title()) == (not row["inside_p05_p95"])


def test_occupancy_s_chinese_park_names_have_every_glyph(forecast):
    if plot.cjk_font() is None:
        pytest.skip("no CJK font installed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = plot.occupancy(forecast)
        fig.canvas.draw()
    assert any("\u4e00" <= ch <= "\u9fff" for text in fig.axes[0].get_legend().get_texts()
               for ch in text.get_text())
    assert not [w for w in caught if "missing from" in str(w.message)], caught


def test_the_plot_command_draws_studies_and_refuses_the_wrong_results(
        records_dir, forecast_dir, sensitivity_dir, calibration_dir, tmp_path, parksim_cli):
    for folder, figure in [(records_dir, "survival"), (sensitivity_dir, "sensitivity"),
                           (calibration_dir, "posterior")]:
        image = tmp_path / f"{figure}.png"
        proc = parksim_cli("plot", folder, figure, "-o", image)
        assert proc.returncode == 0, proc.stderr
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for folder, figure, fragment in [
        (forecast_dir, "survival", "run the forecast with --records"),
        (calibration_dir, "sensitivity", "drawn from a sensitivity study"),
        (forecast_dir, "ppc", "drawn from a calibration"),
    ]:
        proc = parksim_cli("plot", folder, figure, "-o", tmp_path / "x.png")
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert fragment in proc.stderr
    assert not (tmp_path / "x.png").exists()
