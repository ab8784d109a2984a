"""Database fixtures for every app test. The same suite runs on SQLite and on Postgres.

Fixture contract (other helpers' tests reuse these names; keep them stable):

- ``db_url`` (session scope, params ``sqlite`` / ``postgres``): URL of a database migrated with
  ``alembic upgrade head``, private to this pytest process / xdist worker. SQLite: a temp file.
  Postgres: schema ``frtrain_<worker>_<pid>`` in database ``test`` of ``TEST_POSTGRES_URL``
  (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), selected through the URL's
  ``options=-csearch_path=...``; dropped at the end. An unreachable Postgres FAILS the test
  (running both databases is the rule), it does not skip.
- ``db_kind``: ``"sqlite"`` or ``"postgres"`` for the current parameter.
- ``engine`` (session scope): an Engine on ``db_url`` (SQLite configured so SAVEPOINTs work).
- ``session``: a Session on one connection inside an outer transaction, created with
  ``join_transaction_mode="create_savepoint"``: service ``commit()`` / ``rollback()`` act on a
  savepoint, and everything is rolled back at teardown. Tests see an empty database.
- ``settings``: ``Settings(environment="test", database_url=db_url, artifact_dir=<tmp>)``.
- ``app``: ``create_app(settings)`` with ``app.api.deps.get_session`` overridden to ``session``
  (``app_on``; ``marketplace_settings`` derives a marketplace test's settings from ``settings``).
- ``emu``: a fresh local MTurk emulator per test.
- ``client``: ``TestClient(app)`` entered as a context manager (the start-up migration check runs).
- ``admin_token`` / ``admin_headers``: a token created through ``app.services.auth.create_token``
  in ``session``, and ``{"Authorization": "Bearer <token>"}``.

Code that needs real commits seen by other connections (e.g. worker processes) should create
its own engine on ``db_url`` and clean up after itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.api.deps import get_session
from app.core.config import Settings
from app.core.db import make_engine
from app.core.migrate import upgrade
from app.main import create_app
from app.mturk.emulator import Emulator, run_emulator
from app.services.auth import create_token

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _worker_tag() -> str:
    # pid as well as the xdist worker: several pytest runs may share one Postgres at once.
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def _sqlite_savepoints(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself
    # (the documented recipe for "Serializable isolation / Savepoints" on pysqlite).
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def _postgres_url(schema: str) -> str:
    base = make_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def db_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(scope="session")
def db_url(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if db_kind == "sqlite":
        path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                upgrade(conn)
        finally:
            engine.dispose()
        yield url
        return

    base_url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    schema = f"frtrain_{_worker_tag()}"
    admin = make_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"Postgres at {make_url(base_url).render_as_string(hide_password=True)} is "
            f"unreachable ({exc.orig}); the suite must run on both databases: start it or set "
            "TEST_POSTGRES_URL",
            pytrace=False,
        )
    url = _postgres_url(schema)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            upgrade(conn)
    finally:
        engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    if eng.dialect.name == "sqlite":
        _sqlite_savepoints(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with engine.connect() as conn:
        outer = conn.begin()
        sess = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield sess
        finally:
            sess.close()
            outer.rollback()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(environment="test", database_url=db_url, artifact_dir=tmp_path / "artifacts")


#: The signing secret of the marketplace tests' settings (they recompute field names with it).
TEST_SECRET = "test-secret-key"


def app_on(settings: Settings, session: Session) -> FastAPI:
    """``create_app(settings)`` with every request on the test's ``session``."""
    application = create_app(settings)
    application.dependency_overrides[get_session] = lambda: session
    return application


def marketplace_settings(settings: Settings, **update: Any) -> Settings:
    """``settings`` for a test that talks to a marketplace emulator: the TestClient's base URL,
    the test signing secret, and ``update`` (the emulator's endpoint)."""
    values = {
        **settings.model_dump(),
        "public_base_url": "http://testserver",
        "secret_key": TEST_SECRET,
        **update,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def app(settings: Settings, session: Session) -> FastAPI:
    return app_on(settings, session)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A fresh local MTurk emulator (app.mturk.emulator) on a free port."""
    with run_emulator(allow_http_questions=True) as e:
        yield e


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin_token(session: Session) -> str:
    return create_token(session=session, name="test").token


@pytest.fixture
def admin_headers(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}
