"""genesys_assets: Genesys Cloud conversation aggregates, day by day, into Snowflake.

`genesys_assets.defs` is the Dagster `Definitions` (what `dagster -m genesys_assets` loads). It
is built on first access, so importing the package, the core modules or the simulator does not
load Dagster.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "defs":
        from genesys_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'genesys_assets' has no attribute '{name}'")


def __dir__() -> list[str]:
    return ["defs"]
