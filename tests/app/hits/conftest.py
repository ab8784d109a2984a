"""Fixtures for publishing, the task page, sync and review: a fresh MTurk emulator per test, the
service app (TestClient at http://testserver) whose settings point boto3 at the emulator, and a
small labeling project (examples, hidden gold, a training quiz) built through the services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Answer, Assignment, Example, Hit, HitAssignment
from app.mturk.client import MTurkClient, make_mturk_client
from app.mturk.emulator import Emulator, synthetic_worker_id
from app.schemas.crowd import GoldCreate, ProjectCreate, WorkerFilterRule
from app.services.crowd.examples import add_gold, upload_examples
from app.services.projects import create_project
from app.services.recruiting.links import answer_field, task_url
from tests.app.conftest import TEST_SECRET, app_on, marketplace_settings
from tests.app.html_forms import parse_forms

N_EXAMPLES = 40
QUIZ_EXPLANATION = "Many prior offences and a young age make reoffending likely."


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard mode backs off up to 2^attempt seconds after throttling; keep the
    retries (what the tests are about) but not the waiting."""
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.002)


@pytest.fixture
def hsettings(settings: Settings, emu: Emulator) -> Settings:
    """The shared ``settings`` with boto3 pointed at this test's emulator."""
    return marketplace_settings(settings, mturk_endpoint_url=emu.url)


@pytest.fixture
def mt(hsettings: Settings) -> MTurkClient:
    """A requester client on the emulator: tests check MTurk's side through its public API."""
    return make_mturk_client(hsettings)


def mturk_hits(mt: MTurkClient) -> list[dict[str, Any]]:
    return list(mt.iter_hits())


def mturk_assignment(mt: MTurkClient, assignment_id: str) -> dict[str, Any]:
    return dict(mt.get_assignment(assignment_id)["Assignment"])


def mturk_blocks(mt: MTurkClient) -> set[str]:
    return {b["WorkerId"] for b in mt.iter_worker_blocks()}


def mturk_bonuses(mt: MTurkClient, assignment_id: str) -> list[dict[str, Any]]:
    return list(mt.call("ListBonusPayments", AssignmentId=assignment_id)["BonusPayments"])


def frame_url(settings: Settings, emu: Emulator, hit: Hit, assignment_id: str, worker: str) -> str:
    """The URL MTurk frames: ExternalURL + assignmentId, hitId, turkSubmitTo, workerId."""
    query = urlencode(
        {
            "assignmentId": assignment_id,
            "hitId": hit.mturk_hit_id,
            "turkSubmitTo": emu.url,
            "workerId": worker,
        }
    )
    return f"{task_url(settings, hit.id)}?{query}"


@pytest.fixture
def happ(hsettings: Settings, session: Session) -> FastAPI:
    return app_on(hsettings, session)


@pytest.fixture
def web(happ: FastAPI) -> Iterator[TestClient]:
    with TestClient(happ) as c:
        yield c


def truth(i: int) -> int:
    return 1 if i % 2 == 0 else -1


def examples_frame(n: int = N_EXAMPLES) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "example_id": [f"e{i}" for i in range(n)],
            "age": [20 + i for i in range(n)],
            "priors": [i % 7 for i in range(n)],
            "race": ["Caucasian" if i % 3 else "Non-caucasian" for i in range(n)],
            "true_label": [truth(i) for i in range(n)],
        }
    )


def make_project(
    session: Session,
    *,
    n_examples: int = N_EXAMPLES,
    n_gold: int = 6,
    n_quiz: int = 2,
    max_answers: int = 3,
    questions_per_hit: int = 10,
    gold_per_hit: int = 2,
    quiz_per_hit: int = 1,
    provider: str = "mturk",
    budget_cap: float | None = None,
) -> int:
    """Examples e0..e{n-1}; e0..e{n_gold-1} hidden gold, the next n_quiz a training quiz."""
    project = create_project(
        session=session,
        data=ProjectCreate(
            **project_fields(
                max_answers=max_answers,
                questions_per_hit=questions_per_hit,
                gold_per_hit=gold_per_hit,
                quiz_per_hit=quiz_per_hit,
                provider=provider,
                budget_cap=budget_cap,
            )
        ),
    )
    fill_project(session, project.id, n_examples=n_examples, n_gold=n_gold, n_quiz=n_quiz)
    return project.id


def project_fields(**fields: Any) -> dict[str, Any]:
    """A COMPAS project's settings as JSON (what make_project creates; ``fields`` override)."""
    rule = WorkerFilterRule(min_gold=1, min_accuracy=0.5, credible_level=None)
    return {
        "name": "COMPAS recidivism",
        "question": "How likely is this person to reoffend within two years?",
        "visible_columns": ["age", "priors", "race"],
        "worker_filter": rule.model_dump(),
        **fields,
    }


