"""Fixtures: one app per test on a migrated database, for every backend available.

The same tests run on SQLite and on a real PostgreSQL server started on
loopback. With ASTRONOTE_TEST_POSTGRES=required (CI) a missing server fails
the run instead of narrowing it to SQLite.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

from tests import servers
from tests.fakes.shopify_server import FakeShopify, sign_session_token

_TMP = Path(tempfile.mkdtemp(prefix="astronote-tests-"))

TEST_API_KEY = "test-api-key"
TEST_API_SECRET = "test-api-secret-that-is-32-bytes-long!"


def required(kind: str) -> bool:
    return os.environ.get(f"ASTRONOTE_TEST_{kind.upper()}") == "required"


def _postgres_available() -> bool:
    try:
        servers.postgres_bindir()
    except RuntimeError:
        return False
    return True


def _backends() -> list[str]:
    if required("postgres") or _postgres_available():
        return ["sqlite", "postgresql"]
    return ["sqlite"]


@pytest.fixture(scope="session")
def postgres_server():
    server = servers.start_postgres(_TMP / "pg")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    try:
        server = servers.start_redis(_TMP / "redis")
    except RuntimeError as exc:
        if required("redis"):
            raise
        pytest.skip(f"redis-server not installed: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_shopify():
    """Shopify's OAuth and Admin API on loopback; every test app points at it."""
    server = FakeShopify(TEST_API_KEY, TEST_API_SECRET)
    yield server
    server.stop()


@pytest.fixture(scope="session", params=_backends())
def database_url(request):
    if request.param == "sqlite":
        return f"sqlite:///{_TMP / 'astronote.db'}"
    return request.getfixturevalue("postgres_server").url


_migrated: set[str] = set()


def _migrate_once(app, url: str) -> None:
    if url in _migrated:
        return
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    _migrated.add(url)


def _empty_tables(app) -> None:
    from astronote.extensions import db

    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()


_admin_base = {"template": "http://127.0.0.1:9/{shop}"}  # closed port until the fake starts


def make_app(database_url: str, **overrides):
    from astronote import create_app
    from astronote.tasks import huey

    config = {
        "ASTRONOTE_ENV": "test",
        "TESTING": True,
        "HUEY_SQLITE_PATH": str(_TMP / "huey.db"),
        "SHOPIFY_ADMIN_BASE_URL": _admin_base["template"],
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SHOPIFY_API_KEY": TEST_API_KEY,
        "SHOPIFY_API_SECRET": TEST_API_SECRET,
        "SECRET_KEY": "test-secret-key",
        **overrides,
    }
    if database_url.startswith("postgresql"):
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": 5, "max_overflow": 5}
    app = create_app(config)
    huey.immediate = True  # Huey's testing guide: tasks run inline, in the caller's context
    return app


@pytest.fixture
def app(database_url, fake_shopify):
    _admin_base["template"] = fake_shopify.admin_base_template
    app = make_app(database_url)
    _migrate_once(app, database_url)
    _empty_tables(app)
    with app.app_context():
        yield app
        from astronote.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def db(app):
    from astronote.extensions import db

    return db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_shop(db):
    from astronote.models import Shop

    def make(domain: str = "alpha.myshopify.com", **fields) -> Shop:
        shop = Shop(
            shop_domain=domain, name=fields.pop("name", domain.split(".")[0].title()), **fields
        )
        db.session.add(shop)
        db.session.commit()
        return shop

    return make


@pytest.fixture
def shop(make_shop):
    return make_shop("alpha.myshopify.com", default_region="US", timezone="America/New_York")


def bearer(shop_domain: str, **claims) -> dict[str, str]:
    token = sign_session_token(TEST_API_KEY, TEST_API_SECRET, shop_domain, **claims)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(shop):
    """Headers of an htmx request carrying a valid session token for `shop`."""
    return {**bearer(shop.shop_domain), "HX-Request": "true"}


@pytest.fixture
def doc_auth(shop):
    """Headers of a data request (no htmx) with a valid session token for `shop`."""
    return bearer(shop.shop_domain)


_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def _is_loopback(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths stay on this machine
        return True
    host = str(address[0]).lower()
    return host in _LOOPBACK_NAMES or host.startswith("127.") or host == "::ffff:127.0.0.1"


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch):
    """Fail any test that opens a connection off this machine: fakes live on 127.0.0.1."""
    import socket

    refused: list = []
    original = socket.socket.connect, socket.socket.connect_ex

    def guard(method):
        def connect(self, address):
            if not _is_loopback(address):
                refused.append(address)
                raise ConnectionRefusedError(f"tests may only connect to loopback, not {address}")
            return method(self, address)

        return connect

    monkeypatch.setattr(socket.socket, "connect", guard(original[0]))
    monkeypatch.setattr(socket.socket, "connect_ex", guard(original[1]))
    yield refused
    if refused:
        pytest.fail(f"the test tried to reach outside loopback: {refused}")
