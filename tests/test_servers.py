"""The throwaway-server helpers really start, answer, restart and stop.

Why these exist: every database and Redis test depends on tests/servers.py,
so a broken helper must fail here, loudly and first, rather than show up as
a confusing error (or a silent skip) somewhere else.  No conftest fixtures
are used on purpose: these tests must work even when conftest.py is broken.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import sqlalchemy

try:  # tests/ imported as a package (tests/__init__.py or rootdir on sys.path)
    from tests.servers import (
        PostgresServer,
        RedisServer,
        free_port,
        start_postgres,
        start_redis,
    )
except ModuleNotFoundError:  # pytest's default "prepend" mode puts tests/ on sys.path
    from servers import (  # type: ignore[no-redef]
        PostgresServer,
        RedisServer,
        free_port,
        start_postgres,
        start_redis,
    )


def _accepts(port: int) -> bool:
    """True when something listens on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture()
def postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL for one test, always stopped afterwards."""
    server = start_postgres(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh Redis for one test, always stopped afterwards."""
    server = start_redis(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def test_postgres_answers_select_1(postgres: PostgresServer) -> None:
    assert postgres.url == (
        f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/astronote_test"
    )
    with psycopg.connect(postgres.conninfo) as conn:
        row = conn.execute("select 1, current_database()").fetchone()
    assert row == (1, "astronote_test")


def test_postgres_runs_with_fast_test_settings(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.conninfo) as conn:
        settings = dict(
            conn.execute(
                "select name, setting from pg_settings where name = any(%s)",
                (["fsync", "listen_addresses", "max_connections", "port"],),
            ).fetchall()
        )
    assert settings == {
        "fsync": "off",
        "listen_addresses": "127.0.0.1",
        "max_connections": "100",
        "port": str(postgres.port),
    }


def test_postgres_url_works_with_sqlalchemy(postgres: PostgresServer) -> None:
    engine = sqlalchemy.create_engine(postgres.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select 1")).scalar() == 1
    finally:
        engine.dispose()


def test_postgres_stop_is_final_and_idempotent(tmp_path: Path) -> None:
    server = start_postgres(tmp_path)
    server.stop()
    server.stop()
    assert not _accepts(server.port)
    assert not server.directory.exists()


def test_postgres_restart_keeps_port_and_data(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
        conn.execute("create table survivor (id int)")
    postgres.restart()
    with psycopg.connect(postgres.conninfo) as conn:
        assert conn.execute("select count(*) from survivor").fetchone() == (0,)


def test_redis_set_get(redis_server: RedisServer) -> None:
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"
    finally:
        client.close()


def test_redis_restart_keeps_port_and_comes_back(redis_server: RedisServer) -> None:
    port = redis_server.port
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.set("volatile", "1")
        redis_server.restart()
        assert redis_server.port == port
        assert client.ping() is True  # redis-py reconnects by itself
        assert client.get("volatile") is None  # no persistence: data is gone
    finally:
        client.close()


def test_redis_outage_refuses_connections_then_recovers(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_connect_timeout=1)
    try:
        with redis_server.outage(), pytest.raises(redis.ConnectionError):
            client.ping()
        assert client.ping() is True
    finally:
        client.close()


def test_redis_stop_is_final_and_idempotent(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    server.stop()
    server.stop()
    assert not _accepts(server.port)
    assert not server.directory.exists()
    with pytest.raises(RuntimeError, match="stopped for good"):
        server.restart()


def test_missing_binaries_fail_loudly(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shutil.which", lambda *_args, **_kw: None)
    monkeypatch.setattr("os.access", lambda *_args, **_kw: False)
    with pytest.raises(RuntimeError, match="apt-get install -y redis-server"):
        start_redis(tmp_path)
    monkeypatch.setattr("glob.glob", lambda *_args, **_kw: [])
    with pytest.raises(RuntimeError, match="apt-get install -y postgresql"):
        start_postgres(tmp_path)


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_servers_start_quickly(tmp_path: Path) -> None:
    """Guards the suite's speed budget: both servers up in a few seconds."""
    began = time.monotonic()
    with start_postgres(tmp_path / "pg"), start_redis(tmp_path / "redis"):
        elapsed = time.monotonic() - began
    assert elapsed < 20, f"servers took {elapsed:.1f}s to start"
