"""One replication's world: the wiring every part shares, and the parts.

The :class:`Context` is the only place that holds run state (no module-level state). It keeps
the wiring -- the SimPy environment, the scenario, the random streams, the record buffer, the
horizon and the shock schedule -- and four typed parts, each with the operations that belong
to it:

* :class:`~parksim.model.policies.Policy`: the levers and the fiscal ledger;
* :class:`~parksim.model.parks.Parks`: the parks and projects, their vacancies, the land quota;
* :class:`~parksim.model.enterprise.Tenancy`: the firms in parks (entering, leaving, taking
  floor, failing at a sampled time);
* :class:`~parksim.model.district.District`: the pool of firms outside the parks, the seating
  of the firms of the parks operating at the start, and the applications.

Each part is given the parts it works with when it is made, so what a submodel depends on is
written in its signature. :func:`run_replication` is the one entry point that runs a
replication: ``scenario + seed -> RunOutput``, picklable both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from parksim.gc_tuning import collector_tuned
from parksim.model.district import District
from parksim.model.enterprise import Tenancy, relief_round, reporting
from parksim.model.grading import GRADE_COLUMNS, GradingLog, annual_grading
from parksim.model.parks import PARK_COLUMNS, Parks, land_release, pipeline
from parksim.model.platforms import equip_initial, platform_building
from parksim.model.policies import Policy
from parksim.model.shocks import ShockSchedule
from parksim.records import RecordBuffer, Records
from parksim.rng import Streams
from parksim.scenario.schema import Scenario

__all__ = ["Context", "run_replication", "finish", "RunOutput", "PARK_COLUMNS", "GRADE_COLUMNS"]


@dataclass(frozen=True)
class RunOutput:
    """What one replication produces: its event records, its parks' final state (named
    columns, :data:`~parksim.model.parks.PARK_COLUMNS`) and its grading log (named columns,
    :data:`~parksim.model.grading.GRADE_COLUMNS`)."""

    records: Records
    parks: dict[str, list]
    grades: dict[str, list]


class Context:
    """Everything one replication owns: the wiring and the four parts."""

    def __init__(self, scenario: Scenario, streams: Streams):
        self.scenario = scenario
        self.streams = streams
        self.env = env = simpy.Environment()
        self.horizon = float(scenario.horizon_months)
        self.records = RecordBuffer()
        self.shocks = ShockSchedule(scenario.shocks, scenario.calendar.start,
                                    scenario.district.campaigns)
        self.policy = Policy(scenario, self.records)
        self.parks = Parks(self, self.policy)
        self.tenancy = Tenancy(self, self.parks, self.policy)
        self.district = District(self, self.parks, self.tenancy)
        self.grading = GradingLog()
        # the processes, in an order that fixes how events at the same instant are taken
        self.parks.open_initial()
        self.district.seat_initial_firms()
        equip_initial(self.parks)
        env.process(reporting(self.tenancy))
        if self.policy["relief"].enabled:
            env.process(relief_round(self.tenancy))
        self.district.open_applications()
        env.process(pipeline(self.parks))
        env.process(land_release(self.parks))
        env.process(annual_grading(self.parks, self.tenancy, self.grading))
        env.process(platform_building(self.parks))


def finish(ctx: Context) -> RunOutput:
    """What a replication that has run hands back: its records, in time order, its parks and
    its grading log."""
    return RunOutput(ctx.records.freeze(), ctx.parks.final_state(), ctx.grading.columns())


def run_replication(scenario: Scenario, seed: np.random.SeedSequence) -> RunOutput:
    """Run one replication of ``scenario``: its records and its parks' final state.

    Three phases, which the benchmark times apart: build the world (:class:`Context`: the pool,
    the parks, the screening), run the event loop to the horizon, and :func:`finish`.
    """
    with collector_tuned():
        ctx = Context(scenario, Streams(seed))
        ctx.env.run(until=ctx.horizon)
        return finish(ctx)
