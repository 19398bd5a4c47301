"""The simulated tenant: divisions, queues, teams, agents, users, wrap-up codes, routing skills
and languages.

Everything is drawn from one RNG seeded from the config seed, so the same seed gives the same
ids and names in every process (tests compare ids across runs, the pipeline stores them).
Sizes come from the config so a benchmark can ask for a large tenant; names stay realistic
because people read them in dashboards and queue listings.
"""

from __future__ import annotations

import math
import random
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from genesys_assets.simulator.config import SimulatorConfig

MEDIA_TYPES: tuple[str, ...] = ("voice", "chat", "email", "message", "callback")
VOICE, CHAT, EMAIL, MESSAGE, CALLBACK = range(len(MEDIA_TYPES))

# Genesys' own code for conversations whose agent let the wrap-up timer run out.
WRAP_UP_TIMEOUT_ID = "ININ-WRAP-UP-TIMEOUT"

_QUEUE_NAMES = (
    "Billing", "Technical Support - Tier 1", "Technical Support - Tier 2", "Customer Care",
    "Sales - New Accounts", "Sales - Upgrades", "Retention", "Collections", "Claims",
    "Returns & Exchanges", "Order Status", "Shipping & Delivery", "VIP Support", "Escalations",
    "Fraud Prevention", "Onboarding", "Appointments", "Warranty", "Password Reset",
    "Mobile App Support", "Internet Support", "TV & Streaming", "Device Repair",
    "Business Accounts", "Partner Support", "Spanish - Customer Care", "French - Support",
    "Accounts Receivable", "Loyalty Program", "Move & Transfer Service", "Outage Reporting",
    "Hardware Orders", "Product Questions", "Cancellations", "Payment Arrangements",
    "Social Media Care", "Web Chat - General", "Email Support", "Dispatch", "Compliance",
)  # fmt: skip
_QUEUE_QUALIFIERS = (
    "East", "West", "Central", "EMEA", "APAC", "LATAM", "Canada", "Overflow", "After Hours",
    "Premium", "Small Business", "Enterprise",
)  # fmt: skip
_DIVISION_NAMES = (
    "Customer Care", "Sales", "Technical Services", "Finance", "Retail", "Enterprise",
    "International", "Field Operations",
)  # fmt: skip
_TEAM_NAMES = (
    "Falcon", "Orion", "Phoenix", "Atlas", "Nova", "Summit", "Harbor", "Pioneer", "Aurora",
    "Comet", "Redwood", "Granite", "Cascade", "Horizon", "Meridian", "Sequoia", "Vanguard",
    "Zephyr", "Beacon", "Lighthouse",
)  # fmt: skip
_FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas",
    "Mia", "Mateo", "Amelia", "Ethan", "Harper", "Aiden", "Evelyn", "Daniel", "Abigail",
    "Henry", "Emily", "Jackson", "Ella", "Sebastian", "Chloe", "Samuel", "Camila", "David",
    "Aria", "Joseph", "Priya", "Wei", "Fatima", "Diego", "Yuki", "Omar", "Ingrid", "Kwame",
    "Lucia", "Mohammed", "Anika", "Tomasz", "Chen", "Aisha", "Rafael", "Sofia", "Jin",
    "Gabriel", "Nadia", "Marcus", "Leila", "Andre", "Hana", "Victor", "Zara", "Pedro",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Patel", "Kim", "Chen", "Nowak", "Okafor",
    "Schmidt", "Rossi", "Dubois", "Tanaka", "Kowalski", "Haddad", "Singh", "Silva", "Murphy",
)  # fmt: skip
_WRAP_UP_NAMES = (
    "Resolved - First Contact", "Resolved - Follow-up Required", "Billing Question",
    "Payment Taken", "Technical Issue - Resolved", "Technical Issue - Escalated",
    "Sale Completed", "Not Interested", "Callback Scheduled", "Complaint Logged",
    "Account Updated", "Transferred", "Wrong Department", "Information Provided",
)  # fmt: skip

