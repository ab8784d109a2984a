"""Publishing a batch as one Prolific study, retry-safe and resumable (docs/PROLIFIC.md §2, §7)."""

from __future__ import annotations

import hashlib
import html
import math
import re
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.security import sign
from app.crowd import excluded_workers
from app.models import (
    Hit,
    Project,
    ProlificAccount,
    ProlificSession,
    ProlificStudy,
    Worker,
)
from app.prolific.client import (
    ProlificClient,
    ProlificRequestError,
    ProlificUnavailable,
)
from app.services import ledger
from app.services.crowd.labels import load_project_crowd
from app.services.publishing.settings import hit_options

if TYPE_CHECKING:
    from app.services.publishing import PublishResult

from app.services.recruiting.prolific.common import (
    _HEX24,
    ATTEMPTS,
    KEY_PREFIX,
    SECONDS_PER_QUESTION,
    WORKER_PREFIX,
    account,
    client_for,
    fees,
    max_time,
    minor,
    now,
    place_cost_of,
)


# -- publishing ------------------------------------------------------------------------------
def excluded_participants(*, session: Session, project: Project) -> list[str]:
    """Participants who already answered this project, were filtered out or were blocked."""
    data = load_project_crowd(session=session, project_id=project.id)
    names = set(data.answers["worker_id"].astype(str)) | {
        str(w) for w in excluded_workers(data.scores)
    }
    names |= set(
        session.scalars(
            select(ProlificSession.participant_id)
            .join(ProlificStudy, ProlificStudy.id == ProlificSession.study_row_id)
            .where(ProlificStudy.project_id == project.id)
        )
    )
    blocked = session.scalars(select(Worker.external_id).where(Worker.blocked.is_(True)))
    names |= {str(b) for b in blocked}
    out = set()
    for name in names:
        pid = name[len(WORKER_PREFIX) :] if name.startswith(WORKER_PREFIX) else name
        if _HEX24.match(pid):
            out.add(pid)
    return sorted(out)


def study_row(
    *, session: Session, settings: Settings, project: Project, batch: int, rows: list[Hit]
) -> ProlificStudy:
    row = session.scalar(
        select(ProlificStudy).where(
            ProlificStudy.project_id == project.id, ProlificStudy.batch == batch
        )
    )
    if row is not None:
        return row
    digest = hashlib.sha256("|".join(sorted(h.token for h in rows)).encode()).hexdigest()[:12]
    key = f"{KEY_PREFIX}:p{project.id}:b{batch}:{digest}"
    n_questions = max(h.n_questions for h in rows)
    reward = max(ledger.money(h.reward) for h in rows)
    eta = max(1, math.ceil(n_questions * SECONDS_PER_QUESTION / 60))
    code = re.sub(r"[^A-Z0-9]", "", sign(settings, "prolific-code", key).upper())[:8] or "FRTRAIN1"
    row = ProlificStudy(
        project_id=project.id,
        batch=batch,
        internal_name=key,
        state="intent",
        completion_code=code,
        places=sum(h.max_assignments for h in rows),
        reward_minor=minor(reward),
        estimated_minutes=eta,
        maximum_minutes=max_time(eta, hit_options(session=session, project_id=project.id)),
        excluded=excluded_participants(session=session, project=project),
    )
    session.add(row)
    session.commit()  # the intent is durable before Prolific hears of it
    return row


