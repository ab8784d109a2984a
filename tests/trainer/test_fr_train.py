"""FRTrain / FRTrainGrid: batched = separate, fidelity to the authors' notebooks, fairness
measures, persistence and input validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.data.synthetic import load_synthetic
from trainer.metrics import accuracy, disparate_impact, evaluate
from trainer.models.base import Estimator
from trainer.models.fr_train import (
    ERR_NO_VAL,
    NOTEBOOK_LAMBDA_F,
    FRTrain,
    FRTrainGrid,
    notebook_params,
)

#: The authors' printed results (test acc, DI), FRTrain_{poisoned,clean}.ipynb, seed 1.
AUTHORS = {
    "poisoned": [(.842, .657), (.835, .704), (.833, .722), (.827, .745), (.824, .760),
                 (.821, .764), (.821, .770), (.810, .786), (.814, .827)],
    "clean": [(.867, .492), (.866, .528), (.857, .554), (.858, .608), (.847, .663),
              (.837, .711), (.820, .766), (.807, .818)],
}  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fit(grid_or_model, ds):
    tr, va = ds.train, ds.val
    return grid_or_model.fit(tr.X, tr.y, tr.z, X_val=va.X, y_val=va.y, z_val=va.z)


def _scores(preds, ds) -> list[tuple[float, float]]:
    return [(accuracy(ds.test.y, p), disparate_impact(p, ds.test.z)) for p in preds]


SHORT = dict(epochs=300, pretrain_epochs=100, refresh_every=50, k=3, lr_g=5e-3, lr_f=1e-2,
             lr_r=1e-3, c_pre=1.0, device="cpu")  # fmt: skip


def test_frtrain_has_the_shared_estimator_shape() -> None:
    assert isinstance(FRTrain(), Estimator)
    m = FRTrain(lambda_f=0.2, reweight="off")
    assert m.get_params()["lambda_f"] == 0.2 and m.get_params()["reweight"] == "off"


def test_batched_grid_equals_separate_runs() -> None:
    ds = load_synthetic(poisoned=True)
    lams = [0.1, 0.3, 0.5]
    grid = _fit(FRTrainGrid(lambda_f=lams, lambda_r=[0.4], seeds=[1, 2], **SHORT), ds)
    assert [(g["seed"], g["lambda_f"]) for g in grid.grid_] == [
        (s, x) for s in (1, 2) for x in lams
    ]
    batched = grid.decision_functions(ds.test.X, ds.test.z)
    for i, point in enumerate(grid.grid_):
        single = _fit(
            FRTrain(**SHORT, lambda_f=point["lambda_f"], lambda_r=point["lambda_r"],
                    random_state=point["seed"]), ds)  # fmt: skip
        np.testing.assert_allclose(
            single.decision_function(ds.test.X, ds.test.z), batched[i], rtol=1e-4, atol=1e-4
        )
        assert (
            single.predict(ds.test.X, ds.test.z) == grid.models_[i].predict(ds.test.X, ds.test.z)
        ).mean() > 0.998


def _notebook_sweep(setting: str, index: list[int]) -> list[tuple[float, float]]:
    ds = load_synthetic(poisoned=setting == "poisoned")
    params = notebook_params(setting)
    seed = params.pop("random_state")
    lams = [NOTEBOOK_LAMBDA_F[setting][i] for i in index]
    grid = _fit(FRTrainGrid(lambda_f=lams, seeds=[seed], device="cpu", **params), ds)
    return _scores(grid.predictions(ds.test.X, ds.test.z), ds)


def test_notebook_mode_reproduces_two_clean_points() -> None:
    """A cheap fidelity check: both ends of the clean sweep (the full check is slow)."""
    index = [0, 7]
    for (acc, di), (pa, pd) in zip(
        _notebook_sweep("clean", index), [AUTHORS["clean"][i] for i in index], strict=True
    ):
        assert abs(acc - pa) <= 0.01 and abs(di - pd) <= 0.01, (acc, di, pa, pd)


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["poisoned", "clean"])
def test_notebook_mode_reproduces_every_printed_point(setting: str) -> None:
    got = _notebook_sweep(setting, list(range(len(AUTHORS[setting]))))
    for (acc, di), (pa, pd) in zip(got, AUTHORS[setting], strict=True):
        assert abs(acc - pa) <= 0.01 and abs(di - pd) <= 0.01, (setting, acc, di, pa, pd)


EO_RUN = dict(epochs=2000, pretrain_epochs=200, k=3, lr_g=5e-3, lr_f=1e-2, lr_r=1e-3,
              c_pre=1.0, average_last=0.5, device="cpu")  # fmt: skip


@pytest.mark.parametrize("fairness", ["eo", "eop"])
def test_equalized_odds_training_moves_the_conditional_metric(fairness: str) -> None:
    """Appendix A.2: a D_F per label value raises the per-label TPR/FPR ratios vs l1 = 0."""
    ds = load_synthetic()
    grid = _fit(FRTrainGrid(lambda_f=[0.0, 0.7], lambda_r=[0.1], fairness=fairness, **EO_RUN), ds)
    m0, m1 = (evaluate(ds.test.y, p, ds.test.z) for p in grid.predictions(ds.test.X, ds.test.z))
    # equal opportunity targets Y = 1 (TPR ratio); equalized odds both labels
    assert m1["equalized_odds_y1"] > m0["equalized_odds_y1"] + 0.05
    if fairness == "eo":
        assert (
            min(m1["equalized_odds_y0"], m1["equalized_odds_y1"])
            > min(m0["equalized_odds_y0"], m0["equalized_odds_y1"]) + 0.2
        )
    assert m1["accuracy"] > 0.8


def test_three_groups_use_a_softmax_discriminator_and_raise_di() -> None:
    ds = load_synthetic()
    tr, va, te = ds.train, ds.val, ds.test

    def three(split):  # split group 0 by the sign of x1
        z = split.z.copy()
        z[(z == 0) & (split.X[:, 0] > 0)] = 2
        return z

    grid = FRTrainGrid(lambda_f=[0.0, 0.7], lambda_r=[0.1], **EO_RUN)
    grid.fit(tr.X, tr.y, three(tr), X_val=va.X, y_val=va.y, z_val=three(va))
    assert grid.models_[0].f_params_[0].shape == (1, 3)  # one Linear(1 -> 3) + softmax
    assert grid.models_[0].n_features_in_ == 2 + 3  # x plus one-hot z
    d0, d1 = (disparate_impact(p, three(te)) for p in grid.predictions(te.X, three(te)))
    assert d1 > d0 + 0.1


def test_minibatch_training_learns() -> None:
    ds = load_synthetic()
    m = _fit(
        FRTrain(
            lambda_f=0.1,
            lambda_r=0.1,
            batch_size=256,
            **{**SHORT, "epochs": 60, "pretrain_epochs": 20},
        ),
        ds,
    )
    assert m.step_ == 60 * 8
    assert accuracy(ds.test.y, m.predict(ds.test.X, ds.test.z)) > 0.8


def test_save_load_round_trip(tmp_path) -> None:
    ds = load_synthetic()
    m = _fit(FRTrain(lambda_f=0.2, hidden=8, **{**SHORT, "epochs": 50, "pretrain_epochs": 20}), ds)
    m.save(tmp_path / "m.pt")
    ck = torch.load(tmp_path / "m.pt", weights_only=True)
    assert ck["step"] == 50 and ck["config"]["hidden"] == 8 and set(ck["weights"]) == {
        "generator", "fairness_discriminator", "robustness_discriminator"}  # fmt: skip
    m2 = FRTrain.load(tmp_path / "m.pt")
    np.testing.assert_array_equal(
        m2.decision_function(ds.test.X, ds.test.z), m.decision_function(ds.test.X, ds.test.z)
    )


def test_bad_inputs_get_clear_errors() -> None:
    ds = load_synthetic()
    tr = ds.train
    with pytest.raises(ValueError, match="clean validation set"):
        FRTrain().fit(tr.X, tr.y, tr.z)
    assert "validation" in ERR_NO_VAL
    with pytest.raises(ValueError, match="lambda_f \\+ lambda_r <= 1"):
        _fit(FRTrain(lambda_f=0.7, lambda_r=0.4), ds)
    with pytest.raises(ValueError, match="fairness must be one of"):
        _fit(FRTrain(fairness="dpp"), ds)
    with pytest.raises(ValueError, match="reweight must be one of"):
        _fit(FRTrain(reweight="sometimes"), ds)
    with pytest.raises(ValueError, match="binary labels"):
        FRTrain().fit(tr.X, tr.y * 3, tr.z, X_val=ds.val.X, y_val=ds.val.y, z_val=ds.val.z)
    with pytest.raises(RuntimeError, match="not fitted"):
        FRTrain().predict(tr.X, tr.z)
    with pytest.raises(TypeError, match="learning_rate"):
        FRTrainGrid(lambda_f=[0.1], learning_rate=3)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="sensitive_features"):
        FRTrain().fit(tr.X, tr.y, X_val=ds.val.X, y_val=ds.val.y, z_val=ds.val.z)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    ds = load_synthetic(poisoned=True)
    cpu = _fit(FRTrain(**{**SHORT, "device": "cpu"}), ds)
    gpu = _fit(FRTrain(**{**SHORT, "device": "cuda"}), ds)
    np.testing.assert_allclose(
        cpu.decision_function(ds.test.X, ds.test.z),
        gpu.decision_function(ds.test.X, ds.test.z),
        atol=1e-3,
    )
