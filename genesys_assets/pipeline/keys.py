"""The asset keys and step names of a dataset, which the assets, the checks and the tests all
name. An org of a datasets file of several has its keys under its id (`emea/queue_performance`)
and its steps prefixed with it; a one-org file's keep their plain names."""

from dagster import AssetKey

from genesys_assets.datasets import Dataset, Org


def _key(org: Org, name: str) -> AssetKey:
    return AssetKey([org.id, name]) if org.prefixed else AssetKey(name)


def raw_pages_key(dataset: Dataset) -> AssetKey:
    return _key(dataset.org, f"{dataset.name}_raw_pages")


def parquet_key(dataset: Dataset) -> AssetKey:
    return _key(dataset.org, f"{dataset.name}_parquet")


def table_key(dataset: Dataset) -> AssetKey:
    return _key(dataset.org, dataset.name)


def dimension_key(name: str, org: Org) -> AssetKey:
    """A dimension table's asset for one org (every org lists its own)."""
    return _key(org, name)


def step_name(org: Org, name: str) -> str:
    """An op, job, schedule or sensor name of an org: unique across the orgs of a file."""
    return f"{org.id}__{name}" if org.prefixed else name


def dataset_asset_keys(dataset: Dataset) -> list[AssetKey]:
    """What a day's re-load materializes: the raw pages, the Parquet file and the table."""
    return [raw_pages_key(dataset), parquet_key(dataset), table_key(dataset)]
