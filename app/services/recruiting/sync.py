"""Sync: pull what every recruiting provider of a project holds (app.services.recruiting: MTurk's
assignments, Prolific's submissions; a link has nothing to pull), score workers, apply the review
policy, then let each provider catch up with the review (MTurk's exclusion qualifications).

The providers store answers and decisions through app.services.crowd.submissions, so a sync
after the task page stored everything adds nothing, and one after a lost page write restores it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import NotFound
from app.crowd import excluded_workers
from app.models import Project
from app.mturk.client import MTurkClient
from app.services import recruiting
from app.services.crowd.labels import load_project_crowd
from app.services.recruiting import exclusion, review

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    hits: int = 0
    assignments_seen: int = 0
    assignments_new: int = 0
    answers_new: int = 0
    answers_invalid: int = 0
    assignments_confirmed: int = 0
    assignments_discarded: int = 0
    assignments_unconfirmed: int = 0
    workers: int = 0
    workers_excluded: int = 0
    review: review.ReviewResult | None = None
    problems: list[str] = field(default_factory=list)
    #: qualification grants changed (app.services.recruiting.exclusion)
    exclusions_changed: int = 0
    #: opened-but-abandoned assignments released: after their duration, or at once when
    #: MTurk (GetHIT) shows they were returned or abandoned
    abandoned_released: int = 0
    #: assignment slots MTurk will not offer again (returned or abandoned after the HIT expired,
    #: docs/MTURK.md §3): per HIT, MaxAssignments - available - pending - listed; current total
    slots_lost: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "assignments_seen": self.assignments_seen,
            "assignments_new": self.assignments_new,
            "answers_new": self.answers_new,
            "answers_invalid": self.answers_invalid,
            "assignments_confirmed": self.assignments_confirmed,
            "assignments_discarded": self.assignments_discarded,
            "assignments_unconfirmed": self.assignments_unconfirmed,
            "workers": self.workers,
            "workers_excluded": self.workers_excluded,
            "review": self.review.to_json() if self.review else None,
            "problems": self.problems,
            "exclusions_changed": self.exclusions_changed,
            "abandoned_released": self.abandoned_released,
            "slots_lost": self.slots_lost,
        }


def sync_project(
    *,
    session: Session,
    settings: Settings,
    project_id: int,
    apply_review: bool = True,
    mt: MTurkClient | None = None,
) -> SyncResult:
    """Pull every provider's submissions (paginated), upsert, score, review; ``mt``: the MTurk
    client to use (default: one for the project)."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    out = SyncResult()
    out.abandoned_released = exclusion.release_abandoned(session=session, project_id=project.id)
    client: Any = mt
    providers = recruiting.for_project(session=session, project=project)
    for provider in providers:
        client = provider.sync(session, settings, project, out, client=client)
    crowd = load_project_crowd(session=session, project_id=project.id)
    out.workers = len(crowd.scores)
    out.workers_excluded = len(excluded_workers(crowd.scores))
    if apply_review:
        out.review = review.apply_policy(
            session=session, settings=settings, project_id=project.id, mt=client
        )
    for provider in providers:
        provider.after_review(session, settings, project, out, client=client)
    for problem in out.problems:
        log.warning("sync project %s: %s", project.id, problem)
    return out
