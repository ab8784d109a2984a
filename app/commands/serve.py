"""frtrain CLI commands: serve (registered on the groups in app.commands)."""

from __future__ import annotations

import typer

from app.commands import root

#: Seconds an idle keep-alive connection stays open. It must outlast the idle timeout of every
#: client and proxy in front (httpx 5 s, nginx's upstream keepalive_timeout 60 s, an AWS load
#: balancer's 60 s), so that the client always closes an idle connection first. With uvicorn's
#: default, 5 s (the same as httpx's), a client reusing a connection at the moment the server
#: closes it gets no response at all (``benchmarks/task_load.py`` counted such failures).
TIMEOUT_KEEP_ALIVE_S = 75


@root.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port."),
    reload: bool = typer.Option(False, help="Reload on code changes (development)."),
    timeout_keep_alive: int = typer.Option(
        TIMEOUT_KEEP_ALIVE_S,
        min=1,
        help="Seconds an idle connection stays open; keep it above the idle timeout of the "
        "proxy or load balancer in front.",
    ),
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

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        timeout_keep_alive=timeout_keep_alive,
    )
