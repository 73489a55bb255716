"""Scenarios: the typed schema and the loader (TOML files, ``extends`` chains, overrides)."""

from parksim.scenario.loader import (
    ScenarioError,
    ScenarioWarning,
    apply_overrides,
    load_raw,
    load_scenario,
    load_with_sources,
    validate,
)
from parksim.scenario.schema import (
    ACCOUNTS,
    CAPITAL_ITEMS,
    LEDGER_ITEMS,
    LEVERS,
    OBSERVABLE_KEYS,
    OBSERVABLES,
    STATUTORY_ITEMS,
    TARGET_KEYS,
    Scenario,
)

__all__ = [
    "Scenario",
    "ScenarioError",
    "ScenarioWarning",
    "load_scenario",
    "load_with_sources",
    "load_raw",
    "apply_overrides",
    "validate",
    "TARGET_KEYS",
    "OBSERVABLE_KEYS",
    "OBSERVABLES",
    "LEVERS",
    "ACCOUNTS",
    "CAPITAL_ITEMS",
    "STATUTORY_ITEMS",
    "LEDGER_ITEMS",
]
