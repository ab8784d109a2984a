"""Engine, declarative Base with a naming convention, and session helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Stable constraint names so Alembic migrations are identical on SQLite and Postgres.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


_UTC_COLUMNS: dict[type, tuple[str, ...]] = {}


def _utc_columns(cls: type) -> tuple[str, ...]:
    keys = _UTC_COLUMNS.get(cls)
    if keys is None:
        mapper: Any = inspect(cls)
        columns: list[tuple[str, Any]] = [
            (prop.key, prop.columns[0].type) for prop in mapper.column_attrs
        ]
        keys = tuple(k for k, t in columns if isinstance(t, DateTime) and t.timezone)
        _UTC_COLUMNS[cls] = keys
    return keys


def _attach_utc(target: Any) -> None:
    # SQLite has no time-zone type: its DateTime(timezone=True) values come back naive although
    # every one was written in UTC. Mark them as UTC, as Postgres returns them.
    state = target.__dict__
    for key in _utc_columns(type(target)):
        value = state.get(key)
        if isinstance(value, datetime) and value.tzinfo is None:
            state[key] = value.replace(tzinfo=UTC)


@event.listens_for(Base, "load", propagate=True)
def _utc_on_load(target: Any, _context: Any) -> None:
    _attach_utc(target)


@event.listens_for(Base, "refresh", propagate=True)
def _utc_on_refresh(target: Any, _context: Any, _attrs: Any) -> None:
    _attach_utc(target)


#: Connections a server process keeps open (Postgres), and how many more it may open for a burst.
#: SQLAlchemy's default keeps 5: a burst of concurrent requests (the threadpool runs up to 40)
#: then opens and closes connections on every wave, and each costs Postgres a new backend
#: process. Connections open only when first needed, so an idle process holds few.
POOL_SIZE = 10
POOL_OVERFLOW = 10


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys on and a busy timeout for concurrent writers."""
    if url.startswith("sqlite"):
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", 30)
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
