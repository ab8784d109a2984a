"""Admin web pages over HTTP (both databases): cookie sign-in with admin tokens, CSRF on every
form, revoked tokens, pages showing data created through the services, the export and
block/unblock forms, the training-jobs page and friendly 404 pages."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.deps import get_session
from app.api.routes import admin_pages
from app.core.config import Settings
from app.main import create_app
from app.models import Worker
from app.mturk.client import make_mturk_client
from app.mturk.emulator import run_emulator, synthetic_worker_id
from app.schemas.crowd import GoldCreate, ProjectCreate, WorkerFilterRule
from app.schemas.jobs import BuiltinData, JobCreate
from app.services import auth, projects
from app.services import jobs as job_service
from app.services.crowd import answers, examples, exports

# Toy table (hand-checked in tests/app/test_quality_export.py): gold g1 +1, g2 -1, g3 +1; `good`
# gets all three right (Beta(1,1) posterior mean 4/5 = 0.80, trusted), `bad` all wrong (1/5 = 0.20,
# filtered), `new` answers no gold (pending). Link-provider ids: blocking calls no marketplace.
GOOD, BAD, NEW = "link:good", "link:bad", "link:new"
EXAMPLES = b"example_id,age,sex\ng1,20,F\ng2,30,M\ng3,40,F\ne1,50,M\ne2,60,F\n"
ANSWERS = (
    "example_id,worker_id,value\n"
    f"g1,{GOOD},4\ng2,{GOOD},1\ng3,{GOOD},3\n"
    f"g1,{BAD},1\ng2,{BAD},4\ng3,{BAD},1\n"
    f"e1,{GOOD},4\ne1,{BAD},1\ne1,{NEW},3\n"
    f"e2,{GOOD},3\ne2,{BAD},1\n"
).encode()
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def toy_project(session: Session, name: str = "Recidivism labels") -> int:
    rule = WorkerFilterRule(min_gold=2, min_accuracy=0.5, credible_level=None)
    project = projects.create_project(
        session=session,
        data=ProjectCreate(
            name=name,
            question="Will this person reoffend?",
            worker_filter=rule,
            sensitive_column="sex",
            provider="link",
        ),
    )
    examples.upload_examples(session=session, project_id=project.id, data=EXAMPLES)
    answers.import_answers(session=session, project_id=project.id, data=ANSWERS)
    gold = [GoldCreate(example_id="g1", label=1), GoldCreate(example_id="g2", label=-1)]
    gold.append(GoldCreate(example_id="g3", label=1))
    examples.add_gold(session=session, project_id=project.id, items=gold)
    return project.id


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def sign_in(client: TestClient, token: str, next_url: str = "/admin") -> str:
    """Sign in through the login form; returns the session's CSRF value (from the next page)."""
    form = client.get(f"/admin/login?next={next_url}")
    assert form.status_code == 200
    r = client.post(
        "/admin/login",
        data={"token": token, "csrf": csrf_of(form.text), "next": next_url},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == next_url
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert token not in cookie  # only the token's id is stored, signed
    page = client.get(next_url)
    assert page.status_code == 200
    return csrf_of(page.text)


def is_login_redirect(r: object) -> bool:
    status = getattr(r, "status_code", None)
    location = getattr(r, "headers", {}).get("location", "")
    return status == 303 and location.startswith("/admin/login?next=")


def test_every_page_needs_sign_in(client: TestClient, session: Session) -> None:
    pid = toy_project(session)
    for path in ("/admin", f"/admin/projects/{pid}", "/admin/jobs", "/admin/exports/1/download"):
        assert is_login_redirect(client.get(path, follow_redirects=False)), path
    r = client.post(f"/admin/projects/{pid}/exports", data={"csrf": "x"}, follow_redirects=False)
    assert is_login_redirect(r)
    assert exports.list_exports(session=session, project_id=pid) == []
    # Following the redirect lands on a labelled sign-in form.
    page = client.get("/admin/jobs")
    assert page.status_code == 200
    assert '<label for="token">' in page.text and "<h1>Sign in</h1>" in page.text


def test_every_admin_route_needs_sign_in(client: TestClient) -> None:
    public = {"/admin/login", "/admin/logout", "/admin/assets/admin.css"}
    fill = {"action": "block", "name": "metrics.json"}
    checked = 0
    for route in (r for router in admin_pages.ROUTERS for r in router.routes):
        assert isinstance(route, APIRoute)
        if route.path in public:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: fill.get(m.group(1), "1"), route.path)
        for method in route.methods or ():
            r = client.request(method, path, follow_redirects=False)
            assert is_login_redirect(r), (method, path, r.status_code)
            checked += 1
    assert checked >= 8


