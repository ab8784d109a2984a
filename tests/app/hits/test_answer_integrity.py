"""Answer integrity against hostile workers, each attack reproduced as a test.

1. Forged MTurk identities: a task URL with an assignment id MTurk never issued is stored
   unconfirmed and never counted (labels, worker quality, HIT counts, review and payments); sync
   discards it; an honest worker going through the real accept flow gets every answer counted.
2. Gold identifiable from the page: anonymous previews of every HIT, and one worker doing every
   HIT, give the "repeated id / far from the median" attack nothing to work with.
3. Link identities: a panel id equal to an invited worker's name is another identity (its own
   assignment, slot and completion code); invite tokens are opaque.
"""

from __future__ import annotations

import base64
import re
import statistics
from collections import Counter
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Answer, Assignment, GoldQuestion, Hit, Project
from app.mturk.emulator import Emulator
from app.services import publishing
from app.services.crowd.labels import compute_labels, load_answer_table
from app.services.recruiting import sync
from app.services.recruiting.links import task_url
from tests.app.hits.conftest import (
    Worker as SimWorker,
)
from tests.app.hits.conftest import (
    example_of,
    hidden,
    local,
    make_project,
    n_answers,
    project_hits,
    radios,
)
from tests.app.html_forms import parse_forms


def _published(session: Session, settings: Settings, **kw: object) -> tuple[int, list[Hit]]:
    pid = make_project(session, **kw)  # type: ignore[arg-type]
    publishing.publish_batch(session=session, settings=settings, project_id=pid)
    return pid, project_hits(session, pid)


def _forged_url(settings: Settings, emu: Emulator, hit: Hit, n: int) -> str:
    query = urlencode(
        {
            "assignmentId": f"FORGEDASSIGNMENT{n:04d}",
            "hitId": hit.mturk_hit_id,
            "workerId": f"AFORGED{n}",
            "turkSubmitTo": emu.url,
        }
    )
    return f"{task_url(settings, hit.id)}?{query}"


def _counted_workers(session: Session, pid: int) -> set[int]:
    return {int(w) for w in load_answer_table(session=session, project_id=pid)["worker_id"]}


# -- 1. forged MTurk identities ---------------------------------------------------------------
def test_forged_mturk_assignments_are_never_counted_and_sync_discards_them(
    session: Session,
    hsettings: Settings,
    emu: Emulator,
    web: TestClient,
    admin_headers: dict[str, str],
) -> None:
    pid, hits = _published(session, hsettings, n_quiz=0, quiz_per_hit=0)
    hit = hits[0]
    per = sum(1 for i in hit.items if i["role"] != "quiz")
    # An honest worker first: the real accept flow (emulator accept, page, submit, externalSubmit).
    honest = SimWorker(web, emu, "honest")
    honest.complete(hit, "4")
    # Six forged "workers" open the task with ids MTurk never issued and answer everything "1".
    for n in range(1, 7):
        page = web.get(local(_forged_url(hsettings, emu, hit, n)))
        assert page.status_code == 200, page.text
        form = next(f for f in parse_forms(page.text) if f["action"].endswith("/submit"))
        done = web.post(form["action"], data=hidden(form) | dict.fromkeys(radios(form), "1"))
        assert done.status_code == 200, done.text
        # The marketplace refuses the forged id, as MTurk does.
        back = parse_forms(done.text)[0]
        refused = httpx.post(back["action"], data=hidden(back), timeout=30)
        assert refused.status_code == 404, refused.text
    assert n_answers(session, pid) == 7 * per  # stored (flagged), but...
    # ...nothing unconfirmed counts: not the honest one before MTurk confirmed it, nor the forged.
    assert _counted_workers(session, pid) == set()
    view = web.get(f"/api/v1/hits/{hit.id}", headers=admin_headers).json()
    assert view["n_submitted"] == 0 and view["n_unconfirmed"] == 7
    listed = web.get(f"/api/v1/hits/{hit.id}/assignments", headers=admin_headers).json()
    assert {a["confirmation"] for a in listed} == {"unconfirmed"}
    assert all(a["n_answers"] == 0 and a["n_unconfirmed_answers"] == per for a in listed)
    forged_id = "FORGEDASSIGNMENT0001"
    r = web.post(f"/api/v1/assignments/{forged_id}/approve", headers=admin_headers)
    assert r.status_code == 409 and "confirmed" in r.text  # never paid
    # Sync: MTurk lists the honest assignment (confirmed) and has no pending one, so the six
    # forged ones cannot exist there: discarded, their answers deleted, nothing paid for them.
    out = sync.sync_project(session=session, settings=hsettings, project_id=pid)
    assert out.assignments_confirmed == 1 and out.assignments_discarded == 6
    assert out.review is not None and out.review.approved == 1
    assert n_answers(session, pid) == per
    honest_row = session.scalar(
        select(Assignment).where(Assignment.external_id == honest.assignment_id)
    )
    assert honest_row is not None and honest_row.confirmation == "confirmed"
    assert _counted_workers(session, pid) == {honest_row.worker_id}
    values = session.scalars(select(Answer.value).where(Answer.assignment_id == honest_row.id))
    assert list(values) == [4] * per  # every honest answer counted, none of the forged "1"s
    # The honest worker answers "4" to every question, which app.crowd.quality filters as
    # constant answering; this test is about forged ids, so the pattern checks are off here.
    project = session.get(Project, pid)
    assert project is not None
    project.worker_filter = {**project.worker_filter, "min_pattern_answers": 0}
    session.commit()
    labels = compute_labels(session=session, project_id=pid)
    assert len(labels) == per and set(labels["answers_used"]) == {1}  # the honest answer only
    assert set(labels["label"]) == {1}  # "4" everywhere; the forged "1"s flipped nothing
    view = web.get(f"/api/v1/hits/{hit.id}", headers=admin_headers).json()
    assert view["n_submitted"] == 1 and view["n_unconfirmed"] == 0
    quality = web.get(f"/api/v1/projects/{pid}/workers", headers=admin_headers).json()
    assert [w["worker_id"] for w in quality["data"]] == [honest.id]
    # A discarded id is refused from then on.
    assert web.get(local(_forged_url(hsettings, emu, hit, 1))).status_code == 403


