"""The fingerprint of the simulated numbers: exact, on this machine, for every shipped scenario.

``python -m parksim.validation.fingerprint scenarios/*.toml`` runs replications 0-4 of each
scenario at seed 20190723 and prints one SHA-256 of their records and one of their parks
tables, and a digest of all of them. A change that is meant to leave the model's numbers
alone must leave every line the same; it hashes exact bits, so compare it on one machine.

The records are hashed as the twelve columns the records table had when the fingerprint was
first taken (the replication, the date, and one ``detail`` column for what are now five text
columns, :func:`detail`), whatever the buffer's own layout, so that a change of how records
are stored does not change the fingerprint of what they say. :func:`record_columns` is the
one place that layout is read.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from parksim.calendar import month_label
from parksim.model import PARK_COLUMNS, run_replication
from parksim.records import KINDS, TEXT_COLUMNS, Records
from parksim.rng import replication_seed
from parksim.scenario import ScenarioError, load_scenario
from parksim.scenario.schema import Scenario

__all__ = ["SEED", "REPLICATIONS", "record_columns", "park_rows", "fingerprint", "main"]

SEED = 20190723
REPLICATIONS = 5


def record_columns(records: Records, replication: int, start: str) -> dict[str, list | np.ndarray]:
    """The twelve columns of one replication's records table (kinds by name, dates as labels)."""
    n = len(records)
    months = np.floor(records.time_months).astype(np.int64)
    labels = {int(m): month_label(start, int(m)) for m in np.unique(months)}
    return {
        "replication": np.full(n, replication, dtype=np.int64),
        "date": [labels[int(m)] for m in months],
        "time_months": records.time_months,
        "kind": [KINDS[k] for k in records.kind.tolist()],
        "park_id": records.park_id.astype(np.int64),
        "firm_id": records.firm_id.astype(np.int64),
        "firm_age_years": records.firm_age_years,
        "revenue_yuan": records.revenue_yuan,
        "floor_m2": records.floor_m2,
        "tech": records.tech.astype(bool),
        "detail": [str(d) for d in detail(records).tolist()],
        "amount_yuan": records.amount_yuan,
    }


def detail(records: Records) -> np.ndarray:
    """The records' text columns as the one ``detail`` column they once were: each record uses
    at most one of them (the grade, the exit reason, the lever, the build or the lost standing)."""
    out = np.full(len(records), "", dtype=object)
    for name in TEXT_COLUMNS:
        values = getattr(records, name)
        used = values != ""
        out[used] = values[used]
    return out


def park_rows(parks: dict[str, list]) -> list[tuple]:
    """The parks table of one replication as tuples of plain values, in ``PARK_COLUMNS`` order."""
    rows = zip(*(parks[name] for name in PARK_COLUMNS), strict=True)
    return [tuple(v.item() if hasattr(v, "item") else v for v in row) for row in rows]


def _hash_column(digest, values) -> None:
    if isinstance(values, np.ndarray):
        digest.update(str(values.dtype).encode())
        digest.update(np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes())
    else:
        digest.update("\x1f".join(values).encode())
    digest.update(b"\x1e")


def fingerprint(
    scenario: Scenario, replications: int = REPLICATIONS, seed: int = SEED
) -> tuple[str, str]:
    """(SHA-256 of the records, of the parks) of replications ``0 .. replications-1``."""
    records_digest, parks_digest = hashlib.sha256(), hashlib.sha256()
    start = scenario.calendar.start
    for r in range(replications):
        out = run_replication(scenario, replication_seed(seed, r))
        for name, values in record_columns(out.records, r, start).items():
            records_digest.update(name.encode())
            _hash_column(records_digest, values)
        parks_digest.update(repr(PARK_COLUMNS).encode())
        parks_digest.update(repr([(r, *row) for row in park_rows(out.parks)]).encode())
    return records_digest.hexdigest(), parks_digest.hexdigest()


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parksim.validation.fingerprint",
        description="SHA-256 of the records and parks of replications 0-4 of each scenario.",
    )
    parser.add_argument("scenarios", nargs="+", help="scenario files (TOML)")
    parser.add_argument("--replications", type=int, default=REPLICATIONS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(list(argv) if argv is not None else None)
    total = hashlib.sha256()
    for path in args.scenarios:
        try:
            scenario = load_scenario(path)
        except ScenarioError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        records, parks = fingerprint(scenario, args.replications, args.seed)
        total.update(f"{records}{parks}".encode())
        print(f"{Path(path).name:28s} records {records[:16]}  parks {parks[:16]}")
    print(f"{'all':28s} {total.hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
