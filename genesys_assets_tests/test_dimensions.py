"""The dimension listings (users, wrap-up codes, divisions, routing skills, languages, presence
definitions) over HTTP
against the simulator, through the real SDK, and the tables built from them.

The point of each table is that every id the aggregates carry joins to a name; the tests ask the
simulator's aggregates for those ids and check that the listings resolve all of them, the users
who left included.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from genesys_assets import dimension_tables
from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.catalog import (
    PERMISSION_AGGREGATES,
    PERMISSION_PRESENCE_DEFINITIONS,
    PERMISSION_ROUTING_SKILLS,
    PERMISSION_WRAP_UP_CODES,
)
from genesys_assets.genesys.client import ClientSettings, GenesysClient
from genesys_assets.genesys.errors import (
    GenesysConfigError,
    GenesysError,
    GenesysPermissionError,
)
from genesys_assets.genesys.query import AggregateQuery
from genesys_assets.simulator import Simulator

from .raw_http import RawClient
from .rewriting_proxy import RewritingProxy
from .test_client import client_for, routes

NOW = datetime(2024, 11, 6, 12, tzinfo=UTC)
DAYS = [date(2024, 11, 1) + timedelta(days=n) for n in range(3)]
LOADED_AT = datetime(2024, 11, 6, 12, 30, tzinfo=UTC)
PAGE = 4
AGGREGATES_ONLY = ("aggregates-only", "aggregates-secret")
NOTHING = ("nothing", "nothing-secret")


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator]) -> Simulator:
    # 30 agents: several pages of users at PAGE a page, two or more who left.
    return start_simulator(
        now=NOW,
        agents=30,
        extra_clients=((*AGGREGATES_ONLY, (PERMISSION_AGGREGATES,)), (*NOTHING, ())),
    )


def client_as(sim: Simulator, client_id: str, secret: str, **settings: Any) -> GenesysClient:
    defaults: dict[str, Any] = {"backoff_base_s": 0.05, "max_retry_wait_s": 2.0}
    return GenesysClient(
        sim.base_url, ClientCredentials(client_id, secret), ClientSettings(**defaults, **settings)
    )


def group_values(sim: Simulator, dimension: str) -> set[str]:
    """Every value of `dimension` in the simulator's aggregates for DAYS."""
    query = AggregateQuery(metrics=("tHandle",), group_by=(dimension,), time_zone="UTC")
    with client_for(sim, mode="sync") as client:
        fetches = list(client.fetch_days(query, DAYS))
    values: set[str] = set()
    for fetch in fetches:
        for page in fetch.pages:
            for result in json.loads(page.body).get("results", []):
                value = result["group"].get(dimension)
                # A multivalued dimension (requested skills) comes flattened, "a,b".
                values.update(value.split(",") if value else [])
    assert values, f"the aggregates have no {dimension} at all"
    return values


# -- paging --------------------------------------------------------------------------------


def test_every_dimension_pages_through_all_of_the_org(sim: Simulator) -> None:
    org = sim.org
    with client_for(sim, queue_page_size=PAGE) as client:
        listed: dict[str, tuple[Sequence[Any], Sequence[Any]]] = {
            "users": (client.list_users(), org.users),
            "routing/wrapupcodes": (client.list_wrap_up_codes(), org.wrap_up_codes),
            "authorization/divisions": (client.list_divisions(), org.divisions),
            "routing/skills": (client.list_routing_skills(), org.routing_skills),
            "routing/languages": (client.list_routing_languages(), org.routing_languages),
        }
    for route, (items, expected) in listed.items():
        assert len(expected) > PAGE or route == "authorization/divisions", route
        ids = [i.id for i in items]
        assert len(ids) == len(set(ids)) == len(expected), route
        assert set(ids) == {e.id for e in expected}, route
        assert routes(sim, f"GET /api/v2/{route}") == max(1, math.ceil(len(expected) / PAGE))


