"""Publishing HITs (issue 4 §2-3): task composition, cost estimate, resumable publishing.

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
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, InvalidInput, NotFound
from app.models import (
    Assignment,
    GoldQuestion,
    Hit,
    HitAssignment,
    HitType,
    Project,
    PublishSettings,
)
from app.schemas.hits import HitPublic
from app.schemas.review import ReviewPolicy
from app.services import ledger
from app.services.projects import get_project
from app.services.providers import invite_url, mturk_client, panel_url, task_url

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
    # already answered one of its examples) with qualifications (app.services.exclusion).
    "exclude_before_accept": True,
}
#: The review policy's defaults: the keys and meanings of app.schemas.review.ReviewPolicy.
DEFAULT_REVIEW_POLICY: dict[str, Any] = ReviewPolicy().model_dump()
#: Providers whose publishing lives in this module; others publish through app.services.recruiting.
BUILTIN_PROVIDERS = ("mturk", "link")
MAX_PER_HIT_CHEAP = 9  # MaxAssignments below MTurk's 10-assignment fee tier
ANNOTATION_PREFIX = "frtrain"
# MTurk's own refusals, and the state in which each call is allowed (issue 4 §9).
ALLOWED_WHEN = {
    "DeleteHIT": "a HIT can be deleted when it is Reviewable or Reviewing (expired, or every "
    "assignment submitted) and no assignment is still Submitted: approve or reject them first",
    "ApproveAssignment": "an assignment can be approved while Submitted, or when Rejected with "
    "override_rejection=true within 30 days of submission",
    "RejectAssignment": "an assignment can be rejected only while Submitted (not once approved "
    "or auto-approved)",
    "SendBonus": "a bonus needs a submitted assignment of that worker",
    "CreateAdditionalAssignmentsForHIT": "assignments can be added to a HIT that is not deleted; "
    "a HIT with fewer than 10 assignments cannot grow to 10 or more (publish a new HIT instead)",
    "UpdateExpirationForHIT": "the expiry can be moved later, or to the past to expire the HIT "
    "now, but not to an earlier future time",
    "GetHIT": "the HIT must exist on the endpoint it was published to",
}


@contextlib.contextmanager
def explain_mturk(operation: str) -> Iterator[None]:
    """Add ``allowed_when`` (what state would allow the call) to MTurk's refusals."""
    from app.mturk.errors import MTurkRequestError

    try:
        yield
    except MTurkRequestError as exc:
        hint = ALLOWED_WHEN.get(exc.operation or operation)
        if hint:
            exc.extra["allowed_when"] = hint
            exc.detail = f"{exc.detail}; {hint}"
        raise


# -- settings --------------------------------------------------------------------------------------
def publish_settings(session: Session, project_id: int) -> PublishSettings:
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


def hit_options(session: Session, project_id: int) -> dict[str, Any]:
    return {**DEFAULT_HIT_OPTIONS, **publish_settings(session, project_id).hit_options}


def review_policy(session: Session, project_id: int) -> dict[str, Any]:
    return {**DEFAULT_REVIEW_POLICY, **publish_settings(session, project_id).review_policy}


def read_publish_settings(*, session: Session, project_id: int) -> dict[str, dict[str, Any]]:
    """``hit_options`` and ``review_policy`` with defaults filled in (stored on first read)."""
    if session.get(Project, project_id) is None:
        raise NotFound(f"project {project_id} does not exist")
    out = {
        "hit_options": hit_options(session, project_id),
        "review_policy": review_policy(session, project_id),
    }
    session.commit()
    return out


def update_publish_settings(
    session: Session,
    project_id: int,
    *,
    hit_options: dict[str, Any] | None = None,
    review_policy: dict[str, Any] | None = None,
) -> PublishSettings:
    """Change some options; unknown keys are refused (422)."""
    get_project(session=session, project_id=project_id)
    row = publish_settings(session, project_id)
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


