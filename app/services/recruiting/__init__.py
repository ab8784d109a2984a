"""Recruiting providers behind one interface (:class:`base.RecruitingProvider`).

``mturk`` and ``link`` are adapters over the existing publishing / review code; ``prolific`` is
implemented here in full. A new provider is one module plus a line in :data:`_FACTORIES`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from app.core.errors import InvalidInput
from app.services.recruiting.base import RecruitingProvider


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
#: Worker-id prefixes of providers that namespace their participants' ids.
WORKER_PREFIXES = {"link:": "link", "prolific:": "prolific"}


@cache
def get(name: str) -> RecruitingProvider:
    """The provider registered as ``name`` (422 for an unknown one)."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise InvalidInput(f"unknown recruiting provider {name!r}; known: {sorted(_FACTORIES)}")
    return factory()


def for_worker(external_id: str) -> RecruitingProvider:
    """The provider a worker id belongs to (unprefixed ids are MTurk WorkerIds)."""
    for prefix, name in WORKER_PREFIXES.items():
        if external_id.startswith(prefix):
            return get(name)
    return get("mturk")


def names() -> list[str]:
    return sorted(_FACTORIES)
