"""What differs between the connector's databases: how to connect, placeholders, how a JSON or a
time parameter is written, and how values come back. Everything else is one SQL text."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from leadstream.exceptions import ConfigError

__all__ = ["Connection", "Dialect", "POSTGRESQL", "SQLITE", "connect", "describe_url"]


class Cursor(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class Connection(Protocol):
    def cursor(self) -> Any: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    name: str
    placeholder: str
    json_param: str
    time_param: str
    begin: str

    def sql(self, text: str) -> str:
        """``text`` written with ``?`` for values, ``?json`` and ``?time`` for typed ones."""
        text = text.replace("?json", self.json_param).replace("?time", self.time_param)
        return text.replace("?", self.placeholder) if self.placeholder != "?" else text

    def time_in(self, value: datetime) -> str:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def time_out(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return datetime.fromisoformat(str(value)).astimezone(UTC)

    @staticmethod
    def json_in(value: Any) -> str | None:
        return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

    @staticmethod
    def json_out(value: Any) -> Any:
        return orjson.loads(value) if isinstance(value, (str, bytes)) else value


SQLITE = Dialect("sqlite", "?", "?", "?", "BEGIN IMMEDIATE")
# psycopg uses %s; its str parameters are untyped, the casts make them JSONB and TIMESTAMPTZ
POSTGRESQL = Dialect("postgresql", "%s", "%s::jsonb", "%s::timestamptz", "BEGIN")


def describe_url(url: str) -> str:
    """The database URL as logs may show it: the password masked."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite://`` URL (``sqlite:///abs/file.db``, ``sqlite://relative/file.db``);
    ``None`` for ``sqlite://:memory:`` and any other scheme."""
    if urlsplit(url).scheme != "sqlite":
        return None
    path = url[len("sqlite://"):]
    return None if path in ("/:memory:", ":memory:") else path


def connect(url: str) -> tuple[Connection, Dialect]:
    """``sqlite:///abs/file.db``, ``sqlite://relative/file.db`` (``sqlite://:memory:``) or ``postgresql://…`` (any
    libpq URL). Both in autocommit mode: the store opens every transaction itself."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = sqlite_path(url) or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                     timeout=30.0)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        return connection, SQLITE
    if scheme in ("postgresql", "postgres"):
        try:
            import psycopg
        except ImportError:
            raise ConfigError("settings", "connector.database", "a PostgreSQL URL, but psycopg "
                              "is not installed: pip install 'leadstream[postgres]'") from None
        try:
            return psycopg.connect(url, autocommit=True), POSTGRESQL
        except psycopg.OperationalError as exc:
            raise ConfigError("settings", "connector.database", f"{describe_url(url)}: cannot "
                              f"connect: {str(exc).strip().splitlines()[0]}") from None
    raise ConfigError("settings", "connector.database", f"{describe_url(url)!r}: use "
                      "sqlite:///ABS/FILE.db, sqlite://REL/FILE.db or postgresql://USER@HOST/DB")
