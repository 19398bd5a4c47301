"""Where a client goes: a Genesys Cloud region, or an explicit base URL.

Users know their region either by its domain (`mypurecloud.ie`, what the admin UI shows) or by
the SDK's region name (`eu_west_1`); both are accepted. The table mirrors the SDK's
`PureCloudRegionHosts` (a test keeps them in step) so that resolving a region does not import
the SDK.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from genesys_assets.genesys import catalog
from genesys_assets.genesys.errors import GenesysConfigError

# SDK region name -> domain; the API lives at https://api.{domain}, logins at login.{domain}.
REGION_DOMAINS: dict[str, str] = {
    "us_east_1": "mypurecloud.com",
    "eu_west_1": "mypurecloud.ie",
    "ap_southeast_2": "mypurecloud.com.au",
    "ap_northeast_1": "mypurecloud.jp",
    "eu_central_1": "mypurecloud.de",
    "us_west_2": "usw2.pure.cloud",
    "ca_central_1": "cac1.pure.cloud",
    "ap_northeast_2": "apne2.pure.cloud",
    "eu_west_2": "euw2.pure.cloud",
    "ap_south_1": "aps1.pure.cloud",
    "us_east_2": "use2.us-gov-pure.cloud",
    "sa_east_1": "sae1.pure.cloud",
    "me_central_1": "mec1.pure.cloud",
    "ap_northeast_3": "apne3.pure.cloud",
    "eu_central_2": "euc2.pure.cloud",
    "mx_central_1": "mxc1.pure.cloud",
    "ap_southeast_1": "apse1.pure.cloud",
    "eusc_de_east_1": "edee1.eusc-pure.cloud",
}


def api_host(region: str | None = None, base_url: str | None = None) -> str:
    """The API base URL for an explicit URL (wins) or a region name/domain."""
    if base_url:
        url = base_url.strip()
        # The value is never echoed: a URL with a user:password part would carry a secret. The
        # part before the path is searched directly: urlsplit refuses some broken URLs outright.
        if "@" in re.split(r"[/?#]", url.split("://", 1)[-1], maxsplit=1)[0]:
            raise GenesysConfigError(
                "GENESYS_API_HOST must not carry a user or password (the '...@' part); use "
                "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET"
            )
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises on a port that is not a number up to 65535)
        except ValueError:
            raise GenesysConfigError(
                "GENESYS_API_HOST must be a URL such as https://api.mypurecloud.ie or "
                "http://127.0.0.1:8080; its host or port cannot be read"
            ) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GenesysConfigError(
                "GENESYS_API_HOST must be a URL such as https://api.mypurecloud.ie or "
                "http://127.0.0.1:8080"
            )
        if parts.query or parts.fragment:
            raise GenesysConfigError("GENESYS_API_HOST must not have a query string or fragment")
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    if not region:
        raise GenesysConfigError(
            "Set GENESYS_REGION (e.g. mypurecloud.ie or eu_west_1) or GENESYS_API_HOST"
        )
    key = region.strip().lower()
    domain = REGION_DOMAINS.get(key.replace("-", "_"))
    if domain is None:
        key = key.removeprefix("https://").removeprefix("api.").removeprefix("login.")
        domain = key if key in REGION_DOMAINS.values() else None
    if domain is None and "@" in region:
        # A URL with a user or password in it: not repeated.
        raise GenesysConfigError(
            "GENESYS_REGION is not a Genesys Cloud region and must not carry a user or password "
            "(the '...@' part); use a domain such as mypurecloud.com or an SDK region name such "
            "as us_east_1"
        )
    if domain is None:
        known = tuple(REGION_DOMAINS.values()) + tuple(REGION_DOMAINS)
        raise GenesysConfigError(
            f"GENESYS_REGION '{region}' is not a Genesys Cloud region"
            f"{catalog.suggest(region, known)}; use a domain such as mypurecloud.com or an SDK "
            "region name such as us_east_1"
        )
    return f"https://api.{domain}"


def login_url(host: str) -> str:
    """The token endpoint for an API host: `//api.` becomes `//login.` (as the SDK does)."""
    return host.replace("//api.", "//login.", 1) + "/oauth/token"
