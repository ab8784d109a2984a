"""Examples, gold questions and answer imports (admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from app.api.deps import UPLOAD_BODY, AdminDep, IdPath, SessionDep, SettingsDep, read_file_upload
from app.core.tables import TableLimits
from app.schemas.crowd import (
    AnswerImportResult,
    ExamplesPublic,
    GoldCreate,
    GoldsPublic,
    UploadResult,
)
from app.services.crowd import answers as answers_svc
from app.services.crowd import examples as examples_svc

router = APIRouter(prefix="/projects/{project_id}", tags=["data"])

FileFormat = Literal["csv", "parquet", "json"]
ColumnQuery = Annotated[str, Query(min_length=1, max_length=200)]
_BAD_FILE: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown project or example"},
    409: {"description": "an id already exists"},
    413: {"description": "upload larger than MAX_UPLOAD_BYTES, or too many rows or columns"},
    422: {"description": "malformed file; the body names the row and column"},
}


@router.post(
    "/examples",
    status_code=201,
    response_model=UploadResult,
    responses=_BAD_FILE,
    openapi_extra=UPLOAD_BODY,
)
async def upload_examples(
    project_id: IdPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
    format: Annotated[FileFormat | None, Query(description="default: from the file")] = None,
    id_column: ColumnQuery = "example_id",
    label_column: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="known +1/-1 labels; default true_label"),
    ] = None,
) -> UploadResult:
    """Upload examples (multipart field `file`: CSV, Parquet, JSON or JSON Lines); atomic (a
    bad file stores nothing). Rows in errors count from 0."""
    upload = await read_file_upload(request, settings)
    # Parsing and writing block: they run in the threadpool, never on the event loop.
    return await run_in_threadpool(
        examples_svc.upload_examples,
        session=session,
        project_id=project_id,
        data=upload.data,
        filename=upload.filename,
        fmt=format,
        id_column=id_column,
        label_column=label_column,
        limits=TableLimits.of(settings),
    )


@router.get("/examples", response_model=ExamplesPublic)
def list_examples(
    project_id: IdPath,
    session: SessionDep,
    _: AdminDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> ExamplesPublic:
    data, count = examples_svc.list_examples(
        session=session, project_id=project_id, offset=offset, limit=limit
    )
    return ExamplesPublic(data=data, count=count)


@router.post("/gold", status_code=201, response_model=GoldsPublic, responses=_BAD_FILE)
def add_gold(
    project_id: IdPath,
    body: Annotated[list[GoldCreate], ...],
    session: SessionDep,
    _: AdminDep,
) -> GoldsPublic:
    """Mark existing examples as gold: `hidden_check` scores workers, `training_quiz` teaches."""
    data = examples_svc.add_gold(session=session, project_id=project_id, items=body)
    return GoldsPublic(data=data, count=len(data))


@router.get("/gold", response_model=GoldsPublic)
def list_gold(project_id: IdPath, session: SessionDep, _: AdminDep) -> GoldsPublic:
    data = examples_svc.list_gold(session=session, project_id=project_id)
    return GoldsPublic(data=data, count=len(data))


@router.post(
    "/answers/import",
    status_code=201,
    response_model=AnswerImportResult,
    responses=_BAD_FILE,
    openapi_extra=UPLOAD_BODY,
)
async def import_answers(
    project_id: IdPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
    layout: Literal["auto", "long", "wide"] = "auto",
    format: Annotated[FileFormat | None, Query(description="default: from the file")] = None,
    create_workers: bool = True,
) -> AnswerImportResult:
    """Bulk-import answers (multipart field `file`); all rows or none.

    Long: `example_id, worker_id, value[, submitted_at]` for existing examples. Wide:
    `example_idx, [true_label,] ans_1..ans_K, worker_id_1..worker_id_K` plus feature columns;
    missing examples are created. Without `submitted_at` the file order is the answer order.
    """
    upload = await read_file_upload(request, settings)
    return await run_in_threadpool(
        answers_svc.import_answers,
        session=session,
        project_id=project_id,
        data=upload.data,
        filename=upload.filename,
        fmt=format,
        layout=layout,
        create_workers=create_workers,
        limits=TableLimits.of(settings),
    )
