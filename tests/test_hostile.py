"""Hostile and odd input, table-driven: every case is refused with exit code 2 and one line on
stderr that names the file and key at fault, no traceback, nothing written. Each row builds
its input in a fresh folder and gives the command line; the table grows with every promise
the command line makes about bad input."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from parksim.cli import main
from parksim.scenario.loader import MAX_CHAIN, MAX_FILE_BYTES, MAX_NESTING

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.toml"


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


# (id, make the input in a folder -> the scenario file, extra arguments, what the line says)
CASES: list[tuple[str, Callable[[Path], Path], list[str], str]] = [
    ("extends a directory", _child("/tmp"), [], "extends: /tmp: is a directory"),
    ("extends a device", _child("/dev/zero"), [], "extends: /dev/zero: is not a regular file"),
    ("extends a pipe", _fifo, [], "pipe.toml: is not a regular file"),
    ("extends a missing relative file", _child("nothere.toml"), [],
     "does not exist"),
    ("extends chain over the cap", _chain(MAX_CHAIN + 8), [],
     f"holds more than {MAX_CHAIN} files"),
    ("extends loops", _file("loop.toml", 'extends = "loop.toml"\n'), [], "loops back"),
    ("extends a number", _file("n.toml", "extends = 3\n"), [], "extends: expected a file name"),
    ("a file over 1 MiB", _file("big.toml", "#" * (MAX_FILE_BYTES + 1)), [],
     "at most 1 MiB"),
    ("arrays nested too deeply", _file("deep.toml", f"x = {_nested(MAX_NESTING + 1)}\n"), [],
     f"nested more than {MAX_NESTING} levels"),
    ("arrays nested a thousand deep", _file("deeper.toml", f"x = {_nested(1000)}\n"), [],
     f"nested more than {MAX_NESTING} levels"),
    ("inline tables nested too deeply",
     _file("tables.toml", "x = " + "{a = " * 40 + "1" + "}" * 40 + "\n"), [],
     f"nested more than {MAX_NESTING} levels"),
    ("a --set value nested hundreds deep", lambda folder: BASELINE,
     ["--set", f"district.firms={_nested(500)}"], "--set: district.firms: tables or arrays"),
    ("not UTF-8", _latin1, [], "cannot read file"),
    ("a loan of 1e308 yuan", lambda folder: BASELINE, ["--set", "policies.finance.loan_yuan=1e308"],
     "loan_yuan: 1e+308 yuan is beyond any district"),
    ("a rent of 1e308", lambda folder: BASELINE, ["--set", "parks.rent_yuan_m2_month=1e308"],
     "rent_yuan_m2_month: 1e+308 yuan/m2/month is beyond any district"),
    ("a payback of a billion years", lambda folder: BASELINE,
     ["--set", "parks.pipeline.payback_years=1e9"], "payback_years: 1e+09 years"),
    ("floor of 1e12 m2 per park", _file("huge.toml", f"extends = {json.dumps(str(BASELINE))}\n"
                                        'name = "huge"\n[parks.recognition]\n'
                                        "min_floor_area_m2 = 1e12\n"), [],
     "min_floor_area_m2: 1e+12 m2 is beyond any district"),
    ("a TOML syntax error", _file("bad.toml", "name = \n"), [], "TOML syntax error"),
    ("the scenario is a directory", lambda folder: folder, [], "is a directory"),
    ("the scenario is missing", lambda folder: folder / "missing.toml", [], "file not found"),
]


@pytest.mark.parametrize("make, extra, says", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_hostile_input_is_one_line_exit_2_and_nothing_written(
        command, make, extra, says, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    scenario = make(folder)
    out = tmp_path / "out"
    argv = [command, str(scenario), *extra]
    if command == "run":
        argv += ["-o", str(out), "-n", "2", "-w", "1"]
    assert main(argv) == 2
    stdout, stderr = capsys.readouterr()
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert says in lines[0]
    assert not out.exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("argv, says", [
    (["run", str(BASELINE), "-n", "0"], "--replications/-n: expected a positive integer"),
    (["run", str(BASELINE), "--seed", str(2**70)], "--seed: expected a non-negative integer"),
    (["run", str(BASELINE), "-w", "-1"], "--workers/-w"),
    (["compare", str(BASELINE), "-n", "x"], "--replications/-n"),
    (["plot"], "required"),
    (["run", str(BASELINE), "-n", str(10**9)], "at most 1,000,000 replications"),
    (["compare", str(BASELINE), "-n", str(10**7)], "at most 1,000,000 replications"),
    (["run", str(BASELINE), "-w", str(10**6)], "at most 1024 workers"),
    (["run", str(BASELINE), "--worker-timeout", "0"], "--worker-timeout: expected seconds"),
    (["sweep", "e.toml", "--worker-timeout", "soon"], "--worker-timeout: expected seconds"),
    (["run", str(BASELINE), "-o", ""], "-o/--output: expected a path, got an empty string"),
    (["run", str(BASELINE), "--scheduler", ""], "--scheduler: expected an address"),
    (["sweep", "e.toml", "-o", " "], "-o/--output: expected a path"),
    (["compare", str(BASELINE), "--scheduler", ""], "--scheduler: expected an address"),
    (["run", str(BASELINE), "-o", "x" * 300], "longer than the file system allows"),
    (["report", "d", "-o", "r" * 300 + ".html"], "longer than the file system allows"),
])
def test_flag_errors_are_one_line(argv, says, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    _, stderr = capsys.readouterr()
    assert len(stderr.strip().splitlines()) == 1 and says in stderr and "usage:" not in stderr


def _study(kind: str, samples: str, levels: int, replications: int) -> str:
    """An experiment over three levers' take-up (a grid of ``levels`` each, or sampled)."""
    factors = "".join(
        f'[[factors]]\npath = "policies.{lever}.take_up"\nrange = [0.1, 0.9]\n'
        + (f"levels = {levels}\n" if kind == "grid" else "")
        for lever in ("finance", "land", "tax"))
    return (f"scenario = {json.dumps(str(BASELINE))}\nreplications = {replications}\n"
            f'seed = 1\n[design]\nkind = "{kind}"\n{samples}\n{factors}')


@pytest.mark.parametrize("kind, samples, levels, replications, says", [
    ("grid", "", 10_000, 1, "1,000,000,000,000 points"),
    ("grid", "", 100, 20, "1,000,000 points"),
    ("grid", "", 40, 200, "12,800,000 tasks"),
    ("lhs", "samples = 10000000", 2, 1, "10,000,000 points"),
    ("sobol", "samples = 1048576", 2, 1, "5,242,880 points"),
])
def test_studies_far_too_large_are_refused_before_anything_is_made(
        kind, samples, levels, replications, says, tmp_path, capsys):
    """Counted before any design point is made: a sweep of 10^12 points is refused at once,
    naming the estimate, and writes nothing."""
    experiment = tmp_path / "big.toml"
    experiment.write_text(_study(kind, samples, levels, replications), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["sweep", str(experiment), "-o", str(out), "-q"]) == 2
    _, stderr = capsys.readouterr()
    assert len(stderr.strip().splitlines()) == 1 and says in stderr and "design" in stderr
    assert not out.exists()


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
