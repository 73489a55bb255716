"""One-at-a-time screening: does a value a scenario leaves fixed move the chance of a target?

An estimate may stay without a prior when no value in its plausible range moves any P(met) by
more than a few points. :func:`screen` shows whether that holds: it runs the scenario at its
written values and, on common random numbers, once per setting ``path = value`` (one key moved,
the rest as written), and reports per target the change in P(met) against the written values
with a paired 95% interval (a t interval on the replications' met/not-met differences).
Usage::

    python -m parksim.study.screening scenarios/baseline.toml -n 200 \\
        policies.tax.exit_hazard_multiplier=0.9 enterprises.contract_months=12,36
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from parksim.aggregate import paired_difference
from parksim.execution.executors import Executor, make_executor
from parksim.scenario.loader import ScenarioError, load_scenario
from parksim.scenario.priors import realise, resolve, typed_like
from parksim.scenario.schema import TARGET_KEYS, Scenario
from parksim.study.compare import compare

__all__ = ["screen", "main"]


def screen(scenario: Scenario, settings: Sequence[tuple[str, Any]], replications: int,
           seed: int, executor: Executor) -> pd.DataFrame:
    """One row per setting and target: ``path``, ``value``, ``target``, ``p_written`` (P(met) at
    the written values), ``p_moved`` and ``diff`` with ``diff_ci_low``/``diff_ci_high``."""
    variants = [realise(scenario, {path: typed_like(resolve(scenario, path), value)})
                for path, value in settings]
    names = ["written", *(f"{path}={value}" for path, value in settings)]
    result = compare([scenario, *variants], names, replications, seed, executor, fixed=True)
    rows = []
    base = result.values["written"]
    for (path, value), name in zip(settings, names[1:], strict=True):
        for key in TARGET_KEYS:
            threshold = float(getattr(scenario.targets, key))
            written = base[key] >= threshold
            moved = result.values[name][key] >= threshold
            diff, lo, hi = paired_difference(written.astype(float), moved.astype(float))
            rows.append({"path": path, "value": value, "target": key,
                         "p_written": float(written.mean()), "p_moved": float(moved.mean()),
                         "diff": diff, "diff_ci_low": lo, "diff_ci_high": hi})
    return pd.DataFrame(rows)


def _settings(items: Iterable[str]) -> list[tuple[str, Any]]:
    import tomllib

    out = []
    for item in items:
        path, _, values = item.partition("=")
        if not path or not values:
            raise ScenarioError("<arguments>", f"expected path=value[,value...], got {item!r}")
        for text in values.split(","):
            try:
                out.append((path, tomllib.loads(f"v = {text}")["v"]))
            except tomllib.TOMLDecodeError:
                out.append((path, text))
    return out


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parksim.study.screening",
                                     description="One-at-a-time screening of fixed values.")
    parser.add_argument("scenario")
    parser.add_argument("settings", nargs="+", metavar="PATH=VALUE[,VALUE...]")
    parser.add_argument("-n", "--replications", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("-w", "--workers", type=int, default=None)
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        scenario = load_scenario(args.scenario)
        settings = _settings(args.settings)
        for path, _ in settings:
            resolve(scenario, path)
    except (ScenarioError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    executor = make_executor(args.workers, None)
    try:
        table = screen(scenario, settings, args.replications,
                       scenario.run.seed if args.seed is None else args.seed, executor)
    finally:
        executor.close()
    wide = table.pivot_table(index=["path", "value"], columns="target", values="diff",
                             sort=False)[list(TARGET_KEYS)]
    print(f"change in P(met) against the written values, {args.replications} replications "
          "each, common random numbers (--fixed)")
    print(wide.round(3).to_string())
    largest = table.loc[table["diff"].abs().idxmax()]
    print(f"largest: {largest['path']}={largest['value']} on {largest['target']}: "
          f"{largest['diff']:+.3f} [{largest['diff_ci_low']:+.3f}, {largest['diff_ci_high']:+.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
