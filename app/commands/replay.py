"""`frtrain crowd replay`: replay a released crowd CSV end to end through boto3 and the MTurk
emulator (or httpx and the Prolific emulator) and the task page, then print Table 6 exactly as
`frtrain crowd table6` does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from app.commands import crowd_app
from app.commands.crowd import (
    crowd_csv_option,
    exit_on_bad_csv,
    render_table6,
    table6_options,
)


@crowd_app.command("replay")
def replay(
    csv: Path = crowd_csv_option(),
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
    provider: str = typer.Option(
        "mturk",
        "--provider",
        help="mturk (boto3 + the MTurk emulator) or prolific (httpx + the Prolific emulator, "
        "or PROLIFIC_API_URL).",
    ),
) -> None:
    """Replay the original HITs through MTurk's wire protocol (local emulator unless
    MTURK_ENDPOINT_URL is set) or, with --provider prolific, through Prolific's API (local
    emulator unless PROLIFIC_API_URL is set): publish, every worker submits through the task
    page, sync, review, aggregate; then print Table 6 (paper Section 4.4)."""
    from app.workflows.replay import run_replay

    if provider not in ("mturk", "prolific"):
        raise typer.BadParameter("--provider must be mturk or prolific")
    paper_key, config = table6_options(csv, paper, gold_fraction, seeds)
    console = Console(width=max(120, shutil.get_terminal_size().columns))
    with exit_on_bad_csv(csv, console), Progress(console=console, transient=True) as progress:
        task = progress.add_task("simulated workers submitting", total=None)

        def on_progress(_stage: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run_replay(
            csv,
            provider=provider,
            database_url=database_url,
            config=config,
            on_progress=on_progress,
        )
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    route = (
        "httpx + Prolific emulator + task page + completion redirect"
        if provider == "prolific"
        else "boto3 + task page + externalSubmit"
    )
    console.print(
        f"replayed {result.n_hits} HITs, {result.n_assignments} assignments, "
        f"{result.n_answers} answers through {route} in "
        f"{result.seconds:.1f} s ({timing})"
    )
    console.print(
        "accept attempts refused before the accept (qualification): "
        f"{result.refusals.get('refused_before_accept', 0)}; refused by the task page after the "
        f'accept ("already answered", wasted accepts): '
        f"{result.refusals.get('refused_after_accept', 0)}"
    )
    review_summary = {
        k: v for k, v in (result.sync.get("review") or {}).items() if k != "decisions"
    }
    console.print(f"sync/review: { ({**result.sync, 'review': review_summary}) }")
    for warning in result.warnings:
        console.print(f"[yellow]note:[/yellow] {escape(warning)}")
    if result.table6 is not None:
        render_table6(result.table6, paper_key, console)
    else:
        console.print("the file has no true_label column: labels only, no Table 6")
    if database_url:
        console.print(f"project {result.project_id} kept in {database_url}")
    if json_out is not None:
        payload = result.table6.to_json() if result.table6 is not None else {}
        payload["csv"] = str(csv)
        payload["replay"] = {
            "provider": provider,
            "project_id": result.project_id,
            "n_hits": result.n_hits,
            "n_assignments": result.n_assignments,
            "n_answers": result.n_answers,
            "seconds": result.seconds,
            "timings": result.timings,
            "sync": result.sync,
            "refusals": result.refusals,
            "labels": {
                str(r["example_id"]): int(r["label"]) for r in result.labels.to_dict("records")
            },
        }
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
        console.print(f"wrote {json_out}")
