"""The org's conversations, one UTC hour of arrivals at a time, and the metric events they leave.

An hour is generated from an RNG seeded from (seed, hour) alone, so any hour, and so any day, can
be reproduced on its own, in any order, in any process. Hours rather than days because a
conversation can outlive the day it started in: a query for one day needs the conversations
that arrived in the hours before it, and with hour blocks that is a few hours, not a whole
extra day of generation.

Conversations arrive along a daily curve in the org's local time; each one waits, is answered
or abandoned, talks, may hold or be transferred and wraps up. Every metric is stamped at the
moment its value is complete (handle time at the end of after-call work), which is why a
conversation that starts before midnight can count on the next day and why a day that is not
over keeps growing.

Events are kept per "stream": the conversations that reach one moment of their life (queue
entry, answer, end of talk, ...), with when and what was measured there. Several
metrics read the same stream (tWait, tAcd and oServiceLevel all close when the wait ends),
which keeps generation lean and gives every metric of one conversation the same dimensions.
"""

from __future__ import annotations

import math
import random
import statistics
import threading
import uuid
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate

from genesys_assets.simulator.org import EMAIL, MEDIA_TYPES, VOICE, WRAP_UP_TIMEOUT_ID, Org

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
BLOCK_MS = HOUR_MS  # conversations are generated per hour of arrival
SHORT_ABANDON_MS = 10_000  # Genesys' default short-abandon threshold

# Relative arrivals per local hour of day: quiet at night, busy late morning and early afternoon.
ARRIVAL_CURVE: tuple[float, ...] = (
    0.12, 0.08, 0.06, 0.05, 0.06, 0.12, 0.30, 0.65, 1.10, 1.55, 1.80, 1.85,
    1.70, 1.75, 1.80, 1.70, 1.50, 1.20, 0.90, 0.70, 0.55, 0.42, 0.30, 0.20,
)  # fmt: skip
_CURVE_PEAK = max(ARRIVAL_CURVE)
_CURVE_SUM = sum(ARRIVAL_CURVE)

# Behaviour per media type (MEDIA_TYPES order): medians in seconds of lognormal durations.
_WAIT_MEDIAN_S = (7.0, 8.0, 900.0, 30.0, 40.0)
_PATIENCE_MEAN_S = (300.0, 400.0, 0.0, 3600.0, 7200.0)  # 0 = nobody gives up on an email
_ALERT_MEDIAN_S = (5.0, 6.0, 8.0, 6.0, 5.0)
_TALK_MEDIAN_S = (240.0, 420.0, 300.0, 540.0, 210.0)
_ACW_MEDIAN_S = (40.0, 25.0, 60.0, 30.0, 35.0)
_HOLD_SHARE = (0.25, 0.0, 0.0, 0.0, 0.20)
_TRANSFER_SHARE = 0.06
_BLIND_SHARE = 0.55  # of transfers; the rest are consult transfers
_OUTBOUND_CONNECT_SHARE = 0.72
_WRAP_UP_TIMEOUT_SHARE = 0.03

# Caps on every phase; they bound how long a conversation lives, and so how many hours before
# an interval can still stamp metrics inside it.
_IVR_MAX_MS = 75_000
_WAIT_CAP_MS = (2_700_000, 2_700_000, 5_400_000, HOUR_MS, HOUR_MS)
_ALERT_CAP_MS = 30_000
_TALK_CAP_MS = HOUR_MS
_HOLD_CAP_MS = 900_000
_ACW_CAP_MS = 900_000
_DIAL_MAX_MS = 4_000
_CONTACT_CAP_MS = 60_000
MAX_LIFETIME_MS = (
    max(_IVR_MAX_MS + max(_WAIT_CAP_MS) + _ALERT_CAP_MS, _DIAL_MAX_MS + _CONTACT_CAP_MS)
    + _TALK_CAP_MS + _HOLD_CAP_MS + _ACW_CAP_MS
)  # fmt: skip

