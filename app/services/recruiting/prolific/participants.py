"""A participant's arrival from Prolific: (participant, study, session) bound to one question
set on the first visit; forged or abandoned sessions give their set up when places run out."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import (
    Hit,
    Project,
    ProlificSession,
    ProlificStudy,
    Worker,
)

if TYPE_CHECKING:
    pass

from app.services.recruiting.prolific.common import (
    _HEX24,
    GONE,
    client_for,
    worker_id,
)


# -- participants ----------------------------------------------------------------------------
def check_ids(params: dict[str, str]) -> tuple[str, str, str]:
    pid = params.get("PROLIFIC_PID") or ""
    study = params.get("STUDY_ID") or ""
    sid = params.get("SESSION_ID") or ""
    for name, value in (("PROLIFIC_PID", pid), ("STUDY_ID", study), ("SESSION_ID", sid)):
        if not _HEX24.match(value):
            raise InvalidInput(
                f"{name} is missing or malformed; open this study from Prolific (the link "
                "carries PROLIFIC_PID, STUDY_ID and SESSION_ID)"
            )
    return pid, study, sid


def start(
    *, session: Session, settings: Settings, study_row_id: int, params: dict[str, str]
) -> str:
    """A participant arrives from Prolific: bind (participant, study, session) to a question
    set on the first visit; returns the task page URL (relative) to redirect to."""
    pid, prolific_study, sid = check_ids(params)
    study = session.execute(
        select(ProlificStudy).where(ProlificStudy.id == study_row_id).with_for_update()
    ).scalar_one_or_none()
    if study is None or study.state != "published" or study.study_id != prolific_study:
        raise NotFound("this Prolific study is not open here")
    existing = session.get(ProlificSession, sid)
    if existing is not None:
        if existing.participant_id != pid or existing.study_row_id != study.id:
            raise Forbidden("this Prolific session belongs to another participant")
    else:
        mine = session.scalar(
            select(ProlificSession).where(
                ProlificSession.study_row_id == study.id, ProlificSession.participant_id == pid
            )
        )
        if mine is not None:
            raise Conflict("you have already taken part in this study; it can be taken once")
        worker = session.scalar(select(Worker).where(Worker.external_id == worker_id(pid)))
        if worker is not None and worker.blocked:
            raise Forbidden("this participant may not work on this project's studies")
        hit = free_set(session=session, study=study)
        if hit is None:
            refresh_places(session=session, settings=settings, study=study)
            hit = free_set(session=session, study=study)
        if hit is None:
            raise Conflict("this study has all the participants it needs; please return it")
        existing = ProlificSession(
            session_id=sid, study_row_id=study.id, hit_id=hit.id, participant_id=pid, state="open"
        )
        session.add(existing)
        try:
            session.commit()
        except IntegrityError:  # the same session (or participant) opened twice at once
            session.rollback()
            return start(
                session=session, settings=settings, study_row_id=study_row_id, params=params
            )
    query = urlencode({"PROLIFIC_PID": pid, "STUDY_ID": prolific_study, "SESSION_ID": sid})
    return f"/task/{existing.hit_id}?{query}"


def free_set(*, session: Session, study: ProlificStudy) -> Hit | None:
    hits = list(
        session.scalars(
            select(Hit)
            .where(
                Hit.project_id == study.project_id,
                Hit.batch == study.batch,
                Hit.provider == "prolific",
                Hit.state == "published",
            )
            .order_by(Hit.seq)
        )
    )
    taken = dict(
        session.execute(
            select(ProlificSession.hit_id, func.count())
            .where(ProlificSession.study_row_id == study.id, ProlificSession.state != "released")
            .group_by(ProlificSession.hit_id)
        ).all()
    )
    for hit in hits:
        if int(taken.get(hit.id, 0)) < hit.max_assignments:
            return hit
    return None


def refresh_places(*, session: Session, settings: Settings, study: ProlificStudy) -> None:
    """Free the question sets of sessions Prolific says gave their place up, or never had one
    (a forged session id)."""
    project = session.get(Project, study.project_id)
    assert project is not None and study.study_id is not None
    with client_for(settings, project) as client:
        listed = {str(s["id"]): str(s["status"]) for s in client.study_submissions(study.study_id)}
    for row in session.scalars(
        select(ProlificSession).where(
            ProlificSession.study_row_id == study.id,
            ProlificSession.state.in_(("open", "held")),
        )
    ):
        status = listed.get(row.session_id)
        if status is None or status in GONE:
            row.state = "released"
            row.prolific_status = status
    session.commit()
