"""Hand-checkable toy tables shared by the crowd tests (5 workers x 5 examples)."""

from __future__ import annotations

import pandas as pd

# Rows: workers; columns: examples e1..e5; None = no answer. Values on the 1-4 scale.
#        e1    e2  e3    e4  e5
TOY = {
    "w1": [4, 1, 3, 2, 4],
    "w2": [1, 4, 2, 3, 3],
    "w3": [3, 2, 2, 4, 1],
    "w4": [2, 3, 4, 1, 2],
    "w5": [4, 2, None, 1, 4],
}
EXAMPLES = ["e1", "e2", "e3", "e4", "e5"]
# Gold labels for e1..e3 (e4, e5 are not gold).
GOLD = {"e1": 1, "e2": -1, "e3": 1}


def long_table(grid: dict[str, list[int | None]], examples: list[str] = EXAMPLES) -> pd.DataFrame:
    """Long table; worker order w1, w2, ... is the submission order within each example."""
    rows = []
    for t, (worker, values) in enumerate(grid.items()):
        for example, value in zip(examples, values, strict=True):
            if value is not None:
                rows.append(
                    {"example_id": example, "worker_id": worker, "value": value, "submitted_at": t}
                )
    return pd.DataFrame(rows)


def votes_grid(signs: dict[str, str]) -> dict[str, list[int | None]]:
    """'+-+..' strings to answers 4 (positive) / 1 (negative)."""
    return {w: [4 if c == "+" else 1 for c in s] for w, s in signs.items()}
