"""AD knob sweep as one vectorised run vs one fit per model (reproduce-all time).

The reproduction fits Adversarial Debiasing for every alpha of its grid x seed x weighting
(plain and RML-weighted): 90 full-batch models per AdultCensus setting at the full
protocol. This benchmark trains a slice of that sweep on poisoned AdultCensus (32,947
training rows, 98 inputs) both ways in the same run, ``ad.fit_many`` (one column per
model) and ``AdversarialDebiasing.fit`` one model after another, prints both wall times
and the ratio, and checks that every model's coefficients agree.

    .venv/bin/python benchmarks/ad_sweep.py [--steps 200] [--alphas 9] [--seeds 2]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from trainer.experiments.paper import FULL, load_data
from trainer.models.ad import AdversarialDebiasing, fit_many


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="full-batch steps per model")
    ap.add_argument("--alphas", type=int, default=9, help="first N alphas of the full grid")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tr = load_data("adult", "poisoned").train
    alphas = FULL.ad_grid[: args.alphas]

    def models() -> list[AdversarialDebiasing]:
        return [
            AdversarialDebiasing(alpha=a, random_state=s, n_steps=args.steps)
            for s in range(args.seeds)
            for a in alphas
        ]

    batched = models()
    t0 = time.perf_counter()
    fit_many(tr.X, tr.y, tr.z, [(m, None) for m in batched])
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = [m.fit(tr.X, tr.y, tr.z) for m in models()]
    t_single = time.perf_counter() - t0
    diff = max(float(np.abs(a.coef_ - b.coef_).max()) for a, b in zip(batched, single, strict=True))
    n = len(batched)
    print(f"AdultCensus poisoned, {n} AD models ({len(alphas)} alphas x {args.seeds} seeds), "
          f"{args.steps} full-batch steps each, {args.threads} thread(s)")  # fmt: skip
    print(f"one at a time : {t_single:7.2f} s  ({t_single / n:.2f} s per model)")
    print(f"fit_many      : {t_batched:7.2f} s  ({t_batched / n:.2f} s per model)")
    print(f"ratio         : {t_single / t_batched:.1f}x faster batched")
    print(f"max |coef difference| between the two: {diff:.2e} (tolerance 1e-3)")
    return 0 if diff < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
