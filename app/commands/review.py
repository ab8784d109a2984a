"""Review from the command line: approve, reject, bonus, block and unblock, each a thin call of
app.services.recruiting.review (the functions the API routes call), on DATABASE_URL."""

from __future__ import annotations

from typing import Any

import typer

from app.commands import review_app
from app.commands._cli import JsonOpt, console, fail, output, print_record, service

AssignmentArg = typer.Argument(..., help="MTurk assignment id (see GET /hits/{id}/assignments).")
WorkerArg = typer.Argument(..., help="MTurk worker id.")


def _show_assignment(session: Any, assignment_id: str, as_json: bool) -> None:
    from app.services.recruiting import review

    view = review.assignment_view(session=session, assignment_id=assignment_id)
    output(view, as_json, lambda: print_record(f"assignment {assignment_id}", view.model_dump()))


@review_app.command("approve")
def review_approve(
    assignment_id: str = AssignmentArg,
    feedback: str | None = typer.Option(None, help="Message to the worker."),
    override_rejection: bool = typer.Option(False, help="Approve a rejected assignment."),
    as_json: bool = JsonOpt,
) -> None:
    """Approve a submitted assignment (pays reward + fee)."""
    from app.services.recruiting import review

    with service() as (session, settings):
        review.approve(
            session=session,
            settings=settings,
            assignment_id=assignment_id,
            feedback=feedback,
            override_rejection=override_rejection,
        )
        _show_assignment(session, assignment_id, as_json)


@review_app.command("reject")
def review_reject(
    assignment_id: str = AssignmentArg,
    feedback: str = typer.Option(..., help="Why (the worker reads it; required by MTurk)."),
    as_json: bool = JsonOpt,
) -> None:
    """Reject a submitted assignment (its reserved cost is released)."""
    from app.services.recruiting import review

    if not feedback.strip():
        fail("--feedback: a rejection needs a reason the worker will read")
    with service() as (session, settings):
        review.reject(
            session=session, settings=settings, assignment_id=assignment_id, feedback=feedback
        )
        _show_assignment(session, assignment_id, as_json)


@review_app.command("bonus")
def review_bonus(
    assignment_id: str = AssignmentArg,
    amount: str = typer.Option(..., help="Dollars, e.g. 0.50 ($0.01 to $100.00)."),
    reason: str = typer.Option(..., help="Message to the worker."),
    as_json: bool = JsonOpt,
) -> None:
    """Pay a bonus once per assignment and amount (a retry pays nothing more)."""
    from app.services.recruiting import review

    with service() as (session, settings):
        review.bonus(
            session=session,
            settings=settings,
            assignment_id=assignment_id,
            amount=amount,
            reason=reason,
        )
        _show_assignment(session, assignment_id, as_json)


def _block(worker_id: str, blocked: bool, reason: str, project: int | None, as_json: bool) -> None:
    from app.services.recruiting import review

    with service() as (session, settings):
        w = review.set_block(
            session=session,
            settings=settings,
            worker_id=worker_id,
            blocked=blocked,
            reason=reason,
            project_id=project,
        )
        row = {"worker_id": w.external_id, "blocked": w.blocked, "reason": w.blocked_reason}
    output(
        row,
        as_json,
        lambda: console.print(
            f"worker {row['worker_id']} is "
            + (f"blocked ({row['reason']})" if row["blocked"] else "unblocked")
        ),
    )


_ProjectForBlock = typer.Option(
    None, "--project", "-p", min=1, help="Project whose MTurk account to use (default: sandbox)."
)


@review_app.command("block")
def review_block(
    worker_id: str = WorkerArg,
    reason: str = typer.Option(..., help="Why (kept with the worker; sent to MTurk)."),
    project: int | None = _ProjectForBlock,
    as_json: bool = JsonOpt,
) -> None:
    """Block a worker: their answers stop counting and MTurk stops offering them our HITs."""
    if not reason.strip():
        fail("--reason: a block needs a reason")
    _block(worker_id, True, reason, project, as_json)


@review_app.command("unblock")
def review_unblock(
    worker_id: str = WorkerArg,
    project: int | None = _ProjectForBlock,
    as_json: bool = JsonOpt,
) -> None:
    """Lift a block."""
    _block(worker_id, False, "", project, as_json)
