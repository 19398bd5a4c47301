"""The Dagster definitions: every dataset's assets and checks, jobs, schedules, the sensor.

Loading this module is what the UI, every run and every sensor tick pay for, so it only reads
the datasets file and the environment; the Genesys SDK, boto3 and the Snowflake connector are
imported by the resources when a run first needs them.
"""

from dagster import (
    AssetSelection,
    DailyPartitionsDefinition,
    Definitions,
    define_asset_job,
    in_process_executor,
)

from genesys_assets import datasets
from genesys_assets.pipeline import environment
from genesys_assets.pipeline.assets import build_dataset_assets, genesys_queues
from genesys_assets.pipeline.automation import build_final_load_sensor, build_refresh_schedule
from genesys_assets.pipeline.checks import build_checks

MAIN_JOB = "genesys_job"
CHECKS_JOB = "genesys_checks_job"


def build_definitions(
    config: datasets.DatasetsFile, env: dict[str, str] | None = None
) -> Definitions:
    partitions = DailyPartitionsDefinition(
        start_date=config.org.start_date.isoformat(),
        timezone=config.org.time_zone,
        end_offset=0,  # the last partition is the last complete day
    )
    assets = [genesys_queues]
    checks = []
    jobs = []
    schedules = []
    for dataset in config.datasets:
        dataset_assets = build_dataset_assets(dataset, partitions)
        assets.extend(dataset_assets)
        checks.extend(build_checks(dataset, partitions))
        job = define_asset_job(
            f"{dataset.name}_job",
            selection=AssetSelection.assets(*dataset_assets),
            description=f"{dataset.name}: raw pages, Parquet, warehouse table and its checks.",
        )
        jobs.append(job)
        schedules.append(build_refresh_schedule(dataset.name, job, config))
    main = define_asset_job(
        MAIN_JOB,
        selection=AssetSelection.all(),
        description="Every dataset for a day (or a range of days), and the queue names.",
    )
    verify = define_asset_job(
        CHECKS_JOB,
        selection=AssetSelection.all_asset_checks(),
        # A checks-only selection has no asset to infer the partitions from.
        partitions_def=partitions,
        description=(
            "Every dataset's checks for a day, nothing reloaded: is the warehouse still what "
            "was staged?"
        ),
    )
    return Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[main, verify, *jobs],
        schedules=schedules,
        sensors=[build_final_load_sensor(main, config)],
        resources=environment.resources(env),
        # The work is waiting on the API and the warehouse, with its own bounded concurrency;
        # one process per run keeps one simulator, one login and one warehouse connection.
        executor=in_process_executor,
    )


defs = build_definitions(datasets.load())
