"""Sync (idempotent upsert from ListAssignmentsForHIT, restoring lost page writes), the review
policy (approve / reject below gold threshold / block / bonus, idempotent on retry), top-up
publishing, and the HIT management API's mapping of MTurk refusals."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Answer, Assignment, SpendEntry, Worker
from app.mturk.client import MTurkClient
from app.mturk.emulator import Emulator
from app.services import publishing
from app.services.recruiting import review, sync
from app.services.task.questions import answer_fields
from tests.app.hits.conftest import (
    Worker as SimWorker,
)
from tests.app.hits.conftest import (
    gold_value,
    make_project,
    mturk_assignment,
    mturk_blocks,
    mturk_bonuses,
    n_answers,
    project_hits,
    radios,
)


def _ledger(session: Session, pid: int) -> dict[str, float]:
    rows = session.execute(
        select(SpendEntry.kind, func.sum(SpendEntry.amount), func.count())
        .where(SpendEntry.project_id == pid)
        .group_by(SpendEntry.kind)
    ).all()
    return {f"{k}": round(float(s), 2) for k, s, _ in rows} | {f"n_{k}": int(n) for k, _, n in rows}


def test_sync_is_idempotent_and_restores_lost_page_writes(
    session: Session, hsettings: Settings, emu: Emulator, web: TestClient
) -> None:
    pid = make_project(session, n_quiz=0, quiz_per_hit=0)
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hit = project_hits(session, pid)[0]
    per = sum(1 for i in hit.items if i["role"] != "quiz")
    for label in ("w1", "w2"):
        SimWorker(web, emu, label).complete(hit, "3")
    # w3's page submit is lost: it opened the task, then posted straight to MTurk.
    lost = SimWorker(web, emu, "w3")
    assert lost.open(hit).status_code == 200
    form = lost.form("/submit")
    fields = {"assignmentId": lost.assignment_id} | dict.fromkeys(radios(form), "1")
    assert httpx.post(f"{emu.url}/mturk/externalSubmit", data=fields).status_code == 200
    assert n_answers(session, pid) == 2 * per
    first = sync.sync_project(
        session=session, settings=hsettings, project_id=pid, apply_review=False
    )
    assert first.assignments_seen == 3 and first.answers_new == per
    assert n_answers(session, pid) == 3 * per
    restored = session.scalar(
        select(Assignment).where(Assignment.external_id == lost.assignment_id)
    )
    assert restored is not None and restored.status == "submitted"
    values = session.scalars(select(Answer.value).where(Answer.assignment_id == restored.id))
    assert set(values) == {1}
    # A worker never seen by the page at all (MTurk only) is created by the sync.
    other = project_hits(session, pid)[1]  # the first HIT is full (3 of 3)
    ghost = emu.worker_accept(str(other.mturk_hit_id), "AGHOSTWORKER01")
    # Its form fields are the per-assignment names the page would have shown (an HMAC the
    # requester side can compute), in the assignment's default order.
    names = answer_fields(hsettings, other, ghost["assignmentId"], None)
    emu.worker_submit(ghost["assignmentId"], dict.fromkeys(names, "4"))
    second = sync.sync_project(
        session=session, settings=hsettings, project_id=pid, apply_review=False
    )
    assert second.assignments_new == 1 and second.answers_new == per
    third = sync.sync_project(
        session=session, settings=hsettings, project_id=pid, apply_review=False
    )
    assert third.answers_new == 0 and third.assignments_new == 0
    assert n_answers(session, pid) == 4 * per


@pytest.mark.usefixtures("fast_retries")
def test_review_policy_reject_block_bonus_idempotent(
    session: Session,
    hsettings: Settings,
    emu: Emulator,
    mt: MTurkClient,
    web: TestClient,
    admin_headers: dict[str, str],
) -> None:
    pid = make_project(session, n_quiz=0, quiz_per_hit=0)
    r = web.patch(
        f"/api/v1/projects/{pid}/publish-settings",
        json={
            "review_policy": {
                "reject_below": 0.5,
                "block_below": 0.5,
                "min_gold": 1,
                "bonus_at": 1.0,
                "bonus_amount": "0.25",
                "hold_pending": False,
            }
        },
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["review_policy"]["min_hits_to_reject"] == 2
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hits = project_hits(session, pid)
    good, bad = SimWorker(web, emu, "good"), SimWorker(web, emu, "bad")
    once = SimWorker(web, emu, "once")
    good.complete(hits[0], lambda f: gold_value(session, f, right=True))
    good_first = good.assignment_id
    bad.complete(hits[0], lambda f: gold_value(session, f, right=False))
    bad_first = bad.assignment_id
    once.complete(hits[0], lambda f: gold_value(session, f, right=False))
    good.complete(hits[1], lambda f: gold_value(session, f, right=True))
    bad.complete(hits[1], lambda f: gold_value(session, f, right=False))
    # The first ApproveAssignment succeeds on MTurk but its answer is lost (500).
    emu.faults.fail_next("ApproveAssignment", "after_commit")
    r = web.post(f"/api/v1/projects/{pid}/sync", headers=admin_headers)
    assert r.status_code == 200, r.text
    out = r.json()["review"]
    # bad's record spans 2 HITs: both rejected, bad blocked. once's equally bad record rests on
    # one HIT: held, not rejected (and, filtered, once can no longer accept this project's HITs).
    assert {k: out[k] for k in ("approved", "rejected", "bonuses", "blocked", "held")} == {
        "approved": 2,
        "rejected": 2,
        "bonuses": 2,
        "blocked": [bad.id],
        "held": 1,
    }
    held = next(d for d in out["decisions"] if d["assignment_id"] == once.assignment_id)
    assert held["decision"] == "hold" and held["gold_hits"] == 1
    assert held["gold_correct"] == 0 and held["gold_total"] >= 1
    assert "rests on 1 HIT(s)" in held["reason"]
    assert mturk_assignment(mt, once.assignment_id)["AssignmentStatus"] == "Submitted"
    with pytest.raises(Exception, match="qualification"):
        emu.worker_accept(str(hits[2].mturk_hit_id), once.id)
    assert emu.faults.stats["after_commit"] == 1  # the retried approve found it Approved
    assert emu.errors[("ApproveAssignment", "AWS.MechanicalTurk.InvalidAssignmentState")] == 1
    assert mturk_assignment(mt, good_first)["AssignmentStatus"] == "Approved"
    rejected = mturk_assignment(mt, bad_first)
    assert rejected["AssignmentStatus"] == "Rejected"
    assert "check questions" in rejected["RequesterFeedback"]
    decided = next(d for d in out["decisions"] if d["assignment_id"] == bad_first)
    assert decided["decision"] == "reject" and decided["gold_hits"] == 2
    assert decided["scope"] == "the worker's whole record in this project"
    assert bad.id in mturk_blocks(mt)
    assert [b["BonusAmount"] for b in mturk_bonuses(mt, good_first)] == ["0.25"]
    worker = session.scalar(select(Worker).where(Worker.external_id == bad.id))
    assert worker is not None and worker.blocked
    # The evidence stays with the assignment and the API returns it.
    views = web.get(f"/api/v1/hits/{hits[0].id}/assignments", headers=admin_headers).json()
    view = next(v for v in views if v["assignment_id"] == bad_first)
    assert view["review_evidence"]["decision"] == "reject"
    assert view["review_evidence"]["worker_status"] == "filtered"
    # reward 10 x 0.03 = 0.30 + 0.06 fee per assignment; bonus 0.25 + 0.05 fee. Reserve: 4 HITs
    # of 10 questions (3 x 0.36) + the last HIT, 2 examples + all 6 gold = 8 questions
    # (3 x (0.24 + 0.05)).
    money = _ledger(session, pid)
    assert money["paid"] == 0.72 and money["release"] == -0.72 and money["bonus"] == 0.60
    assert money["reserve"] == 5.19
    # Running the review again (a retry) changes nothing and pays nothing twice.
    again = web.post(f"/api/v1/projects/{pid}/sync", headers=admin_headers).json()
    assert {k: again["review"][k] for k in ("approved", "rejected", "bonuses", "blocked")} == {
        "approved": 0,
        "rejected": 0,
        "bonuses": 0,
        "blocked": [],
    }
    assert _ledger(session, pid) == money and len(mturk_bonuses(mt, good_first)) == 1
    # Bonus again for the same assignment and amount: nothing new.
    r = web.post(
        f"/api/v1/assignments/{good_first}/bonus",
        json={"amount": "0.25", "reason": "thanks"},
        headers=admin_headers,
    )
    assert r.status_code == 200 and len(mturk_bonuses(mt, good_first)) == 1
    # The blocked worker can no longer accept this requester's HITs.
    with pytest.raises(Exception, match="blocked"):
        emu.worker_accept(str(hits[2].mturk_hit_id), bad.id)
    # Unblock through the API.
    r = web.delete(f"/api/v1/workers/{bad.id}/block", headers=admin_headers)
    assert r.status_code == 200 and r.json()["blocked"] is False
    assert bad.id not in mturk_blocks(mt)


def test_pending_workers_are_held_then_approved_before_the_auto_approval_deadline(
    session: Session,
    hsettings: Settings,
    emu: Emulator,
    mt: MTurkClient,
    web: TestClient,
    admin_headers: dict[str, str],
) -> None:
    pid = make_project(session, n_quiz=0, quiz_per_hit=0)
    # A stricter worker filter: 5 gold answers before anyone is judged.
    r = web.patch(
        f"/api/v1/projects/{pid}", json={"worker_filter": {"min_gold": 5}}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hit = project_hits(session, pid)[0]
    worker = SimWorker(web, emu, "newcomer")
    worker.complete(hit, lambda f: gold_value(session, f, right=True))
    first = sync.sync_project(session=session, settings=hsettings, project_id=pid)
    assert first.review is not None and first.review.held == 1 and first.review.approved == 0
    assert "not enough evidence" in first.review.decisions[0]["reason"]
    # 3 days (the HIT type's AutoApprovalDelay) minus the 6-hour margin later: approved.
    deadline = datetime.fromisoformat(first.review.decisions[0]["approve_by"])
    later = review.apply_policy(
        session=session, settings=hsettings, project_id=pid, now=deadline + timedelta(seconds=1)
    )
    assert later.approved == 1 and later.held == 0
    assert "before the auto-approval deadline" in later.decisions[0]["reason"]
    assert mturk_assignment(mt, worker.assignment_id)["AssignmentStatus"] == "Approved"


def test_topup_publishes_only_what_filtered_workers_left_missing(
    session: Session,
    hsettings: Settings,
    emu: Emulator,
    web: TestClient,
    admin_headers: dict[str, str],
) -> None:
    pid = make_project(session, n_quiz=0, quiz_per_hit=0, max_answers=2)
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hits = project_hits(session, pid)
    first = hits[0]
    a, b = SimWorker(web, emu, "ta"), SimWorker(web, emu, "tb")
    a.complete(first, lambda f: gold_value(session, f, right=True))
    b.complete(first, lambda f: gold_value(session, f, right=False))  # filtered by gold
    for h in hits:  # nobody else will come: let the other HITs lapse
        web.post(f"/api/v1/hits/{h.id}/expire", headers=admin_headers)
    sync.sync_project(session=session, settings=hsettings, project_id=pid)
    plan = publishing.plan_batch(session=session, project_id=pid)
    first_tasks = {i["example_id"] for i in first.items if i["role"] == "task"}
    other_tasks = {i["example_id"] for h in hits[1:] for i in h.items if i["role"] == "task"}
    planned = {
        i["example_id"]: h.max_assignments
        for h in plan.hits
        for i in h.items
        if i["role"] == "task"
    }
    # b's answers do not count: the first HIT's examples need 1 more, the others 2.
    assert {e: planned[e] for e in first_tasks} == dict.fromkeys(first_tasks, 1)
    assert {e: planned[e] for e in other_tasks} == dict.fromkeys(other_tasks, 2)


def test_api_maps_mturk_refusals_to_4xx_with_turk_error_code(
    session: Session,
    hsettings: Settings,
    emu: Emulator,
    mt: MTurkClient,
    web: TestClient,
    admin_headers: dict[str, str],
) -> None:
    pid = make_project(session, n_quiz=0, quiz_per_hit=0)
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hit = project_hits(session, pid)[0]
    assert web.get(f"/api/v1/projects/{pid}/hits").status_code == 401
    listed = web.get(f"/api/v1/projects/{pid}/hits", headers=admin_headers).json()
    assert listed["count"] == 5 and listed["data"][0]["mturk_status"] == "Assignable"
    # DeleteHIT while Assignable: MTurk refuses; 409 with its code and the allowed state.
    r = web.delete(f"/api/v1/hits/{hit.id}", headers=admin_headers)
    assert r.status_code == 409
    body = r.json()
    assert body["turk_error_code"].startswith("AWS.MechanicalTurk.")
    assert "Reviewable" in body["allowed_when"]
    # Growing a 3-assignment HIT to 10: MTurk refuses the fee-tier crossing.
    r = web.post(f"/api/v1/hits/{hit.id}/extend", json={"assignments": 7}, headers=admin_headers)
    assert r.status_code == 409
    assert r.json()["turk_error_code"] == "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease"
    ok = web.post(
        f"/api/v1/hits/{hit.id}/extend",
        json={"assignments": 2, "seconds": 3600},
        headers=admin_headers,
    )
    assert ok.status_code == 200 and ok.json()["max_assignments"] == 5
    assert mt.get_hit(str(hit.mturk_hit_id))["MaxAssignments"] == 5
    # A worker submits; approve, then reject is refused (409) and approve again is a no-op.
    w = SimWorker(web, emu, "api")
    w.complete(hit)
    sync.sync_project(session=session, settings=hsettings, project_id=pid, apply_review=False)
    got = web.get(f"/api/v1/hits/{hit.id}/assignments", headers=admin_headers).json()
    assert [(a["assignment_id"], a["n_answers"]) for a in got] == [(w.assignment_id, 10)]
    url = f"/api/v1/assignments/{w.assignment_id}"
    assert web.post(f"{url}/approve", json={}, headers=admin_headers).json()["review"] == "approved"
    assert web.post(f"{url}/approve", json={}, headers=admin_headers).status_code == 200
    r = web.post(f"{url}/reject", json={"feedback": "no"}, headers=admin_headers)
    assert r.status_code == 409 and "Submitted" in r.json()["allowed_when"]
    assert (
        web.post("/api/v1/assignments/NOPE/approve", json={}, headers=admin_headers).status_code
        == 404
    )
    # Expire, then delete is allowed once nothing is left Submitted.
    assert web.post(f"/api/v1/hits/{hit.id}/expire", headers=admin_headers).status_code == 200
    r = web.delete(f"/api/v1/hits/{hit.id}", headers=admin_headers)
    assert r.status_code == 200 and r.json()["state"] == "disposed"
    r = web.get(f"/api/v1/hits/{hit.id}", headers=admin_headers)
    assert r.status_code == 200 and r.json()["mturk_status"] == "Disposed"
    spend = web.get(f"/api/v1/projects/{pid}/spend", headers=admin_headers).json()
    assert spend["totals"]["paid"] == pytest.approx(0.36)
    # Extra assignments: 2 x 0.36 on top of the 5.19 reserve (see the review test).
    assert spend["totals"]["committed"] == pytest.approx(5.19 + 0.72)


def test_hit_management_bodies_refuse_nul_text(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    # Postgres text cannot hold NUL: the request is refused as a 422 before any lookup.
    for path, body in [
        ("/api/v1/assignments/1/reject", {"feedback": "bad\x00"}),
        ("/api/v1/workers/w1/block", {"reason": "spam\x00"}),
    ]:
        r = client.post(path, json=body, headers=admin_headers)
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert "NUL" in r.text
