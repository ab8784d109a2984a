"""Recruiting providers behind one interface (:class:`base.RecruitingProvider`): ``mturk``,
``link`` and ``prolific``. A new provider is one module plus a line in :data:`_FACTORIES`: the
registry is the one list of provider names (the API checks a name against it, :func:`check_name`;
the database stores any name, up to :data:`NAME_MAX` characters).

The provider-neutral services of this package call them: :mod:`.sync` (pull, score, review),
:mod:`.review` (approve / reject / bonus / block, the policy), :mod:`.review_queue`; the task
page (app.services.task) and publishing (app.services.publishing) reach them through :func:`get`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput
from app.models import Hit, Project
from app.services.recruiting.base import RecruitingProvider


# Each factory imports its provider on first use: registering a provider never loads another's
# dependencies (boto3, httpx), and the providers may import the services that call them.
def _mturk() -> RecruitingProvider:
    from app.services.recruiting.mturk import MTurkProvider

    return MTurkProvider()


def _link() -> RecruitingProvider:
    from app.services.recruiting.link import LinkProvider

    return LinkProvider()


def _prolific() -> RecruitingProvider:
    from app.services.recruiting.prolific import ProlificProvider

    return ProlificProvider()


_FACTORIES: dict[str, Callable[[], RecruitingProvider]] = {
    "mturk": _mturk,
    "link": _link,
    "prolific": _prolific,
}
#: The longest provider name ``projects.provider`` and ``hits.provider`` hold (their column length).
NAME_MAX = 16
#: Worker-id prefixes of providers that namespace their participants' ids.
WORKER_PREFIXES = {"link:": "link", "prolific:": "prolific"}


def check_name(name: str) -> str:
    """``name`` if a provider is registered under it, else :class:`InvalidInput` (422) naming
    the registered ones."""
    if name not in _FACTORIES:
        raise InvalidInput(f"unknown recruiting provider {name!r}; known: {', '.join(names())}")
    return name


@cache
def get(name: str) -> RecruitingProvider:
    """The provider registered as ``name`` (422 for an unknown one)."""
    return _FACTORIES[check_name(name)]()


def for_worker(external_id: str) -> RecruitingProvider:
    """The provider a worker id belongs to (unprefixed ids are MTurk WorkerIds)."""
    for prefix, name in WORKER_PREFIXES.items():
        if external_id.startswith(prefix):
            return get(name)
    return get("mturk")


def for_project(*, session: Session, project: Project) -> list[RecruitingProvider]:
    """The providers a sync of ``project`` asks: each with published HITs in it, and the
    project's own, in registration order."""
    names = set(
        session.scalars(
            select(Hit.provider)
            .where(Hit.project_id == project.id, Hit.state == "published")
            .distinct()
        )
    )
    names.add(project.provider)
    return [get(name) for name in _FACTORIES if name in names]


def names() -> list[str]:
    """The registered provider names, sorted."""
    return sorted(_FACTORIES)
