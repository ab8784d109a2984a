"""frtrain CLI commands: serve (registered on the groups in app.commands)."""

from __future__ import annotations

import typer

from app.commands import root


@root.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port."),
    reload: bool = typer.Option(False, help="Reload on code changes (development)."),
) -> None:
    """Run the HTTP API with uvicorn (refuses to start on an un-migrated database)."""
    import uvicorn

    from app.core.config import get_settings
    from app.core.db import make_engine
    from app.core.migrate import DatabaseNotMigrated, check_migrated

    # Fail with the fix in one line rather than a start-up traceback from inside uvicorn.
    engine = make_engine(get_settings().database_url)
    try:
        check_migrated(engine)
    except DatabaseNotMigrated as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()

    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, reload=reload)
