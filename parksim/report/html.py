"""The planner's report: one self-contained HTML file built from results directories.

:func:`build_report` reads forecasts (``parksim run``) and comparisons (``parksim compare -o``)
back from their results directories and never runs the model. It writes one HTML file from the
Jinja2 template ``templates/report.html.j2``: every figure embedded as a PNG data URI with its
alt text, nothing loaded from the network, a print stylesheet, so the file opens from disk,
prints, and reads aloud. Per scenario it holds the answer in one sentence per target, the
target table, the six fan charts, P(met), the ledger against the caps and the grade mix, what
bound and what did not (budgets, the parks' space, the land quota), the checks against what
was observed, the statement of what the probabilities are conditional on, the assumptions
(every value with its unit, source tag and prior) and the provenance. Given several
forecasts, it compares them: paired (the change in P(met) with a paired interval, as
``parksim compare`` computes it) only when they ran the same replications on the same seeds,
parameter sets and model source; otherwise side by side, saying why and what differs.

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
from parksim.io import add_to_manifest, atomic_write_bytes, read_manifest
from parksim.report.table import LABELS, prior_words
from parksim.results import FORECAST_KIND, Results, load_forecast
from parksim.scenario.loader import text_sha256
from parksim.scenario.schema import TARGET_KEYS, TARGET_LABELS
from parksim.scenario.sources import TAG_MEANINGS, parameters, source_notes, tags, written_keys
from parksim.study.compare import COMPARISON_KIND, Comparison, differences

__all__ = ["REPORT_FILE", "Report", "ReportError", "build_report", "headline",
           "report_into"]

REPORT_FILE = "report.html"
"""A results directory's report (``parksim run --report``, ``parksim compare -o DIR
--report``), listed in its manifest."""

LEVER_WORDS = {
    "finance": "finance lever (loan guarantees and interest subsidies)",
    "land": "land lever (rent subsidies and building support for parks)",
    "tax": "tax lever (the district's rewards for upgrading and innovation)",
    "services": "services lever (purchased services and platform subsidies)",
    "relief": "relief lever (rent waived in a shock)",
}
"""Each district lever named by what it pays, for the sentences on its budget cap."""
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
    if p is None:
        return "-"
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 < p < 1:
        return ">99%"
    return f"{100 * p:.0f}%"


def _number(x: float) -> str:
    """A value as a reader writes it: thousands separated, at most six significant digits,
    never in exponent notation, never ``-0``."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    digits = max(0, 5 - math.floor(math.log10(abs(x))))
    text = f"{x:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


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
            f"({_interval(row['ci_low'], row['ci_high'])}); median {_count(row['median'])}.")


def _interval(low: float, high: float) -> str:
    """A probability interval as ``43-49%`` (``<1-3%`` at the edge)."""
    return f"{_pct(low).rstrip('%')}-{_pct(high)}"


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
        return {"src": _png(draw()), "alt": alt, "caption": caption, "missing": "",
                "wide": False}
    except plot.MissingData as error:  # the run did not keep these data: said in its place
        return {"src": "", "alt": alt, "caption": caption, "missing": str(error), "wide": False}
    except Exception as error:  # a figure that cannot be drawn never stops the report
        line = f"{caption} could not be drawn: {type(error).__name__}: {error}"
        problems.append(line)
        return {"src": "", "alt": alt, "caption": caption, "missing": line, "wide": False}


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
        if entry["lever"] not in LEVER_WORDS or entry.get("budget_cap_yuan") is None:
            continue
        cap = entry["budget_cap_yuan"]
        share = entry["spent_yuan"] / cap if cap else 0.0
        rows.append({
            "lever": entry["lever"], "year": entry["year"], "cap": _yuan(cap),
            "spent": _yuan(entry["spent_yuan"]), "share": share,
            "used": _pct(share) if cap else "-",
            "bound_share": entry["cap_bound_share"], "bound": _pct(entry["cap_bound_share"]),
            "refused": ("<0.1" if 0 < entry["refused_firms"] < 0.05
                        else _count(entry["refused_firms"])),
        })
    return rows


def _graded(share: float, most: str, some: str, rarely: str) -> str:
    """The conclusion for a constraint that bound in ``share`` of the runs."""
    return most if share >= 0.5 else some if share >= 0.1 else rarely