def test_the_listings_carry_the_orgs_fields(sim: Simulator) -> None:
    org = sim.org
    with client_for(sim, queue_page_size=PAGE) as client:
        users = {u.id: u for u in client.list_users()}
        codes = {c.id: c for c in client.list_wrap_up_codes()}
        divisions = client.list_divisions()
        skills = {s.id: s for s in client.list_routing_skills()}
        languages = {lang.id: lang for lang in client.list_routing_languages()}
    for expected in org.users:
        user = users[expected.id]
        assert (user.name, user.division_id, user.department, user.title) == (
            expected.name,
            expected.division_id,
            expected.department,
            expected.title,
        )
        assert (user.state, user.manager_id) == (expected.state, expected.manager_id)
    assert all(users[u.manager_id].title for u in users.values() if u.manager_id)
    for code in org.wrap_up_codes:
        assert (codes[code.id].name, codes[code.id].division_id) == (code.name, code.division_id)
    assert [d.id for d in divisions if d.home_division] == [org.home_division_id]
    assert {d.id: (d.name, d.description) for d in divisions} == {
        d.id: (d.name, d.description) for d in org.divisions
    }
    assert {s.id: s.name for s in skills.values()} == {s.id: s.name for s in org.routing_skills}
    assert {lang.id: lang.name for lang in languages.values()} == {
        lang.id: lang.name for lang in org.routing_languages
    }
    assert {s.state for s in skills.values()} == {lang.state for lang in languages.values()}
    assert {s.state for s in skills.values()} == {"active"}


# -- users: who left, and email ------------------------------------------------------------


def test_users_who_left_are_listed_and_every_user_of_the_aggregates_resolves(
    sim: Simulator,
) -> None:
    with client_for(sim, queue_page_size=PAGE) as client:
        everyone = {u.id: u for u in client.list_users()}
        by_state = {s: client.list_users(state=s) for s in ("active", "inactive", "deleted")}
    assert {s: {u.state for u in users} for s, users in by_state.items()} == {
        "active": {"active"},
        "inactive": {"inactive"},
        "deleted": {"deleted"},
    }
    assert sum(len(users) for users in by_state.values()) == len(everyone)

    handled = group_values(sim, "userId")
    assert handled <= everyone.keys(), "a user id of the aggregates resolves to no user"
    left = {uid for uid in handled if everyone[uid].state != "active"}
    assert {everyone[uid].state for uid in left} == {"deleted", "inactive"}
    # What the API lists by default (active only) would leave them without a name.
    assert not left & {u.id for u in by_state["active"]}


def test_email_is_left_out_unless_asked_for(sim: Simulator) -> None:
    with client_for(sim) as client:
        without = client.list_users()
        with_email = client.list_users(include_email=True)
    assert {u.email for u in without} == {None}
    emails = {u.id: u.email for u in with_email}
    assert emails == {u.id: u.email for u in sim.org.users}
    assert len(set(emails.values())) == len(emails)

    plain = dimension_tables.users_table(with_email, LOADED_AT)
    assert "email" not in plain.column_names, "the users carried emails; the table must not"
    asked = dimension_tables.users_table(with_email, LOADED_AT, include_email=True)
    assert asked.column("email").to_pylist() == [u.email for u in with_email]
    assert [c.name for c in dimension_tables.user_columns()] == plain.column_names
    assert [c.name for c in dimension_tables.user_columns(True)] == asked.column_names


def test_an_unknown_user_state_is_refused_before_any_request(sim: Simulator) -> None:
    with client_for(sim) as client, pytest.raises(GenesysConfigError, match="'gone'"):
        client.list_users(state="gone")
    assert routes(sim, "/api/v2/users") == 0


def test_the_simulator_keeps_the_user_state_in_its_page_links(sim: Simulator) -> None:
    raw = RawClient(sim.base_url, sim.client_id, sim.client_secret, timeout=10)
    raw.login()
    first = raw.request("GET", "/api/v2/users?pageSize=2&state=any").json()
    assert first["nextUri"] == "/api/v2/users?pageSize=2&pageNumber=2&state=any"
    assert first["total"] == len(sim.org.users) and first["pageCount"] == math.ceil(
        len(sim.org.users) / 2
    )
    default = raw.request("GET", "/api/v2/users?pageSize=500").json()
    assert default["total"] == sum(u.state == "active" for u in sim.org.users)
    refused = raw.request("GET", "/api/v2/users?state=gone")
    assert refused.status == 400 and refused.json()["code"] == "invalid.value"


# -- wrap-up codes -------------------------------------------------------------------------


