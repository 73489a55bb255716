"""The SimPy model of Fuyang's park ecosystem.

``run_replication(scenario, seed_sequence) -> Records`` is the one entry point; everything a
replication owns lives in a :class:`~parksim.model.context.Context`. The model never imports
metrics, reporting, experiments or the command line.
"""

from parksim.model.context import Context, run_replication

__all__ = ["Context", "run_replication"]
