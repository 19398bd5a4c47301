"""A production Dagster stack on 127.0.0.1, for the deployment tests: no container engine, no
cluster, only processes.

- `postgres_server()`: a throwaway PostgreSQL 15 server (Debian's binaries), in a temporary
  folder, on a free port; stopped and removed on exit.
- `dagster_stack()`: deploy/dagster.yaml as the instance (a few intervals shortened for tests,
  see TEST_OVERRIDES), migrated into that server, pools set by
  `python -m genesys_assets.deploy.pools`, then a code server for `genesys_assets`, the daemon
  and the webserver, each its own process group, each with the same environment, as
  deploy/README.md starts them. The project runs on its embedded defaults (built-in simulator,
  local stage and DuckDB under the stack's own GENESYS_ASSETS_HOME) unless `env` says otherwise;
  pass `datasets_file` (GENESYS_DATASETS_FILE) for another set of orgs and datasets.
- helpers to submit runs through the queue, wait for them, read step windows and find run
  workers.

Every process is stopped (SIGTERM to its process group, then SIGKILL) and every folder removed,
whatever the test did.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY_INSTANCE = REPO / "deploy" / "dagster.yaml"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
BIN = Path(sys.executable).parent
LOCATION = "genesys_assets"
REPOSITORY = "__repository__"

# What the tests change in deploy/dagster.yaml, all of it timing: the same limits, launcher,
# monitoring and retries, only quicker to act, so that a test waits seconds, not minutes.
TEST_OVERRIDES: dict[str, Any] = {
    "run_coordinator": {
        "config": {"dequeue_interval_seconds": 1, "user_code_failure_retry_delay": 2}
    },
    "run_monitoring": {"poll_interval_seconds": 2, "free_slots_after_run_end_seconds": 5},
}
# Variables of the caller that would switch the project, the instance or the stack away from
# what the stack sets up: none of them reaches its processes.
_SCRUBBED_PREFIXES = ("GENESYS_", "S3_", "SNOWFLAKE_", "DUCKDB_", "DAGSTER_", "AWS_")

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
    """The first truthy value of `probe`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:g} s")
        time.sleep(interval)