def test_every_wrap_up_code_of_the_aggregates_resolves_in_the_table(sim: Simulator) -> None:
    with client_for(sim, queue_page_size=PAGE) as client:
        codes = client.list_wrap_up_codes()
    used = group_values(sim, "wrapUpCode")
    system = {cid for cid, _ in dimension_tables.SYSTEM_WRAP_UP_CODES}
    assert used - {c.id for c in codes} <= system, "only Genesys' own codes are not listed"
    table = dimension_tables.wrap_up_codes_table(codes, LOADED_AT)
    assert used <= set(table.column("wrap_up_code_id").to_pylist())
    assert table.num_rows == len(codes) + len(system)
    bare = dimension_tables.wrap_up_codes_table(codes, LOADED_AT, include_system_codes=False)
    assert bare.num_rows == len(codes)


def test_the_divisions_and_skills_of_the_aggregates_resolve(sim: Simulator) -> None:
    with client_for(sim, queue_page_size=PAGE) as client:
        divisions = {d.id for d in client.list_divisions()}
        skills = {s.id for s in client.list_routing_skills()}
    assert group_values(sim, "divisionId") <= divisions
    assert group_values(sim, "requestedRoutingSkillId") <= skills


# -- permissions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "permission"),
    [
        ("list_wrap_up_codes", PERMISSION_WRAP_UP_CODES),
        ("list_routing_skills", PERMISSION_ROUTING_SKILLS),
        ("list_presence_definitions", PERMISSION_PRESENCE_DEFINITIONS),
    ],
)
def test_a_missing_permission_is_named(sim: Simulator, method: str, permission: str) -> None:
    with (
        client_as(sim, *AGGREGATES_ONLY) as client,
        pytest.raises(GenesysPermissionError) as caught,
    ):
        getattr(client, method)()
    assert f"needs the permission '{permission}'" in str(caught.value)
    assert f"[{permission}]" in str(caught.value), "Genesys' own message is kept"


def test_users_divisions_and_languages_need_only_a_token(sim: Simulator) -> None:
    # As the real API: these three listings check no permission.
    with client_as(sim, *NOTHING) as client:
        assert len(client.list_users()) == len(sim.org.users)
        assert len(client.list_divisions()) == len(sim.org.divisions)
        assert len(client.list_routing_languages()) == len(sim.org.routing_languages)


# -- presence definitions ------------------------------------------------------------------


def test_every_presence_of_the_status_aggregates_resolves_deactivated_ones_listed(
    sim: Simulator,
) -> None:
    with client_for(sim) as client:
        listed = {p.id: p for p in client.list_presence_definitions()}
    # Not paged: one request per `deactivated` value, both states listed.
    assert routes(sim, "GET /api/v2/presence/definitions") == 2
    assert set(listed) == {p.id for p in sim.org.presences}
    assert {p.deactivated for p in listed.values()} == {True, False}
    assert {(p.name, p.type) for p in listed.values()} >= {("On Queue", "System")}
    assert listed[sim.org.presences[sim.org.presence("ON_QUEUE")].id].system_presence == "OnQueue"
    status = AggregateQuery(
        metrics=("tOrganizationPresence",), group_by=("userId",), time_zone="UTC", kind="users"
    )
    with client_for(sim, mode="sync") as client:
        fetches = list(client.fetch_days(status, DAYS))
    used = {
        entry["qualifier"]
        for fetch in fetches
        for page in fetch.pages
        for result in json.loads(page.body)["results"]
        for bucket in result["data"]
        for entry in bucket["metrics"]
    }
    assert len(used) > 3 and used <= set(listed)
    table = dimension_tables.presences_table(list(listed.values()), LOADED_AT)
    assert table.schema == dimension_tables.schema(dimension_tables.PRESENCE_COLUMNS)
    assert table.num_rows == len(listed)


