"""Child processes with their wall time and their own peak RSS.

psutil is not available, so peak RSS is `ru_maxrss`. Read naively in this process it would be
wrong twice: `getrusage(RUSAGE_CHILDREN)` is the largest of all children ever waited for, and
a child started straight from here inherits this process's high-water mark (Linux records the
pre-`exec` memory of the forked process in the child's `maxrss`, and this process grows to GBs
while it flattens large pages). So each command is started by a tiny stdlib-only wrapper
process that runs it, waits for it and reports `getrusage(RUSAGE_CHILDREN).ru_maxrss` (its only
child, and whatever that child waited for) and the command's own wall time.
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
    peak_rss_mb: float
    stdout: str
    stderr: str

    def check(self, what: str) -> Finished:
        """Itself, or an error with the end of the child's output if it failed."""
        if self.returncode != 0:
            tail = (self.stderr or self.stdout)[-4000:]
            raise RuntimeError(f"{what} failed with exit code {self.returncode}:\n{tail}")
        return self


# Started with `python -I -S`: nothing but the standard library, a few MB.
_WRAPPER = """
import json, resource, subprocess, sys, time
report, command = sys.argv[1], sys.argv[2:]
started_at = time.time()
start = time.perf_counter()
code = subprocess.call(command)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(report, "w") as out:
    json.dump(
        {"started_at": started_at, "wall_s": wall, "peak_rss_kib": peak, "returncode": code}, out
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
            [sys.executable, "-I", "-S", "-c", _WRAPPER, report.name, *args],
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
        )
