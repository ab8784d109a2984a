"""The selection rules of trainer/selection.py (docs/SELECTION.md) on hand-built tables,
checked against direct numpy resampling and fairlearn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fairlearn.metrics import (
    demographic_parity_ratio,
    equal_opportunity_ratio,
    equalized_odds_ratio,
)

from trainer import api
from trainer import selection as sel


def _with_rate(n: int, k: int) -> np.ndarray:
    """n predictions in {-1, +1}, the first k positive."""
    return np.where(np.arange(n) < k, 1, -1)


def _lucky_table() -> dict[str, Any]:
    """60 validation rows (30 per group) and 3,000 training rows (1,500 per group).

    Point A is the more accurate; its validation DI is 14/30 vs 12/30 = 0.857 (reaches 0.8 by
    luck), its DI on the training features 0.275 / 0.5 = 0.55. Point B's DI is about 1 on
    both. The validation labels are A's predictions with 12 rows flipped.
    """
    z_val = np.repeat([0, 1], 30)
    a_val = np.concatenate([_with_rate(30, 14), _with_rate(30, 12)])
    b_val = np.concatenate([_with_rate(30, 15)[::-1], _with_rate(30, 15)])
    y_val = a_val.copy()
    y_val[[0, 5, 14, 20, 25, 29, 30, 33, 40, 45, 50, 59]] *= -1
    z_tr = np.repeat([0, 1], 1500)
    a_tr = np.concatenate([_with_rate(1500, 750), _with_rate(1500, 412)])
    b_tr = np.concatenate([_with_rate(1500, 750), _with_rate(1500, 720)])
    return {
        "y_val": y_val, "z_val": z_val, "val": np.stack([a_val, b_val]),
        "z_tr": z_tr, "train": np.stack([a_tr, b_tr]),
    }  # fmt: skip


def test_lucky_validation_di_fools_the_old_rule_not_the_interval_rule() -> None:
    t = _lucky_table()
    acc = [np.mean(p == t["y_val"]) for p in t["val"]]
    assert acc[0] > acc[1]  # A is the more accurate on validation
    assert demographic_parity_ratio(t["y_val"], t["val"][0], sensitive_features=t["z_val"]) > 0.8
    old = sel.select(t["y_val"], t["val"], t["z_val"], train_pred=t["train"],
                     z_train=t["z_tr"], rule="point")  # fmt: skip
    assert old.index == 0  # the previous rule takes the lucky point
    new = sel.select(t["y_val"], t["val"], t["z_val"], train_pred=t["train"], z_train=t["z_tr"])
    assert new.index == 1 and new.rule == "interval"
    a, b = new.points
    assert not a["feasible"] and b["feasible"]
    assert a["checked_interval"][1] < 0.8  # on 3,060 label-free rows A is clearly unfair
    assert a["n_label_free"] == a["checked_n"] == 3060
    # Even without the training rows, 60 validation rows cannot certify A's DI.
    alone = sel.select(t["y_val"], t["val"], t["z_val"])
    assert not alone.points[0]["feasible"] and alone.points[0]["checked_interval"][0] < 0.8


def test_point_rule_is_select_point() -> None:
    t = _lucky_table()
    rng = np.random.default_rng(4)
    preds = np.where(rng.random((6, 60)) < rng.random((6, 1)), 1, -1)
    from trainer.metrics import evaluate

    for metric in ("disparate_impact", "equalized_odds", "equal_opportunity"):
        for floor in (0.5, 0.8, 0.95):
            got = sel.select(t["y_val"], preds, t["z_val"], metric=metric, min_fairness=floor,
                             rule="point").index  # fmt: skip
            mets = [evaluate(t["y_val"], p, t["z_val"]) for p in preds]
            assert got == sel.select_point(mets, min_fairness=floor, metric=metric)


def _direct_bootstrap(
    metric: str, y: np.ndarray, p: np.ndarray, z: np.ndarray, n_boot: int, seed: int
) -> list[float]:
    """Resample row indices within each stratum (group, or (group, label) cell) and
    recompute the metric from the resampled rows' positive rates, directly in numpy."""
    rng = np.random.default_rng(seed)
    labels = {"disparate_impact": [None], "equal_opportunity": [True]}.get(metric, [False, True])
    ratios = []
    for lab in labels:
        rates = []
        for g in (0, 1):
            cell = np.flatnonzero((z == g) & ((y > 0) == lab if lab is not None else True))
            idx = cell[rng.integers(0, len(cell), size=(n_boot, len(cell)))]
            rates.append((p[idx] > 0).mean(1))
        r = np.stack(rates)
        ratios.append(np.where(r.max(0) > 0, r.min(0) / np.maximum(r.max(0), 1e-300), 0.0))
    vals = np.min(np.stack(ratios), axis=0)
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


