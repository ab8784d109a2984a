"""frtrain CLI commands: mturk-local and prolific-local (the local marketplace emulators)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from app.commands import root


def worker_side_help(url: str, submit_url: str) -> str:
    """How to act as a worker against the emulator (README: "The emulator's worker side")."""
    return f"""  requester API: POST {url}/ (boto3 mturk client, endpoint_url={url}, any dummy keys)
  worker side (JSON; errors are {{"error", "message"}} with a 4xx status):
    accept a HIT:      curl -X POST {url}/_emu/workers/WORKER_ID/accept -d '{{"hitId": "HIT_ID"}}'
                       -> assignmentId and frameUrl; open frameUrl in a browser to do the task
    preview a HIT:     curl '{url}/_emu/hits/HIT_ID/preview?workerId=WORKER_ID'
    submit:            the task page posts to {submit_url} (assignmentId required)
    return / abandon:  curl -X POST {url}/_emu/assignments/ASSIGNMENT_ID/return
                       curl -X POST {url}/_emu/assignments/ASSIGNMENT_ID/abandon
    worker profile:    curl -X POST {url}/_emu/workers/WORKER_ID/profile -d '{{"Locale": ...}}'
    advance the clock: curl -X POST {url}/_emu/clock -d '{{"advance": 3600}}'
    state (HITs, assignments, blocks, balance): curl {url}/_emu/state
    faults:            curl -X POST {url}/_emu/faults -d '{{"throttle_rate": 0.3, "seed": 1}}'
    health:            curl {url}/_emu/health"""


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
    if state:
        typer.echo(f"  state file: {state}")
    typer.echo(worker_side_help(emu.url, emu.submit_url))
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
