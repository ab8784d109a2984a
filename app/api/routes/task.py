"""The worker task page (HTML, no JavaScript needed): ``GET /task/{hit_id}``, the training quiz
``POST /task/{hit_id}/quiz``, the answers ``POST /task/{hit_id}/submit``.

Refusals are HTML pages with the matching 4xx status (workers see them, not API clients).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from app.api.deps import IdPath, SessionDep, SettingsDep, read_form
from app.core.errors import DomainError, InvalidInput
from app.services.recruiting import prolific
from app.services.task import page as task_page

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=str(ROOT / "templates"))
router = APIRouter(tags=["task page"], include_in_schema=False)
_TITLES = {
    403: "This task is not yours",
    404: "Task not found",
    409: "Already done",
    410: "This task has expired",
    413: "Too much data sent",
    422: "Please check your answers",
}
#: Bounds on the task form (a page has at most 1000 questions plus a few hidden fields; an
#: answer is one digit): fields, bytes per field, bytes in all.
MAX_FORM_FIELDS = 2000
MAX_FIELD_BYTES = 4096
MAX_FORM_BYTES = 256 * 1024


def _error(request: Request, exc: DomainError) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "task/error.html",
        {"title": _TITLES.get(exc.status_code, "Something went wrong"), "detail": exc.detail},
        status_code=exc.status_code,
    )


def _page(request: Request, view: task_page.TaskView) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "task/task.html",
        {"view": view, "project": view.project, "hit": view.hit},
        headers={"Cache-Control": "no-store"},
    )


async def _form(request: Request) -> dict[str, str]:
    form = await read_form(
        request, limit=MAX_FORM_BYTES, max_fields=MAX_FORM_FIELDS, max_field_bytes=MAX_FIELD_BYTES
    )
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidInput("the task form takes no file uploads")
        if key in out:
            raise InvalidInput(f"{key} was posted more than once")
        out[key] = value
    return out


@router.get("/task-assets/task.css")
def task_css() -> FileResponse:
    return FileResponse(ROOT / "static" / "task.css", media_type="text/css")


@router.get("/task/{hit_id}", response_class=HTMLResponse)
def open_task(
    hit_id: IdPath, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    params: dict[str, Any] = dict(request.query_params)
    try:
        view = task_page.open_task(session=session, settings=settings, hit_id=hit_id, params=params)
    except DomainError as exc:
        session.rollback()
        return _error(request, exc)
    return _page(request, view)


@router.post("/task/{hit_id}/quiz", response_class=HTMLResponse)
async def submit_quiz(
    hit_id: IdPath, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        form = await _form(request)
        # The database work runs in the threadpool: it must not block the event loop.
        view = await run_in_threadpool(
            task_page.submit_quiz, session=session, settings=settings, hit_id=hit_id, form=form
        )
    except DomainError as exc:
        session.rollback()
        return _error(request, exc)
    return _page(request, view)


@router.post("/task/{hit_id}/submit", response_class=HTMLResponse)
async def submit_task(
    hit_id: IdPath, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        form = await _form(request)
        outcome = await run_in_threadpool(
            task_page.submit_task, session=session, settings=settings, hit_id=hit_id, form=form
        )
    except DomainError as exc:
        session.rollback()
        return _error(request, exc)
    if outcome.redirect_url:  # the marketplace's completion step (Prolific)
        return RedirectResponse(
            outcome.redirect_url, status_code=303, headers={"Cache-Control": "no-store"}
        )
    template = "task/externalsubmit.html" if outcome.post_to else "task/done.html"
    return templates.TemplateResponse(
        request,
        template,
        {"outcome": outcome, "project": outcome.project},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/prolific/{study_row_id}/start")
def prolific_start(
    study_row_id: IdPath, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Prolific's study URL: binds the participant's session, then the task page."""
    try:
        target = prolific.start(
            session=session,
            settings=settings,
            study_row_id=study_row_id,
            params=dict(request.query_params),
        )
    except DomainError as exc:
        session.rollback()
        return _error(request, exc)
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
