"""Publishing: composition, cost estimate (hand-computed from MTurk's fee rules), budget cap,
HITType reuse, faults (throttling + 5xx after commit), crash/restart and token expiry."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import GoldQuestion, HitType, Project, SpendEntry
from app.mturk.client import MTurkClient
from app.mturk.emulator import Emulator
from app.services import ledger, publishing
from tests.app.hits.conftest import make_project, mturk_hits, project_hits


def test_fee_rules_hand_computed() -> None:
    # 20%, +20% at >= 10 assignments, +5% Masters, minimum $0.01, half-up to the cent.
    assert ledger.fee(Decimal("0.90")) == Decimal("0.18")
    assert ledger.fee(Decimal("0.90"), max_assignments=10) == Decimal("0.36")
    assert ledger.fee(Decimal("0.90"), max_assignments=9, masters=True) == Decimal("0.23")
    assert ledger.fee(Decimal("0.01")) == Decimal("0.01")
    assert ledger.fee(Decimal("0.33")) == Decimal("0.07")  # 0.066 rounds up
    assert ledger.hit_cost(Decimal("0.90"), 11).total == Decimal("13.86")  # 11 x (0.90 + 0.36)


def test_plan_composition_and_dry_run_estimate(
    session: Session, web: TestClient, admin_headers: dict[str, str]
) -> None:
    pid = make_project(session)  # 40 examples: 6 hidden gold, 2 quiz, 32 to label, N = 3
    r = web.post(
        f"/api/v1/projects/{pid}/hits/publish", json={"dry_run": True}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # 10 questions per HIT = 1 quiz + 2 gold + 7 examples: ceil(32 / 7) = 5 HITs; the last has
    # 4 examples and is filled up with 3 more gold checks (same size, reward and HITType).
    assert [h["n_questions"] for h in body["plan"]] == [10] * 5
    assert [h["n_quiz"] for h in body["plan"]] == [1] * 5
    assert [h["n_gold"] for h in body["plan"]] == [2, 2, 2, 2, 5]
    assert sum(h["n_task"] for h in body["plan"]) == 32
    # reward 10 x $0.03 = $0.30, fee 20% = $0.06, 3 assignments: $1.08 per HIT, $5.40 in all.
    assert {h["reward"] for h in body["plan"]} == {"0.30"}
    assert body["estimate"]["total"] == "5.40"
    assert body["warnings"] == []
    assert project_hits(session, pid) == []  # a dry run writes nothing

    plan = publishing.plan_batch(session=session, project_id=pid)
    quiz_ids = set(
        session.scalars(select(GoldQuestion.example_id).where(GoldQuestion.kind == "training_quiz"))
    )
    for hit in plan.hits:
        assert hit.items[0]["role"] == "quiz" and hit.items[0]["example_id"] in quiz_ids
        tasks = [i["example_id"] for i in hit.items if i["role"] == "task"]
        assert not set(tasks) & quiz_ids
    all_tasks = [i["example_id"] for h in plan.hits for i in h.items if i["role"] == "task"]
    assert len(all_tasks) == len(set(all_tasks)) == 32


def test_fee_tier_warning_and_split(session: Session) -> None:
    pid = make_project(session, max_answers=11, n_quiz=0, quiz_per_hit=0)
    plan = publishing.plan_batch(session=session, project_id=pid)
    assert {h.max_assignments for h in plan.hits} == {11}
    assert any("40%" in w and "max_per_hit=9" in w for w in plan.warnings)
    split = publishing.plan_batch(session=session, project_id=pid, max_per_hit=9)
    assert sorted({h.max_assignments for h in split.hits}) == [2, 9]
    assert len(split.hits) == 2 * len(plan.hits)
    assert not split.warnings
    # 9 assignments stay in the 20% tier: cheaper than 11 at 40%.
    assert split.total_cost < plan.total_cost


def test_publish_once_hittype_reused_ledger_and_topup(
    session: Session,
    web: TestClient,
    admin_headers: dict[str, str],
    emu: Emulator,
    mt: MTurkClient,
    hsettings: Settings,
) -> None:
    pid = make_project(session)
    r = web.post(f"/api/v1/projects/{pid}/hits/publish", json={}, headers=admin_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 5 and body["failed"] == []
    hits = project_hits(session, pid)
    on_mturk = mturk_hits(mt)
    assert sorted(h["HITId"] for h in on_mturk) == sorted(str(h.mturk_hit_id) for h in hits)
    assert {h.endpoint_url for h in hits} == {emu.url}
    assert {h.state for h in hits} == {"published"}
    # One HITType for the project, reused by every HIT.
    n_types = select(func.count()).select_from(HitType).where(HitType.project_id == pid)
    assert session.scalar(n_types) == 1
    assert len({h["HITTypeId"] for h in on_mturk}) == 1
    assert {h["MaxAssignments"] for h in on_mturk} == {3}
    by_id = {h["HITId"]: h for h in on_mturk}
    for row in hits:
        assert by_id[str(row.mturk_hit_id)]["RequesterAnnotation"] == row.annotation
        assert f"project={pid}" in row.annotation and f"batch={row.batch}" in row.annotation
        assert row.token.startswith(f"frt-p{pid}-b1-")
    reserved = session.scalar(
        select(func.sum(SpendEntry.amount)).where(
            SpendEntry.project_id == pid, SpendEntry.kind == "reserve"
        )
    )
    assert reserved == pytest.approx(5.40)
    # Every example has N answers outstanding: nothing more to publish.
    again = web.post(f"/api/v1/projects/{pid}/hits/publish", json={}, headers=admin_headers)
    assert again.json()["created"] == 0 and len(mturk_hits(mt)) == 5
    spend = web.get(f"/api/v1/projects/{pid}/spend", headers=admin_headers).json()
    assert spend["totals"]["committed"] == pytest.approx(5.40)


def test_budget_cap_refuses_and_writes_nothing(
    session: Session, web: TestClient, admin_headers: dict[str, str], emu: Emulator, mt: MTurkClient
) -> None:
    pid = make_project(session, budget_cap=5.00)  # the batch costs $5.40
    r = web.post(f"/api/v1/projects/{pid}/hits/publish", json={}, headers=admin_headers)
    assert r.status_code == 409
    assert "budget cap" in r.json()["detail"]
    assert project_hits(session, pid) == [] and mturk_hits(mt) == []
    # Within the cap when fewer answers are asked: 5 x 2 x $0.36 = $3.60.
    ok = web.post(
        f"/api/v1/projects/{pid}/hits/publish", json={"max_assignments": 2}, headers=admin_headers
    )
    assert ok.status_code == 200 and ok.json()["created"] == 5


def _publish_until_done(session: Session, settings: Settings, pid: int) -> int:
    from app.mturk.errors import MTurkUnavailable

    for attempt in range(8):  # an operator re-running `frtrain hits publish` after a failure
        try:
            publishing.publish_batch(session=session, settings=settings, project_id=pid)
            return attempt
        except MTurkUnavailable:
            session.rollback()
    raise AssertionError("publishing never completed")


@pytest.mark.usefixtures("fast_retries")
def test_faults_every_hit_published_exactly_once(
    session: Session, hsettings: Settings, emu: Emulator, mt: MTurkClient
) -> None:
    pid = make_project(session, n_examples=76, n_quiz=0, quiz_per_hit=0)  # 70 examples: 9 HITs
    emu.faults.set(throttle_rate=0.3, fault_after_commit_rate=0.3, seed=11)
    _publish_until_done(session, hsettings, pid)
    emu.faults.clear()
    hits = project_hits(session, pid)
    planned = len(hits)
    assert planned == 9 and {h.state for h in hits} == {"published"}
    on_mturk = mturk_hits(mt)
    assert len(on_mturk) == planned
    assert sorted(h["RequesterAnnotation"] for h in on_mturk) == sorted(h.annotation for h in hits)
    assert len({h.mturk_hit_id for h in hits}) == planned
    assert emu.faults.stats["throttle"] > 0 and emu.faults.stats["after_commit"] > 0
    assert emu.errors[("CreateHITWithHITType", "AWS.MechanicalTurk.HitAlreadyExists")] > 0
    # Ledger: reserved once per HIT despite the retries.
    n_reserve = session.scalar(
        select(func.count()).select_from(SpendEntry).where(SpendEntry.project_id == pid)
    )
    assert n_reserve == planned


class _Crash(BaseException):
    """Stands in for a process dying (not an Exception: nothing may catch it)."""


class CrashAfter:
    """Wraps the MTurk client: the n-th CreateHIT reaches MTurk, then the 'process dies'."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.n = inner, n

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create_hit_idempotent(self, **params: Any) -> Any:
        created = self.inner.create_hit_idempotent(**params)
        self.n -= 1
        if self.n == 0:
            raise _Crash
        return created