# Routing skills a flow can request. Drawn from an RNG of their own, so that adding them left
# every other id of a seed unchanged.
_SKILL_NAMES = (
    "Billing", "Payments", "Technical Support", "Internet", "Mobile", "TV & Streaming",
    "Hardware", "Sales", "Retention", "Claims", "Shipping", "Account Security",
    "Business Accounts", "Escalations", "Spanish", "French",
)  # fmt: skip
_SKILL_ROUTED_SHARE = 0.7  # queues whose flow requests skills; the rest route on queue alone

# Routing languages, from an RNG of their own for the same reason.
_LANGUAGE_NAMES = (
    "English", "Spanish", "French", "German", "Portuguese", "Italian", "Mandarin", "Japanese",
    "Arabic", "Hindi", "Polish", "Dutch",
)  # fmt: skip

# The people behind the agents, from an RNG of their own too. Some agents have left: deleted or
# deactivated users still handled conversations in the past, so their ids stay in every
# historical aggregate and must still resolve to a name.
_DELETED_SHARE = 0.08
_INACTIVE_SHARE = 0.05
_AGENT_TITLES = ("Customer Service Agent", "Senior Agent", "Support Specialist", "Team Lead")
_DEPARTMENTS = ("Customer Care", "Sales", "Technical Support", "Billing", "Retention")
EMAIL_DOMAIN = "example.com"  # reserved for documentation: a simulated address reaches no one

# Media mixes of the kinds of queue a contact center runs; weights in MEDIA_TYPES order.
_PROFILES: tuple[tuple[str, float, tuple[float, ...], float], ...] = (
    # name, how common, media weights, share of agent-initiated outbound conversations
    ("voice", 0.45, (0.88, 0.0, 0.0, 0.0, 0.12), 0.12),
    ("blended", 0.30, (0.55, 0.20, 0.10, 0.08, 0.07), 0.08),
    ("digital", 0.15, (0.0, 0.50, 0.10, 0.40, 0.0), 0.0),
    ("email", 0.10, (0.0, 0.0, 0.85, 0.15, 0.0), 0.10),
)
# Service-level thresholds a queue sets per media type, in seconds, and the targets it aims at.
_SL_SECONDS: tuple[tuple[int, ...], ...] = (
    (20, 30), (30, 60), (1800, 3600), (120, 300), (60, 120),
)  # fmt: skip
_SL_TARGETS = (0.8, 0.8, 0.8, 0.9, 0.85, 0.7)


@dataclass(frozen=True)
class Division:
    id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    division_id: str


@dataclass(frozen=True)
class WrapUpCode:
    id: str
    name: str
    division_id: str | None = None


@dataclass(frozen=True)
class RoutingSkill:
    id: str
    name: str


@dataclass(frozen=True)
class RoutingLanguage:
    id: str
    name: str
    state: str = "active"


@dataclass(frozen=True)
class PresenceDefinition:
    """A presence an agent can pick: Genesys' own one per system presence, and the org's own
    secondary ones, each under a system presence (tOrganizationPresence's qualifier is the id)."""

    id: str
    name: str
    system_presence: str
    primary: bool
    deactivated: bool = False  # no longer offered to agents; still listed


@dataclass(frozen=True)
class User:
    """A person of the org as the users listing shows them: every agent (same id and name) and
    the supervisors and director above them, who handle no conversations."""

    id: str
    name: str
    division_id: str
    department: str
    title: str
    state: str  # active, inactive or deleted
    manager_id: str | None
    email: str