def study_url(settings: Settings, study: ProlificStudy) -> str:
    base = settings.public_base_url.rstrip("/")
    return (
        f"{base}/prolific/{study.id}/start?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}"
        "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )


def study_body(
    *,
    session: Session,
    settings: Settings,
    project: Project,
    study: ProlificStudy,
    acct: ProlificAccount,
) -> dict[str, Any]:
    options = hit_options(session=session, project_id=project.id)
    title = options["title"] or f"{project.name}: answer questions about examples"
    description = options["description"] or project.question
    filters: list[dict[str, Any]] = []
    if study.excluded:
        # docs/PROLIFIC.md §5: the custom blocklist's API id is unconfirmed (probably this one).
        filters.append({"filter_id": "custom_blocklist", "selected_values": list(study.excluded)})
    if acct.blocklist_group_id:
        filters.append(
            {
                "filter_id": "participant_group_blocklist",
                "selected_values": [acct.blocklist_group_id],
            }
        )
    return {
        "name": title[:120],
        "internal_name": study.internal_name,
        "metadata": study.internal_name,
        "description": f"<p>{html.escape(description)}</p>",
        "external_study_url": study_url(settings, study),
        "prolific_id_option": "url_parameters",
        "completion_codes": [
            {
                "code": study.completion_code,
                "code_type": "COMPLETED",
                "actions": [{"action": "MANUALLY_REVIEW"}],
                "actor": "participant",
            }
        ],
        "total_available_places": study.places,
        "estimated_completion_time": study.estimated_minutes,
        "maximum_allowed_time": study.maximum_minutes,
        "reward": study.reward_minor,
        "device_compatibility": [],
        "peripheral_requirements": [],
        "filters": filters,
        "project": acct.prolific_project_id,
        "submissions_config": {"max_submissions_per_participant": 1},
    }


def find_draft(client: ProlificClient, acct: ProlificAccount, key: str) -> dict[str, Any] | None:
    for row in client.project_studies(acct.prolific_project_id):
        if row.get("internal_name") == key:
            study = client.get_study(str(row["id"]))
            if study.get("metadata") in (None, key):  # list rows omit metadata; confirm it
                return study
    return None


def ensure_created(
    client: ProlificClient,
    acct: ProlificAccount,
    study: ProlificStudy,
    body: dict[str, Any],
    reconcile: bool,
) -> tuple[dict[str, Any], bool]:
    """(the study, adopted?): adopt our draft if it exists, else create it (retry-safe)."""
    if study.study_id:
        return client.get_study(study.study_id), True
    if reconcile or study.error:
        found = find_draft(client, acct, study.internal_name)
        if found is not None:
            return found, True
    for _ in range(ATTEMPTS):
        try:
            return client.create_study(body), False
        except ProlificUnavailable:
            found = find_draft(client, acct, study.internal_name)
            if found is not None:
                return found, True
            time.sleep(0.05)
    raise ProlificUnavailable(f"could not create study {study.internal_name} on Prolific")


def ensure_published(client: ProlificClient, study_id: str) -> dict[str, Any]:
    for _ in range(ATTEMPTS):
        current = client.get_study(study_id)
        if current["status"] != "UNPUBLISHED":
            return current
        try:
            return client.transition_study(study_id, "PUBLISH")
        except ProlificUnavailable:
            time.sleep(0.05)  # read it back: the publish may have gone through
    raise ProlificUnavailable(f"could not publish study {study_id} on Prolific")


def publish_rows(
    *,
    session: Session,
    settings: Settings,
    project: Project,
    rows: list[Hit],
    result: PublishResult,
    reconcile: bool,
) -> PublishResult:
    if not rows:
        return result
    with client_for(settings, project) as client:
        acct = account(session=session, settings=settings, client=client, project=project)
        by_batch: dict[int, list[Hit]] = {}
        for row in rows:
            by_batch.setdefault(row.batch, []).append(row)
        for batch, hits in sorted(by_batch.items()):
            study = study_row(
                session=session, settings=settings, project=project, batch=batch, rows=hits
            )
            body = study_body(
                session=session, settings=settings, project=project, study=study, acct=acct
            )
            try:
                created, adopted = ensure_created(client, acct, study, body, reconcile)
            except ProlificRequestError as exc:
                study.state = "failed"
                study.error = exc.detail[:2000]
                for h in hits:
                    h.state = "failed"
                    h.error = exc.detail[:2000]
                session.commit()
                result.failed.extend(h.token for h in hits)
                continue
            except ProlificUnavailable as exc:
                study.error = exc.detail[:2000]
                session.commit()
                raise
            study.study_id = str(created["id"])
            study.api_url = client.api_url
            study.state = "created"
            study.error = None
            session.commit()
            live = ensure_published(client, study.study_id)
            study.status = str(live["status"])
            study.state = "published"
            study.published_at = now()
            for h in hits:
                h.endpoint_url = client.api_url
                h.mturk_status = study.status
                h.n_available = h.max_assignments
                reserve(session=session, settings=settings, hit=h, study=study)
                h.state = "published"
                h.published_at = study.published_at
                h.error = None
            session.commit()
            if adopted:
                result.adopted += len(hits)
            else:
                result.created += len(hits)
    return result


def reserve(*, session: Session, settings: Settings, hit: Hit, study: ProlificStudy) -> None:
    reward = Decimal(study.reward_minor) / 100
    per = place_cost_of(settings, reward)
    fee, vat = fees(settings, reward)
    ledger.record(
        session=session,
        project_id=hit.project_id,
        hit_id=hit.id,
        kind="reserve",
        amount=per * hit.max_assignments,
        key=f"reserve:{hit.token}",
        note=f"{hit.max_assignments} x ({reward} + {fee} Prolific fee + {vat} VAT)",
    )
