"""The known truth of a crowd data set: reading a released-format crowd file, choosing its hidden
gold for a seed, and a project's true labels (paper §4.4; docs/ALGORITHMS.md). Used by the crowd
reports, the Table 6 computation and the workflows built on it (demo, replay)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Example

DEFAULT_SEEDS = (0, 1, 2, 3, 4)
ERR_GOLD_SIZE = (
    "gold fraction {fraction} of {n} examples leaves {n_gold} gold and {n_rest} evaluated examples;"
    " both must be at least 1"
)
ERR_NO_TRUTH = "the crowd table has no true_label column, so label accuracy cannot be measured"
ERR_READ_CSV = "cannot read the crowd CSV: {error}"


def choose_gold(example_ids: Sequence[Any], fraction: float, seed: int) -> list[Any]:
    """A seeded random ``round(fraction * n)`` of ``example_ids``, returned in their given order.

    Pass the ids in file order: the file order is what both the pure path and the database path
    (examples are stored in upload order) agree on, so both choose the same gold for a seed.
    """
    ids = list(example_ids)
    n_gold = round(fraction * len(ids))
    if n_gold < 1 or n_gold >= len(ids):
        raise ValueError(
            ERR_GOLD_SIZE.format(
                fraction=fraction, n=len(ids), n_gold=n_gold, n_rest=len(ids) - n_gold
            )
        )
    picked = np.random.default_rng(seed).choice(len(ids), size=n_gold, replace=False)
    return [ids[i] for i in sorted(picked.tolist())]


def read_crowd_csv(csv_path: Path) -> pd.DataFrame:
    """Read a released-format crowd CSV, turning pandas' parse errors into a clear ValueError."""
    try:
        return pd.read_csv(csv_path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(ERR_READ_CSV.format(error=error)) from None


def known_labels(*, session: Session, project_id: int) -> tuple[pd.Series, dict[int, str]]:
    """True labels by internal example id (upload order = file order) and the external ids;
    ValueError when an example has no known label."""
    rows = session.execute(
        select(Example.id, Example.external_id, Example.known_label)
        .where(Example.project_id == project_id)
        .order_by(Example.id)
    ).all()
    labels = [label for _, _, label in rows]
    if not rows or any(label is None for label in labels):
        raise ValueError(ERR_NO_TRUTH)
    truth = pd.Series(
        labels,
        index=pd.Index([int(pk) for pk, _, _ in rows], name="example_id"),
        dtype=np.int64,
    )
    return truth, {int(pk): ext for pk, ext, _ in rows}
