"""The warehouse: DuckDB (embedded default) or Snowflake (production).

Only the base is imported here; each implementation imports its driver when chosen.
"""

from genesys_assets.warehouse.base import LoadResult, Warehouse, WarehouseError

__all__ = ["LoadResult", "Warehouse", "WarehouseError"]