# --- PostgreSQL -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    folder: Path

    def env(self, database: str) -> dict[str, str]:
        """The DAGSTER_PG_* variables deploy/dagster.yaml reads, for `database`."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
        }

    def connect(self, database: str = "postgres") -> Any:
        import psycopg2  # type: ignore[import-untyped]  # no type information for 2.9

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
        )

    def create_database(self, name: str) -> None:
        connection = self.connect()
        try:
            connection.autocommit = True  # CREATE DATABASE refuses to run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()

    def query(self, database: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args or None)
                return list(cursor.fetchall())
        finally:
            connection.close()


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    """A PostgreSQL 15 server for one test module (about a second to start).

    initdb refuses to run as root, so as root the server runs as `nobody`, in a folder that
    `nobody` owns; its socket folder is there too (not /var/run/postgresql, which may not
    exist). Durability is off: the data is thrown away.
    """
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(
            f"PostgreSQL 15 is not installed ({PG_BIN}): apt-get install postgresql-15"
        )
    folder = Path(tempfile.mkdtemp(prefix="genesys-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    password = secrets.token_hex(16)
    (folder / "password").write_text(password)
    as_user: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for path in (folder, sockets, folder / "password"):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}

    def pg(*args: str, check: bool = True) -> None:
        subprocess.run(
            [*as_user, *args],
            env=env,
            cwd=folder,
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    port = free_port()
    started = False
    try:
        pg(
            str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "scram-sha-256",
            f"--pwfile={folder / 'password'}", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        pg(
            str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        started = True
        yield Postgres("127.0.0.1", port, "postgres", password, folder)
    finally:
        if started:
            pg(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


# --- the Dagster stack ----------------------------------------------------------------------


def _merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class DagsterStack:
    """The running stack: its folders, environment, ports and processes."""

    root: Path
    pg: Postgres
    database: str
    env: dict[str, str]
    home: Path
    grpc_port: int = 0
    web_port: int = 0
    workspace: Path = Path()
    pools_output: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Every process group ever started, stopped ones included: a killed code server's run
    # workers and step processes may outlive it, in its group.
    groups: list[int] = field(default_factory=list)
    code_server_args: list[str] = field(default_factory=list)

    # -- processes

    def spawn(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        log = open(self.root / "logs" / f"{name}.log", "ab")  # noqa: SIM115 (the process owns it)
        try:
            process = subprocess.Popen(
                list(args),
                env=self.env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own: stopped with all its children
            )
        finally:
            log.close()
        self.processes[name] = process
        self.groups.append(process.pid)
        return process

    def stop(self, name: str, sig: int = signal.SIGTERM, grace_s: float = 20) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        _signal_group(process.pid, sig)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(10)
        if sig != signal.SIGKILL:
            _signal_group(process.pid, signal.SIGKILL)  # what it left behind in its group

    def kill_code_server_tree(self) -> None:
        """kill -9 the code server and everything in its process group (its run workers and
        their step processes): what an OOM kill of the service or a crashed container does.
        Returns once no process of the group is left."""
        group = self.processes["code_server"].pid
        self.stop("code_server", signal.SIGKILL)
        wait_for(lambda: not process_group_members(group), 30, "the code server's group gone")

    def start_code_server(self) -> None:
        self.spawn("code_server", self.code_server_args)
        wait_for(self.code_server_ready, 120, "the code server serving the code location")

    def code_server_ready(self) -> bool:
        """Whether the code server answers its health check and has loaded the definitions; a
        code location that failed to load is an error here, with Dagster's message (the proxy
        answers its health check either way)."""
        from dagster._grpc.client import DagsterGrpcClient
        from dagster._serdes import deserialize_value
        from dagster._utils.error import SerializableErrorInfo

        client = DagsterGrpcClient(port=self.grpc_port, host="127.0.0.1")
        with contextlib.redirect_stdout(None):  # its client prints every refused connection
            if client.health_check_query() != "SERVING":
                return False
        try:
            answer = deserialize_value(client.list_repositories())
        except Exception:  # still starting
            return False
        if isinstance(answer, SerializableErrorInfo):
            raise RuntimeError(f"the code location failed to load:\n{answer.to_string()}")
        return True

    def dagster(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """The `dagster` CLI against this instance, as an operator runs it."""
        return subprocess.run(
            [str(BIN / "dagster"), *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def must(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.dagster(*args)
        if done.returncode != 0:
            raise RuntimeError(f"dagster {' '.join(args)}:\n{done.stdout}\n{done.stderr}")
        return done

    def log(self, name: str) -> str:
        return (self.root / "logs" / f"{name}.log").read_text(errors="replace")

    # -- clients

    @property
    def instance_env(self) -> dict[str, str]:
        """What a process needs in its environment to open this instance (tests set it in
        their own process to use DagsterInstance.get())."""
        names = ("DAGSTER_HOME", "DAGSTER_ARTIFACTS_DIR", "DAGSTER_COMPUTE_LOGS_DIR")
        return {
            **{name: self.env[name] for name in names},
            **self.pg.env(self.database),
        }

    def graphql(self) -> Any:
        from dagster_graphql import DagsterGraphQLClient

        return DagsterGraphQLClient("127.0.0.1", port_number=self.web_port, timeout=120)

    def submit(self, job: str, tags: Mapping[str, str] | None = None) -> str:
        """A run of `job` submitted through the webserver, as the UI does: it goes to the queue
        and the daemon launches it."""
        return str(
            self.graphql().submit_job_execution(job, LOCATION, REPOSITORY, tags=dict(tags or {}))
        )

    def graphql_query(self, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/graphql",
            data=json.dumps({"query": query, "variables": dict(variables)}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            body: dict[str, Any] = json.load(answer)
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return dict(body["data"])

    def _mutate(
        self, what: str, query: str, variables: Mapping[str, Any], field: str, success: str
    ) -> dict[str, Any]:
        """A mutation's answer, which GraphQL gives as a union: the `success` type or an error
        type (then raised, naming `what`)."""
        answer = dict(self.graphql_query(query, variables)[field])
        if answer["__typename"] != success:
            raise RuntimeError(f"{what}: {answer}")
        return answer

    def launch_backfill(
        self,
        asset_paths: Sequence[Sequence[str]],
        partitions: Sequence[str],
        tags: Mapping[str, str],
    ) -> str:
        """A backfill of these assets' partitions launched as the UI's "Launch backfill" does;
        its id. The asset backfill daemon turns it into runs."""
        params = {
            "assetSelection": [{"path": list(p)} for p in asset_paths],
            "partitionNames": list(partitions),
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        answer = self._mutate(
            f"launching a backfill of {len(asset_paths)} assets",
            _LAUNCH_BACKFILL, {"params": params}, "launchPartitionBackfill", "LaunchBackfillSuccess",
        )  # fmt: skip
        return str(answer["backfillId"])

    # -- schedules and sensors, switched as the UI switches them

    def start_schedule(self, name: str) -> str:
        """Start a schedule; its state's id (for `stop_schedule`)."""
        selector = {**self._selector, "scheduleName": name}
        answer = self._mutate(
            f"starting schedule {name}",
            _START_SCHEDULE, {"selector": selector}, "startSchedule", "ScheduleStateResult",
        )  # fmt: skip
        return str(answer["scheduleState"]["id"])

    def stop_schedule(self, state_id: str) -> None:
        self._mutate(
            f"stopping schedule {state_id}",
            _STOP_SCHEDULE, {"id": state_id}, "stopRunningSchedule", "ScheduleStateResult",
        )  # fmt: skip

    def start_sensor(self, name: str) -> str:
        """Start a sensor; its state's id (for `stop_sensor`)."""
        selector = {**self._selector, "sensorName": name}
        answer = self._mutate(
            f"starting sensor {name}",
            _START_SENSOR,
            {"selector": selector},
            "startSensor",
            "Sensor",
        )
        return str(answer["sensorState"]["id"])

    def stop_sensor(self, state_id: str) -> None:
        self._mutate(
            f"stopping sensor {state_id}",
            _STOP_SENSOR, {"id": state_id}, "stopSensor", "StopSensorMutationResult",
        )  # fmt: skip

    @property
    def _selector(self) -> dict[str, str]:
        return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}


_LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId }
  ... on PythonError { message } ... on InvalidSubsetError { message } } }"""
_START_SCHEDULE = """
mutation($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {
  __typename ... on ScheduleStateResult { scheduleState { id status } }
  ... on PythonError { message } } }"""
_STOP_SCHEDULE = """
mutation($id: String) { stopRunningSchedule(id: $id) {
  __typename ... on ScheduleStateResult { scheduleState { id status } }
  ... on PythonError { message } } }"""
_START_SENSOR = """
mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { id status } }
  ... on PythonError { message } } }"""
_STOP_SENSOR = """
mutation($id: String) { stopSensor(id: $id) {
  __typename ... on StopSensorMutationResult { instigationState { id status } }
  ... on PythonError { message } } }"""


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _webserver_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _daemon_command(interval_s: float | None) -> list[str]:
    if interval_s is None:
        return [str(BIN / "dagster-daemon"), "run"]
    # The backfill daemon's loop is fixed at 30 s (dagster._daemon.controller); a test that
    # waits on a backfill may shorten it. Nothing else changes.
    code = (
        "import sys, dagster._daemon.controller as controller; "
        f"controller.DEFAULT_DAEMON_INTERVAL_SECONDS = {interval_s!r}; "
        "from dagster._daemon.cli import main; sys.argv[0] = 'dagster-daemon'; main()"
    )
    return [sys.executable, "-c", code, "run"]


@contextlib.contextmanager
def dagster_stack(
    *,
    env: Mapping[str, str] | None = None,
    datasets_file: Path | None = None,
    instance_overrides: Mapping[str, Any] = TEST_OVERRIDES,
    daemon_interval_s: float | None = None,
    webserver: bool = True,
    pg: Postgres | None = None,
    database: str = "dagster",
) -> Iterator[DagsterStack]:
    """The stack, up; everything stopped and removed on exit.

    `env` is added to every process's environment (e.g. an org's credentials variables);
    `datasets_file` becomes GENESYS_DATASETS_FILE; `pg` reuses a server (a new database in it),
    else one is started for the stack.
    """
    with contextlib.ExitStack() as resources:
        if pg is None:
            pg = resources.enter_context(postgres_server())
            if database != "postgres":
                pg.create_database(database)
        else:
            pg.create_database(database)
        root = Path(tempfile.mkdtemp(prefix="genesys-stack-"))
        resources.callback(shutil.rmtree, root, True)
        (root / "logs").mkdir()
        home = root / "dagster_home"
        home.mkdir()
        instance = _merged(yaml.safe_load(DEPLOY_INSTANCE.read_text()), instance_overrides)
        (home / "dagster.yaml").write_text(yaml.safe_dump(instance, sort_keys=False))
        base = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
        stack_env = {
            **base,
            **pg.env(database),
            "DAGSTER_HOME": str(home),
            "DAGSTER_ARTIFACTS_DIR": str(root / "artifacts"),
            "DAGSTER_COMPUTE_LOGS_DIR": str(root / "compute_logs"),
            "GENESYS_ASSETS_HOME": str(root / "genesys_assets_home"),
            "PYTHONWARNINGS": "ignore",
            **({"GENESYS_DATASETS_FILE": str(datasets_file)} if datasets_file else {}),
            **dict(env or {}),
        }
        stack = DagsterStack(root=root, pg=pg, database=database, env=stack_env, home=home)
        resources.callback(_stop_all, stack)

        stack.must("instance", "migrate")
        pools = subprocess.run(
            [sys.executable, "-m", "genesys_assets.deploy.pools"],
            env=stack.env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if pools.returncode != 0:
            raise RuntimeError(f"setting the pools failed:\n{pools.stdout}\n{pools.stderr}")
        stack.pools_output = pools.stdout

        stack.grpc_port = free_port()
        stack.code_server_args = [
            str(BIN / "dagster"), "code-server", "start", "-m", "genesys_assets",
            "-h", "127.0.0.1", "-p", str(stack.grpc_port), "--location-name", LOCATION,
        ]  # fmt: skip
        stack.start_code_server()
        stack.workspace = root / "workspace.yaml"
        stack.workspace.write_text(
            yaml.safe_dump(
                {
                    "load_from": [
                        {
                            "grpc_server": {
                                "host": "127.0.0.1",
                                "port": stack.grpc_port,
                                "location_name": LOCATION,
                            }
                        }
                    ]
                }
            )
        )
        stack.spawn("daemon", [*_daemon_command(daemon_interval_s), "-w", str(stack.workspace)])
        if webserver:
            stack.web_port = free_port()
            stack.spawn(
                "webserver",
                [
                    str(BIN / "dagster-webserver"), "-w", str(stack.workspace),
                    "-h", "127.0.0.1", "-p", str(stack.web_port),
                ],
            )  # fmt: skip
            wait_for(lambda: _webserver_up(stack.web_port), 120, "the webserver")
        yield stack


def _stop_all(stack: DagsterStack) -> None:
    for name in ("webserver", "daemon", "code_server", *list(stack.processes)):
        stack.stop(name)
    for group in stack.groups:
        _signal_group(group, signal.SIGKILL)


# --- runs -----------------------------------------------------------------------------------


def wait_for_runs(instance: Any, run_ids: Sequence[str], timeout: float) -> dict[str, Any]:
    """run id -> its final DagsterRunStatus, once every run has finished."""

    def finished() -> dict[str, Any] | None:
        runs = {run_id: instance.get_run_by_id(run_id) for run_id in run_ids}
        if all(run is not None and run.is_finished for run in runs.values()):
            return {run_id: run.status for run_id, run in runs.items()}
        return None

    return wait_for(finished, timeout, f"runs {', '.join(run_ids)} finishing", interval=0.5)


def step_windows(instance: Any, run_id: str) -> dict[str, tuple[float, float | None]]:
    """step key -> (when it started, when it succeeded or failed; None if it never ended), from
    the run's event log."""
    from dagster import DagsterEventType

    ends = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
    windows: dict[str, tuple[float, float | None]] = {}
    for entry in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, *ends}):
        key = entry.step_key
        if entry.dagster_event_type == DagsterEventType.STEP_START:
            windows[key] = (entry.timestamp, None)
        elif key in windows:
            windows[key] = (windows[key][0], entry.timestamp)
    return windows