# -- answers of another shape --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "method", "rewrite", "expected"),
    [
        (
            "/api/v2/users",
            "list_users",
            lambda doc: {k: v for k, v in doc.items() if k != "entities"},
            "GET /api/v2/users page 1: the answer has no 'entities' list",
        ),
        (
            "/api/v2/routing/wrapupcodes",
            "list_wrap_up_codes",
            lambda doc: {**doc, "entities": [*doc["entities"], {"name": "No id"}]},
            "GET /api/v2/routing/wrapupcodes page 1: entity 14 has no 'id'",
        ),
        (
            "/api/v2/authorization/divisions",
            "list_divisions",
            lambda doc: {
                **doc,
                "entities": [{**e, "homeDivision": "yes"} for e in doc["entities"]],
            },
            "'homeDivision' of str, not a boolean",
        ),
        (
            "/api/v2/routing/skills",
            "list_routing_skills",
            lambda doc: {**doc, "entities": [{**e, "name": {"en": "x"}} for e in doc["entities"]]},
            "has a 'name' of dict, not text",
        ),
        (
            "/api/v2/routing/languages",
            "list_routing_languages",
            lambda doc: {**doc, "entities": {"id": "not-a-list"}},
            "GET /api/v2/routing/languages page 1: the answer has no 'entities' list",
        ),
        (
            "/api/v2/users",
            "list_users",
            lambda doc: {**doc, "entities": [{**e, "manager": "boss"} for e in doc["entities"]]},
            "has a 'manager' without an 'id'",
        ),
        (
            "/api/v2/presence/definitions",
            "list_presence_definitions",
            lambda doc: {
                **doc,
                "entities": [{**e, "languageLabels": {"en_US": 7}} for e in doc["entities"]],
            },
            "has 'languageLabels' that are not texts",
        ),
    ],
)
def test_an_answer_of_another_shape_is_an_error_not_an_empty_list(
    sim: Simulator, path: str, method: str, rewrite: Callable[[Any], Any], expected: str
) -> None:
    with RewritingProxy(sim.base_url) as proxy:
        proxy.rewrite(path, rewrite)
        credentials = ClientCredentials(sim.client_id, sim.client_secret)
        client = GenesysClient(proxy.base_url, credentials, ClientSettings(max_attempts=1))
        with client, pytest.raises(GenesysError) as caught:
            getattr(client, method)()
    assert expected in str(caught.value)


def test_a_listing_that_does_not_advance_is_an_error(sim: Simulator) -> None:
    first: list[dict[str, Any]] = []

    def repeat_the_first_page(doc: dict[str, Any]) -> dict[str, Any]:
        if not first:
            first.extend(doc["entities"])
        return {**doc, "entities": first, "nextUri": "/api/v2/routing/skills?pageNumber=2"}

    with RewritingProxy(sim.base_url) as proxy:
        proxy.rewrite("/api/v2/routing/skills", repeat_the_first_page)
        credentials = ClientCredentials(sim.client_id, sim.client_secret)
        settings = ClientSettings(queue_page_size=PAGE, max_attempts=1)
        client = GenesysClient(proxy.base_url, credentials, settings)
        with client, pytest.raises(GenesysError, match="page 2: only entities of earlier pages"):
            client.list_routing_skills()


# -- tables --------------------------------------------------------------------------------


def test_the_tables_have_their_listed_columns_and_types(sim: Simulator) -> None:
    with client_for(sim) as client:
        tables = {
            dimension_tables.DIVISION_COLUMNS: dimension_tables.divisions_table(
                client.list_divisions(), LOADED_AT
            ),
            dimension_tables.ROUTING_SKILL_COLUMNS: dimension_tables.routing_skills_table(
                client.list_routing_skills(), LOADED_AT
            ),
            dimension_tables.ROUTING_LANGUAGE_COLUMNS: dimension_tables.routing_languages_table(
                client.list_routing_languages(), LOADED_AT
            ),
            dimension_tables.WRAP_UP_CODE_COLUMNS: dimension_tables.wrap_up_codes_table(
                client.list_wrap_up_codes(), LOADED_AT
            ),
            dimension_tables.user_columns(): dimension_tables.users_table(
                client.list_users(), LOADED_AT
            ),
        }
    for columns, table in tables.items():
        assert table.schema == dimension_tables.schema(columns)
        assert table.num_rows > 0
        assert set(table.column("loaded_at").to_pylist()) == {LOADED_AT}
    divisions = tables[dimension_tables.DIVISION_COLUMNS]
    assert divisions.schema.field("home_division").type == pa.bool_()
    assert divisions.column("home_division").to_pylist().count(True) == 1
    empty = dimension_tables.users_table([], LOADED_AT)
    assert empty.num_rows == 0 and empty.schema == dimension_tables.schema(
        dimension_tables.user_columns()
    )
