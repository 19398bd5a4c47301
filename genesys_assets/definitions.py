"""The Dagster definitions: every org's datasets (assets and checks), its dimensions, jobs,
schedules and settling sensor; the KPI views over every org's rows.

A one-org datasets file gives what it always gave: plain asset keys, `genesys_job`,
`genesys_checks_job`, `<dataset>_job`, `<dataset>_daily_refresh`, `genesys_settling`. A file of
several orgs gives each org the same under its id: keys `<org>/<asset>`, names
`<org>__genesys_job` and so on, each org partitioned by day in its own time zone from its own
first day, its fetch steps in its own pool (`genesys_api_<org>`), its runs tagged
`genesys/org=<org>`.

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
    build_dimensions_asset,
    build_kpi_view_asset,
)
from genesys_assets.pipeline.automation import (
    ORG_TAG,
    build_refresh_schedule,
    build_settling_sensor,
)
from genesys_assets.pipeline.checks import build_checks, build_checks_job, build_view_checks
from genesys_assets.pipeline.keys import step_name
from genesys_assets.pipeline.notifications import build_notification_sensors

MAIN_JOB = "genesys_job"
CHECKS_JOB = "genesys_checks_job"
# Steps of different datasets overlap (one fetches while the other flattens or loads); more
# processes than this only queue on the API's rate limit and the warehouse's writer pool.
MAX_PARALLEL_STEPS = 4


def build_definitions(
    config: datasets.DatasetsFile, env: Mapping[str, str] | None = None
) -> Definitions:
    # Each dataset's fetch is a step of its own process; an org's may all run at once.
    most = max(len(config.datasets_of(org)) for org in config.orgs)
    parallel_fetches = max(1, min(most, MAX_PARALLEL_STEPS))
    resources = environment.resources(env, parallel_fetches, config.orgs)
    naming = catalog.warehouse_naming(resources["warehouse"])
    dimensions = all_dimensions(include_email=resources["genesys"].user_emails)
    views = views_for(config)
    view_assets = [build_kpi_view_asset(view, naming, config.orgs) for view in views]
    assets = list(view_assets)
    checks = [build_view_checks(view) for view in views]
    jobs = []
    check_jobs = []
    schedules = []
    sensors = []
    for org in config.orgs:
        partitions = DailyPartitionsDefinition(
            start_date=org.start_date.isoformat(),
            timezone=org.time_zone,
            end_offset=0,  # the last partition is the last complete day
        )
        org_assets = [build_dimensions_asset(dimensions, naming, org)]
        org_datasets = config.datasets_of(org)
        for dataset in org_datasets:
            dataset_assets = build_dataset_assets(dataset, partitions, naming)
            org_assets.extend(dataset_assets)
            checks.append(build_checks(dataset, partitions, config.settling))
            job_name = step_name(org, f"{dataset.name}_job")
            jobs.append(
                define_asset_job(
                    job_name,
                    selection=AssetSelection.assets(*dataset_assets),
                    description=(
                        f"{dataset.label}: raw pages, Parquet, warehouse table, its checks."
                    ),
                    tags={ORG_TAG: org.id},
                )
            )
            schedules.append(build_refresh_schedule(dataset, job_name, config))
        assets.extend(org_assets)
        jobs.append(
            define_asset_job(
                step_name(org, MAIN_JOB),
                # The org's assets and checks, and the KPI views over every org's rows.
                selection=AssetSelection.assets(*org_assets, *view_assets),
                description=(
                    f"Every dataset of org {org.id} for a day (or a range of days), its "
                    "dimensions, the KPI views."
                    if org.prefixed
                    else "Every dataset for a day (or a range of days), the dimensions, the "
                    "KPI views."
                ),
                tags={ORG_TAG: org.id},
            )
        )
        check_jobs.append(
            build_checks_job(
                org_datasets, partitions, config.settling, step_name(org, CHECKS_JOB), org
            )
        )
        sensors.append(build_settling_sensor(config, org))
    return Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[*jobs, *check_jobs],
        schedules=schedules,
        # Failed runs and checks, of every org, to a webhook or by e-mail (GENESYS_ALERT_*).
        sensors=[*sensors, *build_notification_sensors(env)],
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
