"""The org's directory listings as Genesys pages them: queues, users, wrap-up codes, divisions,
routing skills and languages; and the presence definitions, which Genesys does not page.

Every one of these endpoints answers in the same entity-listing shape (`entities`, `pageSize`,
`pageNumber`, `total`, `pageCount`, `firstUri`/`selfUri`/`lastUri`, `nextUri` while there is
more), so the paging lives here once and each listing only says how an entity looks. The
field names are the SDK models' (`User`, `WrapupCode`, `AuthzDivision`, `RoutingSkill`,
`Language`), so that a client parsing our answers parses Genesys'.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from genesys_assets.simulator.errors import ApiError, bad_request
from genesys_assets.simulator.org import Division, Org, Queue, User
from genesys_assets.simulator.query import iso_ms, to_ms

PAGE_SIZE_DEFAULT = 25
# What the queues route has always allowed; the real maximum of each listing is unverified.
PAGE_SIZE_MAX = 500
USER_STATES = ("active", "inactive", "deleted", "any")

T = TypeVar("T")


def page(
    path: str,
    query: Mapping[str, list[str]],
    items: Sequence[T],
    entity: Callable[[T], dict[str, Any]],
    keep: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One page of `items` (already in listing order) as the API answers it.

    `keep` are query parameters other than paging that the page links must carry on (a user
    listing's `state`), or following `nextUri` would list something else.
    """
    page_size = _int_param(query, "pageSize", PAGE_SIZE_DEFAULT)
    page_number = _int_param(query, "pageNumber", 1)
    if not 1 <= page_size <= PAGE_SIZE_MAX:
        raise bad_request(f"Invalid pageSize {page_size}: must be 1 to {PAGE_SIZE_MAX}")
    if page_number < 1:
        raise bad_request(f"Invalid pageNumber {page_number}: must be 1 or more")
    total = len(items)
    page_count = math.ceil(total / page_size)
    chunk = items[(page_number - 1) * page_size : page_number * page_size]

    def uri(number: int) -> str:
        params = {"pageSize": page_size, "pageNumber": number, **(keep or {})}
        return f"{path}?{urlencode(params)}"

    payload: dict[str, Any] = {
        "entities": [entity(item) for item in chunk],
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": total,
        "pageCount": page_count,
        "firstUri": uri(1),
        "selfUri": uri(page_number),
        "lastUri": uri(max(1, page_count)),
    }
    if page_number < page_count:
        payload["nextUri"] = uri(page_number + 1)
    if page_number > 1:
        payload["previousUri"] = uri(page_number - 1)
    return payload


def queues(org: Org, query: Mapping[str, list[str]]) -> dict[str, Any]:
    divisions = {d.id: d for d in org.divisions}

    def entity(q: Queue) -> dict[str, Any]:
        return {
            "id": q.id,
            "name": q.name,
            "description": q.description,
            "division": _division_ref(divisions[q.division_id]),
            "dateCreated": iso_ms(to_ms(q.date_created)),
            "memberCount": len(q.member_indexes),
            "joinedMemberCount": q.joined_member_count,
            "selfUri": f"/api/v2/routing/queues/{q.id}",
        }

    return page("/api/v2/routing/queues", query, _by_name(org.queues), entity)


def users(org: Org, query: Mapping[str, list[str]]) -> dict[str, Any]:
    """`state` as the real parameter: default `active`, `any` for every state."""
    state = (query.get("state") or ["active"])[0]
    if state not in USER_STATES:
        raise ApiError(
            400,
            "invalid.value",
            f"Invalid value '{state}' for state: must be one of {', '.join(USER_STATES)}",
        )
    listed = [u for u in org.users if state == "any" or u.state == state]
    divisions = {d.id: d for d in org.divisions}

    def entity(u: User) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "id": u.id,
            "name": u.name,
            "division": _division_ref(divisions[u.division_id]),
            "department": u.department,
            "email": u.email,
            "state": u.state,
            "title": u.title,
            "username": u.email,
            "version": 1,
            "selfUri": f"/api/v2/users/{u.id}",
        }
        if u.manager_id:
            answer["manager"] = {"id": u.manager_id, "selfUri": f"/api/v2/users/{u.manager_id}"}
        return answer

    keep = {"state": state} if "state" in query else None
    return page("/api/v2/users", query, _by_name(listed), entity, keep)


