"""The stage between the API and the warehouse: a local folder or an S3 prefix."""

from genesys_assets.stage.base import Stage, StageError
from genesys_assets.stage.local import LocalStage

__all__ = ["LocalStage", "Stage", "StageError"]
