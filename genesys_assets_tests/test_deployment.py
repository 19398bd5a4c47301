"""The production deployment, for real, on this machine: deploy/dagster.yaml in a PostgreSQL 15
server, pools set by `python -m genesys_assets.deploy.pools`, a code server, the daemon and the
webserver as separate processes (genesys_assets_tests/deployment.py), runs submitted through the
queue as the UI submits them. No container engine and no cluster exist here: Docker, Helm and
ECS are not exercised (deploy/README.md, "What is tested here and what is not").

One stack serves the module (starting it takes about 15 s). Its datasets file is the shipped one
with two timings changed so that the daemon acts within a test: the refresh schedules run every
minute for the last day, and the settling sensor looks at the last day only.
"""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from genesys_assets import datasets
from genesys_assets.deploy import launcher as launcher_module
from genesys_assets.deploy import pools
from genesys_assets.deploy.launcher import WORKER_TAG, SingleHostRunLauncher
from genesys_assets.pipeline.assets import WAREHOUSE_POOL

from .deployment import (
    DEPLOY_INSTANCE,
    DagsterStack,
    Postgres,
    dagster_stack,
    free_port,
    postgres_server,
    process_group_members,
    run_worker_pid,
    runs_tagged,
    shipped_datasets,
    step_windows,
    steps_in_pool,
    wait_for,
    wait_for_runs,
    write_datasets_file,
)

pytestmark = pytest.mark.deployment

ORG = "default"  # the org of the shipped datasets file
DATASETS = tuple(shipped_datasets()["datasets"])  # its datasets, in the file's order
REFRESHED = "queue_performance"  # the dataset whose refresh schedule the daemon runs
RUN_ENQUEUED = DagsterEventType.RUN_ENQUEUED


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def stack(pg: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterStack]:
    raw = shipped_datasets()
    raw["schedule"] = {**raw["schedule"], "cron": "* * * * *", "refresh_days": 1}
    raw["settling"] = {**raw["settling"], "days": 1}
    path = write_datasets_file(tmp_path_factory.mktemp("datasets") / "datasets.yaml", raw)
    with dagster_stack(pg=pg, datasets_file=path) as running:
        yield running