# -- planning ----------------------------------------------------------------------------
@dataclass
class PlannedHit:
    seq: int
    items: list[dict[str, Any]]
    max_assignments: int
    reward: Decimal
    cost: ledger.HitCost

    def to_json(self) -> dict[str, Any]:
        roles: dict[str, int] = defaultdict(int)
        for item in self.items:
            roles[item["role"]] += 1
        return {
            "seq": self.seq,
            "n_questions": len(self.items),
            "n_task": roles["task"],
            "n_gold": roles["gold"],
            "n_quiz": roles["quiz"],
            "max_assignments": self.max_assignments,
            "reward": str(self.reward),
            "fee_per_assignment": str(self.cost.fee),
            "cost": str(self.cost.total),
        }


@dataclass
class PublishPlan:
    project_id: int
    provider: str
    batch: int
    hits: list[PlannedHit]
    warnings: list[str] = field(default_factory=list)
    examples_needing: int = 0
    #: HITs the batch needs beyond this request's bound (published by calling again).
    remaining_hits: int = 0

    def bound(self, max_hits: int) -> None:
        """Keep the first `max_hits` HITs: one request never creates an unbounded number."""
        if len(self.hits) <= max_hits:
            return
        self.remaining_hits = len(self.hits) - max_hits
        self.hits = self.hits[:max_hits]
        self.warnings.append(
            f"this request publishes {max_hits} HITs; {self.remaining_hits} more are needed: "
            "publish again (each request creates at most max_hits, MAX_HITS_PER_PUBLISH)"
        )

    @property
    def total_cost(self) -> Decimal:
        return sum((h.cost.total for h in self.hits), Decimal("0.00"))

    def estimate(self) -> dict[str, Any]:
        return {
            "n_hits": len(self.hits),
            "n_assignments": sum(h.max_assignments for h in self.hits),
            "rewards": str(sum((h.cost.reward * h.max_assignments for h in self.hits), Decimal(0))),
            "fees": str(sum((h.cost.fee * h.max_assignments for h in self.hits), Decimal(0))),
            "total": str(self.total_cost),
            "fee_rules": _fee_rules(self.provider),
        }


def _hit_cost(provider: str, reward: Decimal, assignments: int) -> ledger.HitCost:
    if provider in BUILTIN_PROVIDERS:
        return ledger.hit_cost(reward, assignments, marketplace=provider == "mturk")
    from app.services import recruiting

    return recruiting.get(provider).hit_cost(reward, assignments)


def _fee_rules(provider: str) -> str:
    from app.services import recruiting

    return recruiting.get(provider).fee_rules


def _answers_needed(session: Session, project: Project) -> dict[int, int]:
    """example id -> answers still needed (N - usable - outstanding), for non-gold examples."""
    from app.crowd import excluded_workers
    from app.services.labels import load_project_crowd

    data = load_project_crowd(session, project.id)
    excluded = set(excluded_workers(data.scores))
    usable = data.answers[~data.answers["worker_id"].isin(list(excluded))]
    have = usable.groupby("example_id").size().to_dict()
    gold = set(
        session.scalars(
            select(GoldQuestion.example_id).where(GoldQuestion.project_id == project.id)
        )
    )
    outstanding: dict[int, int] = defaultdict(int)
    now = datetime.now(UTC)
    submitted = dict(
        session.execute(
            select(HitAssignment.hit_id, func.count())
            .join(Hit, Hit.id == HitAssignment.hit_id)
            .join(Assignment, Assignment.id == HitAssignment.assignment_id)
            .where(
                Hit.project_id == project.id,
                HitAssignment.submitted_via.is_not(None),
                Assignment.confirmation == "confirmed",
            )
            .group_by(HitAssignment.hit_id)
        ).all()
    )
    for hit in session.scalars(
        select(Hit).where(Hit.project_id == project.id, Hit.state.in_(("intent", "published")))
    ):
        if hit.expires_at is not None and _aware(hit.expires_at) <= now:
            continue
        open_slots = max(hit.max_assignments - int(submitted.get(hit.id, 0)), 0)
        for item in hit.items:
            if item["role"] == "task":
                outstanding[int(item["example_id"])] += open_slots
    from app.models import Example

    rule = _adaptive_rule(session, project)
    values = usable.groupby("example_id")["value"].apply(list).to_dict() if rule else {}
    need: dict[int, int] = {}
    for ex_id in session.scalars(
        select(Example.id).where(Example.project_id == project.id).order_by(Example.id)
    ):
        if ex_id in gold:
            continue
        n = project.max_answers - int(have.get(ex_id, 0)) - outstanding[ex_id]
        if rule is not None and n > 0:
            n = _adaptive_need(rule, values.get(ex_id, []), outstanding[ex_id], n)
        if n > 0:
            need[int(ex_id)] = n
    return need


