"""S3 and Snowflake stand-ins on loopback: a moto S3 server and a fakesnow server that reads it.

Both run in this process, on 127.0.0.1 with free ports, once per test session; every test gets
its own bucket and its own Snowflake database, so tests never see each other's objects or rows.

    moto_s3             session  MotoS3Server: endpoint_url, host, port, region, client(), reset()
    s3_bucket           test     S3Bucket: a fresh bucket, dummy AWS credentials in the environment
    fakesnow_snowflake  session  FakesnowServer: host, port, statements, unhandled,
                                 connection_args(), resource()
    snowflake_stand_in  test     SnowflakeStandIn: a fresh database, schema and external stage over
                                 the test's bucket, a qmark SnowflakeResource and its `connect`

Outside pytest (a benchmark script) the same objects come from context managers:

    with moto_s3_server() as s3, fakesnow_server(s3) as snow, aws_environment(s3):
        with s3_test_bucket(s3) as bucket, snowflake_database(snow, bucket) as sf:
            SnowflakeWarehouse(sf.connect, database=sf.database, schema=sf.schema, stage=sf.stage)

How fakesnow reads the bucket: fakesnow's server serves every login from one module-level
`fakesnow.server.shared_fs` (a `FakeSnow` holding one DuckDB connection; each session is a cursor
of it), and a COPY INTO from an external stage becomes DuckDB's `read_parquet('s3://...')`.
DuckDB's own s3:// support (the httpfs extension) is downloaded at run time, so offline it fails.
Instead `fakesnow_server` registers an fsspec filesystem for the `s3` protocol (pyarrow's
S3FileSystem pointed at moto, wrapped in fsspec's ArrowFSWrapper) on that shared DuckDB connection
before serving; DuckDB filesystems belong to the database, so every session's cursor sees it. The
server itself is fakesnow's own Starlette app (`fakesnow.server.app`) run by uvicorn in a thread,
as `fakesnow.server()` does, wrapped in a small ASGI layer that:

- records the exact SQL text (and bindings) of every query request the connector sends, in
  `FakesnowServer.statements`, so a test can assert that no key, password or secret is in SQL (the
  connector's own DEBUG log masks secrets and truncates, so it cannot prove that);
- turns fakesnow's HTTP 500 for an exception it does not handle (e.g. DuckDB's "Footer length
  error" for a corrupt Parquet file) into an ordinary Snowflake SQL error (000603, XX000, with the
  DuckDB message). Unchanged, the connector retries a 500 until its network timeout and then
  raises "290500: HTTP 500: Internal Server Error" without the reason. Each such error is also
  kept in `FakesnowServer.unhandled`.

Known fakesnow differences that matter here: all sessions share one in-memory database (hence one
database per test); `CREATE STORAGE INTEGRATION` is a syntax error (it is made a no-op through
fakesnow's `nop_regexes` session parameter); a stage's STORAGE_INTEGRATION and CREDENTIALS are
accepted and ignored; a COPY's `read_parquet` adds hive columns (year, month, day) for
`key=value` folders, which MATCH_BY_COLUMN_NAME ignores unless the table has such columns; after a
failed statement inside BEGIN, DuckDB refuses everything but ROLLBACK (Snowflake only fails that
statement); COPY INTO needs a current database in the session (SnowflakeResource with `database=`
gives one); DROP DATABASE is a syntax error (teardown detaches the database from DuckDB instead).
moto runs in-process: a `moto.mock_aws()` started elsewhere in the same process resets moto's
global state, this server's buckets included.

A test module gets the fixtures with `pytest_plugins = ["genesys_assets_tests.stand_ins"]` and
imports this module's names only under `if TYPE_CHECKING:` (a plain import before pytest loads it
as a plugin stops pytest from rewriting its asserts, and importing the fixture functions
themselves trips ruff's F401/F811).
"""

from __future__ import annotations

import contextvars
import gzip
import importlib
import json
import logging
import os
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from unittest import mock

import pytest