@pytest.fixture(scope="module")
def instance(stack: DagsterStack) -> Iterator[DagsterInstance]:
    """The stack's instance, opened in the test process as any Dagster process opens it."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.instance_env.items():
            patch.setenv(name, value)
        with DagsterInstance.get() as opened:
            yield opened


def _org_tags(day: str) -> dict[str, str]:
    return {"dagster/partition": day, "genesys/org": ORG}


def _yesterday() -> str:
    """The last complete day of the shipped org, which schedule and sensor re-load."""
    zone = ZoneInfo(shipped_datasets()["org"]["time_zone"])
    return (datetime.now(zone).date() - timedelta(days=1)).isoformat()


# --- the launcher's health check, one case at a time ----------------------------------------


def _record(run_id: str, pid: int, **changes: Any) -> str:
    process = launcher_module._process(pid)
    assert process is not None
    here = launcher_module._this_host()
    record = {
        "run": run_id,
        "pid": pid,
        "start_ticks": process.start_ticks,
        "started_at": process.start_time(),
        "host": here.host,
        "boot": here.boot,
        **changes,
    }
    return json.dumps(record)


def _state(pid: int) -> str | None:
    process = launcher_module._process(pid)
    return process.state if process else None


def _run(tags: dict[str, str]) -> DagsterRun:
    return DagsterRun(job_name="genesys_job", run_id="0f1e2d3c-run", tags=tags)


def test_the_launcher_tells_a_live_run_worker_from_a_dead_or_replaced_one(
    stack: DagsterStack, instance: DagsterInstance
) -> None:
    """Real processes, a real code server; only the run is made up."""
    launcher = SingleHostRunLauncher()
    launcher.register_instance(instance)
    live_server = json.dumps({"host": "127.0.0.1", "port": stack.grpc_port})
    server_id = launcher_module._server_id(_run({GRPC_INFO_TAG: live_server}))
    assert server_id

    def check(record: str, grpc: str = live_server) -> tuple[WorkerStatus, str]:
        result = launcher.check_run_worker_health(_run({WORKER_TAG: record, GRPC_INFO_TAG: grpc}))
        return result.status, result.msg or ""

    worker = subprocess.Popen(["sleep", "120"])
    try:
        alive = _record("0f1e2d3c-run", worker.pid, server=server_id)
        assert check(alive) == (WorkerStatus.RUNNING, f"run worker process {worker.pid} is alive")
        # the kernel gave the pid to another process: its start time differs
        replaced = _record("0f1e2d3c-run", worker.pid, server=server_id, start_ticks=1)
        assert check(replaced)[0] == WorkerStatus.FAILED
        assert "belongs to another process" in check(replaced)[1]
        # another machine or PID namespace: nothing to see from here, never failed on a guess
        elsewhere = _record("0f1e2d3c-run", worker.pid, server=server_id, host="elsewhere")
        assert check(elsewhere)[0] == WorkerStatus.RUNNING
        assert "not checked" in check(elsewhere)[1]
        rebooted = _record("0f1e2d3c-run", worker.pid, server=server_id, boot="an-earlier-boot")
        assert check(rebooted) == (
            WorkerStatus.FAILED,
            f"the host has rebooted since run worker {worker.pid} started",
        )
        # a retry carries its parent's tags: the parent's worker is not the retry's
        parents = _record("the-parent-run", worker.pid, server=server_id)
        assert check(parents)[0] == WorkerStatus.RUNNING
        assert "not checked" in check(parents)[1]

        worker.kill()  # exited, not reaped yet: a zombie
        wait_for(lambda: _state(worker.pid) == "Z", 10, "a zombie")
        assert check(alive) == (
            WorkerStatus.FAILED,
            f"run worker process {worker.pid} has exited (not yet reaped)",
        )
    finally:
        worker.kill()
        worker.wait()
    # gone, and its code server (the same one it was launched on) answers: failed at once
    assert check(alive) == (WorkerStatus.FAILED, f"run worker process {worker.pid} is gone")
    # gone with its code server: not failed while the server is away, so that the retry, which
    # needs the server, can be created once it is back
    down = json.dumps({"host": "127.0.0.1", "port": free_port()})
    status, msg = check(alive, down)
    assert status == WorkerStatus.RUNNING
    assert "its code server does not answer" in msg
    # ... but not for ever: code_server_wait_seconds
    impatient = SingleHostRunLauncher(code_server_wait_seconds=0)
    impatient.register_instance(instance)
    time.sleep(0.01)
    impatient.check_run_worker_health(_run({WORKER_TAG: alive, GRPC_INFO_TAG: down}))
    time.sleep(0.01)
    result = impatient.check_run_worker_health(_run({WORKER_TAG: alive, GRPC_INFO_TAG: down}))
    assert result.status == WorkerStatus.FAILED
    # what it cannot check it says so, and reports RUNNING: Dagster would fail the run on UNKNOWN
    unchecked = json.dumps({"run": "0f1e2d3c-run", "why": "its worker is not visible"})
    assert check(unchecked) == (WorkerStatus.RUNNING, "not checked: its worker is not visible")
    result = launcher.check_run_worker_health(_run({}))
    assert result.status == WorkerStatus.RUNNING
    assert "not checked" in (result.msg or "")


# --- (a) the instance file ------------------------------------------------------------------


def test_the_instance_file_loads_unchanged_and_migrates_into_postgres(
    pg: Postgres, tmp_path: Path
) -> None:
    pg.create_database("unchanged")
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DEPLOY_INSTANCE.read_text())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "GENESYS_"))},
        **pg.env("unchanged"),
        "DAGSTER_HOME": str(home),
        "DAGSTER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "DAGSTER_COMPUTE_LOGS_DIR": str(tmp_path / "compute_logs"),
    }
    dagster = str(Path(sys.executable).with_name("dagster"))
    info = subprocess.run(
        [dagster, "instance", "info"], env=env, capture_output=True, text=True, timeout=120
    )
    assert info.returncode == 0, info.stderr[-3000:]
    for line in (
        "run_storage: PostgresRunStorage",
        "event_log_storage: PostgresEventLogStorage",
        "schedule_storage: PostgresScheduleStorage",
        "class: SingleHostRunLauncher",
        "code_server_wait_seconds: 600",
    ):
        assert line in info.stdout
    migrated = subprocess.run(
        [dagster, "instance", "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    tables = {row[0] for row in pg.query("unchanged", "SELECT tablename FROM pg_tables")}
    assert {"runs", "event_logs", "jobs", "job_ticks", "concurrency_limits"} <= tables
    assert pg.query("unchanged", "SELECT count(*) FROM alembic_version") == [(1,)]

    # What every process gets from it, opened as they open it.
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DAGSTER_HOME", "DAGSTER_ARTIFACTS_DIR", "DAGSTER_COMPUTE_LOGS_DIR"):
            patch.setenv(name, env[name])
        for name, value in pg.env("unchanged").items():
            patch.setenv(name, value)
        with DagsterInstance.get() as opened:
            launcher = opened.run_launcher
            assert isinstance(launcher, SingleHostRunLauncher)
            assert launcher.supports_check_run_worker_health
            assert type(opened.run_coordinator).__name__ == "QueuedRunCoordinator"
            assert type(opened.compute_log_manager).__name__ == "LocalComputeLogManager"
            queue = opened.get_concurrency_config().run_queue_config
            assert queue is not None and queue.max_concurrent_runs == 4
            assert queue.tag_concurrency_limits == [
                {"key": "genesys/org", "value": {"applyLimitPerUniqueValue": True}, "limit": 2}
            ]
            assert opened.get_concurrency_config().pool_config.default_pool_limit == 1
            assert opened.run_monitoring_enabled
            assert opened.run_monitoring_max_resume_run_attempts == 0
            assert opened.run_monitoring_max_runtime_seconds == 6 * 3600
            assert opened.run_retries_enabled and opened.run_retries_max_retries == 2
            assert not opened.run_retries_retry_on_asset_or_op_failure


# --- pools ----------------------------------------------------------------------------------


def test_pools_are_set_per_org_and_for_the_warehouse(
    stack: DagsterStack, pg: Postgres, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stack's own instance: set by the command line at start-up, DuckDB, one org.
    assert stack.pools_output.splitlines() == [
        f"set {WAREHOUSE_POOL} = 1 (DuckDB: one writer at a time)",
        f"set genesys_api_{ORG} = 3 (org {ORG}: one per dataset (3))",
    ]
    rows = dict(pg.query(stack.database, 'SELECT concurrency_key, "limit" FROM concurrency_limits'))
    assert rows == {WAREHOUSE_POOL: 1, f"genesys_api_{ORG}": 3}

    # Two orgs, one with fetch_slots, on Snowflake: an instance of its own.
    pg.create_database("pools")
    raw = shipped_datasets()
    org = raw.pop("org")
    raw["orgs"] = {
        "acme": {
            **org,
            "region": "mypurecloud.de",
            "credentials": {"client_id": "ACME_ID", "client_secret": "ACME_SECRET"},
            "fetch_slots": 2,
        },
        "globex": {
            **org,
            "region": "mypurecloud.ie",
            "credentials": {"client_id": "GLOBEX_ID", "client_secret": "GLOBEX_SECRET"},
        },
    }
    two_orgs = write_datasets_file(tmp_path / "two_orgs.yaml", raw)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DEPLOY_INSTANCE.read_text())
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            **pg.env("pools"),
            "DAGSTER_HOME": str(home),
            "DAGSTER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
            "DAGSTER_COMPUTE_LOGS_DIR": str(tmp_path / "compute_logs"),
            datasets.ENV_VAR: str(two_orgs),
            "SNOWFLAKE_ACCOUNT": "acme-xy12345",
            pools.WAREHOUSE_WRITERS_ENV: "6",
        }.items():
            patch.setenv(name, value)
        with DagsterInstance.get() as opened:
            opened.event_log_storage.set_concurrency_slots("an_operators_pool", 5)
            capsys.readouterr()
            assert pools.main(["--dry-run"]) == 0
            assert opened.event_log_storage.get_concurrency_keys() == {"an_operators_pool"}
            capsys.readouterr()
            assert pools.main([]) == 0
            assert capsys.readouterr().out.splitlines() == [
                f"set {WAREHOUSE_POOL} = 6 (Snowflake: 6 concurrent loads)",
                "set genesys_api_acme = 2 (org acme: fetch_slots)",
                "set genesys_api_globex = 3 (org globex: one per dataset (3))",
                "left as it is: an_operators_pool = 5 (not a pool of this deployment)",
            ]
            limits = {
                key: opened.event_log_storage.get_concurrency_info(key).slot_count
                for key in opened.event_log_storage.get_concurrency_keys()
            }
            assert limits == {
                WAREHOUSE_POOL: 6,
                "genesys_api_acme": 2,
                "genesys_api_globex": 3,
                "an_operators_pool": 5,
            }
            patch.delenv(pools.WAREHOUSE_WRITERS_ENV)
            assert pools.main([]) == 0
            assert opened.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 4
            patch.setenv(pools.WAREHOUSE_WRITERS_ENV, "0")
            capsys.readouterr()
            assert pools.main([]) == 2
            assert "GENESYS_WAREHOUSE_WRITERS must be a whole number from 1 to" in (
                capsys.readouterr().err
            )


# --- (b), (c), (d): a busy hour of the daemon ----------------------------------------------


@dataclass(frozen=True)
class BusyHour:
    """Runs that went through the queue at about the same time: the main job submitted as the UI
    submits it, and the runs the daemon launched from the settling sensor's first tick and the
    refresh schedule's first tick."""

    main: str  # the main job, one day
    sensor: tuple[str, ...]
    schedule: tuple[str, ...]
    last_days: frozenset[str]  # the org's last complete day when it began and when it ended

    @property
    def all(self) -> list[str]:
        return [self.main, *self.sensor, *self.schedule]


