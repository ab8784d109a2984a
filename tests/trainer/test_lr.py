"""LogisticRegression baseline: against scikit-learn, weights, and the paper's Table 1 LR row."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLR

from trainer.data.synthetic import load_synthetic
from trainer.metrics import accuracy, disparate_impact
from trainer.models.base import Estimator
from trainer.models.lr import LogisticRegression


def _xz(split):
    return np.c_[split.X, split.z].astype(np.float64)


@pytest.mark.parametrize("l2", [0.0, 5.0])
def test_matches_scikit_learn(l2: float) -> None:
    tr = load_synthetic(poisoned=True).train
    ours = LogisticRegression(l2=l2).fit(tr.X, tr.y, tr.z)
    # sklearn >= 1.8 spells "no penalty" as C = inf; its objective is |w|^2 / 2 + C sum loss
    sk = SkLR(C=np.inf if l2 == 0 else 1.0 / l2, tol=1e-12, max_iter=10_000)
    sk.fit(_xz(tr), tr.y)
    np.testing.assert_allclose(ours.coef_, sk.coef_[0], rtol=1e-4, atol=1e-5)
    assert ours.intercept_ == pytest.approx(sk.intercept_[0], abs=1e-5)
    assert isinstance(ours, Estimator)


def test_integer_sample_weights_equal_duplicated_rows() -> None:
    tr = load_synthetic().train
    rng = np.random.default_rng(0)
    w = rng.integers(0, 4, len(tr.y))
    weighted = LogisticRegression().fit(tr.X, tr.y, tr.z, sample_weight=w)
    rep = np.repeat(np.arange(len(w)), w)
    dup = LogisticRegression().fit(tr.X[rep], tr.y[rep], tr.z[rep])
    np.testing.assert_allclose(weighted.coef_, dup.coef_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("poisoned", "paper"), [(False, (0.885, 0.409)), (True, (0.819, 0.446))])
def test_table1_lr_row(poisoned: bool, paper: tuple[float, float]) -> None:
    """Paper Table 1: LR acc within 0.015, DI within 0.04."""
    ds = load_synthetic(poisoned=poisoned)
    m = LogisticRegression().fit(ds.train.X, ds.train.y, ds.train.z)
    p = m.predict(ds.test.X, ds.test.z)
    assert set(np.unique(p)) <= {-1, 1}
    assert abs(accuracy(ds.test.y, p) - paper[0]) <= 0.015
    assert abs(disparate_impact(p, ds.test.z) - paper[1]) <= 0.04
    np.testing.assert_allclose(
        m.predict_proba(ds.test.X, ds.test.z),
        1 / (1 + np.exp(-m.decision_function(ds.test.X, ds.test.z))),
    )


def test_bad_input() -> None:
    tr = load_synthetic().train
    with pytest.raises(ValueError, match="binary labels"):
        LogisticRegression().fit(tr.X, tr.y * 2, tr.z)
    with pytest.raises(ValueError, match="sample_weight"):
        LogisticRegression().fit(tr.X, tr.y, tr.z, sample_weight=-np.ones(len(tr.y)))
    with pytest.raises(RuntimeError, match="not fitted"):
        LogisticRegression().predict(tr.X, tr.z)
    m = LogisticRegression().fit(tr.X, tr.y, tr.z)
    with pytest.raises(ValueError, match="columns"):
        m.predict(np.c_[tr.X, tr.X], tr.z)
