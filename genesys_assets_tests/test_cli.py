"""`dagster asset materialize` end to end in a subprocess, as a user or CI runs it."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from genesys_assets import datasets

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def materialize(env: dict[str, str], *args: str, select: str = "*") -> subprocess.CompletedProcess:
    return subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "genesys_assets", "--select", select, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(env["GENESYS_ASSETS_HOME"]).parent,
    )


def rows_by_day(home: str, table: str) -> dict[date, int]:
    with duckdb.connect(f"{home}/warehouse.duckdb", read_only=True) as con:
        return dict(
            con.execute(
                f"SELECT partition_date, count(*) FROM genesys.{table} GROUP BY 1"
            ).fetchall()
        )


@pytest.fixture
def env(clean_env) -> dict[str, str]:
    Path(clean_env["GENESYS_ASSETS_HOME"]).parent.mkdir(parents=True, exist_ok=True)
    return {**clean_env, "PYTHONWARNINGS": "ignore"}


def test_one_day_from_the_command_line(env):
    done = materialize(env, "--partition", "2024-11-01")
    assert done.returncode == 0, done.stderr[-3000:]
    # 4 checks on each of the 2 tables, 2 on each of the 3 KPI views
    assert done.stderr.count("ASSET_CHECK_EVALUATION") == 18
    assert "did not pass" not in done.stderr
    home = env["GENESYS_ASSETS_HOME"]
    assert rows_by_day(home, "queue_performance").keys() == {date(2024, 11, 1)}
    assert rows_by_day(home, "agent_performance")[date(2024, 11, 1)] > 0


def test_a_partition_range_is_one_run(env):
    # One dataset's chain is enough to show it; the whole job's range is test_day_records'.
    done = materialize(
        env, "--partition-range", "2024-11-04...2024-11-06", select="*agent_performance"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("RUN_SUCCESS") == 1
    assert set(rows_by_day(env["GENESYS_ASSETS_HOME"], "agent_performance")) == {
        date(2024, 11, 4),
        date(2024, 11, 5),
        date(2024, 11, 6),
    }


def test_a_typo_in_the_datasets_file_fails_with_the_field_and_writes_nothing(env, tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text(
        datasets.DEFAULT_FILE.read_text().replace(
            "userId\n          operator", "usrId\n          operator"
        )
    )
    done = materialize({**env, datasets.ENV_VAR: str(bad)}, "--partition", "2024-11-01")
    assert done.returncode != 0
    assert (
        "typo.yaml: datasets.agent_performance.filter.predicates[0].dimension: unknown dimension 'usrId' (did you mean 'userId'?)"
        in done.stderr
    )
    assert not os.path.exists(env["GENESYS_ASSETS_HOME"])


def test_a_reversed_range_fails_first_and_says_why(env):
    done = materialize(env, "--partition-range", "2024-11-07...2024-11-01")
    assert done.returncode != 0
    assert (
        "the partition range 2024-11-07...2024-11-01 ends before it starts: nothing was run or "
        "written; did you mean 2024-11-01...2024-11-07?" in done.stderr
    )
    assert "IndexError" not in done.stderr
    stage = Path(env["GENESYS_ASSETS_HOME"]) / "stage"
    assert not (stage / "genesys_queues").exists(), "the queue names were not replaced"
    assert not list(stage.rglob("*.parquet"))
