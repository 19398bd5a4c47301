"""The dimension tables: queues, users, wrap-up codes, divisions, routing skills, routing
languages and presence definitions, each one small table replaced whole on each run.

The aggregates carry only ids (`queueId`, `userId`, `wrapUpCode`, `divisionId`,
`requestedRoutingSkillId`, `requestedLanguageId`, and the organization presences that
tOrganizationPresence names in its qualifier); these tables carry the names to join them
to. The columns are listed without pyarrow (the catalog shows them when the definitions load)
and the Arrow tables are built when a run needs them, from the client's listings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from genesys_assets.long_table import DEFAULT_ORG, ORG_COLUMN, Column, arrow_type

if TYPE_CHECKING:
    import pyarrow as pa

    from genesys_assets.genesys.client import (
        Division,
        PresenceDefinition,
        Queue,
        RoutingLanguage,
        RoutingSkill,
        User,
        WrapUpCode,
    )

_LOADED_AT = Column("loaded_at", "timestamp_us", False, "when the listing was taken, UTC")
# Every org's listing side by side in one table: a run replaces its org's rows.
_ORG = Column(ORG_COLUMN, "string", False, "the org the row is of (its id in the datasets file)")

QUEUE_COLUMNS: tuple[Column, ...] = (
    _ORG,
    Column("queue_id", "string", False, "the routing queue's id (queue_id in the dataset tables)"),
    Column("name", "string", True, "the queue's name as it is now"),
    Column("division_id", "string", True, "the division the queue belongs to"),
    Column("division_name", "string", True, "the division's name"),
    _LOADED_AT,
)
_USER_COLUMNS: tuple[Column, ...] = (
    _ORG,
    Column("user_id", "string", False, "the user's id (user_id in the dataset tables)"),
    Column("name", "string", True, "the user's name as it is now"),
    Column("division_id", "string", True, "the division the user belongs to"),
    Column("department", "string", True, "the user's department"),
    Column("title", "string", True, "the user's job title"),
    Column("state", "string", True, "active, inactive or deleted: agents who left stay listed"),
    Column("manager_id", "string", True, "the user_id of the user's manager"),
)
_EMAIL = Column("email", "string", True, "the user's email address (personal data)")

WRAP_UP_CODE_COLUMNS: tuple[Column, ...] = (
    _ORG,
    Column(
        "wrap_up_code_id", "string", False, "the wrap-up code's id (wrap_up_code in the datasets)"
    ),
    Column("name", "string", True, "the wrap-up code's name as it is now"),
    Column("division_id", "string", True, "the division the code belongs to (NULL: a system code)"),
    _LOADED_AT,
)
DIVISION_COLUMNS: tuple[Column, ...] = (
    _ORG,
    Column("division_id", "string", False, "the division's id (division_id in the datasets)"),
    Column("name", "string", True, "the division's name as it is now"),
    Column("description", "string", True, "the division's description"),
    Column("home_division", "bool", False, "true for the org's home division"),
    _LOADED_AT,
)
ROUTING_SKILL_COLUMNS: tuple[Column, ...] = (
    _ORG,
    Column(
        "skill_id", "string", False, "the skill's id (requested_routing_skill_id in the datasets)"
    ),
    Column("name", "string", True, "the skill's name as it is now"),
    Column("state", "string", True, "the skill's state"),
    _LOADED_AT,
)
PRESENCE_COLUMNS: tuple[Column, ...] = (
    _ORG,
    Column(
        "presence_id",
        "string",
        False,
        "the presence definition's id (the qualifier of tOrganizationPresence rows)",
    ),
    Column("name", "string", True, "the presence's label (en_US) as it is now"),
    Column(
        "system_presence",
        "string",
        True,
        "the system presence it belongs to, as the listing spells it (OnQueue, Break, ...)",
    ),
    Column("type", "string", True, "System (Genesys' own) or User (the org's own)"),
    Column("deactivated", "bool", False, "true for a presence no longer offered"),
    _LOADED_AT,
)
ROUTING_LANGUAGE_COLUMNS: tuple[Column, ...] = (
    _ORG,
    Column(
        "language_id", "string", False, "the language's id (requested_language_id in the datasets)"
    ),
    Column("name", "string", True, "the language's name as it is now"),
    Column("state", "string", True, "the language's state"),
    _LOADED_AT,
)

# Codes Genesys stamps itself, which the wrap-up code listing is not known to include
# (unverified): without a row of their own, every conversation whose agent let the wrap-up
# timer run out would join to no name.
SYSTEM_WRAP_UP_CODES: tuple[tuple[str, str], ...] = (
    ("ININ-WRAP-UP-TIMEOUT", "Wrap-up timeout (system)"),
)


def user_columns(include_email: bool = False) -> tuple[Column, ...]:
    """The users table's columns; `email` only when asked for, since it is personal data."""
    return (*_USER_COLUMNS, *((_EMAIL,) if include_email else ()), _LOADED_AT)


