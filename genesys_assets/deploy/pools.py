"""`python -m genesys_assets.deploy.pools`: set the Dagster instance's pool limits.

Pool limits live in the instance's database, not in dagster.yaml (which can only give a default
to every pool), so a deployment sets them with this command after `dagster instance migrate`,
and again whenever the datasets file or the warehouse changes:

- `genesys_warehouse`: every table load takes a slot. DuckDB lets one writer in at a time, so 1;
  Snowflake takes concurrent loads, so GENESYS_WAREHOUSE_WRITERS (default 4) when
  SNOWFLAKE_ACCOUNT is set;
- `genesys_api_<org id>`, one per org of the datasets file: the org's fetch steps share its API
  rate limit. Its `fetch_slots`, else one per dataset of the org (its datasets fetch side by
  side, as in a single run).

It reads the datasets file as the code location does (`GENESYS_DATASETS_FILE`, else the shipped
one) and the instance from DAGSTER_HOME, prints every limit it sets and why, and leaves any
other pool of the instance as it is (it names them). `--dry-run` prints without setting.
"""

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from genesys_assets import datasets

WAREHOUSE_WRITERS_ENV = "GENESYS_WAREHOUSE_WRITERS"
DEFAULT_SNOWFLAKE_WRITERS = 4


@dataclass(frozen=True)
class PoolLimit:
    pool: str
    limit: int
    why: str


class PoolSettingError(ValueError):
    """A setting the limits cannot be computed from; the message names it."""


def planned_limits(config: datasets.DatasetsFile, env: Mapping[str, str]) -> list[PoolLimit]:
    """Every pool this deployment uses, with its limit and the reason for it."""
    from genesys_assets.pipeline.assets import WAREHOUSE_POOL

    if (env.get("SNOWFLAKE_ACCOUNT") or "").strip():
        writers = _writers(env)
        limits = [PoolLimit(WAREHOUSE_POOL, writers, f"Snowflake: {writers} concurrent loads")]
    else:
        limits = [PoolLimit(WAREHOUSE_POOL, 1, "DuckDB: one writer at a time")]
    for org in config.orgs:
        if org.fetch_slots is not None:
            limits.append(PoolLimit(org.api_pool, org.fetch_slots, f"org {org.id}: fetch_slots"))
        else:
            count = len(config.datasets_of(org))
            limits.append(
                PoolLimit(org.api_pool, count, f"org {org.id}: one per dataset ({count})")
            )
    return limits


def _writers(env: Mapping[str, str]) -> int:
    from dagster._utils.concurrency import get_max_concurrency_limit_value

    raw = (env.get(WAREHOUSE_WRITERS_ENV) or "").strip()
    if not raw:
        return DEFAULT_SNOWFLAKE_WRITERS
    most = get_max_concurrency_limit_value()
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise PoolSettingError(
            f"{WAREHOUSE_WRITERS_ENV} must be a whole number from 1 to {most}, got '{raw}'"
        )
    return int(raw)


def apply(limits: Sequence[PoolLimit], *, dry_run: bool = False) -> list[str]:
    """Set the limits on the instance of DAGSTER_HOME; the lines to print."""
    from dagster import DagsterInstance

    lines = []
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        if not storage.supports_global_concurrency_limits:
            raise PoolSettingError(
                f"the instance of DAGSTER_HOME ({os.environ.get('DAGSTER_HOME')}) does not "
                "support pool limits: point DAGSTER_HOME at the deployment's instance "
                "(deploy/dagster.yaml)"
            )
        verb = "would set" if dry_run else "set"
        for limit in limits:
            if not dry_run:
                storage.set_concurrency_slots(limit.pool, limit.limit)
            lines.append(f"{verb} {limit.pool} = {limit.limit} ({limit.why})")
        ours = {limit.pool for limit in limits}
        for pool in sorted(storage.get_concurrency_keys() - ours):
            info = storage.get_concurrency_info(pool)
            lines.append(f"left as it is: {pool} = {info.limit} (not a pool of this deployment)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genesys_assets.deploy.pools",
        description="Set the Dagster instance's pool limits (DAGSTER_HOME) for the datasets "
        "file and the warehouse of this deployment.",
    )
    parser.add_argument("--dry-run", action="store_true", help="print, do not set")
    args = parser.parse_args(argv)
    try:
        limits = planned_limits(datasets.load(), os.environ)
        lines = apply(limits, dry_run=args.dry_run)
    except (PoolSettingError, datasets.DatasetFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