def _adaptive_rule(session: Session, project: Project) -> Any:
    from app.crowd.budget import SequentialRule

    options = hit_options(session, project.id)
    if options.get("adaptive_n_min") is None:
        return None
    return SequentialRule(
        n_min=int(options["adaptive_n_min"]),
        c=float(options["adaptive_c"]),
        threshold=float(project.threshold),
    )


def _adaptive_need(rule: Any, values: list[int], outstanding: int, left: int) -> int:
    """Answers to ask for now under the adaptive budget: none while answers are outstanding or
    once the label is settled; else up to n_min at first, then one more per round (max ``left``).
    """
    if outstanding > 0 or rule.settled(values):
        return 0
    return min(left, max(rule.n_min - len(values), 1))


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _next_batch(session: Session, project_id: int) -> int:
    top = session.scalar(select(func.max(Hit.batch)).where(Hit.project_id == project_id))
    return int(top or 0) + 1


def _gold_pools(session: Session, project_id: int) -> tuple[list[int], list[int]]:
    rows = session.execute(
        select(GoldQuestion.example_id, GoldQuestion.kind)
        .where(GoldQuestion.project_id == project_id)
        .order_by(GoldQuestion.id)
    ).all()
    hidden = [int(e) for e, k in rows if k == "hidden_check"]
    quiz = [int(e) for e, k in rows if k == "training_quiz"]
    return hidden, quiz


def _pick(pool: list[int], start: int, n: int) -> list[int]:
    if not pool or n <= 0:
        return []
    return [pool[(start + j) % len(pool)] for j in range(min(n, len(pool)))]


def plan_batch(
    session: Session,
    project_id: int,
    *,
    max_assignments: int | None = None,
    max_per_hit: int | None = None,
    groups: Sequence[tuple[Sequence[int], int]] | None = None,
) -> PublishPlan:
    """Compose the next batch of HITs (nothing is written).

    Args:
        max_assignments: cap on answers asked per example in this batch (default N).
        max_per_hit: split HITs so none has more than this many assignments (9 keeps MTurk's
            20% fee tier; the same worker cannot answer an example twice, the page refuses).
        groups: explicit HITs as ``(example ids, assignments)`` (replay of a released data set);
            no gold or quiz is added to them.
    """
    project = get_project(session=session, project_id=project_id)
    batch = _next_batch(session, project.id)
    rate = ledger.money(project.reward_per_answer)
    chunks: list[tuple[list[dict[str, Any]], int]] = []
    warnings: list[str] = []
    if groups is not None:
        for example_ids, n in groups:
            if n < 1 or not example_ids:
                raise InvalidInput("every explicit HIT needs examples and at least 1 assignment")
            chunks.append(([{"example_id": int(e), "role": "task"} for e in example_ids], n))
        needing = sum(len(g[0]) for g in groups)
    else:
        need = _answers_needed(session, project)
        needing = len(need)
        if max_assignments is not None:
            need = {e: min(n, max_assignments) for e, n in need.items()}
        per_hit = project.questions_per_hit - project.gold_per_hit - project.quiz_per_hit
        if per_hit < 1:
            raise InvalidInput(
                "questions_per_hit must exceed gold_per_hit + quiz_per_hit to leave room for "
                "examples"
            )
        hidden, quiz = _gold_pools(session, project.id)
        if project.gold_per_hit and not hidden:
            warnings.append(
                f"gold_per_hit={project.gold_per_hit} but the project has no hidden_check gold "
                "questions: HITs carry no gold, so workers cannot be scored"
            )
        by_need: dict[int, list[int]] = defaultdict(list)
        for ex, n in need.items():
            by_need[n].append(ex)
        index = 0
        for n in sorted(by_need, reverse=True):
            examples = by_need[n]
            for start in range(0, len(examples), per_hit):
                tasks = [
                    {"example_id": e, "role": "task"} for e in examples[start : start + per_hit]
                ]
                # A short HIT (the last of a group) is filled up with more hidden gold, so every
                # HIT keeps the same size, reward and HITType (and scores its workers better).
                n_gold = project.gold_per_hit + per_hit - len(tasks) if project.gold_per_hit else 0
                gold = [
                    {"example_id": e, "role": "gold"}
                    for e in _pick(hidden, index * project.gold_per_hit, n_gold)
                ]
                quiz_items = [
                    {"example_id": e, "role": "quiz"}
                    for e in _pick(quiz, index * project.quiz_per_hit, project.quiz_per_hit)
                ]
                body = tasks + gold
                # Deterministic shuffle: gold must not sit at predictable positions.
                random.Random(f"{project.id}:{batch}:{index}").shuffle(body)
                chunks.append((quiz_items + body, n))
                index += 1
    hits: list[PlannedHit] = []
    for items, n in chunks:
        parts = [n]
        if max_per_hit is not None and n > max_per_hit:
            parts = [max_per_hit] * (n // max_per_hit) + (
                [n % max_per_hit] if n % max_per_hit else []
            )
        for part in parts:
            reward = ledger.money(rate * len(items))
            hits.append(
                PlannedHit(
                    seq=len(hits),
                    items=items,
                    max_assignments=part,
                    reward=reward,
                    cost=_hit_cost(project.provider, reward, part),
                )
            )
    if project.provider in BUILTIN_PROVIDERS and any(
        h.max_assignments >= ledger.FEE_TIER_ASSIGNMENTS for h in hits
    ):
        warnings.append(
            "some HITs have 10 or more assignments: MTurk then charges a 40% fee instead of 20%; "
            f"pass max_per_hit={MAX_PER_HIT_CHEAP} to publish them as HITs of at most 9 "
            "assignments"
        )
    if project.provider not in BUILTIN_PROVIDERS:
        from app.services import recruiting

        warnings += recruiting.get(project.provider).plan_warnings(
            [(len(h.items), h.reward) for h in hits]
        )
    if project.provider == "mturk" and any(h.reward < ledger.CENT for h in hits):
        raise InvalidInput("a HIT's reward would be $0.00; MTurk needs at least $0.01")
    return PublishPlan(
        project_id=project.id,
        provider=project.provider,
        batch=batch,
        hits=hits,
        warnings=warnings,
        examples_needing=needing,
    )


