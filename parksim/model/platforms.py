"""Service platforms and digital management: what a park's operator builds, and when.

A park is not born with a public service platform (公共服务平台: design, testing, finance,
legal) or with digital management (数字化管理); its operator builds them when the sums say they
pay. At every half-yearly report, a quarter of a month after it (once the report's support is
paid, so the budget left is known), the operator of each open park that lacks one weighs

    firms in the park x (value per firm-year x payback years + services the district buys
        per firm over them)  >=  hurdle x (setup cost - the district's subsidy)

and starts building if it holds. The value is what the platform is worth to the operator for
each firm (fees, firms kept: ``parks.platforms.<platform>.value_yuan_per_firm_year``); the
district's purchase of services (政府购买服务, the services lever: while it is active, its take-up
times its cost per firm-year, for the payback years that fall inside its window) adds to a
service platform's value; the subsidy is the services
lever's ``platform_subsidy_share`` of the setup cost, counted while the lever is active and
this year's budget holds it, and paid when building starts. The hurdle is the operator's own
(a keyed lognormal draw with median 1). A platform works ``build_months`` later
(``park_platform``). Its firms then grow and are certified faster
(``growth_drift_per_year``, ``tech_hazard_multiplier``) from the next interval each opens (a
report, or a firm's entry), a service platform draws applicants
(``district.platform_acceptance_multiplier``) and lets the services lever serve the park's
firms, and both count in the annual evaluation (:mod:`parksim.model.grading`).

A park operating at the start has what its scenario entry says (``platform``, ``digital``),
or, where the entry is silent, what the same sums, without the services lever, would have had
its operator build before the start.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri

from parksim.rng import Draw
from parksim.scenario.schema import PLATFORMS

if TYPE_CHECKING:
    from parksim.model.parks import Park, Parks
    from parksim.scenario.schema import Platform, Platforms

__all__ = ["equip_initial", "platform_building", "platform_effects", "park_platform_effects",
           "effects_table", "pays"]

DECIDE_AFTER = 0.25
"""Months after a report at which operators decide: after the report's support is paid."""

_DRAW = {"services": Draw.PARK.platform, "digital": Draw.PARK.digital}


def _spec(parks: Parks, platform: str) -> Platform:
    return getattr(parks.scenario.parks.platforms, platform)


def pays(parks: Parks, park: Park, platform: str, t: float,
         supported: bool = True) -> tuple[bool, float]:
    """Whether building ``platform`` in ``park`` at ``t`` pays its operator, and the subsidy
    counted in the sums (yuan); with ``supported`` false, without the services lever."""
    spec = _spec(parks, platform)
    policy = parks.policy
    subsidy = policy.platform_subsidy(t, spec.setup_cost_yuan) if supported else 0.0
    per_firm = spec.value_yuan_per_firm_year * spec.payback_years
    if platform == "services" and supported:
        per_firm += policy.services_purchase_per_firm(t, spec.payback_years)
    value = (park.n_firms - park.reserved) * per_firm
    u = min(max(park.draw(_DRAW[platform]), 1e-12), 1 - 1e-12)
    hurdle = math.exp(spec.hurdle_log_sigma * float(ndtri(u)))
    return value >= hurdle * (spec.setup_cost_yuan - subsidy), subsidy


def equip_initial(parks: Parks) -> None:
    """Give the parks operating at the start (their firms seated) the platforms their scenario
    entries say, or, where silent, those their operators' sums would have built."""
    for i, spec in enumerate(parks.scenario.parks.initial):  # initial parks: ids 0, 1, ...
        park = parks[i]
        if spec.status != "operating":
            continue
        for platform in PLATFORMS:
            given = getattr(spec, "platform" if platform == "services" else platform)
            if given if given is not None else pays(parks, park, platform, 0.0, False)[0]:
                _works(parks, park, platform, 0.0, 0.0)


def _works(parks: Parks, park: Park, platform: str, t: float, cost: float,
           _event: object = None) -> None:
    """``platform`` works in ``park`` from ``t``; its operator spent ``cost`` on it (0 for one
    built before the start)."""
    park.building.discard(platform)
    if platform == "services":
        park.has_platform = True
    else:
        park.has_digital = True
    parks.records.platform(t, park.id, park.floor_area_m2, platform, cost)


def platform_building(parks: Parks):
    """Every half-year, each open, listed park's operator decides whether to build each
    platform it lacks (:func:`pays`); a platform decided works ``build_months`` later."""
    env = parks.env
    step = parks.scenario.enterprises.review_interval_months
    t = DECIDE_AFTER
    while t < parks.horizon:
        yield env.timeout(t - env.now)
        for park in parks:
            if not park.is_open or park.delisted:
                continue
            for platform in PLATFORMS:
                if park.has(platform) or platform in park.building:
                    continue
                build, subsidy = pays(parks, park, platform, t)
                if build:
                    _start(parks, park, platform, t, subsidy)
        t += step


def _start(parks: Parks, park: Park, platform: str, t: float, subsidy: float) -> None:
    spec = _spec(parks, platform)
    park.building.add(platform)
    parks.policy.pay_platform_subsidy(t, subsidy, park.id)
    done = t + spec.build_months
    if done < parks.horizon:
        parks.env.timeout(done - t).callbacks.append(
            partial(_works, parks, park, platform, done, spec.setup_cost_yuan)
        )


def platform_effects(parks: Parks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(growth drift, tech-certification multiplier, registration multiplier) of the firms in
    each park (by park id), from the platforms working there now."""
    which = np.array([2 * p.has_platform + p.has_digital for p in parks], dtype=np.int64)
    effects = parks.platform_table[which]
    return effects[:, 0], effects[:, 1], effects[:, 2]


def park_platform_effects(parks: Parks, park: Park) -> tuple[float, float, float]:
    """:func:`platform_effects` for the firms of one park (plain numbers: one per entrant)."""
    drift, tech, registration = parks.platform_table[2 * park.has_platform + park.has_digital]
    return float(drift), float(tech), float(registration)


def effects_table(platforms: Platforms) -> np.ndarray:
    """The effects on a park's firms of each combination of its platforms (``Parks`` keeps it):
    row 2 x (a service platform works) + (digital management works); columns growth drift,
    tech and registration multipliers."""
    services, digital = platforms.services, platforms.digital
    rows = []
    for works_services in (False, True):
        for works_digital in (False, True):
            on = [spec for spec, works in ((services, works_services), (digital, works_digital))
                  if works]
            rows.append((sum(spec.growth_drift_per_year for spec in on),
                         math.prod(spec.tech_hazard_multiplier for spec in on),
                         math.prod(spec.registration_rate_multiplier for spec in on)))
    return np.array(rows)
