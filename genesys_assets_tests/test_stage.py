"""The local stage and the raw-page and Parquet stores on it."""

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from genesys_assets.genesys.pages import Fetch, RawPage
from genesys_assets.stage import LocalStage, StageError, layout
from genesys_assets.stage.parquet_files import ParquetStore
from genesys_assets.stage.raw_pages import RawPageStore


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


def test_raw_pages_round_trip_byte_for_byte_with_a_manifest(tmp_path):
    store = RawPageStore(LocalStage(tmp_path))
    bodies = [b'{"results":[],"cursor":"c2"}', b'{"results":[]}']
    [manifest] = store.write_fetch("ds", make_fetch([D1], bodies))
    assert manifest.pages[0].key.startswith("raw/ds/year=2024/month=11/day=01/")
    assert manifest.pages[0].key.endswith("/page-00001.json.zst")
    on_disk = json.loads((tmp_path / layout.manifest("ds", D1)).read_text())
    assert on_disk["page_count"] == 2 and on_disk["query"]["metrics"] == ["nOffered"]
    assert [body for _, body in store.read_pages(store.require_manifest("ds", D1))] == bodies


def test_a_corrupted_page_is_refused(tmp_path):
    stage = LocalStage(tmp_path)
    store = RawPageStore(stage)
    [manifest] = store.write_fetch("ds", make_fetch([D1], [b'{"results":[]}']))
    stage.put(manifest.pages[0].key, pa.compress(b'{"results":[1]}', codec="zstd", asbytes=True))
    with pytest.raises(StageError, match="do not match the manifest's sha256"):
        list(store.read_pages(manifest))


def test_a_rerun_replaces_the_day_and_removes_the_old_pages(tmp_path):
    stage = LocalStage(tmp_path)
    store = RawPageStore(stage)
    [first] = store.write_fetch("ds", make_fetch([D1], [b'{"results":[]}']))
    [second] = store.write_fetch("ds", make_fetch([D1], [b'{"results":[{"a":1}]}']))
    assert store.require_manifest("ds", D1).fetch_id == second.fetch_id
    assert all(first.fetch_id not in key for key in stage.list("raw/"))


def test_a_multi_day_fetch_is_shared_until_every_day_moved_on(tmp_path):
    stage = LocalStage(tmp_path)
    store = RawPageStore(stage)
    chunk = store.write_fetch("ds", make_fetch([D1, D2, D3], [b'{"results":[]}']))
    shared = chunk[0].fetch_id
    assert {m.fetch_id for m in chunk} == {shared}
    assert all(m.pages[0].key.startswith("raw/ds/year=2024/month=11/day=01/") for m in chunk)
    store.write_fetch("ds", make_fetch([D2], [b'{"results":[]}']))  # re-run one day alone
    assert any(shared in key for key in stage.list("raw/")), "days 1 and 3 still use the chunk"
    assert [b for _, b in store.read_pages(store.require_manifest("ds", D3))] == [b'{"results":[]}']
    store.write_fetch("ds", make_fetch([D1, D3], [b'{"results":[]}']))
    assert not any(shared in key for key in stage.list("raw/"))


def test_a_failed_upload_leaves_the_previous_day_and_its_debris_is_collected(tmp_path):
    stage = LocalStage(tmp_path)
    store = RawPageStore(stage)
    [good] = store.write_fetch("ds", make_fetch([D1], [b'{"results":[]}']))

    class Broken(LocalStage):
        calls = 0

        def put(self, key, data, **kw):
            Broken.calls += 1
            if Broken.calls == 2:
                raise OSError("disk full")
            super().put(key, data, **kw)

    with pytest.raises(OSError):
        RawPageStore(Broken(tmp_path)).write_fetch(
            "ds",
            make_fetch(
                [D1],
                [b'{"results":[]}', b'{"results":[]}'],
                when=datetime.now(UTC) - timedelta(hours=2),
            ),
        )
    assert store.require_manifest("ds", D1).fetch_id == good.fetch_id
    debris = [k for k in stage.list("raw/") if good.fetch_id not in k and "manifest" not in k]
    assert debris, "the failed upload left a page behind"
    store.write_fetch("ds", make_fetch([D1], [b'{"results":[]}']))
    assert not [k for k in stage.list("raw/") if any(k == d for d in debris)]


def test_missing_manifest_says_what_to_materialize(tmp_path):
    with pytest.raises(StageError, match="materialize ds_raw_pages for partition 2024-11-01 first"):
        RawPageStore(LocalStage(tmp_path)).require_manifest("ds", D1)


def test_parquet_row_count_comes_from_the_footer(tmp_path):
    store = ParquetStore(LocalStage(tmp_path))
    table = pa.table({"metric": ["a", "b", "c"], "stat_count": [1, 2, 3]})
    written = store.write_day("ds", D1, table)
    assert written.key == "ds/year=2024/month=11/day=01/data.parquet"
    staged = store.staged_day("ds", D1)
    assert (staged.rows, staged.bytes, staged.columns) == (
        3,
        written.bytes,
        ("metric", "stat_count"),
    )
    assert store.read(staged.key, ["stat_count"]).column(0).to_pylist() == [1, 2, 3]
    with pytest.raises(StageError, match="materialize ds_parquet for partition 2024-11-02 first"):
        store.staged_day("ds", D2)
