"""The ``parksim`` command line: parse arguments, call the Python API, print. No model logic.

Exit codes: 0 a forecast was produced (whether or not the targets are met) or every sweep
task is done, 1 a failure while running, 2 bad input (scenario, experiment, flags, output
directory or a Dask scheduler that cannot be reached), 3 a sweep finished with some tasks
failed, 130 interrupted.
Bad input is one line on stderr naming the file and the key -- and, with ``--json``, also a
JSON object on stdout -- and nothing is written.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import functools
import json
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_TASKS_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _replications(text: str) -> int:
    """A number of replications: the range a scenario's ``run.replications`` takes."""
    value = _positive(text)
    if value > 1_000_000:
        raise argparse.ArgumentTypeError(f"expected at most 1,000,000 replications, got {value:,}")
    return value


def _workers(text: str) -> int:
    value = _positive(text)
    if value > 1024:
        raise argparse.ArgumentTypeError(f"expected at most 1024 workers, got {value:,}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer below 2**63, got {value}"
        )
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (the usage is ``--help``'s), and also
    a JSON object on stdout when ``json_errors`` is set (:func:`main` sets it when the
    arguments it parses hold ``--json``)."""

    def __init__(self, *args: Any, json_errors: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.json_errors = json_errors

    def error(self, message: str) -> None:  # type: ignore[override]
        """A usage error in one line (the usage itself is ``--help``'s), exit code 2."""
        if self.json_errors:
            print(json.dumps({"error": "bad_input", "file": None, "key": None, "message": message}))
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(json_errors: bool = False) -> argparse.ArgumentParser:
    """The argument parser; with ``json_errors``, usage errors are also printed as JSON."""
    from parksim import __version__

    parser = _Parser(
        prog="parksim",
        description="Forecast Fuyang's small and micro enterprise park targets.",
        json_errors=json_errors,
    )
    parser.add_argument("--version", action="version", version=f"parksim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=functools.partial(_Parser, json_errors=json_errors))

    run = sub.add_parser("run", help="run a scenario's forecast and write its results directory")
    run.add_argument("scenario", help="scenario file (TOML)")
    run.add_argument(
        "--replications",
        "-n",
        type=_replications,
        help="replications (default: the scenario's run.replications)",
    )
    run.add_argument("--seed", type=_seed, help="root seed (default: the scenario's run.seed)")
    run.add_argument(
        "--workers", "-w", type=_workers, help="local worker processes (default: all cores)"
    )
    run.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://HOST:8786")
    _worker_timeout_flag(run)
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set policies.finance.take_up=0.5 (repeatable)",
    )
    run.add_argument("-o", "--output", help="results directory (default: a new one under results/)")
    run.add_argument(
        "--force", action="store_true", help="write into a non-empty results directory"
    )
    run.add_argument("--records", action="store_true", help="also write every event record")
    run.add_argument("--report", action="store_true",
                     help="also write report.html into the results directory: the forecast "
                          "for a reader, with its figures (opens in a browser)")
    _uncertainty_flags(run)
    run.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the table"
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    cmp = sub.add_parser("compare", help="compare scenarios on common random numbers")
    cmp.add_argument(
        "scenarios",
        nargs="+",
        help="scenario files (TOML); differences are taken against the first",
    )
    cmp.add_argument(
        "--replications", "-n", type=_replications,
        help="replications (default: the first scenario's)"
    )
    cmp.add_argument("--seed", type=_seed, help="root seed (default: the first scenario's)")
    cmp.add_argument(
        "--workers", "-w", type=_workers, help="local worker processes (default: all cores)"
    )
    cmp.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://HOST:8786")
    _worker_timeout_flag(cmp)
    cmp.add_argument("--output", "-o", metavar="DIR",
                     help="also write a results directory: the summary, the paired table and "
                          "each scenario as run")
    cmp.add_argument("--force", action="store_true", help="overwrite a non-empty --output")
    cmp.add_argument("--report", action="store_true",
                     help="with -o: also write each scenario's forecast into DIR/forecasts/ and "
                          "DIR/report.html, the comparison for a reader with its figures")
    cmp.add_argument("--allow-different-dates", action="store_true",
                     help="compare scenarios whose target dates differ, all at the earliest "
                          "of them (refused otherwise)")
    _uncertainty_flags(cmp)
    cmp.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the table"
    )
    cmp.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    swp = sub.add_parser(
        "sweep", help="run an experiment file's design into a resumable results directory"
    )
    swp.add_argument("experiment", help="experiment file (TOML)")
    swp.add_argument(
        "-o", "--output", help="results directory (default: results/<experiment file name>)"
    )
    swp.add_argument(
        "--workers", "-w", type=_workers, help="local worker processes (default: all cores)"
    )
    swp.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://HOST:8786")
    _worker_timeout_flag(swp)
    swp.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip tasks already in the directory (default); --no-resume refuses a started one",
    )
    swp.add_argument(
        "--rerun-failed", action="store_true", help="run again the tasks that failed before"
    )
    swp.add_argument("--fixed", action="store_true",
                     help="take every uncertain parameter at its written value (default: each "
                          "task draws its own parameter set of the priors)")
    swp.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the summary"
    )
    swp.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    sen = sub.add_parser(
        "sensitivity", help="Sobol indices or Morris screening of an experiment's factors")
    sen.add_argument("experiment", nargs="?",
                     help="experiment file (TOML) with a sobol or morris design")
    sen.add_argument("--from", dest="sweep", metavar="DIR",
                     help="analyse an existing sweep directory instead of running one")
    sen.add_argument("-o", "--output", help="results directory (default: results/<experiment "
                     "file name>-sensitivity, or DIR-sensitivity with --from)")
    sen.add_argument("--fixed", action="store_true",
                     help="priors that are not factors at their written values (default: each "
                          "task draws its own parameter set of them)")
    _study_flags(sen)

    cal = sub.add_parser("calibrate", help="fit estimated parameters to observations (ABC-SMC)")
    cal.add_argument("calibration", help="calibration file (TOML)")
    cal.add_argument("-o", "--output", help="results directory (default: results/<calibration "
                     "file name>)")
    cal.add_argument("--scenario", metavar="PATH",
                     help="also write the calibrated scenario to PATH (a .toml file) and its "
                          "posterior sample beside it, as <name>.posterior.parquet")
    _study_flags(cal)

    plo = sub.add_parser("plot", help="draw a figure of a results directory")
    plo.add_argument("results", metavar="DIR", help="a results directory: parksim run's "
                     "(survival needs --records); parksim compare -o's for pmet; parksim "
                     "sensitivity's for sensitivity; parksim calibrate's for posterior and ppc")
    plo.add_argument("figure", choices=FIGURE_NAMES, help="the figure")
    plo.add_argument("--target", choices=TARGET_NAMES, help="the target (for fan)")
    plo.add_argument("-o", "--output", metavar="FILE",
                     help="image file; its extension (.png, .svg, .pdf) sets the format "
                          "(default: FIGURE[-TARGET].png here)")

    rep = sub.add_parser("report", help="write the HTML report of results directories")
    rep.add_argument("results", metavar="DIR", nargs="+",
                     help="results directories: forecasts (parksim run) and comparisons "
                          "(parksim compare -o); several forecasts are compared")
    rep.add_argument("-o", "--output", metavar="FILE",
                     help="the report (.html; default: report.html here)")

    val = sub.add_parser("validate", help="check scenario files without running them")
    val.add_argument("scenarios", nargs="+", help="scenario files (TOML)")
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="check these overrides too")
    val.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _worker_timeout_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--worker-timeout", type=_seconds, default=60.0, metavar="SECONDS",
                        help="with --scheduler: how long to wait for a first worker to join "
                             "(default 60)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"expected seconds in (0, 86400], got {value:g}")
    return value


