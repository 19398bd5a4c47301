"""Raw aggregates pages -> the long table, vectorized with Arrow.

A page is `{"results": [{"group": {...}, "data": [{"interval": ..., "metrics": [{"metric",
"qualifier", "stats": {...}}]}]}]}`, three levels of lists. Arrow's JSON reader parses it against
an explicit schema (in C++), and the lists are unnested with `list_flatten` and
`list_parent_indices`: no Python object per row. Interval strings repeat for every group and
metric of a bucket, so only the distinct ones (48 a day at PT30M) are parsed in Python.

A page is one JSON document on one line, which Arrow parses on one thread. When the page is in
the compact form the API sends, its result containers are first put on lines of their own (the
bytes between them, `},{"group":`, can only occur there), so the reader parses blocks of them in
parallel; any other form is parsed whole.

Every metric entry must become exactly one row: the entries are counted again straight from the
bytes (the key `"metric"` can only be a key, every quote inside a JSON string is escaped), and a
page whose counts differ fails the run instead of losing rows quietly.

An answer we did not expect is an error that names it, never NULLs: a metric nobody asked for,
an entry without the statistics its kind must carry (a timer's count/sum/min/max, a count's
count, oServiceLevel's ratio/numerator/denominator/target), a group value that is a list or a
number. A group key the query did not name (real answers carry `mediaType` in every group) is
a column of its own, so that rows of different values are never merged onto one key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from genesys_assets import long_table
from genesys_assets.genesys import catalog
from genesys_assets.genesys.pages import count_metric_entries
from genesys_assets.long_table import (
    DEFAULT_ORG,
    ORG_COLUMN,
    PARTITION_COLUMN,
    STAT_COLUMNS,
    interval_type,
    stat_type,
)


class FlattenError(ValueError):
    """A page that cannot be turned into rows faithfully."""


@dataclass(frozen=True)
class PageInput:
    body: bytes
    source_file: str  # the page's key in the stage, kept on every row as lineage


@dataclass
class Flattened:
    table: pa.Table
    pages: int
    metric_entries: int
    unknown_fields: tuple[str, ...] = field(default=())
    # Group keys the answer carried that the dataset does not group by (API names).
    extra_dimensions: tuple[str, ...] = field(default=())
    time_zone: str = "UTC"

    def split_days(self, days: Sequence[date]) -> dict[date, pa.Table]:
        """One table per local day, each row's bucket inside that day's local interval.

        A row outside `days` means the query and the answer disagree; a bucket that ends after
        its day's local midnight (a weekly or monthly bucket) cannot be filed under one daily
        partition without putting other days' numbers in it.
        """
        dates = self.table.column(PARTITION_COLUMN)
        found = set(pc.unique(dates).to_pylist())
        stray = sorted(found - set(days))
        if stray:
            raise FlattenError(
                f"the pages hold buckets for {', '.join(map(str, stray))}, outside the fetched "
                f"days {days[0]}..{days[-1]}: the query interval and the time zone disagree"
            )
        zone = ZoneInfo(self.time_zone)
        tables = {}
        for day in days:
            table = self.table.filter(pc.equal(dates, pa.scalar(day, pa.date32())))
            if table.num_rows:
                latest = pc.max(table.column("interval_end")).as_py()
                day_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
                if latest > day_end:
                    raise FlattenError(
                        f"{day}: a bucket ends at {latest.isoformat()}, after the day's end "
                        f"{day_end.isoformat()} ({self.time_zone}): buckets longer than a day "
                        "cannot be filed under one daily partition; nothing was written"
                    )
            tables[day] = table
        return tables


def page_schema(group_by: Sequence[str]) -> pa.Schema:
    """The JSON shape of a page, as Arrow types (what the reader parses against)."""
    stats = pa.struct([(stat, stat_type(stat)) for stat, _ in STAT_COLUMNS])
    metric = pa.struct([("metric", pa.string()), ("qualifier", pa.string()), ("stats", stats)])
    data = pa.struct([("interval", pa.string()), ("metrics", pa.list_(metric))])
    result_fields: list[tuple[str, pa.DataType]] = [("data", pa.list_(data))]
    if group_by:
        result_fields.insert(0, ("group", pa.struct([(d, pa.string()) for d in group_by])))
    return pa.schema([("results", pa.list_(pa.struct(result_fields)))])


def flatten_pages(
    pages: Iterable[PageInput],
    group_by: Sequence[str],
    time_zone: str,
    loaded_at: datetime,
    metrics: Sequence[str] | None = None,
    *,
    org: str = DEFAULT_ORG,
) -> Flattened:
    """All pages of one fetch as one long table (columns in `long_table.schema` order).

    `metrics` are the metrics the query asked for: an entry of any other is an error (without
    them, any metric the catalog knows is accepted). `org` fills the org column.
    """
    expected = page_schema(group_by)
    zone = ZoneInfo(time_zone)
    asked = frozenset(metrics) if metrics is not None else None
    tables: list[pa.Table] = []
    unknown: set[str] = set()
    extra: dict[str, str] = {}  # column -> API name, for group keys nobody asked for
    entries = 0
    count = 0
    for page in pages:
        count += 1
        containers = _parse(page, expected)
        found = _diff(expected.field("results").type.value_type, containers.type, "results")
        # Group keys are mapped to columns below, not unknown; everything else is reported.
        unknown.update(f for f in found if not f.startswith("results.group."))
        page_extra = _extra_dimensions(containers, page, group_by)
        extra.update(page_extra)
        target = long_table.schema(group_by, tuple(page_extra))
        table = _flatten_containers(containers, page, group_by, zone, loaded_at, target, asked, org)
        in_bytes = count_metric_entries(page.body)
        if table.num_rows != in_bytes:
            raise FlattenError(
                f"page {page.source_file}: {in_bytes} metric entries in the bytes but "
                f"{table.num_rows} rows after flattening; the page is kept as received, "
                "nothing was written"
            )
        entries += in_bytes
        tables.append(table)
    target = long_table.schema(group_by, tuple(extra))
    table = pa.concat_tables([_conform(t, target) for t in tables]) if tables else None
    return Flattened(
        table if table is not None else target.empty_table(),
        count,
        entries,
        tuple(sorted(unknown)),
        tuple(sorted(extra.values())),
        time_zone,
    )


def _conform(table: pa.Table, target: pa.Schema) -> pa.Table:
    """A page's table with the fetch's columns: extra dimensions other pages had are null here."""
    if table.schema.equals(target):
        return table
    rows = table.num_rows
    arrays = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(rows, f.type)
        for f in target
    ]
    return pa.Table.from_arrays(arrays, schema=target)


_DIMENSION_NAME = re.compile(r"^[a-z][A-Za-z0-9]{0,63}$")


def _extra_dimensions(
    containers: pa.StructArray, page: PageInput, group_by: Sequence[str]
) -> dict[str, str]:
    """Column -> API name of each group key the page has that `group_by` does not declare."""
    container_type: pa.StructType = containers.type
    if container_type.get_field_index("group") < 0:
        return {}
    group_type = container_type.field("group").type
    if not pa.types.is_struct(group_type):
        raise FlattenError(
            f"page {page.source_file}: 'group' holds {group_type}, not an object of dimensions"
        )
    declared = {long_table.dimension_column(d): d for d in group_by}
    extra: dict[str, str] = {}
    for child in group_type:
        if child.name in group_by:
            continue
        column = long_table.dimension_column(child.name)
        if not _DIMENSION_NAME.match(child.name) or column in long_table.FIXED_COLUMNS:
            raise FlattenError(
                f"page {page.source_file}: the group key '{child.name}' cannot be a column of "
                "the long table (not a dimension name, or it collides with a fixed column)"
            )
        if column in declared:
            raise FlattenError(
                f"page {page.source_file}: the group key '{child.name}' maps onto the column of "
                f"'{declared[column]}'"
            )
        _check_group_type(child, page)
        extra[column] = child.name
    return extra


def _check_group_type(child: pa.Field, page: PageInput) -> None:
    if pa.types.is_string(child.type) or pa.types.is_null(child.type):
        return
    if pa.types.is_list(child.type):
        raise FlattenError(
            f"page {page.source_file}: the group dimension '{child.name}' holds lists (a "
            "multivalued dimension); the client sends flattenMultivaluedDimensions so that "
            "they arrive as one text, and this answer ignored it"
        )
    raise FlattenError(
        f"page {page.source_file}: the group dimension '{child.name}' holds {child.type} "
        "values, not text"
    )


_TRAILER = re.compile(rb'\s*(,\s*"cursor"\s*:\s*"(?:[^"\\]|\\.)*"\s*)?}\s*$')
# Before the results: a job page's cursor, a user aggregates answer's presence mappings (an
# object of lists of ids, no object inside), in either order.
_LEADER = re.compile(
    rb'^\s*{\s*(?:(?:"cursor"\s*:\s*"(?:[^"\\]|\\.)*"'
    rb'|"systemToOrganizationMappings"\s*:\s*{[^{}]*})\s*,\s*)*"results":\['
)


def _container_lines(body: bytes) -> tuple[bytes, bytes] | None:
    """The result containers one per line, and the key they start with; None if not compact.

    Only the exact shapes `{"results":[...]}` and `{"results":[...],"cursor":"..."}` (cursor
    first also accepted, and a user aggregates answer's `systemToOrganizationMappings` first)
    qualify; everything else is parsed as one document.
    """
    leader = _LEADER.match(body)
    end = body.rfind(b"]")
    if leader is None or end < leader.end() or not _TRAILER.fullmatch(body, end + 1):
        return None
    inner = body[leader.end() : end]
    if not inner:
        return b"", b""
    first_key = re.match(rb'{"(group|data)":', inner)
    if first_key is None:
        return None
    separator = b'},{"' + first_key.group(1) + b'":'
    return inner.replace(separator, b'}\n{"' + first_key.group(1) + b'":'), first_key.group(1)


def _parse(page: PageInput, expected: pa.Schema) -> pa.StructArray:
    """The page's result containers as one struct array."""
    container_type: pa.StructType = expected.field("results").type.value_type
    split = _container_lines(page.body)
    if split is not None:
        lines, _ = split
        if not lines:
            return pa.array([], container_type)
        try:
            table = _read(lines, pa.schema(list(container_type)), block_size=1 << 22)
        except pa.ArrowInvalid:
            pass  # not what it looked like; the whole-document parse below says what is wrong
        else:
            return table.to_struct_array().combine_chunks()
    body = page.body
    # Arrow reads newline-delimited JSON; a pretty-printed page is one document over many lines.
    # Raw newlines cannot occur inside JSON strings, so turning them into spaces is lossless.
    if b"\n" in body or b"\r" in body:
        body = body.replace(b"\r", b" ").replace(b"\n", b" ")
    try:
        table = _read(body, expected, block_size=len(body) + 1)
    except pa.ArrowInvalid as exc:
        raise FlattenError(f"page {page.source_file} is not valid aggregates JSON: {exc}") from None
    return pc.list_flatten(table.column("results").combine_chunks())


def _read(body: bytes, schema: pa.Schema, block_size: int) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(body),
        read_options=pj.ReadOptions(block_size=max(block_size, 1 << 16)),
        parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
    )