# Standard normal quantiles at evenly spaced probabilities: one table lookup per lognormal draw
# instead of random.lognormvariate, whose rejection loop dominated generation time.
_Z_SIZE = 8192
_Z_TABLE: tuple[float, ...] = tuple(
    statistics.NormalDist().inv_cdf((i + 0.5) / _Z_SIZE) for i in range(_Z_SIZE)
)

# Dimensions whose value can be several values. The per-conversation columns hold them joined
# by MULTIVALUE_SEPARATOR (ids never contain one), so grouping and the hot loops treat them as
# the strings they are when the query asks for flattenMultivaluedDimensions; the answer splits
# them back into arrays otherwise.
MULTIVALUED_DIMENSIONS: frozenset[str] = frozenset({"requestedRoutingSkillId"})
MULTIVALUE_SEPARATOR = ","
_PRIMARY_SKILL_SHARE = 0.6  # of skill-routed conversations, those asking the queue's primary
_SECOND_SKILL_SHARE = 0.3  # of skill-routed conversations, those asking for two skills at once

DISCONNECT_TYPES: tuple[str, ...] = (
    "peer", "client", "system", "error", "transfer", "transfer.consult", "endpoint",
)  # fmt: skip
_PEER, _CLIENT, _SYSTEM, _ERROR, _TRANSFER, _TRANSFER_CONSULT, _ENDPOINT = range(7)

# Streams: (name, value columns). A stream holds one event per conversation that reaches it
# (talk_segment: one per talk segment, a hold splits the talk in two).
STREAMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("queue_entry", ()),
    ("outbound_start", ()),
    ("ivr_end", ("ivr",)),
    ("wait_end", ("wait", "within_sl")),  # answered or abandoned
    ("answer", ("answered", "alert")),
    ("over_sla", ()),
    ("abandon", ("abandon",)),
    ("short_abandon", ("abandon",)),
    ("talk_segment", ("talk",)),
    ("talk_end", ("talk",)),
    ("hold_end", ("held",)),
    ("blind_transfer", ()),
    ("consult_transfer", ()),
    ("outbound_connect", ()),
    ("dial_end", ("dialing",)),
    ("contact_end", ("contacting",)),
    ("acw_end", ("acw", "handle")),
)
(
    _S_QENTRY, _S_OUTSTART, _S_IVR, _S_WAITEND, _S_ANSWER, _S_OVERSLA, _S_ABANDON, _S_SHORT,
    _S_TALKSEG, _S_TALKEND, _S_HOLD, _S_BLIND, _S_CONSULT, _S_OUTCONNECT, _S_DIAL, _S_CONTACT,
    _S_ACW,
) = range(len(STREAMS))  # fmt: skip

# Where each implemented metric is read: (stream, value column or None for counts). The
# service-level observations take their target from the conversation's queue.
METRIC_SOURCES: dict[str, tuple[tuple[int, int | None], ...]] = {
    "nOffered": ((_S_QENTRY, None),),
    "nConversations": ((_S_QENTRY, None), (_S_OUTSTART, None)),
    "nOutbound": ((_S_OUTSTART, None),),
    "nConnected": ((_S_ANSWER, None), (_S_OUTCONNECT, None)),
    "nOverSla": ((_S_OVERSLA, None),),
    "nTransferred": ((_S_BLIND, None), (_S_CONSULT, None)),
    "nBlindTransferred": ((_S_BLIND, None),),
    "nConsultTransferred": ((_S_CONSULT, None),),
    "tIvr": ((_S_IVR, 0),),
    "tWait": ((_S_WAITEND, 0),),
    "tAcd": ((_S_WAITEND, 0),),
    "tAnswered": ((_S_ANSWER, 0),),
    "tAlert": ((_S_ANSWER, 1),),
    "tAbandon": ((_S_ABANDON, 0),),
    "tShortAbandon": ((_S_SHORT, 0),),
    "tTalk": ((_S_TALKSEG, 0),),
    "tTalkComplete": ((_S_TALKEND, 0),),
    "tHeld": ((_S_HOLD, 0),),
    "tHeldComplete": ((_S_HOLD, 0),),  # at most one hold per conversation: the same events
    "tAcw": ((_S_ACW, 0),),
    "tHandle": ((_S_ACW, 1),),
    "tDialing": ((_S_DIAL, 0),),
    "tContacting": ((_S_CONTACT, 0),),
    "oServiceLevel": ((_S_WAITEND, 1),),
    "oServiceTarget": ((_S_WAITEND, None),),
}
IMPLEMENTED_METRICS: tuple[str, ...] = tuple(METRIC_SOURCES)


