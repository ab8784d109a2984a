"""The worker task page: preview, quiz feedback, submission bound to assignment/HIT/worker, the
post to externalSubmit, and every refusal (4xx, nothing stored)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Answer, Assignment, Example, GoldQuestion, HitAssignment, Worker
from app.mturk.client import MTurkClient
from app.mturk.emulator import Emulator
from app.services import publishing
from tests.app.hits.conftest import (
    QUIZ_EXPLANATION,
    frame_url,
    hidden,
    local,
    make_project,
    mturk_assignment,
    mturk_hits,
    n_answers,
    project_hits,
    radios,
)
from tests.app.hits.conftest import (
    Worker as SimWorker,
)
from tests.app.html_forms import parse_forms


def _published(session: Session, settings: Settings, **kw: object) -> tuple[int, list]:
    pid = make_project(session, **kw)  # type: ignore[arg-type]
    publishing.publish_batch(session=session, settings=settings, project_id=pid)
    return pid, project_hits(session, pid)


def test_preview_shows_task_but_cannot_submit_and_hides_gold(
    session: Session, hsettings: Settings, emu: Emulator, web: TestClient
) -> None:
    pid, hits = _published(session, hsettings)
    hit = hits[0]
    preview = emu.preview_url(str(hit.mturk_hit_id))
    assert preview is not None and "assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE" in preview
    page = web.get(local(preview))
    assert page.status_code == 200
    form = next(f for f in parse_forms(page.text) if f["action"].endswith("/submit"))
    submit = [i for i in form["inputs"] if i["tag"] == "button"]
    assert submit and all("disabled" in b for b in submit)
    boxes = [i for i in form["inputs"] if i.get("type") == "radio"]
    assert len(boxes) == 4 * hit.n_questions and all("disabled" in b for b in boxes)
    # Accessible: a fieldset/legend per question and a label for every radio.
    assert page.text.count("<fieldset") == hit.n_questions
    assert page.text.count("<legend>") == hit.n_questions
    for box in boxes:
        assert f'<label for="{box["id"]}">' in page.text
    # No gold: labels, explanations, roles, known labels never reach the browser.
    text = page.text.lower()
    assert QUIZ_EXPLANATION.lower() not in text
    for word in ("gold", "true_label", "known_label", "hidden_check", "training_quiz"):
        assert word not in text
    # Only the visible features are shown.
    assert "priors" in text and "example_id" not in text
    # A submit built from the preview page is refused.
    refused = web.post(form["action"], data=hidden(form) | dict.fromkeys(radios(form), "2"))
    assert refused.status_code in (400, 403, 422)
    assert n_answers(session, pid) == 0


def test_worker_quiz_feedback_submit_and_external_submit(
    session: Session, hsettings: Settings, emu: Emulator, mt: MTurkClient, web: TestClient
) -> None:
    pid, hits = _published(session, hsettings)
    hit = hits[0]
    w = SimWorker(web, emu, "worker_7")
    assert w.open(hit).status_code == 200
    assert "Training quiz" in w.page and not any(
        f["action"].endswith("/submit") for f in parse_forms(w.page)
    )
    # Answering the quiz shows right/wrong and the explanation, then the task.
    quiz_example = session.get(Example, int(radios(w.form("/quiz"))[0].split("_")[1]))
    assert quiz_example is not None
    assert w.do_quiz("4").status_code == 200
    verdict = "Right" if quiz_example.known_label == 1 else "Wrong"
    assert re.search(rf"<strong>{verdict}:</strong>", w.page)
    assert QUIZ_EXPLANATION in w.page
    # Submit all answers: stored bound to assignment, HIT and worker.
    data = w.answers("3")
    response = w.submit(data)
    assert response.status_code == 200
    assignment = session.scalar(select(Assignment).where(Assignment.external_id == w.assignment_id))
    assert assignment is not None and assignment.status == "submitted"
    ha = session.get(HitAssignment, assignment.id)
    assert ha is not None and ha.hit_id == hit.id and ha.worker_external_id == w.id
    worker = session.get(Worker, assignment.worker_id)
    assert worker is not None and worker.external_id == w.id
    stored = session.scalars(select(Answer).where(Answer.assignment_id == assignment.id)).all()
    task_and_gold = [i["example_id"] for i in hit.items if i["role"] != "quiz"]
    assert sorted(a.example_id for a in stored) == sorted(task_and_gold)
    assert {a.value for a in stored} == {3} and {a.worker_id for a in stored} == {worker.id}
    # Gold checks are scored on the assignment (value 3 is "positive").
    labels = dict(
        session.execute(
            select(GoldQuestion.example_id, GoldQuestion.label).where(
                GoldQuestion.project_id == pid, GoldQuestion.kind == "hidden_check"
            )
        ).all()
    )
    gold_in_hit = [e for e in task_and_gold if e in labels]
    assert ha.gold_total == len(gold_in_hit)
    assert ha.gold_correct == sum(labels[e] == 1 for e in gold_in_hit)
    # The page hands the answers to MTurk's externalSubmit; the emulator records them.
    final = w.external_submit(response)
    assert final.status_code == 200
    mturk = mturk_assignment(mt, w.assignment_id)
    assert mturk["AssignmentStatus"] == "Submitted" and "<FreeText>3</FreeText>" in mturk["Answer"]


def test_refusals_are_4xx_and_change_nothing(
    session: Session,
    hsettings: Settings,
    emu: Emulator,
    web: TestClient,
    admin_headers: dict[str, str],
) -> None:
    pid, hits = _published(session, hsettings, n_quiz=0, quiz_per_hit=0)
    hit = hits[0]
    alice, bob = SimWorker(web, emu, "alice"), SimWorker(web, emu, "bob")
    assert alice.open(hit).status_code == 200
    good = alice.answers("2")

    def refused(data: dict[str, str], status: int | tuple[int, ...]) -> None:
        before = n_answers(session, pid)
        r = web.post(alice.form("/submit")["action"], data=data)
        assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
        assert n_answers(session, pid) == before

    field = radios(alice.form("/submit"))[0]
    for bad in ("5", "0", "-1", "abc", "2.0", ""):
        refused(good | {field: bad}, 422)
    refused({k: v for k, v in good.items() if k != field}, 422)  # a question left out
    refused(good | {"ex_999999": "2"}, 422)  # a question of another task
    refused(good | {"token": "forged" + good["token"][6:]}, 403)
    refused(good | {"workerId": bob.id}, 403)  # altered form: the token binds the worker
    refused(good | {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}, (400, 422))
    # Bob opens the task with Alice's assignment id: refused, nothing bound to him.
    frame = frame_url(hsettings, emu, hit, alice.assignment_id, bob.id)
    assert web.get(local(frame)).status_code == 403
    # Unknown task, task/HIT mismatch.
    assert web.get(local(frame).replace(f"/task/{hit.id}?", "/task/999999?")).status_code == 404
    wrong_hit = local(frame).replace(str(hit.mturk_hit_id), "3" * 30)
    assert web.get(wrong_hit).status_code == 404
    assert web.post("/task/999999/submit", data=good).status_code == 404
    # The real submission works once; a second submit changes nothing.
    first = web.post(alice.form("/submit")["action"], data=good)
    assert first.status_code == 200
    after = n_answers(session, pid)
    assert after == sum(1 for i in hit.items if i["role"] != "quiz")
    refused(good | {field: "4"}, 409)
    assert n_answers(session, pid) == after
    # Expired HIT: page and post refused.
    r = web.post(f"/api/v1/hits/{hits[1].id}/expire", headers=admin_headers)
    assert r.status_code == 200 and r.json()["mturk_status"] in ("Reviewable", "Unassignable")
    carol = SimWorker(web, emu, "carol")
    frame = frame_url(hsettings, emu, hits[1], "A" * 30, carol.id)
    assert web.get(local(frame)).status_code == 410
    assert n_answers(session, pid) == after


def test_link_provider_invites_panel_ids_and_completion_codes(
    session: Session,
    hsettings: Settings,
    emu: Emulator,
    mt: MTurkClient,
    web: TestClient,
    admin_headers: dict,
) -> None:
    pid = make_project(session, provider="link", n_quiz=0, quiz_per_hit=0, max_answers=2)
    r = web.post(f"/api/v1/projects/{pid}/hits/publish", json={}, headers=admin_headers)
    assert r.status_code == 200, r.text
    assert mturk_hits(mt) == []  # the link provider never calls MTurk
    hit = r.json()["hits"][0]
    assert hit["provider"] == "link" and hit["state"] == "published" and hit["endpoint_url"] is None
    invites = web.post(
        f"/api/v1/hits/{hit['id']}/invites", json={"workers": ["ann"]}, headers=admin_headers
    ).json()
    page = web.get(local(invites["invites"]["ann"]))
    assert page.status_code == 200
    form = next(f for f in parse_forms(page.text) if f["action"].endswith("/submit"))
    done = web.post(form["action"], data=hidden(form) | dict.fromkeys(radios(form), "4"))
    assert done.status_code == 200
    code = re.search(r'id="completion-code">([A-Z2-7]+)<', done.text)
    assert code is not None
    check = web.get(f"/api/v1/projects/{pid}/completions/{code.group(1)}", headers=admin_headers)
    assert check.status_code == 200 and check.json()["worker_id"] == "link:ann"
    # Reopening shows the same code and stores nothing more.
    before = n_answers(session, pid)
    again = web.get(local(invites["invites"]["ann"]))
    assert code.group(1) in again.text and n_answers(session, pid) == before
    # A panel link: the panel appends its own id; a tampered key or invite is refused.
    panel = invites["panel_url"]
    assert web.get(local(panel + "P-123")).status_code == 200
    assert web.get(local(panel.replace("k=", "k=x") + "P-123")).status_code == 403
    assert web.get(local(invites["invites"]["ann"]) + "x").status_code == 403
    # Two answers per example: a third worker finds the task full.
    page_b = web.get(local(panel + "P-123"))
    form_b = next(f for f in parse_forms(page_b.text) if f["action"].endswith("/submit"))
    assert web.post(form_b["action"], data=hidden(form_b) | dict.fromkeys(radios(form_b), "1"))
    assert web.get(local(panel + "P-999")).status_code == 409
