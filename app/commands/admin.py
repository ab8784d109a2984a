"""frtrain CLI commands: admin (tokens for the admin API)."""

from __future__ import annotations

import typer
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.commands import admin_app
from app.commands._cli import JsonOpt, print_json
from app.core.config import get_settings
from app.core.db import make_engine, make_session_factory
from app.core.errors import NotFound
from app.core.migrate import DatabaseNotMigrated, check_migrated
from app.services import auth


def _factory() -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(get_settings().database_url)
    try:
        check_migrated(engine)
    except DatabaseNotMigrated as exc:
        engine.dispose()
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    return engine, make_session_factory(engine)


@admin_app.command("create-token")
def create_token(
    name: str = typer.Option("", help="A label to recognise the token by."),
    as_json: bool = JsonOpt,
) -> None:
    """Create an admin token and print it once (only its sha256 is stored)."""
    engine, factory = _factory()
    try:
        with factory() as session:
            issued = auth.create_token(session=session, name=name)
    finally:
        engine.dispose()
    if as_json:
        print_json({"id": issued.id, "name": issued.name, "token": issued.token})
        return
    label = issued.name or "unnamed"
    typer.echo(f"token id {issued.id} ({label}); shown once, store it now:", err=True)
    typer.echo(issued.token)


@admin_app.command("revoke-token")
def revoke_token(
    token_id: int | None = typer.Argument(None, help="Id printed by create-token / list-tokens."),
    token: str | None = typer.Option(None, help="Revoke by the token itself instead of its id."),
) -> None:
    """Revoke an admin token; requests using it get 401 from then on."""
    if (token_id is None) == (token is None):
        raise typer.BadParameter("give a TOKEN_ID or --token (exactly one)")
    engine, factory = _factory()
    try:
        with factory() as session:
            revoked = auth.revoke_token(session=session, token_id=token_id, token=token)
    except NotFound as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(f"revoked token {revoked}")


@admin_app.command("list-tokens")
def list_tokens(as_json: bool = JsonOpt) -> None:
    """List token ids, names and whether they are revoked (never the tokens)."""
    engine, factory = _factory()
    try:
        with factory() as session:
            rows = auth.list_tokens(session=session)
            if as_json:
                print_json([{"id": r.id, "name": r.name, "revoked_at": r.revoked_at} for r in rows])
                return
            for row in rows:
                state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
                typer.echo(f"{row.id}\t{row.name or '-'}\t{state}")
    finally:
        engine.dispose()
