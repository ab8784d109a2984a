"""frtrain CLI commands: demo (registered on the groups in app.commands)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer

from app.commands import root

CROWD_FILE = "COMPAS_crowdsourcing_data.csv"


@root.command("demo")
def demo(
    json_out: Path | None = typer.Option(
        None, "--json", help="Write the report JSON here (a copy of OUT_DIR/demo.json)."
    ),
    out_dir: Path = typer.Option(Path("demo-out"), help="Folder for the database and reports."),
    crowd_csv: Path | None = typer.Option(
        None, help="Released-format crowd CSV (default: the packaged COMPAS MTurk answers)."
    ),
    seeds: str = typer.Option("0,1,2,3,4", help="Comma-separated seeds (split + model)."),
    provider: str = typer.Option(
        "mturk", "--provider", help="Recruit the crowd through mturk or prolific (local emulators)."
    ),
) -> None:
    """Crowdsourced validation set -> FR-Train on poisoned COMPAS, end to end, embedded.

    SQLite file, local MTurk (or Prolific) emulator, in-process worker; no network, no
    credentials."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from app.core.config import Settings
    from app.workflows.demo import DemoConfig, format_table, run_demo
    from trainer.datasets import DatasetError, file_path

    if provider not in ("mturk", "prolific"):
        raise typer.BadParameter("--provider must be mturk or prolific")
    base = Settings()
    try:
        # The released answers ship with the package (trainer.datasets); verified on use.
        csv = crowd_csv or file_path("compas-crowd", CROWD_FILE, base.data_dir)
    except DatasetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not csv.is_file():
        typer.echo(f"error: --crowd-csv: file not found: {csv}", err=True)
        raise typer.Exit(2)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as exc:
        typer.echo(f"--seeds must be integers separated by commas: {seeds!r}", err=True)
        raise typer.Exit(2) from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    db = out_dir / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(out_dir / "artifacts", ignore_errors=True)
    # Embedded defaults only: a fresh SQLite file; the replay starts its own local emulator.
    settings = base.model_copy(
        update={
            "database_url": f"sqlite:///{db.resolve()}",
            "artifact_dir": (out_dir / "artifacts").resolve(),
            "mturk_endpoint_url": None,
            "mturk_allow_live": False,
            "prolific_api_url": None,
            "prolific_allow_live": False,
            "environment": "development",
        }
    )
    cfg = DemoConfig(crowd_csv=csv, out_dir=out_dir, seeds=seed_list, provider=provider)

    with Progress(
        TextColumn("{task.description:<52}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: float, total: float) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=max(total, 1))
            bars.update(tasks[stage], completed=done, total=max(total, 1))

        report = run_demo(cfg, settings, progress=progress)

    typer.echo("")
    typer.echo(format_table(report))
    typer.echo(
        f"\nreport: {out_dir / 'demo.json'}, plot: {out_dir / 'demo.png'}, "
        f"artifacts: {out_dir / 'artifacts'}; took {report['timings_s']['total']:.0f} s "
        f"({json.dumps(report['timings_s'])})"
    )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        if json_out.resolve() != (out_dir / "demo.json").resolve():
            json_out.write_text((out_dir / "demo.json").read_text())
