"""Label-flipping attacks on the training split (docs/ALGORITHMS.md §3)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from trainer.data import Dataset, Split, load_compas, load_synthetic, load_synthetic_arrays, poison
from trainer.data.poison import (
    _logloss,
    design_matrix,
    fit_logistic,
    flip_influence,
    n_flips_for,
    paudice_greedy_flips,
    top_margin_flips,
)


def authors_pool() -> Dataset:
    """D_tr = rows [0, 2000) with clean labels, as the authors poisoned it."""
    X, y, z, _ = load_synthetic_arrays()
    syn = load_synthetic()
    train = Split(X[:2000], y[:2000].astype(np.int8), z[:2000].astype(np.int64), np.arange(2000))
    return Dataset("pool", train, syn.val, syn.test, ["x1", "x2"], "z", {0: "0", 1: "1"})


def test_top_margin_reproduces_y_poi_exactly() -> None:
    _, _, _, y_poi = load_synthetic_arrays()
    res = poison(authors_pool(), attack="top_margin", budget=200, target_group=1)
    np.testing.assert_array_equal(res.dataset.train.y, y_poi.astype(np.int8))
    assert len(res.flipped) == 200
    # the fractional budget of the same pool gives the same flips
    same = poison(authors_pool(), budget=0.1, target_group=1)
    np.testing.assert_array_equal(same.flipped, res.flipped)


def test_numpy_lr_matches_sklearn() -> None:
    X, y, z, _ = load_synthetic_arrays()
    A = design_matrix(X[:2000], z[:2000])
    w = fit_logistic(A, y[:2000], l2=1.0)
    # sklearn: 0.5‖w‖² + C Σ loss with an unpenalised intercept == ours with l2 = 1 / C
    sk = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(A[:, :-1], y[:2000])
    np.testing.assert_allclose(w[:-1], sk.coef_[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w[-1], sk.intercept_[0], rtol=1e-4, atol=1e-5)


def test_poisoning_touches_only_the_training_labels_of_the_target_group() -> None:
    ds = load_compas(seed=0)
    for attack in ("top_margin", "paudice_greedy"):
        res = poison(ds, attack=attack, budget=0.1, target_group=1)  # type: ignore[arg-type]
        p = res.dataset
        assert len(res.flipped) == round(0.1 * len(ds.train))
        assert np.all(ds.train.z[res.flipped] == 1)  # female for COMPAS
        changed = np.flatnonzero(p.train.y != ds.train.y)
        np.testing.assert_array_equal(changed, res.flipped)
        assert p.val is ds.val and p.test is ds.test
        np.testing.assert_array_equal(p.train.X, ds.train.X)
        np.testing.assert_array_equal(p.train.z, ds.train.z)
        assert p.info["poisoning"]["target_group_name"] == "Female"
        assert res.flipped_ids is not None and len(res.flipped_ids) == len(res.flipped)
    # the original data set is not modified
    assert "poisoning" not in ds.info


def test_budget_is_capped_by_the_target_group() -> None:
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.array([1, -1] * 5)
    z = np.array([1, 1, 1] + [0] * 7)
    assert len(top_margin_flips(X, y, z, n_flips=5, target_group=1)) == 3
    assert len(top_margin_flips(X, y, z, n_flips=5, target_group=None)) == 5
    assert n_flips_for(0.1, 1800) == 180 and n_flips_for(7, 1800) == 7
    with pytest.raises(ValueError, match="budget"):
        n_flips_for(1.5, 100)


def test_influence_predicts_the_retrained_loss_change() -> None:
    X, y, z, _ = load_synthetic_arrays()
    A, yy = design_matrix(X[:500], z[:500]), y[:500].astype(float)
    Ao, yo = design_matrix(X[2000:2200], z[2000:2200]), y[2000:2200].astype(float)
    w = fit_logistic(A, yy)
    base = _logloss(Ao @ w, yo).mean()
    pred = flip_influence(A, yy, w, Ao, yo)
    rng = np.random.default_rng(0)
    rows = rng.choice(500, 30, replace=False)
    actual = []
    for i in rows:
        y2 = yy.copy()
        y2[i] = -y2[i]
        actual.append(_logloss(Ao @ fit_logistic(A, y2, w0=w), yo).mean() - base)
    assert np.corrcoef(pred[rows], actual)[0, 1] > 0.95


def test_paudice_greedy_raises_the_objective_loss_more_than_random_or_top_margin() -> None:
    ds = load_synthetic()
    tr, va = ds.train, ds.val
    A, Ao = design_matrix(tr.X, tr.z), design_matrix(va.X, va.z)
    yv = va.y.astype(float)

    def val_loss(flips: np.ndarray) -> float:
        y = tr.y.astype(float)
        y[flips] *= -1
        return float(_logloss(Ao @ fit_logistic(A, y), yv).mean())

    greedy = poison(ds, attack="paudice_greedy", budget=0.1, target_group=1).flipped
    assert len(greedy) == 180 and np.all(tr.z[greedy] == 1)
    top = top_margin_flips(tr.X, tr.y, tr.z, n_flips=180)
    rng = np.random.default_rng(0)
    rand = rng.choice(np.flatnonzero(tr.z == 1), 180, replace=False)
    assert val_loss(greedy) > val_loss(top) > val_loss(rand) > val_loss(np.array([], int))
    exact = paudice_greedy_flips(
        tr.X, tr.y, tr.z, n_flips=30, X_obj=va.X, y_obj=va.y, z_obj=va.z, batch=1
    )
    assert len(set(exact.tolist())) == 30