@pytest.mark.parametrize("token_expired", [False, True])
def test_restart_publishes_exactly_the_missing_hits(
    session: Session, hsettings: Settings, emu: Emulator, mt: MTurkClient, token_expired: bool
) -> None:
    from app.services.recruiting.links import mturk_client

    pid = make_project(session)
    project = session.get(Project, pid)
    mt = mturk_client(hsettings, project)
    with pytest.raises(_Crash):  # the 3rd HIT exists on MTurk, our row still says "intent"
        publishing.publish_batch(
            session=session, settings=hsettings, project_id=pid, mt=CrashAfter(mt, 3)
        )
    states = [h.state for h in project_hits(session, pid)]
    assert states == ["published", "published", "intent", "intent", "intent"]
    assert len(mturk_hits(mt)) == 3
    if token_expired:
        emu.clock.advance(25 * 3600)  # MTurk forgets tokens after 24 h: ListHITs finds it
    result = publishing.publish_batch(
        session=session, settings=hsettings, project_id=pid
    )  # the restart
    assert result.resumed == 3 and result.adopted == 1 and result.created == 2
    hits = project_hits(session, pid)
    assert [h.state for h in hits] == ["published"] * 5
    on_mturk = mturk_hits(mt)
    assert len(on_mturk) == 5
    assert sorted(h["HITId"] for h in on_mturk) == sorted(str(h.mturk_hit_id) for h in hits)


