"""The agents' presence and routing status over time, and the user aggregates they answer.

Each agent has a planned day in the org's local time: a shift (most days), on queue most of it,
with breaks, a meal, sometimes a meeting, a training or an off-queue stint, and offline outside
it. The planned day is drawn from an RNG seeded from (seed, agent, local date) alone, so any
day is reproduced on its own, in any order, like the traffic's hours.

The conversations of the traffic then decide what the plan cannot: an agent is INTERACTING
from the moment an ACD conversation alerts them to the end of its after-call work, and is on
queue then, whatever the plan said (an agent answering at 3 am logged in to do it); an
agent-initiated (outbound) conversation is COMMUNICATING while the agent is on queue, and logs
an offline agent in as well. On queue and not busy is IDLE; any other presence is OFF_QUEUE.

Time in a status is counted in the bucket in which it passes (a status spanning midnight counts
on both days), up to the simulator's "now": so hourly buckets add up to the day, a 3-day query
equals three 1-day queries, and an open day grows. Every logged-in millisecond of an agent is
in exactly one system presence, one organization presence and one routing status, which the
tests check. OFFLINE time is not reported (unverified for the real API, which documents the
metrics but not whether offline time is among them).
"""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from itertools import pairwise

from genesys_assets.simulator.org import Org
from genesys_assets.simulator.query import AggregateQuery, Filter, Predicate, iso_ms, to_ms
from genesys_assets.simulator.traffic import STREAMS, TrafficStore, blocks_for

