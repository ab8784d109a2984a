"""Saved models (admin): predict new rows with a finished training job's model.

``POST /api/v1/models/{job_id}/predict`` takes rows as CSV, Parquet or JSON with the training
file's feature and sensitive columns and answers ``id, score, label`` per row (JSON, or CSV
with ``?format=csv``): the job's saved pipeline (``model.pt``: the fitted encoder and the
chosen model) applied exactly as to its test rows. Bad rows (a missing column, an unknown
category, a value of the wrong type) get a 422 naming the column; nothing is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from app.api.deps import AdminDep, IdPath, SessionDep, SettingsDep
from app.core.errors import InvalidInput, PayloadTooLarge
from app.services.jobs import api as svc
from trainer import api as trainer_api

router = APIRouter(tags=["models"])


@router.post("/models/{job_id}/predict", response_model=None)
async def predict(
    job_id: IdPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
    seed: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """Predict rows with job ``job_id``'s chosen model (``seed``: which seed's; default the
    first). Body: ``text/csv``, ``application/json`` (a list of row objects or
    ``{"rows": [...]}``) or ``application/vnd.apache.parquet``."""
    limit = settings.max_upload_bytes
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes", limit=limit)
        chunks.append(chunk)
    path = svc.artifact_file(session=session, settings=settings, job_id=job_id, name="model.pt")
    try:
        frame = trainer_api.read_rows(b"".join(chunks), request.headers.get("content-type", ""))
        model = trainer_api.load_model(path)
        out = trainer_api.predict_table(model, frame, seed=seed)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if format == "csv":
        return PlainTextResponse(out.to_csv(index=False), media_type="text/csv")
    records = [
        {"id": _plain(r.id), "score": float(r.score), "label": int(r.label)}
        for r in out.itertuples(index=False)
    ]
    return {"model": job_id, "seed": seed if seed is not None else model.seeds[0],
            "predictions": records}  # fmt: skip


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v