def test_honest_worker_between_page_and_mturk_submit_is_kept_then_counted(
    session: Session, hsettings: Settings, emu: Emulator, web: TestClient
) -> None:
    pid, hits = _published(session, hsettings, n_quiz=0, quiz_per_hit=0)
    hit = hits[0]
    per = sum(1 for i in hit.items if i["role"] != "quiz")
    w = SimWorker(web, emu, "slow")
    assert w.open(hit).status_code == 200
    response = w.submit(w.answers("3"))
    assert response.status_code == 200
    # Sync runs before the worker's browser reached externalSubmit: MTurk shows the assignment as
    # pending, so it is neither confirmed nor discarded.
    first = sync.sync_project(
        session=session, settings=hsettings, project_id=pid, apply_review=False
    )
    assert first.assignments_unconfirmed == 1 and first.assignments_discarded == 0
    assert n_answers(session, pid) == per and _counted_workers(session, pid) == set()
    assert w.external_submit(response).status_code == 200
    second = sync.sync_project(
        session=session, settings=hsettings, project_id=pid, apply_review=False
    )
    assert second.assignments_confirmed == 1 and second.answers_new == 0
    stored = session.scalars(select(Answer).where(Answer.project_id == pid)).all()
    assert len(stored) == per and all(a.confirmed for a in stored)
    assert len(load_answer_table(session=session, project_id=pid)) == per


def test_forged_id_reusing_a_real_assignment_of_another_worker_is_discarded(
    session: Session, hsettings: Settings, emu: Emulator, web: TestClient
) -> None:
    pid, hits = _published(session, hsettings, n_quiz=0, quiz_per_hit=0)
    hit = hits[0]
    per = sum(1 for i in hit.items if i["role"] != "quiz")
    real = emu.worker_accept(str(hit.mturk_hit_id), "AREALWORKER1")
    # The attacker learnt the real assignment id and opens it first under their own worker id.
    query = parse_qs(urlsplit(real["frameUrl"]).query)
    forged = f"{task_url(hsettings, hit.id)}?" + urlencode(
        {
            "assignmentId": real["assignmentId"],
            "hitId": hit.mturk_hit_id,
            "workerId": "AATTACKER1",
            "turkSubmitTo": query["turkSubmitTo"][0],
        }
    )
    page = web.get(local(forged))
    form = next(f for f in parse_forms(page.text) if f["action"].endswith("/submit"))
    assert web.post(form["action"], data=hidden(form) | dict.fromkeys(radios(form), "1"))
    # MTurk's record: that assignment is AREALWORKER1's, submitted with its own answers.
    names = [n for n in radios(form)]
    emu.worker_submit(real["assignmentId"], dict.fromkeys(names, "4"))
    out = sync.sync_project(session=session, settings=hsettings, project_id=pid, apply_review=False)
    assert out.assignments_discarded == 1
    row = session.scalar(select(Assignment).where(Assignment.external_id == real["assignmentId"]))
    assert row is not None and row.confirmation == "confirmed"
    values = list(session.scalars(select(Answer.value).where(Answer.assignment_id == row.id)))
    assert values == [4] * per  # the attacker's "1"s are gone


