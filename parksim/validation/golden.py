"""The golden digest: a machine-independent summary of a tiny scenario's simulated numbers.

Where the fingerprint (:mod:`parksim.validation.fingerprint`) hashes exact bits, the golden
digest hashes what must hold on any machine and numpy build: record kinds, park and firm ids
and counts exactly, real values rounded to 10 significant digits; and the first parameter sets
drawn from the scenario's priors, so a change in how priors are drawn shows too.
``tests/test_golden.py`` compares a stored digest with a fresh run, so every model change
either leaves the numbers as they were or refreshes the digest on purpose::

    python -m parksim.validation.golden tests/golden/tiny.toml           # print the digest
    python -m parksim.validation.golden tests/golden/tiny.toml --write   # refresh tiny.digest.json

The commit that refreshes it says why the numbers moved.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from parksim.model import PARK_COLUMNS, run_replication
from parksim.records import KINDS
from parksim.rng import replication_seed
from parksim.scenario import ScenarioError, load_scenario
from parksim.scenario.priors import active, draw
from parksim.scenario.schema import Scenario
from parksim.validation.fingerprint import SEED, park_rows, record_columns

__all__ = ["digest", "digest_path", "main", "PARAMETER_SETS"]

PARAMETER_SETS = 10
"""Parameter sets of the scenario's priors the digest hashes (the simulated replications run
at the written values: the model's numbers and the draws are guarded apart)."""


def _text(value) -> str:
    """A value as the digest writes it: reals to 10 significant digits, the rest as they are."""
    if isinstance(value, float | np.floating):
        return format(float(value), ".10g")
    return str(value)


def digest(scenario: Scenario, seed: int = SEED) -> dict:
    """Counts of each record kind per replication, and SHA-256s of the rounded records and parks
    of the scenario's ``run.replications`` replications at ``seed``."""
    records_sha, parks_sha = hashlib.sha256(), hashlib.sha256()
    counts = []
    for r in range(scenario.run.replications):
        out = run_replication(scenario, replication_seed(seed, r))
        columns = record_columns(out.records, r, scenario.calendar.start)
        names = list(columns)
        values = [v.tolist() if isinstance(v, np.ndarray) else v for v in columns.values()]
        for row in zip(*values, strict=True):
            records_sha.update(("|".join(_text(v) for v in row) + "\n").encode())
        kinds = Counter(columns["kind"])
        counts.append({kind: kinds[kind] for kind in KINDS if kinds[kind]})
        for row in park_rows(out.parks):
            parks_sha.update(("|".join(_text(v) for v in (r, *row)) + "\n").encode())
        assert names[0] == "replication"
    sets_sha = hashlib.sha256()
    for k in range(PARAMETER_SETS):
        for path, value in draw(scenario.uncertain, scenario, seed, k).items():
            sets_sha.update(f"{k}|{path}|{_text(value)}\n".encode())
    return {
        "scenario": scenario.name,
        "seed": seed,
        "replications": scenario.run.replications,
        "uncertain": sorted(active(scenario.uncertain)),
        "parameter_sets_sha256": sets_sha.hexdigest(),
        "record_columns": names,
        "park_columns": list(PARK_COLUMNS),
        "counts": counts,
        "records_sha256": records_sha.hexdigest(),
        "parks_sha256": parks_sha.hexdigest(),
    }


def digest_path(scenario_path: str | Path) -> Path:
    """Where the digest of a golden scenario file is stored: beside it, ``NAME.digest.json``."""
    path = Path(scenario_path)
    return path.with_name(f"{path.stem}.digest.json")


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parksim.validation.golden",
        description="Print (or --write) the golden digest of a tiny scenario.",
    )
    parser.add_argument("scenario", help="the golden scenario file, e.g. tests/golden/tiny.toml")
    parser.add_argument("--write", action="store_true", help="store the digest beside the scenario")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = json.dumps(digest(scenario), indent=1) + "\n"
    if args.write:
        digest_path(args.scenario).write_text(text, encoding="utf-8")
        print(f"wrote {digest_path(args.scenario)}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
