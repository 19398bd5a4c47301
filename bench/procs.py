"""Child processes with their wall time and the peak memory of their whole process tree.

psutil is not available, so memory is read from `/proc` and `getrusage`. Each command is
started by a tiny stdlib-only wrapper process (a session of its own) that runs it, waits for it
and reports its wall time and three peaks:

- `tree_pss_mb`: the peak over time of the summed PSS (`/proc/PID/smaps_rollup`: a shared page
  counted once, split between the processes sharing it) of every process of the command's tree
  (descendants of the wrapper by parent pid, plus anything left in its session, e.g. a step
  process orphaned by its forkserver), sampled every `SAMPLE_S`. This is what a run needs of the
  machine, and what the benchmarks report as its peak memory: under Dagster's multiprocess
  executor the steps run in processes forked from a forkserver, up to four at once, that share
  the preloaded Dagster and definitions pages;
- `tree_rss_mb`: the same sum with RSS, which counts each shared page once per process: an
  upper bound, kept beside it;
- `largest_process_mb`: the largest single process's own peak RSS: the largest `VmHWM` the
  sampler saw, or `getrusage(RUSAGE_CHILDREN).ru_maxrss` of the wrapper if larger (its only
  child and whatever that child waited for; the forkserver's step processes are not among
  them). It is what `peak_rss_mb` always was, and catches a spike between two samples in one
  process.

Why a wrapper and not `getrusage` here: `RUSAGE_CHILDREN` of this process is the largest of all
children ever waited for, and a child started straight from here inherits this process's
high-water mark (Linux records the pre-`exec` memory of the forked process in the child's
`maxrss`, and this process grows to GBs while it flattens large pages). A spike shorter than a
sample in a process other than the largest may be missed by the tree's sum: a sampled peak is a
slight underestimate, never an overestimate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DAGSTER = str(Path(sys.executable).with_name("dagster"))

# Variables that switch a part of the pipeline to a real service or move its state: a child
# starts from none of them and gets only what the benchmark sets.
SWITCHES = (
    "GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET", "GENESYS_REGION", "GENESYS_API_HOST",
    "GENESYS_ASSETS_DEPLOYMENT", "GENESYS_SOURCE", "GENESYS_ENVIRONMENT", "GENESYS_MEMORY_BUDGET",
    "GENESYS_REQUESTS_PER_MINUTE", "GENESYS_MAX_CONCURRENCY", "GENESYS_CHUNK_DAYS",
    "GENESYS_QUERY_MODE", "GENESYS_SIMULATOR_SEED", "GENESYS_DATASETS_FILE",
    "GENESYS_ASSETS_HOME", "DUCKDB_DATABASE", "DUCKDB_MEMORY_LIMIT", "DAGSTER_HOME",
    "S3_BUCKET", "S3_PREFIX", "S3_SSE", "S3_KMS_KEY_ID",
    "SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY",
    "SNOWFLAKE_PRIVATE_KEY_PATH", "SNOWFLAKE_DATABASE", "SNOWFLAKE_SCHEMA", "SNOWFLAKE_STAGE",
)  # fmt: skip


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any switch, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    env.update(overrides)
    return env


@dataclass(frozen=True)
class Finished:
    args: tuple[str, ...]
    returncode: int
    started_at: float  # time.time() just before the command was started
    wall_s: float
    peak_rss_mb: float  # ru_maxrss: the largest process the wrapper's child waited for
    stdout: str
    stderr: str
    tree_pss_mb: float = float("nan")  # peak of the tree's summed PSS (see the module doc)
    tree_rss_mb: float = float("nan")  # peak of the tree's summed RSS (shared pages repeated)
    largest_process_mb: float = float("nan")  # largest single process's peak RSS
    tree_processes_at_peak: int = 0
    tree_peak_at_s: float = float("nan")  # when the PSS peak was sampled, from the start
    samples: int = 0

    def check(self, what: str) -> Finished:
        """Itself, or an error with the end of the child's output if it failed."""
        if self.returncode != 0:
            tail = (self.stderr or self.stdout)[-4000:]
            raise RuntimeError(f"{what} failed with exit code {self.returncode}:\n{tail}")
        return self