@pytest.fixture(scope="module")
def busy_hour(stack: DagsterStack, instance: DagsterInstance) -> BusyHour:
    began = _yesterday()
    schedule = stack.start_schedule(f"{REFRESHED}_daily_refresh")
    sensor = stack.start_sensor("genesys_settling")
    main = stack.submit("genesys_job", _org_tags("2024-11-01"))

    # The sensor's first tick compares the last day of each dataset with Genesys (here the
    # simulator); none of them is loaded, so it asks for one run per dataset.
    def sensed() -> list[DagsterRun] | None:
        runs = runs_tagged(instance, "dagster/sensor_name", "genesys_settling")
        return runs if len(runs) >= len(DATASETS) else None

    sensor_runs = wait_for(sensed, 120, "the settling sensor's runs")
    # The schedule ticks at the next minute boundary (it was started less than a minute ago).
    schedule_runs = wait_for(
        lambda: runs_tagged(instance, "dagster/schedule_name", f"{REFRESHED}_daily_refresh"),
        120,
        "the refresh schedule's run",
    )
    stack.stop_schedule(schedule)  # one tick is enough; later ones would run during (e)
    stack.stop_sensor(sensor)
    hour = BusyHour(
        main,
        tuple(run.run_id for run in sensor_runs),
        tuple(run.run_id for run in schedule_runs),
        frozenset({began, _yesterday()}),
    )
    wait_for_runs(instance, hour.all, timeout=300)
    return hour


