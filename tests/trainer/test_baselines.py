"""The paper's baselines (docs/ALGORITHMS.md §4): FC, LBC, AD, RML, RML+X and the LR solver."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from trainer.data.base import Dataset
from trainer.data.synthetic import load_synthetic
from trainer.metrics import disparate_impact, equal_opportunity
from trainer.models._linear import WeightedLogisticRegression, check_labels
from trainer.models.ad import AdversarialDebiasing, _ad_gradients, _Rows, fit_many
from trainer.models.base import Estimator
from trainer.models.fc import FairnessConstraints, decision_covariance
from trainer.models.lbc import LabelBiasCorrection, lbc_weights
from trainer.models.rml import LearningToReweight, rml_step_weights
from trainer.models.rml_x import RMLReweighted, rml_ad, rml_fc, rml_lbc


@pytest.fixture(scope="module")
def clean() -> Dataset:
    return load_synthetic()


@pytest.fixture(scope="module")
def poisoned() -> Dataset:
    return load_synthetic(poisoned=True)


def fit(model: Estimator, data: Dataset, **kw: object) -> Estimator:
    tr, va = data.train, data.val
    return model.fit(tr.X, tr.y, tr.z, X_val=va.X, y_val=va.y, z_val=va.z, **kw)  # type: ignore[arg-type]


def test_di(model: Estimator, data: Dataset) -> float:
    return disparate_impact(model.predict(data.test.X, data.test.z), data.test.z)


test_di.__test__ = False  # type: ignore[attr-defined]


# --- weighted LR against sklearn --------------------------------------------------------


@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_weighted_lr_matches_sklearn(clean: Dataset, l2: float) -> None:
    sk = pytest.importorskip("sklearn.linear_model")
    tr = clean.train
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(tr.y))
    ours = WeightedLogisticRegression(l2=l2, standardize=False).fit(
        tr.X, tr.y, tr.z, sample_weight=w
    )
    Xz = np.column_stack([tr.X, tr.z]).astype(np.float64)
    kw = {"C": np.inf if l2 == 0 else 1.0 / (l2 * w.sum())}
    ref = sk.LogisticRegression(tol=1e-12, max_iter=10_000, **kw).fit(Xz, tr.y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, ref.coef_[0], atol=1e-4)
    assert ours.intercept_ == pytest.approx(ref.intercept_[0], abs=1e-4)
    np.testing.assert_allclose(
        ours.predict_proba(tr.X, tr.z), ref.predict_proba(Xz)[:, 1], atol=1e-5
    )


def test_standardised_unpenalised_lr_is_the_same_model(clean: Dataset) -> None:
    tr = clean.train
    a = WeightedLogisticRegression(standardize=True).fit(tr.X, tr.y, tr.z)
    b = WeightedLogisticRegression(standardize=False).fit(tr.X, tr.y, tr.z)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-4)
    assert set(np.unique(a.predict(tr.X, tr.z))) == {-1, 1}


def test_bad_input_is_rejected_clearly(clean: Dataset) -> None:
    tr = clean.train
    with pytest.raises(ValueError, match="labels in"):
        check_labels([0, 1, 2])
    with pytest.raises(ValueError, match="same number of rows"):
        WeightedLogisticRegression().fit(tr.X, tr.y[:-1], tr.z)
    with pytest.raises(ValueError, match="sample_weight"):
        WeightedLogisticRegression().fit(tr.X, tr.y, tr.z, sample_weight=-np.ones(len(tr.y)))
    with pytest.raises(RuntimeError, match="not fitted"):
        FairnessConstraints().predict(tr.X, tr.z)
    with pytest.raises(ValueError, match="needs a bound c"):
        FairnessConstraints(mode="constraint").fit(tr.X, tr.y, tr.z)
    with pytest.raises(ValueError, match="validation set"):
        LearningToReweight().fit(tr.X, tr.y, tr.z)


# --- FC ----------------------------------------------------------------------------------


def test_decision_covariance_by_hand() -> None:
    # Two rows per group; weights 1,1,2,0 -> z̄_w = 2/4; Cov = Σ w (z - z̄) d / Σ w.
    X = np.array([[1.0], [3.0], [2.0], [5.0]])
    z = np.array([0, 0, 1, 1])
    w = np.array([1.0, 1.0, 2.0, 0.0])
    theta = np.array([2.0, 0.5])  # d_i = 2 x_i + 0.5
    d = 2 * X[:, 0] + 0.5
    expected = np.sum(w * (z - 0.5) * d) / w.sum()
    assert decision_covariance(theta, X, z, w)[0] == pytest.approx(expected)


@pytest.mark.parametrize("name", ["clean", "poisoned"])
def test_fc_penalty_raises_di(name: str, request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(name)
    di0 = test_di(fit(FairnessConstraints(lam=0.0), data), data)
    di1 = test_di(fit(FairnessConstraints(lam=1.0), data), data)
    assert di0 < 0.5 < 0.8 < di1


def test_fc_constraint_bounds_covariance_and_raises_di(clean: Dataset) -> None:
    loose = fit(FairnessConstraints(mode="constraint", c=1.0, c_relative=True), clean)
    tight = fit(FairnessConstraints(mode="constraint", c=0.1, c_relative=True), clean)
    assert abs(tight.covariance_[0]) <= 0.1 * abs(loose.covariance_[0]) + 1e-6  # type: ignore[attr-defined]
    assert test_di(tight, clean) > test_di(loose, clean) + 0.2
    # The squared penalty is the other documented smooth form; it also moves DI up.
    sq = fit(FairnessConstraints(lam=10.0, penalty="squared"), clean)
    assert test_di(sq, clean) > test_di(loose, clean) + 0.2


# --- LBC ---------------------------------------------------------------------------------


def test_lbc_weights_formula_by_hand() -> None:
    y = np.array([1, -1, 1, -1])
    z = np.array([0, 0, 1, 1])
    w = lbc_weights(y, z, {0: 0.5, 1: -0.25})
    # w = σ(2s) for positives, σ(-2s) for negatives, s = λ_{z}.
    np.testing.assert_allclose(w, expit([1.0, -1.0, -0.5, 0.5]))
    np.testing.assert_allclose(lbc_weights(y, z, {0: 0.0, 1: 0.0}), 0.5)


def test_lbc_iterations_raise_di_and_path_matches_refit(clean: Dataset) -> None:
    full = fit(LabelBiasCorrection(n_iter=10), clean)
    one = full.at_iteration(1)  # type: ignore[attr-defined]
    assert test_di(full, clean) > test_di(one, clean) + 0.3
    refit = fit(LabelBiasCorrection(n_iter=4), clean)
    np.testing.assert_allclose(full.at_iteration(4).coef_, refit.coef_)  # type: ignore[attr-defined]
    # The group with the lower positive rate (z = 0 here) gets a positive multiplier.
    lam = full.multipliers_  # type: ignore[attr-defined]
    assert lam[0] > 0 > lam[1]


def test_lbc_first_iteration_is_weighted_lr(clean: Dataset) -> None:
    tr = clean.train
    w = np.random.default_rng(1).uniform(0.0, 2.0, len(tr.y))
    lbc = LabelBiasCorrection(n_iter=1).fit(tr.X, tr.y, tr.z, sample_weight=w)
    lr = WeightedLogisticRegression().fit(tr.X, tr.y, tr.z, sample_weight=w)
    np.testing.assert_allclose(lbc.coef_, lr.coef_, atol=1e-6)


def test_lbc_equal_opportunity_variant_moves_tpr_ratio(clean: Dataset) -> None:
    te = clean.test
    base = fit(LabelBiasCorrection(n_iter=1), clean)
    eo = fit(LabelBiasCorrection(n_iter=20, constraint="equal_opportunity"), clean)
    before = equal_opportunity(te.y, base.predict(te.X, te.z), te.z)
    after = equal_opportunity(te.y, eo.predict(te.X, te.z), te.z)
    assert after > before + 0.05


# --- AD ----------------------------------------------------------------------------------


def test_ad_alpha_raises_di(clean: Dataset) -> None:
    plain = fit(AdversarialDebiasing(alpha=0.0), clean)
    fair = fit(AdversarialDebiasing(alpha=10.0), clean)
    lr = fit(WeightedLogisticRegression(), clean)
    # alpha = 0 without projection is gradient-trained LR.
    assert (
        np.mean(plain.predict(clean.test.X, clean.test.z) == lr.predict(clean.test.X, clean.test.z))
        > 0.99
    )
    assert test_di(fair, clean) > test_di(plain, clean) + 0.3


def test_ad_projection_and_eo_variants_differ_and_are_deterministic(clean: Dataset) -> None:
    kw = {"alpha": 1.0, "n_steps": 300}
    a = fit(AdversarialDebiasing(projection=True, **kw), clean)  # type: ignore[arg-type]
    b = fit(AdversarialDebiasing(projection=False, **kw), clean)  # type: ignore[arg-type]
    c = fit(AdversarialDebiasing(projection=True, **kw), clean)  # type: ignore[arg-type]
    e = fit(AdversarialDebiasing(constraint="equalized_odds", **kw), clean)  # type: ignore[arg-type]
    assert not np.allclose(a.coef_, b.coef_)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(a.coef_, c.coef_)  # type: ignore[attr-defined]
    assert not np.allclose(e.coef_, b.coef_)  # type: ignore[attr-defined]


@pytest.mark.parametrize("constraint", ["demographic_parity", "equalized_odds"])
def test_ad_fit_many_equals_separate_fits(poisoned: Dataset, constraint: str) -> None:
    tr = poisoned.train
    w = np.random.default_rng(3).uniform(0.0, 2.0, len(tr.y))
    cols = [
        (
            AdversarialDebiasing(
                alpha=a, random_state=s, projection=p, n_steps=150, constraint=constraint
            ),
            ww,
        )
        for a in (0.0, 2.0)
        for s in (0, 1)
        for p in (False, True)
        for ww in (None, w)
    ]  # type: ignore[arg-type]
    fit_many(tr.X, tr.y, tr.z, cols)
    coefs = [m.coef_ for m, _ in cols]
    assert len({np.round(c, 3).tobytes() for c in coefs}) == len(cols)  # all columns differ
    for m, ww in cols:
        one = AdversarialDebiasing(
            alpha=m.alpha,
            random_state=m.random_state,
            projection=m.projection,
            n_steps=150,
            constraint=constraint,
        ).fit(tr.X, tr.y, tr.z, sample_weight=ww)  # type: ignore[arg-type]
        np.testing.assert_allclose(one.coef_, m.coef_, rtol=1e-4, atol=1e-4)
        assert one.adversary_["c"] == pytest.approx(m.adversary_["c"], abs=1e-4)


def test_ad_fit_many_rejects_mixed_schedules(clean: Dataset) -> None:
    tr = clean.train
    cols = [(AdversarialDebiasing(n_steps=10), None), (AdversarialDebiasing(n_steps=20), None)]
    with pytest.raises(ValueError, match="share n_steps"):
        fit_many(tr.X, tr.y, tr.z, cols)


@pytest.mark.parametrize("eo", [False, True])
def test_ad_closed_form_gradients_match_autograd(eo: bool) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    n, d, K = 50, 4, 3
    k = 3 if eo else 1
    X = rng.normal(size=(n, d))
    t = (rng.random(n) < 0.5).astype(np.float64)
    zt = (rng.random(n) < 0.4).astype(np.float64)
    W = rng.uniform(0.1, 1.0, (n, K))
    W /= W.sum(0)
    theta, adv = rng.normal(size=(d + 1, K)), rng.normal(size=(k + 2, K))
    f = torch.float32
    tt = torch.tensor(t, dtype=f)[:, None]
    rows = _Rows(X=torch.tensor(X, dtype=f), t=tt, zt=torch.tensor(zt, dtype=f)[:, None],
                 W=torch.tensor(W, dtype=f))  # fmt: skip
    if eo:
        rows.dfeat = torch.cat([torch.ones_like(tt), tt, 1 - tt], 1)
    dm_p, dm_a, g_adv = _ad_gradients(theta, adv, rows)
    # Autograd oracle in float64 on the written-out losses.
    th = torch.tensor(theta, requires_grad=True)
    av = torch.tensor(adv, requires_grad=True)
    Xt = torch.tensor(X)
    feats = torch.tensor(np.stack([np.ones(n), t, 1 - t], 1) if eo else np.ones((n, 1)))
    m = Xt @ th[:-1] + th[-1]
    s = torch.sigmoid((1 + av[0].abs()) * m)
    a = s * (feats @ av[1:-1]) + av[-1]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    Wt = torch.tensor(W)
    L_p = (Wt * bce(m, torch.tensor(t)[:, None].expand(n, K), reduction="none")).sum()
    L_a = (Wt * bce(a, torch.tensor(zt)[:, None].expand(n, K), reduction="none")).sum()
    (gp_theta,) = torch.autograd.grad(L_p, th, retain_graph=True)
    ga_theta, ga_adv = torch.autograd.grad(L_a, [th, av])
    np.testing.assert_allclose(rows.to_theta(dm_p), gp_theta.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(rows.to_theta(dm_a), ga_theta.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g_adv, ga_adv.numpy(), rtol=1e-4, atol=1e-6)


# --- RML ---------------------------------------------------------------------------------


def test_rml_downweights_flipped_labels(clean: Dataset, poisoned: Dataset) -> None:
    flipped = poisoned.train.y != clean.train.y
    assert flipped.sum() == 179  # docs/ALGORITHMS.md §6: 179 of the 200 flips fall in D_tr
    rml = fit(LearningToReweight(), poisoned)
    w = rml.weights_  # type: ignore[attr-defined]
    assert w.mean() == pytest.approx(1.0)
    assert w[flipped].mean() < 0.5 * w[~flipped].mean()


def test_rml_step_weights_closed_form_against_autograd() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X, Xv = rng.normal(size=(20, 3)), rng.normal(size=(8, 3))
    t, tv = (rng.random(20) > 0.5) * 1.0, (rng.random(8) > 0.5) * 1.0
    theta = rng.normal(size=4)
    # Ren et al.: u_i = -d/dε_i L_V(θ - Σ ε_j ∇ℓ_j) at ε = 0, then clip and normalise.
    eps = torch.zeros(20, dtype=torch.float64, requires_grad=True)
    th = torch.tensor(theta, requires_grad=True)
    Xt = torch.tensor(X)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    loss = (eps * bce(Xt @ th[:-1] + th[-1], torch.tensor(t), reduction="none")).sum()
    (g,) = torch.autograd.grad(loss, th, create_graph=True)
    th2 = th - g
    lv = bce(torch.tensor(Xv) @ th2[:-1] + th2[-1], torch.tensor(tv))
    (u,) = torch.autograd.grad(lv, eps)
    expected = np.maximum(-u.numpy(), 0)
    expected /= expected.sum()
    np.testing.assert_allclose(rml_step_weights(theta, X, t, Xv, tv), expected, atol=1e-12)


# --- RML+X -------------------------------------------------------------------------------


def test_rml_x_uses_the_weights(poisoned: Dataset) -> None:
    tr = poisoned.train
    w = np.random.default_rng(2).uniform(0.0, 2.0, len(tr.y))
    ones = RMLReweighted(estimator=FairnessConstraints(lam=0.3), rml_weights=np.ones(len(tr.y)))
    other = RMLReweighted(estimator=FairnessConstraints(lam=0.3), rml_weights=w)
    plain = FairnessConstraints(lam=0.3).fit(tr.X, tr.y, tr.z)
    np.testing.assert_allclose(ones.fit(tr.X, tr.y, tr.z).estimator_.coef_, plain.coef_)  # type: ignore[attr-defined]
    assert not np.allclose(other.fit(tr.X, tr.y, tr.z).estimator_.coef_, plain.coef_)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("make", "base"),
    [
        (lambda rml: rml_fc(rml=rml, lam=0.3), FairnessConstraints(lam=0.3)),
        (lambda rml: rml_lbc(rml=rml, n_iter=3), LabelBiasCorrection(n_iter=3)),
        (
            lambda rml: rml_ad(rml=rml, alpha=1.0, n_steps=200),
            AdversarialDebiasing(alpha=1.0, n_steps=200),
        ),
    ],
)
def test_rml_x_equals_base_fitted_on_rml_weights(
    poisoned: Dataset, make: object, base: Estimator
) -> None:
    rml = LearningToReweight(n_steps=300, last_k=50)
    combo = fit(make(rml), poisoned)  # type: ignore[operator]
    w = fit(LearningToReweight(n_steps=300, last_k=50), poisoned).weights_  # type: ignore[attr-defined]
    np.testing.assert_allclose(combo.weights_, w)  # type: ignore[attr-defined]
    ref = fit(base, poisoned, sample_weight=w)
    te = poisoned.test
    np.testing.assert_allclose(
        combo.decision_function(te.X, te.z), ref.decision_function(te.X, te.z)
    )
