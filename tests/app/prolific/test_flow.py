"""Publishing a batch as one Prolific study and a participant's way through it: fields of the
study, faults while publishing, the task page bound to (participant, study, session), only
Prolific-confirmed submissions count, double or forged completions change nothing, review,
bonus and block through Prolific."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import ProlificStudy
from app.prolific.emulator import ProlificEmulator
from app.services import publishing
from app.services.recruiting import prolific, review, sync
from tests.app.hits.conftest import make_project, n_answers
from tests.app.prolific.conftest import answer_page, api, complete, join, local


def publish(session: Session, settings: Settings, project_id: int) -> ProlificStudy:
    result = publishing.publish_batch(session=session, settings=settings, project_id=project_id)
    assert not result.failed
    study = session.scalar(
        select(ProlificStudy).where(
            ProlificStudy.project_id == project_id, ProlificStudy.batch == result.hits[0].batch
        )
    )
    assert study is not None and study.study_id is not None
    return study


def test_batch_is_one_study_with_url_codes_and_filters(
    session: Session, psettings: Settings, pemu: ProlificEmulator
) -> None:
    pid = make_project(session, provider="prolific")
    plan = publishing.publish_batch(
        session=session, settings=psettings, project_id=pid, dry_run=True
    ).plan
    assert plan is not None and "Prolific" in plan.estimate()["fee_rules"]
    study = publish(session, psettings, pid)
    with api(pemu) as c:
        live = c.get(f"studies/{study.study_id}/").json()
        assert len(c.get("studies/").json()["results"]) == 1
    url = live["external_study_url"]
    for placeholder in ("{{%PROLIFIC_PID%}}", "{{%STUDY_ID%}}", "{{%SESSION_ID%}}"):
        assert placeholder in url
    hits = publishing.list_hits(session=session, project_id=pid)
    assert live["total_available_places"] == sum(h.max_assignments for h in hits)
    assert live["reward"] == round(max(h.reward for h in hits) * 100)
    assert live["completion_codes"][0]["code"] == study.completion_code
    assert live["status"] in ("PUBLISHING", "ACTIVE")
    assert live["internal_name"] == study.internal_name == live["metadata"]
    assert live["maximum_allowed_time"] >= 2 + 2 * live["estimated_completion_time"]


def test_faults_while_publishing_create_and_publish_each_study_once(
    session: Session, psettings: Settings, pemu: ProlificEmulator
) -> None:
    pid = make_project(
        session, provider="prolific", n_gold=0, n_quiz=0, gold_per_hit=0, quiz_per_hit=0
    )
    pemu.faults.set(throttle_rate=0.3, fault_after_commit_rate=0.3, seed=7)
    batches = []
    from app.services.crowd.examples import existing_ids

    names = [[f"e{i}", f"e{i + 1}"] for i in range(0, 16, 2)]
    for group in names:
        mapping = existing_ids(session=session, project_id=pid, external_ids=group)
        result = publishing.publish_batch(
            session=session,
            settings=psettings,
            project_id=pid,
            groups=[([mapping[e] for e in group], 2)],
        )
        assert not result.failed
        batches.append(result.hits[0].batch)
    stats = dict(pemu.faults.stats)
    pemu.faults.clear()
    assert stats.get("throttle", 0) > 0 and stats.get("after_commit", 0) > 0
    with api(pemu) as c:
        studies = c.get("studies/").json()["results"]
        balance = c.get(f"workspaces/{c.get('workspaces/').json()['results'][0]['id']}/balance/")
    assert len(studies) == len(batches) == 8
    assert len({s["internal_name"] for s in studies}) == 8
    assert {s["status"] for s in studies} == {"ACTIVE"}
    reserved = balance.json()["total_balance"] - balance.json()["available_balance"]
    assert reserved == sum(s["total_cost"] for s in studies)  # each published exactly once


def _submit(
    web: TestClient, pemu: ProlificEmulator, study_id: str
) -> tuple[str, str, str, tuple[str, dict[str, str]]]:
    pid = pemu.new_participants(1)[0]
    sub = join(pemu, study_id, pid)
    action, fields = answer_page(web, sub["url"])
    done = web.post(action, data=fields, follow_redirects=False)
    assert done.status_code == 303, done.text
    return pid, sub["submission_id"], done.headers["location"], (action, fields)


def test_participant_flow_confirmed_only_and_forgeries(
    session: Session, psettings: Settings, pemu: ProlificEmulator, pweb: TestClient
) -> None:
    project_id = make_project(session, provider="prolific", n_quiz=0, quiz_per_hit=0)
    study = publish(session, psettings, project_id)
    assert study.study_id is not None
    # 1. A participant answers and completes on Prolific: counts after sync.
    pid, sub_id, location, (action1, fields1) = _submit(pweb, pemu, study.study_id)
    assert location == f"{pemu.url}/submissions/complete?cc={study.completion_code}"
    assert n_answers(session, project_id) == 0  # held until Prolific confirms
    assert complete(pemu, location, pid).status_code == 200
    # 2. A participant answers but never completes on Prolific: never counts.
    _submit(pweb, pemu, study.study_id)
    # 3. A forged session id (no Prolific submission behind it) may answer, but never counts.
    forged_pid = pemu.new_participants(1)[0]
    action, fields = answer_page(pweb, join_url(study, forged_pid, "0" * 24))
    assert pweb.post(action, data=fields, follow_redirects=False).status_code == 303
    # 4. Completing on Prolific without answering here: never counts, a return is requested.
    stranger = pemu.new_participants(1)[0]
    join(pemu, study.study_id, stranger)
    complete(pemu, location, stranger)
    out = sync.sync_project(session=session, settings=psettings, project_id=project_id)
    per_set = publishing.get_hit(session=session, hit_id=_hit_of(session, sub_id)).n_questions
    assert n_answers(session, project_id) == per_set
    assert out.review is not None and out.review.approved == 1
    assert any("return requested" in p for p in out.problems)
    with api(pemu) as c:
        assert c.get(f"submissions/{sub_id}/").json()["status"] == "APPROVED"
    # 5. Double completion and double submit change nothing.
    complete(pemu, location, pid)
    assert (
        "Finish on Prolific"
        in pweb.get(local(join_url(study, pid, sub_id)), follow_redirects=True).text
    )
    again = pweb.post(action1, data={**fields1, **{k: "1" for k in fields1 if k.startswith("ex_")}})
    assert again.status_code == 409
    sync.sync_project(session=session, settings=psettings, project_id=project_id)
    assert n_answers(session, project_id) == per_set
    # 6. The same participant cannot take the study twice, nor another's session.
    twice = join_url(study, pid, "f" * 24)
    assert pweb.get(local(twice)).status_code == 409
    theirs = join_url(study, pemu.new_participants(1)[0], sub_id)
    assert pweb.get(local(theirs)).status_code == 403


def join_url(study: ProlificStudy, pid: str, session_id: str) -> str:
    return (
        f"http://testserver/prolific/{study.id}/start?PROLIFIC_PID={pid}"
        f"&STUDY_ID={study.study_id}&SESSION_ID={session_id}"
    )


def _hit_of(session: Session, session_id: str) -> int:
    from app.models import ProlificSession

    row = session.get(ProlificSession, session_id)
    assert row is not None
    return row.hit_id


def test_bonus_paid_once_and_block_uses_group(
    session: Session, psettings: Settings, pemu: ProlificEmulator, pweb: TestClient
) -> None:
    project_id = make_project(session, provider="prolific", n_quiz=0, quiz_per_hit=0)
    study = publish(session, psettings, project_id)
    assert study.study_id is not None
    pid, sub_id, location, _ = _submit(pweb, pemu, study.study_id)
    complete(pemu, location, pid)
    sync.sync_project(session=session, settings=psettings, project_id=project_id)
    for _ in range(2):
        review.bonus(
            session=session,
            settings=psettings,
            assignment_id=sub_id,
            amount="0.50",
            reason="Great answers",
        )
    with api(pemu) as c:
        assert c.get(f"submissions/{sub_id}/").json()["bonus_payments"] == [50]
    _, totals = __import__("app.services.ledger", fromlist=["ledger"]).ledger(
        session=session, project_id=project_id
    )
    fee = Decimal("0.50") * Decimal("0.3333")
    assert totals["bonus"] == pytest.approx(float(Decimal("0.50") + round(fee, 2)))
    review.set_block(
        session=session,
        settings=psettings,
        worker_id=prolific.worker_id(pid),
        blocked=True,
        reason="x",
        project_id=project_id,
    )
    with api(pemu) as c:
        groups = c.get("participant-groups/").json()["results"]
        members = c.get(f"participant-groups/{groups[0]['id']}/participants/").json()["results"]
    assert [m["participant_id"] for m in members] == [pid]
    # The next study excludes the participant (already answered, and blocked).
    publish(session, psettings, project_id)
    with api(pemu) as c:
        latest = c.get("studies/").json()["results"][-1]
        filters = c.get(f"studies/{latest['id']}/").json()["filters"]
    assert {"filter_id": "custom_blocklist", "selected_values": [pid]} in filters
    assert any(f["filter_id"] == "participant_group_blocklist" for f in filters)
    refused = httpx.post(
        f"{pemu.url}/_emu/studies/{latest['id']}/join", json={"participant_id": pid}
    )
    assert refused.status_code == 403


def _finished(
    session: Session, psettings: Settings, pemu: ProlificEmulator, pweb: TestClient, n: int
) -> tuple[int, list[str]]:
    project_id = make_project(session, provider="prolific", n_quiz=0, quiz_per_hit=0)
    study = publish(session, psettings, project_id)
    assert study.study_id is not None
    subs = []
    for _ in range(n):
        pid, sub_id, location, _ = _submit(pweb, pemu, study.study_id)
        complete(pemu, location, pid)
        subs.append(sub_id)
    return project_id, subs


def test_policy_reject_uses_category_and_long_message_and_ledger(
    session: Session, psettings: Settings, pemu: ProlificEmulator, pweb: TestClient
) -> None:
    project_id, (sub_id,) = _finished(session, psettings, pemu, pweb, 1)
    # The review policy rejects only on evidence spanning two HITs (app/crowd/review_rules.py),
    # so the rejection here is the requester's own, through the same review service.
    sync.sync_project(
        session=session, settings=psettings, project_id=project_id, apply_review=False
    )
    review.reject(
        session=session,
        settings=psettings,
        assignment_id=sub_id,
        feedback="Too many hidden checks answered wrong.",
    )
    with api(pemu) as c:
        assert c.get(f"submissions/{sub_id}/").json()["status"] == "REJECTED"
    state = pemu.service.store["submissions"][sub_id]["rejection"]
    assert state["category"] == "FAILED_CHECK" and len(state["message"]) >= 100
    entries, totals = ledger_of(session, project_id)
    hit = publishing.list_hits(session=session, project_id=project_id)[0]
    place = Decimal(str(hit.reward)) + round(Decimal(str(hit.reward)) * Decimal("0.3333"), 2)
    assert totals["release"] == pytest.approx(-float(place))
    assert any(e.kind == "reserve" and "Prolific fee" in e.note for e in entries)


def test_bulk_approve_and_pay_reply_lost(
    session: Session, psettings: Settings, pemu: ProlificEmulator, pweb: TestClient
) -> None:
    project_id, subs = _finished(session, psettings, pemu, pweb, 3)
    sync.sync_project(
        session=session, settings=psettings, project_id=project_id, apply_review=False
    )
    assert prolific.bulk_approve(session=session, settings=psettings, project_id=project_id) == 3
    assert prolific.bulk_approve(session=session, settings=psettings, project_id=project_id) == 0
    with api(pemu) as c:
        statuses = {c.get(f"submissions/{s}/").json()["status"] for s in subs}
    assert statuses == {"APPROVED"}
    _, totals = ledger_of(session, project_id)
    hit = publishing.list_hits(session=session, project_id=project_id)[0]
    place = Decimal(str(hit.reward)) + round(Decimal(str(hit.reward)) * Decimal("0.3333"), 2)
    assert totals["paid"] == pytest.approx(float(place * 3))
    # Pay is not idempotent: a lost reply is resolved by reading bonus_payments, never re-paying.
    pemu.faults.fail_next("POST /bulk-bonus-payments/{id}/pay/", "after_commit")
    review.bonus(
        session=session, settings=psettings, assignment_id=subs[0], amount="0.25", reason="Thanks"
    )
    review.bonus(
        session=session, settings=psettings, assignment_id=subs[0], amount="0.25", reason="Thanks"
    )
    with api(pemu) as c:
        assert c.get(f"submissions/{subs[0]}/").json()["bonus_payments"] == [25]


def test_client_follows_pagination(psettings: Settings, pemu: ProlificEmulator) -> None:
    from app.prolific.client import make_prolific_client
    from tests.app.prolific.test_emulator import published

    with api(pemu) as c:
        sid = published(c, total_available_places=7)["id"]
    for _ in range(7):
        join(pemu, sid)
    client = make_prolific_client(psettings)
    rows = list(client.paginate(f"studies/{sid}/submissions/", {"limit": 2}))
    assert len({r["id"] for r in rows}) == 7


def ledger_of(session: Session, project_id: int) -> tuple[list, dict[str, float]]:  # type: ignore[type-arg]
    from app.services.ledger import ledger

    return ledger(session=session, project_id=project_id)
