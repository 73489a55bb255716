"""The planner's report: one self-contained HTML file built from results directories.

:func:`build_report` reads forecasts (``parksim run``) and comparisons (``parksim compare -o``)
back from their results directories and never runs the model. It writes one HTML file from the
Jinja2 template ``templates/report.html.j2``: every figure embedded as a PNG data URI with its
alt text, nothing loaded from the network, a print stylesheet, so the file opens from disk,
prints, and reads aloud. Per scenario it holds the answer in one sentence per target, the
target table, the six fan charts, P(met), the ledger against the caps and the grade mix, what
bound and what did not (budgets, the parks' space), the checks against what was observed, the
statement of what the probabilities are conditional on, the assumptions (every value with its
unit, source tag and prior) and the provenance. Given several forecasts, it compares them:
paired (the change in P(met) with a paired interval, as ``parksim compare`` computes it) only
when they ran the same replications on the same seeds, parameter sets and model source;
otherwise side by side, saying why.

What cannot be shown is said in one line where it would have been (a results directory that is
not one, a figure whose data the run did not keep), and the rest of the report is still built.
:class:`Report` lists the lines about its input as ``problems``; a figure the run kept no data
for (no ``--records``, so no survival curve) is said only in its place.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from parksim import plot
from parksim.io import add_to_manifest, atomic_write_bytes, read_manifest, sha256_file
from parksim.results import FORECAST_KIND, Results, load_forecast
from parksim.scenario.schema import TARGET_KEYS, TARGET_LABELS
from parksim.scenario.sources import TAG_MEANINGS, parameters, source_notes, tags
from parksim.study.compare import COMPARISON_KIND, Comparison

__all__ = ["REPORT_FILE", "Report", "ReportError", "build_report", "headline",
           "report_into"]

REPORT_FILE = "report.html"
"""A results directory's report (``parksim run --report``, ``parksim compare -o DIR
--report``), listed in its manifest."""

DISTRICT_LEVERS = ("finance", "land", "tax", "services", "relief")
FULL = 0.95
"""Occupancy at or above which a park counts as full."""


class ReportError(ValueError):
    """Nothing to report: none of the directories given holds results a report can show."""


@dataclass
class Report:
    """A written report: where it is, and what it could not show (one line each)."""

    path: Path
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- words


def _month_words(month: str) -> str:
    return _dt.date(int(month[:4]), int(month[5:7]), 1).strftime("%b %Y")


def _count(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.1f}"


def _pct(p: float | None) -> str:
    return "-" if p is None else f"{100 * p:.0f}%"


def _yuan(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x / 1e6:,.1f} M yuan" if abs(x) >= 1e5 else f"{x:,.0f} yuan"


def headline(row: dict[str, Any], target_date: str) -> str:
    """One sentence per target: ``Upgrades: 46% likely to reach 50 by Dec 2021 (43-49%);
    median 49.``"""
    label = TARGET_LABELS[row["key"]]
    return (f"{label[0].upper()}{label[1:]}: {_pct(row['probability'])} likely to reach "
            f"{_count(row['threshold'])} by {_month_words(target_date)} "
            f"({_pct(row['ci_low'])}-{_pct(row['ci_high'])}); median {_count(row['median'])}.")


# --------------------------------------------------------------------------- figures


def _png(fig) -> str:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # without a CJK font a PlotWarning has said so, once
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buffer, format="png", dpi=96)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(problems: list[str], draw: Callable[[], Any], alt: str, caption: str,
            ) -> dict[str, str]:
    """A figure for the template: its image and alt text, or the one line saying why not."""
    try:
        return {"src": _png(draw()), "alt": alt, "caption": caption, "missing": ""}
    except plot.MissingData as error:  # the run did not keep these data: said in its place
        return {"src": "", "alt": alt, "caption": caption, "missing": str(error)}
    except ValueError as error:
        problems.append(str(error))
        return {"src": "", "alt": alt, "caption": caption, "missing": str(error)}


def _fan_alt(results: Results, row: dict[str, Any]) -> str:
    return (f"Fan chart of {TARGET_LABELS[row['key']]} month by month in "
            f"{results.scenario.name}: the median reaches {_count(row['median'])} by "
            f"{results.summary['target_date']} (90% of runs {_count(row['p05'])} to "
            f"{_count(row['p95'])}) against a target of {_count(row['threshold'])}.")


# --------------------------------------------------------------------------- what bound


def _budgets(results: Results) -> list[dict[str, Any]]:
    """Per district lever with a cap, per year: spend, cap and how often the cap bound."""
    rows = []
    for entry in results.summary.get("ledger", []):
        if entry["lever"] not in DISTRICT_LEVERS or entry.get("budget_cap_yuan") is None:
            continue
        cap = entry["budget_cap_yuan"]
        rows.append({
            "lever": entry["lever"], "year": entry["year"], "cap": _yuan(cap),
            "spent": _yuan(entry["spent_yuan"]),
            "share": entry["spent_yuan"] / cap if cap else 0.0,
            "used": _pct(entry["spent_yuan"] / cap) if cap else "-",
            "bound": _pct(entry["cap_bound_share"]),
            "refused": _count(entry["refused_firms"]),
            "binds": entry["cap_bound_share"] > 0,
        })
    return rows


def _bound_sentences(results: Results, budgets: list[dict[str, Any]]) -> list[str]:
    """What bound and what did not, in sentences: each lever's cap, then the parks' space."""
    out = []
    for lever in DISTRICT_LEVERS:
        years = [b for b in budgets if b["lever"] == lever]
        if not years:
            continue
        bound = [b for b in years if b["binds"]]
        if bound:
            where = ", ".join(f"{b['year']} ({b['bound']} of runs, {b['refused']} firms refused "
                              "on average)" for b in bound)
            out.append(f"The {lever} budget cap bound in {where}: more money there would have "
                       "reached more firms.")
        else:
            most = max(years, key=lambda b: b["share"])
            out.append(f"The {lever} budget cap never bound (at most {most['used']} of it "
                       f"spent, in {most['year']}): raising it changes nothing.")
    series = results.series
    if series is not None and len(series):
        last = series[series["month"] == series["month"].max()]
        occupancy = last["occupancy"].to_numpy(dtype=float)
        full = float(np.mean(occupancy >= FULL))
        sentence = (f"The parks' space: at the end of the run the parks were "
                    f"{_pct(float(np.median(occupancy)))} let (median across runs); in "
                    f"{_pct(full)} of runs they were {FULL:.0%} let or more")
        if full >= 0.5:
            sentence += (": space bound in most runs; more or larger parks would have taken "
                         "more firms.")
        elif full >= 0.1:
            sentence += ": space bound in some runs, not in most."
        else:
            sentence += ": space did not bind."
        out.append(sentence)
        if "projects_awaiting_land" in series:
            out.append(_land_sentence(series))
    return out


def _land_sentence(series) -> str:
    """Whether the land quota held park projects back: how often one waited, for how long."""
    waiting = series.pivot(index="replication", columns="month",
                           values="projects_awaiting_land").to_numpy(dtype=float)
    ever = float(np.mean(waiting.max(axis=1) > 0))
    if ever == 0:
        return "The land quota: no park project ever waited for land; the quota did not bind."
    months = float(np.median(waiting.sum(axis=1)[waiting.max(axis=1) > 0]))
    at_end = float(np.median(waiting[:, -1]))
    return (f"The land quota: in {_pct(ever)} of runs park projects waited for land (a median "
            f"of {_count(months)} project-months of waiting where they did; "
            f"{_count(at_end)} still waiting at the end, median across runs)"
            + (": the quota bound, so more land would have let parks open sooner."
               if ever >= 0.5 else ": it bound in some runs, not in most." if ever >= 0.1
               else ": it rarely bound."))


# --------------------------------------------------------------------------- assumptions


def _scenario_files(results: Results, problems: list[str]) -> list[Path]:
    """The scenario files the forecast was run from, where they are still as they were."""
    files = []
    for entry in results.manifest.get("scenario_files", []):
        path = Path(entry["path"])
        if not path.is_file():
            problems.append(f"{path}: the scenario file is gone; the assumptions table shows "
                            "no source tags")
            return []
        if sha256_file(path) != entry["sha256"]:
            problems.append(f"{path}: the scenario file changed after the run; the "
                            "assumptions table shows no source tags")
            return []
        files.append(path)
    return files


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {_value_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def _prior_text(prior: Any) -> str:
    if prior is None:
        return ""
    data = prior.model_dump(exclude_none=True)
    words = [data.pop("dist", "?")]
    data.pop("source", None)
    words += [f"{k} {_value_text(v)}" for k, v in data.items()]
    return " ".join(words)


def _note(notes: dict[str, str], path: str) -> str:
    """The note of ``path`` or of the nearest table above it (a window's start and end share
    their window's note)."""
    while path:
        if path in notes:
            return notes[path]
        path = path.rsplit(".", 1)[0] if "." in path else ""
    return ""


def _assumptions(results: Results, problems: list[str]) -> list[dict[str, Any]]:
    files = _scenario_files(results, problems)
    notes = source_notes(files) if files else {}
    priors = dict(getattr(results.scenario, "uncertain", {}) or {})
    rows = []
    for p in parameters(results.scenario):
        note = _note(notes, p["path"])
        tag = tags(note)
        prior = priors.get(p["path"])
        rows.append({
            "path": p["path"], "value": _value_text(p["value"]), "unit": p["unit"],
            "source": note if note else ("the schema's default" if files else ""),
            "tag": tag, "estimate": "yes" if ("E" in tag or prior is not None) else "",
            "prior": _prior_text(prior), "description": p["description"],
        })
    return rows


# --------------------------------------------------------------------------- sections


def _forecast_section(results: Results, problems: list[str]) -> dict[str, Any]:
    summary = results.summary
    scenario = results.scenario
    rows = {t["key"]: t for t in summary["targets"]}
    budgets = _budgets(results)
    target_date = summary["target_date"]
    figures = [
        _figure(problems, lambda k=key: plot.fan(results, k), _fan_alt(results, rows[key]),
                f"{TARGET_LABELS[key].capitalize()}: median, 50% and 90% of runs, the "
                "target (dashed) and the target date (dotted).")
        for key in TARGET_KEYS
    ]
    more = [
        (lambda: plot.pmet(results), "Bar chart of the probability of meeting each target: "
         + "; ".join(f"{TARGET_LABELS[k]} {_pct(rows[k]['probability'])}" for k in TARGET_KEYS)
         + ".", "P(met) per target with its 95% interval."),
        (lambda: plot.ledger(results), "Bar charts of each district lever's spend per year "
         "against its budget cap, and the share of runs in which the cap bound.",
         "Spend against each budget cap, per lever and year."),
        (lambda: plot.grades(results), "Stacked bars of the evaluation's grade mix per year "
         "(A, B, C, D).", "The grade mix per year."),
        (lambda: plot.parks(results), "Lines of parks open, recognised, provincial and "
         "demonstration over time.", "Parks by standing over time (medians)."),
        (lambda: plot.occupancy(results), "Lines of each listed park's median occupancy "
         "over time.", "Each park's occupancy over time."),
    ]
    survival = getattr(plot, "survival", None)
    if survival is not None:
        more.append((lambda: survival(results), "Kaplan-Meier survival of firms in parks by "
                     "age beside the survival the scenario assumes.",
                     "Firms' survival by age: the runs against the assumed hazard."))
    others = [_figure(problems, draw, alt, caption) for draw, alt, caption in more]
    observed = [{
        "key": o["key"], "date": o["date"], "observed": _count(o["observed"]),
        "median": _count(o["median"]), "range": f"{_count(o['p05'])}-{_count(o['p95'])}",
        "inside": "yes" if o["inside_p05_p95"] else "no", "source": o["source"],
    } for o in summary.get("observed", [])]
    manifest = results.manifest
    return {
        "name": scenario.name,
        "description": scenario.description,
        "path": str(results.path),
        "headlines": [headline(rows[k], target_date) for k in TARGET_KEYS],
        "targets": [{
            "label": TARGET_LABELS[k], "threshold": _count(rows[k]["threshold"]),
            "probability": _pct(rows[k]["probability"]),
            "interval": f"{_pct(rows[k]['ci_low'])}-{_pct(rows[k]['ci_high'])}",
            "median": _count(rows[k]["median"]),
            "range": f"{_count(rows[k]['p05'])}-{_count(rows[k]['p95'])}",
            "parameters": _pct(rows[k].get("variance_share_parameters")),
        } for k in TARGET_KEYS],
        "all_met": _pct(summary.get("all_met_probability")),
        "fans": figures,
        "figures": others,
        "budgets": budgets,
        "bound": _bound_sentences(results, budgets),
        "cost": _yuan(summary["fiscal_cost_yuan"]["median"]),
        "observed": observed,
        "conditional_on": summary.get("conditional_on", ""),
        "interval_method": summary.get("interval_method", ""),
        "assumptions": _assumptions(results, problems),
        "provenance": [
            ("scenario", scenario.name),
            ("scenario files", ", ".join(f["path"] for f in manifest.get("scenario_files", []))),
            ("results directory", str(results.path)),
            ("parksim version", manifest.get("package_version", "")),
            ("model source (SHA-256)", manifest.get("source_sha256", "")[:16]),
            ("seed", str(manifest.get("seed", ""))),
            ("replications", str(manifest.get("replications", ""))),
            ("parameter sets", str(manifest.get("parameter_sets") or "none (values as "
                                   "written)")),
            ("run on", manifest.get("created", "")),
            ("executor", summary.get("executor", "")),
            ("command", " ".join(manifest.get("command") or [])),
        ],
    }


def _pairable(forecasts: Sequence[Results]) -> str:
    """Why these forecasts cannot be paired replication by replication ("" if they can)."""
    first = forecasts[0].manifest
    for r in forecasts[1:]:
        m = r.manifest
        for key, words in (("package_version", "versions of parksim"),
                           ("source_sha256", "model sources"),
                           ("seed", "seeds"), ("replications", "numbers of replications"),
                           ("parameter_sets", "parameter sets")):
            if m.get(key) != first.get(key):
                return (f"they ran with different {words} ({first.get(key)} and "
                        f"{m.get(key)})")
        if r.summary["target_date"] != forecasts[0].summary["target_date"]:
            return "their target dates differ"
    return ""


def _comparison_rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    first = summary["scenarios"][0]
    rows = []
    for t in summary["targets"]:
        if t["scenario"] == first:
            continue
        rows.append({
            "label": TARGET_LABELS[t["key"]], "scenario": t["scenario"],
            "probability": _pct(t["probability"]),
            "change": ("-" if t["probability_diff"] is None else
                       f"{100 * t['probability_diff']:+.0f} points "
                       f"({100 * t['probability_diff_ci_low']:+.0f} to "
                       f"{100 * t['probability_diff_ci_high']:+.0f})"),
            "diff": ("-" if t["diff"] is None else f"{t['diff']:+,.1f} ({t['diff_ci_low']:+,.1f}"
                     f" to {t['diff_ci_high']:+,.1f})"),
        })
    return rows


def _comparison_of_forecasts(forecasts: Sequence[Results], problems: list[str]
                             ) -> dict[str, Any]:
    names = [r.scenario.name for r in forecasts]
    if len(set(names)) != len(names):
        names = [f"{n} #{i + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]
    why = _pairable(forecasts)
    figure = _figure(problems, lambda: plot.pmet(list(forecasts)),
                     "Bar chart of each scenario's probability of meeting each target.",
                     "P(met) per target, one bar per scenario (95% intervals).")
    if why:
        return {"paired": False, "why": why, "names": names, "rows": [], "figure": figure,
                "differences": [], "path": ""}
    m = forecasts[0].manifest
    comparison = Comparison.from_targets(names, [r.scenario for r in forecasts],
                                         [r.targets for r in forecasts], int(m["seed"]),
                                         int(m.get("parameter_sets") or 0))
    return _paired_section(comparison.summary(), problems)


def _difference_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": d["key"], "values": [_value_text(v) for v in d["values"].values()]}
            for d in summary.get("differences", [])]


def _paired_section(summary: dict[str, Any], problems: list[str], path: str = ""
                    ) -> dict[str, Any]:
    """A paired comparison's part of the report, from its summary (``compare --json``)."""
    names = summary["scenarios"]
    figure = _figure(problems, lambda: plot.pmet(summary),
                     "Bar chart of each scenario's probability of meeting each target, and "
                     "each scenario's change against the first with its paired interval.",
                     f"P(met) per scenario and its change against {names[0]} (paired 95% "
                     "intervals).")
    return {"paired": True, "why": "", "names": names, "rows": _comparison_rows(summary),
            "figure": figure, "differences": _difference_rows(summary), "path": path}


# --------------------------------------------------------------------------- the report


def _load(paths: Sequence[Path], problems: list[str]
          ) -> tuple[list[Results], list[Path]]:
    """The forecasts and comparisons among ``paths``; a comparison written with its
    scenarios' forecasts (``parksim compare -o DIR --report``) brings them too."""
    forecasts, comparisons = [], []
    for path in paths:
        try:
            manifest = read_manifest(path)
            kind = manifest.get("kind")
            if kind == FORECAST_KIND:
                forecasts.append(load_forecast(path))
            elif kind == COMPARISON_KIND:
                comparisons.append(path)
                for entry in manifest.get("forecasts", []):
                    try:
                        forecasts.append(load_forecast(path / entry["dir"]))
                    except (OSError, ValueError) as error:
                        problems.append(str(error))
            else:
                problems.append(f"{path}: holds {kind!r} results; a report is built from "
                                "forecasts (parksim run) and comparisons (parksim compare -o)")
        except FileNotFoundError:
            problems.append(f"{path}: not a results directory (no manifest.json)")
        except (OSError, ValueError) as error:
            problems.append(str(error))
    return forecasts, comparisons


def build_report(paths: Sequence[str | Path], out: str | Path) -> Report:
    """Write the report of the results directories ``paths`` to the HTML file ``out``.

    Directories that are not results, or hold results a report cannot show, are listed in the
    report and in :attr:`Report.problems`, one line each, and the rest is still built; with
    nothing to show at all, ``ReportError``.
    """
    paths = [Path(p) for p in paths]
    problems: list[str] = []
    forecasts, comparisons = _load(paths, problems)
    if not forecasts and not comparisons:
        raise ReportError("; ".join(problems) or "no results directories given")
    versions = sorted({r.manifest.get("package_version", "?") for r in forecasts})
    if len(versions) > 1:
        problems.append(f"these results come from different versions of parksim "
                        f"({', '.join(versions)}): they are shown side by side, not paired")
    sections = [_forecast_section(r, problems) for r in forecasts]
    comparison = [_paired_section(json.loads((p / "summary.json").read_text(encoding="utf-8")),
                                  problems, str(p)) for p in comparisons]
    if len(forecasts) > 1 and not comparisons:
        comparison.insert(0, _comparison_of_forecasts(forecasts, problems))
    env = Environment(loader=PackageLoader("parksim.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    title = ("parksim: " + " vs ".join(s["name"] for s in sections) if sections
             else "parksim: comparison")
    html = env.get_template("report.html.j2").render(
        title=title, sections=sections, comparisons=comparison, problems=problems,
        tag_meanings=TAG_MEANINGS,
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    )
    out = Path(out)
    atomic_write_bytes(out, html.encode("utf-8"))
    return Report(out, problems)


def report_into(path: str | Path) -> Report:
    """Write the report of the results directory ``path`` into it, as ``report.html``, and
    list it in its manifest (under ``files`` and as ``report``)."""
    path = Path(path)
    report = build_report([path], path / REPORT_FILE)
    add_to_manifest(path, [REPORT_FILE], report=REPORT_FILE)
    return report
