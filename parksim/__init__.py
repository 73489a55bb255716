"""parksim: a discrete-event simulation of Fuyang District's small and micro enterprise parks.

The public API for notebooks and scripts:

>>> import parksim
>>> scenario = parksim.load_scenario("scenarios/baseline.toml", overrides=["run.replications=50"])
>>> forecast = parksim.simulate(scenario, replications=50, seed=1, workers=2)
>>> forecast.targets.head()        # one row per replication
>>> forecast.summary()             # what ``parksim run --json`` prints

``parksim.load_results(dir)`` reads back a results directory written by ``parksim run`` (a
:class:`Results`) or ``parksim sweep`` (a DataFrame, one row per task); ``load_forecast`` and
``load_sweep`` read one kind each.
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
    "load_forecast": "parksim.results",
    "load_results": "parksim.results_dir",
    "load_sweep": "parksim.study.store",
    "sensitivity": "parksim.study.sensitivity",
    "calibrate": "parksim.study.calibration",
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
    "calibrate",
    "load_forecast",
    "load_results",
    "load_scenario",
    "load_sweep",
    "sensitivity",
    "simulate",
]

if TYPE_CHECKING:  # pragma: no cover
    from parksim.forecast import Forecast, simulate
    from parksim.results import Results, load_forecast
    from parksim.results_dir import load_results
    from parksim.scenario import Scenario, ScenarioError, load_scenario
    from parksim.study.calibration import calibrate
    from parksim.study.sensitivity import sensitivity
    from parksim.study.store import load_sweep


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'parksim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
