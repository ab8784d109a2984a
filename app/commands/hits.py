"""`frtrain hits ...`: publish, resume, list, sync, expire HITs and read the spend ledger."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from app.commands import hits_app
from app.commands._cli import (
    JsonOpt,
    ProjectOpt,
    console,
    output,
    print_json,
    print_record,
    print_table,
)
from app.commands._cli import service as _session


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
            session=session,
            settings=settings,
            project_id=project,
            dry_run=dry_run,
            max_assignments=max_assignments,
            max_per_hit=max_per_hit,
        )
        plan = result.plan
        plan_rows: list[dict[str, Any]] = [h.to_json() for h in plan.hits] if plan else []
        payload: dict[str, Any] = {
            "dry_run": result.dry_run,
            "estimate": plan.estimate() if plan else None,
            "warnings": plan.warnings if plan else [],
            "plan": plan_rows,
            "hits": [
                {"id": h.id, "mturk_hit_id": h.mturk_hit_id, "state": h.state} for h in result.hits
            ],
            "created": result.created,
            "adopted": result.adopted,
            "resumed": result.resumed,
            "failed": result.failed,
        }
        if as_json:
            print_json(payload)
            return
        if plan:
            est = plan.estimate()
            print_table(
                f"batch {plan.batch}" + (" (dry run: nothing published)" if dry_run else ""),
                ("HIT", "questions", "task", "gold", "quiz", "assign.", "reward", "fee", "cost"),
                [
                    (
                        h["seq"],
                        h["n_questions"],
                        h["n_task"],
                        h["n_gold"],
                        h["n_quiz"],
                        h["max_assignments"],
                        f"${h['reward']}",
                        f"${h['fee_per_assignment']}",
                        f"${h['cost']}",
                    )
                    for h in plan_rows
                ],
            )
            console.print(
                f"{est['n_hits']} HITs, {est['n_assignments']} assignments: rewards "
                f"${est['rewards']} + fees ${est['fees']} = [bold]${est['total']}[/bold] "
                f"({est['fee_rules']})"
            )
            for w in plan.warnings:
                console.print(f"[yellow]warning:[/yellow] {escape(w)}")
        else:
            console.print("nothing to publish: every example has its answers or is assigned")
        if not dry_run:
            console.print(
                f"created {result.created}, adopted {result.adopted}, resumed {result.resumed}, "
                f"failed {len(result.failed)}"
            )
            _print_hits(result.hits)


@hits_app.command("resume")
def resume(project: int = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Publish exactly the HITs a crashed publish left unpublished."""
    from app.services import publishing

    with _session() as (session, settings):
        result = publishing.resume(session=session, settings=settings, project_id=project)
        counts = {
            "resumed": result.resumed,
            "created": result.created,
            "adopted": result.adopted,
            "failed": result.failed,
        }
        output(
            counts,
            as_json,
            lambda: console.print(
                f"resumed {result.resumed}: created {result.created}, adopted "
                f"{result.adopted}, failed {len(result.failed)}"
            ),
        )


@hits_app.command("list")
def list_hits(project: int = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """List a project's HITs with their MTurk status."""
    from app.services import publishing

    with _session() as (session, _settings):
        hits = publishing.list_hits(session=session, project_id=project)
        output([_hit_json(h) for h in hits], as_json, lambda: _print_hits(hits))


def _hit_json(h: Any) -> dict[str, Any]:
    return {
        "id": h.id,
        "batch": h.batch,
        "seq": h.seq,
        "state": h.state,
        "mturk_hit_id": h.mturk_hit_id,
        "mturk_status": h.mturk_status,
        "max_assignments": h.max_assignments,
        "reward": float(h.reward),
        "provider": h.provider,
        "expires_at": h.expires_at,
    }


@hits_app.command("sync")
def sync(
    project: int = ProjectOpt,
    review: bool = typer.Option(True, "--review/--no-review", help="Apply the review policy."),
    as_json: bool = JsonOpt,
) -> None:
    """Pull submitted assignments from MTurk, upsert answers, score workers, review."""
    from app.services.recruiting import sync as sync_service

    with _session() as (session, settings):
        out = sync_service.sync_project(
            session=session, settings=settings, project_id=project, apply_review=review
        ).to_json()
        output(out, as_json, lambda: print_record(f"sync, project {project}", out))


@hits_app.command("expire")
def expire(
    hit_id: int = typer.Argument(..., min=1, help="HIT row id (see `hits list`)."),
    as_json: bool = JsonOpt,
) -> None:
    """Expire a HIT now (no new workers can accept it)."""
    from app.services import publishing

    with _session() as (session, settings):
        hit = publishing.expire_hit(session=session, settings=settings, hit_id=hit_id)
        row = _hit_json(hit)
        where = f"MTurk HIT {hit.mturk_hit_id}" if hit.mturk_hit_id else f"{hit.provider} HIT"
        status = hit.mturk_status or "expired"
        output(
            row,
            as_json,
            lambda: console.print(
                f"HIT {hit.id} ({where}) expired at {hit.expires_at:%Y-%m-%d %H:%M:%S}; "
                f"status {status}"
            ),
        )


@hits_app.command("spend")
def spend(project: int = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """The spend ledger: reserved, paid, released, bonuses, and the budget cap."""
    from app.services import ledger
    from app.services.projects import get_project

    with _session() as (session, _settings):
        rows, totals = ledger.ledger(session=session, project_id=project)
        cap = get_project(session=session, project_id=project).budget_cap
        entries = [
            {
                "when": r.created_at,
                "kind": r.kind,
                "amount": float(r.amount),
                "hit_id": r.hit_id,
                "note": r.note,
            }
            for r in rows
        ]
        payload = {"project_id": project, "budget_cap": cap, "totals": totals, "entries": entries}
        if as_json:
            print_json(payload)
            return
        print_table(
            f"spend ledger, project {project}",
            ("when", "kind", "amount", "HIT", "note"),
            [
                (str(e["when"])[:19], e["kind"], f"${e['amount']:.2f}", e["hit_id"], e["note"])
                for e in entries
            ],
        )
        print_table(
            "totals",
            ("kind", "amount"),
            [
                *((k, f"${v:.2f}") for k, v in totals.items()),
                ("budget cap", "none" if cap is None else f"${cap:.2f}"),
            ],
        )
