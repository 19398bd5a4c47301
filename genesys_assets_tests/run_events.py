"""What a run in process recorded, read the same way by every test of the Dagster layer."""

from typing import Any

from dagster import DagsterEventType


def check_evaluations(result: Any) -> dict[str, Any]:
    """ "<table>.<check>" -> the run's (last) evaluation of it."""
    found = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.asset_check_evaluation_data
            found[f"{data.asset_key.to_user_string()}.{data.check_name}"] = data
    return found
