"""The ``parksim`` command line, run as a real subprocess: exit codes, output, no tracebacks."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_tiny_scenario

import parksim
from parksim.cli import main
from parksim.report.table import LABELS
from parksim.scenario import CAPITAL_ITEMS, LEDGER_ITEMS, LEVERS, TARGET_KEYS

TARGET_FIELDS = {"key", "threshold", "probability", "ci_low", "ci_high", "median", "p05", "p95",
                 "variance_share_parameters", "variance_share_parameters_ci",
                 "variance_share_chance", "variance_share_chance_ci", "top_parameters"}
SUMMARY_KEYS = {
    "scenario", "replications", "seed", "horizon", "targets", "all_met_probability",
    "observed", "fiscal_cost_yuan", "results_dir",
}
OBSERVED_FIELDS = {"key", "date", "observed", "median", "p05", "p95"}
LEDGER_FIELDS = {"lever", "account", "year", "budget_cap_yuan", "spent_yuan", "spent_p05_yuan",
                 "spent_p95_yuan", "cap_bound", "cap_bound_share", "refused_firms"}
# Thresholds low enough that a tiny run meets some targets and misses others.
REACHABLE = ["--set", "targets.upgrades=8", "--set", "targets.tech_firms=30"]
SEED = "11"


def strict_json(text: str):
    """``json.loads`` that refuses NaN and Infinity."""

    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def assert_bad_input(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2, no traceback, one ``parksim: error:`` line on stderr naming the fragments."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("parksim: error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def bad_child(write_toml, baseline_path: Path) -> Path:
    return write_toml("typo.toml", f"""
extends = "{baseline_path.as_posix()}"

