"""The stages (a local folder, an S3 prefix on a moto server) and the stores built on them.

Every store test runs on both stages: the raw-page and Parquet stores only use the `Stage`
interface, so they must behave the same on each.
"""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from genesys_assets.genesys.pages import Fetch, RawPage
from genesys_assets.stage import LocalStage, Stage, StageError, layout, retention
from genesys_assets.stage.parquet_files import ParquetStore
from genesys_assets.stage.raw_pages import RawPageStore
from genesys_assets.stage.s3 import S3Stage

pytest_plugins = ["genesys_assets_tests.stand_ins"]


@pytest.fixture(params=["local", "s3"])
def stage(request, tmp_path) -> Stage:
    if request.param == "local":
        return LocalStage(tmp_path / "stage")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Stage(bucket.client, bucket.name, bucket.prefix)


class FailingPuts(Stage):
    """A stage whose n-th put fails, as a dropped upload would."""

    def __init__(self, inner: Stage, fail_on: int) -> None:
        self.inner, self.fail_on, self.puts = inner, fail_on, 0

    def put(self, key, data, **kwargs):
        self.puts += 1
        if self.puts == self.fail_on:
            raise StageError(f"uploading {key} failed: connection reset")
        self.inner.put(key, data, **kwargs)

    description = property(lambda self: self.inner.description)

    def uri(self, key):
        return self.inner.uri(key)

    def get(self, key):
        return self.inner.get(key)

    def open(self, key):
        return self.inner.open(key)

    def exists(self, key):
        return self.inner.exists(key)

    def list(self, prefix):
        return self.inner.list(prefix)

    def delete(self, keys):
        self.inner.delete(keys)


def make_fetch(days, bodies, when=None) -> Fetch:
    return Fetch(
        days=tuple(days),
        time_zone="America/New_York",
        request={"interval": "x", "metrics": ["nOffered"]},
        mode="sync" if len(bodies) == 1 else "jobs",
        job_id=None if len(bodies) == 1 else "job-1",
        pages=tuple(
            RawPage(
                body,
                i,
                None if i == 1 else f"c{i}",
                None if i == len(bodies) else f"c{i + 1}",
                f"corr-{i}",
                1,
                0.1,
            )
            for i, body in enumerate(bodies, 1)
        ),
        fetched_at=when or datetime.now(UTC),
        elapsed_s=0.2,
        requests=len(bodies),
        retries=0,
        throttled=0,
    )


D1, D2, D3 = date(2024, 11, 1), date(2024, 11, 2), date(2024, 11, 3)


def test_local_put_is_atomic_and_listable(tmp_path):
    stage = LocalStage(tmp_path)
    stage.put("a/b/c.bin", b"one")
    stage.put("a/b/c.bin", b"two")
    assert stage.get("a/b/c.bin") == b"two"
    assert stage.list("a/") == ["a/b/c.bin"]
    assert not list(tmp_path.rglob("*.tmp"))
    assert stage.uri("a/b/c.bin") == (tmp_path / "a/b/c.bin").resolve().as_uri()
    stage.delete(["a/b/c.bin", "a/b/missing"])
    assert not (tmp_path / "a").exists()
    with pytest.raises(StageError, match="not in the stage"):
        stage.get("a/b/c.bin")
    with pytest.raises(StageError, match="leaves the stage folder"):
        stage.put("../escape", b"x")


def test_raw_pages_round_trip_byte_for_byte_with_a_manifest(stage):
    store = RawPageStore(stage)
    bodies = [b'{"results":[],"cursor":"c2"}', b'{"results":[]}']
    [manifest] = store.write_fetch("ds", make_fetch([D1], bodies))
    assert manifest.pages[0].key.startswith("raw/ds/year=2024/month=11/day=01/")
    assert manifest.pages[0].key.endswith("/page-00001.json.zst")
    on_disk = json.loads(stage.get(layout.manifest("ds", D1)))
    assert on_disk["page_count"] == 2 and on_disk["query"]["metrics"] == ["nOffered"]
    assert [body for _, body in store.read_pages(store.require_manifest("ds", D1))] == bodies


def test_a_corrupted_page_is_refused(stage):
    store = RawPageStore(stage)
    [manifest] = store.write_fetch("ds", make_fetch([D1], [b'{"results":[]}']))
    stage.put(manifest.pages[0].key, pa.compress(b'{"results":[1]}', codec="zstd", asbytes=True))
    with pytest.raises(StageError, match="do not match the manifest's sha256"):
        list(store.read_pages(manifest))


