"""A local folder as the stage (the embedded default)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from genesys_assets.stage.base import Stage, StageError


class LocalStage(Stage):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    @property
    def description(self) -> str:
        return f"local folder {self.root}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StageError(f"key '{key}' leaves the stage folder {self.root}")
        return path

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        # Write beside the target and rename over it: a rename is atomic on one filesystem, so
        # a reader never sees half a file, and a crash leaves only a .tmp file nobody reads.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        for attempt in range(5):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                handle = open(tmp, "wb")  # noqa: SIM115 - closed by the with below
                break
            except FileNotFoundError:
                # Another process's clean-up removed the folder, empty, between the two calls.
                if attempt == 4:
                    raise
        try:
            with handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StageError(f"{key} is not in the stage ({self.description})") from None

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise StageError(f"{key} is not in the stage ({self.description})") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix if prefix.endswith("/") else (self.root / prefix).parent
        if not base.exists():
            return []
        keys = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.endswith(".tmp"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            # Tidy folders left empty, up to (not including) the stage root.
            parent = path.parent
            while parent != self.root:
                try:
                    parent.rmdir()  # only ever removes an empty folder
                except OSError:
                    break  # not empty (another writer is using it) or already gone
                parent = parent.parent