def hit_token(project_id: int, batch: int, seq: int, items: list[dict[str, Any]], n: int) -> str:
    """Deterministic UniqueRequestToken (<= 64 chars): the same intent always maps to it."""
    digest = hashlib.sha256(repr((project_id, batch, seq, items, n)).encode()).hexdigest()[:16]
    return f"frt-p{project_id}-b{batch}-h{seq}-{digest}"


def annotation_for(project_id: int, batch: int, seq: int, token: str) -> str:
    return f"{ANNOTATION_PREFIX}:project={project_id}:batch={batch}:hit={seq}:{token[-16:]}"


# -- publishing --------------------------------------------------------------------------
@dataclass
class PublishResult:
    plan: PublishPlan | None
    dry_run: bool
    hits: list[Hit]
    resumed: int = 0
    adopted: int = 0
    created: int = 0
    failed: list[str] = field(default_factory=list)


def publish_batch(
    session: Session,
    settings: Settings,
    project_id: int,
    *,
    dry_run: bool = False,
    max_assignments: int | None = None,
    max_per_hit: int | None = None,
    groups: Sequence[tuple[Sequence[int], int]] | None = None,
    mt: Any = None,
    max_hits: int | None = None,
) -> PublishResult:
    """Plan a batch and publish it; first finishes any batch a crash left half-published.

    A dry run returns the plan and its cost estimate and writes nothing. The budget cap is
    checked against the whole batch before anything is written. At most `max_hits` (default
    Settings.max_hits_per_publish) HITs are created; the plan says how many remain.
    """
    project = get_project(session=session, project_id=project_id)
    pending = _pending(session, project.id)
    if pending:
        if dry_run:
            return PublishResult(plan=None, dry_run=True, hits=pending)
        return _publish_rows(session, settings, project, pending, mt=mt, reconcile=True)
    plan = plan_batch(
        session, project.id, max_assignments=max_assignments, max_per_hit=max_per_hit, groups=groups
    )
    if groups is None:  # an explicit replay is published whole, as given
        plan.bound(max_hits or settings.max_hits_per_publish)
    if dry_run:
        session.rollback()  # publish_settings defaults may have been flushed
        return PublishResult(plan=plan, dry_run=True, hits=[])
    if not plan.hits:
        return PublishResult(plan=plan, dry_run=False, hits=[])
    ledger.check_budget(session, project.id, project.budget_cap, plan.total_cost, what="this batch")
    if project.provider not in BUILTIN_PROVIDERS:
        from app.services import recruiting

        # The live-mode switches are checked before any intent is written.
        recruiting.get(project.provider).preflight(settings, project)
    options = hit_options(session, project.id)
    endpoint = None
    if project.provider == "mturk":
        mt = mt or mturk_client(settings, project)
        endpoint = mt.endpoint_url
        _check_task_url(settings, mt)
    rows = []
    for planned in plan.hits:
        token = hit_token(
            project.id, plan.batch, planned.seq, planned.items, planned.max_assignments
        )
        rows.append(
            Hit(
                project_id=project.id,
                batch=plan.batch,
                seq=planned.seq,
                provider=project.provider,
                token=token,
                annotation=annotation_for(project.id, plan.batch, planned.seq, token),
                state="intent",
                endpoint_url=endpoint,
                max_assignments=planned.max_assignments,
                reward=float(planned.reward),
                n_questions=len(planned.items),
                items=planned.items,
                lifetime_seconds=int(options["lifetime_seconds"]),
                n_pending=0,
                n_available=0,
                n_completed=0,
            )
        )
    session.add_all(rows)
    session.commit()  # the intent is durable before MTurk hears of it
    result = _publish_rows(session, settings, project, rows, mt=mt, reconcile=False)
    result.plan = plan
    result.resumed = 0
    return result


