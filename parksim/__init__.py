"""parksim: a discrete-event simulation of Fuyang District's small and micro enterprise parks.

The public API for notebooks and scripts:

>>> import parksim
>>> scenario = parksim.load_scenario("scenarios/baseline.toml", overrides=["run.replications=50"])
>>> forecast = parksim.simulate(scenario, replications=50, seed=1, workers=2)
>>> forecast.targets.head()        # one row per replication
>>> forecast.summary()             # what ``parksim run --json`` prints

``parksim.load_results(dir)`` reads back a results directory written by ``parksim run``.
The names are loaded on first use, so ``parksim validate`` and ``parksim --version`` start
without importing the simulation stack.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Forecast": "parksim.forecast",
    "simulate": "parksim.forecast",
    "Results": "parksim.results",
    "load_results": "parksim.results",
    "Scenario": "parksim.scenario",
    "ScenarioError": "parksim.scenario",
    "load_scenario": "parksim.scenario",
}

__all__ = [
    "__version__",
    "Forecast",
    "Results",
    "Scenario",
    "ScenarioError",
    "load_results",
    "load_scenario",
    "simulate",
]

if TYPE_CHECKING:  # pragma: no cover
    from parksim.forecast import Forecast, simulate
    from parksim.results import Results, load_results
    from parksim.scenario import Scenario, ScenarioError, load_scenario


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'parksim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