def test_emulator_refuses_assignment_ids_it_did_not_issue(
    emu: Emulator, hsettings: Settings
) -> None:
    from app.mturk.client import make_mturk_client
    from app.mturk.errors import MTurkRequestError

    mt = make_mturk_client(hsettings)
    unknown = httpx.post(
        f"{emu.url}/mturk/externalSubmit",
        data={"assignmentId": "FORGEDASSIGNMENT0001", "q1": "1"},
        timeout=30,
    )
    assert unknown.status_code == 404
    try:
        mt.get_assignment("FORGEDASSIGNMENT0001")
    except MTurkRequestError as exc:
        assert "does not exist" in str(exc)
    else:  # pragma: no cover - the assertion below reports it
        raise AssertionError("GetAssignment accepted an id MTurk never issued")


# -- 2. gold identifiable from the page -------------------------------------------------------
# A name that carries an id: a word, an underscore, digits (``ex_1234``). An opaque 20-character
# HMAC name matches this with negligible probability.
_ID_NAME = re.compile(r"^[a-z]+_(\d{1,12})$")


def _guess_gold(pages: list[str]) -> set[str]:
    """The attack: read every radio's name (and id), take the numbers in it as example ids;
    ids that repeat across HITs, or sit far from their HIT's median, are guessed gold. Also any
    question whose shown facts repeat across pages."""
    per_page: list[list[int]] = []
    names_seen: Counter[str] = Counter()
    facts_seen: Counter[str] = Counter()
    for page in pages:
        ids: list[int] = []
        names = set()
        for form in parse_forms(page):
            for i in form["inputs"]:
                if i.get("type") == "radio" and not i.get("name", "").startswith("quiz_"):
                    names.add(i["name"])
        for name in names:
            names_seen[name] += 1
            match = _ID_NAME.match(name)
            if match:
                ids.append(int(match.group(1)))
        for fs in re.findall(r'<dl class="features">(.*?)</dl>', page, re.S):
            facts_seen[re.sub(r"\s+", " ", fs)] += 1
        per_page.append(ids)
    guesses = {f"name:{n}" for n, c in names_seen.items() if c > 1}
    guesses |= {f"facts:{f}" for f, c in facts_seen.items() if c > 1}
    counts = Counter(i for ids in per_page for i in ids)
    for ids in per_page:
        if not ids:
            continue
        med = statistics.median(ids)
        spread = max(statistics.median(abs(i - med) for i in ids), 1)
        guesses |= {f"id:{i}" for i in ids if counts[i] > 1 or abs(i - med) > 5 * spread}
    return guesses


