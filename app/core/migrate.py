"""Programmatic Alembic: upgrade a database and check that it is at head before serving."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

ROOT = Path(__file__).resolve().parents[2]
#: The wheel's copy of the migrations (setup.py maps the top-level migrations/ there).
PACKAGED = Path(__file__).resolve().parents[1] / "migrations"
UPGRADE_HINT = "run `frtrain db upgrade` (uses DATABASE_URL)"


class DatabaseNotMigrated(RuntimeError):
    """The database schema is missing or older than the code's migrations."""


def script_location() -> Path:
    """The migrations folder: the installed package's copy, else the checkout's `migrations/`."""
    for candidate in (PACKAGED, ROOT / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise DatabaseNotMigrated(f"no migrations found in {PACKAGED} or {ROOT / 'migrations'}")


def alembic_config(url: str | None = None) -> Config:
    # No alembic.ini needed at run time: every option it holds is set here (env.py takes the
    # URL from the connection or Settings). The checkout's alembic.ini is for the alembic CLI.
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser interpolation treats % specially (URL-encoded options contain it).
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Apply migrations up to `revision` on an open connection (committed by the caller)."""
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


def check_migrated(engine: Engine) -> None:
    """Raise DatabaseNotMigrated, naming the command to run, unless the database is at head."""
    with engine.connect() as conn:
        current = current_revisions(conn)
    heads = head_revisions()
    if current != heads:
        have = ", ".join(sorted(current)) or "an empty database"
        want = ", ".join(sorted(heads))
        raise DatabaseNotMigrated(
            f"database {engine.url.render_as_string(hide_password=True)} is at {have}, "
            f"the code needs {want}: {UPGRADE_HINT}"
        )
