"""Offline crowd reports on a released-format CSV: adaptive answer budgets and the bias audit.

Both read the file in memory (``app.crowd.parse_wide``) and call the pure functions of
``app.crowd.budget`` / ``app.crowd.audit``; the plots are written with matplotlib (Agg).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from app.crowd import DEFAULT_THRESHOLD, parse_wide
from app.crowd.budget import DEFAULT_SETTINGS, BudgetResult, replay, setting_name
from app.services.table6 import DEFAULT_SEEDS, ERR_NO_TRUTH, choose_gold, read_crowd_csv


def _wide(csv_path: Path) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    wide = parse_wide(read_crowd_csv(csv_path))
    if wide.true_labels is None:
        raise ValueError(ERR_NO_TRUTH)
    return wide.answers, wide.true_labels.astype("int64"), wide.examples


def budget_from_csv(
    csv_path: Path,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    gold_fraction: float = 0.2,
    n_max: int = 11,
    settings: Sequence[tuple[int, float]] = DEFAULT_SETTINGS,
    threshold: float = DEFAULT_THRESHOLD,
) -> BudgetResult:
    """Replay fixed N = 1..n_max and the adaptive settings; each seed scores the examples left
    after drawing that seed's hidden gold (as Table 6 does), against ``true_label``."""
    answers, truth, _ = _wide(csv_path)
    ids = list(truth.index)
    evaluated = [
        (seed, sorted(set(ids) - set(choose_gold(ids, gold_fraction, seed)))) for seed in seeds
    ]
    return replay(answers, truth, evaluated, n_max=n_max, settings=settings, threshold=threshold)


def plot_budget(result: BudgetResult, path: Path, *, title: str) -> None:
    """Accuracy against answers per example: fixed N = 1..11 (line) and adaptive settings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs, ys, es = [], [], []
    for n, block in result.fixed.items():
        xs.append(result.stats(block["answers_per_example"])[0])
        mean, std = result.stats(block["accuracy"])
        ys.append(mean)
        es.append(std)
        ax.annotate(
            f"N={n}", (xs[-1], mean), fontsize=7, xytext=(3, -9), textcoords="offset points"
        )
    ax.errorbar(xs, ys, yerr=es, fmt="o-", color="tab:grey", capsize=2, label="fixed N")
    for name, block in result.adaptive.items():
        x = result.stats(block["answers_per_example"])[0]
        mean, std = result.stats(block["accuracy"])
        ax.errorbar([x], [mean], yerr=[std], fmt="s", capsize=3, ms=7, label=f"adaptive {name}")
    ax.set_xlabel("answers per example (mean)")
    ax.set_ylabel("label accuracy vs true_label (mean ± std over seeds)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


__all__ = ["budget_from_csv", "plot_budget", "setting_name"]
