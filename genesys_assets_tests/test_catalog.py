"""Our copies of the API's vocabulary must match the installed SDK's."""

import ast
import inspect
import re

import pytest

from genesys_assets.genesys import catalog, regions
from genesys_assets.genesys.errors import GenesysConfigError


def _allowed_values(module, needle: str) -> list[str]:
    source = inspect.getsource(module)
    for line in source.splitlines():
        if "allowed_values = [" in line and needle in line:
            return ast.literal_eval(line.split("=", 1)[1].strip())
    raise AssertionError(f"no allowed_values list with {needle} in {module.__name__}")


def test_metrics_and_dimensions_match_the_sdk_models():
    from PureCloudPlatformClientV2.models import (
        conversation_aggregate_query_predicate as predicate,
    )
    from PureCloudPlatformClientV2.models import conversation_aggregation_view as view

    assert list(catalog.METRICS) == _allowed_values(view, '"tHandle"')
    assert list(catalog.DIMENSIONS) == _allowed_values(predicate, '"queueId"')


def test_the_user_aggregates_names_match_the_sdk_models():
    from PureCloudPlatformClientV2.models import (
        organization_presence_definition as presence,
    )
    from PureCloudPlatformClientV2.models import user_aggregate_query_predicate as predicate
    from PureCloudPlatformClientV2.models import user_aggregation_view as view

    assert list(catalog.USER_METRICS) == _allowed_values(view, '"tSystemPresence"')
    assert list(catalog.USER_DIMENSIONS) == _allowed_values(predicate, '"userId"')
    # The presence listing spells the system presences its own way (OnQueue for ON_QUEUE).
    listed = _allowed_values(presence, '"OnQueue"')
    assert {name.replace("OnQueue", "On_Queue").upper() for name in listed} == set(
        catalog.SYSTEM_PRESENCES
    )


def test_stat_fields_match_the_sdk_statistical_summary():
    from PureCloudPlatformClientV2.models.statistical_summary import StatisticalSummary

    assert set(catalog.STAT_FIELDS) == set(StatisticalSummary().attribute_map.values())
    for stat in catalog.STAT_FIELDS:
        python_name = re.sub(r"(?<!^)(?=[A-Z])", "_", stat).lower()
        sdk_type = StatisticalSummary().swagger_types[python_name]
        assert (sdk_type == "int") == (stat in catalog.INTEGER_STATS), stat


def test_region_table_matches_the_sdk():
    from PureCloudPlatformClientV2 import PureCloudRegionHosts

    sdk = {r.name: r.get_api_host() for r in PureCloudRegionHosts}
    ours = {name: f"https://api.{domain}" for name, domain in regions.REGION_DOMAINS.items()}
    assert ours == sdk


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("mypurecloud.ie", "https://api.mypurecloud.ie"),
        ("eu_west_1", "https://api.mypurecloud.ie"),
        ("EU-WEST-1", "https://api.mypurecloud.ie"),
        ("api.usw2.pure.cloud", "https://api.usw2.pure.cloud"),
        ("https://api.mypurecloud.de", "https://api.mypurecloud.de"),
    ],
)
def test_region_names_and_domains_resolve(region, host):
    assert regions.api_host(region=region) == host


def test_explicit_host_wins_and_login_url_follows_the_sdk_rule():
    assert regions.api_host("mypurecloud.ie", "http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert (
        regions.login_url("https://api.mypurecloud.ie")
        == "https://login.mypurecloud.ie/oauth/token"
    )
    assert regions.login_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/oauth/token"


def test_unknown_region_says_what_to_set():
    with pytest.raises(
        GenesysConfigError,
        match=r"GENESYS_REGION 'mypurecloud\.iee'.*did you mean 'mypurecloud\.ie'",
    ):
        regions.api_host(region="mypurecloud.iee")
    with pytest.raises(GenesysConfigError, match=r"GENESYS_REGION.*or GENESYS_API_HOST"):
        regions.api_host()
    with pytest.raises(GenesysConfigError, match="GENESYS_API_HOST must be a URL"):
        regions.api_host(base_url="api.mypurecloud.ie")