def _cap_sentence(lever: str, years: list[dict[str, Any]]) -> str:
    bound = [b for b in years if b["bound_share"] > 0]
    name = f"The budget cap of the {LEVER_WORDS[lever]}"
    if not bound:
        most = max(years, key=lambda b: b["share"])
        return (f"{name} never bound (at most {most['used']} of it spent, in "
                f"{most['year']}): raising it changes nothing.")
    where = ", ".join(f"{b['year']} in {b['bound']} of runs ({b['refused']} firms refused, "
                      "mean)" for b in bound)
    return f"{name} bound in {where}: " + _graded(
        max(b["bound_share"] for b in bound),
        "more money there would have reached more firms.",
        "more money there would have helped in some runs, not in most.",
        "it rarely bound; raising it changes little.")


def _bound_sentences(results: Results, budgets: list[dict[str, Any]]) -> list[str]:
    """What bound and what did not, in sentences: each lever's cap, the parks' space, the
    land quota."""
    out = [_cap_sentence(lever, [b for b in budgets if b["lever"] == lever])
           for lever in LEVER_WORDS if any(b["lever"] == lever for b in budgets)]
    series = results.series
    if series is None or not len(series):
        return out
    last = series[series["month"] == series["month"].max()]
    occupancy = last["occupancy"].to_numpy(dtype=float)
    full = float(np.mean(occupancy >= FULL))
    out.append(f"The parks' space: at the end of the run the parks were "
               f"{_pct(float(np.median(occupancy)))} let (median across runs), and "
               f"{FULL:.0%} let or more in {_pct(full)} of runs: " + _graded(
                   full, "space bound in most runs; more or larger parks would have taken "
                   "more firms.", "space bound in some runs, not in most.",
                   "space did not bind."))
    if "projects_awaiting_land" in series:
        out.append(_land_sentence(series))
    else:
        out.append("The land quota: these results were written before parksim counted the "
                   "projects waiting for land, so they cannot say whether it bound.")
    return out


def _land_sentence(series) -> str:
    """Whether the land quota held park projects back: how often one waited, for how long,
    and how often one was still waiting at the end."""
    waiting = series.pivot(index="replication", columns="month",
                           values="projects_awaiting_land").to_numpy(dtype=float)
    waited = waiting.max(axis=1) > 0
    ever = float(np.mean(waited))
    if ever == 0:
        return "The land quota: no park project ever waited for land; the quota did not bind."
    months = float(np.median(waiting.sum(axis=1)[waited]))
    at_end = float(np.mean(waiting[:, -1] > 0))
    return (f"The land quota: park projects waited for land in {_pct(ever)} of runs (a median "
            f"of {_count(months)} project-months of waiting where they did), and were still "
            f"waiting at the end in {_pct(at_end)}: " + _graded(
                ever, "the quota bound; more land would have let parks open sooner.",
                "it bound in some runs, not in most.", "it rarely bound."))


# --------------------------------------------------------------------------- assumptions


def _scenario_files(results: Results, problems: list[str]) -> list[Path]:
    """The scenario files the forecast was run from, where they are still as they were: where
    the run found them, else (a relative path) from here or the results directory's folders
    up."""
    files = []
    for entry in results.manifest.get("scenario_files", []):
        recorded = Path(entry["path"])
        candidates = [Path(entry["resolved"])] if entry.get("resolved") else []
        candidates += [recorded] if recorded.is_absolute() else [
            recorded, *(up / recorded for up in results.path.resolve().parents[:3])]
        found = [c for c in candidates if c.is_file()]
        same = [c for c in found
                if text_sha256(c.read_text(encoding="utf-8")) == entry["sha256"]]
        if not same:
            why = "changed after the run" if found else "is not found"
            problems.append(f"{recorded}: the scenario file {why}; the assumptions table "
                            "shows no notes or source tags")
            return []
        files.append(same[0])
    return files


def _overridden(results: Results) -> set[str]:
    """The keys the command line set (``--set KEY=VALUE``), as its manifest recorded it."""
    command = results.manifest.get("command") or []
    return {command[i + 1].split("=", 1)[0].strip().replace('"', "")
            for i, arg in enumerate(command[:-1]) if arg == "--set" and "=" in command[i + 1]}


