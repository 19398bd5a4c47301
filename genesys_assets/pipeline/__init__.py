"""The thin Dagster layer: resources, IO managers, assets, checks, schedules, sensor."""
