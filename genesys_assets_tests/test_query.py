"""Query validation happens before any request, and days map to the right intervals."""

from datetime import date, datetime, timedelta

import pytest

from genesys_assets.genesys.query import (
    AggregateQuery,
    Filter,
    QueryError,
    consecutive_chunks,
    day_interval,
)


def test_a_typo_in_a_metric_names_the_field_and_suggests_the_name():
    with pytest.raises(QueryError) as info:
        AggregateQuery(metrics=("nOffered", "tHandel"))
    assert info.value.field == "metrics[1]"
    assert "unknown metric 'tHandel' (did you mean 'tHandle'?)" in str(info.value)


def test_wrong_case_is_caught_with_the_right_spelling():
    with pytest.raises(QueryError, match=r"group_by\[0\].*did you mean 'queueId'"):
        AggregateQuery(metrics=("nOffered",), group_by=("queueid",))


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"metrics": ()}, "metrics", "at least one metric"),
        ({"metrics": ("nOffered", "nOffered")}, "metrics[1]", "listed twice"),
        (
            {"metrics": ("nOffered",), "granularity": "PT20M"},
            "granularity",
            "unsupported granularity",
        ),
        ({"metrics": ("nOffered",), "time_zone": "Mars/Olympus"}, "time_zone", "unknown IANA"),
    ],
)
def test_other_bad_queries(kwargs, field, message):
    with pytest.raises(QueryError, match=message) as info:
        AggregateQuery(**kwargs)
    assert info.value.field == field


def test_filters_are_validated_with_their_path():
    good = Filter.from_mapping(
        {
            "type": "or",
            "clauses": [
                {"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]}
            ],
            "predicates": [{"dimension": "userId", "operator": "exists"}],
        }
    )
    query = AggregateQuery(metrics=("nOffered",), filter=good)
    body = query.body(day_interval(date(2024, 11, 1), "UTC"))
    assert body["filter"] == {
        "type": "or",
        "clauses": [
            {
                "type": "and",
                "predicates": [
                    {
                        "type": "dimension",
                        "dimension": "mediaType",
                        "operator": "matches",
                        "value": "voice",
                    }
                ],
            }
        ],
        "predicates": [{"type": "dimension", "dimension": "userId", "operator": "exists"}],
    }
    with pytest.raises(QueryError) as info:
        AggregateQuery(
            metrics=("nOffered",),
            filter=Filter.from_mapping({"predicates": [{"dimension": "mediaTyp", "value": "x"}]}),
        )
    assert info.value.field == "filter.predicates[0].dimension"
    assert "did you mean 'mediaType'" in str(info.value)
    with pytest.raises(QueryError, match="'matches' needs a value"):
        AggregateQuery(
            metrics=("nOffered",),
            filter=Filter.from_mapping({"predicates": [{"dimension": "userId"}]}),
        )
    with pytest.raises(
        QueryError, match=r"filter.predicates\[0\].oprator: unknown field \(did you mean 'operator'"
    ):
        Filter.from_mapping({"predicates": [{"dimension": "userId", "oprator": "exists"}]})


def test_body_has_the_api_field_names():
    query = AggregateQuery(
        metrics=("tHandle",), group_by=("queueId",), granularity="PT30M", time_zone="Europe/Dublin"
    )
    body = query.body(day_interval(date(2024, 7, 1), "Europe/Dublin"), pageSize=100)
    assert body == {
        "interval": "2024-07-01T00:00:00+01:00/2024-07-02T00:00:00+01:00",
        "granularity": "PT30M",
        "timeZone": "Europe/Dublin",
        "groupBy": ["queueId"],
        "metrics": ["tHandle"],
        "flattenMultivaluedDimensions": True,
        "pageSize": 100,
    }


def test_multivalued_dimensions_are_always_asked_flattened():
    plain = AggregateQuery(metrics=("nOffered",), group_by=("requestedRoutingSkillId",))
    assert plain.definition()["flattenMultivaluedDimensions"] is True
    assert AggregateQuery(metrics=("nOffered",)).definition() == {
        "granularity": "PT30M",
        "timeZone": "UTC",
        "metrics": ["nOffered"],
        "flattenMultivaluedDimensions": True,
    }
    explicit = AggregateQuery(metrics=("nOffered",), extra={"flattenMultivaluedDimensions": True})
    assert explicit.definition() == AggregateQuery(metrics=("nOffered",)).definition()
    with pytest.raises(QueryError, match="must stay true") as info:
        AggregateQuery(metrics=("nOffered",), extra={"flattenMultivaluedDimensions": False})
    assert info.value.field == "extra.flattenMultivaluedDimensions"


@pytest.mark.parametrize(
    ("day", "text", "hours"),
    [
        (date(2024, 11, 3), "2024-11-03T00:00:00-04:00/2024-11-04T00:00:00-05:00", 25),
        (date(2024, 3, 10), "2024-03-10T00:00:00-05:00/2024-03-11T00:00:00-04:00", 23),
        (date(2024, 7, 1), "2024-07-01T00:00:00-04:00/2024-07-02T00:00:00-04:00", 24),
    ],
)
def test_a_local_day_maps_to_its_interval_with_offsets_dst_included(day, text, hours):
    interval = day_interval(day, "America/New_York")
    assert interval.to_api() == text
    assert interval.duration == timedelta(hours=hours)
    assert datetime.fromisoformat(text.split("/")[0]) == interval.start


def test_several_days_make_one_interval():
    interval = day_interval(date(2024, 11, 1), "America/New_York", date(2024, 11, 7))
    assert interval.to_api() == "2024-11-01T00:00:00-04:00/2024-11-08T00:00:00-05:00"


def test_chunks_are_consecutive_bounded_and_ordered():
    days = [date(2024, 1, d) for d in (5, 1, 2, 3, 4, 9, 10)]
    assert consecutive_chunks(days, 3) == [
        (date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)),
        (date(2024, 1, 4), date(2024, 1, 5)),
        (date(2024, 1, 9), date(2024, 1, 10)),
    ]
    assert consecutive_chunks([date(2024, 1, 1)] * 2, 7) == [(date(2024, 1, 1),)]
    with pytest.raises(ValueError):
        consecutive_chunks(days, 0)
