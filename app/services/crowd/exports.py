"""Export snapshots: an immutable, versioned validation set.

Columns: ``example_id``, every feature column (flattened), the sensitive attribute column (named
as in the project, placed after the features), ``label`` (+1/-1), ``answers_used``,
``mean_score``, ``confidence``, ``is_gold``. Rows: every example with at least one usable answer,
plus gold examples; a gold example's label is its gold label (known truth, confidence 1). The
snapshot is stored as Parquet; ``checksum`` is the sha256 of the CSV download, byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.core.tables import unit_of_work
from app.crowd import DEFAULT_METHOD
from app.models import ExportSnapshot
from app.schemas.crowd import ExportPublic
from app.services.crowd.labels import aggregate_project, load_project_crowd, raw_rows
from app.services.projects import get_project

TAIL_COLUMNS = ["label", "answers_used", "mean_score", "confidence", "is_gold"]
CHUNK_ROWS = 20_000
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/x-ndjson",
}


def _uniform(series: pd.Series) -> pd.Series:
    # Parquet needs one type per column; a column mixing text and numbers becomes text.
    if series.dtype != object:
        return series
    kinds = {type(v) for v in series if v is not None}
    if len(kinds) <= 1:
        return series
    return series.map(lambda v: None if v is None else str(v))


def build_export_frame(
    *, session: Session, project_id: int, method: str, n: int | None
) -> pd.DataFrame:
    data = load_project_crowd(session=session, project_id=project_id)
    project = data.project
    labels = aggregate_project(data, method=method, n=n).set_index("example_id")
    pid = int(project_id)
    gold = {
        int(e): int(label)
        for e, label in raw_rows(
            session=session,
            sql=f"SELECT example_id, label FROM gold_questions WHERE project_id = {pid}",
        )
    }
    rows = raw_rows(
        session=session,
        sql="SELECT id, external_id, CAST(features AS TEXT) FROM examples"
        f" WHERE project_id = {pid} ORDER BY id",
    )
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    is_gold = np.isin(ids, np.array(list(gold), dtype=np.int64))
    keep = is_gold | np.isin(ids, labels.index.to_numpy(dtype=np.int64))
    kept = [r for r, k in zip(rows, keep, strict=True) if k]
    ids = ids[keep]
    is_gold = is_gold[keep]

    # One json.loads over the whole column: far cheaper than one call per row.
    records = json.loads("[" + ",".join(r[2] for r in kept) + "]")
    features = pd.DataFrame.from_records(records, index=range(len(kept)))
    sensitive = project.sensitive_column
    feature_cols = [c for c in features.columns if c != sensitive]
    out = pd.DataFrame({"example_id": [r[1] for r in kept]})
    for col in feature_cols:
        out[col] = _uniform(features[col]) if len(kept) else pd.Series(dtype=object)
    if sensitive is not None:
        out[sensitive] = _uniform(features[sensitive]) if sensitive in features else None

    aligned = labels.reindex(ids)
    label = aligned["label"].to_numpy(dtype=np.float64, na_value=np.nan)
    gold_label = np.array([gold.get(int(i), 0) for i in ids], dtype=np.float64)
    label = np.where(is_gold, gold_label, label)
    out["label"] = label.astype(np.int64)
    out["answers_used"] = aligned["answers_used"].fillna(0).to_numpy(dtype=np.int64)
    out["mean_score"] = aligned["mean_score"].to_numpy(dtype=np.float64, na_value=np.nan)
    confidence = aligned["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
    out["confidence"] = np.where(is_gold, 1.0, confidence)
    out["is_gold"] = is_gold
    return out


#: Text cells starting with these run as formulas in spreadsheets (OWASP "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, prefixed with ' (shown, not run)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def defuse_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """The CSV rendering of `frame`: text cells and column names defused; numbers untouched
    (JSON Lines and Parquet keep the raw values)."""
    text_columns = [
        c
        for c in frame.columns
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c].dtype)
    ]
    out = frame.copy() if text_columns else frame
    for column in text_columns:
        out[column] = frame[column].map(defuse)
    out.columns = [defuse(str(c)) for c in frame.columns]
    return out


def render_csv(frame: pd.DataFrame) -> Iterator[bytes]:
    """CSV in chunks (formulas defused); the concatenation equals
    ``defuse_formulas(frame).to_csv(index=False)`` exactly."""
    yield defuse_formulas(frame.iloc[:0]).to_csv(index=False, lineterminator="\n").encode("utf-8")
    for start in range(0, len(frame), CHUNK_ROWS):
        part = defuse_formulas(frame.iloc[start : start + CHUNK_ROWS])
        yield part.to_csv(index=False, header=False, lineterminator="\n").encode("utf-8")


def render_jsonl(frame: pd.DataFrame) -> Iterator[bytes]:
    for start in range(0, len(frame), CHUNK_ROWS):
        part = frame.iloc[start : start + CHUNK_ROWS]
        text = part.to_json(orient="records", lines=True, force_ascii=False)
        if text and not text.endswith("\n"):
            text += "\n"
        yield text.encode("utf-8")


def _chunks(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def create_export(
    *, session: Session, project_id: int, method: str = DEFAULT_METHOD, n: int | None = None
) -> ExportPublic:
    """Freeze the current labels into a new snapshot version."""
    with unit_of_work(session):
        project = get_project(session=session, project_id=project_id)
        frame = build_export_frame(session=session, project_id=project_id, method=method, n=n)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        checksum = hashlib.sha256(b"".join(render_csv(frame))).hexdigest()
        version = (
            session.scalar(
                select(func.max(ExportSnapshot.version)).where(
                    ExportSnapshot.project_id == project_id
                )
            )
            or 0
        ) + 1
        snapshot = ExportSnapshot(
            project_id=project_id,
            version=version,
            method=method,
            n_max=n if n is not None else project.max_answers,
            threshold=project.threshold,
            filter_rule=dict(project.worker_filter),
            row_count=len(frame),
            columns=[str(c) for c in frame.columns],
            checksum=checksum,
            content=buffer.getvalue(),
        )
        session.add(snapshot)
        session.flush()
        out = ExportPublic.model_validate(snapshot)
    return out


def _get(session: Session, export_id: int) -> ExportSnapshot:
    snapshot = session.get(ExportSnapshot, export_id)
    if snapshot is None:
        raise NotFound(f"export {export_id} does not exist", export_id=export_id)
    return snapshot


def read_export(*, session: Session, export_id: int) -> ExportPublic:
    return ExportPublic.model_validate(_get(session, export_id))


def list_exports(*, session: Session, project_id: int) -> list[ExportPublic]:
    get_project(session=session, project_id=project_id)
    rows = session.scalars(
        select(ExportSnapshot)
        .where(ExportSnapshot.project_id == project_id)
        .order_by(ExportSnapshot.version)
    )
    return [ExportPublic.model_validate(r) for r in rows]


def export_stream(
    *, session: Session, export_id: int, fmt: str
) -> tuple[Iterator[bytes], str, str, dict[str, Any]]:
    """(byte chunks, media type, file name, snapshot facts) for a download."""
    snapshot = _get(session, export_id)
    name = f"project{snapshot.project_id}-export-v{snapshot.version}.{fmt}"
    facts = {"checksum": snapshot.checksum, "rows": snapshot.row_count}
    if fmt == "parquet":
        return _chunks(snapshot.content), MEDIA_TYPES[fmt], name, facts
    frame = pd.read_parquet(io.BytesIO(snapshot.content))
    chunks = render_csv(frame) if fmt == "csv" else render_jsonl(frame)
    return chunks, MEDIA_TYPES[fmt], name, facts