def test_live_publishing_refused_without_all_three_switches(
    session: Session, hsettings: Settings, emu: Emulator, mt: MTurkClient
) -> None:
    from app.core.errors import InvalidInput
    from app.mturk.errors import MTurkLiveNotAllowed

    pid = make_project(session, budget_cap=100.0)
    live = hsettings.model_copy(
        update={"mturk_endpoint_url": None, "mturk_sandbox": False, "mturk_allow_live": False}
    )
    with pytest.raises(MTurkLiveNotAllowed, match="MTURK_ALLOW_LIVE") as refused:
        publishing.publish_batch(session=session, settings=live, project_id=pid)
    assert refused.value.status_code == 403
    assert project_hits(session, pid) == [] and mturk_hits(mt) == []
    session.get(Project, pid).allow_live = True  # type: ignore[union-attr]
    with pytest.raises(MTurkLiveNotAllowed):  # project switch + cap, but not the env switch
        publishing.publish_batch(session=session, settings=live, project_id=pid)
    # All three set: the live guard passes (the http task URL is what stops it here, before
    # any call; nothing is written).
    armed = live.model_copy(update={"mturk_allow_live": True})
    with pytest.raises(InvalidInput, match="https"):
        publishing.publish_batch(session=session, settings=armed, project_id=pid)
    assert project_hits(session, pid) == []