def _value_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return _number(float(value))
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {_value_text(v)}" for k, v in value.items())
    return str(value)


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
    their window's note, a table header's note covers its keys)."""
    while path:
        if path in notes:
            return notes[path]
        path = path.rsplit(".", 1)[0] if "." in path else ""
    return ""


def _written(path: str, keys: set[str]) -> bool:
    """Whether ``path`` is among ``keys``, inside one of them (a window written inline), or
    holds some of them (a table of values, such as the sector shares)."""
    return any(path == k or path.startswith((k + ".", k + "[")) or k.startswith(path + ".")
               for k in keys)


def _assumptions(results: Results, problems: list[str]) -> list[dict[str, Any]]:
    """Every value the scenario sets: its unit, the note written beside it (or the table's
    ``source``), its source tags, whether it is an estimate and its prior."""
    files = _scenario_files(results, problems)
    notes = source_notes(files) if files else {}
    keys = written_keys(files) if files else set()
    overridden = _overridden(results)
    priors = dict(getattr(results.scenario, "uncertain", {}) or {})
    rows = list(parameters(results.scenario))
    cited = {r["path"].rsplit(".", 1)[0]: str(r["value"]) for r in rows
             if r["path"].endswith(".source") and r["value"]}
    out = []
    for p in rows:
        path = p["path"]
        if path.endswith(".source"):
            continue  # a table's citation: shown as its keys' note
        if _written(path, overridden):
            note = "set on the command line (--set)"
        elif not files:
            note = ""
        elif not _written(path, keys):
            note = "the schema's default"
        else:
            note = _note(notes, path) or cited.get(path.rsplit(".", 1)[0], "")
        tag = tags(note)
        prior = priors.get(path)
        out.append({
            "path": path, "value": _value_text(p["value"]), "unit": p["unit"],
            "source": note, "tag": tag, "prior": _prior_text(prior),
            "estimate": "yes" if ("E" in tag or prior is not None) else "",
            "description": p["description"],
        })
    return out


# --------------------------------------------------------------------------- sections


def _forecast_section(results: Results, problems: list[str], survival: bool = True
                      ) -> dict[str, Any]:
    """A forecast's part of the report (``survival``: draw or say why not the survival
    figure; a comparison's forecasts keep no records, so there it is left out)."""
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
         "against its budget cap, and the share of runs in which the cap bound: "
         + " ".join(_cap_sentence(lever, [b for b in budgets if b["lever"] == lever])
                    for lever in LEVER_WORDS if any(b["lever"] == lever for b in budgets)),
         "Spend against each budget cap, per lever and year."),
        (lambda: plot.grades(results), "Stacked bars of the evaluation's grade mix per year "
         "(A, B, C, D).", "The grade mix per year."),
        (lambda: plot.parks(results), "Lines of parks open, recognised, provincial and "
         "demonstration over time.", "Parks by standing over time (medians)."),
        (lambda: plot.occupancy(results), "Lines of each listed park's median occupancy "
         "over time.", "Each park's occupancy over time."),
    ]
    if survival:
        more.append((lambda: plot.survival(results), "Kaplan-Meier survival of firms in parks "
                     "by age beside the survival the scenario assumes.",
                     "Firms' survival by age: the runs against the assumed hazard."))
    others = [_figure(problems, draw, alt, caption) for draw, alt, caption in more]
    others[1]["wide"] = True  # the ledger: its per-year labels need the width
    observed = [{
        "key": LABELS.get(o["key"], o["key"]), "date": o["date"],
        "observed": _count(o["observed"]),
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
            "interval": _interval(rows[k]["ci_low"], rows[k]["ci_high"]),
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


def _why_not_paired(forecasts: Sequence[Results]) -> str:
    """Why these forecasts cannot be paired replication by replication ("" if they can)."""
    first = forecasts[0].manifest

    def shown(key: str, value: Any) -> str:
        if value is None:
            return "none"
        return str(value)[:12] if key == "source_sha256" else str(value)

    for r in forecasts[1:]:
        m = r.manifest
        for key, words in (("package_version", "versions of parksim"),
                           ("source_sha256", "model sources"),
                           ("seed", "seeds"), ("replications", "numbers of replications"),
                           ("parameter_sets", "numbers of parameter sets")):
            if m.get(key) != first.get(key):
                return (f"they ran with different {words} ({shown(key, first.get(key))} and "
                        f"{shown(key, m.get(key))})")
        if r.summary["target_date"] != forecasts[0].summary["target_date"]:
            return (f"their target dates differ ({forecasts[0].summary['target_date']} and "
                    f"{r.summary['target_date']})")
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
            "diff": ("-" if t["diff"] is None else
                     f"{_signed(t['diff'])} ({_signed(t['diff_ci_low'])} to "
                     f"{_signed(t['diff_ci_high'])})"),
        })
    return rows


def _signed(x: float) -> str:
    text = _number(round(x, 1) if abs(x) < 1000 else round(x))
    return text if text.startswith("-") or text == "0" else "+" + text


