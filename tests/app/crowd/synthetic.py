"""A small synthetic crowd CSV in the released wide format, with its own feature columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_synthetic_csv(
    path: Path, *, n_examples: int = 100, n_answers: int = 5, seed: int = 0
) -> Path:
    """Examples answered by ``n_answers`` of 8 workers: 6 good (80% right), 2 inverted (10%)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice([-1, 1], size=n_examples)
    workers = [f"u{i}" for i in range(8)]
    accuracy = {w: 0.8 for w in workers[:6]} | {w: 0.1 for w in workers[6:]}
    frame: dict[str, object] = {
        "example_idx": np.arange(100, 100 + n_examples),
        "colour": rng.choice(["red", "blue"], size=n_examples),
        "height_cm": rng.integers(150, 200, size=n_examples),
        "true_label": truth,
    }
    answers = np.zeros((n_examples, n_answers), dtype=np.int64)
    chosen = np.empty((n_examples, n_answers), dtype=object)
    for i in range(n_examples):
        picked = rng.choice(workers, size=n_answers, replace=False)
        for k, worker in enumerate(picked):
            right = rng.random() < accuracy[worker]
            positive = (truth[i] == 1) == right
            answers[i, k] = rng.choice([3, 4]) if positive else rng.choice([1, 2])
            chosen[i, k] = worker
    for k in range(n_answers):
        frame[f"ans_{k + 1}"] = answers[:, k]
    for k in range(n_answers):
        frame[f"worker_id_{k + 1}"] = chosen[:, k]
    pd.DataFrame(frame).to_csv(path, index=False)
    return path