LATER = datetime.now(UTC) + timedelta(days=2)  # past the grace period of everything written now


def test_a_rerun_replaces_the_day_and_never_deletes_the_pages_a_reader_may_hold(stage):
    store = RawPageStore(stage)
    [first] = store.write_fetch("ds", make_fetch([D1], [b'{"results":[]}']))
    [second] = store.write_fetch("ds", make_fetch([D1], [b'{"results":[{"a":1}]}']))
    assert store.require_manifest("ds", D1).fetch_id == second.fetch_id
    assert [b for _, b in store.read_pages(first)] == [b'{"results":[]}'], "still readable"
    # Within the grace period nothing goes; after it, only what nothing points to.
    assert retention.collect(stage, "ds", {}).deleted == []
    gone = retention.collect(stage, "ds", {}, now=LATER).deleted
    assert gone and all(first.fetch_id in key for key in gone)
    assert [b for _, b in store.read_pages(store.require_manifest("ds", D1))] == [
        b'{"results":[{"a":1}]}'
    ]


def test_a_multi_day_fetch_is_kept_until_every_day_moved_on(stage):
    store = RawPageStore(stage)
    chunk = store.write_fetch("ds", make_fetch([D1, D2, D3], [b'{"results":[]}']))
    shared = chunk[0].fetch_id
    assert {m.fetch_id for m in chunk} == {shared} and shared.endswith("-d3")
    assert all(m.pages[0].key.startswith("raw/ds/year=2024/month=11/day=01/") for m in chunk)
    store.write_fetch("ds", make_fetch([D2], [b'{"results":[]}']))  # re-run one day alone
    retention.collect(stage, "ds", {}, now=LATER)
    assert any(shared in key for key in stage.list("raw/")), "days 1 and 3 still use the chunk"
    assert [b for _, b in store.read_pages(store.require_manifest("ds", D3))] == [b'{"results":[]}']
    store.write_fetch("ds", make_fetch([D1, D3], [b'{"results":[]}']))
    retention.collect(stage, "ds", {}, now=LATER)
    assert not any(shared in key for key in stage.list("raw/"))


@dataclass(frozen=True)
class Loaded:
    staged_file: str
    raw_fetch: str | None
    loaded_at: datetime | None


def test_what_the_warehouse_loaded_stays_until_nothing_loaded_points_to_it(stage):
    raw, parquet = RawPageStore(stage), ParquetStore(stage)
    [old] = raw.write_fetch("ds", make_fetch([D1], [b'{"results":[]}']))
    loaded_file = parquet.write_day("ds", D1, pa.table({"metric": ["a"]}), source=old.folder)
    log = {D1: Loaded(loaded_file.key, old.folder, datetime.now(UTC))}
    # A later run stages a newer fetch and file, then fails before its load.
    [new] = raw.write_fetch("ds", make_fetch([D1], [b'{"results":[{"a":1}]}']))
    newer = parquet.write_day("ds", D1, pa.table({"metric": ["b"]}), source=new.folder)
    assert parquet.staged_day("ds", D1).key == newer.key != loaded_file.key
    assert retention.collect(stage, "ds", log, now=LATER).deleted == []
    assert parquet.staged(loaded_file.key, "").rows == 1
    assert [b for _, b in raw.read_pages(old)] == [b'{"results":[]}']
    # Once the newer file is loaded, the old ones go (after the grace period).
    log = {D1: Loaded(newer.key, new.folder, datetime.now(UTC))}
    gone = retention.collect(stage, "ds", log, now=LATER).deleted
    assert loaded_file.key in gone and any(old.fetch_id in k for k in gone)
    assert parquet.staged(newer.key, "").rows == 1


def test_a_failed_upload_leaves_the_previous_day_and_its_debris_is_collected(stage):
    store = RawPageStore(stage)
    [good] = store.write_fetch("ds", make_fetch([D1], [b'{"results":[]}']))
    with pytest.raises(StageError, match="connection reset"):
        RawPageStore(FailingPuts(stage, fail_on=2)).write_fetch(
            "ds", make_fetch([D1], [b'{"results":[]}', b'{"results":[]}'])
        )
    assert store.require_manifest("ds", D1).fetch_id == good.fetch_id
    debris = [k for k in stage.list("raw/") if good.fetch_id not in k and "manifest" not in k]
    assert debris, "the failed upload left a page behind"
    assert retention.collect(stage, "ds", {}).deleted == [], "it may still be uploading"
    assert retention.collect(stage, "ds", {}, now=LATER).deleted == debris
    assert [b for _, b in store.read_pages(store.require_manifest("ds", D1))]


