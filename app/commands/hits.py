"""`frtrain hits ...`: publish, resume, list, sync, expire HITs and read the spend ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from app.commands import hits_app
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_session_factory
from app.core.errors import DomainError

console = Console()
ProjectOpt = typer.Option(..., "--project", "-p", help="Project id.")


@contextmanager
def _session() -> Iterator[tuple[Session, Settings]]:
    from app.core.migrate import DatabaseNotMigrated, check_migrated

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        check_migrated(engine)
        with make_session_factory(engine)() as session:
            yield session, settings
    except DatabaseNotMigrated as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(code=1) from None
    except DomainError as exc:
        console.print(f"[red]error:[/red] {escape(exc.detail)}")
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()


def _print_hits(hits: list[Any]) -> None:
    table = Table(title="HITs")
    for col in (
        "id",
        "batch",
        "seq",
        "state",
        "MTurk HIT",
        "status",
        "assign.",
        "reward",
        "endpoint",
    ):
        table.add_column(col)
    for h in hits:
        table.add_row(
            str(h.id),
            str(h.batch),
            str(h.seq),
            h.state,
            h.mturk_hit_id or "",
            h.mturk_status or "",
            str(h.max_assignments),
            f"${h.reward:.2f}",
            h.endpoint_url or h.provider,
        )
    console.print(table)


@hits_app.command("publish")
def publish(
    project: int = ProjectOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only print the plan and its cost."),
    max_assignments: int | None = typer.Option(
        None, "--max-assignments", min=1, help="Answers asked per example in this batch."
    ),
    max_per_hit: int | None = typer.Option(
        None, "--max-per-hit", min=1, help="Split HITs above this many assignments (9: 20% fee)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Publish the next batch of HITs (finishing first any batch a crash left half-published)."""
    from app.services import publishing

    with _session() as (session, settings):
        result = publishing.publish_batch(
            session,
            settings,
            project,
            dry_run=dry_run,
            max_assignments=max_assignments,
            max_per_hit=max_per_hit,
        )
        plan = result.plan
        payload = {
            "dry_run": result.dry_run,
            "estimate": plan.estimate() if plan else None,
            "warnings": plan.warnings if plan else [],
            "plan": [h.to_json() for h in plan.hits] if plan else [],
            "hits": [
                {"id": h.id, "mturk_hit_id": h.mturk_hit_id, "state": h.state} for h in result.hits
            ],
            "created": result.created,
            "adopted": result.adopted,
            "resumed": result.resumed,
            "failed": result.failed,
        }
        if as_json:
            typer.echo(json.dumps(payload, indent=2))
            return
        if plan:
            console.print(f"batch {plan.batch}: {plan.estimate()}")
            for w in plan.warnings:
                console.print(f"[yellow]warning:[/yellow] {escape(w)}")
        if not dry_run:
            console.print(
                f"created {result.created}, adopted {result.adopted}, resumed {result.resumed}, "
                f"failed {len(result.failed)}"
            )
            _print_hits(result.hits)


@hits_app.command("resume")
def resume(project: int = ProjectOpt) -> None:
    """Publish exactly the HITs a crashed publish left unpublished."""
    from app.services import publishing

    with _session() as (session, settings):
        result = publishing.resume(session, settings, project)
        console.print(
            f"resumed {result.resumed}: created {result.created}, adopted {result.adopted}, "
            f"failed {len(result.failed)}"
        )


@hits_app.command("list")
def list_hits(project: int = ProjectOpt) -> None:
    """List a project's HITs with their MTurk status."""
    from app.services import publishing

    with _session() as (session, _settings):
        _print_hits(publishing.list_hits(session, project))


@hits_app.command("sync")
def sync(
    project: int = ProjectOpt,
    review: bool = typer.Option(True, "--review/--no-review", help="Apply the review policy."),
) -> None:
    """Pull submitted assignments from MTurk, upsert answers, score workers, review."""
    from app.services import sync as sync_service

    with _session() as (session, settings):
        out = sync_service.sync_project(session, settings, project, apply_review=review)
        typer.echo(json.dumps(out.to_json(), indent=2))


@hits_app.command("expire")
def expire(hit_id: int = typer.Argument(..., help="HIT row id (see `hits list`).")) -> None:
    """Expire a HIT now (no new workers can accept it)."""
    from app.services import publishing

    with _session() as (session, settings):
        hit = publishing.expire_hit(session, settings, hit_id)
        console.print(f"HIT {hit.id} ({hit.mturk_hit_id}) is now {hit.mturk_status}")


@hits_app.command("spend")
def spend(project: int = ProjectOpt) -> None:
    """The spend ledger: reserved, paid, released, bonuses, and the budget cap."""
    from app.services import ledger

    with _session() as (session, _settings):
        rows, totals = ledger.ledger(session, project)
        table = Table(title=f"spend ledger, project {project}")
        for col in ("when", "kind", "amount", "HIT", "note"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                str(r.created_at)[:19], r.kind, f"{r.amount:.2f}", str(r.hit_id or ""), r.note
            )
        console.print(table)
        console.print(totals)
