"""The names the aggregates APIs understand: conversation aggregates and user aggregates.

Both sides of the wire use this module: the client validates a query before it sends it (the SDK
does not, a typo only comes back as HTTP 400), and the simulator rejects what the real API
rejects. The lists are the ones the SDK's own models enumerate (`ConversationAggregationView`
for metrics, `ConversationAggregateQueryPredicate` for dimensions; `UserAggregationView` and
`UserAggregateQueryPredicate` for the user aggregates); a test compares them with
the installed SDK so that an SDK upgrade that adds names shows up as a failing test, not as a
rejected dataset. Keeping a copy here means validating a dataset file never imports the SDK,
which costs two seconds and 200 MB.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from enum import Enum

METRICS: tuple[str, ...] = (
    "nAgentDeclined", "nAlertExpired", "nBlindTransferred", "nBotInteractions",
    "nCallbackAttempts", "nCallbackOverSla", "nCallbackScheduled", "nCfcOffered",
    "nCobrowseSessions", "nConnected", "nConsult", "nConsultTransferred", "nConversations",
    "nError", "nOffered", "nOutbound", "nOutboundAbandoned", "nOutboundAttempted",
    "nOutboundConnected", "nOverSla", "nStateTransitionError", "nTakeover", "nTransferred",
    "oAudioMessageCount", "oCallbackServiceLevel", "oExternalAudioMessageCount",
    "oExternalMediaCount", "oMediaCount", "oMessageCount", "oMessageSegmentCount",
    "oMessageTurn", "oServiceLevel", "oServiceTarget", "oSkillExpressionApplications",
    "tAbandon", "tAcd", "tActiveCallback", "tActiveCallbackComplete", "tAcw",
    "tAgentResponseTime", "tAgentVideoConnected", "tAlert", "tAnswered",
    "tAverageAgentResponseTime", "tAverageCustomerResponseTime", "tBarging", "tCallbackAbandon",
    "tCallbackConnect", "tCallbackNotReached", "tCallbackVirtualWait", "tCfcAbandon", "tCfcAcd",
    "tCfcAnswered", "tCfcFlowOut", "tCoaching", "tCoachingComplete", "tConnected",
    "tContacting", "tDialing", "tFirstConnect", "tFirstDial", "tFirstEngagement",
    "tFirstResponse", "tFlowOut", "tHandle", "tHeld", "tHeldComplete", "tIvr", "tMonitoring",
    "tMonitoringComplete", "tNotResponding", "tPark", "tParkComplete", "tScreenMonitoring",
    "tShortAbandon", "tSnippetRecord", "tTalk", "tTalkComplete", "tTransmitting",
    "tUserResponseTime", "tVoicemail", "tWait",
)  # fmt: skip

DIMENSIONS: tuple[str, ...] = (
    "activeRouting", "activeSkillId", "addressFrom", "addressTo", "agentAssistantId",
    "agentBullseyeRing", "agentOwned", "agentRank", "agentScore", "ani", "assignerId",
    "authenticated", "canonicalExternalContactId", "conversationId", "conversationInitiator",
    "convertedFrom", "convertedTo", "customerParticipation", "deliveryStatus",
    "destinationAddress", "direction", "disconnectType", "divisionId", "dnis", "edgeId",
    "eligibleAgentCount", "errorCode", "extendedDeliveryStatus", "externalContactId",
    "externalMediaCount", "externalOrganizationId", "externalTag", "firstQueue",
    "flaggedReason", "flowInType", "flowOutType", "groupId", "interactionType",
    "journeyActionId", "journeyActionMapId", "journeyActionMapVersion", "journeyCustomerId",
    "journeyCustomerIdType", "journeyCustomerSessionId", "journeyCustomerSessionIdType",
    "knowledgeBaseId", "mediaCount", "mediaType", "messageType", "originatingDirection",
    "originatingSocialMediaPublic", "outboundCampaignId", "outboundContactId",
    "outboundContactListId", "participantName", "peerId", "proposedAgentId", "provider",
    "purpose", "queueId", "remote", "removedSkillId", "requestedLanguageId", "requestedRouting",
    "requestedRoutingSkillId", "roomId", "routingPriority", "routingRing", "routingRule",
    "routingRuleType", "scoredAgentId", "selectedAgentId", "selectedAgentRank", "selfServed",
    "sessionDnis", "sessionId", "skillExpressionId", "stationId", "teamId", "usedRouting",
    "userId", "videoPresent", "waitingInteractionCount", "wrapUpCode",
)  # fmt: skip

# The fields of the SDK's `StatisticalSummary`, in the order the long table lists them. A metric
# fills only some of them (see `MetricKind`); the others stay null.
STAT_FIELDS: tuple[str, ...] = (
    "count", "sum", "min", "max", "current", "ratio", "numerator", "denominator", "target",
    "countNegative", "countPositive", "p95", "p99", "calculatedMetricValue",
)  # fmt: skip

# Statistics that are whole numbers in the SDK model (everything else is a float).
INTEGER_STATS: frozenset[str] = frozenset(
    {"count", "countNegative", "countPositive", "p95", "p99", "calculatedMetricValue"}
)

# ISO-8601 periods the aggregates API is known to accept (the ones Genesys' query builder
# offers). Anything else is rejected before a request is made.
GRANULARITIES: tuple[str, ...] = ("PT15M", "PT30M", "PT1H", "P1D", "P7D", "P1M")

FILTER_OPERATORS: tuple[str, ...] = ("matches", "exists", "notExists")
FILTER_TYPES: tuple[str, ...] = ("and", "or")

PERMISSION_AGGREGATES = "analytics:conversationAggregate:view"
PERMISSION_QUEUES = "routing:queue:view"
# POST /api/v2/analytics/users/aggregates/query and .../users/aggregates/jobs (the SDK's
# generated docs: "Requires ANY permissions: analytics:userAggregate:view").
PERMISSION_USER_AGGREGATES = "analytics:userAggregate:view"

# User aggregates: time in a status, per user. The status is the entry's `qualifier`: a routing
# status for tAgentRoutingStatus, a system presence for tSystemPresence, an organization
# presence id (a presence definition of the org, e.g. "Lunch at desk" under MEAL) for
# tOrganizationPresence. Filtering and grouping are limited to userId (Genesys' developer
# center, "User Status Aggregate query").
USER_METRICS: tuple[str, ...] = ("tAgentRoutingStatus", "tOrganizationPresence", "tSystemPresence")
USER_DIMENSIONS: tuple[str, ...] = ("userId",)
ROUTING_STATUSES: tuple[str, ...] = (
    "OFF_QUEUE", "IDLE", "INTERACTING", "NOT_RESPONDING", "COMMUNICATING",
)  # fmt: skip
SYSTEM_PRESENCES: tuple[str, ...] = (
    "AVAILABLE", "AWAY", "BREAK", "BUSY", "IDLE", "MEAL", "MEETING", "OFFLINE", "ON_QUEUE",
    "TRAINING",
)  # fmt: skip

# What the dimension listings need, as the SDK's generated docs say of each endpoint
# ("Requires ... permissions", MyPureCloud/platform-client-sdk-python build/docs, 257.1.0):
# GET /api/v2/routing/wrapupcodes requires routing:wrapupCode:view, GET /api/v2/routing/skills
# routing:skill:view; GET /api/v2/users, /api/v2/authorization/divisions and
# /api/v2/routing/languages require none (any valid token). Older SDK docs named
# routing:skill:manage for the skills listing; an OAuth client set up for these listings should
# hold both view permissions, which cost nothing where they are not checked.
PERMISSION_WRAP_UP_CODES = "routing:wrapupCode:view"
PERMISSION_ROUTING_SKILLS = "routing:skill:view"
# GET /api/v2/presence/definitions (the org's presences, the ids tOrganizationPresence names):
# "Requires ALL permissions: presence:presenceDefinition:view" (the SDK's generated docs).
PERMISSION_PRESENCE_DEFINITIONS = "presence:presenceDefinition:view"

_METRIC_SET = frozenset(METRICS)
_DIMENSION_SET = frozenset(DIMENSIONS)


@dataclass(frozen=True)
class Kind:
    """What an aggregates query is about: its names, its endpoint and its permission.

    `conversations` (queue and agent handling metrics) and `users` (time in a presence or
    routing status) share the query shape, the answer shape and the async jobs protocol; they
    differ in these.
    """

    name: str
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...]
    path: str  # the endpoint, without /query or /jobs
    permission: str
    # Whether every entry of a metric names what it is about in `qualifier` (the status).
    qualified: bool


CONVERSATIONS = Kind(
    "conversations",
    METRICS,
    DIMENSIONS,
    "/api/v2/analytics/conversations/aggregates",
    PERMISSION_AGGREGATES,
    qualified=False,
)
USERS = Kind(
    "users",
    USER_METRICS,
    USER_DIMENSIONS,
    "/api/v2/analytics/users/aggregates",
    PERMISSION_USER_AGGREGATES,
    qualified=True,
)
KINDS: dict[str, Kind] = {kind.name: kind for kind in (CONVERSATIONS, USERS)}


class MetricKind(Enum):
    """How a metric's statistics look, decided by the first letter of its name."""

    TIMER = "timer"  # t*: count, sum, min, max, in milliseconds
    COUNT = "count"  # n*: count
    OBSERVATION = "observation"  # o*: varies by metric

    @classmethod
    def of(cls, metric: str) -> MetricKind:
        return {"t": cls.TIMER, "n": cls.COUNT, "o": cls.OBSERVATION}[metric[0]]