def test_gold_cannot_be_told_from_previews_or_from_the_pages_one_worker_sees(
    session: Session, hsettings: Settings, emu: Emulator, web: TestClient
) -> None:
    pid, hits = _published(session, hsettings, n_quiz=0, quiz_per_hit=0)
    assert len(hits) >= 4
    gold = set(
        session.scalars(select(GoldQuestion.example_id).where(GoldQuestion.project_id == pid))
    )
    slots = Counter(i["example_id"] for h in hits for i in h.items if i["role"] == "gold")
    assert max(slots.values()) > 1  # the HITs do share gold (a cyclic pool): the attack's premise
    # Anonymous previews of every HIT (twice each).
    previews = []
    for hit in hits:
        for _ in range(2):
            url = emu.preview_url(str(hit.mturk_hit_id))
            assert url is not None
            page = web.get(local(url))
            assert page.status_code == 200
            previews.append(page.text)
    assert _guess_gold(previews) == set()
    for page in previews:
        assert '<dl class="features">' not in page  # no example is shown before accepting
    # One worker does every HIT: no gold shown twice, nothing repeats, names say nothing.
    w = SimWorker(web, emu, "curious")
    pages, shown = [], []
    for hit in hits:
        assert w.open(hit).status_code == 200
        pages.append(w.page)
        names = radios(w.form("/submit"))
        shown += [example_of(session, n).id for n in names]
        assert w.submit(w.answers("2")).status_code == 200
    assert _guess_gold(pages) == set()
    assert len(shown) == len(set(shown)), "an example (a gold check) was shown twice"
    assert gold & set(shown)  # gold was asked, unknowingly
    # Two workers on one HIT: different field names and (here) a different order.
    a, b = SimWorker(web, emu, "order_a"), SimWorker(web, emu, "order_b")
    a.open(hits[0])
    b.open(hits[0])
    fa = [i["name"] for i in a.form("/submit")["inputs"] if i.get("type") == "radio"][::4]
    fb = [i["name"] for i in b.form("/submit")["inputs"] if i.get("type") == "radio"][::4]
    assert not set(fa) & set(fb)
    order_a = [example_of(session, n).id for n in fa]
    order_b = [example_of(session, n).id for n in fb]
    assert sorted(order_a) == sorted(order_b) and order_a != order_b


# -- 3. link provider identities --------------------------------------------------------------
def test_panel_id_is_not_an_invited_worker_and_invites_are_opaque(
    session: Session, hsettings: Settings, web: TestClient, admin_headers: dict[str, str]
) -> None:
    pid = make_project(session, provider="link", n_quiz=0, quiz_per_hit=0, max_answers=3)
    r = web.post(f"/api/v1/projects/{pid}/hits/publish", json={}, headers=admin_headers)
    hit = r.json()["hits"][0]
    email = "alice@example.org"
    invites = web.post(
        f"/api/v1/hits/{hit['id']}/invites", json={"workers": [email]}, headers=admin_headers
    ).json()
    invite = invites["invites"][email]
    token = parse_qs(urlsplit(invite).query)["invite"][0]
    assert "alice" not in token and base64.urlsafe_b64encode(b"alice").decode()[:6] not in token
    assert email not in invite
    # Asking again gives the same link; the token is refused on another project's task.
    again = web.post(
        f"/api/v1/hits/{hit['id']}/invites", json={"workers": [email]}, headers=admin_headers
    ).json()
    assert again["invites"][email] == invite
    # Alice submits through her invite and gets her code.
    page = web.get(local(invite))
    form = next(f for f in parse_forms(page.text) if f["action"].endswith("/submit"))
    done = web.post(form["action"], data=hidden(form) | dict.fromkeys(radios(form), "4"))
    code = re.search(r'id="completion-code">([A-Z2-7]+)<', done.text)
    assert code is not None
    # A panel participant whose id is alice's address: a separate identity, never her code.
    panel = invites["panel_url"]
    as_alice = web.get(local(panel + email))
    assert as_alice.status_code == 200
    assert code.group(1) not in as_alice.text
    form_p = next(f for f in parse_forms(as_alice.text) if f["action"].endswith("/submit"))
    assert hidden(form_p)["workerId"] != hidden(form)["workerId"]
    done_p = web.post(form_p["action"], data=hidden(form_p) | dict.fromkeys(radios(form_p), "1"))
    code_p = re.search(r'id="completion-code">([A-Z2-7]+)<', done_p.text)
    assert code_p is not None and code_p.group(1) != code.group(1)
    # Alice's answers are still hers (all 4); the panel id got its own assignment.
    rows = session.scalars(select(Assignment).where(Assignment.project_id == pid)).all()
    assert len(rows) == 2
    check = web.get(f"/api/v1/projects/{pid}/completions/{code.group(1)}", headers=admin_headers)
    assert check.json()["worker_id"] == f"link:{email}"
    check_p = web.get(
        f"/api/v1/projects/{pid}/completions/{code_p.group(1)}", headers=admin_headers
    )
    assert check_p.json()["worker_id"] == f"link:panel:{email}"
    # An invite name cannot reach into the panel namespace.
    bad = web.post(
        f"/api/v1/hits/{hit['id']}/invites", json={"workers": ["panel:x"]}, headers=admin_headers
    )
    assert bad.status_code == 422
