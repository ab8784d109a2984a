"""Accepted-but-abandoned MTurk assignments: sync learns from GetHIT which slots were returned
or abandoned (docs/MTURK.md §3) and releases them at once, telling re-offered slots (HIT still
unexpired) from lost ones (the HIT expired first). Driven through boto3 against the emulator
and its clock."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Assignment
from app.mturk.emulator import Emulator
from app.services import publishing
from app.services.recruiting import sync
from tests.app.hits.conftest import Worker as SimWorker
from tests.app.hits.conftest import make_project, project_hits


def _rows(session: Session, pid: int) -> set[str]:
    return set(session.scalars(select(Assignment.external_id).where(Assignment.project_id == pid)))


def test_default_assignment_duration_fits_a_page_of_about_30_questions() -> None:
    duration = publishing.DEFAULT_HIT_OPTIONS["assignment_duration_seconds"]
    # ~30 questions at up to ~30 s each is 15 minutes; twice that is room enough, and an
    # abandoned slot is back on the market within half an hour, not an hour or more.
    assert 15 * 60 <= duration <= 30 * 60


def test_sync_releases_returned_and_abandoned_slots_and_knows_which_are_lost(
    session: Session, hsettings: Settings, emu: Emulator, web: TestClient
) -> None:
    pid = make_project(session, n_quiz=0, quiz_per_hit=0)
    publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
    first, second = project_hits(session, pid)[:2]
    # One worker opens the task and returns it; another opens it and walks away.
    gone, idle = SimWorker(web, emu, "returns"), SimWorker(web, emu, "walks")
    assert gone.open(first).status_code == 200 and idle.open(first).status_code == 200
    emu.worker_return(gone.assignment_id)
    assert _rows(session, pid) == {gone.assignment_id, idle.assignment_id}
    # The default duration runs out on the marketplace's clock: MTurk abandons the second.
    emu.clock.advance(publishing.DEFAULT_HIT_OPTIONS["assignment_duration_seconds"] + 1)
    out = sync.sync_project(session=session, settings=hsettings, project_id=pid, apply_review=False)
    assert out.abandoned_released == 2 and out.slots_lost == 0
    assert out.assignments_discarded == 0 and not out.problems  # a return is not a forgery
    assert _rows(session, pid) == set()
    session.refresh(first)
    assert first.n_pending == 0 and first.n_available == first.max_assignments  # re-offered
    assert out.to_json()["slots_lost"] == 0
    # A third worker accepts the next HIT a minute before it expires, then walks away: the HIT
    # expires before their time is up, so the slot is not re-offered (MTurk's rule), and the
    # service says so.
    duration = publishing.DEFAULT_HIT_OPTIONS["assignment_duration_seconds"]
    emu.clock.advance(publishing.DEFAULT_HIT_OPTIONS["lifetime_seconds"] - duration - 1 - 60)
    late = SimWorker(web, emu, "late")
    assert late.open(second).status_code == 200
    emu.clock.advance(duration + 1)
    again = sync.sync_project(
        session=session, settings=hsettings, project_id=pid, apply_review=False
    )
    assert again.abandoned_released == 1 and again.slots_lost == 1
    assert again.assignments_discarded == 0
    assert late.assignment_id not in _rows(session, pid)
    # Nothing left to learn: a further sync changes nothing.
    third = sync.sync_project(
        session=session, settings=hsettings, project_id=pid, apply_review=False
    )
    assert third.abandoned_released == 0 and third.slots_lost == 1