def _flatten_containers(
    containers: pa.StructArray,
    page: PageInput,
    group_by: Sequence[str],
    zone: ZoneInfo,
    loaded_at: datetime,
    target: pa.Schema,
    asked: frozenset[str] | None,
    org: str,
) -> pa.Table:
    data = pc.struct_field(containers, "data")
    data_parent = pc.list_parent_indices(data)
    buckets = pc.list_flatten(data)
    metrics = pc.struct_field(buckets, "metrics")
    metric_parent = pc.list_parent_indices(metrics)
    entries = pc.list_flatten(metrics)
    rows = len(entries)
    container_of_row = pc.take(data_parent, metric_parent)

    starts, ends, days, interval_of_bucket = _intervals(
        pc.struct_field(buckets, "interval"), zone, page
    )
    interval_of_row = pc.take(interval_of_bucket, metric_parent)
    columns: dict[str, pa.Array] = {
        PARTITION_COLUMN: pc.take(days, interval_of_row),
        "interval_start": pc.take(starts, interval_of_row),
        "interval_end": pc.take(ends, interval_of_row),
        ORG_COLUMN: pa.repeat(pa.scalar(org, pa.string()), rows),
    }
    if containers.type.get_field_index("group") >= 0:
        groups = pc.struct_field(containers, "group")
        for child in groups.type:
            values = pc.struct_field(groups, child.name)
            if pa.types.is_null(values.type):
                values = values.cast(pa.string())
            column = long_table.dimension_column(child.name)
            columns[column] = pc.take(values, container_of_row)
    for name in target.names:
        if name not in columns and name not in long_table.FIXED_COLUMNS:
            columns[name] = pa.nulls(rows, pa.string())  # a declared key no group carries
    metric = pc.struct_field(entries, "metric")
    if metric.null_count:
        raise FlattenError(
            f"page {page.source_file}: {metric.null_count} metric entries have no name"
        )
    _check_metric_names(metric, page, asked)
    columns["metric"] = metric
    columns["qualifier"] = pc.struct_field(entries, "qualifier")
    _check_qualifiers(columns, metric, page)
    stats = pc.struct_field(entries, "stats")
    for stat, column in STAT_COLUMNS:
        columns[column] = pc.struct_field(stats, stat)
    _check_stats(columns, metric, page)
    columns["source_file"] = pa.repeat(pa.scalar(page.source_file, pa.string()), rows)
    columns["loaded_at"] = pa.repeat(pa.scalar(loaded_at, target.field("loaded_at").type), rows)
    return pa.Table.from_arrays([columns[name] for name in target.names], schema=target)


