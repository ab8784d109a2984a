"""The worker task page in real headless Chromium (Playwright, /usr/bin/chromium): a worker opens
the task through the emulator's frame page, does the quiz, answers every question, submits, and
the answers reach the service and MTurk; in preview the submit is disabled and no gold leaks.

SQLite only: the browser exercises HTML, forms and HTTP; the database paths are the same ones the
TestClient suites run on both databases."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.core.migrate import upgrade
from app.models import Answer, Assignment, GoldQuestion
from app.mturk.client import make_mturk_client
from app.mturk.emulator import Emulator, run_emulator, synthetic_worker_id
from app.services import publishing
from app.workflows.replay import serve_app
from tests.app.hits.conftest import QUIZ_EXPLANATION, make_project, project_hits

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Emulator, str, Settings, int]]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; the browser tests need Debian's chromium")
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade(conn)
    with run_emulator(allow_http_questions=True) as emu:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="test",
            database_url=url,
            mturk_endpoint_url=emu.url,
            secret_key="browser-test",
        )
        factory = make_session_factory(engine)
        with serve_app(settings) as base:
            settings = settings.model_copy(update={"public_base_url": base})
            with factory() as session:
                pid = make_project(session)
                publishing.publish_batch(session=session, settings=settings, project_id=pid)
            yield emu, base, settings, pid
    engine.dispose()


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_worker_answers_every_question_in_chromium(
    stack: tuple[Emulator, str, Settings, int], browser: object, tmp_path: Path
) -> None:
    emu, _base, settings, pid = stack
    factory = make_session_factory(make_engine(settings.database_url))
    with factory() as session:
        hit = project_hits(session, pid)[0]
        gold_ids = set(session.scalars(select(GoldQuestion.example_id)))
    page = browser.new_page(viewport={"width": 1000, "height": 900})  # type: ignore[attr-defined]

    # Preview through the emulator: the task shows, the submit is disabled, no gold in the source.
    page.goto(f"{emu.url}/mturk/preview?hitId={hit.mturk_hit_id}")
    frame = page.frame_locator("#task")
    submit = frame.locator("button.submit")
    submit.wait_for()
    assert submit.is_disabled()
    assert frame.locator("fieldset").count() == hit.n_questions
    source = page.frames[1].content().lower()
    assert QUIZ_EXPLANATION.lower() not in source
    for word in ("gold", "true_label", "known_label", "hidden_check"):
        assert word not in source

    # A worker accepts and opens the HIT through the emulator's frame page.
    worker = synthetic_worker_id("browser_worker")
    accepted = emu.worker_accept(str(hit.mturk_hit_id), worker)
    page.goto(f"{emu.url}/mturk/frame?assignmentId={accepted['assignmentId']}")
    frame = page.frame_locator("#task")
    frame.get_by_text("Training quiz").wait_for()
    for legend in frame.locator("fieldset").all():
        legend.locator("label").nth(3).click()  # "4 Very likely", by its label
    frame.locator("button.submit").click()
    frame.get_by_text("Quiz results").wait_for()
    assert frame.get_by_text(QUIZ_EXPLANATION).count() == 1
    questions = frame.locator("fieldset")
    assert questions.count() == hit.n_questions - 1  # the quiz question is done
    for i in range(questions.count()):
        questions.nth(i).locator("label").nth(i % 4).click()
    frame.locator("button.submit").click()
    # The page posts itself to the emulator's externalSubmit (no click needed with JavaScript).
    frame.get_by_text("was submitted").wait_for(timeout=15_000)

    with factory() as session:
        assignment = session.scalar(
            select(Assignment).where(Assignment.external_id == accepted["assignmentId"])
        )
        assert assignment is not None and assignment.status == "submitted"
        answers = session.scalars(select(Answer).where(Answer.assignment_id == assignment.id)).all()
        expected = [i["example_id"] for i in hit.items if i["role"] != "quiz"]
        assert sorted(a.example_id for a in answers) == sorted(expected)
        assert {a.value for a in answers} == {1, 2, 3, 4}
        assert gold_ids & {a.example_id for a in answers}  # hidden gold was answered unknowingly
    mturk = make_mturk_client(settings).get_assignment(accepted["assignmentId"])["Assignment"]
    assert mturk["AssignmentStatus"] == "Submitted"
    assert mturk["Answer"].count("<Answer>") == len(expected)

    # A screenshot of the task page, for people to look at.
    other = emu.worker_accept(str(project_hits(factory(), pid)[1].mturk_hit_id), "ASHOTWORKER1")
    page.goto(other["frameUrl"])
    page.locator("fieldset").first.locator("label").nth(1).click()
    page.locator("button.submit").click()
    page.get_by_text("Quiz results").wait_for()
    page.locator("fieldset").first.locator("label").nth(2).click()
    shot = tmp_path / "task-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("FRTRAIN_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["FRTRAIN_SCREENSHOT_DIR"]) / shot.name)
    page.close()