def _study_flags(parser: argparse.ArgumentParser) -> None:
    """Where a study runs and how it reports: --workers, --scheduler, --json, --quiet."""
    parser.add_argument("--workers", "-w", type=_workers,
                        help="local worker processes (default: all cores)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a Dask cluster, e.g. tcp://HOST:8786")
    _worker_timeout_flag(parser)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object instead of the table")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _uncertainty_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fixed", action="store_true",
                        help="take every uncertain parameter at its written value: the forecast "
                             "conditional on them (default: integrate over the priors)")
    parser.add_argument("--parameter-sets", "-k", type=_positive, metavar="K",
                        help="parameter sets drawn from the priors; the replications are K x "
                             "(replications / K) (default: the scenario's run.parameter_sets, "
                             "else 10 replications per set)")


def _one_line(text: object) -> str:
    """``text`` on one line: a library's message may hold line breaks; the promise is one."""
    return re.sub(r"\s*\n\s*", " ", str(text).strip())


def _failure(what: str, error: Exception) -> int:
    """A failure while running: one line, and the traceback with ``PARKSIM_DEBUG=1``."""
    if os.environ.get("PARKSIM_DEBUG"):
        raise error
    print(f"parksim: {what} failed: {type(error).__name__}: {_one_line(error)} "
          "(set PARKSIM_DEBUG=1 for details)", file=sys.stderr)
    return EXIT_FAILED


def _bad_input(error: Any, as_json: bool) -> int:
    """One line naming what is wrong; exit 2 (bad input), or the error's own ``exit_code``."""
    print(f"parksim: error: {_one_line(error)}", file=sys.stderr)
    code = getattr(error, "exit_code", EXIT_BAD_INPUT)
    if as_json and code == EXIT_BAD_INPUT:
        payload = (
            error.to_json()
            if hasattr(error, "to_json")
            else {"error": "bad_input", "message": _one_line(error)}
        )
        print(json.dumps(payload, ensure_ascii=False))
    return code


