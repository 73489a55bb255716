"""One replication's world: the SimPy environment and everything a run owns.

The :class:`Context` is the only place that holds run state (no module-level state): the
environment, the scenario, the random streams, the record buffer, the fiscal ledger, the
policy levers, the parks, the district pool and the land quota. It wires up the processes
and offers the few operations several processes share (a firm entering or leaving a park,
adding a park, a firm's floor need). :func:`run_replication` is the one entry point that
runs a replication: ``scenario + seed -> records``, picklable both ways.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass

import numpy as np
import simpy

from parksim.calendar import month_index
from parksim.model.district import PLACED, Pool, applications
from parksim.model.enterprise import Enterprise, firm_life
from parksim.model.parks import Park, annual_grading, land_release, park_life, pipeline
from parksim.model.policies import Ledger, build_levers
from parksim.model.shocks import AgeHazard, ShockSchedule
from parksim.records import Kind, RecordBuffer, Records
from parksim.rng import Streams, firm_stream_seed, keyed_uniform, keyed_uniforms
from parksim.scenario.schema import Scenario

__all__ = ["Context", "run_replication", "FirmParams", "RunOutput", "PARK_COLUMNS"]

PARK_COLUMNS = (
    "park_id", "name", "lead_sector", "development_model", "floor_area_m2", "has_platform",
    "opened", "recognised", "provincial", "demonstration", "delisted", "last_grade", "firms_at_end",
)
"""Columns of the per-replication park table (state at the end of the run)."""


@dataclass(frozen=True)
class RunOutput:
    """What one replication produces: its event records and its parks' final state."""

    records: Records
    parks: list[tuple]


@dataclass(frozen=True, slots=True)
class FirmParams:
    """Per-firm constants precomputed from the scenario for the review loop."""

    review_months: float
    sqrt_dy: float
    drift: float
    scale: float
    reference_revenue: float
    size_exponent: float
    upgrade_threshold: float
    tech_rate: float
    rd_rate: float
    expansion_tolerance: float
    contract_months: float
    contract_min_yuan_per_m2: float
    contract_enforcement: float
    park_exit_multiplier: float

    @classmethod
    def of(cls, s: Scenario) -> FirmParams:
        e = s.enterprises
        dt = e.review_interval_months
        return cls(
            review_months=dt,
            sqrt_dy=math.sqrt(dt / 12.0),
            drift=e.growth_drift_per_year + s.parks.growth_drift_per_year,
            scale=e.growth_scale_per_year,
            reference_revenue=e.growth_reference_revenue_yuan,
            size_exponent=e.growth_size_exponent,
            upgrade_threshold=e.upgrade_threshold_yuan,
            tech_rate=e.tech_hazard_per_year,
            rd_rate=e.rd_adoption_per_year,
            expansion_tolerance=e.expansion_tolerance,
            contract_months=e.contract_months,
            contract_min_yuan_per_m2=e.contract_min_revenue_yuan_per_m2,
            contract_enforcement=e.contract_enforcement_probability,
            park_exit_multiplier=s.parks.exit_hazard_multiplier,
        )