def _check_task_url(settings: Settings, mt: Any) -> None:
    """MTurk only frames https task pages (the local emulator may allow http)."""
    from app.mturk.xml import QuestionXMLError, external_question_xml

    try:
        external_question_xml(task_url(settings, 1), 0, require_https=mt.mode != "custom")
    except QuestionXMLError as exc:
        raise InvalidInput(
            f"the task page URL cannot be used by MTurk ({exc}); set PUBLIC_BASE_URL to the "
            "service's public https:// address"
        ) from None


def resume(
    session: Session, settings: Settings, project_id: int, *, mt: Any = None
) -> PublishResult:
    """Publish whatever a crashed run left in state ``intent`` (nothing else)."""
    project = get_project(session=session, project_id=project_id)
    return _publish_rows(
        session, settings, project, _pending(session, project.id), mt=mt, reconcile=True
    )


def _pending(session: Session, project_id: int) -> list[Hit]:
    return list(
        session.scalars(
            select(Hit).where(Hit.project_id == project_id, Hit.state == "intent").order_by(Hit.id)
        )
    )


def _ensure_hit_type(
    session: Session,
    mt: Any,
    project: Project,
    reward: Decimal,
    options: dict[str, Any],
    qualifications: list[dict[str, Any]] | None = None,
) -> str:
    title = options["title"] or f"{project.name}: answer questions about examples"
    description = options["description"] or project.question
    if qualifications and len(qualifications) > 1:
        # A top-up HIT's own requirement: not cached (MTurk returns the same HITTypeId for
        # identical properties anyway). The project-wide requirement alone is cached below.
        return str(
            mt.create_hit_type(
                Title=title[:128],
                Description=description[:2000],
                Keywords=str(options["keywords"])[:1000],
                Reward=str(reward),
                AssignmentDurationInSeconds=int(options["assignment_duration_seconds"]),
                AutoApprovalDelayInSeconds=int(options["auto_approval_delay_seconds"]),
                QualificationRequirements=qualifications,
            )
        )
    row = session.scalar(
        select(HitType).where(
            HitType.project_id == project.id,
            HitType.endpoint_url == mt.endpoint_url,
            HitType.reward == float(reward),
        )
    )
    if row is not None:
        return row.hit_type_id
    type_id = mt.create_hit_type(
        Title=title[:128],
        Description=description[:2000],
        Keywords=str(options["keywords"])[:1000],
        Reward=str(reward),
        AssignmentDurationInSeconds=int(options["assignment_duration_seconds"]),
        AutoApprovalDelayInSeconds=int(options["auto_approval_delay_seconds"]),
        **({"QualificationRequirements": qualifications} if qualifications else {}),
    )
    session.add(
        HitType(
            project_id=project.id,
            endpoint_url=mt.endpoint_url,
            reward=float(reward),
            hit_type_id=type_id,
        )
    )
    session.commit()
    return str(type_id)


