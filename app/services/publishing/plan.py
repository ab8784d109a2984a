"""Planning a batch and its cost: examples that need answers, HIT composition, tokens."""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput
from app.crowd import excluded_workers
from app.crowd.budget import SequentialRule
from app.models import (
    Assignment,
    Example,
    GoldQuestion,
    Hit,
    HitAssignment,
    Project,
)
from app.services import ledger, recruiting
from app.services.crowd.labels import load_project_crowd
from app.services.projects import get_project
from app.services.publishing.settings import (
    ANNOTATION_PREFIX,
    BUILTIN_PROVIDERS,
    MAX_PER_HIT_CHEAP,
    hit_options,
)


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
    return recruiting.get(provider).hit_cost(reward, assignments)


def _fee_rules(provider: str) -> str:
    return recruiting.get(provider).fee_rules


def _answers_needed(session: Session, project: Project) -> dict[int, int]:
    """example id -> answers still needed (N - usable - outstanding), for non-gold examples."""
    data = load_project_crowd(session=session, project_id=project.id)
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
    options = hit_options(session=session, project_id=project.id)
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
    *,
    session: Session,
    project_id: int,
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
