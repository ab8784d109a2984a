"""A Prolific participant in real headless Chromium: opens the study through the Prolific
emulator (join → redirect to our study URL with PROLIFIC_PID, STUDY_ID, SESSION_ID → the task
page), answers every question, submits and lands on Prolific's completion URL with the study's
completion code; after a sync the answers count.

SQLite only, like the other browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.core.migrate import upgrade
from app.models import Answer, ProlificStudy
from app.prolific.emulator import run_prolific_emulator
from app.services import publishing
from app.services.recruiting import sync
from app.workflows.replay import serve_app
from tests.app.hits.conftest import make_project

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; the browser tests need Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_participant_reaches_completion_url_in_chromium(tmp_path: Path, browser: object) -> None:
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade(conn)
    factory = make_session_factory(engine)
    with run_prolific_emulator() as emu:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="test",
            database_url=url,
            prolific_api_url=emu.api_url,
            prolific_api_token=emu.token,
            secret_key="browser-test",
        )
        with serve_app(settings) as base:
            settings = settings.model_copy(update={"public_base_url": base})
            with factory() as session:
                pid = make_project(session, provider="prolific", n_quiz=0, quiz_per_hit=0)
                publishing.publish_batch(session=session, settings=settings, project_id=pid)
                study = session.scalar(select(ProlificStudy))
                assert study is not None and study.study_id
            participant = emu.new_participants(1)[0]
            page = browser.new_page()  # type: ignore[attr-defined]
            page.goto(f"{emu.url}/_emu/join/{study.study_id}?participant={participant}")
            assert page.url.startswith(f"{base}/task/")
            assert f"PROLIFIC_PID={participant}" in page.url
            questions = page.locator("fieldset")
            n_questions = questions.count()
            assert n_questions == 10
            for i in range(n_questions):
                questions.nth(i).locator("label").nth(i % 4).click()
            page.locator("button.submit").click()
            page.wait_for_url(f"{emu.url}/submissions/complete**")
            assert page.url == f"{emu.url}/submissions/complete?cc={study.completion_code}"
            assert page.locator("#code").inner_text() == study.completion_code
            with factory() as session:
                sync.sync_project(session=session, settings=settings, project_id=pid)
                n = session.scalar(select(func.count()).select_from(Answer))
                assert n == n_questions
    engine.dispose()
