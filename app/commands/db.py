"""frtrain CLI commands: db (registered on the groups in app.commands)."""

from __future__ import annotations

import typer

from app.commands import db_app
from app.commands._cli import JsonOpt, print_json
from app.core.config import get_settings
from app.core.db import make_engine
from app.core.migrate import current_revisions, head_revisions, upgrade


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Option("head", help="Target revision."),
    url: str | None = typer.Option(None, help="Database URL (default: DATABASE_URL)."),
) -> None:
    """Apply database migrations (Alembic) up to REVISION."""
    engine = make_engine(url or get_settings().database_url)
    try:
        with engine.begin() as conn:
            upgrade(conn, revision)
            now = ", ".join(sorted(current_revisions(conn)))
    finally:
        engine.dispose()
    typer.echo(f"database {engine.url.render_as_string(hide_password=True)} at {now}")


@db_app.command("current")
def db_current(
    url: str | None = typer.Option(None, help="Database URL (default: DATABASE_URL)."),
    as_json: bool = JsonOpt,
) -> None:
    """Show the database's migration revision and the code's head."""
    engine = make_engine(url or get_settings().database_url)
    try:
        with engine.connect() as conn:
            have = current_revisions(conn)
    finally:
        engine.dispose()
    if as_json:
        print_json({"current": sorted(have), "head": sorted(head_revisions())})
        return
    typer.echo(f"current: {', '.join(sorted(have)) or '(none)'}")
    typer.echo(f"head:    {', '.join(sorted(head_revisions()))}")
