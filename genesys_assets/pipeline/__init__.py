"""The thin Dagster layer: resources, IO managers, assets, checks, schedules, sensor."""

import warnings

# Two features used on purpose print a warning on every load and run: single-run backfills
# (beta; what makes a 90-day backfill one run) and partitioned asset checks (preview; what
# records a check per day). Silence exactly those two, nothing else, before any asset exists.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`")
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")