@pytest.mark.parametrize("metric", ["disparate_impact", "equalized_odds", "equal_opportunity"])
def test_interval_matches_direct_resampling(metric: str) -> None:
    rng = np.random.default_rng(1)
    n = 400
    z = rng.integers(0, 2, n)
    y = np.where(rng.random(n) < 0.5, 1, -1)
    p = np.where(rng.random(n) < np.where(z == 1, 0.35, 0.5) + 0.15 * (y > 0), 1, -1)
    est, iv = sel.fairness_interval(metric, p, z, y, n_boot=20_000, seed=3)
    oracle = {
        "disparate_impact": demographic_parity_ratio,
        "equalized_odds": equalized_odds_ratio,
        "equal_opportunity": equal_opportunity_ratio,
    }[metric]
    assert est == pytest.approx(oracle(y, p, sensitive_features=z))
    direct = _direct_bootstrap(metric, y, p, z, n_boot=20_000, seed=5)
    assert iv is not None
    assert iv == pytest.approx(direct, abs=0.01)
    assert iv[0] < est < iv[1]


def test_paired_accuracy_differences_match_direct_resampling() -> None:
    rng = np.random.default_rng(2)
    n = 300
    z = rng.integers(0, 2, n)
    y = np.where(rng.random(n) < 0.5, 1, -1)
    preds = np.stack([np.where(rng.random(n) < 0.85, y, -y) for _ in range(3)])
    got = sel.paired_accuracy_differences(y, preds, z, 0, n_boot=4_000, seed=0)
    acc = (preds == y).mean(1)
    np.testing.assert_allclose(got[:, 0], acc[0] - acc)
    assert got[0].tolist() == [0.0, 0.0, 0.0]
    r = np.random.default_rng(9)
    idx = np.concatenate(
        [
            c[r.integers(0, len(c), (4_000, len(c)))]
            for c in (np.flatnonzero(z == g) for g in (0, 1))
        ],
        axis=1,
    )  # (resamples, n): every resample keeps each group's size
    a = (preds[:, idx] == y[idx]).mean(-1)  # (points, resamples)
    direct = np.percentile(a[0] - a, [2.5, 97.5], axis=1).T
    np.testing.assert_allclose(got[:, 1:], direct, atol=0.01)


