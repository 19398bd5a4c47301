"""The official SDK, `PureCloudPlatformClientV2`, tamed for a data pipeline.

Every API call goes through the SDK's own API classes (paths, headers, parameter encoding), but:
- it is imported on first use only, and name by name (`sdk_package`): the package's own import
  loads ~6,750 modules (2 s, 220 MB), of which a client needs a third; loading the Dagster
  definitions imports none of it;
- the process-wide `Configuration` is neutralised once: on import the SDK reads
  `~/.genesyscloudpython/config` and watches it, and that file can change the host, add a
  gateway, or turn on request logging with Authorization headers in it; none of that may
  silently redirect or leak a run;
- its transport is ours (`SdkHttpClient`): timeouts, retries, pacing, token renewal;
- its answers are not turned into model objects: a day of agent metrics is tens of MB of JSON,
  and the pipeline keeps the bytes as they came and flattens them with Arrow.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from genesys_assets.genesys.transport import Authorizer, RawResponse, RequestStats, Transport

_lock = threading.Lock()
_sdk: ModuleType | None = None
_classes: dict[str, type] = {}


def load() -> ModuleType:
    """Import the SDK once and cut it off from the user's config file."""
    global _sdk
    with _lock:
        if _sdk is None:
            from genesys_assets.genesys.sdk_package import import_package

            sdk = import_package()
            LogLevel = sdk.logger.LogLevel

            config = sdk.Configuration()
            # The watchdog handler re-reads the file only while this is true.
            config.live_reload_config = False
            config.gateway_configuration = None
            config.should_refresh_access_token = False
            config.logger.log_level = LogLevel.LNone
            config.logger.log_file_path = None
            config.logger.log_to_console = False
            config.logger.set_log_outputs()
            _classes.update(_define_classes(sdk))
            _sdk = sdk
        return _sdk


def _define_classes(sdk: ModuleType) -> dict[str, type]:
    """Subclasses of SDK types, defined only once the SDK is imported."""

    # Typed Any: the SDK is a module object here, imported at run time, not a static import.
    api_client: Any = sdk.ApiClient
    http_client: Any = sdk.api_client.AbstractHttpClient

    class RawApiClient(api_client):
        """An ApiClient whose calls return our `RawResponse` instead of a model object."""

        def deserialize(self, response: Any, response_type: Any) -> Any:
            return response

    class SdkHttpClient(http_client):
        """Routes the SDK's requests through our `Transport`.

        What a call is for (for log lines) and which counters it feeds cannot travel through
        the SDK's generated methods, so they ride on a thread-local set by `call()`.
        """

        def __init__(self, transport: Transport, authorizer: Authorizer) -> None:
            super().__init__()
            self.transport = transport
            self.authorizer = authorizer
            self._local = threading.local()

        @contextmanager
        def call(self, what: str, stats: RequestStats) -> Iterator[None]:
            self._local.what, self._local.stats = what, stats
            try:
                yield
            finally:
                self._local.what, self._local.stats = "", None

        def request(self, http_request_options: Any) -> RawResponse:
            options = http_request_options
            url = options.url
            if options.query_params:
                url = f"{url}?{urlencode(options.query_params, doseq=True)}"
            headers = {
                k: v for k, v in (options.headers or {}).items() if k.lower() != "authorization"
            }
            body = None
            if options.body is not None:
                body = json.dumps(options.body, separators=(",", ":")).encode("utf-8")
            return self.transport.send(
                options.method,
                url,
                headers=headers,
                body=body,
                authorizer=self.authorizer,
                stats=getattr(self._local, "stats", None),
                what=getattr(self._local, "what", ""),
            )

    return {"RawApiClient": RawApiClient, "SdkHttpClient": SdkHttpClient}


@dataclass(frozen=True)
class AggregatesCalls:
    """The SDK's methods for one kind of aggregates: the query and the async jobs."""

    query: Callable[..., Any]
    submit: Callable[..., Any]
    status: Callable[..., Any]
    results: Callable[..., Any]
    cancel: Callable[..., Any]


class SdkApis:
    """The SDK API objects one client uses, bound to one host and our transport."""

    def __init__(self, host: str, transport: Transport, authorizer: Authorizer) -> None:
        sdk = load()
        self.http = _classes["SdkHttpClient"](transport, authorizer)
        api_client = _classes["RawApiClient"](host=host)
        # The constructor copied the process-wide gateway setting; a client goes to its host.
        api_client.gateway_configuration = None
        api_client.set_http_client(self.http)
        self._sdk = sdk
        self._api_client = api_client
        self.conversations = sdk.ConversationsApi(api_client)
        self.routing = sdk.RoutingApi(api_client)

    # Only the dimension listings need these: a run that fetches aggregates does not import
    # their modules (and the ~80 models each imports).

    @cached_property
    def users(self) -> Any:
        return self._sdk.UsersApi(self._api_client)

    @cached_property
    def presence(self) -> Any:
        return self._sdk.PresenceApi(self._api_client)

    def aggregates(self, kind: str) -> AggregatesCalls:
        """The five calls of one kind of aggregates (see `catalog.KINDS`): the SDK names them
        alike, `post_analytics_<kind>_aggregates_query` and so on, on the kind's API class."""
        api = self.users if kind == "users" else self.conversations
        prefix = f"analytics_{kind}_aggregates"
        return AggregatesCalls(
            query=getattr(api, f"post_{prefix}_query"),
            submit=getattr(api, f"post_{prefix}_jobs"),
            status=getattr(api, f"get_{prefix}_job"),
            results=getattr(api, f"get_{prefix}_job_results"),
            cancel=getattr(api, f"delete_{prefix}_job"),
        )

    @cached_property
    def authorization(self) -> Any:
        return self._sdk.AuthorizationApi(self._api_client)
