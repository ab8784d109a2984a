"""The admin pages in real headless Chromium (Playwright, /usr/bin/chromium): sign in with an
admin token, open a project seeded with the released COMPAS crowd answers (imported through the
service), create an export snapshot with the button, see it listed and download it, and save a
screenshot for people to look at.

SQLite only: the browser exercises HTML, cookies and forms; the database paths are the same ones
the TestClient suites in tests/app/admin run on both databases."""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.core.migrate import upgrade
from app.schemas.crowd import GoldCreate, ProjectCreate
from app.schemas.jobs import BuiltinData, JobCreate
from app.services import auth, projects
from app.services import jobs as job_service
from app.services.crowd import answers, examples, exports
from app.workflows.replay import serve_app
from trainer.data.synthetic import default_data_dir

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CROWD_CSV = default_data_dir() / "crowd" / "COMPAS_crowdsourcing_data.csv"
N_GOLD = 40  # the first examples' true labels serve as hidden gold checks


def seed(factory: sessionmaker[Session]) -> tuple[int, str, int]:
    """A COMPAS crowd project: (project id, admin token, number of examples)."""
    data = CROWD_CSV.read_bytes()
    truth = pd.read_csv(io.BytesIO(data), usecols=["example_idx", "true_label"]).head(N_GOLD)
    with factory() as session:
        project = projects.create_project(
            session=session,
            data=ProjectCreate(
                name="COMPAS recidivism (released crowd answers)",
                description="The FR-Train paper's MTurk answers, imported in the wide layout.",
                question="Will this defendant reoffend within two years?",
                sensitive_column="race",
                provider="link",
            ),
        )
        result = answers.import_answers(session=session, project_id=project.id, data=data)
        gold = [
            GoldCreate(example_id=str(e), label=1 if int(t) == 1 else -1)
            for e, t in truth.itertuples(index=False)
        ]
        examples.add_gold(session=session, project_id=project.id, items=gold)
        token = auth.create_token(session=session, name="browser").token
        return project.id, token, result.examples_created


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Settings, sessionmaker[Session]]]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; the browser tests need Debian's chromium")
    url = f"sqlite:///{tmp_path / 'admin-browser.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade(conn)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="test",
        database_url=url,
        secret_key="admin-browser-test",
        artifact_dir=tmp_path / "artifacts",
    )
    with serve_app(settings) as base:
        yield base, settings, make_session_factory(engine)
    engine.dispose()


def test_admin_signs_in_and_creates_an_export_in_chromium(
    server: tuple[str, Settings, sessionmaker[Session]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    base, settings, factory = server
    pid, token, n_examples = seed(factory)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        # Any admin page sends a signed-out browser to the sign-in form, then back.
        page.goto(f"{base}/admin/projects/{pid}")
        assert "/admin/login" in page.url
        page.get_by_label("Admin token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Export snapshots").wait_for()
        assert page.url.endswith(f"/admin/projects/{pid}")
        cookie = next(c for c in page.context.cookies() if c["name"] == "frtrain_admin")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert token not in cookie["value"]

        stats = page.get_by_label("Project totals")
        assert f"{n_examples} examples" in " ".join(stats.inner_text().split())
        workers = page.get_by_role("table", name="Workers who answered")
        assert workers.locator("tbody tr").count() > 100
        assert page.get_by_text("No export snapshots yet.").count() == 1

        # Create a snapshot with the button; it is listed, marked new, and downloads.
        page.get_by_label("Method").select_option("mean")
        page.get_by_role("button", name="Create export snapshot").click()
        listed = page.get_by_role("table", name="Frozen validation sets")
        listed.wait_for()
        row = listed.locator("tbody tr").first
        assert row.locator("th").inner_text().startswith("v1")
        assert "new" in row.inner_text()
        with factory() as session:
            [snapshot] = exports.list_exports(session=session, project_id=pid)
        assert snapshot.row_count == n_examples  # every COMPAS example has answers
        download = page.request.get(f"{base}/admin/exports/{snapshot.id}/download?format=csv")
        assert download.ok
        rows = list(csv.DictReader(io.StringIO(download.text())))
        assert len(rows) == snapshot.row_count and set(rows[0]) >= {"race", "label"}

        shot = tmp_path / "admin-project.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 40_000
        if os.environ.get("FRTRAIN_SCREENSHOT_DIR"):
            shutil.copy(shot, Path(os.environ["FRTRAIN_SCREENSHOT_DIR"]) / shot.name)

        # The jobs page: a queued job is cancelled with its button.
        with factory() as session:
            body = JobCreate(name="lr", data=BuiltinData(builtin="synthetic"), method="lr")
            job = job_service.create_job(session=session, settings=settings, body=body)
        page.get_by_role("link", name="Training jobs").click()
        jobs = page.get_by_role("table", name="training job")
        assert "queued" in jobs.inner_text()
        page.get_by_role("button", name=f"Cancel job {job.id}").click()
        page.get_by_text(f"Training job {job.id} cancelled.").wait_for()
        assert "cancelled" in page.get_by_role("table", name="training job").inner_text()
        jobs_shot = tmp_path / "admin-jobs.png"
        page.screenshot(path=str(jobs_shot), full_page=True)
        if os.environ.get("FRTRAIN_SCREENSHOT_DIR"):
            shutil.copy(jobs_shot, Path(os.environ["FRTRAIN_SCREENSHOT_DIR"]) / jobs_shot.name)

        # Signing out ends the session: the next page asks for the token again.
        page.get_by_role("button", name="Sign out").click()
        page.goto(f"{base}/admin/jobs")
        assert "/admin/login" in page.url
        browser.close()
