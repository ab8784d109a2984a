"""The Prolific client: live use refused without all three switches, emulator reachable,
Prolific's error messages carried through, 429s retried."""

from __future__ import annotations

import pytest

from app.core.config import PROLIFIC_LIVE_API, Settings
from app.prolific.client import (
    ProlificLiveNotAllowed,
    ProlificRequestError,
    make_prolific_client,
    resolve_target,
)
from app.prolific.emulator import ProlificEmulator


def bare(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg, arg-type]


def test_no_settings_cannot_reach_prolific() -> None:
    with pytest.raises(ProlificLiveNotAllowed) as exc:
        make_prolific_client(bare())
    assert "PROLIFIC_ALLOW_LIVE" in exc.value.detail


@pytest.mark.parametrize(
    ("env_live", "project_live", "cap"),
    [(False, True, 10.0), (True, False, 10.0), (True, True, None), (True, True, 0.0)],
)
def test_live_refused_unless_all_three_switches(
    env_live: bool, project_live: bool, cap: float | None
) -> None:
    settings = bare(
        prolific_api_url=PROLIFIC_LIVE_API, prolific_api_token="t", prolific_allow_live=env_live
    )
    with pytest.raises(ProlificLiveNotAllowed):
        resolve_target(settings, project_allow_live=project_live, spending_cap=cap)


def test_live_with_all_three_switches() -> None:
    settings = bare(prolific_api_token="t", prolific_allow_live=True)
    target = resolve_target(settings, project_allow_live=True, spending_cap=50)
    assert target.mode == "live" and target.api_url == PROLIFIC_LIVE_API


def test_emulator_errors_carry_prolific_message(pemu: ProlificEmulator) -> None:
    settings = bare(prolific_api_url=pemu.api_url, prolific_api_token=pemu.token)
    client = make_prolific_client(settings)
    assert client.mode == "emulator" and client.me()["id"]
    with pytest.raises(ProlificRequestError) as exc:
        client.create_study({"name": "x"})
    assert "description" in exc.value.detail and "This field is required" in exc.value.detail
    client.close()


def test_429_is_retried(pemu: ProlificEmulator) -> None:
    settings = bare(prolific_api_url=pemu.api_url, prolific_api_token=pemu.token)
    client = make_prolific_client(settings)
    pemu.faults.fail_next("GET /users/me/", "throttle", 3)
    assert client.me()["id"]
    assert pemu.calls["GET /users/me/"] == 4
    client.close()


def test_publish_refused_without_switches_writes_nothing(session: object) -> None:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from app.models import Hit, ProlificStudy
    from app.services import publishing
    from tests.app.hits.conftest import make_project

    assert isinstance(session, Session)
    pid = make_project(session, provider="prolific")
    with pytest.raises(ProlificLiveNotAllowed):
        publishing.publish_batch(session=session, settings=bare(), project_id=pid)
    for model in (Hit, ProlificStudy):
        assert session.scalar(select(func.count()).select_from(model)) == 0
    plan = publishing.publish_batch(
        session=session, settings=bare(), project_id=pid, dry_run=True
    ).plan
    assert plan is not None and any("below Prolific's minimum" in w for w in plan.warnings)