REGION = "us-east-1"
# Dummy credentials, recognisable so a test can look for them where they must never be.
AWS_ACCESS_KEY_ID = "AKIASTANDIN000000000"
AWS_SECRET_ACCESS_KEY = "standin/aws/secret/0000000000000000000000"
SNOWFLAKE_USER = "standin_user"
SNOWFLAKE_PASSWORD = "standin-snowflake-password-0000"
SNOWFLAKE_SCHEMA = "GENESYS"
SNOWFLAKE_STAGE = "GENESYS_STAGE"
STORAGE_INTEGRATION = "GENESYS_S3"
S3_PREFIX = "genesys"
# fakesnow cannot parse CREATE STORAGE INTEGRATION; the README's admin script runs it first.
NOP_REGEXES = (r"\s*CREATE\s+(OR\s+REPLACE\s+)?STORAGE\s+INTEGRATION\b",)

_QUERY_PATH = "/queries/v1/query-request"
_STARTUP_TIMEOUT_S = 15.0

# ---------------------------------------------------------------------------------------------
# S3: moto


class MotoS3Server:
    """moto's ThreadedMotoServer on 127.0.0.1 with a free port (S3 and every other moto API)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.host = "127.0.0.1"
        self.port = 0
        self.region = REGION
        self.access_key_id = AWS_ACCESS_KEY_ID  # dummies: moto accepts any
        self.secret_access_key = AWS_SECRET_ACCESS_KEY

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoS3Server:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()
        return self

    def stop(self) -> None:
        self._server.stop()  # shuts serve_forever down and joins its thread
        wsgi = getattr(self._server, "_server", None)
        if wsgi is not None:
            wsgi.server_close()  # stop() leaves the listening socket open

    def client(self, **credentials: str) -> Any:
        """A boto3 S3 client for this server; credentials default to the dummy ones."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=credentials.get("aws_access_key_id", self.access_key_id),
            aws_secret_access_key=credentials.get("aws_secret_access_key", self.secret_access_key),
        )

    def arrow_filesystem(self) -> Any:
        """pyarrow's S3FileSystem on this server (what DuckDB reads s3:// through)."""
        from pyarrow import fs

        return fs.S3FileSystem(
            access_key=self.access_key_id,
            secret_key=self.secret_access_key,
            region=self.region,
            scheme="http",
            endpoint_override=f"{self.host}:{self.port}",
            connect_timeout=5,
            request_timeout=30,
        )

    def reset(self) -> None:
        """Forget every bucket and object (moto's `POST /moto-api/reset`)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def aws_environment_variables(server: MotoS3Server) -> dict[str, str]:
    """Dummy credentials, region and endpoint: every boto3 client made from them reaches moto."""
    return {
        "AWS_ACCESS_KEY_ID": server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": server.secret_access_key,
        "AWS_REGION": server.region,
        "AWS_DEFAULT_REGION": server.region,
        "AWS_ENDPOINT_URL_S3": server.endpoint_url,
        # A user's ~/.aws must not lend a profile, a session token or another endpoint.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


_AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


@contextmanager
def aws_environment(server: MotoS3Server) -> Iterator[dict[str, str]]:
    """os.environ with `aws_environment_variables` for the block, restored afterwards."""
    with mock.patch.dict(os.environ, aws_environment_variables(server)):
        for name in _AWS_UNSET:
            os.environ.pop(name, None)
        yield dict(os.environ)


@contextmanager
def moto_s3_server() -> Iterator[MotoS3Server]:
    server = MotoS3Server().start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class S3Bucket:
    name: str
    prefix: str  # where the S3 stage writes, without slashes: S3_PREFIX
    client: Any  # boto3 S3 client on moto
    server: MotoS3Server

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    @property
    def url(self) -> str:
        """s3://bucket/prefix/, what the Snowflake external stage points at."""
        return f"s3://{self.name}/{self.prefix}/"

    def keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@contextmanager
def s3_test_bucket(server: MotoS3Server, prefix: str = S3_PREFIX) -> Iterator[S3Bucket]:
    """A new, uniquely named bucket; emptied and deleted afterwards."""
    name = f"standin-{uuid.uuid4().hex[:16]}"
    client = server.client()
    client.create_bucket(Bucket=name)
    bucket = S3Bucket(name, prefix.strip("/"), client, server)
    try:
        yield bucket
    finally:
        keys = bucket.keys()
        for start in range(0, len(keys), 1000):
            client.delete_objects(
                Bucket=name,
                Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True},
            )
        client.delete_bucket(Bucket=name)


# ---------------------------------------------------------------------------------------------
# Snowflake: fakesnow