def _check_metric_names(metric: pa.Array, page: PageInput, asked: frozenset[str] | None) -> None:
    names = pc.unique(metric).to_pylist()
    if asked is not None:
        stray = sorted(set(names) - asked)
        if stray:
            raise FlattenError(
                f"page {page.source_file}: metric {', '.join(map(repr, stray))} was not asked "
                f"for (the query asks for {', '.join(sorted(asked))})"
            )
    else:
        stray = sorted(n for n in names if not catalog.is_metric(n))
        if stray:
            raise FlattenError(
                f"page {page.source_file}: unknown metric {', '.join(map(repr, stray))}"
            )


def _check_qualifiers(columns: dict[str, pa.Array], metric: pa.Array, page: PageInput) -> None:
    """A status metric (user aggregates) without the status it is the time of is an answer we
    did not expect: its rows could not be told apart, and their sums would be meaningless."""
    qualified = pc.is_in(metric, value_set=pa.array(catalog.USER_METRICS, pa.string()))
    missing = pc.and_(qualified, pc.is_null(columns["qualifier"]))
    if not pc.any(missing).as_py():
        return
    first = pc.index(missing, True).as_py()
    count = pc.sum(missing.cast(pa.int64())).as_py()
    start = columns["interval_start"][first].as_py()
    raise FlattenError(
        f"page {page.source_file}: {count} entries of a status metric have no qualifier (the "
        f"status); first: {metric[first].as_py()} in the bucket starting {start.isoformat()}. "
        "The page is kept in the stage as received; nothing was written"
    )


