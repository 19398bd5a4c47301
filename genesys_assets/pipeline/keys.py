"""The asset keys of a dataset, which the assets, the checks and the tests all name."""

from dagster import AssetKey

from genesys_assets.datasets import Dataset


def raw_pages_key(dataset: Dataset) -> AssetKey:
    return AssetKey(f"{dataset.name}_raw_pages")


def parquet_key(dataset: Dataset) -> AssetKey:
    return AssetKey(f"{dataset.name}_parquet")


def table_key(dataset: Dataset) -> AssetKey:
    return AssetKey(dataset.name)


def dataset_asset_keys(dataset: Dataset) -> list[AssetKey]:
    """What a day's re-load materializes: the raw pages, the Parquet file and the table."""
    return [raw_pages_key(dataset), parquet_key(dataset), table_key(dataset)]