@dataclass(frozen=True)
class CapturedStatement:
    """One query request as the server received it."""

    sql: str
    bindings: tuple[str | None, ...]  # qmark values as the connector sent them (strings)

    def text(self) -> str:
        """SQL and bindings in one string, for `secret not in statement.text()`."""
        return " ".join([self.sql, *(b for b in self.bindings if b is not None)])


_UNHANDLED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "fakesnow_unhandled", default=None
)


class _UnhandledToContext(logging.Handler):
    """fakesnow logs an unhandled exception just before answering 500: keep its text."""

    def emit(self, record: logging.LogRecord) -> None:
        errors = _UNHANDLED.get()
        if errors is not None and record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            errors.append(f"{type(exc).__name__}: {exc}")


Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _RecordingApp:
    """ASGI wrapper of fakesnow's app: records query requests, turns a 500 into a SQL error."""

    def __init__(self, app: ASGIApp, server: FakesnowServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != _QUERY_PATH:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        self.server.statements.append(_captured(body, dict(scope["headers"])))

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        errors: list[str] = []
        token = _UNHANDLED.set(errors)
        failed = False

        async def answer(message: Message) -> None:
            nonlocal failed
            if message["type"] == "http.response.start" and message["status"] == 500:
                failed = True
                return
            if failed and message["type"] == "http.response.body":
                reason = "; ".join(errors) or message.get("body", b"").decode(errors="replace")
                self.server.unhandled.append(reason)
                payload = json.dumps(
                    {
                        "data": {"errorCode": "000603", "sqlState": "XX000"},
                        "code": "000603",
                        "message": f"SQL execution internal error (fakesnow): {reason}",
                        "success": False,
                    }
                ).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
                return
            await send(message)

        try:
            await self.app(scope, replay, answer)
        finally:
            _UNHANDLED.reset(token)


def _captured(body: bytes, headers: Mapping[bytes, bytes]) -> CapturedStatement:
    if headers.get(b"content-encoding") == b"gzip":
        body = gzip.decompress(body)
    try:
        request = json.loads(body)
    except ValueError:
        return CapturedStatement(body.decode(errors="replace"), ())
    bindings = request.get("bindings") or {}
    values: list[str | None] = []
    for key in sorted(bindings, key=lambda k: int(k) if str(k).isdigit() else 0):
        value = bindings[key].get("value") if isinstance(bindings[key], dict) else bindings[key]
        if isinstance(value, list):
            values.extend(None if v is None else str(v) for v in value)
        else:
            values.append(None if value is None else str(value))
    return CapturedStatement(str(request.get("sqlText", "")), tuple(values))


_ACTIVE_LOCK = threading.Lock()
_active: list[FakesnowServer] = []


class FakesnowServer:
    """fakesnow's HTTP server (uvicorn in a thread) whose DuckDB reads s3:// from moto.

    One per process at a time: fakesnow keeps its database and sessions in module globals.
    """

    def __init__(self, s3: MotoS3Server, *, nop_regexes: tuple[str, ...] = NOP_REGEXES) -> None:
        self.s3 = s3
        self.host = "127.0.0.1"
        self.port = 0
        self.nop_regexes = nop_regexes
        self.statements: list[CapturedStatement] = []
        self.unhandled: list[str] = []  # fakesnow's unhandled exceptions, answered as 000603
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._duck: Any = None
        self._log_handler = _UnhandledToContext()

    def start(self) -> FakesnowServer:
        import uvicorn
        from fsspec.implementations.arrow import ArrowFSWrapper

        with _ACTIVE_LOCK:
            if _active:
                raise RuntimeError("a fakesnow server is already running in this process")
            _active.append(self)
        try:
            # `import fakesnow.server` would rebind the name fakesnow.server from the function
            # to the module; importlib gets the module without caring which one it is.
            module = importlib.import_module("fakesnow.server")
            self._duck = module.shared_fs.duck_conn
            filesystem = ArrowFSWrapper(self.s3.arrow_filesystem())  # protocol "s3"
            if "s3" in self._duck.list_filesystems():
                self._duck.unregister_filesystem("s3")
            self._duck.register_filesystem(filesystem)
            logging.getLogger("fakesnow.server").addHandler(self._log_handler)

            self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((self.host, 0))
            self.port = self._socket.getsockname()[1]
            config = uvicorn.Config(
                _RecordingApp(module.app, self),
                log_config=None,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
            self._server = uvicorn.Server(config)
            self._thread = threading.Thread(
                target=self._server.run,
                kwargs={"sockets": [self._socket]},
                name="fakesnow-server",
                daemon=True,
            )
            self._thread.start()
            deadline = time.monotonic() + _STARTUP_TIMEOUT_S
            while not self._server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the fakesnow server did not start")
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        logging.getLogger("fakesnow.server").removeHandler(self._log_handler)
        if self._duck is not None and "s3" in self._duck.list_filesystems():
            self._duck.unregister_filesystem("s3")
        self._server = self._thread = self._socket = self._duck = None
        with _ACTIVE_LOCK:
            if self in _active:
                _active.remove(self)

    def connection_args(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for snowflake.connector.connect (user and password are dummies).

        A session that runs COPY INTO needs a current database (pass `database=`, or run CREATE
        DATABASE / USE DATABASE first): fakesnow keeps its load history in the current database
        and otherwise fails with 002003 `_fs_information_schema._fs_load_history does not exist`.
        """
        return {
            "account": "fakesnow",
            "user": SNOWFLAKE_USER,
            "password": SNOWFLAKE_PASSWORD,
            "paramstyle": "qmark",  # as production's SnowflakeResource
            **self.network_args(),
            **overrides,
        }

    def network_args(self) -> dict[str, Any]:
        """What SnowflakeResource takes as additional_snowflake_connection_args."""
        return {
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            # fakesnow's own server() turns this off: there is no telemetry endpoint.
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        }

    def resource(self, database: str | None = None, schema: str | None = None) -> Any:
        """dagster-snowflake's SnowflakeResource on this server, paramstyle qmark."""
        from dagster_snowflake import SnowflakeResource

        return SnowflakeResource(
            account="fakesnow",
            user=SNOWFLAKE_USER,
            password=SNOWFLAKE_PASSWORD,
            database=database,
            schema=schema,
            paramstyle="qmark",
            additional_snowflake_connection_args=self.network_args(),
        )

    def sql_texts(self, since: int = 0) -> list[str]:
        return [s.sql for s in self.statements[since:]]

    def forget_database(self, database: str) -> None:
        """Detach a database from the shared DuckDB (fakesnow cannot parse DROP DATABASE)."""
        if self._duck is None:
            return
        cursor = self._duck.cursor()
        try:
            cursor.execute(f'DETACH DATABASE IF EXISTS "{database}"')
            cursor.execute(
                "DELETE FROM _fs_global._fs_information_schema._fs_stages WHERE database_name = ?",
                [database],
            )
        except Exception as exc:  # a session left mid-transaction may still hold it
            logging.getLogger(__name__).debug("could not detach %s: %s", database, exc)
        finally:
            cursor.close()


@contextmanager
def fakesnow_server(s3: MotoS3Server) -> Iterator[FakesnowServer]:
    server = FakesnowServer(s3).start()
    try:
        yield server
    finally:
        server.stop()


def setup_sql(
    database: str,
    schema: str,
    stage: str,
    url: str,
    storage_integration: str | None = STORAGE_INTEGRATION,
) -> list[str]:
    """The administrator's one-off setup, as the README shows it (no AWS key anywhere)."""
    statements = []
    if storage_integration:
        statements.append(
            f"CREATE STORAGE INTEGRATION IF NOT EXISTS {storage_integration} "
            "TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' ENABLED = TRUE "
            "STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/genesys-snowflake' "
            f"STORAGE_ALLOWED_LOCATIONS = ('{url}')"
        )
    statements += [
        f'CREATE DATABASE IF NOT EXISTS "{database}"',
        f'CREATE SCHEMA IF NOT EXISTS "{database}"."{schema}"',
        f'CREATE STAGE IF NOT EXISTS "{database}"."{schema}"."{stage}" URL = \'{url}\''
        + (f" STORAGE_INTEGRATION = {storage_integration}" if storage_integration else ""),
    ]
    return statements


@dataclass
class SnowflakeStandIn:
    """A database of its own on the fakesnow server, with an external stage over a bucket."""

    server: FakesnowServer
    bucket: S3Bucket
    database: str
    schema: str
    stage: str
    setup: list[str] = field(default_factory=list)  # the SQL that created database and stage
    first_statement: int = 0  # index into server.statements where this stand-in began

    @cached_property
    def resource(self) -> Any:
        """dagster_snowflake.SnowflakeResource on this database, paramstyle qmark.

        Lazy: importing dagster_snowflake (snowpark, snowflake.core) costs 5-10 s, once.
        """
        return self.server.resource(self.database, self.schema)

    @property
    def connect(self) -> Callable[[], AbstractContextManager[Any]]:
        """What SnowflakeWarehouse takes: SnowflakeResource.get_connection."""
        return self.resource.get_connection

    @property
    def stage_url(self) -> str:
        return self.bucket.url

    @property
    def statements(self) -> list[CapturedStatement]:
        """Every query request the server received since this stand-in was set up."""
        return self.server.statements[self.first_statement :]

    @property
    def secrets(self) -> tuple[str, ...]:
        """The dummy credentials in play, none of which may ever appear in SQL text."""
        s3 = self.bucket.server
        return (s3.access_key_id, s3.secret_access_key, SNOWFLAKE_PASSWORD)

    def connection_args(self, **overrides: Any) -> dict[str, Any]:
        """snowflake.connector.connect arguments with this database and schema current."""
        return self.server.connection_args(database=self.database, schema=self.schema, **overrides)

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.connect() as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
            finally:
                cursor.close()

    def env(self) -> dict[str, str]:
        """The production variables that point the pipeline at these stand-ins."""
        return {
            **aws_environment_variables(self.bucket.server),
            "S3_BUCKET": self.bucket.name,
            "S3_PREFIX": self.bucket.prefix,
            "SNOWFLAKE_ACCOUNT": "fakesnow",
            "SNOWFLAKE_USER": SNOWFLAKE_USER,
            "SNOWFLAKE_PASSWORD": SNOWFLAKE_PASSWORD,
            "SNOWFLAKE_DATABASE": self.database,
            "SNOWFLAKE_SCHEMA": self.schema,
            "SNOWFLAKE_STAGE": self.stage,
            "SNOWFLAKE_HOST": self.server.host,
            "SNOWFLAKE_PORT": str(self.server.port),
            "SNOWFLAKE_PROTOCOL": "http",
        }


@contextmanager
def snowflake_database(
    server: FakesnowServer,
    bucket: S3Bucket,
    *,
    schema: str = SNOWFLAKE_SCHEMA,
    stage: str = SNOWFLAKE_STAGE,
    storage_integration: str | None = STORAGE_INTEGRATION,
) -> Iterator[SnowflakeStandIn]:
    """A uniquely named database with `schema` and an external stage on `bucket.url`."""
    import snowflake.connector

    database = f"STANDIN_{uuid.uuid4().hex[:12].upper()}"
    first = len(server.statements)
    statements = setup_sql(database, schema, stage, bucket.url, storage_integration)
    args = server.connection_args()
    args["session_parameters"] = {**args["session_parameters"], "nop_regexes": server.nop_regexes}
    with snowflake.connector.connect(**args) as connection:
        cursor = connection.cursor()
        for sql in statements:
            cursor.execute(sql)
        cursor.close()
    try:
        yield SnowflakeStandIn(server, bucket, database, schema, stage, statements, first)
    finally:
        server.forget_database(database)


# ---------------------------------------------------------------------------------------------
# pytest fixtures


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3Server]:
    """One moto server for the session."""
    with moto_s3_server() as server:
        yield server


@pytest.fixture
def s3_bucket(moto_s3: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Bucket]:
    """A fresh bucket; dummy AWS credentials, region and endpoint in os.environ for this test."""
    for name, value in aws_environment_variables(moto_s3).items():
        monkeypatch.setenv(name, value)
    for name in _AWS_UNSET:
        monkeypatch.delenv(name, raising=False)
    with s3_test_bucket(moto_s3) as bucket:
        yield bucket


@pytest.fixture(scope="session")
def fakesnow_snowflake(moto_s3: MotoS3Server) -> Iterator[FakesnowServer]:
    """One fakesnow server for the session, reading s3:// from `moto_s3`."""
    with fakesnow_server(moto_s3) as server:
        yield server


@pytest.fixture
def snowflake_stand_in(
    fakesnow_snowflake: FakesnowServer, s3_bucket: S3Bucket
) -> Iterator[SnowflakeStandIn]:
    """A database of the test's own with an external stage over the test's bucket."""
    with snowflake_database(fakesnow_snowflake, s3_bucket) as stand_in:
        yield stand_in