def is_metric(name: str) -> bool:
    """A metric of either kind of aggregates."""
    return name in _METRIC_SET or name in USER_METRICS


def is_dimension(name: str) -> bool:
    return name in _DIMENSION_SET


def suggest(name: str, known: tuple[str, ...]) -> str:
    """' (did you mean 'x'?)' for a likely typo, else an empty string."""
    lowered = {k.lower(): k for k in known}
    if name.lower() in lowered:
        return f" (did you mean '{lowered[name.lower()]}'?)"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def snake_case(name: str) -> str:
    """queueId -> queue_id, wrapUpCode -> wrap_up_code, countNegative -> count_negative."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# What an answer must carry for a metric, by kind: a timer without its sum or a count without
# its count is not a number we can load, it is an answer we did not expect. Observations other
# than these two vary by metric (count, sum or current), so only "some statistic" is required.
_REQUIRED_STATS: dict[str, tuple[str, ...]] = {
    "oServiceLevel": ("ratio", "numerator", "denominator", "target"),
    "oServiceTarget": ("target",),
    # Time in a status is a duration, not a count of occurrences: the user aggregates carry its
    # `sum` (milliseconds); a `count` is taken when it comes, never required.
    **{metric: ("sum",) for metric in USER_METRICS},
}
_REQUIRED_BY_KIND: dict[MetricKind, tuple[str, ...]] = {
    MetricKind.TIMER: ("count", "sum", "min", "max"),
    MetricKind.COUNT: ("count",),
    MetricKind.OBSERVATION: (),
}


def required_stats(metric: str) -> tuple[str, ...]:
    """The statistics every entry of `metric` must have; () means at least one, any."""
    if metric in _REQUIRED_STATS:
        return _REQUIRED_STATS[metric]
    return _REQUIRED_BY_KIND[MetricKind.of(metric)]
