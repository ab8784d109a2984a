"""Examples (upload, list) and gold questions. An upload is atomic: a bad file stores nothing."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.tables import (
    TableLimits,
    _is_missing,
    json_records,
    read_table,
    require_columns,
    text_column,
    unit_of_work,
)
from app.models import Example, GoldQuestion, Project
from app.schemas.crowd import (
    ExamplePublic,
    GoldCreate,
    GoldPublic,
    UploadResult,
)
from app.services.projects import get_project

#: Column names the export uses for its own fields; a feature may not take them.
RESERVED_COLUMNS = ("example_id", "label", "answers_used", "mean_score", "confidence", "is_gold")
DEFAULT_LABEL_COLUMN = "true_label"

ERR_DUPLICATE_ID = (
    "row {row}, column {column!r}: duplicate example id {example!r} (first at row {first})"
)
ERR_EXISTING_ID = "row {row}, column {column!r}: example {example!r} already exists in this project"
ERR_LABEL = "row {row}, column {column!r}: {value!r} is not a label; use +1 or -1"
ERR_RESERVED = (
    "column {column!r} is reserved for the export; rename it"
    " (or pass label_column={column!r} if it holds known labels)"
)
ERR_SENSITIVE_MISSING = (
    "the project's sensitive column {column!r} is not in the file; the file has columns: {columns}"
)
ERR_VISIBLE_MISSING = "the project's visible column(s) {columns} are not in the file"
ERR_UNKNOWN_EXAMPLE = "example {example!r} does not exist in project {project_id}"


def parse_labels(frame: pd.DataFrame, column: str) -> list[int | None]:
    """+1/-1 labels (empty cells allowed), naming the first bad row."""
    out: list[int | None] = []
    for row, value in enumerate(frame[column].tolist()):
        if _is_missing(value):
            out.append(None)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if number not in (1.0, -1.0):
            raise InvalidInput(
                ERR_LABEL.format(row=row, column=column, value=value), row=row, column=column
            )
        out.append(int(number))
    return out


def example_rows(
    project: Project,
    frame: pd.DataFrame,
    *,
    id_column: str,
    label_column: str | None,
    extra_reserved: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Validate a table of examples and return insertable rows (no database access)."""
    require_columns(frame, id_column)
    ids = text_column(frame, id_column)
    first: dict[str, int] = {}
    for row, ext in enumerate(ids):
        if ext in first:
            raise InvalidInput(
                ERR_DUPLICATE_ID.format(row=row, column=id_column, example=ext, first=first[ext]),
                row=row,
                column=id_column,
            )
        first[ext] = row
    labels: list[int | None] = [None] * len(ids)
    if label_column is not None:
        require_columns(frame, label_column)
        labels = parse_labels(frame, label_column)
    dropped = {id_column, *(extra_reserved or set())}
    if label_column is not None:
        dropped.add(label_column)
    features = frame[[c for c in frame.columns if c not in dropped]]
    for column in features.columns:
        if column in RESERVED_COLUMNS:
            raise InvalidInput(ERR_RESERVED.format(column=column), column=column)
    sensitive = project.sensitive_column
    if sensitive is not None and sensitive not in features.columns:
        raise InvalidInput(
            ERR_SENSITIVE_MISSING.format(column=sensitive, columns=", ".join(frame.columns)),
            column=sensitive,
        )
    if project.visible_columns:
        missing = [c for c in project.visible_columns if c not in features.columns]
        if missing:
            raise InvalidInput(ERR_VISIBLE_MISSING.format(columns=", ".join(map(repr, missing))))
    records = json_records(features)
    rows = []
    for ext, rec, label in zip(ids, records, labels, strict=True):
        sval = rec.get(sensitive) if sensitive is not None else None
        rows.append(
            {
                "project_id": project.id,
                "external_id": ext,
                "features": rec,
                "sensitive_value": None if sval is None else str(sval)[:200],
                "known_label": label,
            }
        )
    return rows


def existing_ids(*, session: Session, project_id: int, external_ids: list[str]) -> dict[str, int]:
    """external id -> internal id for those of `external_ids` already in the project."""
    found: dict[str, int] = {}
    # Chunked IN lists: SQLite caps bound parameters per statement.
    for start in range(0, len(external_ids), 5000):
        chunk = external_ids[start : start + 5000]
        found.update(
            {
                ext: int(pk)
                for pk, ext in session.execute(
                    select(Example.id, Example.external_id).where(
                        Example.project_id == project_id, Example.external_id.in_(chunk)
                    )
                ).all()
            }
        )
    return found


