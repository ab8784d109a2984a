"""The scikit-learn estimator shape: BaseEstimator params, clone, random_state, keyword
sensitive_features, fitted state ending in ``_``, resumable checkpoints, estimator checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, clone

from trainer.data.synthetic import load_synthetic
from trainer.models.fr_train import FRTrain, FRTrainGrid
from trainer.models.lr import LogisticRegression

TINY = dict(epochs=60, pretrain_epochs=20, refresh_every=10, k=3, lr_g=5e-3, lr_f=1e-2,
            lr_r=1e-3, c_pre=1.0, device="cpu")  # fmt: skip


@pytest.fixture(scope="module")
def ds():
    return load_synthetic(poisoned=True)


def _val(ds):
    return dict(X_val=ds.val.X, y_val=ds.val.y, z_val=ds.val.z)


@pytest.mark.parametrize("cls", [FRTrain, FRTrainGrid, LogisticRegression])
def test_base_estimator_params_and_clone(cls) -> None:
    est = cls()
    assert isinstance(est, BaseEstimator)
    params = est.get_params()
    est.set_params(**params)
    twin = clone(est)
    assert twin is not est and twin.get_params() == params
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(no_such_knob=1)


def test_random_state_and_keyword_sensitive_features(ds) -> None:
    a = FRTrain(**TINY, random_state=3).fit(ds.train.X, ds.train.y,
                                            sensitive_features=ds.train.z, **_val(ds))  # fmt: skip
    b = clone(a).fit(ds.train.X, ds.train.y, ds.train.z, **_val(ds))
    c = FRTrain(**TINY, random_state=4).fit(ds.train.X, ds.train.y, ds.train.z, **_val(ds))
    sa = a.decision_function(ds.test.X, sensitive_features=ds.test.z)
    np.testing.assert_array_equal(sa, b.decision_function(ds.test.X, ds.test.z))
    assert not np.allclose(sa, c.decision_function(ds.test.X, ds.test.z))
    # clone drops the fitted state, which all ends in "_"
    assert not hasattr(clone(a), "g_params_")
    fitted = {k for k in vars(a) if k not in a.get_params()}
    assert fitted and all(k.endswith("_") for k in fitted)
    assert isinstance(a.g_loss_, float) and a.g_loss_history_


# (average_last is left out: its window is a fraction of the epochs target, which resuming
# to a new target moves)
@pytest.mark.parametrize("extra", [{}, {"hidden": 8}, {"fairness": "eo"}, {"batch_size": 500}])
def test_checkpoint_resume_equals_one_run(ds, tmp_path, extra) -> None:
    """Stop at 40 epochs, save, load, resume to 60: the same model as 60 in one go."""
    full = FRTrain(**{**TINY, **extra}).fit(ds.train.X, ds.train.y, ds.train.z, **_val(ds))
    part = FRTrain(**{**TINY, **extra, "epochs": 40})
    part.fit(ds.train.X, ds.train.y, ds.train.z, **_val(ds))
    part.save(tmp_path / "ck.pt")
    ck = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert ck["train_state"]["adam_t"] > 0  # the optimiser state is in the checkpoint
    resumed = FRTrain.load(tmp_path / "ck.pt").set_params(epochs=60, warm_start=True)
    resumed.fit(ds.train.X, ds.train.y, ds.train.z, **_val(ds))
    assert resumed.step_ == full.step_
    np.testing.assert_allclose(
        resumed.decision_function(ds.test.X, ds.test.z),
        full.decision_function(ds.test.X, ds.test.z), rtol=1e-5, atol=1e-5,
    )  # fmt: skip


def test_grid_has_the_same_shape(ds) -> None:
    g = FRTrainGrid(lambda_f=[0.1, 0.3], seeds=[0], **TINY)
    g.fit(ds.train.X, ds.train.y, sensitive_features=ds.train.z, **_val(ds))
    assert g.n_features_in_ == 3 and len(g.models_) == 2
    np.testing.assert_array_equal(
        g.predict(ds.test.X, ds.test.z), g.models_[0].predict(ds.test.X, ds.test.z)
    )
    assert 0.0 <= g.score(ds.test.X, ds.test.y, sensitive_features=ds.test.z) <= 1.0
