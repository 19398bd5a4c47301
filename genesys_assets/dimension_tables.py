"""The dimension tables besides queues: users, wrap-up codes, divisions, routing skills and
routing languages, each one small table replaced whole on each run.

The aggregates carry only ids (`userId`, `wrapUpCode`, `divisionId`, `requestedRoutingSkillId`,
`requestedLanguageId`); these tables carry the names to join them to. As in `queue_table`, the
columns are listed without pyarrow (the catalog shows them when the definitions load) and the
Arrow tables are built when a run needs them, from the client's listings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from genesys_assets.long_table import Column, arrow_type

if TYPE_CHECKING:
    import pyarrow as pa

    from genesys_assets.genesys.client import (
        Division,
        RoutingLanguage,
        RoutingSkill,
        User,
        WrapUpCode,
    )

_LOADED_AT = Column("loaded_at", "timestamp_us", False, "when the listing was taken, UTC")

_USER_COLUMNS: tuple[Column, ...] = (
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
    Column(
        "wrap_up_code_id", "string", False, "the wrap-up code's id (wrap_up_code in the datasets)"
    ),
    Column("name", "string", True, "the wrap-up code's name as it is now"),
    Column("division_id", "string", True, "the division the code belongs to (NULL: a system code)"),
    _LOADED_AT,
)
DIVISION_COLUMNS: tuple[Column, ...] = (
    Column("division_id", "string", False, "the division's id (division_id in the datasets)"),
    Column("name", "string", True, "the division's name as it is now"),
    Column("description", "string", True, "the division's description"),
    Column("home_division", "bool", False, "true for the org's home division"),
    _LOADED_AT,
)
ROUTING_SKILL_COLUMNS: tuple[Column, ...] = (
    Column(
        "skill_id", "string", False, "the skill's id (requested_routing_skill_id in the datasets)"
    ),
    Column("name", "string", True, "the skill's name as it is now"),
    Column("state", "string", True, "the skill's state"),
    _LOADED_AT,
)
ROUTING_LANGUAGE_COLUMNS: tuple[Column, ...] = (
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


def users_table(
    users: Sequence[User], loaded_at: datetime, *, include_email: bool = False
) -> pa.Table:
    """Without `include_email` no address is written, whatever the listing carried."""
    data: dict[str, list[Any]] = {
        "user_id": [u.id for u in users],
        "name": [u.name for u in users],
        "division_id": [u.division_id for u in users],
        "department": [u.department for u in users],
        "title": [u.title for u in users],
        "state": [u.state for u in users],
        "manager_id": [u.manager_id for u in users],
    }
    if include_email:
        data["email"] = [u.email for u in users]
    return _table(data, user_columns(include_email), loaded_at, len(users))


def wrap_up_codes_table(
    codes: Sequence[WrapUpCode], loaded_at: datetime, *, include_system_codes: bool = True
) -> pa.Table:
    """The listed codes, plus the `SYSTEM_WRAP_UP_CODES` the listing did not include."""
    rows: list[tuple[str, str | None, str | None]] = [(c.id, c.name, c.division_id) for c in codes]
    if include_system_codes:
        listed = {c.id for c in codes}
        rows += [(cid, name, None) for cid, name in SYSTEM_WRAP_UP_CODES if cid not in listed]
    data: dict[str, list[Any]] = {
        "wrap_up_code_id": [r[0] for r in rows],
        "name": [r[1] for r in rows],
        "division_id": [r[2] for r in rows],
    }
    return _table(data, WRAP_UP_CODE_COLUMNS, loaded_at, len(rows))


def divisions_table(divisions: Sequence[Division], loaded_at: datetime) -> pa.Table:
    data: dict[str, list[Any]] = {
        "division_id": [d.id for d in divisions],
        "name": [d.name for d in divisions],
        "description": [d.description for d in divisions],
        "home_division": [d.home_division for d in divisions],
    }
    return _table(data, DIVISION_COLUMNS, loaded_at, len(divisions))


def routing_skills_table(skills: Sequence[RoutingSkill], loaded_at: datetime) -> pa.Table:
    data: dict[str, list[Any]] = {
        "skill_id": [s.id for s in skills],
        "name": [s.name for s in skills],
        "state": [s.state for s in skills],
    }
    return _table(data, ROUTING_SKILL_COLUMNS, loaded_at, len(skills))


def routing_languages_table(languages: Sequence[RoutingLanguage], loaded_at: datetime) -> pa.Table:
    data: dict[str, list[Any]] = {
        "language_id": [lang.id for lang in languages],
        "name": [lang.name for lang in languages],
        "state": [lang.state for lang in languages],
    }
    return _table(data, ROUTING_LANGUAGE_COLUMNS, loaded_at, len(languages))


def _table(
    data: dict[str, list[Any]], columns: Sequence[Column], loaded_at: datetime, rows: int
) -> pa.Table:
    import pyarrow as pa

    return pa.table({**data, "loaded_at": [loaded_at] * rows}, schema=schema(columns))
