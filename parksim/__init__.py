"""parksim: a discrete-event simulation of Fuyang District's small and micro enterprise parks.

The public API for notebooks and scripts:

>>> import parksim
>>> scenario = parksim.load_scenario("scenarios/baseline.toml", overrides=["run.replications=50"])
>>> forecast = parksim.simulate(scenario, replications=50, seed=1, workers=2)
>>> forecast.targets.head()        # one row per replication
>>> forecast.summary()             # what ``parksim run --json`` prints

``parksim.load_results(dir)`` reads back a results directory written by ``parksim run``.
"""

from parksim.forecast import Forecast, simulate
from parksim.results import Results, load_results
from parksim.scenario import Scenario, ScenarioError, load_scenario

__version__ = "0.1.0"

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