def _validate(args: argparse.Namespace) -> int:
    from parksim.scenario import ScenarioError, load_scenario

    files = []
    for path in args.scenarios:
        try:
            scenario = load_scenario(path, args.overrides)
        except ScenarioError as error:
            print(f"parksim: error: {error}", file=sys.stderr)
            files.append({"file": path, "ok": False, "error": error.to_json()})
            continue
        files.append({"file": path, "ok": True, "scenario": scenario.name})
        if not args.json:
            print(
                f"ok  {path}  ({scenario.name}: "
                f"{scenario.calendar.start} to {scenario.calendar.horizon}, "
                f"{len(scenario.parks.initial)} initial parks)"
            )
    ok = all(f["ok"] for f in files)
    if args.json:
        print(json.dumps({"valid": ok, "files": files}, ensure_ascii=False))
    return EXIT_OK if ok else EXIT_BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    from parksim.forecast import run_forecast
    from parksim.io import ResultsDirError, claim_results_dir, default_results_dir
    from parksim.report.table import forecast_table
    from parksim.results import RESULT_FILES, write_results
    from parksim.scenario import ScenarioError, load_with_sources
    from parksim.scenario.loader import check_parameter_sets
    from parksim.scenario.priors import design

    try:
        scenario, sources = load_with_sources(args.scenario, args.overrides)
        try:
            sets, _ = design([scenario], args.replications or scenario.run.replications,
                             args.parameter_sets, args.fixed)
        except ValueError as error:
            raise ScenarioError("--parameter-sets", str(error)) from None
        check_parameter_sets(scenario, scenario.run.seed if args.seed is None else args.seed,
                             sets)
        if args.output:
            claim = claim_results_dir(args.output, args.force, leftovers=RESULT_FILES)
        else:
            claim = claim_results_dir(default_results_dir(Path(args.scenario).stem), unique=True)
        target = claim.path
    except (ScenarioError, ResultsDirError) as error:
        return _bad_input(error, args.json)
    try:
        executor = _executor(args)
    except _Unreachable as error:
        claim.release(remove_if_empty=True)
        return _bad_input(error, args.json)
    except KeyboardInterrupt:
        claim.release(remove_if_empty=True)
        print("parksim: interrupted; no results written", file=sys.stderr)
        return EXIT_INTERRUPTED
    n = args.replications or scenario.run.replications
    bar = _progress(n, scenario.name, args.quiet, unit="rep")
    earlier = _manifest_stamp(target)  # a --force run's earlier results, until replaced
    try:
        try:
            forecast = run_forecast(scenario, n, args.seed, executor, records=args.records,
                                    progress=bar.update if bar else None,
                                    parameter_sets=args.parameter_sets, fixed=args.fixed)
        finally:
            if bar:
                bar.close()
            executor.close()
        summary = forecast.summary(results_dir=str(target))
        write_results(
            forecast, target, summary, force=args.force, sources=sources, command=args.command_line
        )
        claim.release()
    except KeyboardInterrupt:
        claim.release(remove_if_empty=True)
        # the manifest is written last: a new one means the results are complete
        if _manifest_stamp(target) in (None, earlier):
            print(_interrupted(target, RESULT_FILES), file=sys.stderr)
            return EXIT_INTERRUPTED
        summary = json.loads((target / "summary.json").read_text(encoding="utf-8"))
        print(f"parksim: interrupted after the results were complete; they are in {target}",
              file=sys.stderr)
    except OSError as error:
        claim.release(remove_if_empty=True)
        print(f"parksim: cannot write results to {target}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        claim.release(remove_if_empty=True)
        return _failure("run", error)
    with _interrupt_deferred(target):  # the results are complete: say so, and succeed
        failed = _write_report(args, target, summary)
        if args.json:
            print(json.dumps(summary, ensure_ascii=False, allow_nan=False))
        else:
            print(forecast_table(summary))
            print(f"\nresults written to {target}")
    return EXIT_FAILED if failed else EXIT_OK


def _manifest_stamp(target: Path) -> tuple[int, int] | None:
    """Which ``manifest.json`` ``target`` holds (its inode and modification time; ``None``
    without one): written under a new name and renamed into place, a new manifest is a new
    stamp, so a run can tell its own from an earlier one it was to replace."""
    try:
        stat = (target / "manifest.json").stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _interrupted(target: Path, leftovers: Collection[str]) -> str:
    """What an interrupt left in ``target``: nothing, the earlier results it was to replace,
    or an incomplete result the same command writes over."""
    from parksim.io import LOCK, interrupted_leftovers

    if (target / "manifest.json").exists():
        return f"parksim: interrupted; no results written ({target} is as it was)"
    if target.is_dir() and interrupted_leftovers(target, leftovers) and any(
            p.name != LOCK for p in target.iterdir()):
        return (f"parksim: interrupted while writing the results: {target} holds an incomplete "
                "result (no manifest.json); the same command writes over it")
    return "parksim: interrupted; no results written"


@contextlib.contextmanager
def _interrupt_deferred(target: Path):
    """Ctrl-C held back while a finished command reports (its results are complete): said
    in one line at the end instead of breaking off the report."""
    hit: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: hit.append(signum))
    except ValueError:  # not the main thread: nothing to hold back
        previous = None
    try:
        yield hit
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if hit:
            print(f"parksim: interrupt ignored: the results were complete, in {target}",
                  file=sys.stderr)


