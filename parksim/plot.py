"""Figures of results: one function per figure, each taking loaded results and returning a
matplotlib :class:`~matplotlib.figure.Figure`.

The figures read only what a results directory holds (``parksim.load_results(DIR)``) and never
run the model, so a figure of a forecast is the forecast's, whenever it is drawn. They use
matplotlib's object interface (no pyplot state): a figure is made, drawn and returned, and the
caller saves it (``fig.savefig("upgrades.png")``) or embeds it in a report.

- :func:`fan`: one target over time, the median and 50% and 90% bands across replications,
  with the threshold and the target date: what the table's single number hides (upgrades rise
  in half-yearly steps, so the 50-upgrade question is settled at the last review).
- :func:`pmet`: P(met) per target with its interval, one bar per scenario; for a comparison,
  the change in P(met) against the first scenario with its paired interval beside it.
- :func:`ledger`: each district lever's spend per year against its budget cap, and the share
  of replications in which the cap bound: a cap that never binds is visible at a glance.
- :func:`parks`: parks open, recognised, provincial and demonstration over time.
- :func:`occupancy`: each listed park's occupancy over time, and the parks the pipeline built.
- :func:`grades`: the evaluation's grade mix per year.
- :func:`survival`: Kaplan-Meier survival of the firms in parks by age (from ``--records``),
  beside the survival the scenario's age hazard and park multiplier assume.
- :func:`sensitivity`: a sensitivity study's indices per output, factors sorted by importance.
- :func:`posterior`: a calibration's weighted posterior of each fitted parameter against its
  prior, with the posterior median.
- :func:`ppc`: a calibration's posterior predictive median and 90% interval of each observation
  against the observed value and its tolerance.

A figure whose data the results do not hold (a forecast run without ``--records`` for
:func:`survival`, results written before a table was added) raises :class:`MissingData`, a
``ValueError``: a report can catch exactly that and build the rest.

Chinese text (park and sector names) needs a CJK font: :func:`cjk_font` finds an installed one
(Debian's ``fonts-noto-cjk``, for example) and figures use it as a fallback beside the default
font; where none is installed, a figure with Chinese text gives a :class:`PlotWarning` and the
text shows as boxes.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, font_manager, rc_context
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from parksim.aggregate import quantile_method
from parksim.calendar import month_index
from parksim.io import read_kind_table, read_manifest, sha256_file
from parksim.results import Results
from parksim.scenario.loader import ScenarioError
from parksim.scenario.priors import quantile
from parksim.scenario.schema import TARGET_KEYS, TARGET_LABELS, Observation
from parksim.study.calibration import CALIBRATION_KIND, distance_scales, load_calibration

__all__ = ["FIGURES", "CalibrationResults", "MissingData", "PlotWarning", "cjk_font", "fan",
           "grades", "ledger", "occupancy", "parks", "pmet", "posterior", "ppc",
           "read_calibration", "sensitivity", "survival"]

BAND = "#9ecae1"
BAND_INNER = "#4292c6"
LINE = "#08306b"
THRESHOLD = "#d94801"
GRADE_COLOURS = {"A": "#1a9850", "B": "#91cf60", "C": "#fee08b", "D": "#d73027"}
DISTRICT_LEVERS = ("finance", "land", "tax", "services", "relief")
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC",
                "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
                "Droid Sans Fallback", "AR PL UMing CN")


class PlotWarning(UserWarning):
    """A figure drawn with less than it should have (no CJK font for Chinese names, a
    calibration's priors that can no longer be read)."""


class MissingData(ValueError):
    """The results hold no data for this figure: the message names the directory and what to
    do (a report builder catches exactly this and builds the rest)."""


@functools.cache
def cjk_font() -> str | None:
    """The name of an installed font with Chinese glyphs, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    found = sorted(name for name in installed if "CJK" in name or "Han Sans" in name)
    return found[0] if found else None


def _style(*texts: str) -> Any:
    """The figures' style: the default font, with a CJK font as fallback where installed; a
    :class:`PlotWarning` where ``texts`` hold Chinese and no CJK font is installed."""
    family = cjk_font()
    if family is None and any("\u3400" <= ch <= "\u9fff" for text in texts for ch in text):
        warnings.warn("no CJK font is installed (e.g. Debian's fonts-noto-cjk): Chinese text "
                      "in the figure shows as boxes", PlotWarning, stacklevel=3)
    return rc_context({"font.family": ["DejaVu Sans", *([family] if family else [])],
                       "axes.spines.top": False, "axes.spines.right": False,
                       "figure.dpi": 100})


def _quantiles(frame: pd.DataFrame, column: str, qs: Sequence[float],
               months: np.ndarray) -> pd.DataFrame:
    """Per month, the quantiles ``qs`` of ``column`` across replications (of counts, values
    that occurred, as the summary gives them), with the last month repeated one month on, so
    that a step drawn ``post`` shows the last month as a level, not a spike."""
    method = quantile_method(frame[column].to_numpy(dtype=float))
    q = frame.groupby("month")[column].quantile(list(qs), interpolation=_INTERPOLATION[method])
    q = q.unstack().reindex(months)
    q.loc[months[-1] + 1] = q.loc[months[-1]]
    return q


_INTERPOLATION = {"inverted_cdf": "lower", "linear": "linear"}


def _months(series: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    frame = series[["month", "date"]].drop_duplicates("month").sort_values("month")
    return frame["month"].to_numpy(), [str(d) for d in frame["date"]]


def _date_ticks(ax, months: np.ndarray, dates: list[str], every: int = 6) -> None:
    ticks = [m for m, d in zip(months, dates, strict=True) if int(d[5:7]) % every == 1]
    ax.set_xticks(ticks, [dates[list(months).index(m)] for m in ticks])


def fan(results: Results, target: str) -> Figure:
    """One target over time: median, 50% and 90% bands across replications, the threshold
    (a dashed line) and the target date (a dotted line)."""
    if target not in TARGET_KEYS:
        raise ValueError(f"unknown target {target!r} (one of: {', '.join(TARGET_KEYS)})")
    series = results.series
    months, dates = _months(series)
    q = _quantiles(series, target, (0.05, 0.25, 0.5, 0.75, 0.95), months)
    x = q.index.to_numpy()
    threshold = float(getattr(results.scenario.targets, target))
    target_date = results.scenario.targets.date
    with _style(results.scenario.name):
        fig = Figure(figsize=(8, 4.2), layout="constrained")
        ax = fig.add_subplot()
        ax.fill_between(x, q[0.05], q[0.95], color=BAND, label="90% of runs", step="post")
        ax.fill_between(x, q[0.25], q[0.75], color=BAND_INNER, alpha=0.6,
                        label="50% of runs", step="post")
        ax.step(x, q[0.5], where="post", color=LINE, linewidth=2, label="median")
        ax.axhline(threshold, color=THRESHOLD, linestyle="--", linewidth=1.5,
                   label=f"target {threshold:,.0f}")
        if target_date in dates:
            ax.axvline(months[dates.index(target_date)], color="grey", linestyle=":",
                       linewidth=1.2, label=f"target date {target_date}")
        _date_ticks(ax, months, dates)
        label = TARGET_LABELS[target]
        ax.set_title(f"{label.capitalize()} over time ({results.scenario.name})")
        ax.set_xlabel("month")
        ax.set_ylabel(label)
        ax.legend(loc="upper left", frameon=False, fontsize="small")
    return fig


def _pmet_rows(results: Sequence[Results] | Mapping[str, Any]
               ) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """Per scenario name, its target rows: from forecasts, or a comparison's summary."""
    if isinstance(results, Mapping):
        names = list(results["scenarios"])
        rows = {n: [t for t in results["targets"] if t["scenario"] == n] for n in names}
        return names, rows
    names = [r.scenario.name for r in results]
    if len(set(names)) != len(names):
        names = [f"{n} ({i + 1})" for i, n in enumerate(names)]
    return names, {n: r.summary["targets"] for n, r in zip(names, results, strict=True)}


def pmet(results: Results | Sequence[Results] | Mapping[str, Any]) -> Figure:
    """P(met) of each target with its 95% interval, one bar per scenario; given a
    comparison's summary (``parksim compare -o DIR``: ``DIR/summary.json``) a second panel
    shows each scenario's change in P(met) against the first, with its paired interval."""
    if isinstance(results, Results):
        results = [results]
    names, rows = _pmet_rows(results)
    paired = isinstance(results, Mapping) and len(names) > 1
    x = np.arange(len(TARGET_KEYS))
    width = 0.8 / len(names)
    with _style(*names):
        fig = Figure(figsize=(9, 7 if paired else 4.2), layout="constrained")
        axes = fig.subplots(2 if paired else 1, 1, squeeze=False)[:, 0]
        ax = axes[0]
        for i, name in enumerate(names):
            by_key = {t["key"]: t for t in rows[name]}
            p = np.array([by_key[k]["probability"] for k in TARGET_KEYS])
            lo = np.array([by_key[k]["ci_low"] for k in TARGET_KEYS])
            hi = np.array([by_key[k]["ci_high"] for k in TARGET_KEYS])
            ax.bar(x + (i - (len(names) - 1) / 2) * width, p, width, label=name,
                   yerr=[p - lo, hi - p], capsize=3)
        ax.set_xticks(x, [TARGET_LABELS[k] for k in TARGET_KEYS], rotation=15)
        ax.set_ylim(0, 1)
        ax.set_ylabel("P(target met)")
        ax.set_title("Probability of meeting each target (95% intervals)")
        ax.legend(frameon=False, fontsize="small")
        if paired:
            ax = axes[1]
            others = names[1:]
            w = 0.8 / len(others)
            for i, name in enumerate(others):
                by_key = {t["key"]: t for t in rows[name]}
                d = np.array([by_key[k]["probability_diff"] for k in TARGET_KEYS])
                lo = np.array([by_key[k]["probability_diff_ci_low"] for k in TARGET_KEYS])
                hi = np.array([by_key[k]["probability_diff_ci_high"] for k in TARGET_KEYS])
                ax.errorbar(x + (i - (len(others) - 1) / 2) * w, d, yerr=[d - lo, hi - d],
                            fmt="o", capsize=4, label=f"{name} - {names[0]}")
            ax.axhline(0, color="grey", linewidth=1)
            ax.set_xticks(x, [TARGET_LABELS[k] for k in TARGET_KEYS], rotation=15)
            ax.set_ylabel(f"change in P(met) against {names[0]}")
            ax.set_title("Change in the probability of meeting each target (paired 95% "
                         "intervals)")
            ax.legend(frameon=False, fontsize="small")
    return fig


def ledger(results: Results) -> Figure:
    """Each district lever's mean spend per calendar year against its budget cap, and the
    share of replications in which the cap bound (a firm was refused for want of budget)."""
    if results.ledger is None:
        raise MissingData(f"{results.path}: holds no ledger table (results written before the "
                          "ledger was added); run the forecast again to draw the ledger figure")
    table = results.ledger[results.ledger["item"].isin(DISTRICT_LEVERS)]
    levers = [lever for lever in DISTRICT_LEVERS if lever in set(table["item"])]
    if not levers:
        raise MissingData(f"{results.path}: the ledger holds no district lever (every lever is "
                          "off in the scenario): the ledger figure has nothing to draw")
    with _style(results.scenario.name):
        fig = Figure(figsize=(3.2 * len(levers), 3.8), layout="constrained")
        axes = fig.subplots(1, len(levers), squeeze=False)[0]
        for ax, lever in zip(axes, levers, strict=True):
            rows = table[table["item"] == lever].groupby("year").agg(
                spent=("spent_yuan", "mean"), cap=("budget_cap_yuan", "mean"),
                bound=("cap_bound", "mean"))
            years = rows.index.to_numpy()
            ax.bar(years, rows["spent"] / 1e6, color=BAND_INNER, label="spent (mean)")
            ax.hlines(rows["cap"] / 1e6, years - 0.4, years + 0.4, color=THRESHOLD,
                      linewidth=2, label="budget cap")
            for year, row in rows.iterrows():
                bound = row["bound"]
                note = ("never binds" if bound == 0 else "binds <1%" if bound < 0.005
                        else f"binds {bound:.0%}")
                ax.annotate(note, (year, row["cap"] / 1e6), textcoords="offset points",
                            xytext=(0, 4), ha="center", fontsize="x-small")
            ax.set_xticks(years, [str(y) for y in years])
            ax.set_title(lever)
            ax.set_ylabel("million yuan")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2,
                   frameon=False, fontsize="small")
        fig.suptitle(f"Spend against each lever's yearly cap ({results.scenario.name})")
    return fig