@dataclass(frozen=True)
class Stream:
    """One moment of the conversations' lives: when each one reached it, and what it measured.

    Events are in arrival order, not time order: a query maps every event to its bucket with
    C-level bisects anyway, and not sorting saves most of the cost of a block.
    """

    ts: array  # epoch milliseconds
    conv: array  # index of the conversation within its block
    values: tuple[array, ...]  # one array per value column of the stream
    first_ms: int  # earliest and latest ts, to skip streams outside a query at once
    last_ms: int


@dataclass
class Block:
    """The conversations that arrived in one UTC hour, their dimensions and metric streams."""

    hour: int  # hours since 1970-01-01T00:00Z
    seed: int
    count: int
    queue: array  # queue index per conversation
    media: bytes  # MEDIA_TYPES index
    outbound: bytes  # 1 for agent-initiated conversations
    user: array  # agent index, -1 when nobody answered
    wrap_up: array  # index into Org.wrap_up_codes, len() of it for the timeout code, -1 if none
    disconnect: bytes  # DISCONNECT_TYPES index
    streams: tuple[Stream, ...]
    _conversation_ids: list[str] | None = field(default=None, repr=False)
    _requested_skills: list[str | None] | None = field(default=None, repr=False)

    @property
    def start_ms(self) -> int:
        return self.hour * BLOCK_MS

    def conversation_ids(self) -> list[str]:
        # Drawn from a stream of their own and only when a query asks for them: UUIDs are a
        # noticeable share of generation time, and their order is fixed by the index.
        if self._conversation_ids is None:
            bits = random.Random(f"{self.seed}:conversation-ids:{self.hour}").getrandbits
            self._conversation_ids = [
                str(uuid.UUID(int=bits(128), version=4)) for _ in range(self.count)
            ]
        return self._conversation_ids

    def requested_skills(self, org: Org) -> list[str | None]:
        """The skill ids each conversation's flow requested, joined; None where it asked none.

        Like the conversation ids, drawn from a stream of their own on first use: queries that
        do not ask for skills pay nothing, and every other number of a seed stays as it was.
        Only inbound conversations of skill-routed queues request skills (outbound ones are
        placed by an agent, not routed). Ids are sorted, so one set of skills is one group.
        """
        if self._requested_skills is None:
            rnd = random.Random(f"{self.seed}:skills:{self.hour}").random
            skill_ids = [s.id for s in org.routing_skills]
            per_queue = [q.skill_indexes for q in org.queues]
            out: list[str | None] = []
            for queue, outbound in zip(self.queue, self.outbound, strict=True):
                options = per_queue[queue]
                if outbound or not options:
                    out.append(None)
                    continue
                if rnd() < _PRIMARY_SKILL_SHARE:
                    first = options[0]
                else:
                    first = options[1 + int(rnd() * (len(options) - 1))]
                if rnd() < _SECOND_SKILL_SHARE:
                    rest = [i for i in options if i != first]
                    pair = sorted((skill_ids[first], skill_ids[rest[int(rnd() * len(rest))]]))
                    out.append(MULTIVALUE_SEPARATOR.join(pair))
                else:
                    out.append(skill_ids[first])
            self._requested_skills = out
        return self._requested_skills


