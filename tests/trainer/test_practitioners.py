"""Practitioner baselines against fairlearn called directly, and `auto`'s honesty."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.preprocessing import CorrelationRemover
from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from trainer.data.base import Dataset, Split
from trainer.experiments import practitioners as EP
from trainer.experiments.select_defaults import TestSplitAccessError, seal
from trainer.models import practitioners as PR
from trainer.models.auto import AutoMethod, corrected_interval, stratified_folds


def _toy(n: int, seed: int, flip: float = 0.0) -> Split:
    """Two features, a binary group that shifts both the features and the label rate."""
    rng = np.random.default_rng(seed)
    z = (rng.random(n) < 0.5).astype(np.int64)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    X[:, 0] += 0.8 * z
    logit = 1.5 * X[:, 0] - X[:, 1] + 0.5 * z
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), 1, -1)
    if flip:
        bad = (rng.random(n) < flip) & (z == 1)
        y = np.where(bad, -y, y)
    return Split(X=X, y=y.astype(np.int8), z=z)


TRAIN, CLEAN, TEST = _toy(400, 0, flip=0.2), _toy(120, 1), _toy(300, 2)


def _xz(s: Split) -> np.ndarray:
    return np.c_[s.X, s.z].astype(np.float64)


def _y01(s: Split) -> np.ndarray:
    return (s.y > 0).astype(np.int64)


def _lr() -> LogisticRegression:
    return LogisticRegression(C=1.0, max_iter=1000, solver="newton-cholesky")


def _ours(name: str) -> PR._Practitioner:
    seeded = {} if name in ("lr-clean", "cr-lr") else {"random_state": 7}
    est = PR.make_practitioner(name, **seeded)
    return est.fit(TRAIN.X, TRAIN.y, TRAIN.z, X_val=CLEAN.X, y_val=CLEAN.y, z_val=CLEAN.z)


def _to01(pred: np.ndarray) -> np.ndarray:
    return (np.asarray(pred) > 0).astype(np.int64)


@pytest.mark.parametrize(
    ("name", "constraint", "on"),
    [("eg-dp-clean", DemographicParity, CLEAN), ("eg-eo-clean", EqualizedOdds, CLEAN),
     ("eg-dp-train", DemographicParity, TRAIN), ("eg-eo-train", EqualizedOdds, TRAIN)],
)  # fmt: skip
def test_exponentiated_gradient_matches_fairlearn(name: str, constraint: type, on: Split) -> None:
    ours = _ours(name)
    ref = ExponentiatedGradient(_lr(), constraint(), eps=0.01, max_iter=50)
    ref.fit(_xz(on), _y01(on), sensitive_features=on.z)
    want = ref.predict(_xz(TEST), random_state=7)
    np.testing.assert_array_equal(_to01(ours.predict(TEST.X, TEST.z)), want)
    np.testing.assert_allclose(
        ours.predict_proba(TEST.X, TEST.z), ref._pmf_predict(_xz(TEST))[:, 1]
    )


@pytest.mark.parametrize(
    ("name", "constraint", "on"),
    [("to-dp-clean", "demographic_parity", CLEAN), ("to-eo-clean", "equalized_odds", CLEAN),
     ("to-dp-train", "demographic_parity", TRAIN), ("to-eo-train", "equalized_odds", TRAIN)],
)  # fmt: skip
def test_threshold_optimizer_matches_fairlearn(name: str, constraint: str, on: Split) -> None:
    ours = _ours(name)
    ref = ThresholdOptimizer(estimator=_lr(), constraints=constraint, objective="accuracy_score",
                             predict_method="predict_proba")  # fmt: skip
    ref.fit(_xz(on), _y01(on), sensitive_features=on.z)
    want = ref.predict(_xz(TEST), sensitive_features=TEST.z, random_state=7)
    np.testing.assert_array_equal(_to01(ours.predict(TEST.X, TEST.z)), want)


@pytest.mark.parametrize(("name", "constraint"), [("to-dp-post", "demographic_parity"),
                                                  ("to-eo-post", "equalized_odds")])  # fmt: skip
def test_post_processing_matches_fairlearn(name: str, constraint: str) -> None:
    ours = _ours(name)
    lr = _lr().fit(_xz(TRAIN), _y01(TRAIN))
    ref = ThresholdOptimizer(estimator=lr, constraints=constraint, objective="accuracy_score",
                             prefit=True, predict_method="predict_proba")  # fmt: skip
    ref.fit(_xz(CLEAN), _y01(CLEAN), sensitive_features=CLEAN.z)
    want = ref.predict(_xz(TEST), sensitive_features=TEST.z, random_state=7)
    np.testing.assert_array_equal(_to01(ours.predict(TEST.X, TEST.z)), want)


def test_correlation_remover_lr_matches_fairlearn() -> None:
    ours = _ours("cr-lr")
    cr = CorrelationRemover(sensitive_feature_ids=[3], alpha=1.0).fit(_xz(TRAIN))
    lr = _lr().fit(cr.transform(_xz(TRAIN)), _y01(TRAIN))
    want = lr.predict(cr.transform(_xz(TEST)))
    np.testing.assert_array_equal(_to01(ours.predict(TEST.X, TEST.z)), want)
    np.testing.assert_allclose(
        ours.predict_proba(TEST.X, TEST.z), lr.predict_proba(cr.transform(_xz(TEST)))[:, 1]
    )


def test_clean_set_lr_matches_sklearn_and_ignores_the_training_rows() -> None:
    ours = _ours("lr-clean")
    want = _lr().fit(_xz(CLEAN), _y01(CLEAN)).predict(_xz(TEST))
    np.testing.assert_array_equal(_to01(ours.predict(TEST.X, TEST.z)), want)
    other = PR.make_practitioner("lr-clean").fit(
        TEST.X, TEST.y, TEST.z, X_val=CLEAN.X, y_val=CLEAN.y, z_val=CLEAN.z
    )
    np.testing.assert_array_equal(other.predict(TEST.X, TEST.z), ours.predict(TEST.X, TEST.z))


def test_relabel_eg_matches_the_recipe_done_by_hand() -> None:
    ours = _ours("relabel-eg")
    judge = _lr().fit(_xz(CLEAN), _y01(CLEAN))
    p1 = judge.predict_proba(_xz(TRAIN))[:, 1]
    y = _y01(TRAIN)
    flip = np.where(y == 1, 1 - p1, p1) >= 0.9
    assert flip.any(), "the toy table should have confidently contradicted rows"
    np.testing.assert_array_equal(ours.relabelled_, np.flatnonzero(flip))
    ref = ExponentiatedGradient(_lr(), DemographicParity(), eps=0.01, max_iter=50)
    ref.fit(np.r_[_xz(TRAIN), _xz(CLEAN)], np.r_[np.where(flip, 1 - y, y), _y01(CLEAN)],
            sensitive_features=np.r_[TRAIN.z, CLEAN.z])  # fmt: skip
    want = ref.predict(_xz(TEST), random_state=7)
    np.testing.assert_array_equal(_to01(ours.predict(TEST.X, TEST.z)), want)


@pytest.mark.parametrize("name", sorted(PR.PRACTITIONERS))
def test_shared_shape(name: str) -> None:
    est = _ours(name)
    score = est.decision_function(TEST.X, TEST.z)
    pred = est.predict(TEST.X, TEST.z)
    assert set(np.unique(pred)) <= {-1, 1}
    np.testing.assert_array_equal(np.where(score > 0, 1, -1), pred)
    proba = est.predict_proba(TEST.X, TEST.z)
    assert proba.shape == (len(TEST),) and ((proba >= 0) & (proba <= 1)).all()
    cls = PR.estimator_class(name)
    import inspect

    params = inspect.signature(cls.__init__).parameters
    assert "fit_on" not in params and "constraint" not in params
    fresh = clone(cls())
    assert fresh.get_params() == cls().get_params()
    with pytest.raises(RuntimeError, match="not fitted"):
        cls().predict(TEST.X, TEST.z)


def test_clean_methods_need_the_clean_set() -> None:
    with pytest.raises(ValueError, match="clean set"):
        PR.make_practitioner("eg-dp-clean").fit(TRAIN.X, TRAIN.y, TRAIN.z)
    with pytest.raises(ValueError, match="fit_on"):
        PR.ExponentiatedGradientLR(fit_on="post")


def test_training_jobs_offer_every_baseline_and_auto_is_the_default_for_files() -> None:
    from trainer.api import available_methods, validate_spec

    methods = available_methods()
    assert set(PR.PRACTITIONERS) | {"auto"} <= set(methods)
    spec = validate_spec({"data": {"builtin": "compas"}, "method": "to-dp-post",
                          "hyperparameters": {"C": [0.1, 1.0]}})  # fmt: skip
    assert [p["C"] for p in spec.grid()] == [0.1, 1.0]
    with pytest.raises(ValueError, match="fit_on"):
        validate_spec({"data": {"builtin": "compas"}, "method": "to-dp-post",
                       "hyperparameters": {"fit_on": "clean"}})  # fmt: skip
    user = validate_spec({"data": {"file": None, "label": "y", "sensitive": "z"}})
    assert user.method == "auto"
    assert validate_spec({"data": {"builtin": "compas"}}).method == "fr-train"


def test_corrected_interval_by_hand() -> None:
    v = [0.6, 0.7, 0.65, 0.75, 0.7]
    m, lo, hi = corrected_interval(v, 0.2)
    from scipy.stats import t

    half = t.ppf(0.975, 4) * math.sqrt((1 / 5 + 0.25) * np.var(v, ddof=1))
    assert (
        m == pytest.approx(0.68) and hi - m == pytest.approx(half) and m - lo == pytest.approx(half)
    )


def test_stratified_folds_partition_each_repeat() -> None:
    folds = stratified_folds(CLEAN.y, CLEAN.z, 5, 3, seed=0)
    assert len(folds) == 15
    for r in range(3):
        idx = np.concatenate(folds[5 * r : 5 * r + 5])
        np.testing.assert_array_equal(np.sort(idx), np.arange(len(CLEAN)))
    # every fold holds both labels of both groups (stratified)
    for f in folds:
        assert len({(int(a), int(b)) for a, b in zip(CLEAN.y[f], CLEAN.z[f], strict=True)}) == 4


def _sealed_toy() -> Dataset:
    ds = Dataset(name="toy", train=TRAIN, val=CLEAN, test=TEST, feature_names=["a", "b", "c"],
                 sensitive_name="g", group_names={0: "g0", 1: "g1"})  # fmt: skip
    return seal(ds)


def test_sealed_split_is_armed() -> None:
    with pytest.raises(TestSplitAccessError):
        _ = _sealed_toy().test.X


def test_auto_never_reads_the_test_split_and_explains_its_choice() -> None:
    ds = _sealed_toy()
    fast = {"candidates": "eg-dp-clean,to-dp-post,cr-lr", "n_repeats": 1,
            "frtrain_params": {"l1": [0.2, 0.4], "l2": 0.3, "params": {"epochs": 60,
                               "pretrain_epochs": 20}}}  # fmt: skip
    model = EP.fit_method("auto", ds, seed=0, profile=EP.P.QUICK, auto_options=fast)
    rep = model.report()
    names = [c["name"] for c in rep["candidates"]]
    assert "fr-train" in names and rep["chosen"] in names  # 400 training rows: FR-Train compared
    assert rep["reason"].startswith(rep["chosen"])
    assert any("small clean set" in w for w in rep["warnings"])  # 120 clean rows
    chosen = next(c for c in rep["candidates"] if c["name"] == rep["chosen"])
    eligible = [c for c in rep["candidates"] if c["eligible"]]
    if eligible:
        assert chosen["acc_mean"] == max(c["acc_mean"] for c in eligible)
        assert chosen["di_mean"] >= 0.85
    assert rep["folds"] == 5 * rep["repeats"]
    pred = model.predict(TEST.X, TEST.z)
    assert pred.shape == (len(TEST),)


def test_auto_rule_picks_the_most_accurate_eligible_candidate() -> None:
    auto = AutoMethod(candidates="lr-clean,eg-dp-clean,cr-lr", include_frtrain=False,
                      n_repeats=1).fit(TRAIN.X, TRAIN.y, TRAIN.z, X_val=CLEAN.X,
                                       y_val=CLEAN.y, z_val=CLEAN.z)  # fmt: skip
    by = {s.name: s for s in auto.scores_}
    eligible = [s for s in auto.scores_ if s.di_mean >= 0.85]
    want = max(eligible, key=lambda s: s.acc_mean).name if eligible else max(
        auto.scores_, key=lambda s: s.di_mean).name  # fmt: skip
    assert auto.chosen_ == want
    # cr-lr ignores the clean set: one fit serves every fold, so its DI is the same in each
    assert len(set(by["cr-lr"].di)) == 1
    assert type(auto.model_).__name__ == type(PR.make_practitioner(want)).__name__


def test_reproduce_all_gains_an_auto_row_per_real_data_table() -> None:
    from dataclasses import replace as dc_replace

    from trainer.experiments import paper as P
    from trainer.experiments import rendering, report_tables

    prof = dc_replace(P.QUICK, seeds=(0, 1))
    for table, d in (("table2", "compas"), ("table3", "adult")):
        keys = {t.key for t in P.tasks_for(table, prof)}
        assert {P.auto_task(d, s, prof).key for s in P.SETTINGS} <= keys
    assert not any(t.kind == "auto" for t in P.tasks_for("table1", prof))
    rec = {"auto": [{"test_acc": 0.8, "test_di": 0.9, "knob": "eg-dp-clean"},
                    {"test_acc": 0.7, "test_di": 0.7, "knob": "cr-lr"}]}  # fmt: skip
    results = {P.auto_task("adult", s, prof).key: rec for s in P.SETTINGS}
    row = report_tables._auto_row("adult", results, prof)
    assert row is not None and row["method"] == "auto"
    assert row["poisoned"]["acc"]["mean"] == pytest.approx(0.75)
    assert row["poisoned"]["knob"] == ["eg-dp-clean", "cr-lr"]
    assert report_tables._auto_row("compas", results, prof) is None  # its tasks did not run
    tab = {"dataset": "adult", "rows": [row]}
    md = "\n".join(rendering._md_main("Table 3", tab))
    assert "| auto | 0.800 ± 0.100 | — |" in md and "eg-dp-clean,cr-lr" in md


def test_practitioner_table_statistics() -> None:
    from trainer.experiments import paper as P

    task_list = EP.tasks(P.profile_with(P.QUICK, (0,)), [0, 1], ["compas"], ["cr-lr"])
    assert len(task_list) == 4  # 2 settings x 2 split seeds x 1 method
    fake = {}
    for i, t in enumerate(task_list):
        fake[t.key] = {"cr-lr": [{"seed": 0, "seconds": 1.0, "test_acc": 0.6 + 0.02 * i,
                                  "test_di": 0.75 + 0.1 * i}]}  # fmt: skip
    table = EP.summarise(fake, task_list)
    cell = table["compas.poisoned"]["cr-lr"]
    assert cell["n"] == 2 and cell["acc_mean"] == pytest.approx(0.65)
    assert cell["di_ok"] == pytest.approx(1.0)  # DI 0.95 and 1.05
    assert table["compas.clean"]["cr-lr"]["di_ok"] == pytest.approx(0.5)  # 0.75 and 0.85
    with pytest.raises(ValueError, match="unknown method"):
        EP.tasks(P.QUICK, [0], ["compas"], ["nope"])


def test_cli_train_runs_a_practitioner_baseline(tmp_path) -> None:
    import csv

    import typer
    from typer.testing import CliRunner

    from trainer import api, cli
    from trainer.data.synthetic import load_synthetic

    root = typer.Typer()
    cli.register(root)
    res = CliRunner().invoke(
        root, ["train", "--method", "to-dp-post", "--poison", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    ds = load_synthetic(poisoned=True)
    lr = _lr().fit(_xz(ds.train), _y01(ds.train))
    ref = ThresholdOptimizer(estimator=lr, constraints="demographic_parity", prefit=True,
                             predict_method="predict_proba")  # fmt: skip
    ref.fit(_xz(ds.val), _y01(ds.val), sensitive_features=ds.val.z)
    want = ref.predict(_xz(ds.test), sensitive_features=ds.test.z, random_state=0)
    with open(tmp_path / "predictions.csv") as fh:
        got = [int(r["y_pred"]) for r in csv.DictReader(fh)]
    np.testing.assert_array_equal(_to01(np.array(got)), want)
    saved = api.load_model(tmp_path)
    assert saved.metadata["method"] == "to-dp-post"
    # the saved pipeline predicts the recorded test rows exactly (fairlearn objects pickled)
    with open(tmp_path / "predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(ds.test.y)
    rebuilt = saved.estimator()
    np.testing.assert_array_equal(_to01(np.asarray(rebuilt.predict(ds.test.X, ds.test.z))), want)


def test_cli_reproduce_practitioners_cached_only_lists_what_is_missing(tmp_path) -> None:
    import typer
    from typer.testing import CliRunner

    from trainer import cli

    root = typer.Typer()
    cli.register(root)
    args = ["reproduce", "practitioners", "--out", str(tmp_path), "--cached-only",
            "--datasets", "compas", "--methods", "cr-lr,auto", "--split-seeds", "0,1"]  # fmt: skip
    res = CliRunner().invoke(root, args)
    assert res.exit_code == 0, res.output
    report = (tmp_path / "REPORT.md").read_text()
    assert "8 task(s) of the requested grid are not in the cache" in report  # 2x2x2
    assert "`practitioners.compas.poisoned.s0.split_seed=1-method=auto`" in report
    bad = CliRunner().invoke(root, [*args[:4], "--datasets", "mnist"])
    assert bad.exit_code != 0
