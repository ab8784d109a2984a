"""No wasted accepts: workers who must not take a top-up HIT cannot accept it on MTurk (a
service-maintained qualification, enforced by the emulator as MTurk does), and link
invitations are refused for them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import ExclusionQualification, Hit
from app.mturk.emulator import Emulator
from app.services import publishing
from app.services.crowd.answers import import_answers
from app.services.recruiting import sync
from tests.app.hits.conftest import Worker as SimWorker
from tests.app.hits.conftest import gold_value, make_project, project_hits, truth


def _top_up(
    session: Session,
    hsettings: Settings,
    web: TestClient,
    emu: Emulator,
    admin_headers: dict[str, str],
    *,
    exclude: bool,
) -> tuple[list[Hit], SimWorker, SimWorker]:
    """First HIT answered by a (right) and b (wrong, so filtered); the other HITs lapse; the
    top-up batch asks again for the first HIT's examples."""
    pid = make_project(session, n_quiz=0, quiz_per_hit=0, max_answers=2)
    r = web.patch(
        f"/api/v1/projects/{pid}/publish-settings",
        json={"hit_options": {"exclude_before_accept": exclude}},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hits = project_hits(session, pid)
    a, b = SimWorker(web, emu, "ta"), SimWorker(web, emu, "tb")
    a.complete(hits[0], lambda f: gold_value(session, f, right=True))
    b.complete(hits[0], lambda f: gold_value(session, f, right=False))
    for h in hits:
        web.post(f"/api/v1/hits/{h.id}/expire", headers=admin_headers)
    sync.sync_project(session=session, settings=hsettings, project_id=pid)
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    first = {i["example_id"] for i in hits[0].items if i["role"] == "task"}
    top_ups = [
        h
        for h in project_hits(session, pid)
        if h.batch > hits[0].batch and first & {i["example_id"] for i in h.items}
    ]
    assert top_ups
    return top_ups, a, b


def test_top_up_hits_exclude_workers_before_they_accept(
    session: Session,
    hsettings: Settings,
    emu: Emulator,
    web: TestClient,
    admin_headers: dict[str, str],
) -> None:
    top_ups, a, b = _top_up(session, hsettings, web, emu, admin_headers, exclude=True)
    refusals_after_accept = 0
    for hit in top_ups:
        # a already answered these examples, b is filtered: MTurk refuses the accept itself.
        for worker in (a, b):
            with pytest.raises(Exception, match="qualification"):
                emu.worker_accept(str(hit.mturk_hit_id), worker.id)
        # A new worker is welcome, and the page never says "already answered".
        fresh = SimWorker(web, emu, f"fresh{hit.id}")
        response = fresh.open(hit)
        refusals_after_accept += int("already answered" in response.text)
        assert response.status_code == 200
    assert refusals_after_accept == 0


def test_without_the_qualification_workers_accept_and_are_turned_away(
    session: Session,
    hsettings: Settings,
    emu: Emulator,
    web: TestClient,
    admin_headers: dict[str, str],
) -> None:
    """The old behaviour, kept as an option: the accept succeeds and the page refuses."""
    top_ups, a, _ = _top_up(session, hsettings, web, emu, admin_headers, exclude=False)
    response = a.open(top_ups[0])
    assert response.status_code == 409 and "already answered" in response.text


def test_link_invitations_are_refused_for_excluded_workers(
    session: Session, hsettings: Settings
) -> None:
    from app.services.task.page import worker_row

    pid = make_project(session, provider="link", n_quiz=0, quiz_per_hit=0)
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hit = project_hits(session, pid)[0]
    worker_row(session=session, external_id="link:mallory").blocked = True
    session.commit()
    out = publishing.link_invites(
        session=session, settings=hsettings, hit_id=hit.id, workers=["alice", "mallory"]
    )
    assert set(out["invites"]) == {"alice"}
    assert out["refused"] == {"mallory": "filtered or blocked in this project"}


def test_adaptive_budget_asks_n_min_first_then_only_unsettled_examples(
    session: Session,
    hsettings: Settings,
    emu: Emulator,
    web: TestClient,
    admin_headers: dict[str, str],
) -> None:
    pid = make_project(session, n_quiz=0, quiz_per_hit=0, max_answers=5)
    r = web.patch(
        f"/api/v1/projects/{pid}/publish-settings",
        json={"hit_options": {"adaptive_n_min": 2, "adaptive_c": 1.5}},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    plan = publishing.plan_batch(session=session, project_id=pid)
    assert {h.max_assignments for h in plan.hits} == {2}  # n_min, not N = 5
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hits = project_hits(session, pid)
    first = hits[0]
    # Two workers agree firmly (both right, "1" or "4") on the first HIT's examples: settled.
    for label in ("s1", "s2"):
        SimWorker(web, emu, label).complete(first, lambda f: gold_value(session, f, right=True))
    for h in hits:
        web.post(f"/api/v1/hits/{h.id}/expire", headers=admin_headers)
    sync.sync_project(session=session, settings=hsettings, project_id=pid)
    settled = {i["example_id"] for i in first.items if i["role"] == "task"}
    planned = {
        i["example_id"]: h.max_assignments
        for h in publishing.plan_batch(session=session, project_id=pid).hits
        for i in h.items
        if i["role"] == "task"
    }
    assert not settled & set(planned)  # settled: no more assignments
    assert planned and set(planned.values()) == {2}  # the rest: n_min again (none answered)


def test_abandoned_assignments_are_released_after_their_duration(
    session: Session, hsettings: Settings
) -> None:
    from datetime import UTC, datetime, timedelta

    from app.models import Assignment, HitAssignment
    from app.services.recruiting.exclusion import release_abandoned
    from app.services.task.page import worker_row

    pid = make_project(session, provider="link", n_quiz=0, quiz_per_hit=0)
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hit = project_hits(session, pid)[0]
    now = datetime.now(UTC)
    rows = {}
    for name, age, status in (
        ("old", 3700, "accepted"),
        ("new", 60, "accepted"),
        ("done", 9999, "submitted"),
    ):
        worker = worker_row(session=session, external_id=f"link:{name}")
        a = Assignment(
            project_id=pid,
            worker_id=worker.id,
            external_id=f"a-{name}",
            status=status,
            source="link",
            created_at=now - timedelta(seconds=age),
        )
        session.add(a)
        session.flush()
        session.add(
            HitAssignment(
                assignment_id=a.id,
                hit_id=hit.id,
                worker_external_id=worker.external_id,
                review="pending",
                submitted_via="link" if status == "submitted" else None,
            )
        )
        rows[name] = a.id
    session.commit()
    # The default assignment duration (1800 s) has passed for the old, unsubmitted one only.
    assert release_abandoned(session=session, project_id=pid, now=now) == 1
    left = set(session.scalars(select(Assignment.external_id).where(Assignment.project_id == pid)))
    assert left == {"a-new", "a-done"}
    assert session.get(HitAssignment, rows["old"]) is None


def test_publishing_skips_imported_worker_ids_mturk_cannot_hold(
    session: Session, hsettings: Settings, emu: Emulator
) -> None:
    """Answers imported from elsewhere (a CSV with worker ids such as ``w1``) make the HITs
    that ask those examples again top-ups, whose qualification keeps their workers out; but
    MTurk only knows ``^A[A-Z0-9]+$`` WorkerIds, so publishing must not fail on the others,
    and an MTurk-shaped worker who answered is still kept out."""
    pid = make_project(session, n_quiz=0, quiz_per_hit=0)
    rows = ["example_id,worker_id,value"]
    for worker in ("w1", "AIMPORTED1"):
        rows += [f"e{i},{worker},{3 if truth(i) else 2}" for i in range(6, 9)]
    import_answers(session=session, project_id=pid, data="\n".join(rows).encode())
    result = publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    assert not result.failed
    rows_q = session.scalars(
        select(ExclusionQualification).where(
            ExclusionQualification.project_id == pid, ExclusionQualification.purpose == "hit"
        )
    ).all()
    assert rows_q, "the HITs asking imported examples again are top-ups"
    assert all(q.workers == ["AIMPORTED1"] for q in rows_q)
    guarded = [h for h in project_hits(session, pid) if any(q.hit_id == h.id for q in rows_q)]
    with pytest.raises(Exception, match="qualification"):
        emu.worker_accept(str(guarded[0].mturk_hit_id), "AIMPORTED1")