def test_missing_manifest_says_what_to_materialize(stage):
    with pytest.raises(StageError, match="materialize ds_raw_pages for partition 2024-11-01 first"):
        RawPageStore(stage).require_manifest("ds", D1)


def test_parquet_row_count_comes_from_the_footer(stage):
    store = ParquetStore(stage)
    table = pa.table({"metric": ["a", "b", "c"], "stat_count": [1, 2, 3]})
    written = store.write_day("ds", D1, table)
    assert written.key.startswith("ds/year=2024/month=11/day=01/")
    assert written.key.endswith(".parquet")
    staged = store.staged_day("ds", D1)
    assert staged.key == written.key
    assert (staged.rows, staged.bytes, staged.columns) == (
        3,
        written.bytes,
        ("metric", "stat_count"),
    )
    assert store.read(staged.key, ["stat_count"]).column(0).to_pylist() == [1, 2, 3]
    with pytest.raises(StageError, match="materialize ds_parquet for partition 2024-11-02 first"):
        store.staged_day("ds", D2)


def test_every_s3_object_is_encrypted_aes256_by_default(s3_bucket):
    stage = S3Stage(s3_bucket.client, s3_bucket.name, s3_bucket.prefix)
    RawPageStore(stage).write_fetch("ds", make_fetch([D1], [b'{"results":[]}']))
    ParquetStore(stage).write_day("ds", D1, pa.table({"metric": ["a"]}))
    keys = s3_bucket.keys()
    assert len(keys) == 5 and all(k.startswith("genesys/") for k in keys)
    for key in keys:
        head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=key)
        assert head["ServerSideEncryption"] == "AES256", key


def test_kms_encryption_and_multipart_uploads(s3_bucket):
    stage = S3Stage(
        s3_bucket.client,
        s3_bucket.name,
        "p",
        sse="aws:kms",
        kms_key_id="alias/genesys",
        multipart_threshold=5 * 1024 * 1024,
    )
    big = bytes(range(256)) * (11 * 1024 * 1024 // 256)
    stage.put("big.bin", big)
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="p/big.bin")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/genesys")
    assert head["ETag"].strip('"').endswith("-3"), "uploaded in three parts"
    assert stage.get("big.bin") == big
    with stage.open("big.bin") as handle:
        handle.seek(-10, 2)
        assert handle.read() == big[-10:]


def test_s3_errors_name_the_object_and_bad_settings_fail_early(s3_bucket):
    stage = S3Stage(s3_bucket.client, s3_bucket.name, s3_bucket.prefix)
    with pytest.raises(StageError, match=r"nothing\.json is not in the stage \(s3://"):
        stage.get("nothing.json")
    assert not stage.exists("nothing.json")
    missing = S3Stage(s3_bucket.client, "no-such-bucket-genesys", "p")
    with pytest.raises(
        StageError, match="uploading s3://no-such-bucket-genesys/p/x failed: NoSuchBucket"
    ):
        missing.put("x", b"1")
    with pytest.raises(StageError, match="S3_SSE must be one of AES256, aws:kms"):
        S3Stage(s3_bucket.client, s3_bucket.name, sse="AES128")
    with pytest.raises(StageError, match="S3_KMS_KEY_ID is set but S3_SSE is not aws:kms"):
        S3Stage(s3_bucket.client, s3_bucket.name, kms_key_id="k")


def test_a_parquet_footer_on_s3_is_read_with_ranged_requests(s3_bucket):
    stage = S3Stage(s3_bucket.client, s3_bucket.name, s3_bucket.prefix)
    store = ParquetStore(stage)
    table = pa.table({"metric": ["m"] * 200_000, "stat_count": list(range(200_000))})
    written = store.write_day("ds", D1, table)
    calls = []
    original = s3_bucket.client.get_object

    def counting(**kwargs):
        calls.append(kwargs.get("Range"))
        return original(**kwargs)

    s3_bucket.client.get_object = counting
    try:
        staged = store.staged_day("ds", D1)
    finally:
        s3_bucket.client.get_object = original
    assert staged.rows == 200_000 and staged.bytes == written.bytes
    ranged = [r for r in calls if r is not None]  # the rest: the day's small pointer
    assert len(calls) - len(ranged) == 1
    assert ranged and all(r.startswith("bytes=") for r in ranged)
    assert len(ranged) <= 3, "the footer, not the file"