def _apply_mturk_hit(row: Hit, hit: dict[str, Any]) -> None:
    row.mturk_hit_id = hit["HITId"]
    row.hit_type_id = hit.get("HITTypeId", row.hit_type_id)
    expiration = hit.get("Expiration")
    if isinstance(expiration, datetime):
        row.expires_at = _aware(expiration)
    row.mturk_status = hit.get("HITStatus")
    row.n_pending = int(hit.get("NumberOfAssignmentsPending", 0))
    row.n_available = int(hit.get("NumberOfAssignmentsAvailable", 0))
    row.n_completed = int(hit.get("NumberOfAssignmentsCompleted", 0))


def _mark_published(session: Session, row: Hit) -> None:
    row.state = "published"
    row.published_at = datetime.now(UTC)
    row.error = None
    cost = ledger.hit_cost(
        Decimal(str(row.reward)), row.max_assignments, marketplace=row.provider == "mturk"
    )
    ledger.record(
        session,
        project_id=row.project_id,
        hit_id=row.id,
        kind="reserve",
        amount=cost.total,
        key=f"reserve:{row.token}",
        note=f"{row.max_assignments} x (${cost.reward} + ${cost.fee} fee)",
    )
    session.commit()


def _publish_rows(
    session: Session,
    settings: Settings,
    project: Project,
    rows: list[Hit],
    *,
    mt: Any,
    reconcile: bool,
) -> PublishResult:
    result = PublishResult(
        plan=None, dry_run=False, hits=rows, resumed=len(rows) if reconcile else 0
    )
    if not rows:
        return result
    if project.provider not in BUILTIN_PROVIDERS:
        from app.services import recruiting

        return recruiting.get(project.provider).publish_rows(
            session, settings, project, rows, result, reconcile=reconcile
        )
    if project.provider == "link":
        for row in rows:
            row.expires_at = datetime.now(UTC) + timedelta(seconds=row.lifetime_seconds)
            _mark_published(session, row)
            result.created += 1
        return result
    from app.mturk.errors import MTurkRequestError
    from app.mturk.xml import external_question_xml

    mt = mt or mturk_client(settings, project)
    options = hit_options(session, project.id)
    found: dict[str, dict[str, Any]] = {}
    if reconcile:
        wanted = {row.annotation for row in rows}
        for hit in mt.iter_hits():
            if hit.get("RequesterAnnotation") in wanted:
                found[hit["RequesterAnnotation"]] = hit
    for row in rows:
        if row.endpoint_url and row.endpoint_url != mt.endpoint_url:
            row.state = "failed"
            row.error = f"intent was for {row.endpoint_url}, client targets {mt.endpoint_url}"
            session.commit()
            result.failed.append(row.token)
            continue
        row.endpoint_url = mt.endpoint_url
        existing = found.get(row.annotation)
        if existing is not None:
            _apply_mturk_hit(row, existing)
            result.adopted += 1
            _mark_published(session, row)
            continue
        reward = ledger.money(row.reward)
        quals = None
        if options.get("exclude_before_accept", True):
            from app.services import exclusion

            quals = exclusion.requirements_for(session, mt, project, row)
        type_id = _ensure_hit_type(session, mt, project, reward, options, quals)
        question = external_question_xml(
            task_url(settings, row.id),
            int(options["frame_height"]),
            require_https=mt.mode != "custom",
        )
        try:
            created = mt.create_hit_idempotent(
                HITTypeId=type_id,
                LifetimeInSeconds=row.lifetime_seconds,
                MaxAssignments=row.max_assignments,
                Question=question,
                RequesterAnnotation=row.annotation,
                UniqueRequestToken=row.token,
            )
        except MTurkRequestError as exc:
            if exc.status_code >= 500:
                raise
            row.state = "failed"
            row.error = exc.detail[:2000]
            session.commit()
            result.failed.append(row.token)
            continue
        _apply_mturk_hit(row, created.hit)
        row.hit_type_id = type_id
        if created.adopted:
            result.adopted += 1
        else:
            result.created += 1
        _mark_published(session, row)
    return result


