"""Wall time of ``frtrain reproduce all`` from an empty cache, per table.

Runs every table of the paper at the chosen profile into a fresh temporary folder (so no
task comes from a cache), then prints the time charged to each table (every task counted
once, at the first table that needs it), the total, and the ratio to the 45-minute budget
on 2 cores. The full profile takes about half an hour on 2 cores; ``--quick``
about two minutes.

    .venv/bin/python benchmarks/reproduce_all.py [--quick] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from trainer.experiments import paper, report

BUDGET_S = 45 * 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the quick profile (2 seeds)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="write the report here instead of a temp dir")
    args = ap.parse_args()
    profile = paper.QUICK if args.quick else paper.FULL
    out = args.keep or Path(tempfile.mkdtemp(prefix="frtrain-reproduce-"))
    if (out / "cache").exists():
        print(f"{out}/cache exists: the benchmark needs an empty cache", file=sys.stderr)
        return 2
    try:
        _, _, findings, timing = report.reproduce(
            list(paper.TABLES), out=out, profile=profile, workers=args.workers
        )
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    print(report.format_timing(timing))
    wall = timing["wall"]
    print(f"profile {profile.name}, seeds {list(profile.seeds)}: wall {wall:.0f} s = "
          f"{wall / BUDGET_S:.2f} x the 45-minute budget "
          f"({'within' if wall < BUDGET_S else 'OVER'} budget)")  # fmt: skip
    for f in findings:
        print(f"finding ({f.key}): {f.holds}")
    return 0 if wall < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
