"""Export snapshots: freeze and download the validation set (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import StreamingResponse

from app.api.deps import AdminDep, IdPath, SessionDep
from app.schemas.crowd import ExportCreate, ExportFormat, ExportPublic, ExportsPublic
from app.services.crowd import exports as svc

router = APIRouter(tags=["exports"])


@router.post("/projects/{project_id}/exports", status_code=201, response_model=ExportPublic)
def create_export(
    project_id: IdPath,
    session: SessionDep,
    _: AdminDep,
    body: Annotated[ExportCreate | None, Body()] = None,
) -> ExportPublic:
    """Freeze the current labels (method, N, filter rule) into a new immutable version."""
    body = body or ExportCreate()
    return svc.create_export(session=session, project_id=project_id, method=body.method, n=body.n)


@router.get("/projects/{project_id}/exports", response_model=ExportsPublic)
def list_exports(project_id: IdPath, session: SessionDep, _: AdminDep) -> ExportsPublic:
    data = svc.list_exports(session=session, project_id=project_id)
    return ExportsPublic(data=data, count=len(data))


@router.get("/exports/{export_id}", response_model=ExportPublic)
def get_export(export_id: IdPath, session: SessionDep, _: AdminDep) -> ExportPublic:
    return svc.read_export(session=session, export_id=export_id)


@router.get(
    "/exports/{export_id}/download",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/x-ndjson": {},
                "application/vnd.apache.parquet": {},
            }
        }
    },
)
def download_export(
    export_id: IdPath,
    session: SessionDep,
    _: AdminDep,
    format: Annotated[ExportFormat, Query()] = "csv",
) -> StreamingResponse:
    """Stream the snapshot; `X-Checksum-SHA256` is the sha256 of the CSV rendering."""
    chunks, media, name, facts = svc.export_stream(session=session, export_id=export_id, fmt=format)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Checksum-SHA256": facts["checksum"],
        "X-Row-Count": str(facts["rows"]),
    }
    return StreamingResponse(chunks, media_type=media, headers=headers)
