"""A third recruiting provider is one module plus its registration (docs/ARCHITECTURE.md): the
fake market of :mod:`tests.app.recruiting.fake_provider`, registered the way
app/services/recruiting/__init__.py registers mturk, link and prolific (a factory in
``_FACTORIES``, its worker-id prefix in ``WORKER_PREFIXES``), goes through plan, publish (with a
crash and a resume), the task page, submit, sync and review, and no publishing, task-page or
crowd code is changed or patched for it.

The registry is the one list of provider names: the project is created through the HTTP API
under the fake provider's name (the API checks a name against the registry, an unregistered one
is a 422 naming the registered ones), and its project and HIT rows store on both databases (no
CHECK constraint lists the names since migration 0008_provider_registry).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict
from app.models import Answer, Assignment, Hit, Project, SpendEntry
from app.services import ledger, publishing, recruiting
from app.services.recruiting import review, sync
from tests.app.conftest import app_on, marketplace_settings
from tests.app.hits.conftest import (
    fill_project,
    gold_value,
    hidden,
    local,
    project_fields,
    project_hits,
    radios,
)
from tests.app.html_forms import parse_forms
from tests.app.recruiting import fake_provider
from tests.app.recruiting.fake_provider import FakeProvider


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    provider = FakeProvider()
    # The registration: what a new provider adds to app/services/recruiting/__init__.py.
    monkeypatch.setitem(recruiting._FACTORIES, fake_provider.NAME, lambda: provider)
    monkeypatch.setitem(recruiting.WORKER_PREFIXES, fake_provider.WORKER_PREFIX, fake_provider.NAME)
    recruiting.get.cache_clear()
    try:
        yield provider
    finally:
        recruiting.get.cache_clear()


@pytest.fixture
def fsettings(settings: Settings) -> Settings:
    return marketplace_settings(settings)


@pytest.fixture
def web(fsettings: Settings, session: Session) -> Iterator[TestClient]:
    with TestClient(app_on(fsettings, session)) as c:
        yield c


def _fake_project(web: TestClient, session: Session, headers: dict[str, str]) -> int:
    """The project, created through the API under the fake provider's name; its examples and
    gold through the services, as make_project adds them."""
    settings = {"questions_per_hit": 5, "gold_per_hit": 1, "quiz_per_hit": 0, "max_answers": 2}
    body = project_fields(**settings, provider=fake_provider.NAME)
    created = web.post("/api/v1/projects", json=body, headers=headers)
    assert created.status_code == 201, created.text
    pid = int(created.json()["id"])
    assert web.get(f"/api/v1/projects/{pid}", headers=headers).json()["provider"] == "fake"
    fill_project(session, pid, n_examples=14, n_gold=2, n_quiz=0)
    return pid


def test_the_api_accepts_a_registered_provider_only(
    fake: FakeProvider, web: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    pid = _fake_project(web, session, admin_headers)
    project = session.get(Project, pid)
    assert project is not None and project.provider == fake_provider.NAME
    body = project_fields(provider="nowhere")
    for refused in (
        web.post("/api/v1/projects", json=body, headers=admin_headers),
        web.patch(f"/api/v1/projects/{pid}", json={"provider": "nowhere"}, headers=admin_headers),
    ):
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert "provider" in detail and "'nowhere'" in detail
        assert all(name in detail for name in ("fake", "link", "mturk", "prolific"))
    # An over-long name is refused before any lookup (the column holds NAME_MAX characters).
    n_projects = web.get("/api/v1/projects", headers=admin_headers).json()["count"]
    for long_name in ("x" * (recruiting.NAME_MAX + 1), "mturk" * 200):
        too_long = web.post(
            "/api/v1/projects", json=project_fields(provider=long_name), headers=admin_headers
        )
        assert too_long.status_code == 422, too_long.text
        assert "provider" in str(too_long.json()["detail"])
    assert web.get("/api/v1/projects", headers=admin_headers).json()["count"] == n_projects
    session.refresh(project)
    assert project.provider == fake_provider.NAME
    moved = web.patch(f"/api/v1/projects/{pid}", json={"provider": "link"}, headers=admin_headers)
    assert moved.status_code == 200 and moved.json()["provider"] == "link"
    # The OpenAPI schema lists the providers registered when the schemas loaded (not this one).
    shapes = web.get("/openapi.json").json()["components"]["schemas"]
    listed = shapes["ProjectCreate"]["properties"]["provider"]["enum"]
    assert listed == sorted(set(recruiting.names()) - {fake_provider.NAME})


def _open(web: TestClient, hit: Hit, aid: str, worker: str) -> str:
    page = web.get(local(f"/task/{hit.id}?" + urlencode({"aid": aid, "worker": worker})))
    assert page.status_code == 200, page.text
    return page.text


def _submit(web: TestClient, session: Session, page: str, *, right: bool) -> dict[str, str]:
    form = next(f for f in parse_forms(page) if f["action"].endswith("/submit"))
    data = hidden(form) | {f: gold_value(session, f, right=right) for f in radios(form)}
    done = web.post(form["action"], data=data)
    assert done.status_code == 200, done.text
    back = parse_forms(done.text)[0]  # where the browser goes next: the fake market
    assert back["action"] == fake_provider.SUBMIT_URL
    return hidden(back)


def _answers(session: Session, aid: str) -> list[bool]:
    return list(
        session.scalars(
            select(Answer.confirmed)
            .join(Assignment, Assignment.id == Answer.assignment_id)
            .where(Assignment.external_id == aid)
        )
    )


def test_every_registered_name_fits_the_provider_columns() -> None:
    lengths = {Project.__table__.c.provider.type.length, Hit.__table__.c.provider.type.length}
    assert lengths == {recruiting.NAME_MAX}
    assert all(len(name) <= recruiting.NAME_MAX for name in recruiting.names())


def test_plan_publish_task_page_sync_review_through_a_third_provider(
    fake: FakeProvider,
    session: Session,
    fsettings: Settings,
    web: TestClient,
    admin_headers: dict[str, str],
) -> None:
    pid = _fake_project(web, session, admin_headers)
    market = fake.market

    # Plan: the provider's fee rules, costs and notes.
    plan = publishing.plan_batch(session=session, project_id=pid)
    assert plan.provider == fake_provider.NAME and len(plan.hits) == 3
    assert plan.estimate()["fee_rules"] == fake.fee_rules
    assert fake_provider.PLAN_NOTE in plan.warnings
    for planned in plan.hits:  # 5 questions x $0.03 = $0.15; 10% = $0.015, rounded half up
        assert planned.reward == Decimal("0.15")
        assert planned.cost.fee == Decimal("0.02")
        assert planned.cost.total == Decimal("0.17") * planned.max_assignments
    session.rollback()

    # Publish: intent rows (endpoint, token) are written before the market is called; the
    # process dies after the market created the second HIT, before it was recorded here.
    market.crash_after = 2
    with pytest.raises(fake_provider.Crash):
        publishing.publish_batch(session=session, settings=fsettings, project_id=pid)
    session.rollback()
    first = fake.calls[-1]
    assert first[0] == "publish"
    assert [(state, endpoint) for state, _, endpoint in first[1]] == [
        ("intent", fake_provider.ENDPOINT)
    ] * 3
    hits = project_hits(session, pid)
    assert [h.state for h in hits] == ["published", "intent", "intent"]
    assert sorted(market.hits) == sorted(h.token for h in hits[:2])
    # The resume publishes only what is missing, adopting the HIT the market already holds.
    resumed = publishing.resume(session=session, settings=fsettings, project_id=pid)
    assert (resumed.resumed, resumed.adopted, resumed.created) == (2, 1, 1)
    hits = project_hits(session, pid)
    assert [h.state for h in hits] == ["published"] * 3
    assert {h.provider for h in hits} == {fake_provider.NAME}
    assert sorted(market.hits) == sorted(h.token for h in hits)
    assert ledger.committed(session=session, project_id=pid) == plan.total_cost
    assert [c for c, _ in fake.calls] == ["plan", "plan", "preflight", "publish", "publish"]

    # The task page: a preview, a visit the market never handed out (refused, nothing stored),
    # then two workers the market did hand the HIT to.
    hit = hits[0]
    preview = web.get(f"/task/{hit.id}")
    assert preview.status_code == 200 and "Preview" in preview.text
    forged = web.get(f"/task/{hit.id}?" + urlencode({"aid": "FA9999", "worker": "w9"}))
    assert forged.status_code == 403
    assert session.scalar(select(Assignment.id).where(Assignment.external_id == "FA9999")) is None
    good = market.accept(str(hit.mturk_hit_id), "w1")
    sloppy = market.accept(str(hit.mturk_hit_id), "w2")
    posted = _submit(web, session, _open(web, hit, good, "w1"), right=True)
    assert posted == {"aid": good}
    market.submit(good)
    _submit(web, session, _open(web, hit, sloppy, "w2"), right=False)
    # w2 never reaches the market's own submit: its answers are stored but do not count.
    assert _answers(session, good) == [False] * hit.n_questions
    assert _answers(session, sloppy) == [False] * hit.n_questions

    # Sync + review through the provider: the market lists w1's submission, so it counts and
    # the policy approves it there; w2's stays unconfirmed and cannot be reviewed.
    publishing.update_publish_settings(
        session=session, project_id=pid, review_policy={"hold_pending": False}
    )
    out = sync.sync_project(session=session, settings=fsettings, project_id=pid)
    assert out.assignments_seen == 1 and out.assignments_confirmed == 1
    assert out.review is not None and out.review.approved == 1
    assert _answers(session, good) == [True] * hit.n_questions
    assert _answers(session, sloppy) == [False] * hit.n_questions
    assert market.decisions == {good: "approved"}
    paid = session.scalar(select(SpendEntry.amount).where(SpendEntry.key == f"paid:{good}"))
    assert Decimal(str(paid)) == Decimal("0.17")  # reward + the market's fee
    with pytest.raises(Conflict, match="not confirmed"):
        review.reject(session=session, settings=fsettings, assignment_id=sloppy, feedback="no")
    session.rollback()

    # Once the market has it, a sync confirms it; a rejection goes through the provider too.
    market.submit(sloppy)
    out = sync.sync_project(session=session, settings=fsettings, project_id=pid, apply_review=False)
    assert out.assignments_confirmed == 1 and out.review is None
    review.reject(session=session, settings=fsettings, assignment_id=sloppy, feedback="wrong")
    assert market.decisions == {good: "approved", sloppy: "rejected"}
    assert _answers(session, sloppy) == [True] * hit.n_questions
    released = session.scalar(
        select(SpendEntry.amount).where(SpendEntry.key == f"release:{sloppy}")
    )
    assert Decimal(str(released)) == Decimal("-0.17")
