"""Offline crowd reports on a released-format CSV: adaptive answer budgets and the bias audit.

Both read the file in memory (``app.crowd.parse_wide``) and call the pure functions of
``app.crowd.budget`` / ``app.crowd.audit``; the plots are written with matplotlib (Agg).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import DomainError, InvalidInput
from app.crowd import DEFAULT_METHOD, DEFAULT_THRESHOLD, aggregate, parse_wide
from app.crowd.audit import AuditResult, audit
from app.crowd.budget import DEFAULT_SETTINGS, BudgetResult, replay
from app.models import Example, Worker
from app.services.crowd.labels import aggregate_project, load_project_crowd
from app.services.crowd.truth import DEFAULT_SEEDS, ERR_NO_TRUTH, choose_gold, read_crowd_csv


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
    # Imported here: matplotlib loads only when a plot is drawn, with Agg chosen before pyplot.
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


# -- bias audit -------------------------------------------------------------------------------
def audit_from_csv(
    csv_path: Path, columns: Sequence[str] | None = None, *, method: str = DEFAULT_METHOD
) -> list[AuditResult]:
    """The audit of a released-format CSV: every example's crowd label by ``method`` from all
    its answers (no gold drawn, no worker filtered), against ``true_label``, per value of each
    column (default: ``gender`` and ``race`` where present)."""
    answers, truth, examples = _wide(csv_path)
    if columns is None:
        columns = [c for c in ("gender", "race", "sex") if c in examples.columns]
    missing = [c for c in columns if c not in examples.columns]
    if missing or not columns:
        raise ValueError(
            f"no such column(s) {missing or 'given'}; the file has: {', '.join(examples.columns)}"
        )
    labels = aggregate(
        answers, method=method, n_max=int(answers.groupby("example_id").size().max())
    )
    known = {k: int(v) for k, v in truth.items()}
    by_id = examples.set_index("example_id")
    return [audit(answers, labels, by_id[c].to_dict(), known, column=c) for c in columns]


def audit_project(
    *, session: Session, project_id: int, column: str | None = None, method: str = DEFAULT_METHOD
) -> AuditResult:
    """The audit of a project's crowd labels (``method``, the project's N, filtered and blocked
    workers left out) per value of ``column`` (default: the project's sensitive column),
    against the examples' known labels where known."""
    data = load_project_crowd(session=session, project_id=project_id)
    column = column or data.project.sensitive_column
    if not column:
        raise InvalidInput(
            "the project has no sensitive_column; set one or pass ?column=<feature name>"
        )
    rows = session.execute(
        select(Example.id, Example.external_id, Example.features, Example.known_label).where(
            Example.project_id == project_id
        )
    ).all()
    groups = {int(pk): (feats or {}).get(column) for pk, _, feats, _ in rows}
    if all(v is None for v in groups.values()):
        raise InvalidInput(f"no example of project {project_id} has a feature {column!r}")
    known = {int(pk): int(lab) for pk, _, _, lab in rows if lab is not None}
    labels = aggregate_project(data, method=method, n=None)
    result = audit(data.answers, labels, groups, known, column=column)
    names = {
        int(pk): ext
        for pk, ext in session.execute(
            select(Worker.id, Worker.external_id).where(
                Worker.id.in_([int(w) for w in pd.unique(data.answers["worker_id"])])
            )
        ).all()
    }
    for w in result.workers:
        w.worker_id = names.get(int(w.worker_id), str(w.worker_id))
    result.worker_gaps = {names.get(int(k), str(k)): v for k, v in result.worker_gaps.items()}
    return result


def plot_audit(results: Sequence[AuditResult], path: Path, *, title: str) -> None:
    """Per column: crowd vs known positive rate and label accuracy for each group (bars)."""
    # Imported here: matplotlib loads only when a plot is drawn, with Agg chosen before pyplot.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, res in zip(axes[0], results, strict=True):
        names = [g.group for g in res.groups]
        x = np.arange(len(names))
        series = [
            ("crowd positive rate", [g.crowd_positive_rate for g in res.groups]),
            ("known positive rate", [g.known_positive_rate for g in res.groups]),
            ("label accuracy", [g.label_accuracy for g in res.groups]),
        ]
        for i, (label, values) in enumerate(series):
            ax.bar(x + (i - 1) * 0.27, [v or 0.0 for v in values], width=0.27, label=label)
        ax.set_xticks(x, [f"{g.group}\n(n={g.n_examples})" for g in res.groups])
        ax.set_ylim(0, 1)
        ax.set_title(res.column)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def audit_block(*, session: Session, project_id: int) -> dict[str, object] | None:
    """What the admin project page's audit box shows (``admin/_crowd_audit.html``): the groups
    of the project's sensitive column, or ``None`` (with the reason) when it cannot be audited."""
    try:
        result = audit_project(session=session, project_id=project_id)
    except DomainError as exc:
        return {"error": exc.detail, "groups": [], "column": None}
    gaps = list(result.worker_gaps.values())
    return {
        "error": None,
        "column": result.column,
        "method": DEFAULT_METHOD,
        "groups": result.groups,
        "worker_gap_median": float(np.median(gaps)) if gaps else None,
        "n_workers_gap": len(gaps),
    }
