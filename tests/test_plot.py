"""Figures of results directories (``parksim.plot`` and ``parksim plot``): what each figure
draws -- its axes, lines, bars, labels and thresholds, checked against the results it reads --
not its pixels; a Chinese name without a CJK font is a warning, with one no glyph is missing;
and the command's bad input is one line with exit code 2."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import parksim
from parksim import plot
from parksim.scenario.schema import TARGET_KEYS

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
