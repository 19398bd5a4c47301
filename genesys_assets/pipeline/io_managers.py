"""IO managers: where a day's staged object lives, making it current, handing it on.

The assets stage their days as new, not yet current objects (a fetch folder of raw pages, a
version of a day's Parquet file), because a range's days are written as the fetches arrive and
memory stays one fetch deep. Storing an output here means publishing it: each day's manifest or
`_staged.json` pointer is set to what the asset staged, once the asset's step has succeeded, so
a step that fails leaves every day as it was. Loading an input reads what is current for the
run's days and verifies it (manifests present, Parquet footers readable). Neither fetches nor
flattens; the dataset is the asset's own `dataset` metadata, not a parse of its name.
"""

from datetime import date

from dagster import ConfigurableIOManager, InputContext, OutputContext, ResourceDependency

from genesys_assets import daily
from genesys_assets.pipeline.resources import StageResource
from genesys_assets.stage.parquet_files import ParquetStore, StagedParquet
from genesys_assets.stage.raw_pages import RawPageStore


def _days(context: InputContext | OutputContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.asset_partition_keys]


def _dataset(context: InputContext | OutputContext) -> str:
    """The dataset's folder in the stage (for its org), from the asset's own metadata."""
    output = context.upstream_output if isinstance(context, InputContext) else context
    if output is None or "stage_folder" not in (output.definition_metadata or {}):
        raise ValueError(f"asset {context.asset_key.to_user_string()} names no stage folder")
    return str(output.definition_metadata["stage_folder"])


class RawPagesIOManager(ConfigurableIOManager):
    """Raw pages under `raw/<dataset>/[org=<id>/]year=/month=/day=/`: a manifest per day names
    its fetch."""

    stage: ResourceDependency[StageResource]

    def handle_output(self, context: OutputContext, obj: daily.RawStaging) -> None:
        daily.publish_raw_pages(RawPageStore(self.stage.get_stage()), obj, _days(context))

    def load_input(self, context: InputContext) -> daily.RawDays:
        store = RawPageStore(self.stage.get_stage())
        return daily.RawDays.read(store, _dataset(context), _days(context))


class ParquetIOManager(ConfigurableIOManager):
    """Parquet under `<dataset>/[org=<id>/]year=/month=/day=/<version>.parquet`, `_staged.json`
    current."""

    stage: ResourceDependency[StageResource]

    def handle_output(self, context: OutputContext, obj: daily.ParquetStaging) -> None:
        days = _days(context)
        if set(obj.days) != set(days):
            raise ValueError(
                f"{obj.dataset}: flattened {daily.describe_days(sorted(obj.days))} but the run "
                f"is for {daily.describe_days(days)}"
            )
        store = ParquetStore(self.stage.get_stage())
        daily.publish_parquet(store, obj.dataset, {d: p.staged for d, p in obj.days.items()})

    def load_input(self, context: InputContext) -> dict[date, StagedParquet]:
        store = ParquetStore(self.stage.get_stage())
        return daily.current_parquet(store, _dataset(context), _days(context))
