"""frtrain CLI commands: serve (registered on the groups in app.commands)."""

from __future__ import annotations

import gc

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

    if reload:
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            reload=True,
            host=host,
            port=port,
            timeout_keep_alive=timeout_keep_alive,
        )
        return
    from app.main import create_app

    app = create_app()
    freeze_startup_objects()
    uvicorn.run(app, host=host, port=port, timeout_keep_alive=timeout_keep_alive)


def freeze_startup_objects() -> None:
    """Move what start-up made (modules, ORM mappers, routes, templates: ~185,000 objects that
    live as long as the process) to the collector's permanent generation. Otherwise every full
    collection scans all of them again, holding the GIL for about 0.3 s on a busy 2-core machine
    (measured with ``gc.collect()`` after ``create_app()``): a stall of every request in flight."""
    gc.collect()
    gc.freeze()
