"""The project page's actions over HTTP on both databases, against the MTurk emulator (checked
through the requester API with boto3): publish after a dry-run plan and cost, sync, expire /
extend, the review queue (approve, reject with feedback, bonus, block; one and in bulk), the
marketplace's refusals as the page's notice, the spend ledger and quality summary, and every new
form refusing a missing or wrong CSRF value and a signed-out browser."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import HitAssignment, SpendEntry, Worker
from app.mturk.client import MTurkClient
from app.mturk.emulator import Emulator
from app.services import ledger, publishing
from app.services.recruiting import sync
from tests.app.admin.test_admin_pages import is_login_redirect, sign_in
from tests.app.hits.conftest import Worker as SimWorker
from tests.app.hits.conftest import (
    gold_value,
    make_project,
    mturk_assignment,
    mturk_blocks,
    mturk_bonuses,
    mturk_hits,
    project_hits,
)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def form_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field"
    return unescape(match.group(1))


def confirm(web: TestClient, pid: int, preview: str, csrf: str) -> object:
    return web.post(
        f"/admin/projects/{pid}/publish",
        data={
            "csrf": csrf,
            "max_assignments": form_value(preview, "max_assignments"),
            "max_per_hit": form_value(preview, "max_per_hit"),
            "expected_total": form_value(preview, "expected_total"),
            "expected_batch": form_value(preview, "expected_batch"),
        },
    )


def test_publish_shows_the_plan_and_cost_then_publishes_on_confirm(
    session: Session, hsettings: Settings, web: TestClient, mt: MTurkClient, admin_token: str
) -> None:
    pid = make_project(session)
    csrf = sign_in(web, admin_token, f"/admin/projects/{pid}")
    expected = publishing.plan_batch(session=session, project_id=pid, max_per_hit=2)
    session.rollback()
    preview = web.get(f"/admin/projects/{pid}/publish?max_per_hit=2")
    assert preview.status_code == 200
    page = text_of(preview.text)
    # The dry run's numbers, as the API computes them; nothing is published or reserved yet.
    assert f"${expected.total_cost} total, at most" in page
    assert f"{len(expected.hits)} HITs" in page
    assert f"Publish batch 1 for up to ${expected.total_cost}" in page
    assert mturk_hits(mt) == [] and project_hits(session, pid) == []
    assert ledger.committed(session=session, project_id=pid) == Decimal("0.00")

    # A confirmation for a different cost (the plan changed meanwhile) publishes nothing.
    stale = preview.text.replace(
        f'name="expected_total" value="{expected.total_cost}"', 'name="expected_total" value="0.01"'
    )
    r = confirm(web, pid, stale, csrf)
    assert r.status_code == 200 and r.history[0].status_code == 303
    assert "The plan changed since it was shown" in text_of(r.text)
    assert mturk_hits(mt) == []

    r = confirm(web, pid, preview.text, csrf)
    assert r.status_code == 200 and r.history[0].status_code == 303  # post/redirect/get
    assert r.url.path == f"/admin/projects/{pid}"
    page = text_of(r.text)
    assert f"Batch 1: {len(expected.hits)} HITs published; up to ${expected.total_cost}" in page
    on_mturk = mturk_hits(mt)
    assert len(on_mturk) == len(expected.hits)
    assert sorted(h["MaxAssignments"] for h in on_mturk) == sorted(
        h.max_assignments for h in expected.hits
    )
    assert ledger.committed(session=session, project_id=pid) == expected.total_cost
    assert f"${expected.total_cost:.2f} committed" in page
    # Reloading the page after the redirect publishes nothing more.
    assert web.get(r.url).status_code == 200 and len(mturk_hits(mt)) == len(on_mturk)


def test_budget_cap_refusal_is_the_pages_notice(
    session: Session, hsettings: Settings, web: TestClient, mt: MTurkClient, admin_token: str
) -> None:
    pid = make_project(session, budget_cap=0.50)
    csrf = sign_in(web, admin_token, f"/admin/projects/{pid}")
    preview = web.get(f"/admin/projects/{pid}/publish")
    assert "would pass the project's budget cap ($0.50" in text_of(preview.text)
    assert re.search(r"<button[^>]*disabled>Publish batch 1", preview.text)
    r = confirm(web, pid, preview.text, csrf)  # sent anyway (e.g. an old tab): refused
    assert r.status_code == 200
    page = text_of(r.text)
    assert "Refused:" in page and "past the project's budget cap of $0.50" in page
    assert mturk_hits(mt) == [] and project_hits(session, pid) == []


def _submitted_project(
    session: Session, hsettings: Settings, web: TestClient, emu: Emulator
) -> tuple[int, list[SimWorker]]:
    """A published project whose first HIT has three submissions: good (all gold right),
    bad (all gold wrong) and mid, pulled in by a sync that leaves reviewing to the admin."""
    pid = make_project(session, n_quiz=0, quiz_per_hit=0)
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hit = project_hits(session, pid)[0]
    workers = []
    for label, right in (("good", True), ("bad", False), ("mid", True)):
        w = SimWorker(web, emu, label)
        w.complete(hit, lambda f, right=right: gold_value(session, f, right=right))
        workers.append(w)
    return pid, workers


def test_sync_then_review_queue_approve_reject_bonus_block(
    session: Session,
    hsettings: Settings,
    web: TestClient,
    emu: Emulator,
    mt: MTurkClient,
    admin_token: str,
) -> None:
    pid, (good, bad, mid) = _submitted_project(session, hsettings, web, emu)
    # The page-side assignments are not on record as synced yet; sync from the page.
    csrf = sign_in(web, admin_token, f"/admin/projects/{pid}")
    r = web.post(f"/admin/projects/{pid}/sync", data={"csrf": csrf})
    assert r.status_code == 200 and r.history[0].status_code == 303
    page = text_of(r.text)
    assert re.search(r"Synced \d+ HITs: 3 assignments seen", page), page
    assert "Review policy" not in page  # "Sync now" leaves the decisions to the admin
    for w in (good, bad, mid):
        assert mturk_assignment(mt, w.assignment_id)["AssignmentStatus"] == "Submitted"

    queue = web.get(f"/admin/projects/{pid}/review")
    assert queue.status_code == 200
    html = queue.text
    for w in (good, bad, mid):
        assert w.assignment_id in html and w.id in html
    # The evidence: gold right/wrong by class, the answer distribution, the status reason.
    bad_card = text_of(html.split(f"<code>{bad.id}</code>")[1].split("</section>")[0])
    assert "Gold +1: right / wrong" in bad_card and "Answers 1 · 2 · 3 · 4" in bad_card
    assert "0 / 2" in bad_card  # 2 hidden gold in the HIT, both wrong
    good_card = text_of(html.split(f"<code>{good.id}</code>")[1].split("</section>")[0])
    assert "2 / 2" in good_card and "gold right" in good_card.lower()

    def act(data: dict[str, str]) -> str:
        r = web.post(f"/admin/projects/{pid}/review", data={"csrf": csrf, **data})
        assert r.status_code == 200 and r.history[0].status_code == 303
        assert r.url.path == f"/admin/projects/{pid}/review"
        return text_of(r.text)

    # One at a time: approve good; rejecting bad without feedback is refused on the page.
    assert f"Approved {good.assignment_id}." in act({"target": f"approve:{good.assignment_id}"})
    refused = act({"target": f"reject:{bad.assignment_id}"})
    assert "Refused:" in refused and "needs feedback" in refused
    assert mturk_assignment(mt, bad.assignment_id)["AssignmentStatus"] == "Submitted"
    note = "Both check questions were answered opposite to the known answer."
    assert "Rejected" in act({"target": f"reject:{bad.assignment_id}", "feedback": note})
    approved = mturk_assignment(mt, good.assignment_id)
    rejected = mturk_assignment(mt, bad.assignment_id)
    assert approved["AssignmentStatus"] == "Approved"
    assert rejected["AssignmentStatus"] == "Rejected" and rejected["RequesterFeedback"] == note
    # The marketplace's refusal (approving a rejected assignment) is a notice, not a 500.
    again = act({"target": f"approve:{bad.assignment_id}"})
    assert "Refused:" in again and "was rejected" in again

    # Bulk: bonus the approved one and approve the ticked rest.
    bonus = act(
        {
            "action": "bonus",
            "assignment": good.assignment_id,
            "bonus_amount": "0.25",
            "bonus_reason": "Careful work, thank you.",
        }
    )
    assert "Bonus of $0.25 sent" in bonus
    assert [b["BonusAmount"] for b in mturk_bonuses(mt, good.assignment_id)] == ["0.25"]
    assert "Approved" in act({"action": "approve", "assignment": [mid.assignment_id]})
    assert mturk_assignment(mt, mid.assignment_id)["AssignmentStatus"] == "Approved"
    assert "Nothing awaits review" in web.get(f"/admin/projects/{pid}/review").text
    everything = web.get(f"/admin/projects/{pid}/review?show=all").text
    assert note in unescape(everything) and "bonus $0.25" in everything

    # An id from outside the project is refused, not reviewed.
    assert "not a submitted assignment of this project" in act(
        {"action": "approve", "assignment": "3NOTFROMHERE"}
    )
    # A bulk review naming many unknown ids: each refused, the notice stays short.
    many = [f"3FAKE{i:04d}" for i in range(40)]
    r = web.post(
        f"/admin/projects/{pid}/review",
        data={"csrf": csrf, "action": "approve", "assignment": many},
    )
    assert r.status_code == 200 and len(r.history[0].headers["location"]) < 4000
    assert "… and 31 more" in text_of(r.text)
    # Block from the queue: on MTurk too.
    r = web.post(
        f"/admin/projects/{pid}/review/block",
        data={"csrf": csrf, "worker": bad.id, "reason": "answers opposite to gold"},
    )
    assert f"Worker {bad.id} is now blocked." in text_of(r.text)
    assert bad.id in mturk_blocks(mt)
    # The project page: counts from our records, the spend ledger, the quality summary.
    project = web.get(f"/admin/projects/{pid}").text
    spend = text_of(project.split('id="spend-h"')[1].split("</section>")[0])
    assert "paid" in spend and "release" in spend and "bonus" in spend
    quality = text_of(project.split('id="quality-h"')[1].split("</section>")[0])
    assert "blocked" in quality and "gold +1 answered right" in quality


def test_hit_rows_show_batch_and_this_services_review_counts(
    session: Session, hsettings: Settings, web: TestClient, emu: Emulator, admin_token: str
) -> None:
    """Defect: the HIT table showed batch 1's eleventh HIT as "1.10" (a decimal, it seemed)
    and "Completed 0" beside assignments the review policy had approved."""
    pid = make_project(session, n_examples=90, n_quiz=0, quiz_per_hit=0)
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    hits = project_hits(session, pid)
    assert len(hits) >= 11
    for label in ("a", "b", "c"):
        SimWorker(web, emu, label).complete(hits[0], "3")
    out = sync.sync_project(
        session=session, settings=hsettings, project_id=pid
    )  # approves all three by the policy
    assert out.review is not None and out.review.approved == 3
    sign_in(web, admin_token)
    html = web.get(f"/admin/projects/{pid}").text
    assert "1.10" not in text_of(html)
    assert "Batch 1, HIT 11" in html
    first = html.split("Batch 1, HIT 1 <")[1].split("</tr>")[0]
    # Max, Submitted, Approved, Rejected, Awaiting review
    assert re.findall(r'class="num">(\d+)</td>', first)[:5] == ["3", "3", "3", "0", "0"]


def test_expire_and_extend_hits_and_marketplace_refusals(
    session: Session, hsettings: Settings, web: TestClient, mt: MTurkClient, admin_token: str
) -> None:
    pid = make_project(session)
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    first, second = project_hits(session, pid)[:2]
    csrf = sign_in(web, admin_token, f"/admin/projects/{pid}")
    r = web.post(f"/admin/hits/{first.id}/extend", data={"csrf": csrf, "assignments": "2"})
    assert r.status_code == 200 and r.history[0].status_code == 303
    assert "extended: +2 assignments" in text_of(r.text)
    assert mt.get_hit(str(first.mturk_hit_id))["MaxAssignments"] == first.max_assignments
    session.refresh(first)
    assert mt.get_hit(str(first.mturk_hit_id))["MaxAssignments"] == first.max_assignments == 5
    before = mt.get_hit(str(first.mturk_hit_id))["Expiration"]
    web.post(f"/admin/hits/{first.id}/extend", data={"csrf": csrf, "hours": "24"})
    after = mt.get_hit(str(first.mturk_hit_id))["Expiration"]
    assert (after - before).total_seconds() >= 24 * 3600 - 5
    # MTurk refuses growing a HIT of fewer than 10 assignments to 10 or more: shown as notice.
    refused = web.post(f"/admin/hits/{first.id}/extend", data={"csrf": csrf, "assignments": "6"})
    assert refused.status_code == 200
    page = text_of(refused.text)
    assert "Refused:" in page and "CreateAdditionalAssignmentsForHIT" in page
    assert mt.get_hit(str(first.mturk_hit_id))["MaxAssignments"] == 5
    bad = web.post(f"/admin/hits/{first.id}/extend", data={"csrf": csrf, "hours": "abc"})
    assert "more hours must be a whole number" in text_of(bad.text)

    r = web.post(f"/admin/hits/{second.id}/expire", data={"csrf": csrf})
    assert "expired: no new worker can accept it" in text_of(r.text)
    assert mt.get_hit(str(second.mturk_hit_id))["Expiration"] <= datetime.now(UTC)
    assert web.post("/admin/hits/999999/expire", data={"csrf": csrf}).status_code == 404


def _new_forms(pid: int, hit_id: int, worker: str, aid: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"/admin/projects/{pid}/publish", {"expected_total": "1.00", "expected_batch": "1"}),
        (f"/admin/projects/{pid}/sync", {"apply_review": "1"}),
        (f"/admin/hits/{hit_id}/expire", {}),
        (f"/admin/hits/{hit_id}/extend", {"assignments": "1"}),
        (f"/admin/projects/{pid}/review", {"target": f"approve:{aid}"}),
        (f"/admin/projects/{pid}/review", {"action": "reject", "assignment": aid, "feedback": "x"}),
        (f"/admin/projects/{pid}/review/block", {"worker": worker, "reason": "r"}),
    ]


@pytest.mark.usefixtures("fast_retries")
def test_every_new_form_refuses_bad_csrf_and_signed_out_browsers(
    session: Session,
    hsettings: Settings,
    web: TestClient,
    emu: Emulator,
    mt: MTurkClient,
    admin_token: str,
) -> None:
    pid, (good, *_) = _submitted_project(session, hsettings, web, emu)
    hit = project_hits(session, pid)[0]
    forms = _new_forms(pid, hit.id, good.id, good.assignment_id)
    n_hits = len(mturk_hits(mt))
    expiry = mt.get_hit(str(hit.mturk_hit_id))["Expiration"]

    def unchanged() -> None:
        assert len(mturk_hits(mt)) == n_hits
        got = mt.get_hit(str(hit.mturk_hit_id))
        assert got["Expiration"] == expiry and got["MaxAssignments"] == hit.max_assignments
        assert mturk_assignment(mt, good.assignment_id)["AssignmentStatus"] == "Submitted"
        assert good.id not in mturk_blocks(mt)
        assert session.scalar(select(Worker.blocked).where(Worker.external_id == good.id)) is False
        reviews = session.scalars(select(HitAssignment.review)).all()
        assert set(reviews) == {"pending"}
        kinds = set(session.scalars(select(SpendEntry.kind)))
        assert kinds <= {"reserve"}

    for path, data in forms:  # signed out: to the sign-in page, nothing done
        assert is_login_redirect(web.post(path, data=data, follow_redirects=False)), path
    unchanged()
    csrf = sign_in(web, admin_token)
    wrong = csrf[:-1] + ("A" if csrf[-1] != "A" else "B")
    for path, data in forms:
        for bad in ({}, {"csrf": wrong}, {"csrf": ""}):
            r = web.post(path, data={**data, **bad})
            assert r.status_code == 403, (path, bad)
            assert "text/html" in r.headers["content-type"] and "out of date" in r.text
    unchanged()
    # The GET pages need sign-in too.
    other = TestClient(web.app)
    for path in (f"/admin/projects/{pid}/publish", f"/admin/projects/{pid}/review"):
        assert is_login_redirect(other.get(path, follow_redirects=False)), path


def test_forged_notices_are_ignored(
    session: Session, hsettings: Settings, web: TestClient, admin_token: str
) -> None:
    pid = make_project(session)
    sign_in(web, admin_token)
    forged = web.get(f"/admin/projects/{pid}?notice=eyJvIjpbIlBheSBtZSJdfQ.forged")
    assert forged.status_code == 200 and 'role="status"' not in forged.text
