"""The Dagster definitions: every dataset's assets and checks, the dimensions, jobs, schedules,
the sensor.

Loading this module is what the UI, every run, every step process and every sensor tick pay
for, so it only reads the datasets file and the environment; the Genesys SDK, boto3, the
Snowflake connector, pyarrow, pandas and DuckDB are imported when a run first needs them.
"""

from collections.abc import Mapping

from dagster import (
    AssetSelection,
    DailyPartitionsDefinition,
    Definitions,
    define_asset_job,
    multiprocess_executor,
)

from genesys_assets import datasets
from genesys_assets.dimensions import all_dimensions
from genesys_assets.kpi_views import views_for
from genesys_assets.pipeline import catalog, environment
from genesys_assets.pipeline.assets import (
    build_dataset_assets,
    build_dimension_asset,
    build_kpi_view_asset,
)
from genesys_assets.pipeline.automation import build_refresh_schedule, build_settling_sensor
from genesys_assets.pipeline.checks import build_checks, build_checks_job, build_view_checks

MAIN_JOB = "genesys_job"
CHECKS_JOB = "genesys_checks_job"
# Steps of different datasets overlap (one fetches while the other flattens or loads); more
# processes than this only queue on the API's rate limit and the warehouse's writer pool.
MAX_PARALLEL_STEPS = 4


def build_definitions(
    config: datasets.DatasetsFile, env: Mapping[str, str] | None = None
) -> Definitions:
    partitions = DailyPartitionsDefinition(
        start_date=config.org.start_date.isoformat(),
        timezone=config.org.time_zone,
        end_offset=0,  # the last partition is the last complete day
    )
    # Each dataset's fetch is a step of its own process; they may all run at once.
    parallel_fetches = max(1, min(len(config.datasets), MAX_PARALLEL_STEPS))
    resources = environment.resources(env, parallel_fetches)
    naming = catalog.warehouse_naming(resources["warehouse"])
    dimensions = all_dimensions(include_email=resources["genesys"].user_emails)
    assets = [build_dimension_asset(dimension, naming) for dimension in dimensions]
    checks = []
    jobs = []
    schedules = []
    for dataset in config.datasets:
        dataset_assets = build_dataset_assets(dataset, partitions, naming)
        assets.extend(dataset_assets)
        checks.append(build_checks(dataset, partitions, config.settling))
        job_name = f"{dataset.name}_job"
        jobs.append(
            define_asset_job(
                job_name,
                selection=AssetSelection.assets(*dataset_assets),
                description=f"{dataset.name}: raw pages, Parquet, warehouse table, its checks.",
            )
        )
        schedules.append(build_refresh_schedule(dataset.name, job_name, config))
    for view in views_for(config):
        assets.append(build_kpi_view_asset(view, naming, config.org.time_zone))
        checks.append(build_view_checks(view))
    main = define_asset_job(
        MAIN_JOB,
        selection=AssetSelection.all(),
        description="Every dataset for a day (or a range of days), the dimensions, the KPI views.",
    )
    return Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[
            main,
            build_checks_job(config.datasets, partitions, config.settling, CHECKS_JOB),
            *jobs,
        ],
        schedules=schedules,
        sensors=[build_settling_sensor(config)],
        resources=resources,
        executor=multiprocess_executor.configured(
            {
                "max_concurrent": MAX_PARALLEL_STEPS,
                # Step processes fork from a server that has Dagster and these definitions
                # loaded already: a step starts in a fraction of a second, not a fresh import.
                "start_method": {
                    "forkserver": {"preload_modules": ["dagster", "genesys_assets.definitions"]}
                },
            }
        ),
    )


defs = build_definitions(datasets.load())
