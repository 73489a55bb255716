"""The SimPy model of Fuyang's park ecosystem.

``run_replication(scenario, seed_sequence) -> RunOutput`` (records and final park states) is the one
entry point; everything a replication owns lives in a :class:`~parksim.model.context.Context`. The
model never imports metrics, reporting, experiments or the command line.
"""

from parksim.model.context import GRADE_COLUMNS, PARK_COLUMNS, Context, RunOutput, run_replication

__all__ = ["Context", "RunOutput", "run_replication", "PARK_COLUMNS", "GRADE_COLUMNS"]
