"""frtrain CLI commands: mturk-local and prolific-local (the local marketplace emulators)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from app.commands import root


@root.command("mturk-local")
def mturk_local(
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = 8787,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    state: Annotated[
        Path | None, typer.Option(help="SQLite file keeping the state across restarts.")
    ] = None,
    accounting: Annotated[
        str, typer.Option(help="sandbox (constant 10000.00 balance) or production (charges).")
    ] = "sandbox",
    balance: Annotated[str, typer.Option(help="Starting balance in production accounting.")] = (
        "10000.00"
    ),
    allow_http: Annotated[
        bool,
        typer.Option(
            "--allow-http/--https-only",
            help="Accept http:// ExternalURLs (real MTurk requires https).",
        ),
    ] = True,
) -> None:
    """Run the local MTurk emulator (requester API + worker pages) until Ctrl-C.

    Point the service at it with MTURK_ENDPOINT_URL=http://HOST:PORT; any dummy AWS keys work.
    """
    from app.mturk.emulator import Emulator

    if accounting not in ("sandbox", "production"):
        raise typer.BadParameter("--accounting must be sandbox or production")
    mode: Literal["sandbox", "production"] = "sandbox" if accounting == "sandbox" else "production"
    emu = Emulator(
        host=host,
        port=port,
        state_path=state,
        accounting=mode,
        initial_balance=balance,
        allow_http_questions=allow_http,
    )
    typer.echo(f"MTurk emulator listening on {emu.url}  (MTURK_ENDPOINT_URL={emu.url})")
    typer.echo(f"  worker control: {emu.url}/_emu/health, externalSubmit: {emu.submit_url}")
    if state:
        typer.echo(f"  state file: {state}")
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")


@root.command("prolific-local")
def prolific_local(
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = 8788,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    state: Annotated[
        Path | None, typer.Option(help="SQLite file keeping the state across restarts.")
    ] = None,
    token: Annotated[str, typer.Option(help="The API token it accepts.")] = "emulator-token",
) -> None:
    """Run the local Prolific emulator (researcher API v1 + participant side) until Ctrl-C.

    Point the service at it with PROLIFIC_API_URL=http://HOST:PORT/api/v1 and
    PROLIFIC_API_TOKEN=<token>.
    """
    from app.prolific.emulator import ProlificEmulator

    emu = ProlificEmulator(host=host, port=port, state_path=state, tokens={token: "Emulator"})
    typer.echo(
        f"Prolific emulator listening on {emu.url}  (PROLIFIC_API_URL={emu.api_url}, "
        f"PROLIFIC_API_TOKEN={emu.token})"
    )
    typer.echo(f"  participants: {emu.url}/_emu/join/<study_id>?participant=<pid>")
    if state:
        typer.echo(f"  state file: {state}")
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")
