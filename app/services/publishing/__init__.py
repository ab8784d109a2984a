"""Publishing HITs (docs/MTURK.md §2-3): task composition, cost estimate, resumable publishing.

Composition (paper §4.4: "each task displays about 30 questions ... quizzes to educate the
workers, and some questions are used to evaluate the performance of the workers"): a HIT holds
``quiz_per_hit`` training-quiz questions first (feedback shown), then ``questions_per_hit -
gold_per_hit - quiz_per_hit`` examples that still need answers mixed with ``gold_per_hit`` hidden
gold checks. An example needs ``N - usable - outstanding`` more answers, where usable answers come
from workers the project's filter does not exclude and outstanding answers are the open slots of
unexpired HITs holding it; examples with the same need share HITs whose ``MaxAssignments`` is that
need, so publishing again after a sync tops examples up until each has N usable answers.

Resumability: every HIT row is written with state ``intent``, a deterministic
``UniqueRequestToken`` and a ``RequesterAnnotation`` naming project, batch and HIT *before*
MTurk is called. A restart publishes exactly the missing HITs: it first looks for each intent in
``ListHITs`` (by annotation: that covers tokens MTurk has forgotten after 24 h), then creates it
with its token, adopting the existing HIT when MTurk answers ``HitAlreadyExists``.

The package is split by job: :mod:`.settings` (options, review policy),
:mod:`.plan` (planning and cost), :mod:`.publish` (idempotent publishing, resume) and
:mod:`.manage` (HIT management and views). This module re-exports their public names.
"""

from __future__ import annotations

from app.services.publishing.manage import (
    delete_hit,
    expire_hit,
    extend_hit,
    get_hit,
    hit_views,
    link_invites,
    list_hits,
    refresh_hit,
)
from app.services.publishing.plan import (
    PlannedHit,
    PublishPlan,
    annotation_for,
    hit_token,
    plan_batch,
)
from app.services.publishing.publish import (
    PublishResult,
    publish_batch,
    resume,
)
from app.services.publishing.settings import (
    ANNOTATION_PREFIX,
    BUILTIN_PROVIDERS,
    DEFAULT_HIT_OPTIONS,
    DEFAULT_REVIEW_POLICY,
    MAX_PER_HIT_CHEAP,
    hit_options,
    publish_settings,
    read_publish_settings,
    review_policy,
    update_publish_settings,
)

__all__ = [
    "ANNOTATION_PREFIX",
    "BUILTIN_PROVIDERS",
    "DEFAULT_HIT_OPTIONS",
    "DEFAULT_REVIEW_POLICY",
    "MAX_PER_HIT_CHEAP",
    "PlannedHit",
    "PublishPlan",
    "PublishResult",
    "annotation_for",
    "delete_hit",
    "expire_hit",
    "extend_hit",
    "get_hit",
    "hit_options",
    "hit_token",
    "hit_views",
    "link_invites",
    "list_hits",
    "plan_batch",
    "publish_batch",
    "publish_settings",
    "read_publish_settings",
    "refresh_hit",
    "resume",
    "review_policy",
    "update_publish_settings",
]
