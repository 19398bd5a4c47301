"""Pages -> the long table: every metric entry becomes exactly one row, whatever the JSON layout."""

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from genesys_assets import long_table
from genesys_assets.flatten import FlattenError, PageInput, flatten_pages

LOADED = datetime(2024, 11, 5, 12, 0, tzinfo=UTC)
GROUP_BY = ["queueId", "mediaType"]


def bucket(start: str, minutes: int = 30) -> str:
    begin = datetime.fromisoformat(start)
    end = begin + timedelta(minutes=minutes)
    return f"{begin:%Y-%m-%dT%H:%M:%S}.000Z/{end:%Y-%m-%dT%H:%M:%S}.000Z"


PAGE = {
    "results": [
        {
            "group": {"queueId": "q-1", "mediaType": "voice"},
            "data": [
                {
                    "interval": bucket("2024-11-01T04:00:00"),  # 00:00 in New York
                    "metrics": [
                        {
                            "metric": "tHandle",
                            "stats": {"max": 912000, "min": 35000, "count": 14, "sum": 3010000},
                        },
                        {"metric": "nOffered", "stats": {"count": 17}},
                        {
                            "metric": "oServiceLevel",
                            "stats": {
                                "ratio": 0.82,
                                "numerator": 14,
                                "denominator": 17,
                                "target": 0.8,
                            },
                        },
                    ],
                },
                {
                    "interval": bucket("2024-11-01T04:30:00"),
                    "metrics": [{"metric": "nOffered", "stats": {"count": 3}}],
                },
            ],
        },
        {
            "group": {"queueId": "q-2"},  # no mediaType value: the key is left out
            "data": [
                {
                    "interval": bucket("2024-11-01T04:00:00"),
                    "metrics": [{"metric": "nOffered", "qualifier": "x", "stats": {"count": 2}}],
                }
            ],
        },
    ]
}


def flatten(*bodies: bytes, group_by=GROUP_BY, tz="America/New_York"):
    pages = [PageInput(body, f"raw/page-{i}.json.zst") for i, body in enumerate(bodies, 1)]
    return flatten_pages(pages, group_by, tz, LOADED)


def compact(doc) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def test_one_row_per_metric_entry_with_the_stable_schema():
    result = flatten(compact(PAGE))
    table = result.table
    assert table.schema == long_table.schema(GROUP_BY)
    assert result.metric_entries == table.num_rows == 5
    rows = table.to_pylist()
    first = rows[0]
    assert first["partition_date"] == date(2024, 11, 1)
    assert first["interval_start"] == datetime(2024, 11, 1, 4, 0, tzinfo=UTC)
    assert first["interval_end"] == datetime(2024, 11, 1, 4, 30, tzinfo=UTC)
    assert (first["queue_id"], first["media_type"], first["metric"]) == ("q-1", "voice", "tHandle")
    assert (first["stat_count"], first["stat_sum"], first["stat_min"], first["stat_max"]) == (
        14,
        3010000.0,
        35000.0,
        912000.0,
    )
    assert first["stat_ratio"] is None and first["qualifier"] is None
    assert first["source_file"] == "raw/page-1.json.zst"
    assert first["loaded_at"] == LOADED
    service_level = rows[2]
    assert (
        service_level["stat_ratio"],
        service_level["stat_numerator"],
        service_level["stat_denominator"],
        service_level["stat_target"],
    ) == (0.82, 14.0, 17.0, 0.8)
    assert service_level["stat_count"] is None
    last = rows[4]
    assert (last["queue_id"], last["media_type"], last["qualifier"], last["stat_count"]) == (
        "q-2",
        None,
        "x",
        2,
    )


def without_lineage(table: pa.Table) -> list[dict]:
    return table.drop_columns(["source_file"]).to_pylist()


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(PAGE, indent=2).encode(),  # pretty-printed: parsed as one document
        json.dumps(PAGE).encode(),  # spaces after separators
        compact({**PAGE, "cursor": "abc]}"}),  # job page, cursor last (and full of brackets)
        compact({"cursor": "abc", **PAGE}),  # cursor first
    ],
)
def test_any_layout_of_the_same_page_gives_the_same_rows(body):
    assert without_lineage(flatten(body).table) == without_lineage(flatten(compact(PAGE)).table)


def test_empty_and_missing_results_give_no_rows():
    assert flatten(compact({"results": []})).table.num_rows == 0
    assert flatten(compact({"cursor": "x"})).table.num_rows == 0
    assert flatten().table.schema == long_table.schema(GROUP_BY)


