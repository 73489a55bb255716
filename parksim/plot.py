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

Chinese text (park and sector names) needs a CJK font: :func:`cjk_font` finds an installed one
(Debian's ``fonts-noto-cjk``, for example) and figures use it as a fallback beside the default
font; where none is installed, a figure with Chinese text gives a :class:`PlotWarning` and the
text shows as boxes.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, font_manager, rc_context
from matplotlib.figure import Figure

from parksim.aggregate import quantile_method
from parksim.results import Results
from parksim.scenario.schema import TARGET_KEYS, TARGET_LABELS

__all__ = ["FIGURES", "PlotWarning", "cjk_font", "fan", "grades", "ledger", "occupancy",
           "parks", "pmet"]

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
    """A figure drawn with less than it should have (no CJK font for Chinese names)."""


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
        raise ValueError(f"{results.path}: holds no ledger table")
    table = results.ledger[results.ledger["item"].isin(DISTRICT_LEVERS)]
    levers = [lever for lever in DISTRICT_LEVERS if lever in set(table["item"])]
    if not levers:
        raise ValueError(f"{results.path}: the ledger holds no district lever")
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
        raise ValueError(f"{results.path}: holds no park rows (a scenario without parks, or "
                         "results written before park_series was added)")
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
        raise ValueError(f"{results.path}: holds no grading log")
    graded = results.grades[results.grades["grade"] != ""]
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


FIGURES: dict[str, Callable[..., Figure]] = {
    "fan": fan, "pmet": pmet, "ledger": ledger, "parks": parks, "occupancy": occupancy,
    "grades": grades,
}
"""The figures by the name ``parksim plot DIR NAME`` knows them by."""