def dimension_values(org: Org, block: Block, dimension: str) -> list[str | None] | None:
    """The value of `dimension` per conversation of `block`; None when the org never sets it."""
    if dimension == "queueId":
        ids = [q.id for q in org.queues]
        return [ids[q] for q in block.queue]
    if dimension == "divisionId":
        ids = [q.division_id for q in org.queues]
        return [ids[q] for q in block.queue]
    if dimension == "mediaType":
        return [MEDIA_TYPES[m] for m in block.media]
    if dimension in ("direction", "originatingDirection"):
        return ["outbound" if o else "inbound" for o in block.outbound]
    if dimension == "userId":
        ids = [a.id for a in org.agents]
        return [ids[u] if u >= 0 else None for u in block.user]
    if dimension == "teamId":
        team_ids = [org.teams[a.team_index].id for a in org.agents]
        return [team_ids[u] if u >= 0 else None for u in block.user]
    if dimension == "wrapUpCode":
        codes = [c.id for c in org.wrap_up_codes] + [WRAP_UP_TIMEOUT_ID]
        return [codes[w] if w >= 0 else None for w in block.wrap_up]
    if dimension == "disconnectType":
        return [DISCONNECT_TYPES[d] for d in block.disconnect]
    if dimension == "conversationId":
        return list(block.conversation_ids())
    if dimension == "requestedRoutingSkillId":
        return list(block.requested_skills(org)) if org.routing_skills else None
    return None


_MASK64 = (1 << 64) - 1
SHARE_BITS = 24  # `share_hash` values are in [0, 2**SHARE_BITS)


def share_hash(a: int, b: int, salt: int) -> int:
    """A well-mixed hash of two ints: `share_hash(...) < share * 2**SHARE_BITS` picks a stable,
    evenly spread share of whatever (a, b) names, without storing the choice anywhere."""
    x = (a * 0x9E3779B97F4A7C15 ^ (b + salt) * 0xC2B2AE3D27D4EB4F) & _MASK64
    x = (x ^ x >> 31) * 0xBF58476D1CE4E5B9 & _MASK64
    return x >> (64 - SHARE_BITS)


def share_threshold(share: float) -> int:
    return int(share * (1 << SHARE_BITS))


_LATE_SALT = 0x5EED


