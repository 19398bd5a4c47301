"""Every asset, check, job, schedule and sensor as Dagster sees them, against a checked-in
snapshot: a change to a key, group, kind, partitioning, policy, pool or job shows here first.

After an intended change, accept it with `GENESYS_UPDATE_SNAPSHOT=1 make test` (or that
variable and `pytest genesys_assets_tests/test_definitions_snapshot.py`) and commit the file.
"""

import json
import os
from pathlib import Path
from typing import Any

from genesys_assets import datasets
from genesys_assets.definitions import build_definitions

SNAPSHOT = Path(__file__).with_name("snapshots") / "definitions.json"


def describe(defs: Any) -> dict[str, Any]:
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        definition = node.assets_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitions": str(node.partitions_def) if node.partitions_def else None,
            "backfill_policy": str(definition.backfill_policy),
            "pools": sorted(definition.node_def.pools),
            "io_manager": definition.get_io_manager_key_for_asset_key(key),
            "depends_on": sorted(k.to_user_string() for k in node.parent_keys),
            "table_name": str(node.metadata.get("dagster/table_name", "")) or None,
        }
    checks = {
        key.to_user_string(): {
            "blocking": graph.get(key).blocking,
            "partitions": str(graph.get(key).partitions_def),
        }
        for key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string())
    }
    jobs = {}
    for job in sorted(repository.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue  # Dagster's own implicit job
        jobs[job.name] = {
            "partitions": str(job.partitions_def) if job.partitions_def else None,
            "steps": sorted(n.name for n in job.nodes_in_topological_order),
            "executor": job.executor_def.name,
        }
    return {
        "assets": assets,
        "checks": checks,
        "jobs": jobs,
        "schedules": {
            s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name}
            for s in repository.schedule_defs
        },
        "sensors": {
            s.name: {
                # Sensors over every job (the alerts) have none of their own.
                "job": s.job_name if s.has_jobs else None,
                "default_status": s.default_status.value,
                "interval_s": s.minimum_interval_seconds,
            }
            for s in repository.sensor_defs
        },
    }


def test_the_definitions_match_the_snapshot(clean_env):
    current = describe(build_definitions(datasets.load()))
    text = json.dumps(current, indent=2, sort_keys=True) + "\n"
    if os.environ.get("GENESYS_UPDATE_SNAPSHOT"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text)
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, (
        "the definitions changed; if that is intended, run with GENESYS_UPDATE_SNAPSHOT=1 and "
        "commit genesys_assets_tests/snapshots/definitions.json"
    )


def test_the_snapshot_names_every_part_the_pipeline_promises():
    """Guards the snapshot itself: what the README promises is in it."""
    snapshot = json.loads(SNAPSHOT.read_text())
    for dataset in ("queue_performance", "agent_performance"):
        table = snapshot["assets"][dataset]
        assert table["pools"] == ["genesys_warehouse"] and "duckdb" in table["kinds"]
        assert table["backfill_policy"] == "BackfillPolicy.single_run()"
        for check in ("row_count_parity", "totals_parity"):
            assert snapshot["checks"][f"{dataset}:{check}"]["blocking"] is True
    assert snapshot["jobs"]["genesys_checks_job"]["partitions"], "a day picker"
    assert snapshot["jobs"]["genesys_job"]["executor"] == "multiprocess"
