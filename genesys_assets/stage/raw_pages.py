"""Raw pages in the stage, with a manifest per day that proves what they are.

Writing a fetch: its pages go into a new folder named after the fetch (never over an existing
file), then a record of the fetch, and only then each day's `manifest.json` is replaced to point
at them (`publish`, which the pipeline calls only once the whole step has succeeded). Until
that last step every reader still sees the previous pages: a fetch that fails, or
a process that dies mid-upload, leaves the previous good day in place. Writing never deletes:
another run may be reading the previous pages, or the warehouse may hold rows made from them.
Folders nothing points to any more are removed later by `stage.retention`.

Reading a day: the manifest lists each page with its sha256; a page whose bytes do not match is
an error, not something to flatten.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from genesys_assets.genesys.pages import Fetch
from genesys_assets.stage import layout
from genesys_assets.stage.base import Stage, StageError

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class PageEntry:
    key: str
    number: int
    sha256: str
    bytes: int  # as received
    stored_bytes: int  # compressed, in the stage
    cursor: str | None
    correlation_id: str | None
    attempts: int
    elapsed_s: float


@dataclass(frozen=True)
class DayManifest:
    """What the stage holds for one dataset and one local day."""

    dataset: str
    day: date
    fetch_id: str
    fetch_days: tuple[date, ...]  # all days the fetch covered (this one included)
    time_zone: str
    fetched_at: datetime
    query: dict[str, Any]
    mode: str
    job_id: str | None
    pages: tuple[PageEntry, ...]
    requests: int
    retries: int
    throttled: int
    # When this manifest became the day's current one (None in manifests written before it was
    # recorded: their fetched_at is close).
    published_at: datetime | None = field(default=None, compare=False)

    @property
    def folder(self) -> str:
        """The stage folder that holds this manifest's pages."""
        return layout.fetch_folder(self.dataset, self.fetch_days[0], self.fetch_id)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.pages)

    def to_json(self) -> builtins.bytes:  # `bytes` here is the property above
        body = {
            "version": MANIFEST_VERSION,
            "dataset": self.dataset,
            "day": self.day.isoformat(),
            "fetch_id": self.fetch_id,
            "fetch_days": [d.isoformat() for d in self.fetch_days],
            "time_zone": self.time_zone,
            "fetched_at": self.fetched_at.isoformat(),
            "query": self.query,
            "mode": self.mode,
            "job_id": self.job_id,
            "page_count": len(self.pages),
            "pages": [p.__dict__ for p in self.pages],
            "requests": self.requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "published_at": (self.published_at or datetime.now(UTC)).isoformat(),
        }
        return json.dumps(body, indent=2).encode("utf-8")

    @classmethod
    def from_json(cls, data: builtins.bytes) -> DayManifest:
        body = json.loads(data)
        return cls(
            dataset=body["dataset"],
            day=date.fromisoformat(body["day"]),
            fetch_id=body["fetch_id"],
            fetch_days=tuple(date.fromisoformat(d) for d in body["fetch_days"]),
            time_zone=body["time_zone"],
            fetched_at=datetime.fromisoformat(body["fetched_at"]),
            query=body["query"],
            mode=body["mode"],
            job_id=body["job_id"],
            pages=tuple(PageEntry(**p) for p in body["pages"]),
            requests=body["requests"],
            retries=body["retries"],
            throttled=body["throttled"],
            published_at=(
                datetime.fromisoformat(body["published_at"]) if body.get("published_at") else None
            ),
        )


