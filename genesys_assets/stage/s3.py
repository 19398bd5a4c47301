"""An S3 prefix as the stage (production): what Snowflake's external stage points at.

Every object is written with server-side encryption (AES256, or aws:kms with a key id). A PUT,
and a multipart upload once completed, is atomic: S3 shows the whole new object or the old one.
A multipart upload that fails is aborted by boto3's transfer manager, so nothing half-written is
ever visible to a later load. Credentials come from the standard AWS chain through the client
the caller passes in; nothing here ever sees or logs them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any, BinaryIO

from genesys_assets.stage.base import Stage, StageError, join

MULTIPART_THRESHOLD = 16 * 1024 * 1024
SSE_CHOICES = ("AES256", "aws:kms")


class S3Stage(Stage):
    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        sse: str = "AES256",
        kms_key_id: str | None = None,
        multipart_threshold: int = MULTIPART_THRESHOLD,
    ) -> None:
        if sse not in SSE_CHOICES:
            raise StageError(f"S3_SSE must be one of {', '.join(SSE_CHOICES)}, got '{sse}'")
        if kms_key_id and sse != "aws:kms":
            raise StageError("S3_KMS_KEY_ID is set but S3_SSE is not aws:kms")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.multipart_threshold = multipart_threshold

    @property
    def description(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/" if self.prefix else f"s3://{self.bucket}/"

    def _key(self, key: str) -> str:
        return join(self.prefix, key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def encryption_args(self) -> dict[str, str]:
        args = {"ServerSideEncryption": self.sse}
        if self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        extra = {**self.encryption_args(), "ContentType": content_type}
        try:
            if len(data) < self.multipart_threshold:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
            else:
                from boto3.s3.transfer import TransferConfig

                self.client.upload_fileobj(
                    io.BytesIO(data),
                    self.bucket,
                    self._key(key),
                    ExtraArgs=extra,
                    Config=TransferConfig(
                        multipart_threshold=self.multipart_threshold,
                        multipart_chunksize=self.multipart_threshold,
                    ),
                )
        except Exception as exc:
            raise StageError(f"uploading {self.uri(key)} failed: {_reason(exc)}") from None

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as exc:
            if _is_missing(exc):
                raise StageError(f"{key} is not in the stage ({self.description})") from None
            raise StageError(f"reading {self.uri(key)} failed: {_reason(exc)}") from None

    def open(self, key: str) -> BinaryIO:
        try:
            size = self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"]
        except Exception as exc:
            if _is_missing(exc):
                raise StageError(f"{key} is not in the stage ({self.description})") from None
            raise StageError(f"reading {self.uri(key)} failed: {_reason(exc)}") from None
        raw = _RangeReader(self.client, self.bucket, self._key(key), size)
        return io.BufferedReader(raw, buffer_size=256 * 1024)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise StageError(f"checking {self.uri(key)} failed: {_reason(exc)}") from None

    def list(self, prefix: str) -> list[str]:
        full = join(self.prefix, prefix) + ("/" if prefix.endswith("/") else "")
        cut = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                keys.extend(item["Key"][cut:] for item in page.get("Contents", []))
        except Exception as exc:
            raise StageError(f"listing {self.uri(prefix)} failed: {_reason(exc)}") from None
        return sorted(keys)

    def delete(self, keys: Iterable[str]) -> None:
        batch = [{"Key": self._key(k)} for k in keys]
        for start in range(0, len(batch), 1000):
            try:
                self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": batch[start : start + 1000], "Quiet": True},
                )
            except Exception as exc:
                raise StageError(
                    f"deleting under {self.description} failed: {_reason(exc)}"
                ) from None


class _RangeReader(io.RawIOBase):
    """A seekable file over ranged GETs: reading a Parquet footer costs two small requests."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        self._client, self._bucket, self._key, self._size = client, bucket, key, size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._size:
            return 0
        end = min(self._position + len(buffer), self._size) - 1
        body = self._client.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{end}"
        )["Body"].read()
        buffer[: len(body)] = body
        self._position += len(body)
        return len(body)


def _is_missing(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def _reason(exc: Exception) -> str:
    """The AWS error code and message; botocore's messages carry no credentials."""
    error = getattr(exc, "response", {}).get("Error", {})
    if error:
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
