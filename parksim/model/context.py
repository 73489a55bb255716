"""One replication's world: the SimPy environment and everything a run owns.

The :class:`Context` is the only place that holds run state (no module-level state): the
environment, the scenario, the random streams, the record buffer, the fiscal ledger, the
policy levers, the parks and their vacancies, the district pool, the firms in parks and the
land quota. It wires up the processes and offers the few operations several processes share
(a firm entering or leaving a park, taking floor, a scheduled failure, adding a park, a
firm's floor need). :func:`run_replication` is the one entry point that
runs a replication: ``scenario + seed -> records``, picklable both ways.
"""

from __future__ import annotations

import gc
import heapq
import math
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
import simpy

from parksim.calendar import month_index
from parksim.model.district import PLACED, Applications, Pool, Screening
from parksim.model.enterprise import FirmTable, reporting
from parksim.model.parks import Park, Vacancies, annual_grading, land_release, park_life, pipeline
from parksim.model.policies import Ledger, build_levers
from parksim.model.shocks import AgeHazard, ShockSchedule
from parksim.records import Kind, RecordBuffer, Records
from parksim.rng import Streams, firm_stream_seed, keyed_uniform, keyed_uniforms, stream_seeds
from parksim.scenario.schema import Scenario

__all__ = ["Context", "run_replication", "collector_tuned", "finish", "FirmParams", "RunOutput", "PARK_COLUMNS"]

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
    drift: float
    scale: float
    log_reference: float
    size_exponent: float
    upgrade_threshold: float
    tech_rate: float
    rd_rate: float
    expansion_tolerance: float
    contract_months: float
    contract_min_yuan_per_m2: float
    contract_enforcement: float
    park_exit_multiplier: float
    floor_per_yuan: float
    floor_min: float

    @classmethod
    def of(cls, s: Scenario) -> FirmParams:
        e = s.enterprises
        dt = e.review_interval_months
        return cls(
            review_months=dt,
            drift=e.growth_drift_per_year + s.parks.growth_drift_per_year,
            scale=e.growth_scale_per_year,
            log_reference=math.log(e.growth_reference_revenue_yuan),
            size_exponent=e.growth_size_exponent,
            upgrade_threshold=e.upgrade_threshold_yuan,
            tech_rate=e.tech_hazard_per_year,
            rd_rate=e.rd_adoption_per_year,
            expansion_tolerance=e.expansion_tolerance,
            contract_months=e.contract_months,
            contract_min_yuan_per_m2=e.contract_min_revenue_yuan_per_m2,
            contract_enforcement=e.contract_enforcement_probability,
            park_exit_multiplier=s.parks.exit_hazard_multiplier,
            floor_per_yuan=s.district.floor_m2_per_million_yuan / 1e6,
            floor_min=s.district.floor_min_m2,
        )

    def floor_need(self, revenue, factor):
        """Floor (m²) firms of these revenues and floor factors need (numbers or arrays)."""
        return np.maximum(self.floor_min, self.floor_per_yuan * revenue) * factor


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
        self.land = simpy.Container(env)
        self.parks: list[Park] = []
        self.vacancies = Vacancies(len(self.sector_names), d.floor_min_m2, scenario.parks.admission.lead_sector_min_share)
        self.firms = FirmTable()
        self._park_key = streams.key("parks")
        self.firm_key = streams.key("firms")
        self.pool = Pool(self)
        for spec in scenario.parks.initial:
            park = self.add_park(spec.name, self.sector_names.index(spec.lead_sector), spec.development_model, spec.floor_area_m2)
            if spec.status == "operating":
                park.is_open = True
                park.opened_at = -math.inf  # established before the run: not a new park
                self.vacancies.update(park)
                self.records.park(0.0, Kind.PARK_OPENED, park.id, park.floor_area_m2)
                opens = 0.0
            else:
                opens = float(month_index(start, spec.opens))
            env.process(park_life(self, park, opens))
        self._place_initial_firms()
        env.process(reporting(self))
        self.applications = Applications(self, Screening(self).passing())
        env.process(pipeline(self))
        env.process(land_release(self))
        env.process(annual_grading(self))

    # ------------------------------------------------------------------ shared operations

    def add_park(self, name: str, lead_sector: int, model: str, floor_area_m2: float) -> Park:
        park_id = len(self.parks)
        seed = firm_stream_seed(self._park_key, park_id)
        coverage = self.scenario.policies.services.platform_coverage
        park = Park(park_id, name, lead_sector, model, floor_area_m2, self.scenario.parks.usable_share,
                    keyed_uniform(seed, 0) < coverage, seed, self.scenario.parks.grading.grace_years * 12.0)
        self.parks.append(park)
        return park

    def sector_of_uniform(self, u: float) -> int:
        return int(min(np.searchsorted(self._sector_cum, u, side="right"), len(self._sector_cum) - 1))

    def park_totals(self) -> tuple[np.ndarray, np.ndarray]:
        """Revenue and number of tech firms in each park now (indexed by park id)."""
        table = self.firms
        rows = table.in_parks()
        parks = table.park[rows]
        n = len(self.parks)
        revenue = np.bincount(parks, weights=np.exp(table.log_revenue[rows]), minlength=n)
        tech = np.bincount(parks, weights=table.tech[rows], minlength=n)
        return revenue, tech

    def take_floor(self, park: Park, m2: float) -> None:
        park.free_m2 -= m2
        self.vacancies.update(park)

    def enter(self, park: Park, now: float, until: float, firm_id: int, revenue: float, need_m2: float, seed: int,
              sector: int, born: float, rd: bool, tech: bool, floor_factor: float) -> int:
        """Move an applicant from the pool into ``park`` at ``now``: take its floor, record it, add
        it to the firm table (the firms seated at the start go in together, by :meth:`_seat`).

        ``until`` is the report that closes the firm's first interval; its rent relief and
        performance contract count from ``now``. ``seed`` is the firm's keyed stream; ``sector``
        to ``floor_factor`` are its pool attributes. Returns the firm's row.
        """
        self.pool.state[firm_id] = PLACED
        park.n_firms += 1
        if sector == park.lead_sector:
            park.lead_firms += 1
        self.take_floor(park, need_m2)
        row = self.firms.append(firm_id, park.id, sector, born, math.log(revenue), rd, tech, need_m2, floor_factor,
                                now, now, until, seed)
        self.records.firm(now, Kind.FIRM_ENTERED, park.id, firm_id, (now - born) / 12.0, revenue, need_m2, tech)
        return row

    def leave(self, row: int, now: float, reason: str) -> None:
        """The firm in ``row`` leaves its park (failure, contract or graduated): free its floor, record it."""
        table = self.firms
        park = self.parks[int(table.park[row])]
        floor = float(table.floor_m2[row])
        table.active[row] = False
        park.n_firms -= 1
        if table.sector[row] == park.lead_sector:
            park.lead_firms -= 1
        self.take_floor(park, -floor)
        self.records.firm(now, Kind.FIRM_EXITED, park.id, int(table.firm[row]), (now - float(table.born_at[row])) / 12.0,
                          math.exp(float(table.log_revenue[row])), floor, bool(table.tech[row]), reason)

    def schedule_failure(self, row: int, when: float) -> None:
        """The firm in ``row`` fails at ``when`` (a sampled event time; nothing is scheduled past the horizon)."""
        if when < self.horizon:
            self.env.timeout(when - self.env.now).callbacks.append(partial(self._fail, row))

    def _fail(self, row: int, event) -> None:
        if self.firms.active[row]:
            self.leave(row, self.env.now, "failure")

    def _place_initial_firms(self) -> None:
        """Seat the firms already in operating parks at the start, drawn from the pool.

        Pool firms inside the admission window, in a keyed random order, are queued by sector;
        each operating park takes its lead-sector share from its sector's queue and the rest
        from the earliest of the other sectors' queues.
        """
        pool = self.pool
        adm = self.scenario.parks.admission
        n0 = pool.n_initial
        if n0 == 0:
            return
        revenue = np.exp(pool.log_revenue0[:n0])
        fits = (revenue >= adm.min_revenue_yuan) & (revenue < self.firm_params.upgrade_threshold)
        order = np.flatnonzero(fits)
        order = order[np.argsort(keyed_uniforms(self.streams.key("initial"), order), kind="stable")]
        queues = [order[pool.sector[order] == s].tolist() for s in range(len(self.sector_names))]
        heads = [0] * len(queues)
        rank = np.empty(n0, dtype=np.int64)
        rank[order] = np.arange(len(order))
        tenure = self.scenario.parks.initial_tenure_months
        for spec, park in zip(self.scenario.parks.initial, self.parks, strict=False):
            if spec.firms == 0 or spec.status != "operating":
                continue
            lead_queue = queues[park.lead_sector]
            wanted_lead = min(math.ceil(spec.firms * adm.lead_sector_min_share), len(lead_queue) - heads[park.lead_sector])
            chosen = lead_queue[heads[park.lead_sector]: heads[park.lead_sector] + wanted_lead]
            heads[park.lead_sector] += wanted_lead
            others = [(rank[q[heads[s]]], s) for s, q in enumerate(queues) if s != park.lead_sector and heads[s] < len(q)]
            heapq.heapify(others)
            while others and len(chosen) < spec.firms:
                _, s = heapq.heappop(others)
                chosen.append(queues[s][heads[s]])
                heads[s] += 1
                if heads[s] < len(queues[s]):
                    heapq.heappush(others, (rank[queues[s][heads[s]]], s))
            chosen = np.asarray(chosen, dtype=np.int64)
            tech, rd, floor_factor = pool.traits(chosen)
            needs = self.firm_params.floor_need(revenue[chosen], floor_factor)
            free, seated = park.free_m2, []
            for k, need in enumerate(needs.tolist()):  # in queue order, each where the floor left allows
                if free >= need:
                    free -= need
                    seated.append(k)
            if seated:
                self._seat(park, chosen[seated], revenue, needs[seated], tech[seated], rd[seated],
                           floor_factor[seated], free, -tenure)

    def _seat(self, park: Park, firm_ids: np.ndarray, revenue: np.ndarray, need_m2: np.ndarray, tech: np.ndarray,
              rd: np.ndarray, floor_factor: np.ndarray, free_m2: float, entered_at: float) -> None:
        """Seat pool firms in ``park`` at the start (:meth:`enter` for many at once), leaving ``free_m2``."""
        pool = self.pool
        pool.state[firm_ids] = PLACED
        sector = pool.sector[firm_ids]
        park.n_firms += len(firm_ids)
        park.lead_firms += int(np.count_nonzero(sector == park.lead_sector))
        park.free_m2 = free_m2
        self.vacancies.update(park)
        born = pool.born_at[firm_ids]
        revenue = revenue[firm_ids]
        log_revenue = np.array([math.log(r) for r in revenue.tolist()])
        self.firms.extend(firm_ids, park.id, sector, born, log_revenue, rd, tech, need_m2, floor_factor, entered_at,
                          0.0, 0.0, stream_seeds(self.firm_key, firm_ids))
        self.records.firms(0.0, Kind.FIRM_ENTERED, park.id, firm_ids, (0.0 - born) / 12.0, revenue, need_m2, tech)


@contextmanager
def collector_tuned():
    """Raise the garbage collector's first threshold while a replication runs: it creates many
    short-lived objects and no reference cycles worth collecting mid-run."""
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def finish(ctx: Context) -> RunOutput:
    """What a replication that has run hands back: its records, in time order, and its parks."""
    parks = [
        (p.id, p.name, ctx.sector_names[p.lead_sector], p.development_model, p.floor_area_m2, p.has_platform,
         p.is_open, p.recognised_at is not None, p.provincial, p.demonstration, p.delisted, p.grade or "",
         p.n_firms)
        for p in ctx.parks
    ]
    return RunOutput(ctx.records.freeze(), parks)


def run_replication(scenario: Scenario, seed: np.random.SeedSequence) -> RunOutput:
    """Run one replication of ``scenario``: its records and its parks' final state.

    Three phases, which the benchmark times apart: build the world (:class:`Context`: the pool,
    the parks, the screening), run the event loop to the horizon, and :func:`finish`.
    """
    with collector_tuned():
        ctx = Context(scenario, Streams(seed))
        ctx.env.run(until=ctx.horizon)
        return finish(ctx)