class IngestionLag:
    """How long after its moment an event becomes visible to the API.

    The real service ingests events with a delay of seconds to minutes, so a bucket that has
    just closed can still grow, and a day pulled right after midnight misses its last events.
    The lag of an event is a pure function of its time and conversation (hashed into a table of
    lognormal quantiles), so it costs nothing to store and is the same in every query.

    On top of that, `late_share` of the events (picked by hashing, independently of the lag)
    arrive only `late_delay_ms` after their moment: an ingestion backlog, which is what makes
    a day that closed hours ago still change. `max_ms` bounds both, so whatever is older than
    it is final.
    """

    _SIZE = 1024

    def __init__(self, median_ms: float, late_share: float = 0.0, late_delay_ms: int = 0) -> None:
        step = _Z_SIZE // self._SIZE
        quantiles = [math.exp(z) for z in _Z_TABLE[step // 2 :: step]]  # lognormal(0, 1)
        self.table = [min(int(median_ms * q), int(median_ms * 40)) for q in quantiles]
        self.late_threshold = share_threshold(late_share) if late_delay_ms > 0 else 0
        self.late_delay_ms = late_delay_ms
        lag_max = max(self.table) if median_ms > 0 else 0
        self.max_ms = max(lag_max, late_delay_ms if self.late_threshold else 0)

    def visible(self, stream: Stream, now_ms: int) -> list[bool] | None:
        """Which events of `stream` are visible at `now_ms`; None when all that happened are."""
        if not self.max_ms or stream.last_ms + self.max_ms <= now_ms:
            return None
        table = self.table
        mask = self._SIZE - 1
        seen = [
            t + table[((t * 2_654_435_761) ^ (c * 40_503)) >> 7 & mask] <= now_ms
            for t, c in zip(stream.ts, stream.conv, strict=True)
        ]
        late, delay = self.late_threshold, self.late_delay_ms
        if late and stream.last_ms + delay > now_ms:
            seen = [
                ok and (t + delay <= now_ms or share_hash(t, c, _LATE_SALT) >= late)
                for ok, t, c in zip(seen, stream.ts, stream.conv, strict=True)
            ]
        return seen


class TrafficModel:
    """Turns the org into conversations; holds what every hour's generation reuses."""

    def __init__(
        self,
        org: Org,
        seed: int,
        conversations_per_day: int,
        weekend_factor: float = 1.0,
        ingestion_lag_ms: float = 0.0,
        late_event_share: float = 0.0,
        late_event_delay_ms: int = 0,
    ) -> None:
        self.org = org
        self.seed = seed
        self.conversations_per_day = conversations_per_day
        self.weekend_factor = weekend_factor
        self.lag = IngestionLag(ingestion_lag_ms, late_event_share, late_event_delay_ms)
        self._zone = org.zone
        log = math.log
        self._queue_cum = list(accumulate(q.popularity for q in org.queues))
        self._qparams = []
        for q in org.queues:
            total = sum(q.media_weights)
            cum = list(accumulate(w / total for w in q.media_weights))
            cum[-1] = 1.0
            self._qparams.append((cum, q.outbound_share, log(q.wait_factor), q.service_level_ms,
                                  q.member_indexes, len(q.member_indexes)))  # fmt: skip

    def hour_profile(self, hour: int) -> tuple[float, float]:
        """(expected arrivals, load factor) for one UTC hour, read off the org's local clock."""
        local = datetime.fromtimestamp(hour * 3600, UTC).astimezone(self._zone)
        curve = ARRIVAL_CURVE[local.hour]
        weekend = self.weekend_factor if local.weekday() >= 5 else 1.0
        expected = self.conversations_per_day * curve * weekend / _CURVE_SUM
        return expected, 0.4 + 0.6 * curve / _CURVE_PEAK

    def generate(self, hour: int) -> Block:
        expected, load = self.hour_profile(hour)
        # Day-to-day volume drifts a little; the drift is a property of the UTC day, so every
        # hour of it draws the same factor from its own seed.
        day = hour // 24
        drift = random.Random(f"{self.seed}:volume:{day}").uniform(0.95, 1.05)
        rng = random.Random(f"{self.seed}:traffic:{hour}")
        mean = expected * drift
        n = max(0, round(rng.gauss(mean, math.sqrt(mean) * 0.5))) if mean > 0 else 0
        start = hour * BLOCK_MS
        rnd = rng.random
        arrivals = sorted(start + int(rnd() * BLOCK_MS) for _ in range(n))
        queues = rng.choices(range(len(self.org.queues)), cum_weights=self._queue_cum, k=n)
        return self._simulate(hour, arrivals, queues, load, rng)

    def _simulate(
        self, hour: int, arrivals: list[int], queues: list[int], load: float, rng: random.Random
    ) -> Block:
        n = len(arrivals)
        rnd = rng.random
        expo = rng.expovariate
        log = math.log
        exp = math.exp
        z_table = _Z_TABLE
        z_size = _Z_SIZE
        qparams = self._qparams
        log_load = log(load)
        wait_mu = [log(s * 1000) + log_load for s in _WAIT_MEDIAN_S]
        alert_mu = [log(s * 1000) for s in _ALERT_MEDIAN_S]
        talk_mu = [log(s * 1000) for s in _TALK_MEDIAN_S]
        acw_mu = [log(s * 1000) for s in _ACW_MEDIAN_S]
        hold_mu = log(45_000)
        contact_mu = log(12_000)
        patience_rate = [1.0 / (s * 1000) if s else 0.0 for s in _PATIENCE_MEAN_S]
        wait_cap = _WAIT_CAP_MS
        n_codes = len(self.org.wrap_up_codes)

        # Column lists per stream (time, conversation, values...), appended in arrival order and
        # packed into arrays at the end: a fraction of the memory of lists of Python ints.
        columns: list[list[list[int]]] = [[[] for _ in range(2 + len(c))] for _, c in STREAMS]
        ap = [[c.append for c in stream] for stream in columns]
        qe_t, qe_c = ap[_S_QENTRY]
        os_t, os_c = ap[_S_OUTSTART]
        ivr_t, ivr_c, ivr_v = ap[_S_IVR]
        we_t, we_c, we_wait, we_sl = ap[_S_WAITEND]
        an_t, an_c, an_wait, an_alert = ap[_S_ANSWER]
        ov_t, ov_c = ap[_S_OVERSLA]
        ab_t, ab_c, ab_v = ap[_S_ABANDON]
        sh_t, sh_c, sh_v = ap[_S_SHORT]
        ts_t, ts_c, ts_v = ap[_S_TALKSEG]
        te_t, te_c, te_v = ap[_S_TALKEND]
        ho_t, ho_c, ho_v = ap[_S_HOLD]
        bl_t, bl_c = ap[_S_BLIND]
        co_t, co_c = ap[_S_CONSULT]
        oc_t, oc_c = ap[_S_OUTCONNECT]
        di_t, di_c, di_v = ap[_S_DIAL]
        ct_t, ct_c, ct_v = ap[_S_CONTACT]
        aw_t, aw_c, aw_acw, aw_handle = ap[_S_ACW]

        media_col = bytearray(n)
        outbound_col = bytearray(n)
        user_col = array("i", [-1]) * n
        wrap_col = array("i", [-1]) * n
        disc_col = bytearray(n)

        def talk_and_wrap(ci: int, t: int, m: int, pre_ms: int) -> None:
            """Talk (split by an optional hold), maybe transfer, then after-call work."""
            talk = int(exp(talk_mu[m] + 0.7 * z_table[int(rnd() * z_size)])) + 1000
            if talk > _TALK_CAP_MS:
                talk = _TALK_CAP_MS
            held = 0
            if rnd() < _HOLD_SHARE[m]:
                held = int(exp(hold_mu + 0.8 * z_table[int(rnd() * z_size)])) + 1000
                if held > _HOLD_CAP_MS:
                    held = _HOLD_CAP_MS
                first = int(talk * (0.2 + 0.6 * rnd()))
                t += first
                ts_t(t), ts_c(ci), ts_v(first)
                t += held
                ho_t(t), ho_c(ci), ho_v(held)
                t += talk - first
                ts_t(t), ts_c(ci), ts_v(talk - first)
            else:
                t += talk
                ts_t(t), ts_c(ci), ts_v(talk)
            te_t(t), te_c(ci), te_v(talk)
            r = rnd()
            if r < _TRANSFER_SHARE:
                if r < _TRANSFER_SHARE * _BLIND_SHARE:
                    bl_t(t), bl_c(ci)
                    disc_col[ci] = _TRANSFER
                else:
                    co_t(t), co_c(ci)
                    disc_col[ci] = _TRANSFER_CONSULT
            else:
                r = rnd()
                disc_col[ci] = (
                    _PEER if r < 0.52 else _CLIENT if r < 0.96 else _SYSTEM if r < 0.99 else _ERROR
                )
            acw = int(exp(acw_mu[m] + 0.7 * z_table[int(rnd() * z_size)])) + 500
            if acw > _ACW_CAP_MS:
                acw = _ACW_CAP_MS
            t += acw
            aw_t(t), aw_c(ci), aw_acw(acw), aw_handle(pre_ms + talk + held + acw)
            wrap_col[ci] = n_codes if rnd() < _WRAP_UP_TIMEOUT_SHARE else int(rnd() * n_codes)

        for ci in range(n):
            t = arrivals[ci]
            media_cum, out_share, log_wait_factor, sl_ms, members, n_members = qparams[queues[ci]]
            r = rnd()
            m = 0
            while media_cum[m] <= r:
                m += 1
            media_col[ci] = m
            if out_share and m in (VOICE, EMAIL) and rnd() < out_share:
                # Agent-initiated: placed on behalf of the queue, never offered by it.
                outbound_col[ci] = 1
                user_col[ci] = members[int(rnd() * n_members)]
                os_t(t), os_c(ci)
                pre = 0
                connected = True
                if m == VOICE:
                    dialing = 1000 + int(rnd() * (_DIAL_MAX_MS - 1000))
                    t += dialing
                    di_t(t), di_c(ci), di_v(dialing)
                    contacting = int(exp(contact_mu + 0.5 * z_table[int(rnd() * z_size)])) + 1000
                    if contacting > _CONTACT_CAP_MS:
                        contacting = _CONTACT_CAP_MS
                    t += contacting
                    ct_t(t), ct_c(ci), ct_v(contacting)
                    pre = dialing + contacting
                    connected = rnd() < _OUTBOUND_CONNECT_SHARE
                    if connected:
                        oc_t(t), oc_c(ci)
                if connected:
                    talk_and_wrap(ci, t, m, pre)
                else:
                    disc_col[ci] = _ENDPOINT
                    acw = 2000 + int(rnd() * 20_000)  # logging a failed attempt
                    t += acw
                    aw_t(t), aw_c(ci), aw_acw(acw), aw_handle(pre + acw)
                    wrap_col[ci] = int(rnd() * n_codes)
                continue

            if m == VOICE:
                ivr = 8000 + int(rnd() * (_IVR_MAX_MS - 8000))
                t += ivr
                ivr_t(t), ivr_c(ci), ivr_v(ivr)
            qe_t(t), qe_c(ci)
            wait = int(exp(wait_mu[m] + log_wait_factor + 1.0 * z_table[int(rnd() * z_size)]))
            if wait > wait_cap[m]:
                wait = wait_cap[m]
            alert = int(exp(alert_mu[m] + 0.5 * z_table[int(rnd() * z_size)])) + 500
            if alert > _ALERT_CAP_MS:
                alert = _ALERT_CAP_MS
            waited = wait + alert
            rate = patience_rate[m]
            patience = int(expo(rate)) + 1 if rate else waited
            if patience < waited:
                # Abandons grow with the wait: the longer the queue, the more callers run out
                # of patience before an agent picks up.
                t += patience
                we_t(t), we_c(ci), we_wait(patience), we_sl(0)
                ab_t(t), ab_c(ci), ab_v(patience)
                if patience < SHORT_ABANDON_MS:
                    sh_t(t), sh_c(ci), sh_v(patience)
                disc_col[ci] = _PEER
                continue
            t += waited
            within = 1 if waited <= sl_ms[m] else 0
            we_t(t), we_c(ci), we_wait(waited), we_sl(within)
            an_t(t), an_c(ci), an_wait(waited), an_alert(alert)
            if not within:
                ov_t(t), ov_c(ci)
            user_col[ci] = members[int(rnd() * n_members)]
            talk_and_wrap(ci, t, m, 0)

        streams = tuple(
            Stream(
                array("q", ts),
                array("i", conv),
                tuple(array("q", v) for v in values),
                min(ts) if ts else 0,
                max(ts) if ts else -1,
            )
            for ts, conv, *values in columns
        )

        return Block(
            hour=hour,
            seed=self.seed,
            count=n,
            queue=array("i", queues),
            media=bytes(media_col),
            outbound=bytes(outbound_col),
            user=user_col,
            wrap_up=wrap_col,
            disconnect=bytes(disc_col),
            streams=streams,
        )


def blocks_for(start_ms: int, end_ms: int) -> range:
    """Hours of arrival whose conversations can stamp metrics within [start_ms, end_ms)."""
    return range((start_ms - MAX_LIFETIME_MS) // BLOCK_MS, (end_ms - 1) // BLOCK_MS + 1)


class TrafficStore:
    """Generated hours, least recently used first out.

    Generation runs under one lock: two requests for the same new hour must not both pay for
    it, and concurrent generation would not be faster under the GIL anyway.
    """

    def __init__(self, model: TrafficModel, days: int) -> None:
        self.model = model
        self._size = days * 24 + MAX_LIFETIME_MS // BLOCK_MS + 1
        self._blocks: OrderedDict[int, Block] = OrderedDict()
        self._lock = threading.Lock()

    def block(self, hour: int) -> Block:
        with self._lock:
            found = self._blocks.get(hour)
            if found is not None:
                self._blocks.move_to_end(hour)
                return found
            made = self.model.generate(hour)
            self._blocks[hour] = made
            while len(self._blocks) > self._size:
                self._blocks.popitem(last=False)
            return made
