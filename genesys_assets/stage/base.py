"""The stage: where files wait between the API and the warehouse.

Two implementations share one small interface: a local folder (the embedded default) and an S3
prefix (production, which Snowflake's external stage points at). Keys are relative paths with
`/`; each implementation maps them onto its root. Every write is atomic (an object is either
there whole or not at all), so a crash mid-write never leaves a file that a later load would pick
up.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO


class StageError(RuntimeError):
    """A stage operation failed; the message names the key and the stage."""


class Stage(ABC):
    """A flat key space of immutable-once-written files."""

    @property
    @abstractmethod
    def description(self) -> str:
        """Where this stage is, for logs and metadata (never carries credentials)."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """A URI of the key as other tools know it (file:///..., s3://bucket/...)."""

    @abstractmethod
    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        """Write a whole object; readers see either the old object or the new one."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; StageError if it is missing."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A seekable reader, so that Parquet footers are read without the whole file."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Keys under a prefix (a folder: end it with '/'), sorted."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Remove keys; missing ones are not an error."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for the key, if the stage is local (lets DuckDB read in place)."""
        return None


def join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))