# -- HIT management ----------------------------------------------------------------------
def get_hit(session: Session, hit_id: int) -> Hit:
    row = session.get(Hit, hit_id)
    if row is None:
        raise NotFound(f"HIT {hit_id} does not exist", hit_id=hit_id)
    return row


def list_hits(session: Session, project_id: int) -> list[Hit]:
    get_project(session=session, project_id=project_id)
    return list(session.scalars(select(Hit).where(Hit.project_id == project_id).order_by(Hit.id)))


def hit_views(*, session: Session, settings: Settings, hits: list[Hit]) -> list[HitPublic]:
    """The public view of each HIT: its row, item counts by role, links, and how many of its
    assignments were submitted (counted, and on the page but not yet confirmed by MTurk) and,
    of the counted ones, approved and rejected as recorded here (MTurk's own counts are as of
    the last GetHIT)."""
    counts: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
    if hits:
        for h, c, r, n in session.execute(
            select(
                HitAssignment.hit_id, Assignment.confirmation, HitAssignment.review, func.count()
            )
            .join(Assignment, Assignment.id == HitAssignment.assignment_id)
            .where(
                HitAssignment.hit_id.in_([h.id for h in hits]),
                HitAssignment.submitted_via.is_not(None),
            )
            .group_by(HitAssignment.hit_id, Assignment.confirmation, HitAssignment.review)
        ).all():
            counts[int(h)][(str(c), str(r))] = int(n)

    def count(hit_id: int, confirmation: str, review: str | None = None) -> int:
        return sum(
            n for (c, r), n in counts[hit_id].items() if c == confirmation and review in (None, r)
        )

    return [
        _hit_view(
            settings,
            h,
            count(h.id, "confirmed"),
            count(h.id, "unconfirmed"),
            approved=count(h.id, "confirmed", "approved"),
            rejected=count(h.id, "confirmed", "rejected"),
        )
        for h in hits
    ]


def _hit_view(
    settings: Settings,
    hit: Hit,
    n_submitted: int,
    n_unconfirmed: int,
    *,
    approved: int = 0,
    rejected: int = 0,
) -> HitPublic:
    roles = [i["role"] for i in hit.items]
    return HitPublic(
        id=hit.id,
        project_id=hit.project_id,
        batch=hit.batch,
        seq=hit.seq,
        provider=hit.provider,
        state=hit.state,
        endpoint_url=hit.endpoint_url,
        mturk_hit_id=hit.mturk_hit_id,
        hit_type_id=hit.hit_type_id,
        annotation=hit.annotation,
        max_assignments=hit.max_assignments,
        reward=hit.reward,
        n_questions=hit.n_questions,
        n_task=roles.count("task"),
        n_gold=roles.count("gold"),
        n_quiz=roles.count("quiz"),
        expires_at=hit.expires_at,
        mturk_status=hit.mturk_status,
        n_pending=hit.n_pending,
        n_available=hit.n_available,
        n_completed=hit.n_completed,
        n_submitted=n_submitted,
        n_unconfirmed=n_unconfirmed,
        n_approved=approved,
        n_rejected=rejected,
        synced_at=hit.synced_at,
        task_url=task_url(settings, hit.id),
        panel_url=panel_url(settings, hit) if hit.provider == "link" else None,
        error=hit.error,
        created_at=hit.created_at,
        published_at=hit.published_at,
    )


def link_invites(
    *, session: Session, settings: Settings, hit_id: int, workers: list[str]
) -> dict[str, Any]:
    """Signed per-worker task links (and the panel link) for a published link-provider HIT."""
    from app.services.exclusion import excluded_for_link

    hit = get_hit(session, hit_id)
    if hit.provider != "link" or hit.state != "published":
        raise Conflict(f"HIT {hit_id} is not a published link-provider task")
    # No invitation for a worker who must not take the task (the page would refuse them).
    refused = excluded_for_link(session, hit, workers)
    invites = {w: invite_url(session, settings, hit, w) for w in workers if w not in refused}
    session.commit()
    return {
        "hit_id": hit_id,
        "invites": invites,
        "refused": refused,
        "panel_url": panel_url(settings, hit),
    }


