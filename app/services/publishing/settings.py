"""The project's publishing settings: HIT options and the review policy (MTurk's state rules are
in app.mturk.rules)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import InvalidInput, NotFound
from app.models import (
    Project,
    PublishSettings,
)
from app.schemas.review import ReviewPolicy
from app.services.projects import get_project

DEFAULT_ASSIGNMENT_DURATION_S = 1800
DEFAULT_HIT_OPTIONS: dict[str, Any] = {
    "title": None,  # None: "<project name>: label <n> examples"
    "description": None,  # None: the project's question
    "keywords": "labeling, classification, survey, research",
    "lifetime_seconds": 7 * 86400,
    # A page holds ~30 questions (10 per HIT by default, up to a few dozen): at up to ~30 s
    # each that is 15 minutes; twice that leaves room, and a slot a worker walks away from is
    # back on the market (MTurk abandons it, docs/MTURK.md §3) within half an hour.
    "assignment_duration_seconds": DEFAULT_ASSIGNMENT_DURATION_S,
    "auto_approval_delay_seconds": 3 * 86400,
    "frame_height": 0,
    # Adaptive answer budget (app.crowd.budget): null asks every example for N answers; an
    # integer n_min asks n_min first, then tops up by one answer per round only the examples
    # whose label is not yet settled (|mean - threshold| sqrt(n) / max(sd, 0.5) < adaptive_c).
    "adaptive_n_min": None,
    "adaptive_c": 1.5,
    # Exclude, before they accept, workers who must not take a HIT (filtered, blocked, or who
    # already answered one of its examples) with qualifications (app.services.recruiting.exclusion).
    "exclude_before_accept": True,
}
#: The review policy's defaults: the keys and meanings of app.schemas.review.ReviewPolicy.
DEFAULT_REVIEW_POLICY: dict[str, Any] = ReviewPolicy().model_dump()
#: Providers whose publishing lives in this module; others publish through app.services.recruiting.
BUILTIN_PROVIDERS = ("mturk", "link")
MAX_PER_HIT_CHEAP = 9  # MaxAssignments below MTurk's 10-assignment fee tier
ANNOTATION_PREFIX = "frtrain"


# -- settings --------------------------------------------------------------------------------------
def publish_settings(*, session: Session, project_id: int) -> PublishSettings:
    """The project's publishing options and review policy (defaults on first use)."""
    row = session.get(PublishSettings, project_id)
    if row is None:
        row = PublishSettings(
            project_id=project_id,
            hit_options=dict(DEFAULT_HIT_OPTIONS),
            review_policy=dict(DEFAULT_REVIEW_POLICY),
        )
        session.add(row)
        session.flush()
    return row


def hit_options(*, session: Session, project_id: int) -> dict[str, Any]:
    return {
        **DEFAULT_HIT_OPTIONS,
        **publish_settings(session=session, project_id=project_id).hit_options,
    }


def review_policy(*, session: Session, project_id: int) -> dict[str, Any]:
    return {
        **DEFAULT_REVIEW_POLICY,
        **publish_settings(session=session, project_id=project_id).review_policy,
    }


def read_publish_settings(*, session: Session, project_id: int) -> dict[str, dict[str, Any]]:
    """``hit_options`` and ``review_policy`` with defaults filled in (stored on first read)."""
    if session.get(Project, project_id) is None:
        raise NotFound(f"project {project_id} does not exist")
    out = {
        "hit_options": hit_options(session=session, project_id=project_id),
        "review_policy": review_policy(session=session, project_id=project_id),
    }
    session.commit()
    return out


def update_publish_settings(
    *,
    session: Session,
    project_id: int,
    hit_options: dict[str, Any] | None = None,
    review_policy: dict[str, Any] | None = None,
) -> PublishSettings:
    """Change some options; unknown keys are refused (422)."""
    get_project(session=session, project_id=project_id)
    row = publish_settings(session=session, project_id=project_id)
    for name, given, known in (
        ("hit_options", hit_options, DEFAULT_HIT_OPTIONS),
        ("review_policy", review_policy, DEFAULT_REVIEW_POLICY),
    ):
        if given is None:
            continue
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise InvalidInput(f"unknown {name} key(s) {unknown}; known: {sorted(known)}")
        setattr(row, name, {**getattr(row, name), **given})
    session.commit()
    return row