class RawPageStore:
    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    def write_fetch(self, dataset: str, fetch: Fetch) -> list[DayManifest]:
        """Store a fetch's pages and make them the current pages of each of its days."""
        manifests = self.stage_fetch(dataset, fetch)
        self.publish(manifests)
        return manifests

    def stage_fetch(self, dataset: str, fetch: Fetch) -> list[DayManifest]:
        """Store a fetch's pages under a new fetch folder, without making them current.

        Nothing reads them until `publish`: a run that fails halfway leaves every day's current
        pages as they were, and what it wrote is left to retention.
        """
        import pyarrow as pa  # here, not at the top: the Dagster definitions import this module

        if not fetch.days:
            raise ValueError("a fetch to store must say which days it covers")
        fetch_id = layout.new_version(datetime.now(UTC), days=len(fetch.days))
        first = fetch.days[0]
        entries = []
        for page in fetch.pages:
            key = layout.page(dataset, first, fetch_id, page.number)
            stored = pa.compress(page.body, codec="zstd", asbytes=True)
            self.stage.put(key, stored, content_type="application/zstd")
            entries.append(
                PageEntry(
                    key=key,
                    number=page.number,
                    sha256=page.sha256(),
                    bytes=len(page.body),
                    stored_bytes=len(stored),
                    cursor=page.cursor,
                    correlation_id=page.correlation_id,
                    attempts=page.attempts,
                    elapsed_s=round(page.elapsed_s, 3),
                )
            )
        manifests = [
            DayManifest(
                dataset=dataset,
                day=day,
                fetch_id=fetch_id,
                fetch_days=fetch.days,
                time_zone=fetch.time_zone,
                fetched_at=fetch.fetched_at,
                query=fetch.request,
                mode=fetch.mode,
                job_id=fetch.job_id,
                pages=tuple(entries),
                requests=fetch.requests,
                retries=fetch.retries,
                throttled=fetch.throttled,
            )
            for day in fetch.days
        ]
        # The record tells garbage collection which manifests may point at this folder.
        record = {"fetch_id": fetch_id, "days": [d.isoformat() for d in fetch.days]}
        self.stage.put(
            layout.fetch_record(dataset, first, fetch_id),
            json.dumps(record).encode("utf-8"),
            content_type="application/json",
        )
        return manifests

    def publish(self, manifests: Iterable[DayManifest]) -> None:
        """Make staged fetches the current pages of their days (one manifest write per day)."""
        checked: set[str] = set()
        for manifest in manifests:
            record = layout.fetch_record(
                manifest.dataset, manifest.fetch_days[0], manifest.fetch_id
            )
            if record not in checked:
                if not self.stage.exists(record):
                    raise StageError(
                        f"{record} is gone from the stage ({self.stage.description}) before "
                        f"{manifest.dataset} for {manifest.day} was published: retention removed "
                        "it (raise GENESYS_STAGE_GRACE_HOURS above the longest run) or someone "
                        "deleted it; re-materialize the day"
                    )
                checked.add(record)
            self.stage.put(
                layout.manifest(manifest.dataset, manifest.day),
                manifest.to_json(),
                content_type="application/json",
            )

    def manifest(self, dataset: str, day: date) -> DayManifest | None:
        key = layout.manifest(dataset, day)
        if not self.stage.exists(key):
            return None
        return DayManifest.from_json(self.stage.get(key))

    def require_manifest(self, dataset: str, day: date) -> DayManifest:
        manifest = self.manifest(dataset, day)
        if manifest is None:
            raise StageError(
                f"no raw pages for {dataset} on {day} in the stage ({self.stage.description}): "
                f"materialize {dataset}_raw_pages for partition {day} first"
            )
        return manifest

    def read_pages(self, manifest: DayManifest) -> Iterator[tuple[PageEntry, bytes]]:
        """Each page as received, verified against the manifest's sha256."""
        import pyarrow as pa

        for entry in manifest.pages:
            stored = self.stage.get(entry.key)
            try:
                body = pa.decompress(
                    stored, decompressed_size=entry.bytes, codec="zstd", asbytes=True
                )
            except (OSError, pa.ArrowException):
                body = b""  # not what was written: reported as a mismatch just below
            if hashlib.sha256(body).hexdigest() != entry.sha256:
                raise StageError(
                    f"{entry.key}: the bytes in the stage do not match the manifest's sha256; "
                    f"re-materialize {manifest.dataset}_raw_pages for {manifest.day}"
                )
            yield entry, body