def parks(results: Results) -> Figure:
    """Parks by status over time: open, recognised, provincial and demonstration (medians
    across replications, with 50% bands)."""
    series = results.series
    months, dates = _months(series)
    columns = {"parks_open": "open", "parks": "recognised", "provincial_parks": "provincial",
               "demo_parks": "demonstration"}
    with _style(results.scenario.name):
        fig = Figure(figsize=(8, 4.2), layout="constrained")
        ax = fig.add_subplot()
        for column, label in columns.items():
            q = _quantiles(series, column, (0.25, 0.5, 0.75), months)
            x = q.index.to_numpy()
            line = ax.step(x, q[0.5], where="post", linewidth=2, label=label)[0]
            ax.fill_between(x, q[0.25], q[0.75], step="post", alpha=0.2,
                            color=line.get_color())
        _date_ticks(ax, months, dates)
        ax.set_title(f"Parks by status over time ({results.scenario.name})")
        ax.set_xlabel("month")
        ax.set_ylabel("parks (median, 50% band)")
        ax.legend(frameon=False, fontsize="small", loc="upper left")
    return fig


def occupancy(results: Results) -> Figure:
    """Occupancy over time of each park the scenario lists (its name; the median across
    replications, from the month it opens), and the median of the parks the pipeline opened
    during the run (which differ between replications)."""
    table = results.park_series
    if table is None or table.empty:
        raise MissingData(f"{results.path}: holds no park rows (a scenario without parks, or "
                          "results written before park_series was added); run the forecast "
                          "again to draw the occupancy figure")
    months, dates = _months(results.series)
    listed = len(results.scenario.parks.initial)
    names = (results.parks.drop_duplicates("park_id").set_index("park_id")["name"])
    open_ = table[table["occupancy"].notna()]
    with _style(*[str(n) for n in names.iloc[:listed]]):
        fig = Figure(figsize=(9, 5), layout="constrained")
        ax = fig.add_subplot()
        ax.set_prop_cycle(color=colormaps["tab20"].colors)
        for park_id in range(listed):
            rows = open_[open_["park_id"] == park_id]
            if rows.empty:
                continue
            median = rows.groupby("month")["occupancy"].median().reindex(months)
            ax.plot(months, median.to_numpy(), linewidth=1.5, label=str(names.get(park_id)))
        built = open_[open_["park_id"] >= listed]
        if not built.empty:
            median = built.groupby("month")["occupancy"].median().reindex(months)
            ax.plot(months, median.to_numpy(), color="black", linestyle="--", linewidth=2,
                    label="parks the pipeline opened (median)")
        _date_ticks(ax, months, dates)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("month")
        ax.set_ylabel("occupied share of usable floor (median)")
        ax.set_title(f"Occupancy by park ({results.scenario.name})")
        ax.legend(frameon=False, fontsize="x-small", loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


def grades(results: Results) -> Figure:
    """The evaluation's grade mix per year: the share of graded parks given A, B, C and D
    (parks in their grace years or not taking part are not graded), over all replications."""
    if results.grades is None or results.grades.empty:
        raise MissingData(f"{results.path}: holds no grading log (no park was graded before the "
                          "horizon, or results written before the log was added): a later "
                          "horizon, or the forecast run again, draws the grades figure")
    graded = results.grades[results.grades["grade"] != ""]
    if graded.empty:
        raise MissingData(f"{results.path}: no park was graded before the horizon (every park "
                          "in its grace years or not taking part): a later horizon draws the "
                          "grades figure")
    shares = (graded.groupby("year")["grade"].value_counts(normalize=True).unstack(fill_value=0)
              .reindex(columns=list(GRADE_COLOURS), fill_value=0))
    with _style(results.scenario.name):
        fig = Figure(figsize=(7, 4.2), layout="constrained")
        ax = fig.add_subplot()
        bottom = np.zeros(len(shares))
        years = shares.index.to_numpy()
        for grade, colour in GRADE_COLOURS.items():
            ax.bar(years, shares[grade], bottom=bottom, color=colour, label=grade)
            bottom += shares[grade].to_numpy()
        ax.set_xticks(years, [str(y) for y in years])
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of graded parks")
        ax.set_title(f"Grade mix per year ({results.scenario.name})")
        ax.legend(title="grade", frameon=False, fontsize="small", bbox_to_anchor=(1, 1))
    return fig


FAILURE = "failure"
"""The exit reason that ends a firm's life in :func:`survival`; every other way out of the parks
(a broken contract, graduating to its own land) censors it, and a move continues its stay."""
MIN_AT_RISK = 10
""":func:`survival` draws the ages at which at least this many firms are in parks: a
Kaplan-Meier curve under left truncation is unstable where few firms are at risk."""
LEVER = "#fd8d3c"


def _stays(records: pd.DataFrame, end_months: float) -> pd.DataFrame:
    """One row per stay of a firm in the parks, from the records: its ``replication``, its age
    on entering (``entry_age``) and on leaving or at the end of the run (``exit_age``, years),
    and whether it ``failed``. A move between parks (an exit "moved" and a firm_moved at the
    same instant) continues the stay; a firm that enters again later starts another."""
    firm = records[records["kind"].isin(["firm_entered", "firm_exited"])
                   & (records["exit_reason"] != "moved")]
    if "replication" not in firm.columns:
        firm = firm.assign(replication=0)
    firm = firm.sort_values(["replication", "firm_id", "time_months"], kind="stable")
    entered = (firm["kind"] == "firm_entered").to_numpy()
    keys = ["replication", "firm_id", "stay"]
    firm = firm.assign(stay=pd.Series(entered, index=firm.index).groupby(
        [firm["replication"], firm["firm_id"]]).cumsum())
    stays = firm[entered].set_index(keys)[["time_months", "firm_age_years"]].join(
        firm[~entered].set_index(keys)[["firm_age_years", "exit_reason"]], rsuffix="_end")
    still_in = stays["exit_reason"].isna()
    at_end = stays["firm_age_years"] + (end_months - stays["time_months"]) / 12.0
    return pd.DataFrame({
        "replication": stays.index.get_level_values("replication"),
        "entry_age": stays["firm_age_years"].to_numpy(dtype=float),
        "exit_age": stays["firm_age_years_end"].where(~still_in, at_end).to_numpy(dtype=float),
        "failed": (stays["exit_reason"] == FAILURE).to_numpy(),
    })


def _cumulative_hazard(by_age: np.ndarray, ages: np.ndarray) -> np.ndarray:
    """The annual hazard ``by_age`` (at age 0-1, 1-2, ...; the last beyond) integrated from
    age 0 to each of ``ages`` (years)."""
    n = len(by_age)
    cumulative = np.concatenate([[0.0], np.cumsum(by_age)])
    inside = np.interp(ages, np.arange(n + 1.0), cumulative)
    return np.where(ages >= n, cumulative[-1] + by_age[-1] * (ages - n), inside)


def _assumed_hazards(results: Results, replications: np.ndarray
                     ) -> list[tuple[float, np.ndarray, float]]:
    """The age hazard table and the park multiplier the replications ran with, as ``(share of
    the replications, table, multiplier)``: the scenario's written values, or each parameter
    set's where the forecast integrated over priors that draw them."""
    scenario = results.scenario
    table = np.asarray(scenario.enterprises.exit_hazard_by_age, dtype=float)
    multiplier = float(scenario.parks.exit_hazard_multiplier)
    if results.parameters is None or "parameter_set" not in results.targets.columns:
        return [(1.0, table, multiplier)]
    sets = results.targets.set_index("replication")["parameter_set"]
    counts = sets.reindex(np.unique(replications)).value_counts()
    if counts.empty:
        return [(1.0, table, multiplier)]
    by_set = results.parameters.set_index("parameter_set")
    out = []
    for k, n in counts.items():
        drawn = by_set.loc[k]
        h = np.array([float(drawn.get(f"enterprises.exit_hazard_by_age[{i}]", value))
                      for i, value in enumerate(table)])
        m = float(drawn.get("parks.exit_hazard_multiplier", multiplier))
        out.append((n / counts.sum(), h, m))
    return out


def survival(results: Results) -> Figure:
    """Kaplan-Meier survival of the firms in parks by firm age, beside the survival the
    scenario assumes.

    From the event records (a forecast run with ``--records``; :class:`MissingData` without
    them). Each stay of a firm in the parks runs from its entry (firm_entered: at the start for
    the firms already seated, or when it moves in) to a failure (firm_exited with reason
    "failure", the event) or is censored: when the firm leaves for another reason -- moved out
    for breaking its performance contract ("contract") or graduating to its own industrial
    land ("graduated"), both still in business -- or is still in a park at the end of the run.
    A move to another park (an exit "moved" and a firm_moved) continues the stay. Firms enter
    at an age above 0, so each stay is left-truncated at its entry age (``entry=`` in
    lifelines' ``KaplanMeierFitter``), and the curve, with its 95% band, is drawn from the
    youngest age ``a0`` at which at least :data:`MIN_AT_RISK` firms are in parks to the oldest:
    it is the share still in business at each age of the firms in business at ``a0``.

    The assumed curve is the same conditional survival, ``exp(-(H(a) - H(a0)))``, where ``H``
    integrates the scenario's annual hazard by age (``enterprises.exit_hazard_by_age``, the
    last value beyond the table) times the in-park multiplier (``parks.exit_hazard_multiplier``),
    averaged over the replications' parameter sets where the forecast drew these from priors.
    It leaves out what moves a firm's hazard in a park beyond that -- its levers' and its
    national relief's exit multipliers, a 亩均 D grade's surcharge, shocks -- so the gap between
    the curves is what those did.
    """
    from lifelines import KaplanMeierFitter

    if results.records is None:
        raise MissingData(f"{results.path}: holds no event records; run the forecast with "
                          "--records to draw the survival figure")
    scenario = results.scenario
    end = month_index(scenario.calendar.start, scenario.calendar.horizon) + 1.0
    stays = _stays(results.records, end)
    if stays.empty:
        raise MissingData(f"{results.path}: its records hold no firm in a park: the survival "
                          "figure has nothing to draw")
    everyone = KaplanMeierFitter().fit(stays["exit_age"], stays["failed"],
                                       entry=stays["entry_age"])
    at_risk = everyone.event_table["at_risk"]
    least = int(min(MIN_AT_RISK, at_risk.max()))
    enough = at_risk.index[at_risk >= least]
    a0, a1 = float(enough[0]), float(enough[-1])
    kept = stays[stays["exit_age"] > a0]
    kmf = KaplanMeierFitter().fit(kept["exit_age"], kept["failed"],
                                  entry=np.maximum(kept["entry_age"], a0))
    shown = kmf.survival_function_.index <= a1
    ages = kmf.survival_function_.index.to_numpy(dtype=float)[shown]
    km = kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float)[shown]
    band = kmf.confidence_interval_.to_numpy(dtype=float)[shown]
    grid = np.linspace(a0, a1, 200)
    hazards = _assumed_hazards(results, stays["replication"].to_numpy())
    assumed = sum(w * np.exp(-m * (_cumulative_hazard(h, grid) - _cumulative_hazard(h, a0)))
                  for w, h, m in hazards)
    multipliers = sorted({m for _, _, m in hazards})
    multiplier = (f"{multipliers[0]:g}" if len(multipliers) == 1 else
                  f"{multipliers[0]:.2f}-{multipliers[-1]:.2f}, averaged over parameter sets")
    with _style(scenario.name):
        fig = Figure(figsize=(8, 4.6), layout="constrained")
        ax = fig.add_subplot()
        ax.fill_between(ages, band[:, 0], band[:, 1], step="post", color=BAND,
                        label="95% interval")
        ax.step(ages, km, where="post", color=LINE, linewidth=2,
                label=f"simulated firms in parks (Kaplan-Meier; {len(kept):,} stays, "
                      f"{int(kept['failed'].sum()):,} failures)")
        ax.plot(grid, assumed, color=THRESHOLD, linestyle="--", linewidth=1.5,
                label=f"assumed: age hazard x park multiplier {multiplier}")
        ax.set_xlim(a0, a1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("firm age (years)")
        ax.set_ylabel("share still in business")
        ax.set_title(f"Survival of firms in parks by age ({scenario.name})")
        ax.annotate(f"of the firms in business at age {a0:.2f}; drawn where at least {least} "
                    "firms are in parks", (0.01, 0.02),
                    xycoords="axes fraction", fontsize="x-small", color="grey")
        ax.legend(loc="upper right", frameon=False, fontsize="small")
    return fig


def _output_label(output: str) -> str:
    """A sensitivity output as a title: a target's value, P(a target met), P(all met)."""
    if output == "met_all":
        return "P(all six targets met)"
    if output.startswith("met_") and output[4:] in TARGET_LABELS:
        return f"P({TARGET_LABELS[output[4:]]} met)"
    return str(TARGET_LABELS.get(output, output))


def sensitivity(indices: pd.DataFrame, outputs: Sequence[str] | None = None) -> Figure:
    """A sensitivity study's indices (``parksim.load_results(DIR)`` of ``parksim sensitivity
    -o DIR``): one panel per output -- by default each target's value, ``outputs`` to choose
    (e.g. ``met_all``) -- with one horizontal bar per factor, the most important at the top,
    and its 95% interval. Sobol: the total index ``ST`` (a lever's bar orange, an uncertain
    parameter's blue), the first-order ``S1`` inside it; hatched, a total index below the
    replication-noise share (an inert factor's is about that much). Morris: ``mu_star`` with
    ``sigma`` as dots. An output the same at every point has no indices and says so."""
    if indices.empty or "output" not in indices.columns:
        raise MissingData("the sensitivity study holds no indices (its sweep has not finished: "
                          "run the same parksim sensitivity command again to draw them)")
    method = "sobol" if "ST" in indices.columns else "morris" if "mu_star" in indices.columns \
        else None
    main, conf = ("ST", "ST_conf") if method == "sobol" else ("mu_star", "mu_star_conf")
    present = list(dict.fromkeys(indices["output"]))
    if outputs is None:
        outputs = [o for o in TARGET_KEYS if o in present] or present
    unknown = [o for o in outputs if o not in present]
    if unknown:
        raise ValueError(f"no indices of {', '.join(unknown)} (the study's outputs: "
                         f"{', '.join(present)})")
    n_factors = indices["factor"].nunique()
    ncols = min(3, len(outputs))
    nrows = math.ceil(len(outputs) / ncols)
    kinds = set(indices.get("factor_kind", pd.Series(["prior"])))
    hatched = False
    with _style(*indices["factor"].astype(str)):
        fig = Figure(figsize=(5.4 * ncols, nrows * (1.3 + 0.45 * n_factors)),
                     layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[len(outputs):]:
            ax.remove()
        for ax, output in zip(axes, outputs, strict=False):
            rows = indices[indices["output"] == output]
            ax.set_title(_output_label(output), fontsize="medium")
            if method is None or rows[main].isna().all():
                ax.text(0.5, 0.5, "the same at every point of the design:\nno indices",
                        ha="center", va="center", transform=ax.transAxes, fontsize="small",
                        color="grey")
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            rows = rows.sort_values(main, ascending=False, na_position="last", kind="stable")
            y = np.arange(len(rows))[::-1].astype(float)  # the most important at the top
            colours = [LEVER if kind == "lever" else BAND_INNER
                       for kind in rows.get("factor_kind", ["prior"] * len(rows))]
            # the main index's interval above the bar's middle, S1's (inside it) below
            bars = ax.barh(y, rows[main].fillna(0.0), height=0.7, color=colours,
                           label="ST" if method == "sobol" else "mu_star")
            ax.errorbar(rows[main].fillna(0.0), y + (0.17 if method == "sobol" else 0.0),
                        xerr=rows[conf].fillna(0.0), fmt="none", ecolor="black", capsize=3,
                        linewidth=1)
            for patch, below in zip(bars.patches, rows.get("below_noise", [False] * len(rows)),
                                    strict=True):
                if below:
                    patch.set_hatch("//")
                    patch.set_edgecolor("white")
                    hatched = True
            if method == "sobol":
                ax.barh(y - 0.17, rows["S1"].fillna(0.0), height=0.26, color=LINE,
                        xerr=rows["S1_conf"].fillna(0.0), capsize=2, label="S1",
                        error_kw={"ecolor": "dimgrey", "linewidth": 1})
                ax.set_xlabel("Sobol index")
            else:
                ax.plot(rows["sigma"], y, "o", color=LINE, label="sigma")
                ax.set_xlabel("mu* (output units per unit of quantile)")
            ax.axvline(0, color="grey", linewidth=0.8)
            ax.set_yticks(y, rows["factor"].astype(str), fontsize="small")
        name = "total index (ST)" if method == "sobol" else "mu* (mean |elementary effect|)"
        handles = [Patch(color=BAND_INNER, label=f"{name}, uncertain parameter")]
        if "lever" in kinds:
            handles.append(Patch(color=LEVER, label=f"{name}, policy lever"))
        if method == "sobol":
            handles.append(Patch(color=LINE, label="first-order index (S1)"))
        elif method == "morris":
            handles.append(Line2D([], [], marker="o", linestyle="", color=LINE,
                                  label="sigma (interactions, non-linearity)"))
        if hatched:
            handles.append(Patch(facecolor=BAND_INNER, hatch="//", edgecolor="white",
                                 label="total index below the replication noise"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3),
                   frameon=False, fontsize="small")
        fig.suptitle("Sobol indices per output, with 95% intervals" if method == "sobol" else
                     "Morris screening per output, mu* with its 95% interval" if method else
                     "Sensitivity indices per output")
    return fig


@dataclass(frozen=True)
class CalibrationResults:
    """A calibration's results directory (``parksim calibrate -o DIR``) read back for its
    figures (:func:`read_calibration`): the weighted posterior (one row per particle), the
    summary (per parameter its prior's family and 90% range and the posterior's median and
    90% interval; per observation the predictive check), the predictive checks as a table,
    and -- where the calibration file the manifest names can still be read and is unchanged
    -- the fitted parameters' priors and the observations fitted, in the checks' order
    (empty where it cannot)."""

    path: Path
    posterior: pd.DataFrame
    summary: dict[str, Any]
    predictive: pd.DataFrame
    priors: Mapping[str, Any]
    observations: tuple[Observation, ...]
    calibration_file: str | None


def _calibration_plan(path: Path, manifest: Mapping[str, Any]) -> Any:
    """The calibration the manifest names, loaded again if its files are unchanged (the same
    SHA-256 as recorded), else None. A relative name is tried from here and from the results
    directory's folders up (the calibration ran from one of them)."""
    recorded = manifest.get("calibration_file")
    if not recorded:
        return None
    file = Path(recorded)
    candidates = [file] if file.is_absolute() else [
        file, *(base / file for base in path.resolve().parents[:3])]
    expected = [source.get("sha256") for source in manifest.get("source_files", [])]
    for candidate in candidates:
        if not candidate.is_file():
            continue
        try:
            plan = load_calibration(candidate)
        except (OSError, ValueError, ScenarioError):
            continue
        if [source["sha256"] for source in plan.sources] == expected:
            return plan
    return None


def read_calibration(path: str | Path) -> CalibrationResults:
    """Read a calibration's results directory for :func:`posterior` and :func:`ppc`, each
    file checked against the manifest (``ValueError`` for another kind of results, or a file
    changed since it was written; ``FileNotFoundError`` without a manifest)."""
    path = Path(path)
    particles = read_kind_table(path, CALIBRATION_KIND, "a calibration", "posterior.parquet")
    manifest = read_manifest(path)
    file = path / "summary.json"
    listed = manifest.get("files", {}).get("summary.json")
    if listed is not None and (not file.exists() or file.stat().st_size != listed["bytes"]
                               or sha256_file(file) != listed["sha256"]):
        raise ValueError(f"{file}: does not match the manifest (changed or damaged after it "
                         "was written)")
    summary = json.loads(file.read_text(encoding="utf-8"))
    plan = _calibration_plan(path, manifest)
    return CalibrationResults(
        path, particles, summary, pd.DataFrame(summary.get("predictive", [])),
        dict(plan.priors) if plan is not None else {},
        tuple(plan.run.observations) if plan is not None else (),
        manifest.get("calibration_file"))


def _calibration(calibration: CalibrationResults | str | Path) -> CalibrationResults:
    if isinstance(calibration, CalibrationResults):
        return calibration
    return read_calibration(calibration)


def _legend(fig: Figure, axes: Sequence[Any], ncols: int = 3) -> None:
    """One legend below the panels, each label once."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center",
               ncols=min(ncols, len(handles)), frameon=False, fontsize="small")


def _prior_density(prior: Any) -> tuple[np.ndarray, np.ndarray]:
    """A continuous prior's density on its central 99.9%, from its quantile function."""
    u = np.linspace(0.0005, 0.9995, 400)
    x = np.array([float(quantile(prior, q)) for q in u])
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.gradient(u, x)
    return x, np.where(np.isfinite(density), density, np.nan)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    w = weights[order]
    return float(np.interp(0.5, (np.cumsum(w) - 0.5 * w) / w.sum(), values[order]))


def posterior(calibration: CalibrationResults | str | Path) -> Figure:
    """Each fitted parameter of a calibration (its results directory, or
    :func:`read_calibration` of it): the weighted posterior particles as a histogram, the
    prior's density, and the posterior median (a solid line). The prior is the one the
    calibration file the manifest names gives, when that file and its scenario are unchanged;
    otherwise (moved or edited since) its 90% range from ``summary.json`` is shaded instead,
    with a :class:`PlotWarning`."""
    cal = _calibration(calibration)
    names = [c for c in cal.posterior.columns if c != "weight"]
    if cal.posterior.empty or not names:
        raise MissingData(f"{cal.path}: holds no posterior particles; run the calibration "
                          "again to draw the posterior figure")
    if not cal.priors:
        warnings.warn(f"{cal.path}: the calibration file it ran ({cal.calibration_file}) is "
                      "not found or has changed since: each prior is drawn as its 90% range",
                      PlotWarning, stacklevel=2)
    by_path = {row["path"]: row for row in cal.summary.get("parameters", [])}
    weights = (cal.posterior["weight"].to_numpy(dtype=float) if "weight" in cal.posterior
               else np.full(len(cal.posterior), 1.0 / len(cal.posterior)))
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    with _style(str(cal.summary.get("calibration", ""))):
        fig = Figure(figsize=(4.4 * ncols, 3.3 * nrows + 0.6), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[len(names):]:
            ax.remove()
        for i, (ax, name) in enumerate(zip(axes, names, strict=False)):
            row = by_path.get(name, {})
            values = cal.posterior[name].to_numpy(dtype=float)
            ax.hist(values, bins=20, weights=weights, density=True, color=BAND,
                    label="posterior (weighted particles)")
            prior = cal.priors.get(name)
            if prior is not None:
                ax.plot(*_prior_density(prior), color=THRESHOLD, linewidth=1.5, label="prior")
            elif "prior_p05" in row:
                ax.axvspan(row["prior_p05"], row["prior_p95"], color="grey", alpha=0.15,
                           label="prior 90% range")
            median = row["median"] if "median" in row else _weighted_median(values, weights)
            ax.axvline(median, color=LINE, linewidth=2, label="posterior median")
            note = f"prior {row['prior']}" if "prior" in row else ""
            if row.get("identified") is False:
                note += "; not identified"
            ax.set_title(f"{name}\n{note}" if note else name, fontsize="small")
            if i % ncols == 0:
                ax.set_ylabel("density")
        _legend(fig, axes[:len(names)])
        fig.suptitle(f"Posterior of each fitted parameter "
                     f"({cal.summary.get('calibration', '')}: {len(cal.posterior):,} particles)")
    return fig


def _observation_title(row: Mapping[str, Any], observation: Observation | None) -> str:
    title = str(row["key"])
    if observation is not None and observation.age is not None:
        title += f" [{observation.age[0]:g}, {observation.age[1]:g})"
    elif observation is not None and observation.grade is not None:
        title += f" {observation.grade}"
    elif observation is not None and observation.level is not None:
        title += f" {observation.level:.0%}"
    return f"{title}\n{row['when']}"


def ppc(calibration: CalibrationResults | str | Path) -> Figure:
    """A calibration's posterior predictive checks (its results directory, or
    :func:`read_calibration` of it): one panel per observation fitted, the simulated median
    and 5-95% range over the posterior draws against the observed value (a diamond) with its
    90% tolerance -- its interval where the observation states one, else +-1.645 times the
    scale the calibration's distance used (its standard error, or 10% of the value). The
    tolerance needs the calibration file the manifest names, unchanged; without it only the
    observed value is marked, with a :class:`PlotWarning`. An observation outside the
    predictive interval has its title in orange."""
    cal = _calibration(calibration)
    table = cal.predictive
    if table.empty:
        raise MissingData(f"{cal.path}: holds no posterior predictive checks; run the "
                          "calibration again to draw the ppc figure")
    observations = cal.observations if len(cal.observations) == len(table) else ()
    if not observations:
        warnings.warn(f"{cal.path}: the calibration file it ran ({cal.calibration_file}) is "
                      "not found or has changed since: the observations' tolerances are not "
                      "drawn", PlotWarning, stacklevel=2)
    scales = distance_scales(observations) if observations else None
    ncols = min(4, len(table))
    nrows = math.ceil(len(table) / ncols)
    with _style(str(cal.summary.get("calibration", ""))):
        fig = Figure(figsize=(2.8 * ncols + 0.4, 3.0 * nrows + 0.6), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[len(table):]:
            ax.remove()
        for k, (ax, row) in enumerate(zip(axes, table.to_dict("records"), strict=False)):
            median, low, high = row["median"], row["p05"], row["p95"]
            ax.errorbar([0], [median], yerr=[[median - low], [high - median]], fmt="o",
                        color=LINE, capsize=4, linewidth=2,
                        label="posterior predictive: median and 90% interval")
            observed = row["observed"]
            observation = observations[k] if observations else None
            if observation is not None:
                tolerance = (observation.interval if observation.interval is not None else
                             (observed - 1.645 * scales[k], observed + 1.645 * scales[k]))
                ax.errorbar([1], [observed], yerr=[[observed - tolerance[0]],
                                                   [tolerance[1] - observed]],
                            fmt="D", color=THRESHOLD, capsize=4,
                            label="observed, with its 90% tolerance")
            else:
                ax.errorbar([1], [observed], fmt="D", color=THRESHOLD, label="observed")
            ax.set_xticks([0, 1], ["simulated", "observed"])
            ax.set_xlim(-0.7, 1.7)
            inside = row.get("inside_p05_p95", True)
            ax.set_title(_observation_title(row, observation)
                         + ("" if inside else "\noutside the 90% interval"),
                         fontsize="small", color="black" if inside else THRESHOLD)
        _legend(fig, axes[:len(table)], ncols=2)
        fig.suptitle(f"Posterior predictive checks ({cal.summary.get('calibration', '')})")
    return fig


FIGURES: dict[str, Callable[..., Figure]] = {
    "fan": fan, "pmet": pmet, "ledger": ledger, "parks": parks, "occupancy": occupancy,
    "grades": grades, "survival": survival, "sensitivity": sensitivity,
    "posterior": posterior, "ppc": ppc,
}
"""The figures by the name ``parksim plot DIR NAME`` knows them by."""