def test_pages_without_group_by():
    doc = {"results": [{"data": PAGE["results"][0]["data"]}, {"data": PAGE["results"][1]["data"]}]}
    result = flatten(compact(doc), group_by=[])
    assert result.table.num_rows == 5
    assert "queue_id" not in result.table.column_names


def test_several_pages_keep_their_own_lineage():
    table = flatten(compact(PAGE), compact(PAGE)).table
    assert table.num_rows == 10
    assert table.column("source_file").value_counts().to_pylist() == [
        {"values": "raw/page-1.json.zst", "counts": 5},
        {"values": "raw/page-2.json.zst", "counts": 5},
    ]


def test_fields_the_schema_does_not_know_are_reported_not_dropped_silently():
    doc = json.loads(json.dumps(PAGE))
    doc["results"][0]["data"][0]["metrics"][1]["stats"]["p50"] = 5
    result = flatten(compact(doc))
    assert result.unknown_fields == ("results.data.metrics.stats.p50",)
    assert result.table.num_rows == 5


def copy(doc):
    return json.loads(json.dumps(doc))


def test_a_group_key_nobody_asked_for_is_a_column_of_its_own_never_merged():
    # Real answers carry mediaType in every group even when groupBy does not name it: two
    # groups that differ only by it must stay two sets of rows.
    doc = {
        "results": [
            {
                "group": {"queueId": "q-1", "mediaType": media},
                "data": [
                    {
                        "interval": bucket("2024-11-01T04:00:00"),
                        "metrics": [{"metric": "nOffered", "stats": {"count": n}}],
                    }
                ],
            }
            for media, n in (("voice", 3), ("chat", 5))
        ]
    }
    other = {"results": [{"group": {"queueId": "q-2"}, "data": doc["results"][0]["data"]}]}
    result = flatten(compact(doc), compact(other), group_by=["queueId"])
    assert result.extra_dimensions == ("mediaType",)
    assert result.unknown_fields == ()
    assert result.table.schema == long_table.schema(["queueId"], ["media_type"])
    rows = [(r["queue_id"], r["media_type"], r["stat_count"]) for r in result.table.to_pylist()]
    assert rows == [("q-1", "voice", 3), ("q-1", "chat", 5), ("q-2", None, 3)]


def test_a_group_key_without_any_group_by_is_a_column_too():
    doc = {"results": [{"group": {"mediaType": "voice"}, "data": PAGE["results"][0]["data"]}]}
    result = flatten(compact(doc), group_by=[])
    assert result.table.column("media_type").to_pylist() == ["voice"] * 4


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["skill-a", "skill-b"], "the group dimension 'requestedRoutingSkillId' holds lists"),
        (7, "the group dimension 'requestedRoutingSkillId' holds int64 values, not text"),
    ],
)
def test_a_group_value_that_is_not_text_fails_naming_the_dimension(value, message):
    doc = copy(PAGE)
    doc["results"][0]["group"]["requestedRoutingSkillId"] = value
    with pytest.raises(FlattenError, match=message):
        flatten(compact(doc))


@pytest.mark.parametrize(
    ("metric_index", "stats", "missing"),
    [
        # a timer whose stats were left out altogether
        (0, None, r"tHandle \(timer\) .* has no statistics, missing count, sum, min, max"),
        # a count whose `count` arrives renamed
        (1, {"cnt": 17}, r"nOffered \(count\) .* has no statistics, missing count"),
        # oServiceLevel without its numerator and denominator
        (2, {"ratio": 0.8, "target": 0.8}, r"oServiceLevel .* missing numerator, denominator"),
        # a timer with only some of what it must carry
        (0, {"count": 3, "sum": 10}, r"tHandle \(timer\) .* has count, sum, missing min, max"),
    ],
)
def test_an_entry_without_what_its_kind_must_carry_fails_naming_page_and_metric(
    metric_index, stats, missing
):
    doc = copy(PAGE)
    entry = doc["results"][0]["data"][0]["metrics"][metric_index]
    if stats is None:
        del entry["stats"]
    else:
        entry["stats"] = stats
    with pytest.raises(
        FlattenError, match=r"page raw/page-1.json.zst: 1 metric entries lack .* first: " + missing
    ):
        flatten(compact(doc))