def _write_report(args: argparse.Namespace, target: Path, summary: dict[str, Any]) -> bool:
    """With ``--report``, write the finished results directory's report into it, say where
    on stderr and put its path in ``summary`` (the ``--json`` output); whether it failed (the
    results stay, complete, and the line says so)."""
    if not args.report:
        return False
    from parksim.report.html import report_into

    try:
        report = report_into(target)
    except (OSError, ValueError) as error:
        print(f"parksim: the results are complete in {target}, but the report could not be "
              f"written: {error}", file=sys.stderr)
        return True
    for problem in report.problems:
        print(f"parksim: warning: {problem}", file=sys.stderr)
    print(f"parksim: report written to {report.path}", file=sys.stderr)
    summary["report"] = str(report.path)
    return False


def _report(args: argparse.Namespace) -> int:
    from parksim.report.html import build_report

    out = Path(args.output or "report.html")
    if out.is_dir():
        return _bad_input(ValueError(f"{out}: is a directory; name the report's file"), False)
    if out.suffix.lower() not in (".html", ".htm"):
        return _bad_input(ValueError(f"{out}: the report's extension must be .html"), False)
    if not out.parent.is_dir():
        return _bad_input(ValueError(f"{out}: no such folder {out.parent}"), False)
    try:
        report = build_report(args.results, out)
    except ValueError as error:  # nothing to report: every directory was bad input
        return _bad_input(error, False)
    except OSError as error:
        print(f"parksim: cannot write {out}: {error}", file=sys.stderr)
        return EXIT_FAILED
    for problem in report.problems:
        print(f"parksim: warning: {problem}", file=sys.stderr)
    print(f"parksim: report written to {report.path}", file=sys.stderr)
    return EXIT_OK


def _progress(total: int | None, desc: str, quiet: bool, unit: str = "task"):
    """Progress of a command's runs on stderr: a bar on a terminal, a line at most every 30
    seconds otherwise (a log; ``PARKSIM_PROGRESS_EVERY`` sets the seconds), nothing with
    ``--quiet``. ``total`` is None where the number of runs is not known in advance."""
    if quiet:
        return None
    if not sys.stderr.isatty():
        return _LogProgress(total, desc, unit)
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, delay=1.0, dynamic_ncols=True)


class _LogProgress:
    """Progress lines for a log: a header when the runs start, then ``parksim: NAME: 1,200 of
    4,096 tasks (29%), 62 s, 19.4 tasks/s, about 149 s left`` every 30 seconds (or every
    ``PARKSIM_PROGRESS_EVERY`` seconds if the environment sets it), and a last line when the
    runs are done."""

    def __init__(self, total: int | None, desc: str, unit: str):
        try:
            self.every = float(os.environ.get("PARKSIM_PROGRESS_EVERY", "30"))
        except ValueError:
            self.every = 30.0
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self.printed: int | None = None  # how many were done at the last line printed
        self.start = self.last = time.monotonic()
        of = f"{total:,} {unit}s" if total else f"{unit}s"
        print(f"parksim: {desc}: started, {of}", file=sys.stderr, flush=True)

    def _line(self, now: float) -> str:
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = f"parksim: {self.desc}: {self.done:,}"
        if self.total:
            text += f" of {self.total:,} {self.unit}s ({self.done / self.total:.0%})"
        else:
            text += f" {self.unit}s"
        text += f", {elapsed:.0f} s, {rate:.1f} {self.unit}s/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {(self.total - self.done) / rate:.0f} s left"
        return text

    def update(self, k: int) -> None:
        self.done += k
        now = time.monotonic()
        if now - self.last >= self.every:
            self._print(now)

    def _print(self, now: float) -> None:
        self.last, self.printed = now, self.done
        print(self._line(now), file=sys.stderr, flush=True)

    def close(self) -> None:
        """The last line, unless the last update printed it already."""
        if self.done != self.printed:
            self._print(time.monotonic())


