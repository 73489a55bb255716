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
