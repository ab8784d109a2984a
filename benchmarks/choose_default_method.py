"""The rule that chose ``app.crowd.DEFAULT_METHOD``, rerun: among the aggregation methods that
fit no gold, the highest accuracy on the **gold rows** at N = 11, averaged over the five
20%-gold splits (seeds 0-4) of a released-format crowd CSV (default: the released COMPAS
answers, trainer.datasets "compas-crowd"). The non-gold rows, on which Table 6 is reported,
are not read.

    .venv/bin/python benchmarks/choose_default_method.py [CSV]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from app.crowd import GOLD_FREE_METHODS, aggregate, parse_wide
from app.workflows.table6 import choose_gold, label_accuracy, read_crowd_csv
from trainer import datasets

GOLD_FREE = GOLD_FREE_METHODS  # every registered method that fits no gold


def main() -> None:
    if len(sys.argv) > 1:
        csv = Path(sys.argv[1])
    else:
        csv = datasets.file_path("compas-crowd", "COMPAS_crowdsourcing_data.csv")
    wide = parse_wide(read_crowd_csv(csv))
    truth = wide.true_labels
    assert truth is not None
    scores: dict[str, list[float]] = {m: [] for m in GOLD_FREE}
    for seed in range(5):
        gold = choose_gold(list(truth.index), 0.2, seed)
        for method in GOLD_FREE:
            labels = aggregate(wide.answers, method=method, n_max=11)
            scores[method].append(label_accuracy(labels, truth.loc[gold]))
    print(f"{csv.name}: accuracy on the gold rows at N = 11, seeds 0-4 (mean ± std)")
    for method, values in scores.items():
        print(f"  {method:20s} {np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}")
    best = max(scores, key=lambda m: np.mean(scores[m]))
    print(f"chosen: {best}")


if __name__ == "__main__":
    main()