# Its setup is the busy hour: 90 s on a quiet 2-core machine, 220 s beside a `-n 2` run of the
# whole suite; the default 300 s would be too close.
@pytest.mark.timeout(480)
def test_a_day_of_the_main_job_runs_through_the_queue(
    stack: DagsterStack, instance: DagsterInstance, busy_hour: BusyHour
) -> None:
    run_id = busy_hour.main
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == DagsterRunStatus.SUCCESS
    events = {entry.dagster_event_type for entry in instance.all_logs(run_id)}
    assert DagsterEventType.RUN_ENQUEUED in events  # through the queue, launched by the daemon
    assert run.tags["genesys/org"] == ORG
    # The launcher saw its worker on this host: monitoring checks it.
    worker = json.loads(run.tags[WORKER_TAG])
    assert worker["run"] == run_id and isinstance(worker["pid"], int)
    # Every step succeeded, the loads and checks of every dataset among them.
    windows = step_windows(instance, run_id)
    assert set(DATASETS) <= set(windows)
    assert {f"{name}_checks" for name in DATASETS} <= set(windows)
    assert all(end is not None for _, end in windows.values())
    # What landed in PostgreSQL, read with queries of our own.
    assert stack.pg.query(stack.database, "SELECT status FROM runs WHERE run_id = %s", run_id) == [
        ("SUCCESS",)
    ]
    materialized = stack.pg.query(
        stack.database,
        "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = "
        "'ASSET_MATERIALIZATION'",
        run_id,
    )
    assert materialized[0][0] >= 3 * len(DATASETS)  # raw pages, Parquet, table; and the rest
    # And the day's rows in the embedded defaults' DuckDB file, as the run's processes wrote them.
    warehouse = Path(stack.env["GENESYS_ASSETS_HOME"]) / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        days = con.execute(
            f"SELECT DISTINCT partition_date FROM genesys.{DATASETS[0]} ORDER BY 1"
        ).fetchall()
    assert (date(2024, 11, 1),) in days