@dataclass(frozen=True)
class Queue:
    id: str
    name: str
    description: str
    division_id: str
    date_created: datetime
    service_level_target: float  # share of conversations to answer within the threshold
    service_level_ms: tuple[int, ...]  # threshold per media type, MEDIA_TYPES order
    media_weights: tuple[float, ...]  # MEDIA_TYPES order
    outbound_share: float
    wait_factor: float  # > 1 for understaffed queues
    popularity: float  # relative share of the org's traffic
    member_indexes: tuple[int, ...]  # into Org.agents
    joined_member_count: int
    # Into Org.routing_skills; the first is the queue's primary skill. Empty: no skill routing.
    skill_indexes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    team_index: int
    queue_indexes: tuple[int, ...]


@dataclass(frozen=True)
class Org:
    time_zone: str
    divisions: tuple[Division, ...]
    teams: tuple[Team, ...]
    queues: tuple[Queue, ...]
    agents: tuple[Agent, ...]
    wrap_up_codes: tuple[WrapUpCode, ...]
    routing_skills: tuple[RoutingSkill, ...] = ()
    users: tuple[User, ...] = ()
    routing_languages: tuple[RoutingLanguage, ...] = ()
    presences: tuple[PresenceDefinition, ...] = ()

    def presence(self, system_presence: str) -> int:
        """The index of Genesys' own presence definition for a system presence."""
        return next(
            i
            for i, p in enumerate(self.presences)
            if p.primary and p.system_presence == system_presence
        )

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def home_division_id(self) -> str:
        """Genesys' "Home" division, where everything not assigned elsewhere lives."""
        return self.divisions[0].id

    def division(self, division_id: str) -> Division:
        return next(d for d in self.divisions if d.id == division_id)


