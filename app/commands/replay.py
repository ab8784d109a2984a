"""`frtrain crowd replay`: replay a released crowd CSV end to end through boto3, the MTurk
emulator and the task page, then print Table 6 exactly as `frtrain crowd table6` does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from app.commands import crowd_app
from app.commands.crowd import _paper_key, _parse_seeds, _render
from app.core.errors import DomainError
from app.crowd import CrowdInputError
from app.services.table6 import PAPER_TABLE6, Table6Config


@crowd_app.command("replay")
def replay(
    csv: Path = typer.Option(
        ...,
        "--csv",
        exists=True,
        dir_okay=False,
        readable=True,
        help="Crowd CSV in the released format (example_idx, true_label, ans_k, worker_id_k, "
        "features).",
    ),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the results as JSON (the `crowd table6` schema + replay)."
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="Keep the replayed project in this database (default: a temporary SQLite file).",
    ),
    gold_fraction: float = typer.Option(
        0.2, "--gold-fraction", help="Share of examples used as hidden gold (0 < f < 1)."
    ),
    seeds: str = typer.Option("0,1,2,3,4", "--seeds", help="Comma-separated gold-split seeds."),
    paper: str | None = typer.Option(
        None, "--paper", help="Paper row to print: COMPAS, AdultCensus or none (default: guess)."
    ),
) -> None:
    """Replay the original HITs through MTurk's wire protocol (local emulator unless
    MTURK_ENDPOINT_URL is set): publish, every worker submits through the task page, sync,
    review, aggregate; then print Table 6 (paper Section 4.4)."""
    from app.services.replay import run_replay

    if not 0.0 < gold_fraction < 1.0:
        raise typer.BadParameter("must be in (0, 1)", param_hint="--gold-fraction")
    paper_key = _paper_key(csv, paper)
    if paper_key is not None and paper_key not in PAPER_TABLE6:
        raise typer.BadParameter(
            f"choose one of {', '.join(PAPER_TABLE6)} or none", param_hint="--paper"
        )
    config = Table6Config(gold_fraction=gold_fraction, seeds=_parse_seeds(seeds))
    console = Console(width=max(120, shutil.get_terminal_size().columns))
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("simulated workers submitting", total=None)

            def on_progress(_stage: str, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = run_replay(
                csv, database_url=database_url, config=config, on_progress=on_progress
            )
    except DomainError as error:
        console.print(f"[red]error:[/red] {escape(f'{csv}: {error.detail}')}")
        raise typer.Exit(code=1) from None
    except (CrowdInputError, ValueError) as error:
        console.print(f"[red]error:[/red] {escape(f'{csv}: {error}')}")
        raise typer.Exit(code=1) from None
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    console.print(
        f"replayed {result.n_hits} HITs, {result.n_assignments} assignments, "
        f"{result.n_answers} answers through boto3 + task page + externalSubmit in "
        f"{result.seconds:.1f} s ({timing})"
    )
    console.print(f"sync/review: {result.sync}")
    for warning in result.warnings:
        console.print(f"[yellow]note:[/yellow] {escape(warning)}")
    if result.table6 is not None:
        _render(result.table6, paper_key, console)
    else:
        console.print("the file has no true_label column: labels only, no Table 6")
    if database_url:
        console.print(f"project {result.project_id} kept in {database_url}")
    if json_out is not None:
        payload = result.table6.to_json() if result.table6 is not None else {}
        payload["csv"] = str(csv)
        payload["replay"] = {
            "project_id": result.project_id,
            "n_hits": result.n_hits,
            "n_assignments": result.n_assignments,
            "n_answers": result.n_answers,
            "seconds": result.seconds,
            "timings": result.timings,
            "sync": result.sync,
            "labels": {
                str(r["example_id"]): int(r["label"]) for r in result.labels.to_dict("records")
            },
        }
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
        console.print(f"wrote {json_out}")
