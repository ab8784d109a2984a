"""Fixtures for the Prolific provider: a fresh Prolific emulator per test, settings pointing the
httpx client at it, the service app (TestClient at http://testserver) and helpers that act as
a participant (join on the emulator, open the study URL on the service, complete)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.prolific.emulator import ProlificEmulator, run_prolific_emulator
from tests.app.conftest import app_on, marketplace_settings
from tests.app.html_forms import parse_forms


@pytest.fixture
def pemu() -> Iterator[ProlificEmulator]:
    with run_prolific_emulator() as e:
        yield e


@pytest.fixture
def psettings(settings: Settings, pemu: ProlificEmulator) -> Settings:
    """The shared ``settings`` with the Prolific client pointed at this test's emulator."""
    return marketplace_settings(
        settings, prolific_api_url=pemu.api_url, prolific_api_token=pemu.token
    )


@pytest.fixture
def papp(psettings: Settings, session: Session) -> FastAPI:
    return app_on(psettings, session)


@pytest.fixture
def pweb(papp: FastAPI) -> Iterator[TestClient]:
    with TestClient(papp) as c:
        yield c


def api(pemu: ProlificEmulator) -> httpx.Client:
    return httpx.Client(
        base_url=pemu.api_url + "/", headers={"Authorization": f"Token {pemu.token}"}, timeout=30
    )


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def join(pemu: ProlificEmulator, study_id: str, pid: str | None = None) -> dict[str, Any]:
    """The participant reserves a place on Prolific; returns ``{submission_id, url, ...}``."""
    pid = pid or pemu.new_participants(1)[0]
    return pemu.join(study_id, pid)


def answer_page(web: TestClient, url: str, value: str = "3") -> tuple[str, dict[str, str]]:
    """Open the study URL on the service (following its redirect to the task page) and fill
    every question with ``value``; returns (the form's action, the fields)."""
    page = web.get(local(url), follow_redirects=True)
    assert page.status_code == 200, page.text
    form = next(f for f in parse_forms(page.text) if f["action"].endswith("/submit"))
    fields = {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("type") == "hidden"}
    for name in {i["name"] for i in form["inputs"] if i.get("type") == "radio"}:
        fields[name] = value
    return form["action"], fields


def complete(pemu: ProlificEmulator, location: str, pid: str) -> httpx.Response:
    """The participant's browser lands on Prolific's completion URL."""
    return httpx.get(location, params={"participant": pid}, timeout=30)
