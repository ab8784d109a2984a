"""Wall and CPU time of ``frtrain reproduce practitioners``: the fit cache against none.

Part 1 (always): for each data set, every task of one (data set, poisoned, split seed 0)
group - every baseline row, FR-Train and ``auto`` - run twice in this process, interleaved:

* **old**: each task on its own with the fit cache disabled (``fit_cache.disabled()``: the
  path before trainer/models/fit_cache.py; auto still reuses a train-only candidate's fit
  across its folds, as it always did);
* **new**: the executor's group runner (``executor._execute_group``), which runs the tasks in
  its order (auto last) under one fit cache.

Both under one BLAS / OpenMP / torch thread, as a pool worker runs. It prints per-task
seconds, wall and CPU time per path and their ratio, and asserts that both paths give the
same results (every score, auto's choice and per-fold scores; timings aside). The full-grid
estimate is the new path's CPU seconds per group x 2 settings x 5 split seeds per data set,
divided by the 2 workers (a worker on its own core runs at CPU speed).

Part 2 (``--full``): the whole harness from an empty cache into a temporary folder, and its
ratio to the 30-minute budget on 2 cores.

    nice -n 10 .venv/bin/python benchmarks/practitioners.py [--datasets compas,adult] [--full]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from trainer.experiments import executor as EX
from trainer.experiments import practitioners as EP
from trainer.models import fit_cache

BUDGET_S = 30 * 60
GROUPS_PER_DATASET = 2 * len(EP.SPLIT_SEEDS)  # clean and poisoned x split seeds


def _timed(fn: Any) -> tuple[Any, float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def _results_only(result: dict[str, Any]) -> dict[str, Any]:
    """A task's result without its timings (``seconds``, auto's ``fit_seconds``)."""
    out = copy.deepcopy(result)
    for recs in out.values():
        for rec in recs:
            rec.pop("seconds", None)
            for cand in rec.get("auto", {}).get("candidates", []):
                cand.pop("fit_seconds", None)
    return out


def warm_up() -> None:
    """Imports and first calls (fairlearn, torch) before any timed path."""
    from trainer.models.fr_train import FRTrainGrid  # noqa: F401

    ds = EP.load_split("compas", "poisoned", 0)
    for name in ("eg-dp-clean", "to-dp-post", "cr-lr"):
        EP.fit_method(name, ds, seed=0)


def compare(dataset: str, cache_dir: Path, *, new_first: bool = False) -> float:
    """Old against new on one group; returns the new path's CPU seconds."""
    profile = EP.P.profile_with(EP.P.FULL, (0,))
    tasks = EP.tasks(profile, [0], [dataset], EP.ROWS, ["poisoned"])
    EP.load_split(dataset, "poisoned", 0)  # both paths read the same cached split

    def old() -> list[tuple[str, dict, float]]:
        with fit_cache.disabled():
            return [EX._execute(t, profile, None) for t in tasks]

    def new() -> tuple[list[tuple[str, dict, float]], fit_cache.FitCache]:
        (group,) = EX._groups(tasks)
        with fit_cache.scope() as fits:
            return EX._execute_group(group, profile, None, cache_dir, one_thread=True), fits

    if new_first:  # the data sets alternate the order (load drifts on a shared machine)
        (b, fits), b_wall, b_cpu = _timed(new)
        a, a_wall, a_cpu = _timed(old)
    else:
        a, a_wall, a_cpu = _timed(old)
        (b, fits), b_wall, b_cpu = _timed(new)
    old_by = {k: (r, s) for k, r, s in a}
    new_by = {k: (r, s) for k, r, s in b}
    assert set(old_by) == set(new_by)
    for key in old_by:
        assert _results_only(old_by[key][0]) == _results_only(new_by[key][0]), key
    print(f"{dataset} poisoned, split seed 0: seconds per task (old / new)")
    for t in tasks:
        print(f"  {t.opt('method'):<12} {old_by[t.key][1]:8.1f} {new_by[t.key][1]:8.1f}")
    print(f"  wall {a_wall:7.1f} s -> {b_wall:7.1f} s  ratio new/old {b_wall / a_wall:.3f}")
    print(f"  CPU  {a_cpu:7.1f} s -> {b_cpu:7.1f} s  ratio new/old {b_cpu / a_cpu:.3f}")
    print(f"  fit cache: {fits.hits} hits, {fits.misses} misses, {fits.saved_seconds:.1f} s of "
          "fits not redone; results identical (asserted)")  # fmt: skip
    return b_cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="compas,adult")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="also run the whole harness")
    args = ap.parse_args()
    datasets = [d for d in args.datasets.split(",") if d]
    projected = 0.0
    with tempfile.TemporaryDirectory(prefix="frtrain-bench-") as tmp, threadpool_limits(1):
        warm_up()
        for i, d in enumerate(datasets):
            projected += compare(d, Path(tmp), new_first=i % 2 == 1) * GROUPS_PER_DATASET
    projected /= max(1, min(args.workers, 2))
    print(f"estimated harness time (new path, {args.workers} workers, from CPU seconds): "
          f"{projected:.0f} s = {projected / BUDGET_S:.2f} x the 30-min budget")  # fmt: skip
    if args.full:
        out = Path(tempfile.mkdtemp(prefix="frtrain-practitioners-"))
        t0 = time.perf_counter()
        EP.reproduce(out, datasets=datasets, workers=args.workers)
        wall = time.perf_counter() - t0
        print(f"full harness: {wall:.0f} s = {wall / BUDGET_S:.2f} x the budget ({out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