SAMPLE_S = 0.2

# Started with `python -I -S`: nothing but the standard library, a few MB; it samples the tree
# from its own process, so the sampling never competes with the benchmark process's simulator
# for a GIL.
_WRAPPER = """
import json, os, resource, subprocess, sys, time
report, every, command = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
me = os.getpid()
page_kib = os.sysconf("SC_PAGE_SIZE") // 1024

def kib(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0

def tree():
    children, session = {}, []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/" + name + "/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(name)
        children.setdefault(int(fields[1]), []).append(pid)
        if int(fields[3]) == me and pid != me:
            session.append(pid)
    found, todo = set(), session + children.get(me, [])
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return sorted(found)

started_at = time.time()
start = time.perf_counter()
child = subprocess.Popen(command)
peak = {"pss": 0, "rss": 0, "hwm": 0, "processes": 0, "samples": 0, "at_s": 0.0}
while True:
    try:
        code = child.wait(timeout=every)
        break
    except subprocess.TimeoutExpired:
        pass
    pids = tree()
    rss = hwm = 0
    for pid in pids:
        try:
            with open("/proc/%d/statm" % pid) as f:
                rss += int(f.read().split()[1]) * page_kib
        except (OSError, ValueError, IndexError):
            continue
        hwm = max(hwm, kib("/proc/%d/status" % pid, "VmHWM:"))
    peak["samples"] += 1
    peak["hwm"] = max(peak["hwm"], hwm)
    peak["rss"] = max(peak["rss"], rss)
    # PSS costs a walk of the page tables: read it only when the tree is near its peak.
    if rss >= 0.9 * peak["rss"]:
        pss = sum(kib("/proc/%d/smaps_rollup" % pid, "Pss:") for pid in pids)
        if pss > peak["pss"]:
            peak.update(pss=pss, processes=len(pids), at_s=time.perf_counter() - start)
wall = time.perf_counter() - start
maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(report, "w") as out:
    json.dump(
        {"started_at": started_at, "wall_s": wall, "peak_rss_kib": maxrss, "returncode": code,
         # A command over before the first sample: its one process's own peak.
         "tree_pss_kib": peak["pss"] if peak["samples"] else maxrss,
         "tree_rss_kib": max(peak["rss"], maxrss), "largest_hwm_kib": max(peak["hwm"], maxrss),
         "tree_processes_at_peak": peak["processes"], "tree_peak_at_s": peak["at_s"],
         "samples": peak["samples"]},
        out,
    )
sys.exit(code if code >= 0 else 128 - code)
"""


def run(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None
) -> Finished:
    """Run a command to completion; its output goes to files (no pipe can fill up and block).

    If this process is interrupted, the command's whole process group is stopped with it.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(suffix=".json") as report,
    ):
        started_at = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WRAPPER, report.name, str(SAMPLE_S), *args],
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
        measured = json.loads(Path(report.name).read_text() or "{}")
        out.seek(0)
        err.seek(0)
        return Finished(
            args=tuple(args),
            returncode=int(measured.get("returncode", proc.returncode)),
            started_at=float(measured.get("started_at", started_at)),
            wall_s=float(measured.get("wall_s", float("nan"))),
            peak_rss_mb=float(measured.get("peak_rss_kib", 0)) / 1024,  # KiB on Linux
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            tree_pss_mb=float(measured.get("tree_pss_kib", "nan")) / 1024,
            tree_rss_mb=float(measured.get("tree_rss_kib", "nan")) / 1024,
            largest_process_mb=float(measured.get("largest_hwm_kib", "nan")) / 1024,
            tree_processes_at_peak=int(measured.get("tree_processes_at_peak", 0)),
            tree_peak_at_s=float(measured.get("tree_peak_at_s", "nan")),
            samples=int(measured.get("samples", 0)),
        )