def fill_project(
    session: Session, project_id: int, *, n_examples: int, n_gold: int, n_quiz: int
) -> None:
    """make_project's examples and gold, in project ``project_id``."""
    upload_examples(
        session=session,
        project_id=project_id,
        data=examples_frame(n_examples).to_csv(index=False).encode(),
        filename="examples.csv",
    )
    gold = [
        GoldCreate(example_id=f"e{i}", label=truth(i), kind="hidden_check") for i in range(n_gold)
    ]
    gold += [
        GoldCreate(
            example_id=f"e{i}", label=truth(i), kind="training_quiz", explanation=QUIZ_EXPLANATION
        )
        for i in range(n_gold, n_gold + n_quiz)
    ]
    if gold:
        add_gold(session=session, project_id=project_id, items=gold)


def project_hits(session: Session, project_id: int) -> list[Hit]:
    return list(session.scalars(select(Hit).where(Hit.project_id == project_id).order_by(Hit.id)))


def n_answers(session: Session, project_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Answer).where(Answer.project_id == project_id)
        )
        or 0
    )


def example_of(session: Session, field: str, secret: str = TEST_SECRET) -> Example:
    """The example behind an answer field. Field names are opaque per assignment (an HMAC of
    assignment and example under the app's secret), so only the requester side can say."""
    settings = Settings(_env_file=None, environment="test", secret_key=secret)  # type: ignore[call-arg]
    rows = session.execute(
        select(Assignment.external_id, HitAssignment.questions).join(
            HitAssignment, HitAssignment.assignment_id == Assignment.id
        )
    ).all()
    for aid, questions in rows:
        for e in questions or []:
            if answer_field(settings, str(aid), int(e)) == field:
                example = session.get(Example, int(e))
                assert example is not None
                return example
    raise AssertionError(f"no assignment shows a question named {field}")


def gold_value(session: Session, field: str, *, right: bool) -> str:
    """A 1-4 answer to question ``field`` that is right (or wrong) for its true label."""
    example = example_of(session, field)
    assert example.known_label is not None
    positive = example.known_label == 1
    return "4" if positive == right else "1"


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def hidden(form: dict[str, Any]) -> dict[str, str]:
    return {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("type") == "hidden"}


def radios(form: dict[str, Any]) -> list[str]:
    return sorted({i["name"] for i in form["inputs"] if i.get("type") == "radio"})


class Worker:
    """A simulated worker driving the emulator (accept, externalSubmit) and the task page."""

    def __init__(self, web: TestClient, emu: Emulator, label: str) -> None:
        self.web, self.emu = web, emu
        self.id = synthetic_worker_id(label)
        self.assignment_id = ""
        self.page = ""

    def open(self, hit: Hit) -> httpx.Response:
        acc = self.emu.worker_accept(str(hit.mturk_hit_id), self.id)
        self.assignment_id = acc["assignmentId"]
        response = self.web.get(local(acc["frameUrl"]))
        self.page = response.text
        return response

    def form(self, suffix: str) -> dict[str, Any]:
        return next(f for f in parse_forms(self.page) if f["action"].endswith(suffix))

    def do_quiz(self, value: str = "4") -> httpx.Response:
        form = self.form("/quiz")
        data = hidden(form) | dict.fromkeys(radios(form), value)
        response = self.web.post(form["action"], data=data)
        self.page = response.text
        return response

    def answers(self, value: Any = "2") -> dict[str, str]:
        form = self.form("/submit")
        fields = radios(form)
        values = {f: value(f) if callable(value) else value for f in fields}
        return hidden(form) | values

    def submit(self, data: dict[str, str]) -> httpx.Response:
        return self.web.post(self.form("/submit")["action"], data=data)

    def external_submit(self, response: httpx.Response) -> httpx.Response:
        back = parse_forms(response.text)[0]
        assert back["action"] == f"{self.emu.url}/mturk/externalSubmit"
        return httpx.post(back["action"], data=hidden(back), timeout=30)

    def complete(self, hit: Hit, value: Any = "2") -> httpx.Response:
        """Accept, open, quiz if asked, submit, post to externalSubmit."""
        assert self.open(hit).status_code == 200
        if any(f["action"].endswith("/quiz") for f in parse_forms(self.page)):
            assert self.do_quiz().status_code == 200
        response = self.submit(self.answers(value))
        assert response.status_code == 200, response.text
        final = self.external_submit(response)
        assert final.status_code == 200, final.text
        return response
