"""The forecast as a plain-text table for the terminal.

Reads a forecast summary (the object ``parksim run --json`` prints) and never runs the model.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from parksim.aggregate import GRADE_MIX
from parksim.scenario.schema import TARGET_LABELS

__all__ = ["forecast_table", "comparison_table", "sweep_summary", "sensitivity_table",
           "calibration_table", "prior_words", "LABELS"]

LABELS = {
    **TARGET_LABELS,
    "provincial_parks": "provincial parks",
    "parks_open": "parks open",
    "firms_all_parks": "firms in all parks",
    "firms_per_park": "firms per park",
    "m2_per_firm": "m2 per firm",
    "tech_share": "tech share",
    "occupancy": "occupancy",
    "upgrades_per_firm_year": "upgrades/firm-year",
    "failures_per_firm_year": "failures/firm-year",
    "failures_by_age": "failures/firm-year",
    "grade_share": "share graded",
    "months_to_fill": "months to fill",
}


def _n(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _uncertainty_lines(summary: dict[str, Any]) -> list[str]:
    """Per target, how much of its spread the unknown parameters make and which matter most."""
    lines = [
        "what the spread comes from (share of each target's variance, 95% interval over "
        "parameter sets)",
        f"{'target':<22}{'parameters':>11}{'95% CI':>16}  {'top parameters (rank correlation)'}",
    ]
    for t in summary["targets"]:
        share, ci = t.get("variance_share_parameters"), t.get("variance_share_parameters_ci")
        span = "" if not ci or ci[0] is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"
        top = ", ".join(f"{p['path']} ({p['rank_correlation']:+.2f})"
                        for p in t.get("top_parameters", []))
        lines.append(f"{LABELS[t['key']]:<22}{_p(share):>11}{span:>16}  {top or '-'}")
    return lines


def _v(x: float | None, kind: str) -> str:
    """An observed or simulated value: counts as counts, ratios to three significant digits."""
    if x is None or kind in ("count", "total") or abs(x) >= 100:
        return _n(x)
    return f"{x:.3g}"


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e6:,.1f} M yuan"


def forecast_table(summary: dict[str, Any]) -> str:
    """Render a forecast summary as the table ``parksim run`` prints."""
    sets = summary.get("parameter_sets")
    design = (f"{sets} parameter sets x {summary['replications_per_set']} replications, "
              "integrated over the priors" if sets else
              f"{summary['replications']} replications, fixed at the written values"
              if summary.get("uncertain") else f"{summary['replications']} replications")
    lines = [
        f"parksim forecast: {summary['scenario']} -- {design}, "
        f"seed {summary['seed']}, targets checked at the end of {summary['target_date']}",
        "",
        f"{'target':<22}{'threshold':>11}{'P(met)':>9}{'95% CI':>16}{'median':>12}"
        f"{'5-95% range':>24}",
    ]
    for t in summary["targets"]:
        ci = f"[{t['ci_low']:.2f}, {t['ci_high']:.2f}]"
        span = f"{_n(t['p05'])} - {_n(t['p95'])}"
        lines.append(
            f"{LABELS[t['key']]:<22}{_n(t['threshold']):>11}{t['probability']:>9.2f}{ci:>16}{_n(t['median']):>12}{span:>24}"
        )
        if t["key"] == "firms" and "cumulative_entries" in t:
            other = "cumulative_entries" if t.get("reading", "stock") == "stock" else "stock"
            o = t[other]
            label = "  entries, cumulative" if other == "cumulative_entries" else "  in parks"
            lines.append(
                f"{label:<22}{'':>11}{_p(o['probability']):>9}{'':>16}{_n(o['median']):>12}"
                f"{_n(o['p05']) + ' - ' + _n(o['p95']):>24}"
            )
            if "graduates" in t:  # firms that left for their own land: counted, not lost
                g = t["graduates"]
                lines.append(f"{'  graduated out':<22}{'':>11}{'':>9}{'':>16}{_n(g['median']):>12}"
                             f"{_n(g['p05']) + ' - ' + _n(g['p95']):>24}")
    lo, hi = summary["all_met_ci"]
    lines.append(
        f"{'all six met':<22}{'':>11}{summary['all_met_probability']:>9.2f}"
        f"{f'[{lo:.2f}, {hi:.2f}]':>16}"
    )
    if sets:
        lines += ["", *_uncertainty_lines(summary)]
    if summary["observed"]:
        lines += [
            "",
            f"{'observed':<28}{'date or period':>17}{'value':>10}{'its range':>20}{'median':>12}"
            f"{'5-95% range':>24}",
        ]
        for o in summary["observed"]:
            kind = o.get("kind", "count")
            span = f"{_v(o['p05'], kind)} - {_v(o['p95'], kind)}"
            flag = (
                "  (not simulated)"
                if o["median"] is None
                else ""
                if o["inside_p05_p95"]
                else "  (outside)"
            )
            when = "..".join(o["period"]) if o.get("period") else o["date"]
            known = (f"[{_v(o['interval'][0], kind)}, {_v(o['interval'][1], kind)}]"
                     if o.get("interval") else f"se {_v(o['se'], kind)}" if o.get("se") else "")
            label = LABELS.get(o["key"], o["key"]) + (
                f" {o['grade']}" if o.get("grade") else
                f", age {o['age'][0]:g}-{o['age'][1]:g}" if o.get("age") else
                f" {o['level']:.0%}" if o.get("level") else "")
            lines.append(
                f"{label:<28}{when:>17}{_v(o['observed'], kind):>10}"
                f"{known:>20}{_v(o['median'], kind):>12}{span:>24}{flag}"
            )
    lines += ["", *_fiscal_lines(summary)]
    chain = summary.get("innovation_chain")
    if chain is not None:
        lines.append(
            f"firms that outgrew their floor, to {summary['target_date']} (medians): "
            f"{_n(chain['expansions']['median'])} expanded in their park, "
            f"{_n(chain['moves']['median'])} moved to another, "
            f"{_n(chain['graduates']['median'])} graduated to industrial land"
        )
    fill = summary.get("occupancy")
    if fill is not None:
        lines.append(
            f"parks opened during the run (all replications): "
            f"{fill['parks_opened_during_run']:,}; median months to "
            f"50% / 90% occupancy: {_months(fill['months_to_50pct_median'])} / "
            f"{_months(fill['months_to_90pct_median'])} (share reaching them: "
            f"{_p(fill['share_reaching_50pct'])} / {_p(fill['share_reaching_90pct'])})"
        )
    mix = summary.get("grade_mix")
    if mix:
        lines += ["", "park grading by year (mean parks per replication; 'no part': in grace, "
                      "not graded; demo +/-: titles given / taken back; pool: their firms "
                      "above 20 M yuan not yet registered, 小升规培育库)",
                  f"{'year':>6}" + "".join(f"{h:>9}" for h in GRADE_MIX_HEADERS)]
        lines += [f"{row['year']:>6}" + "".join(f"{row[key]:>9.2f}" for key in GRADE_MIX)
                  for row in mix]
    lines += [
        "",
        "P(met) is the share of replications meeting the target; 95% CI is the Wilson score "
        "interval" + (" on the effective number of trials (replications of one parameter set "
                      "count for less than independent ones)." if sets else "."),
    ]
    if "conditional_on" in summary:
        lines += textwrap.wrap(summary["conditional_on"], 100)
    return "\n".join(lines)


def _fiscal_lines(summary: dict[str, Any]) -> list[str]:
    """The three accounts of the ledger, and each lever's spend against its cap by year."""
    fiscal = summary["fiscal_cost_yuan"]
    shown = {r["lever"] for r in summary.get("ledger", [])} or set(fiscal["by_lever"])
    levers = ", ".join(f"{k} {_money(v)}" for k, v in fiscal["by_lever"].items() if k in shown)
    lines = [
        f"public cost to {summary['target_date']} (district levers + capital outlays): median "
        f"{_money(fiscal['median'])} (5-95%: {_money(fiscal['p05'])} - {_money(fiscal['p95'])})",
        f"  district levers (medians, which need not add up to the total's): {levers}",
    ]
    capital = summary.get("capital_outlay_yuan")
    if capital is not None:
        items = ", ".join(f"{k.replace('_', ' ')} {_money(v)}"
                          for k, v in capital["by_item"].items() if v)
        lines.append(f"  capital outlays: median {_money(capital['median'])}"
                     + (f" ({items})" if items else ""))
    lines.append(f"  cost per upgrade: {_money(summary['cost_per_upgrade_yuan'])} (median over "
                 "replications; the marginal cost is compare's)")
    tax = summary.get("tax_expenditure_yuan")
    if tax is not None:
        items = ", ".join(f"{k.replace('_', ' ')} {_money(v)}" for k, v in tax["by_item"].items())
        lines.append(f"national tax expenditure (statutory, beside the cost, not in it): median "
                     f"{_money(tax['median'])} ({items})")
    lines.append("investment in new park projects (public and private): median "
                 f"{_money(summary['park_investment_yuan']['median'])}")
    rows = [r for r in summary.get("ledger", []) if r["account"] == "district"]
    if rows:
        lines += ["", "district levers' budgets by calendar year of their window (mean per "
                      "replication; binds: share of replications in which a firm was refused for "
                      "want of budget -- for a quarterly lever, of the tranche released so far)",
                  f"{'lever':<10}{'year':>6}{'cap':>16}{'spent':>16}{'binds':>8}"
                  f"{'firms refused':>15}  note"]
        for r in rows:
            share = r["cap_bound_share"]
            note = "never binds" if share == 0 else ("binds" if r["cap_bound"] else "")
            lines.append(f"{r['lever']:<10}{r['year']:>6}{_money(r['budget_cap_yuan']):>16}"
                         f"{_money(r['spent_yuan']):>16}{share:>8.2f}"
                         f"{r['refused_firms']:>15.1f}  {note}")
    return lines