def test_runs_never_load_into_duckdb_at_once(
    instance: DagsterInstance, busy_hour: BusyHour
) -> None:
    records = [instance.get_run_record_by_id(run_id) for run_id in busy_hour.all]
    spans = []
    for record in records:
        assert record is not None and record.dagster_run.status == DagsterRunStatus.SUCCESS
        assert record.start_time is not None and record.end_time is not None
        spans.append((record.start_time, record.end_time))
    # The runs were in progress at the same time, two at a time (the org's limit in the queue):
    # the sensor's runs were queued while the main job ran, so more than one pair overlapped
    # (how many depends on how fast each run went, not on the pool).
    overlapping = [
        (a, b) for a, b in itertools.combinations(spans, 2) if a[0] < b[1] and b[0] < a[1]
    ]
    assert len(overlapping) >= 2, spans
    # ... and their loads (every step in the warehouse pool, of every run: the tables, the
    # dimensions, the KPI views) went one after another.
    loads = []
    for run_id in busy_hour.all:
        windows = step_windows(instance, run_id)
        for step in steps_in_pool(instance, run_id, WAREHOUSE_POOL):
            start, end = windows[step]
            loads.append((start, end, f"{run_id[:8]}:{step}"))
    assert len({label.split(":")[0] for *_, label in loads}) == len(busy_hour.all)
    loads.sort()
    for (_, end, first), (start, _, second) in itertools.pairwise(loads):
        assert end is not None and end <= start, f"{first} and {second} overlapped"


