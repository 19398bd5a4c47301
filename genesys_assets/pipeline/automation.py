"""When loads run by themselves: a daily refresh per dataset, and the settling sensor.

Closed days still change for a while: Genesys ingests some events late, reprocesses recent days
at night, and applies some org settings (the service-level options) to past dates. Two
mechanisms keep recent days right:
- the settling sensor (`genesys_settling`, the precise one) compares Genesys' day totals of the
  last `settling.days` days with the warehouse and re-loads exactly the days that differ
  (`genesys_assets.settling`);
- each dataset's schedule, the simple fallback, re-loads the last `refresh_days` complete days
  every day, whether they changed or not.
Both request one run per day, so each run's checks are recorded against its partition.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from genesys_assets.datasets import Dataset, DatasetsFile, Org
from genesys_assets.pipeline.checks import check_keys
from genesys_assets.pipeline.keys import dataset_asset_keys, step_name
from genesys_assets.pipeline.resources import GenesysResource, WarehouseResource
from genesys_assets.settling import SettlingState, compare_round, recent_days

SETTLING_SENSOR = "genesys_settling"
# Every run of an org carries its id: the queue's per-org limits (deploy/dagster.yaml) key on it.
ORG_TAG = "genesys/org"
# Dagster keeps tag values short; the full reason is in the tick's log.
_TAG_LENGTH = 200


def build_refresh_schedule(
    dataset: Dataset, job_name: str, config: DatasetsFile
) -> ScheduleDefinition:
    org = dataset.org
    name = dataset.label

    @schedule(
        name=step_name(org, f"{dataset.name}_daily_refresh"),
        job_name=job_name,
        cron_schedule=config.schedule.cron,
        execution_timezone=org.time_zone,
        description=(
            f"Every day at '{config.schedule.cron}' ({org.time_zone}), re-load the last "
            f"{config.schedule.refresh_days} complete days of {name}, changed or not: closed "
            "days still change for a while. The genesys_settling sensor re-loads only the days "
            "that did."
        ),
    )
    def refresh(context: ScheduleEvaluationContext) -> SkipReason | list[RunRequest]:
        tick = context.scheduled_execution_time.astimezone(ZoneInfo(org.time_zone))
        days = recent_days(tick.date(), config.schedule.refresh_days, org.start_date)
        if not days:
            return SkipReason(f"no complete day since {org.start_date} yet")
        return [
            RunRequest(
                run_key=f"{name}-{day}-refresh-{tick:%Y%m%d}",
                partition_key=day.isoformat(),
                tags={"genesys_assets/load": "refresh", ORG_TAG: org.id},
            )
            for day in days
        ]

    return refresh


def build_settling_sensor(config: DatasetsFile, org: Org) -> SensorDefinition:
    """A re-load is a run of the day's dataset assets and their checks, for one org."""
    settling = config.settling
    zone = ZoneInfo(org.time_zone)
    datasets = {dataset.name: dataset for dataset in config.datasets_of(org)}
    assets = {name: dataset_asset_keys(dataset) for name, dataset in datasets.items()}

    @sensor(
        name=step_name(org, SETTLING_SENSOR),
        target=AssetSelection.assets(*(key for keys in assets.values() for key in keys)),
        minimum_interval_seconds=settling.interval_minutes * 60,
        default_status=DefaultSensorStatus.STOPPED,
        description=(
            f"Every {settling.interval_minutes} min, compares Genesys' day totals of the last "
            f"{settling.days} complete days with the warehouse (one request per dataset) and "
            "re-loads exactly the days that differ, one run per day and change. A day that "
            f"has matched for {settling.matched_for_hours:g} h is settled and no longer asked "
            "about."
        ),
    )
    def genesys_settling(
        context: SensorEvaluationContext, genesys: GenesysResource, warehouse: WarehouseResource
    ) -> SensorResult:
        now = datetime.now(UTC)
        state = SettlingState.from_cursor(context.cursor)
        found = compare_round(
            genesys.get_client(org.id),
            warehouse.get_warehouse(),
            list(datasets.values()),
            state,
            now,
            now.astimezone(zone).date(),
            settling,
            org.start_date,
        )
        # The tick's log in the UI: what was compared, and why each re-load was asked for.
        for line in found.lines:
            context.log.info(line)
        requests = [
            RunRequest(
                # The same change of the same day is one request, however many ticks see it
                # before its re-load has run; a further change is a new one.
                run_key=f"settle-{datasets[reload.dataset].label}-{reload.day}-{reload.fingerprint}",
                asset_selection=assets[reload.dataset],
                asset_check_keys=check_keys(datasets[reload.dataset]),
                partition_key=reload.day.isoformat(),
                tags={
                    ORG_TAG: org.id,
                    "genesys_assets/load": "settling",
                    "genesys_assets/settling_reason": reload.reason[:_TAG_LENGTH],
                },
            )
            for reload in found.reloads
        ]
        return SensorResult(
            run_requests=requests,
            skip_reason=None if requests else SkipReason(" | ".join(found.lines)),
            cursor=state.to_cursor(),
        )

    return genesys_settling
