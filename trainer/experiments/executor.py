"""Running tasks: a cached, resumable process pool with a progress bar."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from trainer.experiments.protocol import Profile
from trainer.experiments.runners import RUNNERS, Task, fr_settings


# ----------------------------------------------------------------------------------------
# Runner
# ----------------------------------------------------------------------------------------
@dataclass
class RunLog:
    """Timing of every task, for the report's run-time section."""

    seconds: dict[str, float] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)
    #: cached FR-Train grids whose λ_r differs from today's defaults (delete to rerun)
    stale: list[str] = field(default_factory=list)
    #: every invocation that trained tasks into this cache (OUT/cache/runs.jsonl)
    runs: list[dict[str, Any]] = field(default_factory=list)


def _execute(task: Task, profile: Profile, data_dir: str | None) -> tuple[str, dict, float]:
    # One BLAS / torch thread per worker: the pool already uses both cores.
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    result = RUNNERS[task.kind](task, profile, data_dir)
    return task.key, result, time.perf_counter() - t0


def group_key(task: Task) -> str:
    """Tasks run one after another in one process, sharing its fit cache
    (trainer/models/fit_cache.py): a practitioners task's (data set, setting, split seed),
    whose baseline rows and ``auto`` fit the same models; any other task alone."""
    if task.kind == "practitioners":
        return f"{task.kind}.{task.dataset}.{task.setting}.split_seed={task.opt('split_seed', 0)}"
    return task.key


def _execute_group(
    group: Sequence[Task], profile: Profile, data_dir: str | None, cache_dir: Path,
    *, one_thread: bool,
) -> list[tuple[str, dict, float]]:  # fmt: skip
    """Run a group's tasks in order under one fit cache, writing each cache entry as it ends
    (an interrupted group keeps its finished tasks). ``one_thread``: cap BLAS / OpenMP at one
    thread (a pool worker: the pool already occupies the cores), whatever the environment."""
    # the BLAS / OpenMP libraries load before the cap: threadpoolctl caps the loaded ones
    import sklearn.linear_model  # noqa: F401  (scipy's OpenBLAS, scikit-learn's OpenMP)
    import torch  # noqa: F401
    from threadpoolctl import threadpool_limits

    from trainer.models import fit_cache

    done = []
    limits = threadpool_limits(limits=1) if one_thread else contextlib.nullcontext()
    with limits, fit_cache.scope():
        for t in group:
            key, result, seconds = _execute(t, profile, data_dir)
            _write_entry(cache_dir, key, result, seconds)
            done.append((key, result, seconds))
    return done


def _write_entry(cache_dir: Path, key: str, result: dict[str, Any], seconds: float) -> None:
    tmp = cache_dir / f"{key}.json.tmp"
    tmp.write_text(json.dumps({"result": result, "seconds": seconds}, default=_json_default))
    tmp.replace(cache_dir / f"{key}.json")  # never a half-written cache entry


def _groups(todo: Sequence[Task]) -> list[list[Task]]:
    """``todo`` by :func:`group_key`, longest groups first; inside a group the rows ``auto``
    reuses (baselines, FR-Train) before ``auto``."""
    by: dict[str, list[Task]] = {}
    for t in todo:
        by.setdefault(group_key(t), []).append(t)
    groups = [sorted(g, key=lambda t: t.opt("method") == "auto") for g in by.values()]
    return sorted(groups, key=lambda g: min((_cost_rank(t), t.dataset != "adult", t.key)
                                            for t in g))  # fmt: skip


def run_tasks(
    tasks: Sequence[Task],
    profile: Profile,
    *,
    cache_dir: Path,
    data_dir: str | None = None,
    workers: int = 2,
    progress: bool = True,
) -> tuple[dict[str, dict[str, Any]], RunLog]:
    """Run (or load from ``cache_dir``) every distinct task; at most ``workers`` processes."""
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    cache_dir.mkdir(parents=True, exist_ok=True)
    unique = list({t.key: t for t in tasks}.values())
    results: dict[str, dict[str, Any]] = {}
    log = RunLog()
    todo = []
    for t in unique:
        f = cache_dir / f"{t.key}.json"
        if f.exists():
            rec = json.loads(f.read_text())
            results[t.key] = rec["result"]
            log.seconds[t.key] = rec["seconds"]
            log.cached.add(t.key)
            if t.kind == "fr" and _stale(t, rec["result"], profile):
                # The cache key does not hold FR-Train's defaults; say when they moved.
                log.stale.append(t.key)
        else:
            todo.append(t)
    # Longest first (FR-Train grids), so the two workers finish together.
    groups = _groups(todo)
    bar = tqdm(
        total=len(todo), desc=f"reproduce ({profile.name})", unit="task", disable=not progress
    )

    def store(done: list[tuple[str, dict, float]]) -> None:
        for key, result, seconds in done:  # the worker wrote the cache entries
            results[key] = result
            log.seconds[key] = seconds
            bar.update(1)
            bar.set_postfix_str(key[:40])

    try:
        if workers <= 1 or len(groups) <= 1:
            for g in groups:
                store(_execute_group(g, profile, data_dir, cache_dir, one_thread=False))
        else:
            # Fresh (spawned) workers read these before importing numpy: one BLAS thread
            # each, since the pool already occupies both cores (2-3x faster than
            # oversubscribed BLAS threads on this machine); threadpoolctl enforces it there.
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ.setdefault(var, "1")
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, 2), mp_context=ctx) as pool:
                futs = [pool.submit(_execute_group, g, profile, data_dir, cache_dir,
                                    one_thread=True) for g in groups]  # fmt: skip
                for fut in as_completed(futs):
                    store(fut.result())
    finally:
        bar.close()
    runs_file = cache_dir / "runs.jsonl"
    if todo:
        # A report rebuilt later from this cache still states what training it cost.
        entry = {"finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                 "profile": profile.name, "tasks_trained": len(todo), "workers": workers,
                 "wall_seconds": round(time.perf_counter() - t_start, 1),
                 "training_seconds": round(sum(log.seconds[t.key] for t in todo), 1)}  # fmt: skip
        with runs_file.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")
    if runs_file.exists():
        log.runs = [json.loads(line) for line in runs_file.read_text().splitlines() if line]
    return results, log


def _cost_rank(task: Task) -> int:
    """0 for the long tasks (FR-Train grids, auto's cross-validation), run first."""
    if task.kind in ("fr", "auto"):
        return 0
    return 0 if task.kind == "practitioners" and task.opt("method") in ("fr-train", "auto") else 1


def _stale(task: Task, result: dict[str, Any], profile: Profile) -> bool:
    """Whether a cached FR-Train grid was trained under other settings than today's."""
    cfg = fr_settings(task.dataset, task.setting, profile)
    if not task.opt("lambda_r") and float(result["lambda_r"][0]) != cfg["lambda_r"]:
        return True
    if "chosen" not in result:  # recorded before trainer.api's selection made the choices
        return True
    done = result.get("params", {})
    return any(done.get(k) != v for k, v in cfg["params"].items() if k != "reweight")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def profile_with(profile: Profile, seeds: Sequence[int] | None) -> Profile:
    """The profile with other seeds, if given."""
    return profile if seeds is None else replace(profile, seeds=tuple(int(s) for s in seeds))
