"""Load time: `import genesys_assets` and loading its `Definitions`.

The Dagster UI, every run, every sensor tick and every schedule tick load the code location, so
this is paid far more often than any fetch. Each sample is a fresh interpreter (nothing cached
in-process, like a new run), started outside the project folder, timing inside the child:
`import genesys_assets` and the first access to `genesys_assets.defs`. The child also reports
which heavy modules got imported on the way. Measured with the embedded defaults and with
Snowflake and S3 configured (dummy values: loading validates settings, it connects to
nothing), interleaved; `import dagster` alone is measured beside them as the floor any Dagster
code location pays.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass

from bench import procs
from bench.report import BenchResult, Figure, median

TARGET_S = 1.5
HEAVY = (
    "PureCloudPlatformClientV2",
    "boto3",
    "snowflake.connector",
    "pandas",
    "duckdb",
    "pyarrow",
)
MUST_STAY_OUT = ("PureCloudPlatformClientV2", "boto3", "snowflake.connector", "pandas")
SNOWFLAKE_ENV = {
    "SNOWFLAKE_ACCOUNT": "bench-account",
    "SNOWFLAKE_USER": "bench",
    "SNOWFLAKE_PASSWORD": "not-a-secret",
    "SNOWFLAKE_DATABASE": "BENCH",
    "SNOWFLAKE_STAGE": "BENCH_STAGE",
    "S3_BUCKET": "bench-bucket",
    # Production needs the real org's credentials too (never the simulator beside Snowflake).
    "GENESYS_CLIENT_ID": "bench-client",
    "GENESYS_CLIENT_SECRET": "not-a-secret",
    "GENESYS_REGION": "mypurecloud.ie",
}

LOAD = f"""
import json, sys, time
started = time.perf_counter()
import genesys_assets
imported = time.perf_counter()
genesys_assets.defs
loaded = time.perf_counter()
print(json.dumps({{
    "import_s": imported - started,
    "defs_s": loaded - imported,
    "total_s": loaded - started,
    "modules": len(sys.modules),
    "heavy": [m for m in {HEAVY!r} if m in sys.modules],
}}))
"""

DAGSTER_ONLY = """
import json, sys, time
started = time.perf_counter()
import dagster
print(json.dumps({"total_s": time.perf_counter() - started, "modules": len(sys.modules)}))
"""


@dataclass(frozen=True)
class Load:
    """One fresh interpreter's figures."""

    total_s: float  # import genesys_assets + first access to genesys_assets.defs
    defs_s: float
    modules: int
    heavy: tuple[str, ...]
    wall_s: float  # the whole child process, interpreter start-up included


def _sample(script: str, env: dict[str, str], cwd: str) -> Load:
    finished = procs.run([procs.PYTHON, "-c", script], env=env, cwd=cwd).check("loading")
    data = json.loads(finished.stdout.strip().splitlines()[-1])
    return Load(
        total_s=float(data["total_s"]),
        defs_s=float(data.get("defs_s", 0.0)),
        modules=int(data["modules"]),
        heavy=tuple(data.get("heavy", ())),
        wall_s=finished.wall_s,
    )


def run(quick: bool = False) -> BenchResult:
    reps = 3 if quick else 5
    started = time.perf_counter()
    result = BenchResult(
        name="load_time",
        title="5. Load time: import genesys_assets + Definitions",
        method=(
            "A fresh interpreter per sample (started outside the project), timing inside it "
            "`import genesys_assets` plus the first access to `genesys_assets.defs`; "
            "interleaved: embedded defaults, Snowflake + S3 configured (dummy values), and "
            "`import dagster` alone as the floor. Process wall time includes interpreter "
            "start-up."
        ),
    )
    workdir = tempfile.mkdtemp(prefix="genesys-bench-load-")
    configs = {
        "embedded defaults": procs.clean_env(),
        "Snowflake + S3 configured": procs.clean_env(**SNOWFLAKE_ENV),
    }
    samples: dict[str, list[Load]] = {name: [] for name in configs}
    dagster_only: list[float] = []
    try:
        for rep in range(reps):
            for name, env in configs.items():
                samples[name].append(_sample(LOAD, env, workdir))
            dagster_only.append(_sample(DAGSTER_ONLY, procs.clean_env(), workdir).total_s)
            print(
                f"  rep {rep + 1}/{reps}: "
                + ", ".join(f"{n} {s[-1].total_s:.2f} s" for n, s in samples.items())
                + f", import dagster {dagster_only[-1]:.2f} s",
                flush=True,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    for name, loads in samples.items():
        totals = [s.total_s for s in loads]
        embedded = name == "embedded defaults"
        result.add(
            Figure(
                f"{name}: import + Definitions",
                "s",
                totals,
                target=f"< {TARGET_S:g} s" if embedded else None,
                met=median(totals) < TARGET_S if embedded else None,
            )
        )
        result.add(Figure(f"{name}: of which Definitions", "s", [s.defs_s for s in loads]))
        result.add(Figure(f"{name}: whole process", "s", [s.wall_s for s in loads]))
        heavy = sorted({m for s in loads for m in s.heavy})
        result.add(
            Figure(
                f"{name}: SDK, boto3, snowflake.connector, pandas imported",
                "",
                [float(sum(m in s.heavy for m in MUST_STAY_OUT)) for s in loads],
                target="0",
                met=not any(m in heavy for m in MUST_STAY_OUT),
                digits=0,
            )
        )
        modules = int(median([float(s.modules) for s in loads]))
        result.notes.append(
            f"{name}: heavy modules loaded: {', '.join(heavy) or 'none'} (of {', '.join(HEAVY)}); "
            f"{modules} modules in all."
        )
    result.add(Figure("reference: import dagster alone", "s", dagster_only))
    result.details = {
        "samples": {name: [asdict(s) for s in loads] for name, loads in samples.items()},
        "import_dagster_s": dagster_only,
    }
    result.seconds = time.perf_counter() - started
    return result