[policies.finance]
take_upp = 0.5
""")


# --------------------------------------------------------------------------- shared runs


@pytest.fixture(scope="module")
def json_run(parksim_cli, tmp_path_factory, baseline_path, tiny_args):
    """One tiny ``--json`` run (1 worker, seed 11) shared by several tests."""
    base = tmp_path_factory.mktemp("json_run")
    out = base / "results"
    proc = parksim_cli("run", baseline_path, *tiny_args, *REACHABLE, "--seed", SEED,
                       "--json", "-o", out, cwd=base)
    return proc, out


@pytest.fixture(scope="module")
def table_run(parksim_cli, tmp_path_factory, baseline_path, tiny_args):
    """One tiny run printing the table (the scenario's own seed), into an empty directory."""
    base = tmp_path_factory.mktemp("table_run")
    out = base / "results"
    out.mkdir()
    proc = parksim_cli("run", baseline_path, *tiny_args, *REACHABLE, "-o", out, cwd=base)
    return proc, out


# --------------------------------------------------------------------------- validate


def test_console_script_validates_every_shipped_scenario(scenarios_dir, tmp_path):
    """The installed ``parksim`` script (not only ``python -m parksim``) works."""
    script = Path(sys.executable).with_name("parksim")
    if not script.exists():
        script = Path(shutil.which("parksim") or "parksim")
    files = sorted(scenarios_dir.glob("*.toml"))
    proc = subprocess.run([str(script), "validate", *map(str, files)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    ok_lines = [line for line in proc.stdout.splitlines() if line.startswith("ok")]
    assert len(ok_lines) == len(files)
    for path in files:
        assert str(path) in proc.stdout


def test_validate_reports_a_bad_file_and_still_checks_the_others(
    parksim_cli, baseline_path, write_toml, tmp_path
):
    bad = bad_child(write_toml, baseline_path)
    proc = parksim_cli("validate", baseline_path, bad, cwd=tmp_path)
    line = assert_bad_input(proc, bad.name, "policies.finance.take_upp", "take_up")
    assert ":5:" in line
    assert f"ok  {baseline_path}" in proc.stdout


def test_validate_json(parksim_cli, baseline_path, write_toml, tmp_path):
    bad = bad_child(write_toml, baseline_path)
    proc = parksim_cli("validate", "--json", baseline_path, bad, cwd=tmp_path)
    assert_bad_input(proc, bad.name, "policies.finance.take_upp")
    payload = strict_json(proc.stdout)
    assert isinstance(payload, dict)
    assert payload["valid"] is False
    by_file = {entry["file"]: entry for entry in payload["files"]}
    assert by_file[str(baseline_path)]["ok"] is True
    error = by_file[str(bad)]["error"]
    assert by_file[str(bad)]["ok"] is False
    assert error["key"] == "policies.finance.take_upp"
    assert error["suggestion"] == "take_up"
    assert error["line"] == 5


# --------------------------------------------------------------------------- run --json


def test_run_json_prints_one_strict_json_object(json_run):
    proc, out = json_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = strict_json(lines[0])
    assert isinstance(summary, dict)
    assert SUMMARY_KEYS <= set(summary)
    assert summary["scenario"] == "baseline"
    assert summary["replications"] == 4
    assert summary["seed"] == int(SEED)
    assert summary["horizon"] == "2020-06"
    assert summary["results_dir"] == str(out)


def test_run_json_targets(json_run):
    proc, out = json_run
    summary = strict_json(proc.stdout)
    targets = summary["targets"]
    assert [t["key"] for t in targets] == list(TARGET_KEYS)
    thresholds = {"parks": 15, "floor_area_m2": 1_000_000, "firms": 500, "upgrades": 8,
                  "tech_firms": 30, "demo_parks": 3}
    table = pd.read_parquet(out / "targets.parquet")
    for t in targets:
        readings = ({"reading", "stock", "cumulative_entries", "graduates"} if t["key"] == "firms"
                    else set())
        assert set(t) == TARGET_FIELDS | readings
        assert t["threshold"] == thresholds[t["key"]]
        assert 0.0 <= t["ci_low"] <= t["probability"] <= t["ci_high"] <= 1.0
        assert t["p05"] <= t["median"] <= t["p95"]
        # the probability is the share of replications meeting the threshold
        met = table[t["key"]] >= t["threshold"]
        assert t["probability"] == pytest.approx(met.mean())
        values = table[t["key"]]
        if (values == values.round()).all():  # a count: a value that occurred, the lower middle
            assert t["median"] == values.quantile(0.5, interpolation="lower")
        else:
            assert t["median"] == pytest.approx(values.median())
    probability = summary["all_met_probability"]
    assert 0.0 <= probability <= min(t["probability"] for t in targets)
    assert probability == pytest.approx(table["met_all"].mean())
    # both readings of the firms target, the one that counts first (firms in parks at the date)
    firms = next(t for t in targets if t["key"] == "firms")
    assert firms["reading"] == "stock" and firms["stock"]["median"] == firms["median"]
    entries = table["firms_cumulative_entries"]
    assert (entries >= table["firms_stock"]).all()
    assert firms["cumulative_entries"]["probability"] == pytest.approx((entries >= 500).mean())
    assert "conditional on" in summary["conditional_on"]


def test_run_json_observed_and_fiscal_cost(json_run):
    proc, _ = json_run
    summary = strict_json(proc.stdout)
    observed = summary["observed"]
    assert [o["key"] for o in observed] == ["parks", "provincial_parks"]
    for o in observed:
        assert OBSERVED_FIELDS <= set(o)
        assert o["date"] == "2019-12"
        assert o["p05"] <= o["median"] <= o["p95"]
    assert observed[0]["observed"] == 11
    fiscal = summary["fiscal_cost_yuan"]
    assert set(fiscal) == {"median", "p05", "p95", "by_lever", "by_account"}
    assert set(fiscal["by_lever"]) == set(LEVERS)
    assert set(fiscal["by_account"]) == {"district", "capital"}
    assert 0 <= fiscal["p05"] <= fiscal["median"] <= fiscal["p95"]
    assert all(v >= 0 for v in fiscal["by_lever"].values())
    assert fiscal["median"] > 0  # the baseline's levers pay out in 2019-07..2020-06
    tax = summary["tax_expenditure_yuan"]
    assert set(tax) == {"median", "p05", "p95", "by_item"}
    assert tax["median"] > 0  # the statutory reliefs are there in every scenario
    assert set(summary["capital_outlay_yuan"]["by_item"]) == set(CAPITAL_ITEMS)
    ledger = summary["ledger"]
    assert {row["lever"] for row in ledger} == set(LEDGER_ITEMS) - {"relief"}  # relief: off
    for row in ledger:
        assert LEDGER_FIELDS == set(row)
        if row["account"] == "district":
            assert row["spent_yuan"] <= row["budget_cap_yuan"] + 1e-6
            assert row["cap_bound"] == (row["cap_bound_share"] >= 0.5)
        else:
            assert row["budget_cap_yuan"] is None and row["refused_firms"] == 0


def test_summary_is_strict_json_when_observations_fall_after_the_run(baseline_path):
    """Observations the run does not reach become null, never NaN."""
    scenario = parksim.load_scenario(baseline_path, overrides=[
        "district.firms=500", "calendar.horizon=2019-06", "targets.date=2019-06"])
    summary = parksim.simulate(scenario, replications=2, seed=5, workers=1).summary(results_dir="x")
    text = json.dumps(summary, allow_nan=False)
    assert strict_json(text)["observed"][0]["median"] is None


def test_run_json_equals_summary_file(json_run):
    proc, out = json_run
    assert strict_json(proc.stdout) == strict_json(
        (out / "summary.json").read_text(encoding="utf-8")
    )
    assert (out / "manifest.json").exists()


def test_run_prints_the_table_into_an_empty_directory(table_run):
    proc, out = table_run
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for key in TARGET_KEYS:
        assert LABELS[key] in text
    assert "all six met" in text
    assert "public cost" in text
    assert "national tax expenditure" in text
    assert "district levers' budgets by calendar year" in text
    assert "cost per upgrade" in text
    assert str(out) in text
    assert (out / "manifest.json").exists()
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_gives_identical_targets(
    parksim_cli, json_run, table_run, baseline_path, tiny_args, tmp_path
):
    first_proc, first = json_run
    proc = parksim_cli("run", baseline_path, *tiny_args, *REACHABLE, "--seed", SEED,
                       "--json", "-o", tmp_path / "again", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert strict_json(proc.stdout)["targets"] == strict_json(first_proc.stdout)["targets"]
    again = pd.read_parquet(tmp_path / "again" / "targets.parquet")
    pd.testing.assert_frame_equal(again, pd.read_parquet(first / "targets.parquet"))
    # and the seed matters: the scenario's own seed gives other replications
    other = pd.read_parquet(table_run[1] / "targets.parquet")
    assert not other[list(TARGET_KEYS)].equals(again[list(TARGET_KEYS)])


def test_worker_count_does_not_change_results(
    parksim_cli, json_run, baseline_path, tiny_overrides, tmp_path
):
    _, one_worker = json_run
    args = ["-n", "4", "--workers", "2", "--quiet"]
    for item in tiny_overrides:
        args += ["--set", item]
    proc = parksim_cli("run", baseline_path, *args, *REACHABLE, "--seed", SEED,
                       "-o", tmp_path / "two", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    two = pd.read_parquet(tmp_path / "two" / "targets.parquet")
    one = pd.read_parquet(one_worker / "targets.parquet")
    assert list(two["replication"]) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(two, one)
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["workers"] == 2


# --------------------------------------------------------------------------- bad input


def test_bad_scenario_exits_2_and_writes_nothing(
    parksim_cli, baseline_path, write_toml, tiny_args, tmp_path
):
    bad = bad_child(write_toml, baseline_path)
    out = tmp_path / "not" / "yet"
    proc = parksim_cli("run", bad, *tiny_args, "-o", out, cwd=tmp_path)
    assert_bad_input(proc, bad.name, "policies.finance.take_upp", "take_up")
    assert proc.stdout == ""
    assert not out.exists()
    assert not (tmp_path / "not").exists()
    assert not (tmp_path / "results").exists()


def test_bad_override_with_json_prints_an_error_object(
    parksim_cli, baseline_path, tiny_args, tmp_path
):
    out = tmp_path / "out"
    proc = parksim_cli("run", baseline_path, *tiny_args, "--set", "policies.finance.take_up=1.5",
                       "--json", "-o", out, cwd=tmp_path)
    assert_bad_input(proc, "--set", "policies.finance.take_up", "1.5")
    payload = strict_json(proc.stdout)
    assert payload["error"] == "bad_input"
    assert payload["file"] == "--set"
    assert payload["key"] == "policies.finance.take_up"
    assert not out.exists()


def test_zero_replications_is_rejected(parksim_cli, baseline_path, tmp_path):
    out = tmp_path / "out"
    proc = parksim_cli("run", baseline_path, "--replications", "0", "--workers", "1", "--json",
                       "-o", out, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "replications" in proc.stderr
    payload = strict_json(proc.stdout)
    assert payload["error"] == "bad_input"
    assert "replications" in payload["message"]
    assert not out.exists()


def test_non_empty_output_directory_needs_force(parksim_cli, baseline_path, tiny_args, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    proc = parksim_cli("run", baseline_path, *tiny_args, "-o", out, cwd=tmp_path)
    assert_bad_input(proc, str(out), "--force")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]

    proc = parksim_cli("run", baseline_path, *tiny_args, "--force", "-o", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out / "manifest.json").exists()
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_file_in_the_way_of_output(parksim_cli, baseline_path, tiny_args, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory", encoding="utf-8")
    proc = parksim_cli("run", baseline_path, *tiny_args, "--json", "-o", blocker, cwd=tmp_path)
    assert_bad_input(proc, str(blocker), "file")
    assert strict_json(proc.stdout)["error"] == "bad_input"
    assert blocker.read_text(encoding="utf-8") == "not a directory"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # released on close: nothing listens there


def test_run_on_an_unreachable_scheduler_is_bad_input(
    parksim_cli, baseline_path, tiny_args, tmp_path
):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    out = tmp_path / "out"
    proc = parksim_cli(
        "run", baseline_path, *tiny_args, "--scheduler", address, "--json", "-o", out, cwd=tmp_path
    )
    assert_bad_input(proc, f"cannot reach the Dask scheduler at {address}")
    payload = strict_json(proc.stdout)
    assert payload["error"] == "bad_input" and address in payload["message"]
    assert not out.exists()
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("argv", [
    ["run", "--json", "--bogus"],  # refused by the main parser
    ["run", "scenario.toml", "-n", "0", "--json"],  # refused by the run parser
    ["compare", "a.toml", "--workers", "x", "--json"],
])
def test_usage_errors_honour_json_in_the_arguments_given_to_main(argv, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["parksim"])  # --json is in main's arguments, not in sys.argv
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    payload = strict_json(out)
    assert payload["error"] == "bad_input" and payload["message"]
    assert "error:" in err and "Traceback" not in err


def test_usage_errors_without_json_print_no_json(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["parksim", "run", "--json"])  # not main's arguments
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--bogus"])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "parksim run: error:" in err


@pytest.mark.parametrize("argv", [
    ["run", "scenario.toml", "-n", "0"],
    ["run", "scenario.toml", "--seed", str(2**70)],
    ["run"],
    ["bogus"],
    ["compare", "a.toml", "--workers", "x"],
    ["sweep", "e.toml", "--bogus"],
])
def test_a_flag_error_is_one_line_naming_help(argv, capsys):
    """The usage block is --help's; a flag error is the one line that says what is wrong."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "error:" in err and "--help)" in err and "usage:" not in err


# --------------------------------------------------------------------------- interruption


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def _hear_ctrl_c() -> None:
    """In the child: take Ctrl-C as a terminal would give it, even when the tests themselves run
    in the background (where a shell starts them with SIGINT ignored, which a child inherits)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(baseline_path, out, replications: int, ready, poll_s: float) -> tuple[int, str]:
    """Start a 2-worker forecast, press Ctrl-C once ``ready(proc)`` holds (checked every
    ``poll_s``), and return its exit code and standard error."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "parksim",
            "run",
            str(baseline_path),
            "-n",
            str(replications),
            "--workers",
            "2",
            "-o",
            str(out),
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=out.parent,
        preexec_fn=_hear_ctrl_c,
    )
    try:
        started = time.monotonic()
        while (
            proc.poll() is None
            and not ready(proc, time.monotonic() - started)
            and time.monotonic() - started < 60
        ):
            time.sleep(poll_s)
        assert proc.poll() is None, (
            f"the {replications}-replication run finished before it could be interrupted"
        )
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stderr


def test_ctrl_c_exits_130_without_results(baseline_path, tmp_path):
    """Ctrl-C once the run has gone ~1.5 s and (on Linux) its worker pool has started."""
    out = tmp_path / "out"
    code, stderr = _interrupt(baseline_path, out, 400, lambda proc, waited: waited >= 1.5 and (
        _children(proc.pid) or not Path("/proc").is_dir()), 0.05)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    assert not (out / "manifest.json").exists()


def test_ctrl_c_while_the_workers_start_is_not_lost(baseline_path, tmp_path):
    """Ctrl-C the moment the first worker process appears, while the pool is still forking:
    the interrupt must still end the run (exit 130, nothing written), not be swallowed by the
    fork's hooks and let the run go on."""
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc to see the worker processes appear")
    out = tmp_path / "out"
    code, stderr = _interrupt(
        baseline_path, out, 200, lambda proc, waited: bool(_children(proc.pid)), 0.0005
    )
    assert code == 130, stderr
    assert "interrupted" in stderr
    assert not (out / "manifest.json").exists()


def _ctrl_c_on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``parksim ARGV`` with its output on a terminal (a pseudo-terminal), press Ctrl-C
    once its progress bar is drawn, and return its exit code and everything it wrote."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "parksim", *argv], stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower, cwd=cwd, preexec_fn=_hear_ctrl_c)
    os.close(follower)
    seen = b""

    def read(until: float, bar: bool) -> None:
        """Read what the process writes until its bar is drawn (``bar``), or until it closes
        the terminal."""
        nonlocal seen
        while time.monotonic() < until:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the process closed the terminal
                return
            if not chunk:
                return
            seen += chunk
            if bar and b"|" in seen:
                return

    try:
        read(time.monotonic() + 60, bar=True)
        assert b"|" in seen and proc.poll() is None, f"no progress bar drawn: {seen!r}"
        proc.send_signal(signal.SIGINT)
        read(time.monotonic() + 60, bar=False)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return proc.returncode, seen.decode("utf-8", "replace")


@pytest.mark.parametrize("command", ["sweep", "compare"])
def test_on_a_terminal_the_bar_is_closed_before_the_interrupt_is_said(
        command, baseline_path, tiny_overrides, tmp_path):
    """Ctrl-C while the bar is drawn: the bar is finished on its own line, and the interrupt
    message starts a line of its own instead of running on after the bar."""
    if command == "sweep":
        experiment = tmp_path / "e.toml"
        experiment.write_text(
            f"scenario = {json.dumps(str(baseline_path))}\nreplications = 200\nseed = 1\n"
            f"overrides = {json.dumps(tiny_overrides)}\n"
            '[design]\nkind = "grid"\n[[factors]]\npath = "policies.finance.take_up"\n'
            "values = [0.2, 0.6]\n", encoding="utf-8")
        argv = ["sweep", str(experiment), "-o", str(tmp_path / "out"), "-w", "1"]
    else:
        tiny = write_tiny_scenario(tmp_path, baseline_path)
        argv = ["compare", str(tiny), str(tiny), "-n", "400", "-w", "1"]
    code, output = _ctrl_c_on_a_terminal(argv, tmp_path)
    assert code == 130, output
    said = output.index("parksim: interrupted")
    assert output[:said].endswith("\n"), repr(output[max(0, said - 120):said + 40])
    assert "Traceback" not in output


def test_a_failure_with_a_message_of_several_lines_is_said_in_one(
        baseline_path, tiny_args, tmp_path, capsys, monkeypatch):
    """A library's exception may carry line breaks (Dask's cancelled futures do): the command
    still says it in one line, exit 1."""
    import parksim.forecast

    def broken(*args, **kwargs):
        raise RuntimeError("first line\n  second line\n")

    monkeypatch.setattr(parksim.forecast, "run_forecast", broken)
    assert main(["run", str(baseline_path), *tiny_args, "-o", str(tmp_path / "out")]) == 1
    _, stderr = capsys.readouterr()
    assert stderr.strip().splitlines() == [
        "parksim: run failed: RuntimeError: first line second line "
        "(set PARKSIM_DEBUG=1 for details)"]
