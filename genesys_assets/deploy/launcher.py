"""A run launcher for single-host process deployments that lets run monitoring see dead workers.

Dagster's DefaultRunLauncher asks a code server to start each run in a child process (the run
worker) and cannot tell the daemon whether that process still lives
(`supports_check_run_worker_health` is False). The code server notices a worker that dies under
it, but when the code server's whole process tree goes (OOM killer, `kill -9` of its group, a
crashed container, a reboot) nobody is left to notice: the run stays STARTED until
`max_runtime_seconds`, holding its queue place and its pool slots for hours.

`SingleHostRunLauncher` is that launcher plus a health check. When a run is launched it reads
the worker's pid from the run's own "Started process for run (pid: N)" event (written by the
worker itself) and records, as the run tag `genesys_assets/run_worker`, the pid, the process's
start time (so that a pid the kernel handed to another process is not taken for the worker), the
host it was seen on and the code server's id. The daemon's run monitoring then calls
`check_run_worker_health` at every poll, and a run whose worker is gone, exited or replaced is
marked FAILURE, so that `run_retries` runs it again.

A retry is created from the code location as the daemon sees it: while the run's code server is
down, or restarted but not yet reloaded by the daemon (its gRPC watcher does that within about
10 s), creating the retry fails and Dagster never tries again. So the check reports a dead
worker as FAILED only once its code server answers again (and, if it was restarted, has been
answering for `_RELOAD_S`), or after `code_server_wait_seconds` (the launcher's one setting,
default 600) if it never does.

For single-host deployments only: the process that launches runs and the one that monitors them
(both the daemon, with the QueuedRunCoordinator) must see the code server's processes, i.e. run
on the same machine, or in containers that share its PID namespace (docker-compose
`pid: "service:<code server>"`). A run whose worker cannot be seen from the launcher is not
checked (its tag says why, and an engine event in the run says so): never failed on a guess.
Kubernetes (dagster-k8s' K8sRunLauncher) and ECS (dagster-aws' EcsRunLauncher) bring their own
health checks; use those there.
"""

import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DefaultRunLauncher, Field
from dagster._config.config_schema import UserConfigSchema
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._serdes import ConfigurableClassData

# The run tag that records the worker; a retry copies its parent's tags, so the value names its
# run and a copy is never taken for the retry's own worker.
WORKER_TAG = "genesys_assets/run_worker"
# What the run worker logs once it runs (dagster/_grpc/impl.py; `dagster api execute_run` logs
# the same), with its pid in the event's metadata.
STARTED_MESSAGE = "Started process for run"
DEFAULT_CODE_SERVER_WAIT_S = 600
# How long `launch_run` waits for that event: the worker writes it right after the code server
# has answered the launch, so this is only reached when something is badly wrong.
_EVENT_WAIT_S = 15.0
# A process started at most this long after the worker logged its start is still taken for the
# worker: /proc's start time counts clock ticks since boot, and the boot time is whole seconds.
_START_TOLERANCE_S = 2.0
# How long a restarted code server must have been answering before a run it lost is failed: the
# daemon's watcher of the server reloads it within about 10 s (dagster/_grpc/server_watcher.py).
_RELOAD_S = 20.0
_GRPC_TIMEOUT_S = 5


@dataclass(frozen=True)
class _Host:
    """Where processes are seen from: the machine and PID namespace, and this boot of it."""

    host: str
    boot: str


@dataclass(frozen=True)
class _Process:
    state: str  # /proc state letter: R, S, D, ... Z (zombie), X (dead)
    start_ticks: int  # clock ticks after boot

    def start_time(self) -> float:
        return _boot_time() + self.start_ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class _Lost:
    """A run whose worker is gone but which is not failed yet: since when, and since when its
    (restarted) code server answers."""

    since: float
    answering_since: float | None = None
    reported: bool = False  # the run's log says that it waits


class SingleHostRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher plus a run worker health check, for a code server and a daemon on one
    host (one VM, or one docker-compose host with a shared PID namespace). Not for Kubernetes or
    ECS, whose launchers check their own workers.

    Setting: `code_server_wait_seconds` (default 600), how long a run whose worker is gone waits
    for its code server to answer again before it is failed anyway (its retry then cannot be
    created). Runs cannot be resumed in a new worker (`max_resume_run_attempts: 0`): a lost run
    is marked FAILURE and left to `run_retries`.
    """

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        code_server_wait_seconds: int = DEFAULT_CODE_SERVER_WAIT_S,
    ) -> None:
        super().__init__(inst_data=inst_data)
        self._code_server_wait_s = code_server_wait_seconds
        self._lost: dict[str, _Lost] = {}

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {
            "code_server_wait_seconds": Field(
                int,
                is_required=False,
                default_value=DEFAULT_CODE_SERVER_WAIT_S,
                description="How long a run whose worker is gone waits for its code server to "
                "answer again before it is marked FAILURE anyway.",
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> "SingleHostRunLauncher":
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def launch_run(self, context: LaunchRunContext) -> None:
        super().launch_run(context)
        # The run is launched: from here on nothing may raise, or the daemon would report a
        # launch failure for a run that is running.
        run_id = context.dagster_run.run_id
        try:
            record, why = _find_worker(self._instance, run_id)
            if why is None:
                record["server"] = _server_id(self._instance.get_run_by_id(run_id))
            self._instance.add_run_tags(run_id, {WORKER_TAG: json.dumps(record)})
        except Exception as error:  # the storage or /proc failing us: the run goes on unchecked
            # The class only: a storage error's text may carry connection details.
            why = f"its worker could not be recorded ({type(error).__name__})"
        if why:
            with contextlib.suppress(Exception):
                self._instance.report_engine_event(
                    f"Run worker health checks are off for this run: {why}. Run monitoring will "
                    "not notice if its worker dies (only max_runtime_seconds will).",
                    context.dagster_run,
                    cls=self.__class__,
                )

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        # Dagster's monitoring fails a run on every status but RUNNING and SUCCESS, UNKNOWN
        # included: whatever cannot be checked is reported RUNNING, with the reason, and left to
        # max_runtime_seconds.
        record = _recorded(run)
        if record is None:
            return _running("not checked: the launcher recorded no run worker for this run")
        if record.get("pid") is None:
            return _running(f"not checked: {record.get('why', 'no pid recorded')}")
        here = _this_host()
        if record.get("host") != here.host:
            return _running(
                f"not checked: run worker {record['pid']} runs on another host or PID namespace"
            )
        gone = _why_gone(record, here)
        if gone is None:
            self._lost.pop(run.run_id, None)
            return _running(f"run worker process {record['pid']} is alive")
        waiting = self._waiting_for_code_server(run, record.get("server"))
        if waiting is not None:
            return _running(f"{gone}; not failed yet: {waiting}")
        self._lost.pop(run.run_id, None)
        return CheckRunHealthResult(WorkerStatus.FAILED, gone)

    def get_run_worker_debug_info(
        self, run: DagsterRun, include_container_logs: bool | None = True
    ) -> str | None:
        record = _recorded(run)
        if record is None or record.get("pid") is None:
            return None
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(record["started_at"]))
        return f"Run worker: pid {record['pid']}, started {started}."

    def _waiting_for_code_server(self, run: DagsterRun, launched_on: str | None) -> str | None:
        """Why a run whose worker is gone should not be failed yet, None if it should."""
        if GRPC_INFO_TAG not in run.tags:
            return None  # not launched on a code server: nothing to wait for
        now = time.monotonic()
        for run_id in [r for r, lost in self._lost.items() if now - lost.since > 86400]:
            del self._lost[run_id]  # runs that ended some other way
        lost = self._lost.setdefault(run.run_id, _Lost(since=now))
        if now - lost.since > self._code_server_wait_s:
            return None
        server = _server_id(run)
        if server is None:
            lost.answering_since = None
            why = (
                "its code server does not answer; waiting up to "
                f"{self._code_server_wait_s} s for it, so that run_retries can re-launch the run"
            )
        elif server == launched_on:
            return None  # the same server all along: the daemon's view of it is current
        else:
            if lost.answering_since is None:
                lost.answering_since = now
            if now - lost.answering_since >= _RELOAD_S:
                return None
            why = f"its code server has restarted; giving the daemon {_RELOAD_S:g} s to reload it"
        if not lost.reported:
            lost.reported = True
            self._instance.report_engine_event(
                f"Run worker process {_recorded_pid(run)} is gone; the run is marked failed "
                f"once its code server answers again ({why}).",
                run,
                cls=self.__class__,
            )
        return why


def _recorded_pid(run: DagsterRun) -> object:
    record = _recorded(run)
    return record.get("pid") if record else None


def _running(msg: str) -> CheckRunHealthResult:
    return CheckRunHealthResult(WorkerStatus.RUNNING, msg)


def _recorded(run: DagsterRun) -> dict[str, Any] | None:
    raw = run.tags.get(WORKER_TAG)
    if not raw:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("run") != run.run_id:
        return None  # unreadable, or a retry's copy of its parent's record
    return record


def _why_gone(record: Mapping[str, Any], here: _Host) -> str | None:
    """Why the recorded worker (seen from this host) is no longer running, None if it runs."""
    pid = int(record["pid"])
    if record.get("boot") != here.boot:
        return f"the host has rebooted since run worker {pid} started"
    process = _process(pid)
    if process is None:
        return f"run worker process {pid} is gone"
    if process.start_ticks != record.get("start_ticks"):
        return f"run worker process {pid} is gone (its pid now belongs to another process)"
    if process.state in ("Z", "X"):
        return f"run worker process {pid} has exited (not yet reaped)"
    return None


def _find_worker(instance: DagsterInstance, run_id: str) -> tuple[dict[str, Any], str | None]:
    """The record of the run's worker, and why it cannot be checked (None if it can)."""
    record: dict[str, Any] = {"run": run_id}
    deadline = time.monotonic() + _EVENT_WAIT_S
    pause = 0.02
    while True:
        found = _started_event(instance, run_id)
        if found is not None or time.monotonic() > deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    if found is None:
        why = f"its worker logged no start within {_EVENT_WAIT_S:g} s of the launch"
        return {**record, "why": why}, why
    pid, logged_at = found
    process = _process(pid)
    # A worker that is not visible here, or a process that started after the worker said it had
    # started (its pid reused already), cannot be told apart from a worker on another host.
    if process is None or process.start_time() > logged_at + _START_TOLERANCE_S:
        why = f"its worker (pid {pid}) is not visible from the launcher's host"
        return {**record, "why": why}, why
    here = _this_host()
    return {
        **record,
        "pid": pid,
        "start_ticks": process.start_ticks,
        "started_at": round(process.start_time(), 3),
        "host": here.host,
        "boot": here.boot,
    }, None