class Context:
    """Everything one replication owns."""

    def __init__(self, scenario: Scenario, streams: Streams):
        self.scenario = scenario
        self.streams = streams
        self.env = env = simpy.Environment()
        start = scenario.calendar.start
        self.horizon = float(scenario.horizon_months)
        self.records = RecordBuffer()
        self.ledger = Ledger(start, self.records)
        self.levers = build_levers(scenario)
        self.lever_list = list(self.levers.values())
        self.shocks = ShockSchedule(scenario.shocks, start)
        self.age_hazard = AgeHazard(scenario.enterprises.exit_hazard_by_age)
        self.firm_params = FirmParams.of(scenario)
        self.recognition_opens = float(month_index(start, scenario.parks.recognition.opens))
        d = scenario.district
        self.sector_names = list(d.sectors)
        shares = np.array(list(d.sectors.values()), dtype=float)
        self._sector_cum = np.cumsum(shares / shares.sum())
        self._floor_per_yuan = d.floor_m2_per_million_yuan / 1e6
        self._floor_min = d.floor_min_m2
        self.land = simpy.Container(env)
        self.parks: list[Park] = []
        self._park_key = streams.key("parks")
        self._firm_key = streams.key("firms")
        self.pool = Pool(self)
        for spec in scenario.parks.initial:
            park = self.add_park(spec.name, self.sector_names.index(spec.lead_sector), spec.development_model, spec.floor_area_m2)
            if spec.status == "operating":
                park.is_open = True
                park.opened_at = -math.inf  # established before the run: not a new park
                self.records.park(0.0, Kind.PARK_OPENED, park.id, park.floor_area_m2)
                opens = 0.0
            else:
                opens = float(month_index(start, spec.opens))
            env.process(park_life(self, park, opens))
        self._place_initial_firms()
        env.process(applications(self))
        env.process(pipeline(self))
        env.process(land_release(self))
        env.process(annual_grading(self))

    # ------------------------------------------------------------------ shared operations

    def add_park(self, name: str, lead_sector: int, model: str, floor_area_m2: float) -> Park:
        park_id = len(self.parks)
        seed = firm_stream_seed(self._park_key, park_id)
        coverage = self.scenario.policies.services.platform_coverage
        park = Park(self.env, park_id, name, lead_sector, model, floor_area_m2, self.scenario.parks.usable_share,
                    keyed_uniform(seed, 0) < coverage, seed, self.scenario.parks.grading.grace_years * 12.0)
        self.parks.append(park)
        return park

    def sector_of_uniform(self, u: float) -> int:
        return int(min(np.searchsorted(self._sector_cum, u, side="right"), len(self._sector_cum) - 1))

    def floor_need(self, revenue: float, factor: float) -> float:
        """Floor a firm of this revenue needs (m²)."""
        return max(self._floor_min, self._floor_per_yuan * revenue) * factor

    def enter(self, firm_id: int, park: Park, revenue: float, need_m2: float, tenure_months: float = 0.0) -> Enterprise:
        """Move a pool firm into ``park``: take its floor, record it, start its process.

        ``tenure_months`` is how long the firm has already been in the park (for the firms
        seated at the start): its rent relief and performance contract count from then.
        """
        env = self.env
        now = env.now
        pool = self.pool
        pool.state[firm_id] = PLACED
        park.space.get(need_m2)
        firm = Enterprise(
            firm_id, park, int(pool.sector[firm_id]), float(pool.born_at[firm_id]), revenue,
            bool(pool.rd[firm_id]), bool(pool.tech[firm_id]), need_m2, float(pool.floor_factor[firm_id]),
            now - tenure_months, firm_stream_seed(self._firm_key, firm_id),
        )
        park.firms[firm_id] = firm
        if firm.sector == park.lead_sector:
            park.lead_firms += 1
        self.records.firm(now, Kind.FIRM_ENTERED, park.id, firm_id, firm.age_years(now), revenue, need_m2, firm.tech)
        env.process(firm_life(self, firm))
        return firm

    def leave(self, firm: Enterprise, reason: str) -> None:
        """A firm leaves its park (failure, contract or graduated): free its floor, record it."""
        park = firm.park
        now = self.env.now
        park.space.put(firm.floor_m2)
        del park.firms[firm.id]
        if firm.sector == park.lead_sector:
            park.lead_firms -= 1
        self.records.firm(now, Kind.FIRM_EXITED, park.id, firm.id, firm.age_years(now), firm.revenue,
                          firm.floor_m2, firm.tech, reason)

    def _place_initial_firms(self) -> None:
        """Seat the firms already in operating parks at the start, drawn from the pool."""
        pool = self.pool
        adm = self.scenario.parks.admission
        n0 = pool.n_initial
        if n0 == 0:
            return
        revenue = np.exp(pool.log_revenue0[:n0])
        fits = (revenue >= adm.min_revenue_yuan) & (revenue < self.firm_params.upgrade_threshold)
        order = np.argsort(keyed_uniforms(self.streams.key("initial"), np.arange(n0)), kind="stable")
        order = order[fits[order]]
        tenure = self.scenario.parks.initial_tenure_months
        for spec, park in zip(self.scenario.parks.initial, self.parks, strict=False):
            if spec.firms == 0 or spec.status != "operating":
                continue
            wanted_lead = math.ceil(spec.firms * adm.lead_sector_min_share)
            free = order[pool.state[order] == 0]
            lead = free[pool.sector[free] == park.lead_sector][:wanted_lead]
            rest = free[pool.sector[free] != park.lead_sector][: spec.firms - len(lead)]
            for firm_id in np.concatenate([lead, rest]):
                need = self.floor_need(float(revenue[firm_id]), float(pool.floor_factor[firm_id]))
                if park.free_m2 >= need:
                    self.enter(int(firm_id), park, float(revenue[firm_id]), need, tenure)


def run_replication(scenario: Scenario, seed: np.random.SeedSequence) -> RunOutput:
    """Run one replication of ``scenario``: its records and its parks' final state.

    The garbage collector's first threshold is raised for the run: a replication creates
    many short-lived objects and no reference cycles worth collecting mid-run.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        ctx = Context(scenario, Streams(seed))
        ctx.env.run(until=ctx.horizon)
        parks = [
            (p.id, p.name, ctx.sector_names[p.lead_sector], p.development_model, p.floor_area_m2, p.has_platform,
             p.is_open, p.recognised_at is not None, p.provincial, p.demonstration, p.delisted, p.grade or "",
             len(p.firms))
            for p in ctx.parks
        ]
        return RunOutput(ctx.records.freeze(), parks)
    finally:
        gc.set_threshold(*thresholds)