def _published_mturk(row: Hit) -> str:
    if row.provider != "mturk":
        raise Conflict(f"HIT {row.id} is a link-provider task; MTurk operations do not apply")
    if row.state != "published" or not row.mturk_hit_id:
        raise Conflict(
            f"HIT {row.id} is {row.state}, not published on MTurk; run `frtrain hits publish` "
            "to finish publishing"
        )
    return row.mturk_hit_id


def refresh_hit(session: Session, settings: Settings, row: Hit, *, mt: Any = None) -> Hit:
    """Update a HIT row from GetHIT (status and assignment counts)."""
    if row.provider != "mturk" or row.state != "published" or not row.mturk_hit_id:
        return row
    project = get_project(session=session, project_id=row.project_id)
    mt = mt or mturk_client(settings, project)
    with explain_mturk("GetHIT"):
        hit = mt.get_hit(row.mturk_hit_id)
    _apply_mturk_hit(row, hit)
    row.synced_at = datetime.now(UTC)
    session.commit()
    return row


def expire_hit(session: Session, settings: Settings, hit_id: int, *, mt: Any = None) -> Hit:
    row = get_hit(session, hit_id)
    if row.provider == "link":
        row.expires_at = datetime.now(UTC)
        session.commit()
        return row
    mturk_id = _published_mturk(row)
    project = get_project(session=session, project_id=row.project_id)
    mt = mt or mturk_client(settings, project)
    with explain_mturk("UpdateExpirationForHIT"):
        mt.expire_hit(mturk_id)
    row.expires_at = datetime.now(UTC)
    return refresh_hit(session, settings, row, mt=mt)


def extend_hit(
    session: Session,
    settings: Settings,
    hit_id: int,
    *,
    assignments: int | None = None,
    seconds: int | None = None,
    mt: Any = None,
) -> Hit:
    """Add assignments (idempotent: one token per resulting total) and/or push the expiry."""
    if not assignments and not seconds:
        raise InvalidInput("give assignments > 0 and/or seconds > 0")
    row = get_hit(session, hit_id)
    project = get_project(session=session, project_id=row.project_id)
    cost = Decimal(0)
    if assignments:
        cost = (
            ledger.hit_cost(
                Decimal(str(row.reward)),
                row.max_assignments + assignments,
                marketplace=row.provider == "mturk",
            ).per_assignment
            * assignments
        )
        ledger.check_budget(
            session, project.id, project.budget_cap, cost, what=f"{assignments} more assignments"
        )
    if row.provider == "link":
        if assignments:
            row.max_assignments += assignments
        if seconds:
            base = max(_aware(row.expires_at or datetime.now(UTC)), datetime.now(UTC))
            row.expires_at = base + timedelta(seconds=seconds)
        session.commit()
        return row
    mturk_id = _published_mturk(row)
    mt = mt or mturk_client(settings, project)
    if assignments:
        total = row.max_assignments + assignments
        token = f"{row.token[:40]}-add{total}"
        with explain_mturk("CreateAdditionalAssignmentsForHIT"):
            mt.create_additional_assignments(mturk_id, assignments, unique_request_token=token)
        row.max_assignments = total
        ledger.record(
            session,
            project_id=project.id,
            hit_id=row.id,
            kind="extend",
            amount=cost,
            key=f"extend:{token}",
            note=f"+{assignments} assignments",
        )
        session.commit()
    if seconds:
        current = _aware(row.expires_at or datetime.now(UTC))
        new = max(current, datetime.now(UTC)) + timedelta(seconds=seconds)
        with explain_mturk("UpdateExpirationForHIT"):
            mt.update_expiration(mturk_id, new.replace(microsecond=0))
    return refresh_hit(session, settings, row, mt=mt)


def delete_hit(session: Session, settings: Settings, hit_id: int, *, mt: Any = None) -> Hit:
    row = get_hit(session, hit_id)
    if row.provider == "mturk":
        mturk_id = _published_mturk(row)
        project = get_project(session=session, project_id=row.project_id)
        mt = mt or mturk_client(settings, project)
        with explain_mturk("DeleteHIT"):
            mt.delete_hit(mturk_id)
        row.mturk_status = "Disposed"
    row.state = "disposed"
    session.commit()
    return row
