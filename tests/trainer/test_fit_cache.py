"""The fit cache (trainer/models/fit_cache.py): reuse changes no result, only the work done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.trainer.test_practitioners import CLEAN, TEST, TRAIN, _toy
from trainer.data.base import Dataset, Split
from trainer.experiments import executor as EX
from trainer.experiments import practitioners as EP
from trainer.experiments.runners import Task
from trainer.models import fit_cache
from trainer.models import practitioners as PR
from trainer.models.auto import AutoMethod

OTHER_TRAIN, OTHER_CLEAN = _toy(400, 10, flip=0.3), _toy(120, 11)
FR_SMALL = {"l1": [0.2, 0.4], "l2": 0.3, "params": {"epochs": 40, "pretrain_epochs": 10}}
CANDIDATES = "eg-dp-clean,to-dp-post,eg-dp-train,cr-lr,relabel-eg,to-dp-train"


def _fit(name: str, train: Split, clean: Split) -> PR._Practitioner:
    est = PR.make_practitioner(name)
    return est.fit(train.X, train.y, train.z, X_val=clean.X, y_val=clean.y, z_val=clean.z)


def _outputs(model: Any) -> tuple[np.ndarray, np.ndarray]:
    return model.predict(TEST.X, TEST.z), model.predict_proba(TEST.X, TEST.z)


@pytest.mark.parametrize("name", sorted(PR.PRACTITIONERS))
def test_the_flags_the_cache_keys_on_say_which_rows_a_fit_reads(name: str) -> None:
    """A method whose ``uses_clean`` (``uses_train``) is False fits the same model whatever the
    clean (training) rows are: the cache may leave those rows out of its key."""
    est = PR.make_practitioner(name)
    assert est.uses_clean or est.uses_train
    ref = _outputs(_fit(name, TRAIN, CLEAN))
    for flag, train, clean in (("uses_clean", TRAIN, OTHER_CLEAN),
                               ("uses_train", OTHER_TRAIN, CLEAN)):  # fmt: skip
        got = _outputs(_fit(name, train, clean))
        same = all(np.array_equal(a, b) for a, b in zip(ref, got, strict=True))
        if not getattr(est, flag):
            assert same, f"{name} reads the rows its {flag}=False says it ignores"


def test_a_hit_is_a_copy_of_the_same_fit_and_keys_hold_seed_and_bytes() -> None:
    cache = fit_cache.FitCache()
    args = (TRAIN.X, TRAIN.y, TRAIN.z)
    first = cache.fit(PR.make_practitioner("eg-dp-train", random_state=3), *args)
    again = cache.fit(PR.make_practitioner("eg-dp-train", random_state=3), *args,
                      X_val=OTHER_CLEAN.X, y_val=OTHER_CLEAN.y, z_val=OTHER_CLEAN.z)  # fmt: skip
    assert (cache.hits, cache.misses) == (1, 1)  # the clean rows are not in its key
    assert again is not first and again.model_ is not first.model_
    for a, b in zip(_outputs(first), _outputs(again), strict=True):
        np.testing.assert_array_equal(a, b)
    cache.fit(PR.make_practitioner("eg-dp-train", random_state=4), *args)  # another seed
    cache.fit(PR.make_practitioner("eg-dp-train", random_state=3), TRAIN.X.astype(np.float64),
              TRAIN.y, TRAIN.z)  # the same values in other bytes  # fmt: skip
    assert (cache.hits, cache.misses) == (1, 3)
    off = fit_cache.FitCache(enabled=False)
    off.fit(PR.make_practitioner("cr-lr"), *args)
    off.fit(PR.make_practitioner("cr-lr"), *args)
    assert (off.hits, off.misses) == (0, 0)
    assert fit_cache.digest(np.zeros(3, np.int8)) != fit_cache.digest(np.zeros(3, np.int64))
    assert fit_cache.digest(np.zeros((2, 3))) != fit_cache.digest(np.zeros((3, 2)))


def _report(model: AutoMethod) -> dict[str, Any]:
    rep = model.report()
    for c in rep["candidates"]:
        c.pop("fit_seconds")  # a timing, not a result
    return rep


def _ds() -> Dataset:
    return Dataset(name="toy", train=TRAIN, val=CLEAN, test=TEST, feature_names=["a", "b", "c"],
                   sensitive_name="g", group_names={0: "g0", 1: "g1"})  # fmt: skip


def test_auto_reuses_fits_and_chooses_scores_and_predicts_exactly_as_without() -> None:
    opts = {"candidates": CANDIDATES, "n_repeats": 2, "frtrain_params": FR_SMALL,
            "include_frtrain": True}  # fmt: skip
    ds = _ds()
    with fit_cache.disabled():
        plain = EP.fit_method("auto", ds, seed=1, auto_options=opts)
        plain_rows = {m: EP.fit_method(m, ds, seed=1) for m in ("eg-dp-train", "relabel-eg")}
    with fit_cache.scope() as fits:
        # the table's rows first, as a worker group runs them, then auto
        rows = {m: EP.fit_method(m, ds, seed=1) for m in ("eg-dp-train", "relabel-eg")}
        cached = EP.fit_method("auto", ds, seed=1, auto_options=opts)
    assert fits.hits >= 2 + 1  # to-dp-post's LR in later folds, eg-dp-train, the final refit
    assert _report(cached) == _report(plain)
    assert cached.chosen_ == plain.chosen_
    for a, b in zip(_outputs(cached), _outputs(plain), strict=True):
        np.testing.assert_array_equal(a, b)
    for m, model in rows.items():
        for a, b in zip(_outputs(model), _outputs(plain_rows[m]), strict=True):
            np.testing.assert_array_equal(a, b)


def test_auto_alone_matches_with_and_without_its_own_cache() -> None:
    fit = {"X_val": CLEAN.X, "y_val": CLEAN.y, "z_val": CLEAN.z}
    kw = {"candidates": CANDIDATES, "include_frtrain": False, "n_repeats": 1, "random_state": 5}
    with fit_cache.disabled():
        plain = AutoMethod(**kw).fit(TRAIN.X, TRAIN.y, TRAIN.z, **fit)
    cached = AutoMethod(**kw).fit(TRAIN.X, TRAIN.y, TRAIN.z, **fit)
    assert _report(cached) == _report(plain)
    for a, b in zip(_outputs(cached), _outputs(plain), strict=True):
        np.testing.assert_array_equal(a, b)


def test_executor_runs_a_splits_tasks_in_one_cache_auto_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.experiments import paper as P

    seen: list[tuple[str, int]] = []

    def fake(task: Task, profile: Any, data_dir: str | None) -> dict[str, Any]:
        seen.append((task.key, id(fit_cache.active())))
        return {task.opt("method"): [{"seconds": 0.0}]}

    monkeypatch.setitem(EX.RUNNERS, "practitioners", fake)
    prof = P.profile_with(P.QUICK, (0,))
    task_list = EP.tasks(prof, [0, 1], ["compas"], ["auto", "cr-lr", "fr-train"], ["poisoned"])
    results, _ = EX.run_tasks(task_list, prof, cache_dir=tmp_path, workers=1, progress=False)
    assert set(results) == {t.key for t in task_list}
    assert all((tmp_path / f"{t.key}.json").exists() for t in task_list)
    by_split: dict[str, list[tuple[str, int]]] = {}
    for key, cache_id in seen:
        by_split.setdefault(key.split("-method")[0], []).append((key, cache_id))
    assert len(by_split) == 2
    for runs in by_split.values():
        assert runs[-1][0].endswith("method=auto")  # after the rows it reuses
        assert len({c for _, c in runs}) == 1 and runs[0][1] != id(fit_cache.active())
    assert fit_cache.active() is fit_cache.active() and not fit_cache.active().enabled


def test_a_pool_workers_group_runs_on_one_blas_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from threadpoolctl import threadpool_info

    from trainer.experiments import paper as P

    threads: list[int] = []

    def fake(task: Task, profile: Any, data_dir: str | None) -> dict[str, Any]:
        threads.extend(int(p["num_threads"]) for p in threadpool_info())
        return {task.opt("method"): [{"seconds": 0.0}]}

    monkeypatch.setitem(EX.RUNNERS, "practitioners", fake)
    prof = P.profile_with(P.QUICK, (0,))
    (group,) = EX._groups(EP.tasks(prof, [0], ["compas"], ["cr-lr"], ["clean"]))
    EX._execute_group(group, prof, None, tmp_path, one_thread=True)
    assert threads and set(threads) == {1}
