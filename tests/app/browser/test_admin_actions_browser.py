"""Running a project from the admin pages in real headless Chromium (Playwright, Debian's
/usr/bin/chromium), against the local MTurk emulator over HTTP: plan a batch and read its cost,
publish it, let simulated workers do the task page, sync, approve one assignment and reject
another with feedback from the review queue (checked on the emulator through boto3), then open a
training job's page and see its plot and metrics. Saves a 1366 px screenshot of each page
(to $FRTRAIN_SCREENSHOT_DIR when set).

SQLite only: the browser exercises HTML, cookies and forms; the same routes run on both
databases in tests/app/admin."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.core.migrate import upgrade
from app.models import Example, Hit
from app.mturk.client import make_mturk_client
from app.mturk.emulator import run_emulator, synthetic_worker_id
from app.schemas.jobs import BuiltinData, JobCreate
from app.services import auth, publishing
from app.services import jobs as job_service
from app.workflows.replay import serve_app, work_assignment
from tests.app.browser.test_admin_browser import ARGS, CHROMIUM
from tests.app.hits.conftest import make_project
from trainer import api as trainer_api

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1366, "height": 900}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, str, Settings, sessionmaker[Session]]]:
    """(service URL, emulator URL, settings, session factory): a migrated SQLite file, the MTurk
    emulator, and the service served by uvicorn with boto3 pointed at the emulator."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; the browser tests need Debian's chromium")
    url = f"sqlite:///{tmp_path / 'admin-actions.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade(conn)
    with run_emulator(allow_http_questions=True) as emu:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="test",
            database_url=url,
            secret_key="admin-actions-browser",
            mturk_endpoint_url=emu.url,
            artifact_dir=tmp_path / "artifacts",
        )
        with serve_app(settings) as base:
            yield base, emu.url, settings, make_session_factory(engine)
    engine.dispose()


