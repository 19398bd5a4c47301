"""When loads run by themselves: a daily refresh per dataset, and a final load per day.

Genesys stamps a metric when its value is complete (handle time at the end of after-call work),
so a day's numbers keep moving after midnight. Two mechanisms cover that:
- each dataset's schedule re-loads the last N complete days every day (N = `refresh_days`);
- the sensor asks Genesys up to when its data is complete (`dataAvailabilityDate`) and requests
  one final load of every day once that date has passed the day's end.
Both request one run per day, so each run's checks are recorded against its partition.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dagster import (
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

from genesys_assets.datasets import DatasetsFile
from genesys_assets.pipeline.resources import GenesysResource

# A sensor that was off for a long time catches up this many days per evaluation.
MAX_DAYS_PER_TICK = 14


def refresh_days(today: date, refresh: int, first_day: date) -> list[date]:
    """The last `refresh` complete local days before `today`, oldest first."""
    days = [today - timedelta(days=n) for n in range(refresh, 0, -1)]
    return [d for d in days if d >= first_day]


def final_days(last_final: date, cursor: str | None, first_day: date) -> list[date]:
    """Days to load for the last time: after the cursor, up to the newest complete one."""
    if last_final < first_day:
        return []
    if cursor is None:
        return [last_final]  # a new sensor starts from now, it does not replay history
    start = max(date.fromisoformat(cursor) + timedelta(days=1), first_day)
    days: list[date] = []
    while start <= last_final and len(days) < MAX_DAYS_PER_TICK:
        days.append(start)
        start += timedelta(days=1)
    return days


def newest_complete_day(available: datetime, time_zone: str) -> date:
    """A local day is complete once the availability date reaches the next local midnight."""
    return available.astimezone(ZoneInfo(time_zone)).date() - timedelta(days=1)


def build_refresh_schedule(name: str, job_name: str, config: DatasetsFile) -> ScheduleDefinition:
    @schedule(
        name=f"{name}_daily_refresh",
        job_name=job_name,
        cron_schedule=config.schedule.cron,
        execution_timezone=config.org.time_zone,
        description=(
            f"Every day at '{config.schedule.cron}' ({config.org.time_zone}), re-load the last "
            f"{config.schedule.refresh_days} complete days of {name}: Genesys keeps updating "
            "recent buckets."
        ),
    )
    def refresh(context: ScheduleEvaluationContext) -> SkipReason | list[RunRequest]:
        tick = context.scheduled_execution_time.astimezone(ZoneInfo(config.org.time_zone))
        days = refresh_days(tick.date(), config.schedule.refresh_days, config.org.start_date)
        if not days:
            return SkipReason(f"no complete day since {config.org.start_date} yet")
        return [
            RunRequest(
                run_key=f"{name}-{day}-refresh-{tick:%Y%m%d}",
                partition_key=day.isoformat(),
                tags={"genesys_assets/load": "refresh"},
            )
            for day in days
        ]

    return refresh


def build_final_load_sensor(job_name: str, config: DatasetsFile) -> SensorDefinition:
    @sensor(
        name="genesys_final_loads",
        job_name=job_name,
        minimum_interval_seconds=15 * 60,
        default_status=DefaultSensorStatus.STOPPED,
        description=(
            "Requests the final load of each day, every dataset, once Genesys reports its data "
            "complete past the day's end (GET /api/v2/analytics/conversations/details/jobs/"
            "availability)."
        ),
    )
    def final_loads(
        context: SensorEvaluationContext, genesys: GenesysResource
    ) -> SkipReason | SensorResult:
        available = genesys.get_client().data_availability()
        last_final = newest_complete_day(available, config.org.time_zone)
        days = final_days(last_final, context.cursor, config.org.start_date)
        if not days:
            return SkipReason(
                f"data available up to {available:%Y-%m-%d %H:%M} UTC; no new complete day"
            )
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_key=f"final-{day}",
                    partition_key=day.isoformat(),
                    tags={"genesys_assets/load": "final"},
                )
                for day in days
            ],
            cursor=days[-1].isoformat(),
        )

    return final_loads