def test_no_feasible_point_falls_back_to_the_highest_lower_end_and_warns() -> None:
    rng = np.random.default_rng(0)
    n = 80
    z = np.repeat([0, 1], n // 2)
    y = np.where(rng.random(n) < 0.5, 1, -1)
    # positive rates per group: (0.5, 0.2), (0.5, 0.3), (0.5, 0.35): every DI well below 0.8
    preds = np.stack([np.concatenate([_with_rate(40, 20), _with_rate(40, k)]) for k in (8, 12, 14)])
    c = sel.select(y, preds, z)
    assert not any(p["feasible"] for p in c.points)
    lows = [p["checked_interval"][0] for p in c.points]
    assert c.index == int(np.argmax(lows)) == 2
    assert "no grid point" in c.reason and c.warnings and "0.8" in c.warnings[0]
    # an undefined DI (no positive prediction at all) is never chosen over a defined one
    preds[2] = -1
    c = sel.select(y, preds, z)
    assert c.points[2]["checked_interval"] is None and c.index == 1


def test_equalized_odds_uses_labelled_validation_rows_only() -> None:
    t = _lucky_table()
    with_train = sel.select(t["y_val"], t["val"], t["z_val"], train_pred=t["train"],
                            z_train=t["z_tr"], metric="equalized_odds")  # fmt: skip
    without = sel.select(t["y_val"], t["val"], t["z_val"], metric="equalized_odds")
    for p, q, pred in zip(with_train.points, without.points, t["val"], strict=True):
        assert p["checked_n"] == 60 and "labelled" in p["checked_rows"]
        assert p["checked_interval"] == q["checked_interval"]
        assert p["checked_estimate"] == pytest.approx(
            equalized_odds_ratio(t["y_val"], pred, sensitive_features=t["z_val"])
        )
        # the label-free DI is still recorded, on validation + training rows
        assert p["n_label_free"] == 3060 and q["n_label_free"] == 60
    assert with_train.index == without.index
    # 60 labelled rows cannot check equalized odds: the warning says so
    assert any("needs labels" in w for w in with_train.warnings)


def test_label_free_di_is_the_pooled_demographic_parity_ratio() -> None:
    t = _lucky_table()
    c = sel.select(t["y_val"], t["val"], t["z_val"], train_pred=t["train"], z_train=t["z_tr"])
    for i, p in enumerate(c.points):
        pool = np.concatenate([t["val"][i], t["train"][i]])
        zz = np.concatenate([t["z_val"], t["z_tr"]])
        assert p["label_free_di"] == pytest.approx(
            demographic_parity_ratio(np.ones_like(pool), pool, sensitive_features=zz)
        )


def test_same_seed_same_choice() -> None:
    rng = np.random.default_rng(7)
    n = 120
    z = rng.integers(0, 2, n)
    y = np.where(rng.random(n) < 0.5, 1, -1)
    preds = np.where(rng.random((8, n)) < rng.uniform(0.3, 0.7, (8, 1)), 1, -1)
    tr = np.where(rng.random((8, 2000)) < rng.uniform(0.3, 0.7, (8, 1)), 1, -1)
    zt = rng.integers(0, 2, 2000)
    runs = [sel.select(y, preds, z, train_pred=tr, z_train=zt, seed=11).to_dict()
            for _ in range(2)]  # fmt: skip
    assert runs[0] == runs[1]
    assert sel.select(y, preds, z, train_pred=tr, z_train=zt, seed=12).index == runs[0]["index"]


def test_bad_arguments_are_named() -> None:
    t = _lucky_table()
    with pytest.raises(ValueError, match="rule"):
        sel.select(t["y_val"], t["val"], t["z_val"], rule="smoothed")
    with pytest.raises(ValueError, match="together"):
        sel.select(t["y_val"], t["val"], t["z_val"], train_pred=t["train"])
    with pytest.raises(ValueError, match="n_train"):
        sel.select(t["y_val"], t["val"], t["z_val"], train_pred=t["train"], z_train=t["z_val"])


def test_a_job_never_lets_test_rows_into_the_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the test split with nonsense: the choice and every piece of selection
    evidence stay the same, and select() is never handed a test-sized array."""
    spec = {
        "data": {"builtin": "synthetic"},
        "method": "fr-train",
        "hyperparameters": {"epochs": 40, "pretrain_epochs": 10, "l1": [0.1, 0.4, 0.7], "l2": 0.2},
        "seeds": [0],
        "device": "cpu",
    }
    first = api.run_training(spec, threads=1)
    real_prepare = api.prepare_dataset
    seen: list[int] = []

    def scrambled(s: Any, seed: int) -> Any:
        from dataclasses import replace

        ds, facts = real_prepare(s, seed)
        te = ds.test
        bad = replace(te, X=np.zeros_like(te.X) + 7.0, y=-te.y)
        return replace(ds, test=bad), facts

    real_select = api.select

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.extend(np.shape(a)[-1] for a in (*args, kwargs.get("train_pred")) if a is not None)
        return real_select(*args, **kwargs)

    # where run_training looks them up (trainer/api/training.py, trainer/api/evaluation.py)
    monkeypatch.setattr(api.training, "prepare_dataset", scrambled)
    monkeypatch.setattr(api.evaluation, "select", spy)
    second = api.run_training(spec, threads=1)
    a, b = first["seeds"][0], second["seeds"][0]
    assert a["selected"] == b["selected"] and a["selection_reason"] == b["selection_reason"]
    assert [p["selection"] for p in a["grid"]] == [p["selection"] for p in b["grid"]]
    assert a["test"] != b["test"]  # the test split did change
    assert seen and a["n_test"] not in seen


def test_auto_frtrain_candidate_selects_by_the_interval_rule() -> None:
    from trainer.data import load_synthetic
    from trainer.models.auto import FRTrainSelected

    ds = load_synthetic()
    tr, va = ds.train, ds.val
    est = FRTrainSelected(l1=[0.1, 0.5], l2=0.3, seed=0,
                          params={"epochs": 40, "pretrain_epochs": 10})  # fmt: skip
    est.fit(tr.X, tr.y, tr.z, X_val=va.X, y_val=va.y, z_val=va.z)
    s = est.selection_
    assert s["rule"] == "interval" and est.chosen_["lambda_f"] == [0.1, 0.5][s["index"]]
    assert all(p["n_label_free"] == len(va) + len(tr) for p in s["points"])
    chosen = s["points"][s["index"]]
    pool = np.concatenate([est.predict(va.X, va.z), est.predict(tr.X, tr.z)])
    zz = np.concatenate([va.z, tr.z])
    assert chosen["label_free_di"] == pytest.approx(
        demographic_parity_ratio(np.ones_like(pool), pool, sensitive_features=zz)
    )
    old = FRTrainSelected(l1=[0.1, 0.5], l2=0.3, seed=0, rule="point",
                          params={"epochs": 40, "pretrain_epochs": 10})  # fmt: skip
    assert (
        old.fit(tr.X, tr.y, tr.z, X_val=va.X, y_val=va.y, z_val=va.z).selection_["rule"] == "point"
    )
