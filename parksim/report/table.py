"""The forecast as a plain-text table for the terminal.

Reads a forecast summary (the object ``parksim run --json`` prints) and never runs the model.
"""

from __future__ import annotations

from typing import Any

__all__ = ["forecast_table", "LABELS"]

LABELS = {
    "parks": "parks recognised",
    "floor_area_m2": "floor area (m2)",
    "firms": "firms in parks",
    "upgrades": "upgrades",
    "tech_firms": "tech firms",
    "demo_parks": "demonstration parks",
    "provincial_parks": "provincial parks",
}


def _n(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e6:,.1f} M yuan"


def forecast_table(summary: dict[str, Any]) -> str:
    """Render a forecast summary as the table ``parksim run`` prints."""
    lines = [
        f"parksim forecast: {summary['scenario']} -- {summary['replications']} replications, "
        f"seed {summary['seed']}, targets checked at the end of {summary['target_date']}",
        "",
        f"{'target':<22}{'threshold':>11}{'P(met)':>9}{'95% CI':>16}{'median':>12}{'5-95% range':>24}",
    ]
    for t in summary["targets"]:
        ci = f"[{t['ci_low']:.2f}, {t['ci_high']:.2f}]"
        span = f"{_n(t['p05'])} - {_n(t['p95'])}"
        lines.append(
            f"{LABELS[t['key']]:<22}{_n(t['threshold']):>11}{t['probability']:>9.2f}{ci:>16}{_n(t['median']):>12}{span:>24}"
        )
    lo, hi = summary["all_met_ci"]
    lines.append(f"{'all six met':<22}{'':>11}{summary['all_met_probability']:>9.2f}{f'[{lo:.2f}, {hi:.2f}]':>16}")
    if summary["observed"]:
        lines += ["", f"{'observed':<22}{'date':>11}{'value':>9}{'':>16}{'median':>12}{'5-95% range':>24}"]
        for o in summary["observed"]:
            span = f"{_n(o['p05'])} - {_n(o['p95'])}"
            flag = "  (not simulated)" if o["median"] is None else "" if o["inside_p05_p95"] else "  (outside)"
            lines.append(
                f"{LABELS.get(o['key'], o['key']):<22}{o['date']:>11}{_n(o['observed']):>9}{'':>16}{_n(o['median']):>12}{span:>24}{flag}"
            )
    fiscal = summary["fiscal_cost_yuan"]
    levers = ", ".join(f"{k} {_money(v)}" for k, v in fiscal["by_lever"].items())
    lines += [
        "",
        f"fiscal cost to {summary['target_date']}: median {_money(fiscal['median'])} "
        f"(5-95%: {_money(fiscal['p05'])} - {_money(fiscal['p95'])})",
        f"  by lever (medians): {levers}",
        f"  cost per upgrade: {_money(summary['cost_per_upgrade_yuan'])} (median over replications)",
        f"investment in new park projects (not a policy cost): median {_money(summary['park_investment_yuan']['median'])}",
        "",
        "P(met) is the share of replications meeting the target; 95% CI is the Wilson score interval.",
    ]
    return "\n".join(lines)
