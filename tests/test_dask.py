"""Forecasts, sweeps and comparisons on a real Dask cluster, started with Dask's own commands.

A module-scoped fixture starts ``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1 (each in its own session, so a worker's nanny and its worker process can be killed
together) and tears them down afterwards, whatever happens. The tests check that a Dask run
gives the same results as the local pool, that a sweep survives a worker killed mid-way, that
an unreachable scheduler is a one-line error, and that a scheduler killed mid-sweep is one line
(no Dask traceback) and leaves a sweep the same command resumes, even against a restarted
scheduler without workers. If Dask cannot start here, the tests fail: CI has the same
environment.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import calibration_text

import parksim
from parksim.execution.executors import DaskExecutor, LocalExecutor, SchedulerLost
from parksim.study.experiment import load_experiment
from parksim.study.sweep import run_sweep

REPO_DIR = Path(__file__).resolve().parent.parent
BASELINE = REPO_DIR / "scenarios" / "baseline.toml"
TINY = ["district.firms=1500", 'calendar.horizon="2019-12"', 'targets.date="2019-12"']
START_TIMEOUT = 60.0  # seconds for a cluster to come up with both workers
CLI_TIMEOUT = 120.0  # seconds for one parksim command


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_command() -> str:
    """The ``dask`` command of this interpreter (next to it), else the one on PATH."""
    here = Path(sys.executable).parent / "dask"
    if here.exists():
        return str(here)
    found = shutil.which("dask")
    if found is None:
        pytest.fail("the `dask` command is not on PATH: cannot start a Dask cluster")
    return found


def _bounded(fn, timeout: float, what: str, logs=lambda: ""):
    """``fn()`` in a daemon thread; fail the test if it has not returned within ``timeout`` s."""
    out: dict = {}

    def call() -> None:
        try:
            out["value"] = fn()
        except BaseException as error:  # noqa: BLE001 -- re-raised in the caller
            out["error"] = error

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{what}: no answer within {timeout:.0f} s\n{logs()}")
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PARKSIM_DEBUG"}


class Cluster:
    """A scheduler and two workers, each a ``dask`` command in its own process group."""

    def __init__(self, workdir: Path, workers: int = 2):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.n_workers = workers
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._retired: list[subprocess.Popen] = []  # a killed scheduler, stopped workers
        self._started = 0  # schedulers started at this address
        self._logs: list = []

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 -- closed in stop()
        self._logs.append(log)
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            env=_env(),
            start_new_session=True,
        )

    def logs(self) -> str:
        out = []
        for path in sorted(self.workdir.glob("*.log")):
            text = path.read_text(encoding="utf-8", errors="replace")
            out.append(f"--- {path.name} (last 3000 chars) ---\n{text[-3000:]}")
        return "\n".join(out)

    def _check_alive(self, what: str) -> None:
        for proc in [self.scheduler, *self.workers]:
            if proc is not None and proc.poll() is not None:
                pytest.fail(f"{what}: `{' '.join(map(str, proc.args))}` exited with code "
                            f"{proc.returncode}\n{self.logs()}")

    def _spawn_scheduler(self) -> None:
        self._started += 1
        name = "scheduler" if self._started == 1 else f"scheduler-{self._started}"
        self.scheduler = self._spawn(
            name,
            [_dask_command(), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--no-dashboard"],
        )

    def _spawn_worker(self) -> None:
        i = len(self.workers) + len(self._retired)
        self.workers.append(
            self._spawn(
                f"worker-{i}",
                [_dask_command(), "worker", self.address, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard", "--host", "127.0.0.1", "--name", f"parksim-test-{i}",
                 "--memory-limit", "0"],
            )
        )

    def start(self) -> None:
        self._spawn_scheduler()
        for _ in range(self.n_workers):
            self._spawn_worker()
        self._await(self.n_workers, time.monotonic() + START_TIMEOUT, "starting")

    def restart_scheduler(self) -> None:
        """A new scheduler at the same address (no workers), after the last one was killed."""
        assert self.scheduler is None, "kill the scheduler first"
        self._spawn_scheduler()
        self._await(0, time.monotonic() + START_TIMEOUT, "restarting")

    def _await(self, workers: int, deadline: float, what: str) -> None:
        """Wait until the scheduler listens and ``workers`` workers have joined it."""
        from distributed import Client

        # the scheduler listens ...
        while True:
            self._check_alive(f"{what} the Dask cluster")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the Dask scheduler did not listen on {self.address} "
                    f"within {START_TIMEOUT} s\n{self.logs()}"
                )
            time.sleep(0.1)
        # ... and the workers have joined. The client is not the default one, so that code
        # under test that needs a default client is not rescued by the fixture's. A client can
        # wait past its own timeout, so the wait runs in a thread bounded by the deadline.
        def workers_joined() -> None:
            if not workers:  # a scheduler alone
                return
            with Client(self.address, timeout=20, set_as_default=False) as client:
                while True:
                    try:
                        client.wait_for_workers(workers, timeout=2)
                        return
                    except TimeoutError:
                        if any(p.poll() is not None for p in [self.scheduler, *self.workers]) \
                                or time.monotonic() > deadline:
                            return

        _bounded(
            workers_joined,
            max(1.0, deadline - time.monotonic()) + 5,
            "waiting for the Dask workers",
            self.logs,
        )
        self._check_alive(f"{what} the Dask workers")
        if workers and self.worker_count() < workers:
            pytest.fail(
                f"the Dask scheduler at {self.address} did not see {workers} workers "
                f"within {START_TIMEOUT} s\n{self.logs()}"
            )

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> pid of the process that runs the tasks (the nanny's child)."""
        from distributed import Client

        def pids() -> dict[str, int]:
            with Client(self.address, timeout=20, set_as_default=False) as client:
                return client.run(os.getpid)

        return _bounded(pids, 30, "asking the Dask workers for their pids", self.logs)

    def worker_count(self) -> int:
        from distributed import Client

        def count() -> int:
            with Client(self.address, timeout=20, set_as_default=False) as client:
                return len(client.scheduler_info()["workers"])

        return _bounded(count, 30, "asking the Dask scheduler for its workers", self.logs)

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def kill_scheduler(self) -> None:
        """SIGKILL the scheduler's process group: it dies as a crashed machine's would."""
        assert self.scheduler is not None
        self._signal_group(self.scheduler, signal.SIGKILL)
        self.scheduler.wait(timeout=10)
        self._retired.append(self.scheduler)
        self.scheduler = None

    def kill_workers(self) -> None:
        """SIGKILL every worker, as a restart of their machines does."""
        for i in range(len(self.workers)):
            self.kill_worker(i)
        self._retired.extend(self.workers)
        self.workers = []

    def kill_worker(self, i: int) -> None:
        """SIGKILL worker ``i``'s whole process group (its nanny and its worker process)."""
        self._signal_group(self.workers[i], signal.SIGKILL)
        self.workers[i].wait(timeout=10)

    def _stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # whatever is left in the group (the worker process, the resource tracker) goes too
        self._signal_group(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def stop(self) -> None:
        procs = [*self.workers, *([self.scheduler] if self.scheduler else []), *self._retired]
        for proc in procs:  # workers first, so they do not try to reconnect
            self._stop(proc)
        for log in self._logs:
            log.close()


@contextlib.contextmanager
def _running_cluster(workdir: Path) -> Iterator[Cluster]:
    cluster = Cluster(workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A scheduler and two single-threaded workers, shared by the tests that do not kill one."""
    with _running_cluster(tmp_path_factory.mktemp("dask-cluster")) as cluster:
        yield cluster


@pytest.fixture
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster of its own, for a test that kills a worker."""
    with _running_cluster(tmp_path_factory.mktemp("dask-cluster-own")) as cluster:
        yield cluster


def _experiment(tmp_path: Path, name: str, replications: int, seed: int = 20190723,
                overrides: list[str] | None = None) -> Path:
    overrides = ", ".join(json.dumps(o) for o in (TINY if overrides is None else overrides))
    text = f"""
name = "{name}"
scenario = {json.dumps(str(BASELINE))}
overrides = [{overrides}]
replications = {replications}
seed = {seed}
outputs = ["targets", "fiscal"]

[design]
kind = "grid"

[[factors]]
path = "policies.finance.take_up"
values = [0.2, 0.45, 0.7]

[[factors]]
path = "policies.land.take_up"
values = [0.3, 0.6, 0.9]
"""
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _parksim(*args, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parksim", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=_env(),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _pid(worker: str) -> int:
    return int(worker.rsplit(":", 1)[1])


def test_cluster_is_up(dask_cluster: Cluster) -> None:
    pids = dask_cluster.worker_pids()
    assert len(pids) == 2
    for i, proc in enumerate(dask_cluster.workers):
        assert proc.poll() is None, f"worker {i} is not running"


def test_sweep_on_dask_equals_local_pool(tmp_path: Path, dask_cluster: Cluster) -> None:
    exp = _experiment(tmp_path, "grid_local_vs_dask", replications=10)  # 90 tasks
    local, remote = tmp_path / "local", tmp_path / "dask"

    done = _parksim("sweep", exp, "-o", local, "-w", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    done = _parksim("sweep", exp, "-o", remote, "--scheduler", dask_cluster.address, "--quiet")
    assert done.returncode == 0, f"sweep on Dask failed (exit {done.returncode}):\n{done.stderr}"
    assert "Dask cluster at" in done.stdout

    a, b = parksim.load_results(local), parksim.load_results(remote)
    assert len(a) == 90 and (a["status"] == "ok").all()
    pd.testing.assert_frame_equal(a, b)

    meta = parksim.load_results(remote, meta=True)
    assert meta["key"].is_unique and len(meta) == 90
    workers = meta["worker"].value_counts()
    assert len(workers) == 2, f"expected rows from both Dask workers, got {workers.to_dict()}"
    dask_pids = set(dask_cluster.worker_pids().values())
    assert {_pid(w) for w in workers.index} == dask_pids, (
        "rows were not computed by the Dask workers"
    )


def test_compare_on_dask_equals_local_pool(tmp_path: Path, dask_cluster: Cluster) -> None:
    a = tmp_path / "a_base.toml"
    b = tmp_path / "b_boost.toml"
    a.write_text(
        f'extends = {json.dumps(str(BASELINE))}\nname = "a"\n{_toml_overrides()}', encoding="utf-8"
    )
    b.write_text(
        f'extends = {json.dumps(str(a))}\nname = "b"\n'
        "[policies.finance]\ntake_up = 0.7\n[policies.land]\ntake_up = 0.95\n",
        encoding="utf-8",
    )

    local = _parksim("compare", a, b, "-n", "12", "-w", "2", "--json", "--quiet")
    assert local.returncode == 0, local.stderr
    remote = _parksim(
        "compare", a, b, "-n", "12", "--scheduler", dask_cluster.address, "--json", "--quiet"
    )
    assert remote.returncode == 0, (
        f"compare on Dask failed (exit {remote.returncode}):\n{remote.stderr}"
    )

    expected, got = json.loads(local.stdout), json.loads(remote.stdout)
    assert expected["replications"] == 12 and expected["scenarios"] == ["a_base", "b_boost"]
    assert len(expected["targets"]) > 0
    assert got == expected


def test_run_on_dask_equals_local_pool(tmp_path: Path, dask_cluster: Cluster) -> None:
    """``parksim run --scheduler``: the local pool's forecast, tables and records included,
    integrated over the baseline's priors (5 parameter sets of 2 replications)."""
    sets = [arg for item in TINY for arg in ("--set", item)] + ["--parameter-sets", "5"]
    local, remote = tmp_path / "local", tmp_path / "dask"
    done = _parksim(
        "run", BASELINE, *sets, "-n", "10", "-w", "2", "--records", "--json", "--quiet", "-o", local
    )
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout)
    done = _parksim(
        "run",
        BASELINE,
        *sets,
        "-n",
        "10",
        "--scheduler",
        dask_cluster.address,
        "--records",
        "--json",
        "--quiet",
        "-o",
        remote,
    )
    assert done.returncode == 0, f"run on Dask failed (exit {done.returncode}):\n{done.stderr}"
    got = json.loads(done.stdout)
    assert expected["parameter_sets"] == got["parameter_sets"] == 5

    assert expected["executor"] == "local pool, 2 workers"
    assert got["executor"] == f"Dask cluster at {dask_cluster.address}, 2 worker threads"
    assert expected["replications"] == got["replications"] == 10 and len(expected["observed"]) > 0
    for field in ("targets", "all_met_probability", "all_met_ci", "observed", "fiscal_cost_yuan",
                  "cost_per_upgrade_yuan", "park_investment_yuan"):
        assert got[field] == expected[field], field
    a, b = parksim.load_results(local), parksim.load_results(remote)
    for table in ("targets", "series", "parks", "records"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), obj=table)
    assert b.manifest["workers"] == 2

    # and from Python, on the same cluster
    scenario = parksim.load_scenario(BASELINE, overrides=TINY)
    forecast = _bounded(
        lambda: parksim.simulate(scenario, replications=10, scheduler=dask_cluster.address,
                                 parameter_sets=5),
        CLI_TIMEOUT,
        "simulate on the Dask cluster",
        dask_cluster.logs,
    )
    pd.testing.assert_frame_equal(forecast.targets, a.targets)
    assert [o["median"] for o in forecast.summary()["observed"]] == [
        o["median"] for o in expected["observed"]
    ]


def test_calibration_on_dask_equals_local_pool(tmp_path: Path, dask_cluster: Cluster) -> None:
    """``parksim calibrate --scheduler``: the posterior the local pool gives, particle for
    particle (proposals are evaluated in batches and accepted in proposal order)."""
    pytest.importorskip("pyabc")
    path = tmp_path / "calibration.toml"
    path.write_text(calibration_text(
        BASELINE, name="on_dask", overrides=["district.firms=1500", "observations=[]"],
        parameters=["district.floor_m2_per_million_yuan", "district.acceptance_probability"],
        seed=3, population=12, generations=2, predictive=6), encoding="utf-8")
    local, remote = tmp_path / "local", tmp_path / "dask"
    done = _parksim("calibrate", path, "-o", local, "-w", "2", "--json", "--quiet",
                    timeout=300)
    assert done.returncode == 0, done.stderr
    done = _parksim("calibrate", path, "-o", remote, "--scheduler", dask_cluster.address,
                    "--json", "--quiet", timeout=300)
    assert done.returncode == 0, f"calibrate on Dask failed:\n{done.stderr}"
    pd.testing.assert_frame_equal(parksim.load_results(local), parksim.load_results(remote))
    expected, got = (json.loads((d / "summary.json").read_text()) for d in (local, remote))
    assert got["generations"] == expected["generations"]
    assert got["predictive"] == expected["predictive"]


def _toml_overrides() -> str:
    """TINY as TOML tables, for a scenario file."""
    return ("[district]\nfirms = 1500\n"
            '[calendar]\nhorizon = "2019-12"\n'
            '[targets]\ndate = "2019-12"\n')


CONNECT_TIMEOUT = 8
"""Seconds the bad-address runs wait for an answer: Dask's connect timeout, set through the
environment as a user would (30 s by default)."""
BAD_ADDRESS_LIMIT = CONNECT_TIMEOUT + 15.0


class _NotDask(http.server.BaseHTTPRequestHandler):
    """An HTTP server, as at a scheduler's dashboard port: it listens, but is not a scheduler."""

    def do_GET(self) -> None:  # noqa: N802 -- http.server's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"dashboard")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def bad_address_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``parksim sweep --scheduler`` at a closed port and at a port where an HTTP server listens,
    started together (each may take the client's whole connect timeout) and collected by the
    tests."""
    tmp = tmp_path_factory.mktemp("bad-scheduler")
    exp = _experiment(tmp, "bad_scheduler", replications=2)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotDask)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    addresses = {
        "closed": f"tcp://127.0.0.1:{_free_port()}",  # bound and released: nothing listens there
        "http": f"tcp://127.0.0.1:{server.server_address[1]}",
    }
    runs = {}
    for case, address in addresses.items():
        out = tmp / f"out-{case}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "parksim", "sweep", str(exp), "-o", str(out),
             "--scheduler", address, "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env={**_env(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": f"{CONNECT_TIMEOUT}s"},
            start_new_session=True,
        )
        runs[case] = {"proc": proc, "started": time.monotonic(), "out": out, "address": address}
    try:
        yield runs
    finally:
        for run in runs.values():
            proc = run["proc"]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=10)
        server.shutdown()
        server.server_close()


def _finish(run: dict) -> tuple[int, str, str, float]:
    """Wait for a bad-address run, at most BAD_ADDRESS_LIMIT s after it started."""
    proc = run["proc"]
    try:
        stdout, stderr = proc.communicate(
            timeout=max(0.0, run["started"] + BAD_ADDRESS_LIMIT - time.monotonic())
        )
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=10)
        pytest.fail(
            f"`parksim sweep --scheduler {run['address']}` still had not answered after "
            f"{BAD_ADDRESS_LIMIT:.0f} s (the client timeout is {CONNECT_TIMEOUT} s); "
            f"stderr: {stderr!r}"
        )
    return proc.returncode, stdout, stderr, time.monotonic() - run["started"]


def _assert_one_line_error(run: dict, returncode: int, stdout: str, stderr: str) -> list[str]:
    assert returncode == 2, (returncode, stderr)
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert stdout == ""
    assert not run["out"].exists(), "nothing should be written when the scheduler cannot be reached"
    return lines


def test_unreachable_scheduler_is_a_one_line_error(bad_address_runs: dict) -> None:
    run = bad_address_runs["closed"]
    returncode, stdout, stderr, elapsed = _finish(run)
    lines = _assert_one_line_error(run, returncode, stdout, stderr)
    assert lines[0].startswith(
        f"parksim: error: cannot reach the Dask scheduler at {run['address']}"
    ), lines[0]
    # a refused connection is retried until the client's 30 s timeout: slow, but bounded
    assert elapsed < BAD_ADDRESS_LIMIT


def test_address_that_is_not_a_scheduler_is_a_one_line_error(bad_address_runs: dict) -> None:
    """E.g. the dashboard's port given by mistake: something listens there, but not Dask."""
    run = bad_address_runs["http"]
    returncode, stdout, stderr, elapsed = _finish(run)
    lines = _assert_one_line_error(run, returncode, stdout, stderr)
    assert lines[0].startswith("parksim: error:") and run["address"] in lines[0], lines[0]
    assert elapsed < BAD_ADDRESS_LIMIT


def test_sweep_survives_a_killed_worker(tmp_path: Path, own_cluster: Cluster) -> None:
    exp = _experiment(tmp_path, "kill_a_worker", replications=12, seed=7)  # 108 tasks
    plan = load_experiment(exp)
    assert plan.tasks == 108

    local_dir = tmp_path / "local"
    local_report = run_sweep(plan, local_dir, LocalExecutor(1))
    assert local_report.failed == 0 and local_report.run == 108

    pids = own_cluster.worker_pids()  # worker address -> pid of its task-running process
    assert len(pids) == 2
    group = {addr: next(i for i, p in enumerate(own_cluster.workers) if p.pid == os.getpgid(pid))
             for addr, pid in pids.items()}

    executor = _bounded(
        lambda: DaskExecutor(own_cluster.address),
        40,
        "connecting to the Dask cluster",
        own_cluster.logs,
    )
    arrived = 0
    kill: dict = {}

    def progress(n: int) -> None:
        nonlocal arrived
        arrived += n
        if not kill:  # the first results are in: kill a worker that is running tasks right now
            busy = {addr: keys for addr, keys in executor.client.processing().items() if keys}
            victim = sorted(busy)[0] if busy else sorted(pids)[0]
            own_cluster.kill_worker(group[victim])
            kill.update(
                address=victim, pid=pids[victim], arrived=arrived, busy=len(busy.get(victim, ()))
            )

    dask_dir = tmp_path / "dask"
    outcome: dict = {}

    def sweep() -> None:
        try:
            outcome["report"] = run_sweep(
                plan, dask_dir, executor, progress=progress, flush_rows=10, flush_seconds=0.5
            )
        except BaseException as error:  # noqa: BLE001 -- handed to the test thread
            outcome["error"] = error
        finally:
            executor.close()

    thread = threading.Thread(target=sweep, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), (
        f"the sweep hung after a worker was killed ({arrived} of 108 rows arrived)"
    )
    if "error" in outcome:
        raise outcome["error"]

    report = outcome["report"]
    assert kill, "no results arrived, so no worker was killed"
    assert kill["busy"] > 0, f"the killed worker was running no task: {kill}"
    assert kill["arrived"] < 108, "every task had finished before the kill: not a mid-sweep kill"
    assert own_cluster.workers[group[kill["address"]]].poll() is not None, (
        "the killed worker is still running"
    )
    assert own_cluster.worker_count() == 1, "the scheduler still lists the killed worker"
    assert report.failed == 0, report
    assert report.run == 108 and report.complete, report

    meta = parksim.load_results(dask_dir, meta=True)
    assert len(meta) == 108 and meta["key"].is_unique
    assert (meta["status"] == "ok").all()
    survivor = next(p for p in pids.values() if p != kill["pid"])
    assert survivor in {_pid(w) for w in meta["worker"]}
    pd.testing.assert_frame_equal(parksim.load_results(local_dir), parksim.load_results(dask_dir))


def test_a_scheduler_without_workers_is_said_and_given_up_on(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """A real ``dask scheduler`` with no worker: the command says it waits, gives up after
    --worker-timeout with exit code 1 and one line naming how to start a worker, and leaves
    no results directory; never a silent wait."""
    cluster = Cluster(tmp_path_factory.mktemp("dask-no-workers"), workers=0)
    try:
        cluster.start()
        out = tmp_path / "out"
        sets = [arg for item in TINY for arg in ("--set", item)]
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "parksim", "run", str(BASELINE), *sets, "-n", "2", "-q",
             "--scheduler", cluster.address, "--worker-timeout", "3", "-o", str(out)],
            capture_output=True, text=True, encoding="utf-8", env=_env(), timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert time.monotonic() - started < 40
        lines = proc.stderr.strip().splitlines()
        assert lines[0].startswith("parksim: warning: the Dask scheduler at")
        assert "waiting" in lines[0]
        assert lines[-1].startswith("parksim: error: no worker joined")
        assert "dask worker" in lines[-1]
        assert len(lines) == 2 and "Traceback" not in proc.stderr
        assert not out.exists()
    finally:
        cluster.stop()


CHEAP = ["district.firms=200", 'calendar.horizon="2019-03"', 'targets.date="2019-03"']
"""The cheapest tasks that still run the model, for a sweep long enough to be cut mid-way."""
KILLED_LIMIT = 30.0  # seconds a command may take to stop once its scheduler is killed


@contextlib.contextmanager
def _background(*args, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """``python -m parksim ARGS`` running in its own session; killed on the way out if still
    running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "parksim", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        env=_env() if env is None else env,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=10)
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()


def _kill_scheduler_when(cluster: Cluster, proc: subprocess.Popen, ready, what: str
                         ) -> tuple[int, str, str, float]:
    """SIGKILL the scheduler as soon as ``ready()`` holds while ``proc`` still runs; then wait
    for ``proc`` to stop: its exit code, stdout, stderr and seconds from the kill to its end."""
    deadline = time.monotonic() + CLI_TIMEOUT
    while not ready():
        if proc.poll() is not None:
            stdout, stderr = proc.communicate()
            pytest.fail(f"the command ended (exit {proc.returncode}) before {what}: "
                        f"nothing to kill mid-way\n{stdout}{stderr}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {CLI_TIMEOUT:.0f} s\n{cluster.logs()}")
        time.sleep(0.02)
    assert proc.poll() is None, "the command ended before its scheduler was killed"
    cluster.kill_scheduler()
    killed = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=KILLED_LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=10)
        pytest.fail(f"the command hung after its scheduler was killed; stderr: {stderr!r}")
    return proc.returncode, stdout, stderr, time.monotonic() - killed


def _files(path: Path) -> dict[str, bytes]:
    """Every file under ``path``, by its relative name."""
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*"))
            if f.is_file()}


def _shards(path: Path) -> list[Path]:
    return sorted((path / "shards").glob("part-*.parquet")) if (path / "shards").is_dir() else []


def _rows(path: Path) -> int:
    return sum(pq.read_metadata(shard).num_rows for shard in _shards(path))


def test_a_killed_scheduler_stops_a_sweep_in_one_line_and_the_sweep_resumes(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The scheduler SIGKILLed mid-sweep: exit 1 at once with parksim's one line and no Dask
    traceback, its shards kept; the same command against the restarted scheduler without
    workers gives up after --worker-timeout touching nothing; the sweep then resumes and
    ends equal to an undisturbed run."""
    exp = _experiment(tmp_path, "scheduler_dies", replications=70, overrides=CHEAP)  # 630 tasks
    out, reference = tmp_path / "dask", tmp_path / "local"
    # One worker: the first shard (5 s or 500 rows) comes well before the end, and the
    # undisturbed run, on the local pool, has the other core meanwhile.
    cluster = Cluster(tmp_path_factory.mktemp("dask-scheduler-dies"), workers=1)
    with _background("sweep", exp, "-o", reference, "-w", "1", "--quiet") as undisturbed:
        try:
            cluster.start()
            command = ["sweep", exp, "-o", out, "--scheduler", cluster.address,
                       "--worker-timeout", "2", "--quiet"]
            with _background(*command) as proc:
                code, stdout, stderr, seconds = _kill_scheduler_when(
                    cluster, proc, lambda: bool(_shards(out)), "a first shard was written")
            assert code == 1, stderr
            assert "Traceback" not in stderr and "distributed" not in stderr, stderr
            lines = stderr.strip().splitlines()
            assert len(lines) == 1, stderr
            assert lines[0].startswith("parksim: sweep failed: SchedulerLost: lost the "
                                       f"connection to the Dask scheduler at {cluster.address}"
                                       ), lines[0]
            assert stdout == ""
            assert seconds < 15, f"{seconds:.1f} s to stop after the scheduler was killed"
            kept, rows = _files(out), _rows(out)
            assert 0 < rows < 630, f"{rows} rows kept: not a mid-sweep kill"

            cluster.kill_workers()
            cluster.restart_scheduler()  # at the same address, without workers
            started = time.monotonic()
            done = _parksim(*command, timeout=60)
            assert done.returncode == 1, done.stderr
            assert time.monotonic() - started < 40
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 2 and "Traceback" not in done.stderr, done.stderr
            assert lines[0].startswith(f"parksim: warning: the Dask scheduler at "
                                       f"{cluster.address}"), lines[0]
            assert lines[-1].startswith("parksim: error: no worker joined"), lines[-1]
            assert f"dask worker {cluster.address}" in lines[-1]
            assert _files(out) == kept, "the sweep directory changed while no worker was there"
        finally:
            cluster.stop()
        # it resumes (on the local pool: quicker here than workers joining the new scheduler)
        done = _parksim("sweep", exp, "-o", out, "-w", "2", "--quiet", "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert (report["skipped"], report["run"], report["failed"]) == (rows, 630 - rows, 0)
        _, err = undisturbed.communicate(timeout=CLI_TIMEOUT)
        assert undisturbed.returncode == 0, err
    now = _files(out)
    assert all(now.get(name) == data for name, data in kept.items()), (
        "a file written before the kill was rewritten or removed")
    assert _rows(out) == 630, "tasks kept were run again"
    pd.testing.assert_frame_equal(parksim.load_results(reference), parksim.load_results(out))


def _until(condition, timeout: float, what: str) -> None:
    """Poll ``condition()`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.02)


def test_a_scheduler_lost_before_the_first_tasks_is_said_at_once(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A scheduler lost between connecting and sending the first tasks: SchedulerLost at once,
    not after the client's 30 s of reconnecting (Dask cancels only the futures it holds)."""
    plan = load_experiment(_experiment(tmp_path, "lost_early", replications=2))
    cluster = Cluster(tmp_path_factory.mktemp("dask-lost-early"), workers=1)
    try:
        cluster.start()
        executor = _bounded(lambda: DaskExecutor(cluster.address), 40,
                            "connecting to the Dask cluster", cluster.logs)
        try:
            cluster.kill_scheduler()
            _until(lambda: executor.client.status != "running", 20,
                   "the client noticing that its scheduler is gone")
            with pytest.raises(SchedulerLost, match="lost the connection to the Dask scheduler"):
                _bounded(lambda: run_sweep(plan, tmp_path / "out", executor), 15,
                         "a sweep on a lost scheduler")
        finally:
            _bounded(executor.close, 20, "closing the client of a lost scheduler")
    finally:
        cluster.stop()
    assert (tmp_path / "out" / "manifest.json").exists() and not _shards(tmp_path / "out")


def test_parksim_debug_leaves_dasks_log_of_a_lost_scheduler(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """With PARKSIM_DEBUG=1, Dask's client logs the lost scheduler with its tracebacks: what
    the quiet mode keeps off stderr otherwise (the power of the one-line check above)."""
    exp = _experiment(tmp_path, "debug_scheduler_dies", replications=70, overrides=CHEAP)
    out = tmp_path / "out"
    cluster = Cluster(tmp_path_factory.mktemp("dask-debug"), workers=1)
    try:
        cluster.start()
        with _background("sweep", exp, "-o", out, "--scheduler", cluster.address, "--quiet",
                         env={**_env(), "PARKSIM_DEBUG": "1"}) as proc:
            code, _, stderr, _ = _kill_scheduler_when(
                cluster, proc, lambda: (out / "manifest.json").exists(), "the sweep started")
    finally:
        cluster.stop()
    assert code == 1, stderr
    assert "distributed.client - ERROR" in stderr, stderr
    assert stderr.count("Traceback") >= 2, stderr  # Dask's, and parksim's own under debug