def run_worker_pid(instance: Any, run_id: str) -> int | None:
    """The pid of the run's worker, as the launcher recorded it at launch."""
    from genesys_assets.deploy.launcher import WORKER_TAG

    run = instance.get_run_by_id(run_id)
    raw = run.tags.get(WORKER_TAG) if run is not None else None
    if not raw:
        return None
    pid = json.loads(raw).get("pid")
    return int(pid) if pid is not None else None


def process_group_members(pgid: int) -> list[int]:
    """The live processes of a process group, from /proc (zombies, dead but not yet reaped by
    their new parent, are not counted)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):  # 5: the group, 3: state
                members.append(int(entry.name))
    return members


def steps_in_pool(instance: Any, run_id: str, pool: str) -> set[str]:
    """The run's steps that take a slot of `pool`, from the job snapshot the run executed."""
    run = instance.get_run_by_id(run_id)
    snapshot = instance.get_job_snapshot(run.job_snapshot_id)
    return {op.name for op in snapshot.node_defs_snapshot.op_def_snaps if op.pool == pool}


def runs_tagged(instance: Any, key: str, value: str) -> list[Any]:
    from dagster import RunsFilter

    return list(instance.get_runs(filters=RunsFilter(tags={key: value})))


# --- datasets files -------------------------------------------------------------------------


class _NoAliases(yaml.SafeDumper):
    """The datasets loader refuses YAML anchors and aliases: every value written out."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def shipped_datasets() -> dict[str, Any]:
    """The shipped datasets file, as a mapping to change and write with `write_datasets_file`."""
    from genesys_assets import datasets

    loaded: dict[str, Any] = yaml.safe_load(datasets.DEFAULT_FILE.read_text())
    return loaded


def write_datasets_file(path: Path, raw: Mapping[str, Any]) -> Path:
    path.write_text(yaml.dump(dict(raw), Dumper=_NoAliases, sort_keys=False))
    return path