def schema(columns: Sequence[Column]) -> pa.Schema:
    """The Arrow schema of `columns`; booleans too, which the long table never needs."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(c.name, pa.bool_() if c.type == "bool" else arrow_type(c.type), c.nullable)
            for c in columns
        ]
    )


def queues_table(queues: Sequence[Queue], loaded_at: datetime, org: str = DEFAULT_ORG) -> pa.Table:
    rows = [(q.id, q.name, q.division_id, q.division_name) for q in queues]
    return _table(rows, QUEUE_COLUMNS, loaded_at, org)


def users_table(
    users: Sequence[User],
    loaded_at: datetime,
    org: str = DEFAULT_ORG,
    *,
    include_email: bool = False,
) -> pa.Table:
    """Without `include_email` no address is written, whatever the listing carried."""
    rows = [
        (u.id, u.name, u.division_id, u.department, u.title, u.state, u.manager_id)
        + ((u.email,) if include_email else ())
        for u in users
    ]
    return _table(rows, user_columns(include_email), loaded_at, org)


def wrap_up_codes_table(
    codes: Sequence[WrapUpCode],
    loaded_at: datetime,
    org: str = DEFAULT_ORG,
    *,
    include_system_codes: bool = True,
) -> pa.Table:
    """The listed codes, plus the `SYSTEM_WRAP_UP_CODES` the listing did not include."""
    rows: list[tuple[Any, ...]] = [(c.id, c.name, c.division_id) for c in codes]
    if include_system_codes:
        listed = {c.id for c in codes}
        rows += [(cid, name, None) for cid, name in SYSTEM_WRAP_UP_CODES if cid not in listed]
    return _table(rows, WRAP_UP_CODE_COLUMNS, loaded_at, org)


def divisions_table(
    divisions: Sequence[Division], loaded_at: datetime, org: str = DEFAULT_ORG
) -> pa.Table:
    rows = [(d.id, d.name, d.description, d.home_division) for d in divisions]
    return _table(rows, DIVISION_COLUMNS, loaded_at, org)


def routing_skills_table(
    skills: Sequence[RoutingSkill], loaded_at: datetime, org: str = DEFAULT_ORG
) -> pa.Table:
    return _table([(s.id, s.name, s.state) for s in skills], ROUTING_SKILL_COLUMNS, loaded_at, org)


def routing_languages_table(
    languages: Sequence[RoutingLanguage], loaded_at: datetime, org: str = DEFAULT_ORG
) -> pa.Table:
    rows = [(lang.id, lang.name, lang.state) for lang in languages]
    return _table(rows, ROUTING_LANGUAGE_COLUMNS, loaded_at, org)


def presences_table(
    presences: Sequence[PresenceDefinition], loaded_at: datetime, org: str = DEFAULT_ORG
) -> pa.Table:
    rows = [(p.id, p.name, p.system_presence, p.type, p.deactivated) for p in presences]
    return _table(rows, PRESENCE_COLUMNS, loaded_at, org)


def _table(
    rows: Sequence[tuple[Any, ...]], columns: Sequence[Column], loaded_at: datetime, org: str
) -> pa.Table:
    """`rows` in the order of `columns`, each but the first (`org`) and the last (`loaded_at`),
    both added here."""
    import pyarrow as pa

    names = [c.name for c in columns]
    values = list(zip(*rows, strict=True)) if rows else [()] * (len(names) - 2)
    data = {name: list(column) for name, column in zip(names[1:-1], values, strict=True)}
    return pa.table(
        {ORG_COLUMN: [org] * len(rows), **data, "loaded_at": [loaded_at] * len(rows)},
        schema=schema(columns),
    )


DEFAULT_MAX_SHRINK = 0.5


class DimensionShrinkError(RuntimeError):
    """A dimension listing much smaller than the table it would replace."""


def refuse_shrink(table: str, current: int | None, new: int, max_shrink: float) -> None:
    """Fail before anything is written if `new` rows would replace `current` and lose more than
    `max_shrink` of them (1 allows anything, an empty table included).

    An org's queues do not vanish overnight; an empty or much shorter listing is far more
    likely a permission, a division filter or an API fault, and replacing the table with it
    would blank every queue name in every report without a sign.
    """
    if current is None or current == 0 or max_shrink >= 1:
        return
    lost = (current - new) / current
    if new == 0 or lost > max_shrink:
        raise DimensionShrinkError(
            f"{table}: the API listed {new} rows where the table holds {current} "
            f"({lost:.0%} fewer, more than the {max_shrink:.0%} allowed); nothing was replaced. "
            "If the org really lost them, set GENESYS_DIMENSION_MAX_SHRINK=1 for this run (or "
            "a share such as 0.9) and run it again"
        )