def _comparison_of_forecasts(forecasts: Sequence[Results], problems: list[str]
                             ) -> dict[str, Any]:
    names = [r.scenario.name for r in forecasts]
    if len(set(names)) != len(names):
        names = [f"{n} #{i + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]
    why = _why_not_paired(forecasts)
    if why:
        figure = _figure(problems, lambda: plot.pmet(list(forecasts)),
                         "Bar chart of each scenario's probability of meeting each target.",
                         "P(met) per target, one bar per scenario (95% intervals).")
        keys = differences([r.scenario for r in forecasts], names)
        return {"paired": False, "why": why, "names": names, "rows": [], "figure": figure,
                "differences": _difference_rows({"differences": keys}), "path": ""}
    m = forecasts[0].manifest
    comparison = Comparison.from_targets(names, [r.scenario for r in forecasts],
                                         [r.targets for r in forecasts], int(m["seed"]),
                                         int(m.get("parameter_sets") or 0))
    return _paired_section(comparison.summary(), problems)


def _difference_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The keys that differ, each scenario's value (a prior in a few words, "(absent)" where
    a scenario does not have the key)."""
    rows = []
    for d in summary.get("differences", []):
        prior = d["key"].startswith("uncertain.")
        rows.append({"key": d["key"], "values": [
            prior_words(v) if prior else "(absent)" if v is None else _value_text(v)
            for v in d["values"].values()]})
    return rows


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


@dataclass
class _Loaded:
    """What the directories given hold: forecasts (``nested``: a comparison's own, which keep
    no records) and comparisons' summaries with their directories."""

    forecasts: list[Results] = field(default_factory=list)
    nested: list[bool] = field(default_factory=list)
    comparisons: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)


def _forecast_at(path: Path, loaded: _Loaded, problems: list[str], nested: bool) -> None:
    try:
        loaded.forecasts.append(load_forecast(path))
        loaded.nested.append(nested)
    except FileNotFoundError:
        problems.append(f"{path}: not a results directory (no manifest.json)")
    except (OSError, ValueError, KeyError, TypeError) as error:
        problems.append(f"{path}: cannot be read ({error})" if str(path) not in str(error)
                        else str(error))


def _load(paths: Sequence[Path], problems: list[str]) -> _Loaded:
    """The forecasts and comparisons among ``paths``, each bad one a line in ``problems``; a
    comparison written with its scenarios' forecasts (``compare -o DIR --report``) brings
    them too."""
    loaded = _Loaded()
    for path in paths:
        try:
            manifest = read_manifest(path)
            if not isinstance(manifest, dict):
                raise ValueError("manifest.json is not a JSON object")
            kind = manifest.get("kind")
            if kind == FORECAST_KIND:
                _forecast_at(path, loaded, problems, nested=False)
            elif kind == COMPARISON_KIND:
                summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
                loaded.comparisons.append((path, summary))
                for entry in manifest.get("forecasts", []):
                    _forecast_at(path / str(entry.get("dir", "")), loaded, problems,
                                 nested=True)
            else:
                problems.append(f"{path}: holds {kind!r} results; a report is built from "
                                "forecasts (parksim run) and comparisons (parksim compare -o)")
        except FileNotFoundError as error:
            problems.append(f"{path}: not a results directory (no manifest.json)"
                            if "manifest" in str(error) else f"{path}: {error}")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            problems.append(f"{path}: cannot be read ({type(error).__name__}: {error})")
    return loaded


def build_report(paths: Sequence[str | Path], out: str | Path) -> Report:
    """Write the report of the results directories ``paths`` to the HTML file ``out``.

    Directories that are not results, or hold results a report cannot show, are listed in the
    report and in :attr:`Report.problems`, one line each, and the rest is still built; with
    nothing to show at all, ``ReportError``.
    """
    paths = [Path(p) for p in paths]
    problems: list[str] = []
    loaded = _load(paths, problems)
    forecasts = loaded.forecasts
    if not forecasts and not loaded.comparisons:
        raise ReportError("; ".join(problems) or "no results directories given")
    versions = sorted({str(r.manifest.get("package_version", "?")) for r in forecasts})
    if len(versions) > 1:
        problems.append(f"these results come from different versions of parksim "
                        f"({', '.join(versions)}): they are shown side by side, not paired")
    sections = [_forecast_section(r, problems, survival=not nested)
                for r, nested in zip(forecasts, loaded.nested, strict=True)]
    comparison = [_paired_section(summary, problems, str(p))
                  for p, summary in loaded.comparisons]
    if len(forecasts) > 1 and not loaded.comparisons:
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
    name it in its manifest (``report``). It is not among the manifest's hashed ``files``:
    the results are what the hashes guard, and a report of them may be written again."""
    path = Path(path)
    report = build_report([path], path / REPORT_FILE)
    add_to_manifest(path, [], report=REPORT_FILE)  # not hashed: a report may be rewritten
    return report