def _check_stats(columns: dict[str, pa.Array], metric: pa.Array, page: PageInput) -> None:
    """Every entry carries what its kind must (see `catalog.required_stats`), or the page fails.

    Vectorized per statistic: one membership test of the rows' metric against the metrics that
    need that statistic, and'ed with the statistic's null mask.
    """
    encoded = pc.dictionary_encode(metric)
    names: list[str] = encoded.dictionary.to_pylist()
    indices = encoded.indices
    required = {name: catalog.required_stats(name) for name in names}
    stat_column = dict(STAT_COLUMNS)
    for stat in dict.fromkeys(s for needs in required.values() for s in needs):
        needing = [i for i, name in enumerate(names) if stat in required[name]]
        rows_needing = pc.is_in(indices, value_set=pa.array(needing, indices.type))
        missing = pc.and_(rows_needing, pc.is_null(columns[stat_column[stat]]))
        if pc.any(missing).as_py():
            _fail_stats(columns, metric, missing, page)
    anything = [i for i, name in enumerate(names) if not required[name]]
    if anything:
        rows_needing = pc.is_in(indices, value_set=pa.array(anything, indices.type))
        empty = rows_needing
        for _, column in STAT_COLUMNS:
            empty = pc.and_(empty, pc.is_null(columns[column]))
        if pc.any(empty).as_py():
            _fail_stats(columns, metric, empty, page)


