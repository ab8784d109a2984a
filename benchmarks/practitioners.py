"""Wall time of ``frtrain reproduce practitioners`` and of each of its methods.

Part 1 (always): every method once on one split of each data set (split seed 0, poisoned),
timed in this process, printed as seconds and as a ratio to the clean-set LR measured in the
same run; the projected harness time is the sum over methods x settings x split seeds,
divided by the workers (the harness runs one task per (data set, setting, split seed,
method) in a pool).

Part 2 (``--full``): the whole harness from an empty cache into a temporary folder, and its
ratio to the 30-minute budget on 2 cores.

    .venv/bin/python benchmarks/practitioners.py [--datasets compas,adult] [--full]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from trainer.experiments import practitioners as EP

BUDGET_S = 30 * 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="compas,adult")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="also run the whole harness")
    args = ap.parse_args()
    datasets = [d for d in args.datasets.split(",") if d]
    projected = 0.0
    for d in datasets:
        ds = EP.load_split(d, "poisoned", 0)
        times = {}
        for name in EP.ROWS:
            t0 = time.perf_counter()
            EP.fit_method(name, ds, seed=0)
            times[name] = time.perf_counter() - t0
        base = max(times["lr-clean"], 1e-3)
        print(f"{d}: seconds per fit (ratio to LR on the clean set, {base:.2f} s)")
        for name, s in times.items():
            print(f"  {name:<12} {s:8.1f} s  x{s / base:8.1f}")
        per_split = sum(times.values())
        projected += per_split * 2 * len(EP.SPLIT_SEEDS)  # 2 settings x 5 split seeds
    projected /= max(1, min(args.workers, 2))
    print(f"projected harness wall time: {projected:.0f} s = {projected / BUDGET_S:.2f} x the "
          f"30-min budget on {args.workers} workers")  # fmt: skip
    if args.full:
        out = Path(tempfile.mkdtemp(prefix="frtrain-practitioners-"))
        t0 = time.perf_counter()
        EP.reproduce(out, datasets=datasets, workers=args.workers)
        wall = time.perf_counter() - t0
        print(f"full harness: {wall:.0f} s = {wall / BUDGET_S:.2f} x the budget ({out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