GRADE_MIX_HEADERS = ("A", "B", "C", "D", "no part", "delisted", "demo +", "demo -", "platform",
                     "digital", "pool")
"""Column heads of the grade mix, in the order of :data:`~parksim.aggregate.GRADE_MIX`."""


def _p(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _months(x: float | None) -> str:
    return "never (median)" if x is None else f"{x:.1f}"


def _signed(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:+,.0f}" if abs(x) >= 1000 else f"{x:+,.1f}"


def comparison_table(summary: dict[str, Any]) -> str:
    """Render a paired comparison (``parksim compare``): the probability of each target and
    its change against the first scenario, then the targets' values, costs, the channels of
    the demonstration target and the keys that differ."""
    names = summary["scenarios"]
    first = names[0]
    width = max(12, *(len(n) for n in names)) + 2
    sets = summary.get("parameter_sets")
    design = (f"{summary['replications']} replications each on the same {sets} parameter sets "
              "of the priors" if sets else f"{summary['replications']} replications each")
    lines = [
        f"parksim compare: {', '.join(names)} -- {design}, seed {summary['seed']}, "
        f"common random numbers; differences against {first}",
        "",
        f"{'target':<22}{'scenario':<{width}}{'P(met)':>8}{'95% CI':>16}{'change':>10}"
        f"{'95% CI of change':>22}",
    ]
    for t in summary["targets"]:
        label = LABELS[t["key"]] if t["scenario"] == first else ""
        ci = f"[{t['ci_low']:.2f}, {t['ci_high']:.2f}]"
        change = "" if t.get("probability_diff") is None else f"{t['probability_diff']:+.2f}"
        cci = "" if t.get("probability_diff") is None else \
            f"[{t['probability_diff_ci_low']:+.2f}, {t['probability_diff_ci_high']:+.2f}]"
        lines.append(f"{label:<22}{t['scenario']:<{width}}{t['probability']:>8.2f}{ci:>16}"
                     f"{change:>10}{cci:>22}")
    lines += ["", f"{'target value':<22}{'scenario':<{width}}{'median':>12}{'diff':>11}"
                  f"{'95% CI of diff':>24}{'yuan per extra':>18}{'yuan per unit':>16}"]
    for t in summary["targets"]:
        dci = (
            ""
            if t["diff"] is None
            else f"[{_signed(t['diff_ci_low'])}, {_signed(t['diff_ci_high'])}]"
        )
        per = "" if t["cost_per_extra_yuan"] is None else f"{t['cost_per_extra_yuan']:,.0f}"
        avg = "" if t.get("average_cost_yuan") is None else f"{t['average_cost_yuan']:,.0f}"
        label = LABELS[t["key"]] if t["scenario"] == first else ""
        diff = "" if t["diff"] is None else _signed(t["diff"])
        lines.append(
            f"{label:<22}{t['scenario']:<{width}}{_n(t['median']):>12}{diff:>11} {dci:>23}"
            f"{per:>18}{avg:>16}"
        )
    channels = summary.get("channels")
    if channels:
        lines += ["", "what demonstration parks are earned through, at the target date (mean "
                      "per replication)", f"{'':<22}{'scenario':<{width}}{'mean':>8}{'diff':>11}"
                                          f"{'95% CI of diff':>24}"]
        for c in channels:
            label = CHANNEL_LABELS[c["key"]] if c["scenario"] == first else ""
            dci = "" if c["diff"] is None else \
                f"[{_signed(c['diff_ci_low'])}, {_signed(c['diff_ci_high'])}]"
            lines.append(f"{label:<22}{c['scenario']:<{width}}{c['mean']:>8.2f}"
                         f"{'' if c['diff'] is None else _signed(c['diff']):>11} {dci:>23}")
    lines += ["", "public cost to the target date (median): " + ", ".join(
        f"{n} {_money(v)}" for n, v in summary["fiscal_cost_yuan"].items())]
    if "tax_expenditure_yuan" in summary:
        lines.append("national tax expenditure, beside it (median): " + ", ".join(
            f"{n} {_money(v)}" for n, v in summary["tax_expenditure_yuan"].items()))
    lines += _differences(summary.get("differences"), names)
    lines.append("")
    lines.append("change: the paired change in P(met) against the first scenario ("
                 + ("a bootstrap over parameter sets" if sets and sets >= 10
                    else "Student's t over parameter sets" if sets
                    else "Newcombe's paired score interval") + "); diff: mean paired "
                 "difference of the target value;")
    lines.append("yuan per extra: extra mean public cost / diff (the marginal cost), shown where "
                 "the extra is there (its 95% interval lies above zero; 0 where it costs no "
                 "more);")
    lines.append("yuan per unit: mean cost / mean value. Public cost: the district's levers and "
                 "its capital outlays for parks (government-led parks, building subsidies, land "
                 "concessions).")
    return "\n".join(lines)


def _differences(rows: list[dict[str, Any]] | None, names: list[str], limit: int = 20
                 ) -> list[str]:
    """The keys that differ between the scenarios, one line each, at most ``limit``."""
    if rows is None:
        return []
    if not rows:
        return ["", "the scenarios' keys are all the same (their names aside)"]
    lines = ["", f"what differs ({len(rows)} key{'s' if len(rows) != 1 else ''}; "
                 f"values in the order {', '.join(names)})"]
    for row in rows[:limit]:
        prior = row["key"].startswith("uncertain.")
        values = " | ".join(prior_words(v) if prior else _value(v) for v in row["values"].values())
        lines.append(f"  {row['key']}: {values}")
    if len(rows) > limit:
        lines.append(f"  ... and {len(rows) - limit} more (--json lists them all)")
    return lines


def prior_words(v: dict[str, Any] | None) -> str:
    """A prior in a few words: ``triangular 0.2-0.5 (mode 0.35)``."""
    if v is None:
        return "(no prior)"
    words = [v.get("dist", "?")]
    if v.get("low") is not None and v.get("high") is not None:
        words.append(f"{v['low']:g}-{v['high']:g}")
    for key in ("mode", "mean", "sd"):
        if v.get(key) is not None:
            words.append(f"({key} {v[key]:g})")
    if v.get("file"):
        words.append(str(v["file"]))
    return " ".join(words)


def _value(v: Any) -> str:
    if v is None:
        return "(absent)"
    if isinstance(v, float):
        return f"{v:g}"
    text = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
    return text if len(text) <= 40 else text[:37] + "..."


CHANNEL_LABELS = {
    "service_platforms": "with service platform",
    "digital_platforms": "with digital mgmt",
    "demonstration_selected": "demo titles given",
    "demonstration_lost": "demo titles lost",
}


def sweep_summary(report: dict[str, Any]) -> str:
    """Render the outcome of ``parksim sweep``."""
    rate = report.get("tasks_per_s")
    lines = [
        f"parksim sweep: {report['experiment']} on {report['executor']}",
        f"  tasks: {report['tasks']:,} in the design; "
        f"{report['skipped'] - report['skipped_failed']:,} already done"
        + (
            f", {report['skipped_failed']:,} failed before and not run again"
            if report["skipped_failed"]
            else ""
        )
        + f", {report['run']:,} run now"
        + (f" ({rate:,.1f} tasks/s)" if rate else ""),
        f"  failed: {report['failed']:,}"
        + (
            "  (see the 'error' column; --rerun-failed runs them again)" if report["failed"] else ""
        ),
        f"  results: {report['results_dir']}  (parksim.load_results(dir) gives one row per task)",
    ]
    return "\n".join(lines)


OUTPUT_LABELS = {**{k: LABELS[k] for k in LABELS},
                 **{f"met_{k}": f"P({LABELS[k]})" for k in LABELS}, "met_all": "P(all six met)"}


def sensitivity_table(summary: dict[str, Any]) -> str:
    """Render a sensitivity study (``parksim sensitivity``): per output, the factors that matter
    most with their index and interval, how much of it is replication noise, and whether the
    indices can be trusted."""
    method = summary["method"]
    main = "ST" if method == "sobol" else "mu_star"
    what = ("total Sobol index ST (95% interval)" if method == "sobol"
            else "Morris mu* (95% interval; the output's units per unit of quantile)")
    lines = [
        f"parksim sensitivity: {summary.get('experiment', '')} -- {method}, "
        f"{len(summary['factors'])} factors, {summary.get('points', '?')} points x "
        f"{summary.get('replications', '?')} replications",
        "",
        f"{'output':<26}{'noise':>7}{'trusted':>9}  top factors: {what}",
    ]
    for row in summary["outputs"]:
        label = OUTPUT_LABELS.get(row["output"], row["output"])
        top = ", ".join(
            f"{t['factor']} {_g(t[main])} ({_g(t[f'{main}_conf'], plus=True)})"
            for t in row["top"])
        noise = "-" if row["noise_share"] is None else f"{row['noise_share']:.2f}"
        trusted = "-" if row["constant"] else "yes" if row["trusted"] else "no"
        lines.append(f"{label:<26}{noise:>7}{trusted:>9}  {top or 'the same at every point'}")
    lines += ["", "noise: share of the variance of the point means that replication noise "
              "accounts for (an index below it may be noise); trusted: the leading factor's "
              f"interval is narrower than its index and noise is under {summary['noise_limit']}."]
    lines += [f"warning: {w}" for w in summary.get("warnings", [])]
    return "\n".join(lines)


def _g(x: float | None, plus: bool = False) -> str:
    if x is None:
        return "-"
    text = f"{x:.2f}" if abs(x) < 1000 else f"{x:,.0f}"
    return f"±{text}" if plus else text


def calibration_table(summary: dict[str, Any]) -> str:
    """Render a calibration (``parksim calibrate``): each generation, each fitted parameter's
    posterior against its prior, the posterior predictive check of each observation."""
    lines = [f"parksim calibrate: {summary['calibration']} -- ABC-SMC, population "
             f"{summary['population']}, {summary['evaluations']:,} evaluations, seed "
             f"{summary['seed']}", "",
             f"{'generation':>10}{'epsilon':>12}{'evaluations':>13}{'acceptance':>12}{'ESS':>8}"]
    lines += [f"{g['generation']:>10}{g['epsilon']:>12.4g}{g['evaluations']:>13}"
              f"{g['acceptance']:>12.2f}{g['effective_sample_size']:>8.1f}"
              for g in summary["generations"]]
    lines += ["", f"{'parameter':<48}{'posterior median (5-95%)':>30}{'prior 5-95%':>24}"]
    for p in summary["parameters"]:
        post = f"{p['median']:.4g} ({p['p05']:.4g}-{p['p95']:.4g})"
        prior = f"{p['prior_p05']:.4g}-{p['prior_p95']:.4g}"
        flag = "" if p["identified"] else "  not identified"
        lines.append(f"{p['path']:<48}{post:>30}{prior:>24}{flag}")
    lines += ["", f"{'observation':<28}{'when':>17}{'observed':>12}"
                  f"{'predictive median (5-95%)':>34}"]
    for o in summary["predictive"]:
        label = LABELS.get(o["key"], o["key"])
        pred = f"{o['median']:.4g} ({o['p05']:.4g}-{o['p95']:.4g})"
        flag = "" if o["inside_p05_p95"] else "  (outside)"
        lines.append(f"{label:<28}{o['when']:>17}{o['observed']:>12.4g}{pred:>34}{flag}")
    lines += [f"warning: {w}" for w in summary.get("warnings", [])]
    return "\n".join(lines)
