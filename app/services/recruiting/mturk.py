"""The MTurk provider as an adapter: HITs through boto3 (app.mturk), MTurk's identity parameters;
approve / reject / bonus / block and sync run in app.services.recruiting.review and
app.services.recruiting.sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.services.recruiting._builtin import BuiltinProvider

if TYPE_CHECKING:
    from app.models import Hit
    from app.services.task.page import Identity


class MTurkProvider(BuiltinProvider):
    name = "mturk"
    fee_rules = "20% of reward, +20% when MaxAssignments >= 10, min $0.01 per assignment"
    marketplace = True

    def identify(
        self, session: Session, settings: Settings, hit: Hit, params: dict[str, str]
    ) -> Identity | None:
        from app.services.task.page import _identity_mturk

        return _identity_mturk(settings, hit, params)


def external_submit(
    ident: Identity, answers: list[tuple[str, str]]
) -> tuple[str, list[tuple[str, str]]]:
    """MTurk's completion step (docs/MTURK.md §4): where the worker's browser posts the answers
    after the task page stored them (``turkSubmitTo``/mturk/externalSubmit) and what it posts."""
    post_to = f"{ident.submit_to}/mturk/externalSubmit"
    return post_to, [("assignmentId", ident.assignment_id), *answers]