def test_the_daemon_launched_the_settling_sensor_and_the_refresh_schedule_runs(
    instance: DagsterInstance, busy_hour: BusyHour
) -> None:
    launched = [
        instance.get_run_by_id(run_id) for run_id in (*busy_hour.sensor, *busy_hour.schedule)
    ]
    assert all(run is not None and run.status == DagsterRunStatus.SUCCESS for run in launched)
    runs = [run for run in launched if run is not None]
    # Both re-load the last complete day: the sensor because it differs from Genesys (it was
    # never loaded), the schedule because it re-loads the last `refresh_days` (1 here).
    assert len({run.tags["dagster/partition"] for run in runs}) == 1
    assert runs[0].tags["dagster/partition"] in busy_hour.last_days
    assert sorted(run.tags["genesys_assets/load"] for run in runs) == sorted(
        ["refresh"] * len(busy_hour.schedule) + ["settling"] * len(busy_hour.sensor)
    )
    assert len(busy_hour.sensor) == len(DATASETS) and len(busy_hour.schedule) == 1
    for run in runs:
        assert RUN_ENQUEUED in {e.dagster_event_type for e in instance.all_logs(run.run_id)}


# --- (e) a lost run worker ------------------------------------------------------------------


def _first_step_started(instance: DagsterInstance, run_id: str) -> None:
    wait_for(
        lambda: instance.all_logs(run_id, of_type=DagsterEventType.STEP_START),
        120,
        "the run's first step",
    )


def test_a_run_whose_worker_alone_is_killed_is_failed_and_retried(
    stack: DagsterStack, instance: DagsterInstance
) -> None:
    """kill -9 of the run worker only: the code server (its parent) and run monitoring both
    notice, whichever first; either way the run fails and is run again. Its step processes,
    orphaned, may finish their step meanwhile: the retry replaces what they wrote."""
    run_id = stack.submit("queue_performance_job", _org_tags("2024-11-04"))
    _first_step_started(instance, run_id)
    pid = run_worker_pid(instance, run_id)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_for_runs(instance, [run_id], timeout=60) == {run_id: DagsterRunStatus.FAILURE}
    retries = wait_for(
        lambda: runs_tagged(instance, "dagster/parent_run_id", run_id), 60, "the retry"
    )
    assert wait_for_runs(instance, [retries[0].run_id], timeout=120) == {
        retries[0].run_id: DagsterRunStatus.SUCCESS
    }


def test_a_run_whose_code_server_tree_is_killed_is_failed_by_monitoring_and_retried(
    stack: DagsterStack, instance: DagsterInstance
) -> None:
    run_id = stack.submit("queue_performance_job", _org_tags("2024-11-05"))
    _first_step_started(instance, run_id)
    pid = run_worker_pid(instance, run_id)
    group = stack.processes["code_server"].pid
    assert pid is not None and pid in process_group_members(group)
    # kill -9 of the code server's whole process group: the worker and its step processes go
    # with it, and nothing is left to report the run.
    stack.kill_code_server_tree()
    assert not process_group_members(group)
    stack.start_code_server()  # what systemd's Restart=always or compose's restart: always do

    try:
        failed = wait_for_runs(instance, [run_id], timeout=90)
    except TimeoutError:
        events = [entry.message for entry in instance.all_logs(run_id)][-8:]
        raise AssertionError(f"{events}\n{stack.log('daemon')[-6000:]}") from None
    assert failed == {run_id: DagsterRunStatus.FAILURE}
    messages = [entry.message or "" for entry in instance.all_logs(run_id)]
    assert any(
        "Detected run worker status FAILED" in message
        and f"run worker process {pid} is gone" in message
        for message in messages
    ), messages[-5:]
    retries = wait_for(
        lambda: runs_tagged(instance, "dagster/parent_run_id", run_id), 60, "the retry"
    )
    assert len(retries) == 1
    retry = retries[0]
    assert wait_for_runs(instance, [retry.run_id], timeout=120) == {
        retry.run_id: DagsterRunStatus.SUCCESS
    }
    assert retry.tags["genesys/org"] == ORG  # the retry keeps its parent's tags
    assert run_worker_pid(instance, retry.run_id) not in (None, pid)