def test_wrong_token_is_refused(client: TestClient, admin_token: str) -> None:
    form = client.get("/admin/login")
    r = client.post(
        "/admin/login",
        data={"token": admin_token + "x", "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert r.status_code == 401
    assert "not valid" in r.text
    assert "frtrain_admin=" not in r.headers.get("set-cookie", "")
    assert is_login_redirect(client.get("/admin", follow_redirects=False))


def test_login_form_needs_its_csrf_nonce(client: TestClient, admin_token: str) -> None:
    r = client.post("/admin/login", data={"token": admin_token}, follow_redirects=False)
    assert r.status_code == 403
    # A nonce signed for another browser (a different nonce cookie) is refused too.
    stolen = csrf_of(client.get("/admin/login").text)
    client.cookies.clear()
    client.get("/admin/login")
    r = client.post(
        "/admin/login", data={"token": admin_token, "csrf": stolen}, follow_redirects=False
    )
    assert r.status_code == 403
    assert is_login_redirect(client.get("/admin", follow_redirects=False))


def test_sign_in_redirects_only_inside_admin(client: TestClient, admin_token: str) -> None:
    form = client.get("/admin/login")
    r = client.post(
        "/admin/login",
        data={"token": admin_token, "csrf": csrf_of(form.text), "next": "https://evil.test/"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin"


def test_revoked_token_session_stops_working(
    client: TestClient, session: Session, admin_token: str
) -> None:
    csrf = sign_in(client, admin_token)
    assert client.get("/admin/jobs").status_code == 200
    auth.revoke_token(session=session, token=admin_token)
    assert is_login_redirect(client.get("/admin/jobs", follow_redirects=False))
    r = client.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303


def test_sign_out_ends_the_session(client: TestClient, admin_token: str) -> None:
    csrf = sign_in(client, admin_token)
    assert client.post("/admin/logout", data={"csrf": "wrong"}).status_code == 403
    r = client.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    assert is_login_redirect(client.get("/admin", follow_redirects=False))


def test_forms_enforce_csrf(client: TestClient, session: Session, admin_token: str) -> None:
    pid = toy_project(session)
    csrf = sign_in(client, admin_token)
    for bad in ({}, {"csrf": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}):
        r = client.post(f"/admin/projects/{pid}/exports", data={"method": "mean", **bad})
        assert r.status_code == 403 and "text/html" in r.headers["content-type"]
        r = client.post(
            f"/admin/projects/{pid}/workers/block",
            data={"worker_id": GOOD, "reason": "spam", **bad},
        )
        assert r.status_code == 403
    assert exports.list_exports(session=session, project_id=pid) == []
    assert session.query(Worker).filter_by(external_id=GOOD).one().blocked is False
    # Another session's CSRF value does not fit this session.
    other = TestClient(client.app)
    other_csrf = sign_in(other, admin_token)
    r = client.post(f"/admin/projects/{pid}/exports", data={"csrf": other_csrf})
    assert other_csrf != csrf and r.status_code == 403


def test_pages_show_service_data(client: TestClient, session: Session, admin_token: str) -> None:
    pid = toy_project(session)
    empty = projects.create_project(
        session=session, data=ProjectCreate(name="Empty one", question="?")
    )
    sign_in(client, admin_token)
    index = client.get("/admin").text
    assert f'href="/admin/projects/{pid}">Recidivism labels</a>' in index
    row = index.split(f"/admin/projects/{pid}")[1].split("</tr>")[0]
    # 5 examples, 11 answers, 3 workers.
    assert re.findall(r'class="num">(\d+)</td>', row) == ["5", "11", "3"]
    assert "<caption>2 projects</caption>" in index

    page = client.get(f"/admin/projects/{pid}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    html = page.text
    assert "Will this person reoffend?" in html
    # 3 of 3 gold right is not yet credible skill on both classes (app.crowd.quality): pending.
    for worker, accuracy, status in ((GOOD, "0.80", "pending"), (BAD, "0.20", "filtered")):
        cells = html.split(f"<code>{worker}</code>")[1].split("</tr>")[0]
        assert f">{accuracy}</td>" in cells and f">{status}</span>" in cells
    assert "status-pending" in html.split(f"<code>{NEW}</code>")[1].split("</tr>")[0]
    # Mean labels with N = 11 (bad excluded): e1 (4, 3) +1, e2 +1, g1 +1, g2 -1, g3 +1.
    mean_row = html.split('<th scope="row">mean</th>')[1].split("</tr>")[0]
    assert re.findall(r'class="num">([\d.]+)</td>', mean_row)[:4] == ["11", "5", "4", "1"]
    assert "No HITs published yet." in html and "No export snapshots yet." in html

    empty_page = client.get(f"/admin/projects/{empty.id}").text
    assert "No answers yet, so no workers." in empty_page


def test_export_form_creates_a_downloadable_snapshot(
    client: TestClient, session: Session, admin_token: str
) -> None:
    pid = toy_project(session)
    csrf = sign_in(client, admin_token)
    r = client.post(
        f"/admin/projects/{pid}/exports",
        data={"csrf": csrf, "method": "majority", "n": "5"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    [snapshot] = exports.list_exports(session=session, project_id=pid)
    assert (snapshot.method, snapshot.n_max, snapshot.version) == ("majority", 5, 1)
    assert r.headers["location"] == f"/admin/projects/{pid}?created={snapshot.id}#exports"
    html = client.get(r.headers["location"]).text
    assert 'class="pill new">new</span>' in html
    link = f"/admin/exports/{snapshot.id}/download?format=csv"
    assert link in html
    download = client.get(link)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == snapshot.checksum
    assert download.text.splitlines()[0].startswith("example_id,")
    # Bad form values are a 422 page naming the field; nothing is created.
    bad = client.post(f"/admin/projects/{pid}/exports", data={"csrf": csrf, "n": "0"})
    assert bad.status_code == 422 and "N must be a whole number" in bad.text
    assert len(exports.list_exports(session=session, project_id=pid)) == 1


def test_block_form_changes_worker_status(
    client: TestClient, session: Session, admin_token: str
) -> None:
    pid = toy_project(session)
    csrf = sign_in(client, admin_token)
    url = f"/admin/projects/{pid}/workers"
    no_reason = client.post(f"{url}/block", data={"csrf": csrf, "worker_id": GOOD})
    assert no_reason.status_code == 422 and "a block needs a reason" in no_reason.text
    r = client.post(f"{url}/block", data={"csrf": csrf, "worker_id": GOOD, "reason": "copying"})
    assert r.status_code == 200 and f"Worker {GOOD} is now blocked." in r.text
    assert r.history[0].status_code == 303  # post/redirect/get: a reload posts nothing
    worker = session.query(Worker).filter_by(external_id=GOOD).one()
    session.refresh(worker)
    assert worker.blocked is True and worker.blocked_reason == "copying"
    cells = r.text.split(f"<code>{GOOD}</code>")[1].split("</tr>")[0]
    assert ">blocked</span>" in cells and "Unblock" in cells
    # With good and bad both out of the aggregation only `new`'s answer to e1 is left.
    mean_row = r.text.split('<th scope="row">mean</th>')[1].split("</tr>")[0]
    assert re.findall(r'class="num">([\d.]+)</td>', mean_row)[:2] == ["11", "1"]
    r = client.post(f"{url}/unblock", data={"csrf": csrf, "worker_id": GOOD})
    assert r.status_code == 200 and f"Worker {GOOD} is not blocked." in r.text
    session.refresh(worker)
    assert worker.blocked is False
    unknown = client.post(f"{url}/block", data={"csrf": csrf, "worker_id": "x", "reason": "r"})
    assert unknown.status_code == 404 and "not known here" in unknown.text


def test_unknown_ids_are_friendly_404_pages(
    client: TestClient, session: Session, admin_token: str
) -> None:
    csrf = sign_in(client, admin_token)
    for path in (
        "/admin/projects/999999",
        "/admin/projects/abc",
        "/admin/projects/99999999999999",
        "/admin/exports/424242/download",
        "/admin/jobs/77/artifacts/model.pt",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "text/html" in r.headers["content-type"]
        assert "<h1>Not found</h1>" in r.text and 'role="alert"' in r.text
    for path in ("/admin/projects/999999/exports", "/admin/jobs/999999/cancel"):
        assert client.post(path, data={"csrf": csrf}).status_code == 404


def test_jobs_page_lists_metrics_artifacts_and_cancels(
    client: TestClient, session: Session, settings: Settings, admin_token: str
) -> None:
    csrf = sign_in(client, admin_token)
    assert "No training jobs yet." in client.get("/admin/jobs").text
    body = JobCreate(name="synthetic run", data=BuiltinData(builtin="synthetic"), method="lr")
    done = job_service.create_job(session=session, settings=settings, body=body)
    queued = job_service.create_job(session=session, settings=settings, body=body)
    claim = job_service.claim_next(session=session, worker_id="w", lease_seconds=60)
    assert claim is not None and claim.job_id == done.id
    folder = job_service.job_folder(settings, done.id)
    folder.mkdir(parents=True)
    Path(folder / "metrics.json").write_text(json.dumps({"ok": True}))
    summary = {"accuracy": {"mean": 0.8125, "std": 0.0125}, "disparate_impact": {"mean": 0.9}}
    assert job_service.finish(
        session=session,
        claim=claim,
        status="succeeded",
        results={"summary": {"test": summary}},
        artifacts=["metrics.json"],
    )
    html = client.get("/admin/jobs").text
    done_row = html.split(f'<a href="/admin/jobs/{done.id}">#{done.id}</a>')[1].split("</tr>")[0]
    assert "0.812" in done_row and "± 0.013" in done_row and "0.900" in done_row
    assert "job-succeeded" in done_row and "Cancel" not in done_row
    link = f"/admin/jobs/{done.id}/artifacts/metrics.json"
    assert link in done_row
    assert client.get(link).json() == {"ok": True}
    queued_row = html.split(f'<a href="/admin/jobs/{queued.id}">#{queued.id}</a>')[1]
    queued_row = queued_row.split("</tr>")[0]
    assert "job-queued" in queued_row and f"/admin/jobs/{queued.id}/cancel" in queued_row

    r = client.post(f"/admin/jobs/{queued.id}/cancel", data={"csrf": csrf})
    assert r.status_code == 200 and f"Training job {queued.id} cancelled." in r.text
    assert r.history[0].headers["location"] == f"/admin/jobs?cancelled={queued.id}"
    assert job_service.read_job(session=session, job_id=queued.id).status == "cancelled"
    again = client.post(f"/admin/jobs/{done.id}/cancel", data={"csrf": csrf})
    assert again.status_code == 409 and "already succeeded" in again.text


@pytest.mark.parametrize("path", ["/admin/assets/admin.css"])
def test_stylesheet_is_public(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")


def test_block_form_blocks_mturk_workers_on_the_marketplace(
    db_url: str, session: Session, tmp_path: Path, admin_token: str
) -> None:
    """An MTurk worker id is blocked on MTurk too (CreateWorkerBlock / DeleteWorkerBlock), here
    on the local emulator, checked through the requester API; a refusal is a page, not a 500."""
    pid = toy_project(session)
    worker = synthetic_worker_id("admin_page")
    extra = f"example_id,worker_id,value\ne2,{worker},2\n".encode()
    answers.import_answers(session=session, project_id=pid, data=extra)
    with run_emulator() as emu:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="test",
            database_url=db_url,
            mturk_endpoint_url=emu.url,
            artifact_dir=tmp_path / "artifacts",
        )
        application = create_app(settings)
        application.dependency_overrides[get_session] = lambda: session
        mt = make_mturk_client(settings)
        with TestClient(application) as web:
            csrf = sign_in(web, admin_token)
            url = f"/admin/projects/{pid}/workers"
            form = {"csrf": csrf, "worker_id": worker, "reason": "bots"}
            # MTurk refuses a worker who never worked for this requester: the page says so
            # and nothing changes here.
            refused = web.post(f"{url}/block", data=form)
            assert refused.status_code == 422
            assert "MTurk CreateWorkerBlock failed" in refused.text
            assert session.query(Worker).filter_by(external_id=worker).one().blocked is False
            emu.set_worker_profile(worker)  # the worker now exists on the marketplace
            r = web.post(f"{url}/block", data=form)
            assert r.status_code == 200, r.text
            assert worker in {b["WorkerId"] for b in mt.iter_worker_blocks()}
            assert ">blocked</span>" in r.text.split(f"<code>{worker}</code>")[1].split("</tr>")[0]
            r = web.post(f"{url}/unblock", data={"csrf": csrf, "worker_id": worker})
            assert r.status_code == 200
            assert worker not in {b["WorkerId"] for b in mt.iter_worker_blocks()}


def test_label_summary_lists_every_registered_method(
    client: TestClient, session: Session, admin_token: str
) -> None:
    from app.crowd import METHODS

    pid = toy_project(session)
    sign_in(client, admin_token)
    html = client.get(f"/admin/projects/{pid}").text
    rows = re.findall(r'<th scope="row">([a-z_]+)</th>\s*<td class="num">\d+</td>', html)
    assert tuple(m for m in rows if m in METHODS) == METHODS
    assert {"ordinal_dawid_skene", "calibrated_mean"} <= set(rows)
    # Each new method labels the toy project (no error row): 5 examples labeled.
    for method in ("ordinal_dawid_skene", "calibrated_mean"):
        row = html.split(f'<th scope="row">{method}</th>')[1].split("</tr>")[0]
        assert re.findall(r'class="num">([\d,]+)</td>', row)[1] == "5"