def shoot(page: Any, tmp_path: Path, name: str) -> Path:
    """Save a full-page screenshot after checking that nothing is wider than the window: no
    horizontal page scroll, and every table fits its box (columns wrap, none is cut off)."""
    overflow = page.evaluate(
        """() => [document.documentElement, ...document.querySelectorAll('.table-wrap')]
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => (e.querySelector('caption') || e).textContent.trim().slice(0, 60))"""
    )
    assert overflow == [], f"{name}: wider than {VIEWPORT['width']} px: {overflow}"
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("FRTRAIN_SCREENSHOT_DIR"):
        target = Path(os.environ["FRTRAIN_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / name)
    return shot


def answers_for(session: Session, project_id: int, *, right: bool) -> dict[int, int]:
    """An answer to every example the page may show (gold differs per worker): gold answered
    right (or wrong), the rest a 3."""
    out = {}
    for ex in session.scalars(select(Example).where(Example.project_id == project_id)):
        value = 3
        if ex.known_label is not None:
            value = 4 if (ex.known_label == 1) == right else 1
        out[ex.id] = value
    return out


def trained_job(settings: Settings, factory: sessionmaker[Session]) -> int:
    """A succeeded FR-Train job (3 grid points, 2 seeds) whose artifacts a worker would write."""
    hyperparameters = {"epochs": 12, "pretrain_epochs": 2, "l1": [0.05, 0.4, 0.75], "l2": [0.2]}
    with factory() as session:
        body = JobCreate(
            name="trade-off",
            data=BuiltinData(builtin="synthetic"),
            method="fr-train",
            hyperparameters=hyperparameters,
            seeds=[0, 1],
        )
        job = job_service.create_job(session=session, settings=settings, body=body)
        claim = job_service.claim_next(session=session, worker_id="browser", lease_seconds=600)
        assert claim is not None and claim.job_id == job.id
        folder = job_service.job_folder(settings, job.id) / job_service.attempt_folder_name(claim)
        # What `frtrain worker` does with a claimed built-in-data job.
        results = trainer_api.run_training(claim.spec, artifact_dir=folder, threads=1)
        names = [f"{folder.name}/{n}" for n in results.pop("artifacts")]
        assert job_service.finish(
            session=session, claim=claim, status="succeeded", results=results, artifacts=names
        )
        return job.id


def failed_job(settings: Settings, factory: sessionmaker[Session]) -> int:
    """A job whose attempt failed; the worker stored the message, then the traceback."""
    error = (
        "ValueError: validation.export_id: the export's examples do not match the data set\n\n"
        "Traceback (most recent call last):\n"
        '  File "/opt/frtrain/trainer/api.py", line 512, in prepare_dataset\n'
    )
    with factory() as session:
        body = JobCreate(name="bad export", data=BuiltinData(builtin="synthetic"), method="lr")
        job = job_service.create_job(session=session, settings=settings, body=body)
        claim = job_service.claim_next(session=session, worker_id="browser", lease_seconds=600)
        assert claim is not None and claim.job_id == job.id
        assert job_service.finish(session=session, claim=claim, status="failed", error=error)
        return job.id


def test_requester_runs_a_project_from_the_admin_pages(
    stack: tuple[str, str, Settings, sessionmaker[Session]], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, emu_url, settings, factory = stack
    mt = make_mturk_client(settings)  # the requester API, to check the marketplace's side
    with factory() as session:
        pid = make_project(session, n_quiz=0, quiz_per_hit=0, budget_cap=20.0)
        token = auth.create_token(session=session, name="requester").token
        expected = publishing.plan_batch(session=session, project_id=pid, max_per_hit=9)
        session.rollback()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{base}/admin/projects/{pid}")
        page.get_by_label("Admin token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Run the project").wait_for()

        # Plan: the dry run's cost is on the page before anything is published.
        page.get_by_label("Max assignments per HIT").first.fill("9")
        page.get_by_role("button", name="Plan the next batch").click()
        page.get_by_role("heading", name="Publish batch 1: the plan and its cost").wait_for()
        costs = page.get_by_label("Cost estimate").inner_text()
        assert f"${expected.total_cost}" in costs and f"{len(expected.hits)}" in costs
        assert list(mt.iter_hits()) == []
        shoot(page, tmp_path, "admin-publish-plan.png")
        page.get_by_role("button", name=f"Publish batch 1 for up to ${expected.total_cost}").click()
        expect(page.get_by_role("status")).to_contain_text(
            f"Batch 1: {len(expected.hits)} HITs published"
        )
        on_mturk = list(mt.iter_hits())
        assert len(on_mturk) == len(expected.hits)

        # Two workers do the first HIT on the task page; the admin syncs.
        with factory() as session:
            hit = session.scalars(select(Hit).where(Hit.project_id == pid).order_by(Hit.id)).first()
            assert hit is not None
            alice, bob = synthetic_worker_id("alice"), synthetic_worker_id("bob")
            with httpx.Client(timeout=30) as http:
                for worker, right in ((alice, True), (bob, False)):
                    got = answers_for(session, pid, right=right)
                    work_assignment(http, settings, emu_url, str(hit.mturk_hit_id), worker, got)
        page.get_by_role("button", name="Sync now", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("2 assignments seen")
        shoot(page, tmp_path, "admin-project-actions.png")
        by_worker = {a["WorkerId"]: a for a in mt.iter_assignments(str(hit.mturk_hit_id))}
        a_alice, a_bob = by_worker[alice]["AssignmentId"], by_worker[bob]["AssignmentId"]

        # The review queue: evidence per worker; approve Alice's, reject Bob's with feedback.
        page.get_by_role("link", name="Open the review queue").click()
        page.get_by_role("heading", name="Review queue").wait_for()
        bob_card = page.locator("section.worker").filter(has_text=bob)
        expect(bob_card).to_contain_text("Gold +1: right / wrong")
        shoot(page, tmp_path, "admin-review-queue.png")
        page.get_by_role("button", name=f"Approve {a_alice}", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text(f"Approved {a_alice}.")
        feedback = "The check questions were answered opposite to the known answer."
        bob_card = page.locator("section.worker").filter(has_text=bob)
        bob_card.get_by_label("Feedback to the worker").fill(feedback)
        bob_card.get_by_role("button", name=f"Reject {a_bob}", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text(f"Rejected {a_bob}")
        approved = mt.get_assignment(a_alice)["Assignment"]
        rejected = mt.get_assignment(a_bob)["Assignment"]
        assert approved["AssignmentStatus"] == "Approved"
        assert rejected["AssignmentStatus"] == "Rejected"
        assert rejected["RequesterFeedback"] == feedback
        page.get_by_role("link", name="Show reviewed work too").click()
        expect(page.locator("main")).to_contain_text(feedback)
        shoot(page, tmp_path, "admin-review-done.png")

        # A training job: the list links to its page; plot and metrics are on it.
        jid = trained_job(settings, factory)
        failed = failed_job(settings, factory)
        page.get_by_role("link", name="Training jobs").click()
        failed_row = page.get_by_role("row").filter(has_text=f"#{failed}")
        expect(failed_row).to_contain_text("ValueError: validation.export_id")
        expect(failed_row).not_to_contain_text("Traceback")
        shoot(page, tmp_path, "admin-jobs-list.png")
        page.get_by_role("link", name=f"#{jid}", exact=True).click()
        page.get_by_role("heading", name=f"Training job #{jid}").wait_for()
        plot = page.locator("figure.plot img")
        plot.scroll_into_view_if_needed()
        expect(plot).to_be_visible()
        assert plot.evaluate("img => img.complete && img.naturalWidth") > 300
        grid = page.get_by_role("table", name="Test metrics per grid point")
        assert grid.locator("tbody tr").count() == 3
        expect(grid).to_contain_text("accuracy")
        expect(page.get_by_role("table", name="Per seed: the point picked")).to_contain_text("l1=")
        shoot(page, tmp_path, "admin-job-page.png")
        browser.close()