def _started_event(instance: DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, when it was logged) from the worker's own start event, the latest if several."""
    found = None
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        if event is None or not (entry.message or "").startswith(STARTED_MESSAGE):
            continue
        pid = event.engine_event_data.metadata.get("pid")
        if pid is not None and str(pid.value).isdigit():
            found = (int(str(pid.value)), entry.timestamp)
    return found


def _server_id(run: DagsterRun | None) -> str | None:
    """The id of the code server the run was launched on, as it answers now (a restarted server
    has a new id); None if it does not answer."""
    from dagster._grpc.client import DagsterGrpcClient

    raw = run.tags.get(GRPC_INFO_TAG) if run is not None else None
    if not raw:
        return None
    info = json.loads(raw)
    client = DagsterGrpcClient(
        port=info.get("port"),
        socket=info.get("socket"),
        host=info.get("host", "localhost"),
        use_ssl=bool(info.get("use_ssl", False)),
    )
    try:
        return str(client.get_server_id(timeout=_GRPC_TIMEOUT_S))
    except Exception:  # unreachable, refusing, timing out: all the same here
        return None


def _process(pid: int) -> _Process | None:
    """The process `pid` as /proc shows it here, None if there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces and parentheses itself:
    # the fields after the last ")" are state (3) ... starttime (22).
    fields = raw[raw.rindex(")") + 2 :].split()
    return _Process(state=fields[0], start_ticks=int(fields[19]))


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("/proc/stat has no btime line")


def _this_host() -> _Host:
    machine = ""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            machine = Path(path).read_text().strip()
        except OSError:
            continue
        if machine:
            break
    # Containers built from one image may share a machine id but never a PID namespace (unless
    # told to), and a pid means something only inside its namespace. The machine id is hashed:
    # systemd asks to keep it private, and run tags are shown to every user of the UI.
    namespace = os.readlink("/proc/self/ns/pid")
    where = f"{machine or socket.gethostname()}/{namespace}"
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return _Host(host=hashlib.sha256(where.encode()).hexdigest()[:16], boot=boot)
