"""The dimensions: what each lists from Genesys and how the listing becomes its table.

The aggregates carry ids; each dimension is a small table with the names, listed whole on each
run (`GenesysClient.list_*`, paged) and replaced atomically, like the queue names. This is the
one list of them: the Dagster layer makes one asset of each, `genesys_assets.id_resolution`
checks the dataset tables' ids against them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from genesys_assets import datasets, dimension_tables
from genesys_assets.genesys import catalog
from genesys_assets.long_table import Column

if TYPE_CHECKING:
    import pyarrow as pa

    from genesys_assets.genesys.client import GenesysClient


@dataclass(frozen=True)
class Dimension:
    name: str  # the asset and the table
    description: str
    columns: tuple[Column, ...]
    # The listing as its table: (client, when the listing is taken, the org) -> Arrow table.
    listed: Callable[[GenesysClient, datetime, str], pa.Table]
    # What the OAuth client needs for it (None: any valid token; see genesys/catalog.py).
    permission: str | None

    def schema(self) -> pa.Schema:
        return dimension_tables.schema(self.columns)


def all_dimensions(include_email: bool = False) -> tuple[Dimension, ...]:
    """Every dimension; the users' e-mail addresses only with `include_email` (personal data)."""
    return (
        Dimension(
            datasets.QUEUES_ASSET,
            "Every routing queue of the org (id, name, division), replaced whole on each run: "
            "join the dataset tables' queue_id to it for queue names.",
            dimension_tables.QUEUE_COLUMNS,
            lambda client, now, org: dimension_tables.queues_table(client.list_queues(), now, org),
            catalog.PERMISSION_QUEUES,
        ),
        Dimension(
            datasets.USERS_ASSET,
            "Every user of the org, deleted and inactive ones included (agents who left still "
            "have rows in past days): join the dataset tables' user_id to it for agent names, "
            "titles, departments and managers."
            + (" Includes e-mail addresses (GENESYS_USER_EMAILS)." if include_email else ""),
            dimension_tables.user_columns(include_email),
            lambda client, now, org: dimension_tables.users_table(
                client.list_users(include_email=include_email),
                now,
                org,
                include_email=include_email,
            ),
            None,
        ),
        Dimension(
            datasets.WRAPUP_CODES_ASSET,
            "Every wrap-up code, and Genesys' own (a timed-out wrap-up): join wrap_up_code.",
            dimension_tables.WRAP_UP_CODE_COLUMNS,
            lambda client, now, org: dimension_tables.wrap_up_codes_table(
                client.list_wrap_up_codes(), now, org
            ),
            catalog.PERMISSION_WRAP_UP_CODES,
        ),
        Dimension(
            datasets.DIVISIONS_ASSET,
            "Every division of the org: join division_id (of users, queues, wrap-up codes).",
            dimension_tables.DIVISION_COLUMNS,
            lambda client, now, org: dimension_tables.divisions_table(
                client.list_divisions(), now, org
            ),
            None,
        ),
        Dimension(
            datasets.SKILLS_ASSET,
            "Every routing skill: join requested_routing_skill_id (a comma-separated list when "
            "a conversation asked for several).",
            dimension_tables.ROUTING_SKILL_COLUMNS,
            lambda client, now, org: dimension_tables.routing_skills_table(
                client.list_routing_skills(), now, org
            ),
            catalog.PERMISSION_ROUTING_SKILLS,
        ),
        Dimension(
            datasets.LANGUAGES_ASSET,
            "Every routing language: join requested_language_id.",
            dimension_tables.ROUTING_LANGUAGE_COLUMNS,
            lambda client, now, org: dimension_tables.routing_languages_table(
                client.list_routing_languages(), now, org
            ),
            None,
        ),
        Dimension(
            datasets.PRESENCES_ASSET,
            "Every presence definition of the org (Genesys' own and the org's, deactivated "
            "ones included): join the qualifier of agent_status's tOrganizationPresence rows "
            "to presence_id for the presence's name.",
            dimension_tables.PRESENCE_COLUMNS,
            lambda client, now, org: dimension_tables.presences_table(
                client.list_presence_definitions(), now, org
            ),
            catalog.PERMISSION_PRESENCE_DEFINITIONS,
        ),
    )