def genesys_id(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng`, the shape of every Genesys entity id."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _queue_names(count: int) -> list[str]:
    names = list(_QUEUE_NAMES[:count])
    round_no = 0
    while len(names) < count:
        # Regional and tiered copies of the base queues, the way large tenants grow.
        for qualifier in _QUEUE_QUALIFIERS:
            for base in _QUEUE_NAMES:
                if len(names) == count:
                    return names
                suffix = f" {round_no + 1}" if round_no else ""
                names.append(f"{base} - {qualifier}{suffix}")
        round_no += 1
    return names


def generate_org(config: SimulatorConfig) -> Org:
    rng = random.Random(f"{config.seed}:org")

    division_count = max(1, min(len(_DIVISION_NAMES) + 1, config.queues // 4 + 1))
    divisions = [Division(genesys_id(rng), "Home", "The organization's default division")]
    divisions += [
        Division(genesys_id(rng), name, f"{name} contact center operations")
        for name in _DIVISION_NAMES[: division_count - 1]
    ]

    team_count = max(1, round(config.agents / 12))
    teams = []
    for i in range(team_count):
        base = _TEAM_NAMES[i % len(_TEAM_NAMES)]
        name = f"Team {base}" + (f" {i // len(_TEAM_NAMES) + 1}" if i >= len(_TEAM_NAMES) else "")
        teams.append(Team(genesys_id(rng), name, rng.choice(divisions).id))

    wrap_up_ids = [genesys_id(rng) for _ in _WRAP_UP_NAMES]

    names = _queue_names(config.queues)
    popularity = [rng.lognormvariate(0.0, 0.8) for _ in names]

    # Membership: every queue gets at least one agent, then agents join 1-3 queues, bigger
    # queues attracting more of them, the way workforce planners staff them.
    members: list[list[int]] = [[] for _ in names]
    agent_queues: list[list[int]] = [[] for _ in range(config.agents)]
    for qi in range(config.queues):
        ai = qi % config.agents
        members[qi].append(ai)
        agent_queues[ai].append(qi)
    cum_pop = list(accumulate(popularity))
    for ai in range(config.agents):
        wanted = rng.choices((1, 2, 3), weights=(0.5, 0.35, 0.15))[0]
        tries = 0
        while len(agent_queues[ai]) < wanted and tries < 10:
            tries += 1
            qi = rng.choices(range(config.queues), cum_weights=cum_pop)[0]
            if qi not in agent_queues[ai]:
                agent_queues[ai].append(qi)
                members[qi].append(ai)

    agents = tuple(
        Agent(
            id=genesys_id(rng),
            name=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
            team_index=rng.randrange(team_count),
            queue_indexes=tuple(sorted(agent_queues[ai])),
        )
        for ai in range(config.agents)
    )

    skills, queue_skills = _routing_skills(config, names)

    profile_weights = [p[1] for p in _PROFILES]
    epoch = datetime(2019, 1, 1, tzinfo=UTC)
    queues = []
    for qi, name in enumerate(names):
        profile_name, _, media_weights, outbound_share = rng.choices(_PROFILES, profile_weights)[0]
        sl_ms = tuple(rng.choice(choices) * 1000 for choices in _SL_SECONDS)
        created = epoch + timedelta(
            days=rng.randrange(1500), seconds=rng.randrange(86400), milliseconds=rng.randrange(1000)
        )
        count = len(members[qi])
        queues.append(
            Queue(
                id=genesys_id(rng),
                name=name,
                description=f"{name} ({profile_name} queue)",
                division_id=rng.choice(divisions).id,
                date_created=created,
                service_level_target=rng.choice(_SL_TARGETS),
                service_level_ms=sl_ms,
                media_weights=media_weights,
                outbound_share=outbound_share,
                wait_factor=rng.lognormvariate(0.0, 0.35),
                popularity=popularity[qi],
                member_indexes=tuple(sorted(members[qi])),
                joined_member_count=max(1, math.ceil(count * rng.uniform(0.6, 1.0))),
                skill_indexes=queue_skills[qi],
            )
        )

    return Org(
        time_zone=config.time_zone,
        divisions=tuple(divisions),
        teams=tuple(teams),
        queues=tuple(queues),
        agents=agents,
        wrap_up_codes=_wrap_up_codes(config, wrap_up_ids, divisions),
        routing_skills=skills,
        users=_users(config, divisions, teams, agents),
        routing_languages=_routing_languages(config),
        presences=_presences(config),
    )


def _wrap_up_codes(
    config: SimulatorConfig, ids: list[str], divisions: list[Division]
) -> tuple[WrapUpCode, ...]:
    """Most codes in the home division (where a tenant's codes start), a few in others."""
    rng = random.Random(f"{config.seed}:wrap-up-divisions")
    return tuple(
        WrapUpCode(
            code_id,
            name,
            divisions[0].id if rng.random() < 0.7 else rng.choice(divisions).id,
        )
        for code_id, name in zip(ids, _WRAP_UP_NAMES, strict=True)
    )


# Genesys' own presence per system presence (their labels), then the org's secondary ones.
_PRIMARY_PRESENCES = (
    ("Available", "AVAILABLE"), ("Away", "AWAY"), ("Break", "BREAK"), ("Busy", "BUSY"),
    ("Meal", "MEAL"), ("Meeting", "MEETING"), ("Offline", "OFFLINE"), ("On Queue", "ON_QUEUE"),
    ("Training", "TRAINING"),
)  # fmt: skip
_SECONDARY_PRESENCES = (
    ("Writing emails", "BUSY"), ("Team huddle", "MEETING"), ("Lunch at desk", "AVAILABLE"),
)  # fmt: skip
_DEACTIVATED_PRESENCES = frozenset({"Lunch at desk"})


def _presences(config: SimulatorConfig) -> tuple[PresenceDefinition, ...]:
    """From an RNG of their own, so that adding them left every other id of a seed as it was."""
    rng = random.Random(f"{config.seed}:presences")
    return tuple(
        PresenceDefinition(
            genesys_id(rng), name, system, primary, deactivated=name in _DEACTIVATED_PRESENCES
        )
        for names, primary in ((_PRIMARY_PRESENCES, True), (_SECONDARY_PRESENCES, False))
        for name, system in names
    )


def _routing_languages(config: SimulatorConfig) -> tuple[RoutingLanguage, ...]:
    rng = random.Random(f"{config.seed}:languages")
    return tuple(RoutingLanguage(genesys_id(rng), name) for name in _LANGUAGE_NAMES)


def _users(
    config: SimulatorConfig,
    divisions: list[Division],
    teams: list[Team],
    agents: tuple[Agent, ...],
) -> tuple[User, ...]:
    """A director, one supervisor per team (the manager of its agents), and the agents.

    Agents who left (deleted) or are on leave (inactive) are drawn among those with queues, so
    that they have handled conversations: the listing must still resolve their ids.
    """
    rng = random.Random(f"{config.seed}:users")
    emails: set[str] = set()

    def email(name: str) -> str:
        local = ".".join(name.lower().split())
        local = "".join(c for c in local if c.isascii() and (c.isalnum() or c == "."))
        candidate, n = local, 1
        while candidate in emails:
            n += 1
            candidate = f"{local}{n}"
        emails.add(candidate)
        return f"{candidate}@{EMAIL_DOMAIN}"

    def person() -> str:
        return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"

    home = divisions[0].id
    director_name = person()
    director = User(
        id=genesys_id(rng),
        name=director_name,
        division_id=home,
        department="Customer Operations",
        title="Contact Center Director",
        state="active",
        manager_id=None,
        email=email(director_name),
    )
    supervisors = []
    for team in teams:
        name = person()
        supervisors.append(
            User(
                id=genesys_id(rng),
                name=name,
                division_id=team.division_id,
                department="Customer Operations",
                title=f"Supervisor, {team.name}",
                state="active",
                manager_id=director.id,
                email=email(name),
            )
        )
    staffed = [i for i, a in enumerate(agents) if a.queue_indexes]
    leaving = rng.sample(staffed, min(len(staffed), _left(len(agents))))
    # Both kinds whenever anyone left: the listing must be asked for each state.
    share = _DELETED_SHARE / (_DELETED_SHARE + _INACTIVE_SHARE)
    n_deleted = min(len(leaving) - 1, max(1, round(len(leaving) * share)))
    deleted = set(leaving[:n_deleted])
    inactive = set(leaving[n_deleted:])
    people = []
    for i, agent in enumerate(agents):
        team = teams[agent.team_index]
        state = "deleted" if i in deleted else "inactive" if i in inactive else "active"
        people.append(
            User(
                id=agent.id,
                name=agent.name,
                division_id=team.division_id,
                department=rng.choice(_DEPARTMENTS),
                title=rng.choice(_AGENT_TITLES),
                state=state,
                manager_id=supervisors[agent.team_index].id,
                email=email(agent.name),
            )
        )
    return (director, *supervisors, *people)


def _left(agent_count: int) -> int:
    """How many agents have left or are away: the shares, and one of each from four agents."""
    if agent_count < 4:
        return 0
    share = _DELETED_SHARE + _INACTIVE_SHARE
    return max(2, round(agent_count * share))


def _routing_skills(
    config: SimulatorConfig, queue_names: list[str]
) -> tuple[tuple[RoutingSkill, ...], list[tuple[int, ...]]]:
    """The org's skills, and 2-3 of them per skill-routed queue (none for the others).

    A queue named after a skill ("Billing", "Spanish - Customer Care") has it as its primary
    skill, so that a skill breakdown reads plausibly next to the queue names.
    """
    rng = random.Random(f"{config.seed}:skills")
    skills = tuple(RoutingSkill(genesys_id(rng), name) for name in _SKILL_NAMES)
    per_queue: list[tuple[int, ...]] = []
    for name in queue_names:
        if rng.random() >= _SKILL_ROUTED_SHARE:
            per_queue.append(())
            continue
        chosen = [i for i, skill in enumerate(_SKILL_NAMES) if skill in name][:1]
        wanted = rng.choice((2, 3))
        while len(chosen) < wanted:
            pick = rng.randrange(len(skills))
            if pick not in chosen:
                chosen.append(pick)
        per_queue.append(tuple(chosen))
    return skills, per_queue