def _fail_stats(
    columns: dict[str, pa.Array], metric: pa.Array, bad: pa.Array, page: PageInput
) -> None:
    count = pc.sum(bad.cast(pa.int64())).as_py()
    first = pc.index(bad, True).as_py()
    name = metric[first].as_py()
    needs = catalog.required_stats(name)
    present = [stat for stat, column in STAT_COLUMNS if columns[column][first].is_valid]
    lacking = [stat for stat in needs if stat not in present] if needs else ["any statistic"]
    start = columns["interval_start"][first].as_py()
    kind = catalog.MetricKind.of(name).value
    raise FlattenError(
        f"page {page.source_file}: {count} metric entries lack what their kind must carry; "
        f"first: {name} ({kind}) in the bucket starting {start.isoformat()} has "
        f"{', '.join(present) or 'no statistics'}, missing {', '.join(lacking)}. The page is "
        "kept in the stage as received; nothing was written"
    )


def _intervals(
    intervals: pa.Array, zone: ZoneInfo, page: PageInput
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """Distinct interval strings parsed once: (starts, ends, local days, index of each bucket)."""
    if intervals.null_count:
        raise FlattenError(
            f"page {page.source_file}: {intervals.null_count} buckets have no interval"
        )
    encoded = pc.dictionary_encode(intervals)
    starts, ends, days = [], [], []
    for text in encoded.dictionary.to_pylist():
        try:
            start_text, end_text = text.split("/")
            start = datetime.fromisoformat(start_text)
            end = datetime.fromisoformat(end_text)
        except ValueError:
            raise FlattenError(f"page {page.source_file}: unreadable interval '{text}'") from None
        if start.utcoffset() is None or end <= start:
            raise FlattenError(f"page {page.source_file}: unreadable interval '{text}'")
        starts.append(start)
        ends.append(end)
        days.append(start.astimezone(zone).date())
    return (
        pa.array(starts, interval_type()),
        pa.array(ends, interval_type()),
        pa.array(days, pa.date32()),
        encoded.indices,
    )


def _diff(expected: pa.DataType, actual: pa.DataType, path: str) -> list[str]:
    if pa.types.is_list(expected) and pa.types.is_list(actual):
        return _diff(expected.value_type, actual.value_type, path)
    if pa.types.is_struct(expected) and pa.types.is_struct(actual):
        known = {expected.field(i).name: expected.field(i).type for i in range(expected.num_fields)}
        extra = []
        for i in range(actual.num_fields):
            child = actual.field(i)
            if child.name not in known:
                extra.append(f"{path}.{child.name}")
            else:
                extra.extend(_diff(known[child.name], child.type, f"{path}.{child.name}"))
        return extra
    return []