def upload_examples(
    *,
    session: Session,
    project_id: int,
    data: bytes,
    filename: str | None = None,
    fmt: str | None = None,
    id_column: str = "example_id",
    label_column: str | None = None,
    limits: TableLimits | None = None,
) -> UploadResult:
    """Store every row of the file as an example, or nothing (any error rolls back).

    `label_column` holds known labels (+1/-1); by default `true_label` is used when present.
    """
    with unit_of_work(session):
        project = get_project(session=session, project_id=project_id)
        frame = read_table(
            data, filename=filename, fmt=fmt, text_columns=(id_column,), limits=limits
        )
        if label_column is None and DEFAULT_LABEL_COLUMN in frame.columns:
            label_column = DEFAULT_LABEL_COLUMN
        rows = example_rows(project, frame, id_column=id_column, label_column=label_column)
        clash = existing_ids(
            session=session, project_id=project.id, external_ids=[r["external_id"] for r in rows]
        )
        if clash:
            row, ext = next(
                (i, r["external_id"]) for i, r in enumerate(rows) if r["external_id"] in clash
            )
            raise Conflict(
                ERR_EXISTING_ID.format(row=row, column=id_column, example=ext),
                row=row,
                column=id_column,
            )
        session.execute(insert(Example), rows)
        columns = [c for c in frame.columns if c not in {id_column, label_column}]
    return UploadResult(created=len(rows), columns=columns)


def list_examples(
    *, session: Session, project_id: int, offset: int = 0, limit: int = 100
) -> tuple[list[ExamplePublic], int]:
    get_project(session=session, project_id=project_id)
    total = int(session.scalar(select(func.count()).where(Example.project_id == project_id)) or 0)
    rows = session.scalars(
        select(Example)
        .where(Example.project_id == project_id)
        .order_by(Example.id)
        .offset(offset)
        .limit(limit)
    )
    return [
        ExamplePublic(
            example_id=r.external_id,
            features=r.features,
            sensitive_value=r.sensitive_value,
            known_label=r.known_label,
        )
        for r in rows
    ], total


def add_gold(*, session: Session, project_id: int, items: list[GoldCreate]) -> list[GoldPublic]:
    """Mark examples as gold (a training quiz or a hidden check); all or nothing."""
    with unit_of_work(session):
        get_project(session=session, project_id=project_id)
        ids = [g.example_id for g in items]
        seen: set[str] = set()
        for index, ext in enumerate(ids):
            if ext in seen:
                raise InvalidInput(
                    f"item {index}: example {ext!r} is listed twice", row=index, column="example_id"
                )
            seen.add(ext)
        found = existing_ids(session=session, project_id=project_id, external_ids=ids)
        for index, ext in enumerate(ids):
            if ext not in found:
                raise NotFound(
                    f"item {index}: "
                    + ERR_UNKNOWN_EXAMPLE.format(example=ext, project_id=project_id),
                    example_id=ext,
                )
        already = set(
            session.scalars(
                select(GoldQuestion.example_id).where(
                    GoldQuestion.project_id == project_id,
                    GoldQuestion.example_id.in_(list(found.values())),
                )
            )
        )
        for index, ext in enumerate(ids):
            if found[ext] in already:
                raise Conflict(
                    f"item {index}: example {ext!r} is already a gold question", example_id=ext
                )
        rows = [
            GoldQuestion(
                project_id=project_id,
                example_id=found[g.example_id],
                label=g.label,
                explanation=g.explanation,
                kind=g.kind,
            )
            for g in items
        ]
        session.add_all(rows)
        session.flush()
        out = [
            GoldPublic(
                id=r.id,
                example_id=g.example_id,
                label=r.label,
                explanation=r.explanation,
                kind=r.kind,
            )
            for r, g in zip(rows, items, strict=True)
        ]
    return out


def list_gold(*, session: Session, project_id: int) -> list[GoldPublic]:
    get_project(session=session, project_id=project_id)
    rows = session.execute(
        select(GoldQuestion, Example.external_id)
        .join(Example, Example.id == GoldQuestion.example_id)
        .where(GoldQuestion.project_id == project_id)
        .order_by(GoldQuestion.id)
    ).all()
    return [
        GoldPublic(id=g.id, example_id=ext, label=g.label, explanation=g.explanation, kind=g.kind)
        for g, ext in rows
    ]


def gold_labels(
    *, session: Session, project_id: int, kinds: tuple[str, ...] = ("hidden_check",)
) -> dict[int, int]:
    """internal example id -> gold label, for the gold kinds that score workers."""
    return {
        int(ex): int(label)
        for ex, label in session.execute(
            select(GoldQuestion.example_id, GoldQuestion.label).where(
                GoldQuestion.project_id == project_id, GoldQuestion.kind.in_(kinds)
            )
        ).all()
    }