def test_an_observation_with_no_statistic_at_all_fails():
    doc = copy(PAGE)
    doc["results"][1]["data"][0]["metrics"] = [{"metric": "oMediaCount", "stats": {}}]
    with pytest.raises(FlattenError, match=r"oMediaCount \(observation\) .* missing any statistic"):
        flatten(compact(doc))


def test_a_metric_the_query_did_not_ask_for_fails():
    pages = [PageInput(compact(PAGE), "raw/page-1.json.zst")]
    with pytest.raises(FlattenError, match=r"metric 'oServiceLevel' was not asked for"):
        flatten_pages(pages, GROUP_BY, "America/New_York", LOADED, metrics=["tHandle", "nOffered"])
    ok = flatten_pages(
        pages,
        GROUP_BY,
        "America/New_York",
        LOADED,
        metrics=["tHandle", "nOffered", "oServiceLevel"],
    )
    assert ok.table.num_rows == 5


def test_an_unexpected_structure_that_hides_metric_entries_fails_instead_of_losing_rows():
    doc = json.loads(json.dumps(PAGE))
    doc["results"][0]["data"][0]["views"] = [
        {"name": "v", "metric": "tHandle", "stats": {"count": 1}}
    ]
    with pytest.raises(
        FlattenError, match=r"page raw/page-1.json.zst: 6 metric entries in the bytes but 5 rows"
    ):
        flatten(compact(doc))


def test_invalid_json_names_the_page():
    with pytest.raises(
        FlattenError, match=r"page raw/page-1.json.zst is not valid aggregates JSON"
    ):
        flatten(compact(PAGE)[:-40])


def test_a_fetch_splits_into_its_local_days():
    doc = {
        "results": [
            {
                "group": {"queueId": "q-1", "mediaType": "chat"},
                "data": [
                    {
                        "interval": bucket("2024-11-02T03:30:00"),
                        "metrics": [{"metric": "nOffered", "stats": {"count": 1}}],
                    },
                    {
                        "interval": bucket("2024-11-02T04:00:00"),
                        "metrics": [{"metric": "nOffered", "stats": {"count": 2}}],
                    },
                ],
            }
        ]
    }
    result = flatten(compact(doc))
    days = result.split_days([date(2024, 11, 1), date(2024, 11, 2)])
    # 03:30 UTC is 23:30 on Nov 1st in New York (EDT), 04:00 UTC is midnight of Nov 2nd.
    assert days[date(2024, 11, 1)].column("stat_count").to_pylist() == [1]
    assert days[date(2024, 11, 2)].column("stat_count").to_pylist() == [2]
    with pytest.raises(
        FlattenError, match="buckets for 2024-11-01, outside the fetched days 2024-11-02"
    ):
        result.split_days([date(2024, 11, 2)])


@pytest.mark.parametrize("days", [7, 30])
def test_a_bucket_longer_than_a_day_is_refused_when_the_fetch_is_cut_into_days(days):
    # A P7D or P1M bucket starts on the chunk's first day: filing it there would put six other
    # days' numbers under one partition and none under the others.
    start = datetime(2024, 11, 4, 5, 0, tzinfo=UTC)  # local midnight, EST
    end = start + timedelta(days=days)
    doc = {
        "results": [
            {
                "group": {"queueId": "q"},
                "data": [
                    {
                        "interval": f"{start:%Y-%m-%dT%H:%M:%S}.000Z/{end:%Y-%m-%dT%H:%M:%S}.000Z",
                        "metrics": [{"metric": "nOffered", "stats": {"count": 70}}],
                    }
                ],
            }
        ]
    }
    result = flatten(compact(doc))
    week = [date(2024, 11, 4) + timedelta(days=d) for d in range(7)]
    with pytest.raises(FlattenError, match=r"2024-11-04: a bucket ends at .* after the day's end"):
        result.split_days(week)


def test_hourly_buckets_of_a_dst_day_all_belong_to_that_local_day():
    start = datetime(2024, 11, 3, 4, 0, tzinfo=UTC)  # local midnight, EDT
    data = [
        {
            "interval": f"{start + timedelta(hours=h):%Y-%m-%dT%H:%M:%S}.000Z/{start + timedelta(hours=h + 1):%Y-%m-%dT%H:%M:%S}.000Z",
            "metrics": [{"metric": "nOffered", "stats": {"count": h + 1}}],
        }
        for h in range(25)
    ]
    result = flatten(compact({"results": [{"group": {"queueId": "q"}, "data": data}]}))
    days = result.split_days([date(2024, 11, 3)])
    assert days[date(2024, 11, 3)].num_rows == 25