def wrap_up_codes(org: Org, query: Mapping[str, list[str]]) -> dict[str, Any]:
    divisions = {d.id: d for d in org.divisions}
    return page(
        "/api/v2/routing/wrapupcodes",
        query,
        _by_name(org.wrap_up_codes),
        lambda c: {
            "id": c.id,
            "name": c.name,
            "division": _division_ref(divisions[c.division_id or org.home_division_id]),
            "selfUri": f"/api/v2/routing/wrapupcodes/{c.id}",
        },
    )


def divisions(org: Org, query: Mapping[str, list[str]]) -> dict[str, Any]:
    home = org.home_division_id
    return page(
        "/api/v2/authorization/divisions",
        query,
        _by_name(org.divisions),
        lambda d: {
            "id": d.id,
            "name": d.name,
            "description": d.description,
            "homeDivision": d.id == home,
            "selfUri": f"/api/v2/authorization/divisions/{d.id}",
        },
    )


def routing_skills(org: Org, query: Mapping[str, list[str]]) -> dict[str, Any]:
    return page(
        "/api/v2/routing/skills",
        query,
        _by_name(org.routing_skills),
        lambda s: {
            "id": s.id,
            "name": s.name,
            "state": "active",
            "version": "1",
            "selfUri": f"/api/v2/routing/skills/{s.id}",
        },
    )


def routing_languages(org: Org, query: Mapping[str, list[str]]) -> dict[str, Any]:
    return page(
        "/api/v2/routing/languages",
        query,
        _by_name(org.routing_languages),
        lambda lang: {
            "id": lang.id,
            "name": lang.name,
            "state": lang.state,
            "version": "1",
            "selfUri": f"/api/v2/routing/languages/{lang.id}",
        },
    )


# How the presence definitions listing spells a system presence (the SDK model's enum), where
# the user aggregates write ON_QUEUE.
_SYSTEM_PRESENCE_LABELS = {
    "AVAILABLE": "Available", "AWAY": "Away", "BREAK": "Break", "BUSY": "Busy",
    "IDLE": "Idle", "MEAL": "Meal", "MEETING": "Meeting", "OFFLINE": "Offline",
    "ON_QUEUE": "OnQueue", "TRAINING": "Training",
}  # fmt: skip


def presence_definitions(org: Org, query: Mapping[str, list[str]]) -> dict[str, Any]:
    """GET /api/v2/presence/definitions: `{total, entities}` in one answer (not paged);
    `deactivated=true|false` keeps those, no value lists both."""
    values = query.get("deactivated")
    flag = values[0] if values else None
    if flag is not None and flag.lower() not in ("true", "false"):
        raise bad_request(f"Invalid value '{flag}' for deactivated: must be TRUE or FALSE")
    listed = [p for p in org.presences if flag is None or p.deactivated == (flag.lower() == "true")]
    entities = [
        {
            "id": p.id,
            "type": "System" if p.primary else "User",
            "languageLabels": {"en_US": p.name},
            "systemPresence": _SYSTEM_PRESENCE_LABELS[p.system_presence],
            "divisionId": "*",
            "deactivated": p.deactivated,
            "selfUri": f"/api/v2/presence/definitions/{p.id}",
        }
        for p in listed
    ]
    return {"total": len(entities), "entities": entities, "selfUri": "/api/v2/presence/definitions"}


def _division_ref(division: Division) -> dict[str, str]:
    return {
        "id": division.id,
        "name": division.name,
        "selfUri": f"/api/v2/authorization/divisions/{division.id}",
    }


class _Named(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def _by_name(items: Sequence[N]) -> list[N]:
    """Listing order: by name, then id, so that pages never overlap or miss an entity."""
    return sorted(items, key=lambda i: (i.name.lower(), i.id))


def _int_param(query: Mapping[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        raise bad_request(f"Invalid {name} '{values[0]}': expected an integer") from None
