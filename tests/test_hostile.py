"""Hostile and odd input, table-driven: every case is refused with exit code 2 and one line on
stderr that names the file and key at fault, no traceback, nothing written. Each row builds
its input in a fresh folder and gives the command line; the table grows with every promise
the command line makes about bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from parksim.cli import main
from parksim.scenario.loader import MAX_CHAIN, MAX_FILE_BYTES, MAX_NESTING

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.toml"


def _study(kind: str, samples: str, levels: int, replications: int) -> str:
    """An experiment over three levers' take-up (a grid of ``levels`` each, or sampled)."""
    factors = "".join(
        f'[[factors]]\npath = "policies.{lever}.take_up"\nrange = [0.1, 0.9]\n'
        + (f"levels = {levels}\n" if kind == "grid" else "")
        for lever in ("finance", "land", "tax"))
    return (f"scenario = {json.dumps(str(BASELINE))}\nreplications = {replications}\n"
            f'seed = 1\n[design]\nkind = "{kind}"\n{samples}\n{factors}')


def _file(name: str, text: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path
    return make


def _child(extends: str, extra: str = "") -> Callable[[Path], Path]:
    return _file("child.toml", f"extends = {json.dumps(extends)}\nname = \"child\"\n{extra}")


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe.toml")
    return _child(str(folder / "pipe.toml"))(folder)


def _chain(length: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        _file("c0.toml", f"extends = {json.dumps(str(BASELINE))}\nname = \"c0\"\n")(folder)
        for i in range(1, length):
            _file(f"c{i}.toml", f'extends = "c{i - 1}.toml"\nname = "c{i}"\n')(folder)
        return folder / f"c{length - 1}.toml"
    return make


def _latin1(folder: Path) -> Path:
    path = folder / "latin.toml"
    path.write_bytes('name = "é"\n'.encode("latin-1"))
    return path


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# ----------------------------------------------------------------------------- the table
#
# Every row: an id, a builder that makes its input in a fresh folder and gives the command line
# (``made`` holds a finished forecast and sweep to copy and damage), and what the one line says.
# Every row must exit 2 with that one line on stderr, no traceback, and the folder unchanged:
# nothing written, not even a lock file, and no output directory made.

Build = Callable[[Path, dict[str, Path]], list[str]]
OUT = "{out}"
"""In a command line, the output path the row must not create."""


def _scenario(name: str, text: str) -> Build:
    """A scenario file named ``name``: ``text`` after an ``extends`` of the baseline."""
    def build(folder: Path, made: dict[str, Path]) -> list[str]:
        path = folder / name
        path.write_text(f"extends = {json.dumps(str(BASELINE))}\nname = \"hostile\"\n{text}",
                        encoding="utf-8")
        return [str(path)]
    return build


def _given(make: Callable[[Path], Path], *extra: str) -> Build:
    return lambda folder, made: [str(make(folder)), *extra]


def _baseline_with(*extra: str) -> Build:
    return lambda folder, made: [str(BASELINE), *extra]


SCENARIOS: list[tuple[str, Build, str]] = [
    # files and chains
    ("extends a directory", _given(_child("/tmp")), "extends: /tmp: is a directory"),
    ("extends a device", _given(_child("/dev/zero")), "extends: /dev/zero: is not a regular file"),
    ("extends a pipe", _given(_fifo), "pipe.toml: is not a regular file"),
    ("extends a missing relative file", _given(_child("nothere.toml")), "does not exist"),
    ("extends chain over the cap", _given(_chain(MAX_CHAIN + 8)),
     f"holds more than {MAX_CHAIN} files"),
    ("extends loops", _given(_file("loop.toml", 'extends = "loop.toml"\n')), "loops back"),
    ("extends loops through two files",
     _given(lambda f: (_file("b.toml", 'extends = "a.toml"\n')(f),
                       _file("a.toml", 'extends = "b.toml"\n')(f))[1]), "loops back"),
    ("extends a number", _given(_file("n.toml", "extends = 3\n")), "extends: expected a file name"),
    ("extends a list", _given(_file("l.toml", 'extends = ["a.toml"]\n')),
     "extends: expected a file name"),
    ("extends an empty name", _given(_child("")), "extends"),
    ("extends a file with a syntax error",
     _given(lambda f: (_file("broken.toml", "name = \n")(f), _child("broken.toml")(f))[1]),
     "broken.toml:1"),
    ("extends a file that is not UTF-8",
     _given(lambda f: (_latin1(f), _child("latin.toml")(f))[1]), "latin.toml: cannot read file"),
    ("extends a link to a device",
     _given(lambda f: ((f / "zero.toml").symlink_to("/dev/zero"), _child("zero.toml")(f))[1]),
     "is not a regular file"),
    ("extends a dangling link",
     _given(lambda f: ((f / "gone.toml").symlink_to(f / "nowhere.toml"),
                       _child("gone.toml")(f))[1]), "gone.toml"),
    ("a file over 1 MiB", _given(_file("big.toml", "#" * (MAX_FILE_BYTES + 1))), "at most 1 MiB"),
    ("arrays nested too deeply", _given(_file("deep.toml", f"x = {_nested(MAX_NESTING + 1)}\n")),
     f"nested more than {MAX_NESTING} levels"),
    ("arrays nested a thousand deep", _given(_file("deeper.toml", f"x = {_nested(1000)}\n")),
     f"nested more than {MAX_NESTING} levels"),
    ("inline tables nested too deeply",
     _given(_file("tables.toml", "x = " + "{a = " * 40 + "1" + "}" * 40 + "\n")),
     f"nested more than {MAX_NESTING} levels"),
    ("tables nested too deeply by header",
     _given(_file("headers.toml", "[" + ".".join(["a"] * 40) + "]\nx = 1\n")),
     f"nested more than {MAX_NESTING} levels"),
    ("not UTF-8", _given(_latin1), "cannot read file"),
    ("a TOML syntax error", _given(_file("bad.toml", "name = \n")), "TOML syntax error"),
    ("a key written twice", _given(_file("twice.toml", 'name = "a"\nname = "b"\n')),
     "TOML syntax error"),
    ("a NUL byte", _given(_file("nul.toml", 'name = "a\0"\n')), "TOML syntax error"),
    ("the scenario is a directory", lambda folder, made: [str(folder)], "is a directory"),
    ("the scenario is missing", lambda folder, made: [str(folder / "missing.toml")],
     "file not found"),
    ("the scenario is a device", lambda folder, made: ["/dev/zero"], "is not a regular file"),
    ("the scenario is a dangling link",
     lambda folder, made: ((folder / "l.toml").symlink_to(folder / "no.toml"),
                           [str(folder / "l.toml")])[1], "l.toml"),
    # values out of range or of the wrong type
    ("an unknown top-level key", _scenario("s.toml", 'colour = "red"\n'), "colour"),
    ("an unknown key in a table", _scenario("s.toml", "[district]\nfirmz = 3\n"), "firmz"),
    ("firms as text", _scenario("s.toml", '[district]\nfirms = "many"\n'), "district.firms"),
    ("firms as a boolean", _scenario("s.toml", "[district]\nfirms = true\n"), "district.firms"),
    ("firms as a fraction", _scenario("s.toml", "[district]\nfirms = 1.5\n"), "district.firms"),
    ("firms negative", _scenario("s.toml", "[district]\nfirms = -5\n"), "district.firms"),
    ("firms beyond 64 bits", _scenario("s.toml", f"[district]\nfirms = {10**25}\n"),
     "district.firms"),
    ("firms as a table", _scenario("s.toml", "[district.firms]\na = 1\n"), "district.firms"),
    ("the district as a number", _scenario("s.toml", "district = 3\n"), "district"),
    ("a rent that is not a number", _scenario("s.toml", "[parks]\nrent_yuan_m2_month = nan\n"),
     "rent_yuan_m2_month"),
    ("an infinite rent", _scenario("s.toml", "[parks]\nrent_yuan_m2_month = inf\n"),
     "rent_yuan_m2_month"),
    ("a rent of 1e400", _scenario("s.toml", "[parks]\nrent_yuan_m2_month = 1e400\n"),
     "rent_yuan_m2_month"),
    ("a negative rent", _scenario("s.toml", "[parks]\nrent_yuan_m2_month = -1.0\n"),
     "rent_yuan_m2_month"),
    ("a share above one", _scenario("s.toml", "[parks]\nusable_share = 1.5\n"), "usable_share"),
    ("a negative share", _scenario("s.toml", "[parks]\nusable_share = -0.1\n"), "usable_share"),
    ("a share that is not a number", _scenario("s.toml", "[district]\nrd_share = nan\n"),
     "rd_share"),
    ("sector shares all zero", _scenario("s.toml", "[district.sectors]\n" + "".join(
        f"{name} = 0.0\n" for name in ("paper_packaging", "machinery_equipment",
                                       "optical_communication", "metal_products",
                                       "textiles_apparel", "sporting_goods",
                                       "digital_services"))), "sector"),
    ("a negative sector share",
     _scenario("s.toml", "[district.sectors]\npaper_packaging = -0.18\n"), "sector share"),
    ("a month that does not exist", _scenario("s.toml", '[calendar]\nhorizon = "2019-13"\n'),
     "horizon"),
    ("a horizon that is not a month", _scenario("s.toml", '[calendar]\nhorizon = "soon"\n'),
     "horizon"),
    ("a horizon before the start", _scenario("s.toml", '[calendar]\nhorizon = "2018-12"\n'),
     "horizon"),
    ("a start given as a number", _scenario("s.toml", "[calendar]\nstart = 2019\n"), "start"),
    ("a target date after the horizon", _scenario("s.toml", '[targets]\ndate = "2030-01"\n'),
     "date"),
    ("no replications", _scenario("s.toml", "[run]\nreplications = 0\n"), "replications"),
    ("a billion replications", _scenario("s.toml", "[run]\nreplications = 1000000000\n"),
     "replications"),
    ("a negative seed", _scenario("s.toml", "[run]\nseed = -1\n"), "seed"),
    ("a seed beyond 64 bits", _scenario("s.toml", f"[run]\nseed = {2**70}\n"), "seed"),
    ("a name that is a number", _given(_file("s.toml", "name = 3\n")), "name"),
    ("a take-up above one", _scenario("s.toml", "[policies.finance]\ntake_up = 1.5\n"),
     "policies.finance.take_up"),
    ("a take-up as text", _scenario("s.toml", '[policies.finance]\ntake_up = "high"\n'),
     "policies.finance.take_up"),
    ("a lever nobody knows", _scenario("s.toml", "[policies.magic]\ntake_up = 0.5\n"), "magic"),
    ("a negative budget cap",
     _scenario("s.toml", "[policies.finance]\nbudget_cap_yuan_per_year = -1.0\n"),
     "budget_cap_yuan_per_year"),
    ("a loan of 1e308 yuan", _baseline_with("--set", "policies.finance.loan_yuan=1e308"),
     "loan_yuan: 1e+308 yuan is beyond any district"),
    ("a rent of 1e308", _baseline_with("--set", "parks.rent_yuan_m2_month=1e308"),
     "rent_yuan_m2_month: 1e+308 yuan/m2/month is beyond any district"),
    ("a payback of a billion years", _baseline_with("--set", "parks.pipeline.payback_years=1e9"),
     "payback_years: 1e+09 years"),
    ("floor of 1e12 m2 per park",
     _scenario("huge.toml", "[parks.recognition]\nmin_floor_area_m2 = 1e12\n"),
     "min_floor_area_m2: 1e+12 m2 is beyond any district"),
    ("a campaign that ends before it starts",
     _scenario("s.toml", '[[district.campaigns]]\nname = "c"\nstart = "2020-10"\nend = "2020-01"\n'
               "pressure_multiplier = 2.0\n"), "campaigns"),
    ("a park of an unknown status",
     _scenario("s.toml", '[[parks.initial]]\nname = "p"\nstatus = "flying"\n'
               'floor_area_m2 = 1000.0\nlead_sector = "machinery_equipment"\n'
               'development_model = "government"\n'), "status"),
    ("a park of a sector the district lacks",
     _scenario("s.toml", '[[parks.initial]]\nname = "p"\nstatus = "operating"\n'
               'floor_area_m2 = 1000.0\nlead_sector = "shipbuilding"\n'
               'development_model = "government"\n'), "shipbuilding"),
    ("a park with no floor",
     _scenario("s.toml", '[[parks.initial]]\nname = "p"\nstatus = "operating"\n'
               'floor_area_m2 = -1.0\nlead_sector = "machinery_equipment"\n'
               'development_model = "government"\n'), "floor_area_m2"),
    # priors
    ("a prior of an unknown family",
     _scenario("s.toml", '[uncertain]\n"district.rd_share" = { dist = "cauchy" }\n'), "dist"),
    ("a normal prior without its spread",
     _scenario("s.toml", '[uncertain]\n"district.rd_share" = { dist = "normal", mean = 0.2 }\n'),
     "district.rd_share"),
    ("a prior on a key nobody knows",
     _scenario("s.toml", '[uncertain]\n"district.nope" = { dist = "uniform", low = 0.1, '
               "high = 0.2 }\n"), "district.nope"),
    ("a prior on a table",
     _scenario("s.toml", '[uncertain]\n"district" = { dist = "uniform", low = 0.1, '
               "high = 0.2 }\n"), "district"),
    ("a prior whose low is above its high",
     _scenario("s.toml", '[uncertain]\n"district.rd_share" = { dist = "uniform", low = 0.3, '
               "high = 0.1 }\n"), "district.rd_share"),
    ("a prior reaching outside the key's range",
     _scenario("s.toml", '[uncertain]\n"district.rd_share" = { dist = "uniform", low = 0.5, '
               "high = 2.0 }\n"), "district.rd_share"),
    ("a prior that is a number", _scenario("s.toml", '[uncertain]\n"district.rd_share" = 0.2\n'),
     "district.rd_share"),
    # observations
    ("an observation of nothing known",
     _scenario("s.toml", '[[observations]]\nkey = "nonsense"\ndate = "2019-12"\nvalue = 3\n'),
     "key"),
    ("an observation on a day, not a month",
     _scenario("s.toml", '[[observations]]\nkey = "parks"\ndate = "2019-12-31"\nvalue = 3\n'),
     "date"),
    ("a negative observation",
     _scenario("s.toml", '[[observations]]\nkey = "parks"\ndate = "2019-12"\nvalue = -3\n'),
     "value"),
    ("an observation without a date",
     _scenario("s.toml", '[[observations]]\nkey = "parks"\nvalue = 3\n'), "observations"),
    # --set
    ("a --set without a value", _baseline_with("--set", "district.firms"),
     "expected path.to.key=value"),
    ("a --set without a key", _baseline_with("--set", "=3"), "--set"),
    ("a --set of a key nobody knows", _baseline_with("--set", "district.nope=1"), "district.nope"),
    ("a --set of the wrong type", _baseline_with("--set", "district.firms=lots"),
     "district.firms"),
    ("a --set of 1e400", _baseline_with("--set", "district.firms=1e400"), "district.firms"),
    ("a --set with an empty key part", _baseline_with("--set", "district..firms=1"), "--set"),
    ("a --set replacing a table", _baseline_with("--set", "district=3"), "district"),
    ("a --set of a month that does not exist",
     _baseline_with("--set", 'calendar.horizon="2019-13"'), "horizon"),
    ("a --set value nested hundreds deep", _baseline_with("--set",
                                                          f"district.firms={_nested(500)}"),
     "--set: district.firms: tables or arrays"),
]


def _experiment(text: str, **replace: str) -> Build:
    """A sweep of an experiment file: a one-point grid over finance take-up on the baseline,
    with ``text`` appended and ``replace``'s keys written instead of the defaults."""
    keys = {"scenario": json.dumps(str(BASELINE)), "replications": "1", "seed": "1", **replace}
    head = "".join(f"{k} = {v}\n" for k, v in keys.items() if v)

    def build(folder: Path, made: dict[str, Path]) -> list[str]:
        path = folder / "e.toml"
        path.write_text(head + text, encoding="utf-8")
        return ["sweep", str(path), "-o", OUT, "-q", "-w", "1"]
    return build


GRID = '[design]\nkind = "grid"\n'
FACTOR = '[[factors]]\npath = "policies.finance.take_up"\n'
ONE_POINT = GRID + FACTOR + "values = [0.2]\n"

EXPERIMENTS: list[tuple[str, Build, str]] = [
    ("an experiment without a scenario", _experiment(ONE_POINT, scenario=""), "scenario"),
    ("an experiment whose scenario is missing",
     _experiment(ONE_POINT, scenario='"missing.toml"'), "missing.toml"),
    ("an experiment whose scenario is a directory", _experiment(ONE_POINT, scenario='"."'),
     "is a directory"),
    ("an experiment whose scenario is bad",
     _experiment(ONE_POINT, scenario=json.dumps(str(BASELINE.parent / "nope.toml"))),
     "nope.toml"),
    ("an experiment key nobody knows", _experiment(ONE_POINT, colour='"red"'), "colour"),
    ("an experiment of no replications", _experiment(ONE_POINT, replications="0"),
     "replications"),
    ("an experiment of a billion replications",
     _experiment(ONE_POINT, replications="1000000000"), "replications"),
    ("an experiment with a negative seed", _experiment(ONE_POINT, seed="-1"), "seed"),
    ("an experiment asking for an unknown output",
     _experiment(ONE_POINT, outputs='["nonsense"]'), "outputs"),
    ("a design of an unknown kind", _experiment('[design]\nkind = "magic"\n' + FACTOR +
                                                "values = [0.2]\n"), "kind"),
    ("an experiment without a design", _experiment(FACTOR + "values = [0.2]\n"), "design"),
    ("an experiment without factors", _experiment(GRID), "factors"),
    ("an experiment with uncertain neither all nor none",
     _experiment(ONE_POINT, uncertain='"some"'), "uncertain"),
    ("a factor over a key nobody knows",
     _experiment(GRID + '[[factors]]\npath = "district.nope"\nvalues = [1]\n'), "district.nope"),
    ("a factor over a table",
     _experiment(GRID + '[[factors]]\npath = "district"\nvalues = [1]\n'), "district"),
    ("a factor over a name",
     _experiment(GRID + '[[factors]]\npath = "name"\nvalues = [1]\n'), "name"),
    ("a factor with its range reversed", _experiment(GRID + FACTOR + "range = [0.9, 0.1]\n"
                                                     "levels = 2\n"), "range"),
    ("a factor with a range of three", _experiment(GRID + FACTOR + "range = [0.1, 0.5, 0.9]\n"
                                                   "levels = 2\n"), "range"),
    ("a factor with a range that is not a number",
     _experiment(GRID + FACTOR + "range = [nan, 0.9]\nlevels = 2\n"), "range"),
    ("a factor with no levels", _experiment(GRID + FACTOR + "range = [0.1, 0.9]\nlevels = 0\n"),
     "levels"),
    ("a factor with no values", _experiment(GRID + FACTOR + "values = []\n"), "values"),
    ("a factor with values of text", _experiment(GRID + FACTOR + 'values = ["a"]\n'),
     "take_up"),
    ("a factor with both a range and values",
     _experiment(GRID + FACTOR + "range = [0.1, 0.9]\nlevels = 2\nvalues = [0.2]\n"), "factors"),
    ("a factor with neither a range nor values", _experiment(GRID + FACTOR), "factors"),
    ("a factor given twice", _experiment(ONE_POINT + FACTOR + "values = [0.3]\n"),
     "policies.finance.take_up"),
    ("a factor value outside the key's range", _experiment(GRID + FACTOR + "values = [2.0]\n"),
     "take_up"),
    ("a factor from a prior the scenario lacks",
     _experiment(GRID + '[[factors]]\npath = "district.firms"\nprior = true\n'), "prior"),
    ("a sampled design without samples",
     _experiment('[design]\nkind = "lhs"\n' + FACTOR + "range = [0.1, 0.9]\n"), "samples"),
    ("a sampled design of no samples",
     _experiment('[design]\nkind = "lhs"\nsamples = 0\n' + FACTOR + "range = [0.1, 0.9]\n"),
     "samples"),
    ("overrides that are not a list", _experiment(ONE_POINT, overrides='"district.firms=1"'),
     "overrides"),
    ("an override without a value", _experiment(ONE_POINT, overrides='["district.firms"]'),
     "expected path.to.key=value"),
    ("an override out of range", _experiment(ONE_POINT, overrides='["district.firms=-5"]'),
     "greater than or equal to 0"),
    ("an override nested too deeply",
     _experiment(ONE_POINT, overrides=json.dumps([f"district.firms={_nested(40)}"])),
     "nested more than"),
    ("an experiment with a syntax error",
     lambda folder, made: ["sweep", str(_file("e.toml", "scenario = \n")(folder)), "-o", OUT],
     "TOML syntax error"),
    ("an experiment over 1 MiB",
     lambda folder, made: ["sweep", str(_file("e.toml", "#" * (MAX_FILE_BYTES + 1))(folder)),
                           "-o", OUT], "at most 1 MiB"),
    ("an experiment that is a directory", lambda folder, made: ["sweep", str(folder), "-o", OUT],
     "is a directory"),
    ("an experiment that is missing",
     lambda folder, made: ["sweep", str(folder / "no.toml"), "-o", OUT], "file not found"),
    ("an experiment that is not UTF-8",
     lambda folder, made: ["sweep", str(_latin1(folder)), "-o", OUT], "cannot read file"),
    ("sensitivity of a grid",
     lambda folder, made: ["sensitivity", *_experiment(GRID + FACTOR + "range = [0.1, 0.9]\n"
                                                        "levels = 2\n")(folder, made)[1:]],
     "sobol"),
]
EXPERIMENTS += [(f"a grid of {levels}^3 x {reps}", lambda folder, made, k=k, n=levels, r=reps:
                 ["sweep", str(_file("big.toml", _study(k, "", n, r))(folder)), "-o", OUT],
                 says) for k, levels, reps, says in [
                     ("grid", 10_000, 1, "1,000,000,000,000 points"),
                     ("grid", 100, 20, "1,000,000 points"),
                     ("grid", 40, 200, "12,800,000 tasks")]]
EXPERIMENTS += [(f"a {kind} design of {n:,} samples", lambda folder, made, k=kind, n=n:
                 ["sweep", str(_file("big.toml", _study(k, f"samples = {n}", 2, 1))(folder)),
                  "-o", OUT], says) for kind, n, says in [
                     ("lhs", 10_000_000, "10,000,000 points"),
                     ("sobol", 1_048_576, "5,242,880 points")]]


def _calibration(text: str, **replace: str) -> Build:
    """A calibration file: one parameter with a prior in the baseline, one target, with
    ``text`` appended and ``replace``'s keys written instead of the defaults."""
    keys = {"scenario": json.dumps(str(BASELINE)), "parameters": '["district.rd_share"]',
            "replications": "1", "seed": "1", "population": "5", "generations": "1", **replace}
    head = "".join(f"{k} = {v}\n" for k, v in keys.items() if v)
    target = text if "[[targets]]" in text or "targets" in replace else (
        '[[targets]]\nkey = "parks"\ndate = "2019-12"\nvalue = 11\ninterval = [9.0, 13.0]\n'
        + text)

    def build(folder: Path, made: dict[str, Path]) -> list[str]:
        path = folder / "c.toml"
        path.write_text(head + target, encoding="utf-8")
        _scenario("bare.toml", "observations = []\n")(folder, made)
        return ["calibrate", str(path), "-o", OUT, "-q", "-w", "1"]
    return build


CALIBRATIONS: list[tuple[str, Build, str]] = [
    ("a calibration without a scenario", _calibration("", scenario=""), "scenario"),
    ("a calibration of no parameters", _calibration("", parameters="[]"), "parameters"),
    ("a calibration of a parameter without a prior",
     _calibration("", parameters='["district.firms"]'), "district.firms"),
    ("a calibration of a key nobody knows", _calibration("", parameters='["district.nope"]'),
     "district.nope"),
    ("a calibration of an empty population", _calibration("", population="0"), "population"),
    ("a calibration of negative generations", _calibration("", generations="-1"),
     "generations"),
    ("a calibration key nobody knows", _calibration("", colour='"red"'), "colour"),
    ("a calibration with nothing to fit", _calibration(
        "", targets="[]", scenario=json.dumps("bare.toml")), "nothing to fit"),
    ("a calibration of a scenario observation after the runs stop",
     _calibration("", horizon='"2019-06"'), "(an observation of the scenario)"),
    ("a calibration target of nothing known",
     _calibration('[[targets]]\nkey = "nonsense"\ndate = "2019-12"\nvalue = 3\n'), "key"),
    ("a calibration target with its interval reversed",
     _calibration('[[targets]]\nkey = "parks"\ndate = "2019-12"\nvalue = 11\n'
                  "interval = [13.0, 9.0]\n"), "interval"),
    ("a calibration target after the runs stop",
     _calibration('[[targets]]\nkey = "parks"\ndate = "2021-12"\nvalue = 11\n'
                  "interval = [9.0, 13.0]\n", horizon='"2020-12"'), "2021-12"),
]


def _forecast_copy(folder: Path, made: dict[str, Path], name: str = "damaged") -> Path:
    out = folder / name
    shutil.copytree(made["forecast"], out)
    return out


def _damaged(damage: Callable[[Path], object], *command: str) -> Build:
    """A copy of a finished forecast, damaged, then read by ``command`` (``plot DIR parks``
    by default)."""
    def build(folder: Path, made: dict[str, Path]) -> list[str]:
        out = _forecast_copy(folder, made)
        damage(out)
        argv = list(command) or ["plot", "{dir}", "parks", "-o", OUT + ".png"]
        return [str(out) if a == "{dir}" else a for a in argv]
    return build


def _manifest_with(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(out: Path) -> None:
        manifest = json.loads((out / "manifest.json").read_text())
        change(manifest)
        (out / "manifest.json").write_text(json.dumps(manifest))
    return damage


RESULTS: list[tuple[str, Build, str]] = [
    ("results without a manifest", _damaged(lambda out: (out / "manifest.json").unlink()),
     "manifest.json"),
    ("a manifest that is not JSON",
     _damaged(lambda out: (out / "manifest.json").write_text("{")), "manifest.json"),
    ("a manifest that is a list", _damaged(lambda out: (out / "manifest.json").write_text("[]")),
     "manifest.json"),
    ("a manifest that is empty", _damaged(lambda out: (out / "manifest.json").write_text("")),
     "manifest.json"),
    ("a manifest that is not UTF-8",
     _damaged(lambda out: (out / "manifest.json").write_bytes(b"\xff\xfe{")), "manifest.json"),
    ("a manifest that is a directory", _damaged(lambda out: (
        (out / "manifest.json").unlink(), (out / "manifest.json").mkdir())),
     "manifest.json: cannot be read"),
    ("a report of a manifest that is a directory", _damaged(lambda out: (
        (out / "manifest.json").unlink(), (out / "manifest.json").mkdir()),
        "report", "{dir}", "-o", OUT + ".html"), "manifest.json: cannot be read"),
    ("a sweep over a manifest that is a directory", lambda folder, made: [
        *_experiment(ONE_POINT)(folder, made)[:2], "-o",
        str((shutil.copytree(made["sweep"], folder / "sweep"),
             (folder / "sweep" / "manifest.json").unlink(),
             (folder / "sweep" / "manifest.json").mkdir())[0]), "-q"],
     "manifest.json: cannot be read"),
    ("a sensitivity analysis of a sweep whose manifest is a directory", lambda folder, made: [
        "sensitivity", "--from",
        str((shutil.copytree(made["sweep"], folder / "sweep"),
             (folder / "sweep" / "manifest.json").unlink(),
             (folder / "sweep" / "manifest.json").mkdir())[0]), "-o", OUT],
     "manifest.json: cannot be read"),
    ("a manifest of an unknown kind", _damaged(_manifest_with(lambda m: m.update(kind="poem"))),
     "poem"),
    ("a manifest entry without its hash",
     _damaged(_manifest_with(lambda m: m["files"]["targets.parquet"].pop("sha256"))),
     "targets.parquet"),
    ("a manifest whose files are a list", _damaged(_manifest_with(lambda m: m.update(files=[]))),
     "manifest.json"),
    ("a table changed after the manifest",
     _damaged(lambda out: (out / "targets.parquet").write_bytes(b"PAR1 not a table PAR1")),
     "targets.parquet"),
    ("a listed table deleted", _damaged(lambda out: (out / "series.parquet").unlink()),
     "series.parquet"),
    ("a listed table replaced by a directory",
     _damaged(lambda out: ((out / "series.parquet").unlink(), (out / "series.parquet").mkdir())),
     "series.parquet"),
    ("a manifest listing a table that was never written",
     _damaged(_manifest_with(lambda m: m["files"].update(
         {"records.parquet": m["files"]["targets.parquet"]}))), "records.parquet"),
    ("a survival curve of a run without records",
     _damaged(lambda out: None, "plot", "{dir}", "survival", "-o", OUT + ".png"), "records"),
    ("a figure nobody knows",
     _damaged(lambda out: None, "plot", "{dir}", "sunset", "-o", OUT + ".png"), "sunset"),
    ("a report of a folder that holds no results",
     lambda folder, made: ["report", str(folder), "-o", OUT + ".html"], "not"),
    ("a report of a missing folder",
     lambda folder, made: ["report", str(folder / "gone"), "-o", OUT + ".html"], "gone"),
    ("a report written over a folder",
     lambda folder, made: ["report", str(made["forecast"]), "-o", str(folder)],
     "is a directory"),
    ("a report into a folder that does not exist",
     lambda folder, made: ["report", str(made["forecast"]), "-o", str(folder / "no" / "r.html")],
     "no such folder"),
    ("a report to a PDF",
     lambda folder, made: ["report", str(made["forecast"]), "-o", OUT + ".pdf"], ".html"),
    ("a report to a file that is not HTML",
     lambda folder, made: ["report", str(made["forecast"]), "-o", OUT + ".txt"], ".html"),
    ("a plot of a missing folder",
     lambda folder, made: ["plot", str(folder / "gone"), "parks", "-o", OUT + ".png"], "gone"),
    ("a plot of a file",
     lambda folder, made: ["plot", str(_file("x.toml", "")(folder)), "parks", "-o",
                           OUT + ".png"], "x.toml"),
    ("a sweep into a forecast", lambda folder, made: [
        *_experiment(ONE_POINT)(folder, made)[:2], "-o", str(_forecast_copy(folder, made)), "-q"],
     "holds 'forecast' results, not a sweep"),
    ("a forecast into a sweep", lambda folder, made: [
        "run", str(BASELINE), "-n", "2", "-q", "-o",
        str(shutil.copytree(made["sweep"], folder / "sweep"))], "not empty"),
    ("a sweep into another experiment's sweep", lambda folder, made: [
        *_experiment(GRID + FACTOR + "values = [0.3]\n")(folder, made)[:2], "-o",
        str(shutil.copytree(made["sweep"], folder / "sweep")), "-q"], "cannot be resumed"),
    ("a sweep whose manifest is not JSON", lambda folder, made: [
        *_experiment(ONE_POINT)(folder, made)[:2], "-o",
        str((shutil.copytree(made["sweep"], folder / "sweep"),
             (folder / "sweep" / "manifest.json").write_text("{"))[0]), "-q"], "manifest.json"),
    ("a forecast into a file", lambda folder, made: [
        "run", str(BASELINE), "-q", "-o", str(_file("f.txt", "")(folder))], "is a file"),
    ("a forecast under a file", lambda folder, made: [
        "run", str(BASELINE), "-q", "-o", str(_file("f.txt", "")(folder) / "sub")], "f.txt"),
    ("a forecast into a non-empty folder", lambda folder, made: [
        "run", str(BASELINE), "-q", "-o", str(_file("f.txt", "")(folder).parent)], "not empty"),
    ("a calibration into a forecast", lambda folder, made: [
        *_calibration("")(folder, made)[:2], "-o", str(_forecast_copy(folder, made)), "-q"],
     "holds no calibration"),
    ("a comparison into a non-empty folder", lambda folder, made: [
        "compare", str(BASELINE), str(BASELINE), "-n", "2", "-q", "-o",
        str(_forecast_copy(folder, made))], "not empty"),
]


def _flags(*argv: str) -> Build:
    return lambda folder, made: [a.replace("{base}", str(BASELINE)) for a in argv]


FLAGS: list[tuple[str, Build, str]] = [
    ("-n 0", _flags("run", "{base}", "-n", "0"), "--replications/-n: expected a positive integer"),
    ("-n -1", _flags("run", "{base}", "-n", "-1"), "--replications/-n"),
    ("-n 1.5", _flags("run", "{base}", "-n", "1.5"), "--replications/-n"),
    ("-n empty", _flags("run", "{base}", "-n", ""), "--replications/-n"),
    ("-n x in compare", _flags("compare", "{base}", "-n", "x"), "--replications/-n"),
    ("-n 1e9", _flags("run", "{base}", "-n", str(10**9)), "at most 1,000,000 replications"),
    ("-n 1e7 in compare", _flags("compare", "{base}", "-n", str(10**7)),
     "at most 1,000,000 replications"),
    ("--seed 2**70", _flags("run", "{base}", "--seed", str(2**70)),
     "--seed: expected a non-negative integer"),
    ("--seed -1", _flags("run", "{base}", "--seed", "-1"), "--seed"),
    ("--seed x", _flags("run", "{base}", "--seed", "x"), "--seed"),
    ("-w -1", _flags("run", "{base}", "-w", "-1"), "--workers/-w"),
    ("-w x", _flags("run", "{base}", "-w", "x"), "--workers/-w"),
    ("-w 1e6", _flags("run", "{base}", "-w", str(10**6)), "at most 1024 workers"),
    ("-k 0", _flags("run", "{base}", "-k", "0"), "--parameter-sets/-k"),
    ("--worker-timeout 0", _flags("run", "{base}", "--worker-timeout", "0"),
     "--worker-timeout: expected seconds"),
    ("--worker-timeout soon", _flags("sweep", "e.toml", "--worker-timeout", "soon"),
     "--worker-timeout: expected seconds"),
    ("--worker-timeout nan", _flags("run", "{base}", "--worker-timeout", "nan"),
     "--worker-timeout"),
    ("--worker-timeout inf", _flags("run", "{base}", "--worker-timeout", "inf"),
     "--worker-timeout"),
    ("--worker-timeout -5", _flags("run", "{base}", "--worker-timeout", "-5"), "--worker-timeout"),
    ("-o empty", _flags("run", "{base}", "-o", ""),
     "-o/--output: expected a path, got an empty string"),
    ("-o blank in sweep", _flags("sweep", "e.toml", "-o", " "), "-o/--output: expected a path"),
    ("--scheduler empty", _flags("run", "{base}", "--scheduler", ""),
     "--scheduler: expected an address"),
    ("--scheduler empty in compare", _flags("compare", "{base}", "--scheduler", ""),
     "--scheduler: expected an address"),
    ("-o a name too long", _flags("run", "{base}", "-o", "x" * 300),
     "longer than the file system allows"),
    ("report -o a name too long", _flags("report", "d", "-o", "r" * 300 + ".html"),
     "longer than the file system allows"),
    ("a flag nobody knows", _flags("run", "{base}", "--bogus"), "--bogus"),
    ("a command nobody knows", _flags("frobnicate"), "frobnicate"),
    ("run without a scenario", _flags("run"), "scenario"),
    ("sweep without an experiment", _flags("sweep"), "experiment"),
    ("plot without a figure", _flags("plot"), "required"),
    ("compare without scenarios", _flags("compare"), "scenario"),
    ("--set without its value", _flags("run", "{base}", "--set"), "--set"),
    ("no command", _flags(), "command"),
]

TABLE = [
    *[(f"{command}: {case}", (lambda b, c: lambda folder, made: [c, *b(folder, made)])(
        build, command), says)
      for case, build, says in SCENARIOS for command in ("validate", "run")],
    *EXPERIMENTS, *CALIBRATIONS, *RESULTS, *FLAGS,
]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """A finished tiny forecast (without records) and a one-point sweep, for rows to copy."""
    root = tmp_path_factory.mktemp("made")
    tiny = ["--set", "district.firms=1500", "--set", 'calendar.horizon="2019-06"',
            "--set", 'targets.date="2019-06"']
    assert main(["run", str(BASELINE), "-n", "2", "-w", "1", "-q", *tiny,
                 "-o", str(root / "forecast")]) == 0
    experiment = root / "e.toml"
    experiment.write_text(f"scenario = {json.dumps(str(BASELINE))}\nreplications = 1\nseed = 1\n"
                          f"overrides = {json.dumps([t for t in tiny if t != '--set'])}\n"
                          + ONE_POINT, encoding="utf-8")
    assert main(["sweep", str(experiment), "-w", "1", "-q", "-o", str(root / "sweep")]) == 0
    return {"forecast": root / "forecast", "sweep": root / "sweep"}


def _tree(root: Path) -> list[tuple[str, str]]:
    """Every path under ``root`` with what it holds: a file's SHA-256, a link's target."""
    def held(p: Path) -> str:
        if p.is_symlink():
            return f"-> {os.readlink(p)}"
        if p.is_file():
            return hashlib.sha256(p.read_bytes()).hexdigest()
        return "dir" if p.is_dir() else "other"
    return sorted((str(p.relative_to(root)), held(p)) for p in root.rglob("*"))


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def test_the_table_holds_at_least_150_rows():
    assert len({case for case, _, _ in TABLE}) == len(TABLE) >= 150


@pytest.mark.parametrize("build, says", [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_hostile_input_is_one_line_exit_2_and_nothing_written(
        build, says, made, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = [str(out) if a == OUT else a.replace(OUT, str(out)) for a in build(folder, made)]
    if argv and argv[0] == "run" and "-o" not in argv:
        argv += ["-o", str(out)]
    if argv and argv[0] == "run" and "-w" not in argv:
        argv += ["-w", "1"]
    before = _tree(tmp_path)
    made_before = _tree(made["forecast"].parent)
    code = _exit_code(argv)
    _, stderr = capsys.readouterr()
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in stderr, (code, stderr)
    assert says in lines[0]
    assert _tree(tmp_path) == before, "something was written"
    assert _tree(made["forecast"].parent) == made_before


def test_a_factor_over_a_chinese_key_is_a_value(tmp_path, capsys):
    """A sector named in Chinese is a key like any other: a factor over its share is swept
    (grid and Latin hypercube), set with --set and given a prior."""
    import parksim

    (tmp_path / "s.toml").write_text(
        f'extends = {json.dumps(str(BASELINE))}\nname = "cn"\n[district.sectors]\n'
        '"造纸" = 0.18\n', encoding="utf-8")
    for design in ('kind = "grid"', 'kind = "lhs"\nsamples = 2'):
        levels = "levels = 2\n" if "grid" in design else ""
        (tmp_path / "e.toml").write_text(
            'scenario = "s.toml"\nreplications = 1\nseed = 1\noverrides = ["district.firms=1500", '
            '"calendar.horizon=\\"2019-06\\"", "targets.date=\\"2019-06\\""]\n'
            f'[design]\n{design}\n[[factors]]\npath = "district.sectors.造纸"\n'
            f"range = [0.1, 0.3]\n{levels}", encoding="utf-8")
        out = tmp_path / design[8:12]
        assert main(["sweep", str(tmp_path / "e.toml"), "-o", str(out), "-q", "-w", "1"]) == 0
        rows = parksim.load_results(out)
        assert rows["district.sectors.造纸"].between(0.1, 0.3).all() and len(rows) == 2
    assert main(["validate", str(tmp_path / "s.toml"), "--set", "district.sectors.造纸=0.2"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("link", ["dangling", "loop"])
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_an_output_that_is_a_link_to_nothing_is_refused(link, command, tmp_path, capsys):
    """Writing through a dangling link would put results where nobody asked; a loop of links
    cannot be written at all: both are one line, exit 2, and nothing is created."""
    out = tmp_path / link
    out.symlink_to(tmp_path / ("nowhere" if link == "dangling" else link))
    if command == "run":
        argv = ["run", str(BASELINE), "-n", "2", "-w", "1", "-q", "-o", str(out)]
    else:
        experiment = tmp_path / "e.toml"
        experiment.write_text(f"scenario = {json.dumps(str(BASELINE))}\nreplications = 1\n"
                              'seed = 1\n[design]\nkind = "grid"\n[[factors]]\n'
                              'path = "policies.finance.take_up"\nvalues = [0.2]\n',
                              encoding="utf-8")
        argv = ["sweep", str(experiment), "-w", "1", "-q", "-o", str(out)]
    assert main(argv) == 2
    _, stderr = capsys.readouterr()
    assert len(stderr.strip().splitlines()) == 1 and "symbolic link to nothing" in stderr
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("entry, says", [
    ('"district.firms"', "expected path.to.key=value"),
    ('"district.firms=-5"', "greater than or equal to 0"),
    (f'"district.firms={_nested(40)}"', "nested more than"),
])
def test_a_bad_override_in_an_experiment_is_blamed_on_its_file(entry, says, tmp_path, capsys):
    """An experiment's overrides are the file's, not a --set nobody gave."""
    experiment = tmp_path / "e.toml"
    experiment.write_text(f"scenario = {json.dumps(str(BASELINE))}\noverrides = [{entry}]\n"
                          'replications = 1\nseed = 1\n[design]\nkind = "grid"\n[[factors]]\n'
                          'path = "policies.finance.take_up"\nvalues = [0.2]\n',
                          encoding="utf-8")
    assert main(["sweep", str(experiment), "-o", str(tmp_path / "out"), "-q"]) == 2
    _, stderr = capsys.readouterr()
    line = stderr.strip()
    assert "\n" not in line and f"{experiment}:2: overrides: override" in line
    assert says in line and "--set" not in line


def test_output_that_cannot_show_chinese_degrades_and_never_crashes(tmp_path, parksim_cli):
    """With a terminal or pipe that cannot encode Chinese (PYTHONIOENCODING=ascii), text is
    escaped: validate and run succeed, --json stays valid JSON with the name intact, and bad
    input is still exit 2."""
    scenario = tmp_path / "zh.toml"
    scenario.write_text(f'extends = {json.dumps(str(BASELINE))}\nname = "富阳基线"\n',
                        encoding="utf-8")
    ascii_only = {"PYTHONIOENCODING": "ascii"}
    proc = parksim_cli("validate", scenario, env=ascii_only)
    assert proc.returncode == 0 and "\\u5bcc" in proc.stdout, proc.stderr
    proc = parksim_cli("validate", scenario, "--json", env=ascii_only)
    assert proc.returncode == 0 and json.loads(proc.stdout)["files"][0]["scenario"] == "富阳基线"
    proc = parksim_cli("run", scenario, "-n", "2", "-w", "1", "-q", "--set", "district.firms=1500",
                       "--set", 'calendar.horizon="2019-06"', "--set", 'targets.date="2019-06"',
                       "-o", tmp_path / "out", "--json", env=ascii_only)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["scenario"] == "富阳基线"
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = {json.dumps(str(BASELINE))}\nname = "富阳"\n[district]\n'
                   "firms = -1\n", encoding="utf-8")
    proc = parksim_cli("run", bad, "--json", "-o", tmp_path / "never", env=ascii_only)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "never").exists()