MINUTE_MS = 60_000
SHIFT_MINUTES = 510  # 8.5 hours, a meal and two breaks included
# Local hours a shift may start at, and how many agents start then: following the traffic.
_SHIFT_STARTS = (6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
_SHIFT_WEIGHTS = (0.5, 1.0, 2.0, 2.5, 1.5, 1.0, 1.0, 1.0, 0.8, 0.6)
_WORKDAY_SHARE = 0.93
_WEEKEND_SHARE = 0.45

_STREAM = {name: index for index, (name, _) in enumerate(STREAMS)}
_ANSWER, _OUTBOUND_START, _ACW_END = (
    _STREAM["answer"],
    _STREAM["outbound_start"],
    _STREAM["acw_end"],
)

OFFLINE = -1  # not logged in: no presence definition, nothing reported
# Routing statuses (catalog.ROUTING_STATUSES), by what decides them.
OFF_QUEUE, IDLE, INTERACTING, COMMUNICATING = "OFF_QUEUE", "IDLE", "INTERACTING", "COMMUNICATING"

Segment = tuple[int, int, int]  # start ms, end ms, presence definition index (or OFFLINE)


def planned_day(org: Org, seed: int, agent: int, day: date) -> list[Segment]:
    """The agent's plan for a local day: logged-in segments in time order, none overlapping."""
    rng = random.Random(f"{seed}:shift:{agent}:{day.isoformat()}")
    weekend = day.weekday() >= 5
    if rng.random() >= (_WEEKEND_SHARE if weekend else _WORKDAY_SHARE):
        return []
    start_hour = rng.choices(_SHIFT_STARTS, _SHIFT_WEIGHTS)[0]
    start = datetime.combine(day, time(start_hour, rng.choice((0, 15, 30, 45))), org.zone)
    origin = to_ms(start)
    on_queue = org.presence("ON_QUEUE")
    # (minute of the shift, minutes, presence): the breaks and the meal, then what varies.
    pauses: list[tuple[int, int, int]] = [
        (110 + rng.randrange(0, 30), 15, org.presence("BREAK")),
        (230 + rng.randrange(0, 40), 30, org.presence("MEAL")),
        (380 + rng.randrange(0, 40), 15, org.presence("BREAK")),
    ]
    if rng.random() < 0.3:
        system = rng.choice(("MEETING", "TRAINING"))
        pauses.append(
            (30 + rng.randrange(0, 50), rng.choice((30, 45, 60)), _pick(org, system, rng))
        )
    if rng.random() < 0.25:
        pauses.append(
            (300 + rng.randrange(0, 60), rng.choice((10, 15, 20)), _pick(org, "BUSY", rng))
        )
    if rng.random() < 0.2:
        pauses.append((440 + rng.randrange(0, 40), 5, org.presence("AWAY")))
    segments: list[Segment] = []
    # Logging in: a few minutes Available before going on queue, most days.
    cursor = 0
    if rng.random() < 0.6:
        cursor = rng.choice((2, 5, 10))
        segments.append((origin, origin + cursor * MINUTE_MS, _pick(org, "AVAILABLE", rng)))
    for at, minutes, presence in sorted(pauses):
        at = max(at, cursor)
        end = min(at + minutes, SHIFT_MINUTES)
        if end <= at:
            continue
        if at > cursor:
            segments.append((origin + cursor * MINUTE_MS, origin + at * MINUTE_MS, on_queue))
        segments.append((origin + at * MINUTE_MS, origin + end * MINUTE_MS, presence))
        cursor = end
    if cursor < SHIFT_MINUTES:
        segments.append((origin + cursor * MINUTE_MS, origin + SHIFT_MINUTES * MINUTE_MS, on_queue))
    return segments


def _pick(org: Org, system: str, rng: random.Random) -> int:
    """Genesys' own presence for `system`, or now and then one of the org's under it."""
    choices = [
        i for i, p in enumerate(org.presences) if p.system_presence == system and not p.deactivated
    ]
    return choices[0] if len(choices) == 1 or rng.random() < 0.5 else rng.choice(choices[1:])


class Busy:
    """Who handled what when: per agent, the spans of their ACD and outbound conversations."""

    def __init__(self) -> None:
        self.acd: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.outbound: dict[int, list[tuple[int, int]]] = defaultdict(list)

    @classmethod
    def of(cls, store: TrafficStore, start_ms: int, end_ms: int) -> Busy:
        """Every conversation that can be in progress within [start_ms, end_ms)."""
        busy = cls()
        for hour in blocks_for(start_ms, end_ms):
            block = store.block(hour)
            if not block.count:
                continue
            ends = dict(zip(block.streams[_ACW_END].conv, block.streams[_ACW_END].ts, strict=True))
            answer = block.streams[_ANSWER]
            alert = answer.values[1]
            for conv, ts, alerted in zip(answer.conv, answer.ts, alert, strict=True):
                end = ends.get(conv)
                if end is not None and end > start_ms and ts - alerted < end_ms:
                    busy.acd[block.user[conv]].append((ts - alerted, end))
            outbound = block.streams[_OUTBOUND_START]
            for conv, ts in zip(outbound.conv, outbound.ts, strict=True):
                end = ends.get(conv)
                if end is not None and end > start_ms and ts < end_ms:
                    busy.outbound[block.user[conv]].append((ts, end))
        return busy


def timeline(
    planned: list[Segment],
    acd: list[tuple[int, int]],
    outbound: list[tuple[int, int]],
    on_queue_presence: int,
) -> list[tuple[int, int, int, str]]:
    """(start, end, presence, routing status) of every logged-in stretch, in time order.

    The plan, overridden by the conversations: an ACD conversation puts the agent on queue and
    INTERACTING; an outbound one COMMUNICATING when on queue, and logs an offline agent in.
    `on_queue_presence` is the index of Genesys' own On Queue presence.
    """
    edges: dict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for begin, end in acd:
        a, o = edges[begin]
        edges[begin] = (a + 1, o)
        a, o = edges[end]
        edges[end] = (a - 1, o)
    for begin, end in outbound:
        a, o = edges[begin]
        edges[begin] = (a, o + 1)
        a, o = edges[end]
        edges[end] = (a, o - 1)
    points = sorted({*edges, *(s for s, _, _ in planned), *(e for _, e, _ in planned)})
    out: list[tuple[int, int, int, str]] = []
    acd_open = outbound_open = 0
    plan_at = 0
    for left, right in pairwise(points):
        a, o = edges.get(left, (0, 0))
        acd_open += a
        outbound_open += o
        while plan_at < len(planned) and planned[plan_at][1] <= left:
            plan_at += 1
        presence = OFFLINE
        if plan_at < len(planned) and planned[plan_at][0] <= left:
            presence = planned[plan_at][2]
        if acd_open or (outbound_open and presence == OFFLINE):
            presence = on_queue_presence
        if presence == OFFLINE:
            continue
        if presence != on_queue_presence:
            status = OFF_QUEUE
        elif acd_open:
            status = INTERACTING
        elif outbound_open:
            status = COMMUNICATING
        else:
            status = IDLE
        if out and out[-1][1] == left and out[-1][2:] == (presence, status):
            out[-1] = (out[-1][0], right, presence, status)
        else:
            out.append((left, right, presence, status))
    return out


def user_containers(store: TrafficStore, query: AggregateQuery, now_ms: int) -> list[str]:
    """The answer of a user aggregates query as result containers (JSON texts), in the order
    the API returns them: groups by userId (or one group), buckets in time order, the metrics
    as asked, each status a `qualifier` of its own."""
    org = store.model.org
    on_queue = org.presence("ON_QUEUE")
    start, end = query.bounds[0], query.bounds[-1]
    cutoff = min(end, now_ms)  # time passes up to "now", not including it
    if cutoff <= start:
        return []
    edges = [b for b in query.bounds if b < cutoff] + [cutoff]
    agents = _agents(org, query.filter)
    busy = Busy.of(store, start, cutoff)
    zone = org.zone
    first_day = datetime.fromtimestamp(start / 1000, zone).date() - timedelta(days=1)
    last_day = datetime.fromtimestamp((cutoff - 1) / 1000, zone).date()
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    presences = org.presences
    grouped = "userId" in query.group_by
    # group key -> bucket -> (metric, qualifier) -> ms
    totals: dict[str, dict[int, dict[tuple[str, str], int]]] = {}
    for agent in agents:
        planned = [s for day in days for s in planned_day(org, store.model.seed, agent, day)]
        stretches = timeline(
            planned, busy.acd.get(agent, []), busy.outbound.get(agent, []), on_queue
        )
        key = org.agents[agent].id if grouped else ""
        buckets = totals.setdefault(key, {})
        for left, right, presence, status in stretches:
            left, right = max(left, start), min(right, cutoff)
            if right <= left:
                continue
            definition = presences[presence]
            labels = {
                "tSystemPresence": definition.system_presence,
                "tOrganizationPresence": definition.id,
                "tAgentRoutingStatus": status,
            }
            for bucket, ms in _split(left, right, edges):
                cell = buckets.setdefault(bucket, {})
                for metric in query.metrics:
                    label = (metric, labels[metric])
                    cell[label] = cell.get(label, 0) + ms
    return _render(query, totals, edges)


def _agents(org: Org, query_filter: Filter | None) -> list[int]:
    """The agents the filter keeps (user aggregates filter on userId only)."""
    ids = [a.id for a in org.agents]
    if query_filter is None:
        return list(range(len(ids)))
    return [i for i, agent_id in enumerate(ids) if _matches(query_filter, agent_id)]


def _matches(query_filter: Filter, user_id: str) -> bool:
    parts = [_predicate(p, user_id) for p in query_filter.predicates]
    for clause in query_filter.clauses:
        found = [_predicate(p, user_id) for p in clause.predicates]
        parts.append(all(found) if clause.type == "and" else any(found))
    return all(parts) if query_filter.type == "and" else any(parts)


def _predicate(predicate: Predicate, user_id: str) -> bool:
    if predicate.operator == "exists":
        return True
    if predicate.operator == "notExists":
        return False
    return predicate.value == user_id


def _split(left: int, right: int, edges: list[int]) -> Iterable[tuple[int, int]]:
    """(bucket index, ms) of [left, right) cut at the bucket edges."""
    bucket = bisect_right(edges, left) - 1
    while left < right and bucket < len(edges) - 1:
        upto = min(right, edges[bucket + 1])
        if upto > left:
            yield bucket, upto - left
        left = upto
        bucket += 1


def _render(
    query: AggregateQuery,
    totals: dict[str, dict[int, dict[tuple[str, str], int]]],
    edges: list[int],
) -> list[str]:
    order = {metric: i for i, metric in enumerate(query.metrics)}
    containers: list[str] = []
    for key in sorted(totals):
        buckets = totals[key]
        data = []
        for bucket in sorted(buckets):
            cell = buckets[bucket]
            metrics = ",".join(
                f'{{"metric":"{metric}","qualifier":{json.dumps(qualifier)},"stats":{{"sum":{ms}}}}}'
                for (metric, qualifier), ms in sorted(
                    cell.items(), key=lambda item: (order[item[0][0]], item[0][1])
                )
            )
            interval = f"{iso_ms(query.bounds[bucket])}/{iso_ms(query.bounds[bucket + 1])}"
            data.append(f'{{"interval":"{interval}","metrics":[{metrics}]}}')
        if not data:
            continue
        # Not grouped: one container for the whole org, without a group.
        head = f'{{"group":{{"userId":"{key}"}},' if key else "{"
        containers.append(f'{head}"data":[{",".join(data)}]}}')
    return containers


def mappings(org: Org) -> dict[str, list[str]]:
    """systemToOrganizationMappings: each system presence and the org presences under it."""
    out: dict[str, list[str]] = {}
    for definition in org.presences:
        out.setdefault(definition.system_presence, []).append(definition.id)
    return out
