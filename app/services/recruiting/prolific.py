"""The Prolific provider (PROLIFIC.md): one study per batch, participants through one study URL.

Publishing: the batch's question sets are :class:`~app.models.Hit` rows; a
:class:`~app.models.ProlificStudy` row (state ``intent``) with an ``internal_name`` key is
committed before Prolific is called. The draft is created with one external URL carrying
``{{%PROLIFIC_PID%}}``, ``{{%STUDY_ID%}}`` and ``{{%SESSION_ID%}}``, places = the sets' places,
reward per place = questions × reward per answer, times, one completion code and eligibility
filters excluding participants who already answered, were filtered out or were blocked; then it
is published by its ``PUBLISH`` transition. Prolific has no request tokens, so a lost reply or a
crash is resolved by listing our Prolific project's studies and adopting the draft whose
``internal_name`` (and ``metadata``) is ours (PROLIFIC.md §7 recipe); a publish is retried only
while the study still reads ``UNPUBLISHED``.

Participants: ``/prolific/{study}/start`` binds (participant, study, session) to one question set
on the first visit; the task page then works as for any provider, and its answers are *held*
until Prolific lists the submission as finished (AWAITING REVIEW or APPROVED); only then do they
become answers. A participant cannot take a study twice nor someone else's session.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import threading
import time
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, InvalidInput, NotFound
from app.models import (
    Answer,
    Assignment,
    GoldQuestion,
    Hit,
    HitAssignment,
    Project,
    ProlificAccount,
    ProlificPayment,
    ProlificSession,
    ProlificStudy,
    Worker,
)
from app.prolific.client import (
    ProlificClient,
    ProlificRequestError,
    ProlificUnavailable,
    make_prolific_client,
    resolve_target,
)
from app.services import ledger
from app.services.providers import sign

if TYPE_CHECKING:
    from app.services.publishing import PublishResult
    from app.services.sync import SyncResult
    from app.services.task_page import Identity

WORKER_PREFIX = "prolific:"
KEY_PREFIX = "frtrain"
_HEX24 = re.compile(r"^[0-9a-f]{24}$")
SECONDS_PER_QUESTION = 15  # the estimated completion time's rule (a 30-question task: 8 min)
FINISHED = ("AWAITING REVIEW", "APPROVED")
GONE = ("RETURNED", "TIMED-OUT", "REJECTED")
REJECTION_CATEGORY = "FAILED_CHECK"
REJECTION_TAIL = (
    " The check questions in this study have known answers, and the answers given to them "
    "were far from those answers, so the submission could not be used."
)
RETURN_REASON = "No answers reached the study server; please return this submission."
ATTEMPTS = 6
#: Prolific's minimum pay rate per hour (PROLIFIC.md §2: $8, £6), in the project's currency.
HOURLY_FLOOR = Decimal("8.00")


def _now() -> datetime:
    return datetime.now(UTC)


def minor(amount: Decimal) -> int:
    """Major → minor units (the workspace currency; the project's rates are read as such)."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fees(settings: Settings, amount: Decimal) -> tuple[Decimal, Decimal]:
    """Prolific's fee on ``amount`` (rewards or bonuses) and the VAT on that fee, to the cent."""
    fee = ledger.money(amount * Decimal(str(settings.prolific_fee_percent)) / 100)
    vat = ledger.money(fee * Decimal(str(settings.prolific_vat_percent)) / 100)
    return fee, vat


def max_time(eta: int, options: dict[str, Any]) -> int:
    """``maximum_allowed_time``: the option's duration, at least the stricter documented
    minimum 2 + 2·ETA + 2·√ETA (PROLIFIC.md §2 lists two; the larger satisfies both)."""
    floor = math.ceil(2 + 2 * eta + 2 * math.sqrt(eta))
    return max(floor, int(options["assignment_duration_seconds"]) // 60)


def worker_id(pid: str) -> str:
    return WORKER_PREFIX + pid


_CLIENTS: dict[tuple[Any, ...], ProlificClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(settings: Settings, project: Project) -> ProlificClient:
    """The project's client (the live switches are checked on every call; one connection pool
    per target and token is shared, so a sync does not reconnect for every submission)."""
    target = resolve_target(
        settings, project_allow_live=bool(project.allow_live), spending_cap=project.budget_cap
    )
    key = (target, settings.prolific_api_token)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = make_prolific_client(
                settings,
                project_allow_live=bool(project.allow_live),
                spending_cap=project.budget_cap,
            )
            _CLIENTS[key] = client
        return client


def account(
    session: Session, settings: Settings, client: ProlificClient, project: Project
) -> ProlificAccount:
    """The workspace and Prolific project of this project's studies (found or made once)."""
    row = session.get(ProlificAccount, project.id)
    if row is not None and row.api_url == client.api_url:
        return row
    workspace = settings.prolific_workspace_id
    if workspace is None:
        spaces = client.workspaces()
        if not spaces:
            raise Conflict("the Prolific token has no workspace")
        workspace = str(spaces[0]["id"])
    title = f"{settings.prolific_project_title} project {project.id}"
    found = next((p for p in client.projects(workspace) if p.get("title") == title), None)
    if found is None:
        try:
            found = client.create_project(workspace, title)
        except ProlificUnavailable:
            found = next((p for p in client.projects(workspace) if p.get("title") == title), None)
            if found is None:
                raise
    if row is None:
        row = ProlificAccount(project_id=project.id)
        session.add(row)
    row.api_url = client.api_url
    row.workspace_id = workspace
    row.prolific_project_id = str(found["id"])
    session.commit()
    return row


# -- publishing ------------------------------------------------------------------------------
def _excluded(session: Session, project: Project) -> list[str]:
    """Participants who already answered this project, were filtered out or were blocked."""
    from app.crowd import excluded_workers
    from app.services.labels import load_project_crowd

    data = load_project_crowd(session, project.id)
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


def _study_row(
    session: Session, settings: Settings, project: Project, batch: int, rows: list[Hit]
) -> ProlificStudy:
    from app.services.publishing import hit_options

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
        maximum_minutes=max_time(eta, hit_options(session, project.id)),
        excluded=_excluded(session, project),
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
    session: Session,
    settings: Settings,
    project: Project,
    study: ProlificStudy,
    acct: ProlificAccount,
) -> dict[str, Any]:
    from app.services.publishing import hit_options

    options = hit_options(session, project.id)
    title = options["title"] or f"{project.name}: answer questions about examples"
    description = options["description"] or project.question
    filters: list[dict[str, Any]] = []
    if study.excluded:
        # PROLIFIC.md §5: the custom blocklist's API id is unconfirmed (probably this one).
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


def _find_draft(client: ProlificClient, acct: ProlificAccount, key: str) -> dict[str, Any] | None:
    for row in client.project_studies(acct.prolific_project_id):
        if row.get("internal_name") == key:
            study = client.get_study(str(row["id"]))
            if study.get("metadata") in (None, key):  # list rows omit metadata; confirm it
                return study
    return None


def _ensure_created(
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
        found = _find_draft(client, acct, study.internal_name)
        if found is not None:
            return found, True
    for _ in range(ATTEMPTS):
        try:
            return client.create_study(body), False
        except ProlificUnavailable:
            found = _find_draft(client, acct, study.internal_name)
            if found is not None:
                return found, True
            time.sleep(0.05)
    raise ProlificUnavailable(f"could not create study {study.internal_name} on Prolific")


def _ensure_published(client: ProlificClient, study_id: str) -> dict[str, Any]:
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
    session: Session,
    settings: Settings,
    project: Project,
    rows: list[Hit],
    result: PublishResult,
    *,
    reconcile: bool,
) -> PublishResult:
    if not rows:
        return result
    with client_for(settings, project) as client:
        acct = account(session, settings, client, project)
        by_batch: dict[int, list[Hit]] = {}
        for row in rows:
            by_batch.setdefault(row.batch, []).append(row)
        for batch, hits in sorted(by_batch.items()):
            study = _study_row(session, settings, project, batch, hits)
            body = study_body(session, settings, project, study, acct)
            try:
                created, adopted = _ensure_created(client, acct, study, body, reconcile)
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
            live = _ensure_published(client, study.study_id)
            study.status = str(live["status"])
            study.state = "published"
            study.published_at = _now()
            for h in hits:
                h.endpoint_url = client.api_url
                h.mturk_status = study.status
                h.n_available = h.max_assignments
                _reserve(session, settings, h, study)
                h.state = "published"
                h.published_at = study.published_at
                h.error = None
            session.commit()
            if adopted:
                result.adopted += len(hits)
            else:
                result.created += len(hits)
    return result


def _reserve(session: Session, settings: Settings, hit: Hit, study: ProlificStudy) -> None:
    reward = Decimal(study.reward_minor) / 100
    per = place_cost_of(settings, reward)
    fee, vat = fees(settings, reward)
    ledger.record(
        session,
        project_id=hit.project_id,
        hit_id=hit.id,
        kind="reserve",
        amount=per * hit.max_assignments,
        key=f"reserve:{hit.token}",
        note=f"{hit.max_assignments} x ({reward} + {fee} Prolific fee + {vat} VAT)",
    )


def place_cost_of(settings: Settings, reward: Decimal) -> Decimal:
    fee, vat = fees(settings, reward)
    return ledger.money(reward) + fee + vat


# -- participants ----------------------------------------------------------------------------
def _check_ids(params: dict[str, str]) -> tuple[str, str, str]:
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


def start(session: Session, settings: Settings, study_row_id: int, params: dict[str, str]) -> str:
    """A participant arrives from Prolific: bind (participant, study, session) to a question
    set on the first visit; returns the task page URL (relative) to redirect to."""
    from app.services.task_page import Forbidden

    pid, prolific_study, sid = _check_ids(params)
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
        hit = _free_set(session, study)
        if hit is None:
            _refresh_places(session, settings, study)
            hit = _free_set(session, study)
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
            return start(session, settings, study_row_id, params)
    query = urlencode({"PROLIFIC_PID": pid, "STUDY_ID": prolific_study, "SESSION_ID": sid})
    return f"/task/{existing.hit_id}?{query}"


def _free_set(session: Session, study: ProlificStudy) -> Hit | None:
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


def _refresh_places(session: Session, settings: Settings, study: ProlificStudy) -> None:
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


class ProlificProvider:
    name = "prolific"
    fee_rules = (
        "Prolific: reward per place + a service fee (PROLIFIC_FEE_PERCENT, 33.33% by default) "
        "on rewards and bonuses + VAT on the fee (PROLIFIC_VAT_PERCENT)"
    )
    holds_answers = True

    def hit_cost(self, reward: Decimal, assignments: int) -> ledger.HitCost:
        from app.core.config import get_settings

        settings = get_settings()
        fee, vat = fees(settings, ledger.money(reward))
        return ledger.HitCost(reward=ledger.money(reward), fee=fee + vat, assignments=assignments)

    def place_cost(self, hit: Hit) -> Decimal:
        return self.hit_cost(Decimal(str(hit.reward)), hit.max_assignments).per_assignment

    def plan_warnings(self, hits: list[tuple[int, Decimal]]) -> list[str]:
        out = []
        for n, reward in hits:
            eta = max(1, math.ceil(n * SECONDS_PER_QUESTION / 60))
            hourly = ledger.money(Decimal(reward) * 60 / eta)
            if hourly < HOURLY_FLOOR:
                out.append(
                    f"a {n}-question set pays {reward} for an estimated {eta} min = {hourly}/h, "
                    f"below Prolific's minimum of {HOURLY_FLOOR}/h ($8; £6): raise "
                    "reward_per_answer before a real study"
                )
                break
        return out

    def preflight(self, settings: Settings, project: Project) -> None:
        resolve_target(
            settings, project_allow_live=bool(project.allow_live), spending_cap=project.budget_cap
        )

    def publish_rows(
        self,
        session: Session,
        settings: Settings,
        project: Project,
        rows: list[Hit],
        result: PublishResult,
        *,
        reconcile: bool,
    ) -> PublishResult:
        return publish_rows(session, settings, project, rows, result, reconcile=reconcile)

    def identify(
        self, session: Session, settings: Settings, hit: Hit, params: dict[str, str]
    ) -> Identity:
        from app.services.task_page import Identity

        pid, prolific_study, sid = _check_ids(params)
        study = session.scalar(
            select(ProlificStudy).where(
                ProlificStudy.project_id == hit.project_id, ProlificStudy.batch == hit.batch
            )
        )
        if study is None or study.study_id != prolific_study:
            raise NotFound(f"STUDY_ID {prolific_study} is not task {hit.id}'s study")
        return Identity(prolific_study, sid, worker_id(pid), "")

    def admit(self, session: Session, hit: Hit, ident: Identity) -> None:
        from app.services.task_page import Forbidden

        row = session.get(ProlificSession, ident.assignment_id)
        if (
            row is None
            or row.hit_id != hit.id
            or worker_id(row.participant_id) != ident.worker_id
            or row.state == "released"
        ):
            raise Forbidden("open this study from Prolific: this session was not started here")

    def hold(
        self,
        session: Session,
        hit: Hit,
        assignment: Assignment,
        ha: HitAssignment,
        values: dict[int, int],
    ) -> None:
        row = session.get(ProlificSession, assignment.external_id)
        if row is None or row.state != "open":
            raise Conflict("this session was already submitted; nothing was changed")
        row.answers = {str(k): int(v) for k, v in values.items()}
        row.state = "held"
        row.submitted_at = _now()

    def finish(self, session: Session, settings: Settings, hit: Hit, ident: Identity) -> str:
        study = session.scalar(
            select(ProlificStudy).where(
                ProlificStudy.project_id == hit.project_id, ProlificStudy.batch == hit.batch
            )
        )
        assert study is not None
        project = session.get(Project, hit.project_id)
        assert project is not None
        target = resolve_target(
            settings, project_allow_live=bool(project.allow_live), spending_cap=project.budget_cap
        )
        return f"{target.app_url}/submissions/complete?cc={study.completion_code}"

    # -- sync ----------------------------------------------------------------------------------
    def sync(self, session: Session, settings: Settings, project: Project, out: SyncResult) -> None:
        studies = list(
            session.scalars(
                select(ProlificStudy)
                .where(ProlificStudy.project_id == project.id, ProlificStudy.state == "published")
                .order_by(ProlificStudy.id)
            )
        )
        if not studies:
            return
        with client_for(settings, project) as client:
            for study in studies:
                assert study.study_id is not None
                live = client.get_study(study.study_id)
                study.status = str(live["status"])
                for sub in client.study_submissions(study.study_id):
                    out.assignments_seen += 1
                    _apply_submission(session, client, project, study, sub, out)
                study.synced_at = _now()
                for hit in session.scalars(
                    select(Hit).where(Hit.project_id == project.id, Hit.batch == study.batch)
                ):
                    hit.mturk_status = study.status
                    hit.synced_at = study.synced_at
                    out.hits += 1
                session.commit()

    # -- review --------------------------------------------------------------------------------
    def approve(
        self, session: Session, settings: Settings, hit: Hit, assignment_id: str, **kw: Any
    ) -> None:
        project = session.get(Project, hit.project_id)
        assert project is not None
        client = client_for(settings, project)
        try:  # idempotent; refused until the completion status has landed
            client.transition_submission(assignment_id, {"action": "APPROVE"})
        except ProlificRequestError:
            if _reviewable(client, assignment_id) != "APPROVED":
                client.transition_submission(assignment_id, {"action": "APPROVE"})

    def reject(
        self, session: Session, settings: Settings, hit: Hit, assignment_id: str, feedback: str
    ) -> None:
        message = feedback.strip()
        if len(message) < 100:  # Prolific requires at least 100 characters (PROLIFIC.md §3)
            message = (message + REJECTION_TAIL).strip()
        project = session.get(Project, hit.project_id)
        assert project is not None
        with client_for(settings, project) as client:
            status = _reviewable(client, assignment_id)
            if status != "REJECTED":
                client.transition_submission(
                    assignment_id,
                    {
                        "action": "REJECT",
                        "message": message[:2000],
                        "rejection_category": REJECTION_CATEGORY,
                    },
                )

    def bonus(
        self,
        session: Session,
        settings: Settings,
        hit: Hit,
        assignment_id: str,
        amount: Decimal,
        reason: str,
    ) -> Decimal:
        return pay_bonus(session, settings, hit, assignment_id, amount)

    def block(
        self,
        session: Session,
        settings: Settings,
        worker: Worker,
        *,
        blocked: bool,
        reason: str,
        project_id: int | None,
    ) -> None:
        if project_id is None:
            raise InvalidInput("blocking a Prolific participant needs the project (project_id)")
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(f"project {project_id} does not exist")
        pid = worker.external_id[len(WORKER_PREFIX) :]
        with client_for(settings, project) as client:
            acct = account(session, settings, client, project)
            group = _blocklist(session, client, acct, project)
            if blocked:
                client.add_to_group(group, [pid])
            else:
                client.remove_from_group(group, [pid])


def _reviewable(client: ProlificClient, submission_id: str) -> str:
    """The submission's status once it reads as finished (the completion status may land a
    moment after the redirect, PROLIFIC.md §3: approve only after AWAITING REVIEW)."""
    status = ""
    for attempt in range(ATTEMPTS):
        status = str(client.get_submission(submission_id)["status"])
        if status in (*FINISHED, "REJECTED"):
            return status
        time.sleep(0.05 * 2**attempt)
    raise Conflict(
        f"Prolific submission {submission_id} is {status}; it can be reviewed once it is "
        "AWAITING REVIEW"
    )


def _blocklist(
    session: Session, client: ProlificClient, acct: ProlificAccount, project: Project
) -> str:
    """The project's "blocked" participant group, used as a blocklist filter on new studies."""
    if acct.blocklist_group_id:
        return acct.blocklist_group_id
    name = f"frtrain project {project.id} blocked"
    found = next((g for g in client.groups(acct.workspace_id) if g.get("name") == name), None)
    if found is None:
        found = client.create_group(acct.workspace_id, name)
    acct.blocklist_group_id = str(found["id"])
    session.commit()
    return acct.blocklist_group_id


def _apply_submission(
    session: Session,
    client: ProlificClient,
    project: Project,
    study: ProlificStudy,
    sub: dict[str, Any],
    out: SyncResult,
) -> None:
    sid = str(sub["id"])
    pid = str(sub.get("participant_id", ""))
    status = str(sub.get("status", ""))
    row = session.get(ProlificSession, sid)
    if row is None or row.participant_id != pid or row.study_row_id != study.id:
        if status == "AWAITING REVIEW" and not sub.get("return_requested"):
            # Finished on Prolific without answers reaching us: ask for a return, never pay.
            client.request_return(sid, [RETURN_REASON])
            out.problems.append(f"Prolific submission {sid} has no answers here; return requested")
        return
    row.prolific_status = status
    if row.state in ("open", "held") and status in GONE:
        row.state = "released"  # the place was given up; held answers never count
        return
    if row.state == "held" and status in FINISHED:
        _confirm(session, project, row, status, out)
    if row.state == "confirmed":
        assignment = session.scalar(select(Assignment).where(Assignment.external_id == sid))
        ha = session.get(HitAssignment, assignment.id) if assignment is not None else None
        if assignment is None or ha is None:
            return
        ha.mturk_status = status
        if status in ("APPROVED", "REJECTED") and ha.review == "pending":
            from app.services.review import assignment_cost

            hit = session.get(Hit, ha.hit_id)
            assert hit is not None
            verdict = "approved" if status == "APPROVED" else "rejected"
            assignment.status = verdict
            ha.review = verdict
            ha.reviewed_at = _now()
            cost = assignment_cost(hit)
            kind, amount = ("paid", cost) if verdict == "approved" else ("release", -cost)
            ledger.record(
                session,
                project_id=project.id,
                hit_id=hit.id,
                kind=kind,
                amount=amount,
                key=f"{kind}:{sid}",
                note=f"{verdict} on Prolific",
            )


def _confirm(
    session: Session, project: Project, row: ProlificSession, status: str, out: SyncResult
) -> None:
    """Prolific lists the submission as finished: the held answers become answers."""
    assignment = session.scalar(select(Assignment).where(Assignment.external_id == row.session_id))
    ha = session.get(HitAssignment, assignment.id) if assignment is not None else None
    if assignment is None or ha is None or not row.answers:
        out.problems.append(f"Prolific session {row.session_id} has no held answers; skipped")
        return
    values = {int(k): int(v) for k, v in row.answers.items()}
    have = set(
        session.scalars(
            select(Answer.example_id).where(
                Answer.project_id == project.id,
                Answer.worker_id == assignment.worker_id,
                Answer.example_id.in_(list(values)),
            )
        )
    )
    when = row.submitted_at or _now()
    new = [
        Answer(
            project_id=project.id,
            example_id=e,
            worker_id=assignment.worker_id,
            assignment_id=assignment.id,
            value=v,
            source="prolific",
            submitted_at=when,
        )
        for e, v in values.items()
        if e not in have
    ]
    session.add_all(new)
    gold = dict(
        session.execute(
            select(GoldQuestion.example_id, GoldQuestion.label).where(
                GoldQuestion.project_id == project.id,
                GoldQuestion.kind == "hidden_check",
                GoldQuestion.example_id.in_(list(values)),
            )
        ).all()
    )
    ha.gold_total = len(gold)
    ha.gold_correct = sum(
        (values[e] > project.threshold) == (int(lbl) == 1) for e, lbl in gold.items()
    )
    ha.submitted_via = "page"
    ha.mturk_status = status
    assignment.submitted_at = when
    row.state = "confirmed"
    row.confirmed_at = _now()
    out.assignments_new += 1
    out.answers_new += len(new)


# -- money -----------------------------------------------------------------------------------
def pay_bonus(
    session: Session, settings: Settings, hit: Hit, submission_id: str, amount: Decimal
) -> Decimal:
    """Create the bonus once (its id kept before paying), pay once; a retry after a lost pay
    reply reads the submission's ``bonus_payments`` instead of paying again (PROLIFIC.md §7)."""
    key = f"bonus:prolific-{submission_id}-{minor(amount)}"
    project = session.get(Project, hit.project_id)
    assert project is not None
    row = session.get(ProlificPayment, key)
    fee, vat = fees(settings, amount)
    cost = ledger.money(amount) + fee + vat
    if row is not None and row.state == "paid":
        return cost
    study = session.scalar(
        select(ProlificStudy).where(
            ProlificStudy.project_id == hit.project_id, ProlificStudy.batch == hit.batch
        )
    )
    assert study is not None and study.study_id is not None
    with client_for(settings, project) as client:
        if row is None:
            created = client.create_bonus(
                study.study_id, f"{submission_id},{ledger.money(amount)}\n"
            )
            row = ProlificPayment(
                key=key,
                project_id=project.id,
                session_id=submission_id,
                bonus_id=str(created["id"]),
                state="created",
                amount_minor=int(created["amount"]),
                fees_minor=int(created.get("fees", 0)),
                vat_minor=int(created.get("vat", 0)),
            )
            session.add(row)
            session.commit()
        if row.state == "created":
            row.state = "paying"
            session.commit()
            try:
                assert row.bonus_id is not None
                client.pay_bonus(row.bonus_id)
            except ProlificUnavailable:
                if not _bonus_landed(client, session, row):
                    raise
        elif not _bonus_landed(client, session, row):  # "paying": a crash or lost reply before
            raise Conflict(
                f"bonus {row.bonus_id} was sent to Prolific but does not show yet; it is never "
                "paid twice: sync again later"
            )
        row.state = "paid"
        session.commit()
    return ledger.money(Decimal(row.amount_minor + row.fees_minor + row.vat_minor) / 100)


def _bonus_landed(client: ProlificClient, session: Session, row: ProlificPayment) -> bool:
    """Pay is asynchronous: poll the submission's ``bonus_payments`` for a while."""
    paid = session.scalar(
        select(func.count())
        .select_from(ProlificPayment)
        .where(ProlificPayment.session_id == row.session_id, ProlificPayment.state != "created")
    )
    for attempt in range(ATTEMPTS):
        shown = len(client.get_submission(row.session_id).get("bonus_payments") or [])
        if shown >= int(paid or 0):
            return True
        time.sleep(0.05 * 2**attempt)
    return False


def bulk_approve(session: Session, settings: Settings, project_id: int) -> int:
    """Approve every confirmed, unreviewed submission of the project in bulk calls of 1,000
    (Prolific skips those already approved, so a retry is harmless); records the ledger."""
    from app.services.review import assignment_cost

    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    rows = session.execute(
        select(HitAssignment, Assignment, Hit)
        .join(Assignment, Assignment.id == HitAssignment.assignment_id)
        .join(Hit, Hit.id == HitAssignment.hit_id)
        .where(
            Hit.project_id == project_id,
            Hit.provider == "prolific",
            HitAssignment.review == "pending",
            HitAssignment.submitted_via.is_not(None),
        )
    ).all()
    if not rows:
        return 0
    ids = [str(a.external_id) for _, a, _ in rows]
    with client_for(settings, project) as client:
        for start_at in range(0, len(ids), 1000):
            client.bulk_approve(ids[start_at : start_at + 1000])
    for ha, assignment, hit in rows:
        assignment.status = "approved"
        ha.review = "approved"
        ha.mturk_status = "APPROVED"
        ha.reviewed_at = _now()
        ledger.record(
            session,
            project_id=project_id,
            hit_id=hit.id,
            kind="paid",
            amount=assignment_cost(hit),
            key=f"paid:{assignment.external_id}",
            note="reward + Prolific fee (bulk approve)",
        )
    session.commit()
    return len(rows)


def request_return(session: Session, settings: Settings, submission_id: str, reason: str) -> None:
    """Ask a participant to return an abandoned place (Prolific's request-return)."""
    row = session.get(ProlificSession, submission_id)
    if row is None:
        raise NotFound(f"Prolific session {submission_id} is not known here")
    study = session.get(ProlificStudy, row.study_row_id)
    project = session.get(Project, study.project_id) if study is not None else None
    assert project is not None
    with client_for(settings, project) as client:
        current = client.get_submission(submission_id)
        if not current.get("return_requested"):
            client.request_return(submission_id, [reason or RETURN_REASON])