def _executor(args: argparse.Namespace):
    from parksim.execution.executors import make_executor

    _flush_warnings()  # the input is accepted: say what was odd in it before the run starts

    from parksim.execution.executors import NoWorkers

    try:
        return make_executor(args.workers, args.scheduler,
                             getattr(args, "worker_timeout", 60.0))
    except NoWorkers as error:
        raise _NoWorkers(str(error)) from None
    except (OSError, TimeoutError, ValueError) as error:
        raise _Unreachable(
            f"cannot reach the Dask scheduler at {args.scheduler}: {error}"
        ) from None


class _Unreachable(Exception):
    pass


class _NoWorkers(_Unreachable):
    """The scheduler answers but has no workers: not bad input, so exit code 1."""

    exit_code = EXIT_FAILED


def _compare(args: argparse.Namespace) -> int:
    from parksim.forecast import run_forecast
    from parksim.io import ResultsDirError, claim_results_dir
    from parksim.report.table import comparison_table
    from parksim.results import write_results
    from parksim.scenario import ScenarioError, load_with_sources
    from parksim.scenario.loader import check_parameter_sets
    from parksim.scenario.priors import active, design
    from parksim.study.compare import Comparison, compare, comparison_files, write_comparison

    claim = None
    try:
        loaded = [load_with_sources(path) for path in args.scenarios]
        scenarios, compared_at = _common_target_date(
            [scenario for scenario, _ in loaded], args.scenarios, args.allow_different_dates)
        n = args.replications or scenarios[0].run.replications
        try:
            sets, _ = design(scenarios, n, args.parameter_sets, args.fixed)
        except ValueError as error:
            raise ScenarioError("--parameter-sets", str(error)) from None
        seed = scenarios[0].run.seed if args.seed is None else args.seed
        for scenario in scenarios:
            if sets and active(scenario.uncertain):
                check_parameter_sets(scenario, seed, sets)
        if args.report and args.output is None:
            raise ScenarioError("--report", "the report is written into the comparison's "
                                "results directory: give it with -o DIR")
        if args.output is not None:
            claim = claim_results_dir(args.output, args.force,
                                      leftovers=comparison_files(len(scenarios)))
    except (ScenarioError, ResultsDirError) as error:
        return _bad_input(error, args.json)
    stems = [Path(p).stem for p in args.scenarios]
    names = [stem if stems[:i].count(stem) == 0 else f"{stem} #{stems[:i].count(stem) + 1}"
             for i, stem in enumerate(stems)]  # a file given twice: name, name #2, ...

    def release(failed: bool) -> None:
        if claim is not None:
            claim.release(remove_if_empty=failed)

    try:
        executor = _executor(args)
    except _Unreachable as error:
        release(True)
        return _bad_input(error, args.json)
    except KeyboardInterrupt:
        release(True)
        print("parksim: interrupted; no results written", file=sys.stderr)
        return EXIT_INTERRUPTED
    bar = _progress(n * len(scenarios), "compare", args.quiet)
    earlier = _manifest_stamp(claim.path) if claim else None
    forecasts = []
    try:
        try:
            if args.report:  # each scenario's whole forecast, for the report's figures
                forecasts = [run_forecast(s, n, seed, executor,
                                          progress=bar.update if bar else None,
                                          parameter_sets=sets or None, fixed=args.fixed)
                             for s in scenarios]
                result = Comparison.from_targets(names, [f.scenario for f in forecasts],
                                                 [f.targets for f in forecasts], seed, sets)
            else:
                result = compare(scenarios, names, n, seed, executor,
                                 progress=bar.update if bar else None,
                                 parameter_sets=args.parameter_sets, fixed=args.fixed)
            summary = result.summary()
            if compared_at is not None:
                summary["compared_at"] = compared_at

            def write_forecasts(path: Path) -> dict[str, Any]:
                """Each scenario's forecast under ``path/forecasts/``, before the manifest."""
                listed = []
                for name, forecast, (_, sources) in zip(names, forecasts, loaded, strict=True):
                    where = f"forecasts/{_safe_name(name)}"
                    write_results(forecast, path / where,
                                  forecast.summary(results_dir=str(path / where)),
                                  sources=sources, command=args.command_line)
                    listed.append({"name": name, "dir": where})
                return {"forecasts": listed}

            if claim is not None:
                summary["results_dir"] = str(claim.path)
                write_comparison(result, claim.path, summary, force=args.force,
                                 sources=[s for _, sources in loaded for s in sources],
                                 command=args.command_line,
                                 before_manifest=write_forecasts if forecasts else None)
            release(False)
        finally:  # the bar is closed before anything is said
            if bar:
                bar.close()
            executor.close()
    except ScenarioError as error:
        release(True)
        return _bad_input(error, args.json)
    except KeyboardInterrupt:
        release(True)
        # the manifest is written last: a new one means the comparison is complete
        if claim is None or _manifest_stamp(claim.path) in (None, earlier):
            print(_interrupted(claim.path, comparison_files(len(scenarios))) if claim
                  else "parksim: interrupted; no results written", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"parksim: interrupted after the results were complete; they are in "
              f"{claim.path}", file=sys.stderr)
    except OSError as error:
        release(True)
        print(f"parksim: cannot write results to {args.output}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        release(True)
        return _failure("compare", error)
    with _interrupt_deferred(claim.path) if claim else contextlib.nullcontext():
        failed = claim is not None and _write_report(args, claim.path, summary)
        if args.json:
            print(json.dumps(summary, ensure_ascii=False, allow_nan=False))
        else:
            print(comparison_table(summary))
            if claim is not None:
                print(f"\nresults written to {claim.path}")
    return EXIT_FAILED if failed else EXIT_OK


def _common_target_date(scenarios: list[Any], files: list[str], allow: bool
                        ) -> tuple[list[Any], str | None]:
    """The scenarios to compare, and the date they are compared at when their target dates
    differ (``None`` when they agree): refused unless ``allow``, then all read at the
    earliest. A target date says only when the targets are read, never what is simulated."""
    from parksim.scenario import ScenarioError

    dates = sorted({s.targets.date for s in scenarios})
    if len(dates) == 1:
        return scenarios, None
    listed = ", ".join(f"{Path(f).name} {s.targets.date}"
                       for f, s in zip(files, scenarios, strict=True))
    if not allow:
        latest = [s.targets.date for s in scenarios].index(dates[-1])
        raise ScenarioError(str(files[latest]),
                            f"the scenarios' target dates differ ({listed}): their values "
                            "would be taken at different dates; --allow-different-dates "
                            f"compares them all at the earliest, {dates[0]}",
                            key="targets.date")
    print(f"parksim: note: the scenarios' target dates differ ({listed}); all are compared "
          f"at {dates[0]}", file=sys.stderr)
    return [s.model_copy(update={"targets": s.targets.model_copy(update={"date": dates[0]})})
            for s in scenarios], dates[0]


def _safe_name(name: str) -> str:
    """A scenario's name as one folder name (a path given as a name loses its slashes)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "scenario"



def _run_study(args: argparse.Namespace, name: str, target: Path, what: str,
               call) -> tuple[Any, int | None]:
    """Run a study's tasks (a sweep, a sensitivity study, a calibration) on the executor the
    flags ask for, with a progress bar: ``(result, None)``, or ``(None, exit code)`` after
    saying why (and what of the study ``target`` keeps: finished tasks, or a calibration's
    finished generations)."""
    from parksim.io import ResultsDirError

    kept = "finished generations" if what == "calibrate" else "finished tasks"
    try:
        executor = _executor(args)
    except _Unreachable as error:
        return None, _bad_input(error, args.json)
    bar = None

    def total(n: int | None) -> None:
        nonlocal bar
        bar = _progress(n, name, args.quiet, unit="run" if n is None else "task")

    try:
        try:
            return call(executor, lambda k: bar.update(k) if bar else None, total), None
        finally:  # the bar is closed before anything is said
            if bar:
                bar.close()
            executor.close()
    except ResultsDirError as error:
        return None, _bad_input(error, args.json)
    except KeyboardInterrupt:
        print(f"parksim: interrupted; {kept} are kept in {target}, "
              "run the same command to go on", file=sys.stderr)
        return None, EXIT_INTERRUPTED
    except OSError as error:
        print(f"parksim: cannot write to {target}: {error}; {kept} are kept",
              file=sys.stderr)
        return None, EXIT_FAILED
    except Exception as error:
        return None, _failure(what, error)


def _sweep(args: argparse.Namespace) -> int:
    from parksim.io import ResultsDirError
    from parksim.report.table import sweep_summary
    from parksim.scenario import ScenarioError
    from parksim.study.experiment import load_experiment
    from parksim.study.sweep import run_sweep

    target = Path(args.output) if args.output else Path("results") / Path(args.experiment).stem
    try:
        plan = load_experiment(args.experiment, fixed=args.fixed)
        if not args.resume and (target / "manifest.json").exists():
            raise ResultsDirError(f"{target}: already holds a sweep (and --no-resume was given)")
    except (ScenarioError, ResultsDirError) as error:
        return _bad_input(error, args.json)
    report, code = _run_study(
        args, plan.experiment.name, target, "sweep",
        lambda executor, progress, total: run_sweep(plan, target, executor,
                                                    rerun_failed=args.rerun_failed,
                                                    progress=progress, on_total=total))
    if code is not None:
        return code
    if args.json:
        print(json.dumps(report.as_dict(), allow_nan=False))
    else:
        print(sweep_summary(report.as_dict()))
    return EXIT_TASKS_FAILED if report.failed else EXIT_OK


def _sensitivity(args: argparse.Namespace) -> int:
    from parksim.io import ResultsDirError
    from parksim.report.table import sensitivity_table
    from parksim.scenario import ScenarioError
    from parksim.study.experiment import load_experiment
    from parksim.study.sensitivity import analyse_sweep, run_sensitivity

    if (args.experiment is None) == (args.sweep is None):
        return _bad_input(ScenarioError("<arguments>", "give an experiment file or --from DIR "
                                        "(one of them)"), args.json)
    if args.sweep is not None:
        out = Path(args.output) if args.output else Path(f"{args.sweep.rstrip('/')}-sensitivity")
        try:
            result = analyse_sweep(args.sweep, out)
        except ResultsDirError as error:
            return _bad_input(error, args.json)
        except (FileNotFoundError, ValueError) as error:
            return _bad_input(ScenarioError(args.sweep, str(error)), args.json)
        return _sensitivity_out(result, out, args, sensitivity_table)
    out = (Path(args.output) if args.output
           else Path("results") / f"{Path(args.experiment).stem}-sensitivity")
    try:
        plan = load_experiment(args.experiment, fixed=args.fixed)
        if plan.problem is None or plan.problem["kind"] not in ("sobol", "morris"):
            raise ScenarioError(args.experiment, "sensitivity needs a sobol or morris design",
                                key="design.kind")
    except ScenarioError as error:
        return _bad_input(error, args.json)
    result, code = _run_study(
        args, plan.experiment.name, out / "sweep", "sensitivity",
        lambda executor, progress, total: run_sensitivity(plan, out, executor, progress, total))
    if code is not None:
        return code
    if result.sweep is not None and not result.sweep.complete:
        print(f"parksim: {result.warnings[0]}", file=sys.stderr)
        if args.json:
            print(json.dumps({"sweep": result.sweep.as_dict(), "indices": None},
                             allow_nan=False))
        return EXIT_TASKS_FAILED
    return _sensitivity_out(result, out, args, sensitivity_table)


def _sensitivity_out(result, out: Path, args: argparse.Namespace, table) -> int:
    summary = {**result.summary, "results_dir": str(out)}
    if result.sweep is not None:
        summary["sweep_report"] = result.sweep.as_dict()
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, allow_nan=False))
    else:
        print(table(summary))
        print(f"\nresults written to {out}  (parksim.load_results(dir): one row per output "
              "and factor)")
    return EXIT_OK


def _counter(progress, total):
    """A progress callback for runs whose number is not known in advance."""
    total(None)
    return progress


def _calibrate(args: argparse.Namespace) -> int:
    from parksim.report.table import calibration_table
    from parksim.scenario import ScenarioError
    from parksim.study.calibration import (
        load_calibration,
        run_calibration,
        write_calibrated_scenario,
    )

    out = Path(args.output) if args.output else Path("results") / Path(args.calibration).stem
    try:
        plan = load_calibration(args.calibration)
        if args.scenario is not None and (Path(args.scenario).suffix != ".toml"
                                          or not Path(args.scenario).parent.is_dir()):
            raise ScenarioError(args.scenario, "--scenario must name a .toml file in an "
                                "existing folder")
    except ScenarioError as error:
        return _bad_input(error, args.json)
    try:
        import pyabc  # noqa: F401
    except ImportError:
        print("parksim: calibrate needs pyabc: pip install 'parksim[calibration]'",
              file=sys.stderr)
        return EXIT_FAILED
    result, code = _run_study(
        args, plan.file.name, out, "calibrate",
        lambda executor, progress, total: run_calibration(plan, out, executor,
                                                          progress=_counter(progress, total)))
    if code is not None:
        return code
    summary = {**result.summary, "results_dir": str(out)}
    if args.scenario is not None:
        command = " ".join(["parksim calibrate", args.calibration, "--scenario", args.scenario])
        written, sample = write_calibrated_scenario(plan, result, args.scenario, command)
        summary["scenario"], summary["scenario_sample"] = str(written), str(sample)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, allow_nan=False))
    else:
        print(calibration_table(summary))
        print(f"\nresults written to {out}  (calibrated.toml extends the scenario with the "
              "posterior)")
        if args.scenario is not None:
            print(f"calibrated scenario written to {summary['scenario']} (its posterior: "
                  f"{summary['scenario_sample']})")
    return EXIT_OK


_show_python_warning = warnings.showwarning


FIGURE_NAMES = ("fan", "pmet", "ledger", "parks", "occupancy", "grades", "survival",
                "sensitivity", "posterior", "ppc")
"""``parksim.plot.FIGURES``' names (written out here so that ``--help`` imports no plotting)."""
TARGET_NAMES = ("parks", "floor_area_m2", "firms", "upgrades", "tech_firms", "demo_parks")


def _plot(args: argparse.Namespace) -> int:
    from parksim import plot
    from parksim.io import read_manifest
    from parksim.results import load_forecast
    from parksim.study.sensitivity import load_sensitivity

    out = Path(args.output or (args.figure + (f"-{args.target}" if args.target else "")
                               + ".png"))
    try:
        if args.figure == "fan" and args.target is None:
            raise ValueError("the fan figure needs --target (one of: "
                             f"{', '.join(TARGET_NAMES)})")
        if out.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise ValueError(f"{out}: the image's extension must be .png, .svg or .pdf")
        if not out.parent.is_dir():
            raise ValueError(f"{out}: no such folder {out.parent}")
        kind = read_manifest(args.results).get("kind")
        drawn_from = {"sensitivity": ("sensitivity", "a sensitivity study (parksim sensitivity)"),
                      "posterior": ("calibration", "a calibration (parksim calibrate)"),
                      "ppc": ("calibration", "a calibration (parksim calibrate)")}
        needed, source = drawn_from.get(args.figure, ("forecast", "a forecast (parksim run)"))
        if kind == "comparison" and args.figure == "pmet":
            data: Any = json.loads((Path(args.results) / "summary.json").read_text("utf-8"))
        elif kind != needed:
            raise ValueError(f"{args.results}: holds {kind!r} results; the {args.figure} "
                             f"figure is drawn from {source}"
                             + (" or a comparison (parksim compare -o)"
                                if args.figure == "pmet" else ""))
        elif kind == "sensitivity":
            data = load_sensitivity(args.results)
        elif kind == "calibration":
            data = plot.read_calibration(args.results)
        else:
            data = load_forecast(args.results)
        figure = plot.FIGURES[args.figure]
        fig = figure(data, args.target) if args.figure == "fan" else figure(data)
    except (OSError, ValueError) as error:
        return _bad_input(error, False)
    try:
        with warnings.catch_warnings():  # without a CJK font a PlotWarning has said so, once
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            fig.savefig(out)
    except OSError as error:
        print(f"parksim: cannot write {out}: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"parksim: {args.figure} figure written to {out}", file=sys.stderr)
    return EXIT_OK


_PENDING: list[str] = []
"""Warnings about the input, held until the input is known to be good: bad input is one line."""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A scenario's or a figure's warning as one line, ``parksim: warning: ...``, printed once
    the input has been accepted (:func:`_flush_warnings`); a worker's while it runs; others
    as Python shows them."""
    if category.__name__ in ("ScenarioWarning", "PlotWarning", "ResultsWarning"):
        _PENDING.append(f"parksim: warning: {message}")
    elif category.__name__ == "WorkerWarning":  # while running: said at once
        print(f"parksim: warning: {message}", file=sys.stderr, flush=True)
    else:
        _show_python_warning(message, category, filename, lineno, file, line)


def _flush_warnings(show: bool = True) -> None:
    if show:
        for text in _PENDING:
            print(text, file=sys.stderr)
    _PENDING.clear()


def _check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse an empty ``-o`` or ``--scheduler`` (which would silently mean the current folder
    or the local pool) and an output name longer than the file system allows, as flag
    errors: one line, exit code 2."""
    for flag, name in (("-o/--output", "output"), ("--scheduler", "scheduler")):
        value = getattr(args, name, None)
        if value is not None and not str(value).strip():
            what = "an address" if name == "scheduler" else "a path"
            parser.error(f"argument {flag}: expected {what}, got an empty string")
    output = getattr(args, "output", None)
    if output:
        for part in Path(output).parts:
            if len(os.fsencode(part)) > 255:
                parser.error(f"argument -o/--output: the name {part[:40]}... is longer than "
                             "the file system allows (255 bytes)")


def _escape(error: UnicodeError) -> tuple[str, int]:
    """What a stream that cannot encode a character writes instead: ``\\uXXXX`` (a surrogate
    pair beyond the first plane), which reads as the character in JSON and is legible in
    text."""
    text = error.object[error.start:error.end]
    out = []
    for ch in text:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out), error.end


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``parksim`` console script and ``python -m parksim``."""
    command_line = list(sys.argv) if argv is None else ["parksim", *map(str, argv)]
    codecs.register_error("parksim-escape", _escape)
    for stream in (sys.stdout, sys.stderr):  # a terminal or pipe that cannot show Chinese
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="parksim-escape")  # degrades, never crashes
    parser = build_parser(json_errors="--json" in command_line[1:])
    args = parser.parse_args(command_line[1:])
    _check_paths(parser, args)
    args.command_line = command_line
    warnings.showwarning = _show_warning
    handler = {"run": _run, "validate": _validate, "compare": _compare, "sweep": _sweep,
               "sensitivity": _sensitivity, "calibrate": _calibrate, "plot": _plot,
               "report": _report}[args.command]
    code = EXIT_FAILED
    try:
        code = handler(args)
        return code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
        print("parksim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        code = EXIT_OK
        return EXIT_OK
    finally:
        _flush_warnings(show=code != EXIT_BAD_INPUT)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
