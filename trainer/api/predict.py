"""Prediction with a saved model: loading it and reading the rows to predict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_model(path: str | Path) -> Any:
    """The fitted pipeline in ``model.pt`` (or a folder holding it): a
    :class:`trainer.artifact.SavedModel`. Raises ``ValueError`` for a file that is not one."""
    from trainer.artifact import SavedModel

    p = Path(path)
    if p.is_dir():
        p = p / "model.pt"
    if not p.is_file():
        raise FileNotFoundError(f"no model file at {p}")
    return SavedModel.load(p)


def predict_table(model: Any, table: Any, *, seed: int | None = None) -> Any:
    """``id, score, label`` rows (a pandas DataFrame) for a raw table: a path or DataFrame
    with the training file's feature and sensitive columns. Raises ``ValueError`` naming the
    column for missing columns, unknown categories and values of the wrong type."""
    return model.predict_frame(table, seed=seed)


#: At most this many rows per prediction request (the service's limit).
MAX_PREDICT_ROWS = 100_000


def read_rows(content: bytes, content_type: str) -> Any:
    """Rows to predict from a request body: CSV (``text/csv``), Parquet
    (``application/vnd.apache.parquet``) or JSON (``application/json``: a list of objects,
    or ``{"rows": [...]}``, one object per row, column name to scalar value). Raises
    ``ValueError`` saying what is wrong."""
    import io

    import pandas as pd

    kind = content_type.split(";")[0].strip().lower()
    if not content.strip():
        raise ValueError("the request body is empty: send rows as CSV, Parquet or JSON")
    try:
        if kind in ("text/csv", "application/csv", "text/plain"):
            frame = pd.read_csv(io.BytesIO(content))
        elif kind in ("application/vnd.apache.parquet", "application/octet-stream"):
            frame = pd.read_parquet(io.BytesIO(content))
        elif kind in ("application/json", ""):
            frame = _json_rows(content)
        else:
            raise ValueError(
                f"unsupported content type {kind!r}; use text/csv, application/json or "
                "application/vnd.apache.parquet"
            )
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"could not read the rows ({type(exc).__name__}: {exc})") from None
    if len(frame) == 0:
        raise ValueError("no rows to predict")
    if len(frame) > MAX_PREDICT_ROWS:
        raise ValueError(f"{len(frame)} rows; at most {MAX_PREDICT_ROWS} per request")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _json_rows(content: bytes) -> Any:
    import pandas as pd

    try:
        doc = json.loads(content)
    except RecursionError:
        raise ValueError("the JSON body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not valid JSON: {exc}") from None
    rows = doc.get("rows") if isinstance(doc, dict) else doc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError('JSON rows must be a list of objects (or {"rows": [...]})')
    for i, row in enumerate(rows[: MAX_PREDICT_ROWS + 1]):
        for key, value in row.items():
            if value is not None and not isinstance(value, str | int | float | bool):
                raise ValueError(f"row {i}, column {key!r}: values must be scalars")
    return pd.DataFrame.from_records(rows)
