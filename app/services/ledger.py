"""Money: MTurk's fee rules, cost estimates, the spend ledger and the per-project budget cap.

Fee rules (docs/MTURK.md §3 "Money"): 20% of the reward (and of a bonus), another 20% of the reward
when ``MaxAssignments >= 10``, another 5% with Masters; at least $0.01 per assignment or bonus;
rounded half-up to the cent. Publishing reserves a HIT's worst case (every assignment approved);
the cap is checked against everything reserved plus bonuses, so it can never be overrun.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.errors import Conflict
from app.models import SpendEntry

CENT = Decimal("0.01")
FEE_TIER_ASSIGNMENTS = 10  # MaxAssignments at which MTurk's extra 20% applies


def money(value: Decimal | float | str | int) -> Decimal:
    """A dollar amount rounded half-up to the cent."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def fee(amount: Decimal, *, max_assignments: int = 1, masters: bool = False) -> Decimal:
    """MTurk's commission on one reward (or bonus, with ``max_assignments=1``)."""
    rate = Decimal("0.20")
    if max_assignments >= FEE_TIER_ASSIGNMENTS:
        rate += Decimal("0.20")
    if masters:
        rate += Decimal("0.05")
    return max(money(amount * rate), CENT)


@dataclass(frozen=True)
class HitCost:
    reward: Decimal  # per assignment, paid to the worker
    fee: Decimal  # per assignment, paid to MTurk
    assignments: int

    @property
    def per_assignment(self) -> Decimal:
        return self.reward + self.fee

    @property
    def total(self) -> Decimal:
        return self.per_assignment * self.assignments


def hit_cost(
    reward: Decimal, assignments: int, *, masters: bool = False, marketplace: bool = True
) -> HitCost:
    """Worst-case cost of a HIT; ``marketplace=False`` (link provider) charges no fee."""
    return HitCost(
        reward=money(reward),
        fee=fee(money(reward), max_assignments=assignments, masters=masters)
        if marketplace
        else Decimal("0.00"),
        assignments=assignments,
    )


def committed(*, session: Session, project_id: int) -> Decimal:
    """Everything reserved, paid beyond the reserve, or given as bonus (the cap's measure)."""
    total = session.scalar(
        select(func.coalesce(func.sum(SpendEntry.amount), 0)).where(
            SpendEntry.project_id == project_id,
            SpendEntry.kind.in_(("reserve", "extend", "release", "bonus")),
        )
    )
    return money(total or 0)


def check_budget(
    *, session: Session, project_id: int, cap: float | None, extra: Decimal, what: str
) -> None:
    """Refuse (409) when ``extra`` on top of what is committed would pass the cap."""
    if cap is None:
        return
    have = committed(session=session, project_id=project_id)
    if have + extra > money(cap):
        raise Conflict(
            f"{what} would cost up to ${extra} on top of ${have} already committed, past the "
            f"project's budget cap of ${money(cap)}; raise budget_cap or publish less",
            budget_cap=float(money(cap)),
            committed=float(have),
            requested=float(extra),
        )


def record_exists(*, session: Session, key: str) -> bool:
    return session.scalar(select(SpendEntry.id).where(SpendEntry.key == key)) is not None


def record(
    *,
    session: Session,
    project_id: int,
    kind: str,
    amount: Decimal,
    key: str,
    hit_id: int | None = None,
    note: str = "",
) -> bool:
    """Add a ledger entry once per ``key`` (a retry adds nothing). Flushes; the caller commits.

    Returns False when the entry already existed."""
    exists = session.scalar(select(SpendEntry.id).where(SpendEntry.key == key))
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                SpendEntry(
                    project_id=project_id,
                    hit_id=hit_id,
                    kind=kind,
                    amount=float(money(amount)),
                    key=key,
                    note=note,
                )
            )
    except IntegrityError:  # a concurrent writer recorded it first
        return False
    return True


def ledger(*, session: Session, project_id: int) -> tuple[list[SpendEntry], dict[str, float]]:
    """The entries (oldest first) and totals per kind plus ``committed`` and ``paid``."""
    rows = list(
        session.scalars(
            select(SpendEntry).where(SpendEntry.project_id == project_id).order_by(SpendEntry.id)
        )
    )
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row.kind] = totals.get(row.kind, Decimal(0)) + money(row.amount)
    out = {k: float(v) for k, v in totals.items()}
    out["committed"] = float(committed(session=session, project_id=project_id))
    out["paid"] = float(totals.get("paid", Decimal(0)) + totals.get("bonus", Decimal(0)))
    return rows, out
