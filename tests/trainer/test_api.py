"""trainer.api: spec validation, validation-only model selection, run_training's results,
progress, cancellation and artifacts (checked against independent recomputation)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from trainer import api, defaults
from trainer.data import load_synthetic
from trainer.metrics import accuracy, disparate_impact
from trainer.models.fr_train import FRTrain
from trainer.models.lr import LogisticRegression

SMALL: dict[str, Any] = {
    "data": {"builtin": "synthetic"},
    "method": "fr-train",
    "hyperparameters": {"epochs": 60, "pretrain_epochs": 20, "l1": [0.1, 0.5], "l2": 0.3},
    "seeds": [0, 1],
    "device": "cpu",
}


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({}, "data: required"),
        ({"data": {"builtin": "mnist"}}, "data.builtin"),
        ({"data": {"builtin": "compas", "file": "x.csv"}}, "exactly one"),
        ({"data": {"builtin": "adult", "variant": "full"}}, "only COMPAS"),
        ({"data": {"file": None, "label": "y"}}, "data.sensitive"),
        ({"data": {"builtin": "compas"}, "method": "svm"}, "unknown method"),
        ({"data": {"builtin": "compas"}, "hyperparameters": {"l1": "a"}}, "hyperparameters.l1"),
        ({"data": {"builtin": "compas"}, "hyperparameters": {"g_hidden": 3}}, "g_hidden"),
        ({"data": {"builtin": "compas"}, "hyperparameters": {"epochs": 0}}, "epochs"),
        ({"data": {"builtin": "compas"}, "seeds": [0, 0]}, "distinct"),
        ({"data": {"builtin": "compas"}, "seeds": [True]}, "seeds"),
        ({"data": {"builtin": "compas"}, "validation": {"kind": "s3"}}, "validation.kind"),
        ({"data": {"builtin": "compas"}, "poisoning": {"fraction": -0.1}}, "fraction"),
        ({"data": {"builtin": "compas"}, "selection": {"metric": "f1"}}, "selection.metric"),
        ({"data": {"builtin": "compas"}, "selection": {"rule": "smoothed"}}, "selection.rule"),
        ({"data": {"builtin": "compas"}, "bogus": 1}, "unknown key(s) ['bogus']"),
    ],
)
def test_validate_spec_names_the_bad_field(spec: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError) as err:
        api.validate_spec(spec)
    assert needle in str(err.value)


def test_file_roles_are_checked_against_the_columns() -> None:
    data = {"file": None, "label": "y", "sensitive": "g", "features": ["a", "b"]}
    spec = api.validate_spec({"data": data}, file_columns=["a", "b", "g", "y"])
    assert spec.dataset_name == "file"
    with pytest.raises(ValueError, match=r"\['b'\] are not in the file"):
        api.validate_spec({"data": data}, file_columns=["a", "g", "y"])
    with pytest.raises(ValueError, match="already have another role"):
        api.validate_spec({"data": {**data, "features": ["a", "g"]}})


def test_grid_skips_pairs_without_weight_on_accuracy() -> None:
    spec = api.validate_spec(
        {"data": {"builtin": "compas"}, "hyperparameters": {"l1": [0.2, 0.7], "l2": [0.2, 0.4]}}
    )
    assert spec.grid() == [{"l1": 0.2, "l2": 0.2}, {"l1": 0.7, "l2": 0.2}, {"l1": 0.2, "l2": 0.4}]
    # Defaults differ by data regime (trainer.defaults): the synthetic data's own (clean or
    # poisoned), faster steps on real data.
    syn = api.validate_spec({"data": {"builtin": "synthetic"}}).hyperparameters
    clean = defaults.REGIMES["synthetic-clean"]
    assert (syn["epochs"], syn["l1"], syn["l2"]) == (4_000, list(clean.lambda_f), [0.2])
    poi = api.validate_spec(
        {"data": {"builtin": "synthetic", "synthetic_poisoned": True}}
    ).hyperparameters
    assert (poi["epochs"], poi["lr_g"], poi["l2"]) == (10_000, 1e-3, [0.3])
    real = api.validate_spec({"data": {"builtin": "compas"}}).hyperparameters
    # (the real-data defaults are chosen by `frtrain reproduce select-defaults --data compas`)
    assert real["lr_g"] == 1e-2 and real["l2"] == api.FRTRAIN_DEFAULTS["real"]["l2"]
    assert real["average_last"] == api.FRTRAIN_DEFAULTS["real"]["average_last"]


def interval_rule(evidence: list[dict[str, Any]], min_fairness: float) -> int:
    """docs/SELECTION.md rules 3-5 applied to a job's recorded evidence."""
    low = [e["checked_interval"][0] if e["checked_interval"] else -math.inf for e in evidence]
    acc = [e["val_accuracy"] for e in evidence]
    ok = [i for i, lo in enumerate(low) if lo >= min_fairness]
    if ok:
        return max(ok, key=lambda j: (acc[j], low[j], -j))
    return max(range(len(low)), key=lambda j: (low[j], acc[j], -j))


def test_select_point_uses_validation_metrics_only() -> None:
    def m(acc: float, di: float) -> dict[str, float]:
        return {"accuracy": acc, "disparate_impact": di}

    rows = [m(0.90, 0.50), m(0.80, 0.85), m(0.82, 0.81), m(0.70, 0.99)]
    assert api.select_point(rows, min_fairness=0.8, metric="disparate_impact") == 2
    # Nobody fair enough: the fairest wins; NaN fairness counts as worst.
    rows = [m(0.9, 0.3), m(0.8, math.nan), m(0.7, 0.6)]
    assert api.select_point(rows, min_fairness=0.8, metric="disparate_impact") == 2
    eo = [
        {"accuracy": 0.9, "equalized_odds_y0": 0.9, "equalized_odds_y1": 0.5},
        {"accuracy": 0.8, "equalized_odds_y0": 0.85, "equalized_odds_y1": 0.82},
    ]
    assert api.select_point(eo, min_fairness=0.8, metric="equalized_odds") == 1


def test_run_training_results_artifacts_and_progress(tmp_path: Path) -> None:
    reports: list[dict[str, Any]] = []
    res = api.run_training(SMALL, progress=reports.append, artifact_dir=tmp_path, threads=1)
    assert [s["seed"] for s in res["seeds"]] == [0, 1]
    assert reports[-1]["percent"] == 100.0
    assert [r["percent"] for r in reports] == sorted(r["percent"] for r in reports)
    ds = load_synthetic()
    for seed in res["seeds"]:
        assert [p["params"] for p in seed["grid"]] == [
            {"l1": 0.1, "l2": 0.3},
            {"l1": 0.5, "l2": 0.3},
        ]
        chosen = interval_rule([p["selection"] for p in seed["grid"]], min_fairness=0.8)
        assert seed["selected"] == chosen and seed["test"] == seed["grid"][chosen]["test"]
        assert seed["selection_rule"] == "interval" and seed["selection_reason"]
        for p in seed["grid"]:
            ev = p["selection"]
            assert ev["val_accuracy"] == pytest.approx(p["val"]["accuracy"])
            assert ev["n_label_free"] == len(ds.val) + len(ds.train)
            assert ev["label_free_di_interval"][0] <= ev["label_free_di"] + 1e-12
    # The saved checkpoint of each seed reproduces its test metrics and predictions.csv.
    ck = torch.load(tmp_path / "model.pt", map_location="cpu", weights_only=True)
    preds = pd.read_csv(tmp_path / "predictions.csv")
    for seed in res["seeds"]:
        part = ck["models"][str(seed["seed"])]
        assert part["params"] == seed["selected_params"]
        model_path = tmp_path / f"m{seed['seed']}.pt"
        torch.save(part["estimator"]["checkpoint"], model_path)
        model = FRTrain.load(model_path)
        yhat = model.predict(ds.test.X, ds.test.z)
        assert accuracy(ds.test.y, yhat) == pytest.approx(seed["test"]["accuracy"])
        # the chosen point's label-free DI: its predictions on validation + training rows
        pool = np.concatenate(
            [model.predict(ds.val.X, ds.val.z), model.predict(ds.train.X, ds.train.z)]
        )
        free = seed["grid"][seed["selected"]]["selection"]["label_free_di"]
        assert free == pytest.approx(disparate_impact(pool, np.concatenate([ds.val.z, ds.train.z])))
        assert disparate_impact(yhat, ds.test.z) == pytest.approx(seed["test"]["disparate_impact"])
        rows = preds[preds["seed"] == seed["seed"]]
        np.testing.assert_array_equal(rows["y_pred"].to_numpy(), yhat)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["summary"]["test"]["accuracy"]["mean"] == pytest.approx(
        np.mean([s["test"]["accuracy"] for s in res["seeds"]])
    )
    assert (tmp_path / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "config.json").read_text())["feature_names"] == ["x1", "x2"]


def test_lr_job_equals_the_estimator_and_poisoning_touches_train_only() -> None:
    spec = {
        "data": {"builtin": "compas"},
        "poisoning": {"attack": "top_margin", "fraction": 0.1, "target_group": 1},
        "method": "lr",
        "seeds": [3],
    }
    res = api.run_training(spec)
    ds, facts = api.prepare_dataset(api.validate_spec(spec), 3)
    assert facts["n_flipped"] == round(0.1 * len(ds.train))
    model = LogisticRegression().fit(ds.train.X, ds.train.y, ds.train.z)
    yhat = model.predict(ds.test.X, ds.test.z)
    assert res["seeds"][0]["test"]["accuracy"] == pytest.approx(accuracy(ds.test.y, yhat))


def test_cancellation_stops_training_within_an_epoch() -> None:
    calls = {"n": 0}

    def should_cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 5

    spec = {**SMALL, "hyperparameters": {**SMALL["hyperparameters"], "epochs": 100_000}}
    with pytest.raises(api.Cancelled):
        api.run_training(spec, should_cancel=should_cancel, threads=1)
    assert calls["n"] == 6


def test_every_available_baseline_runs_as_a_job() -> None:
    fast = {"ad": {"n_steps": 200}, "lbc": {"n_iter": 5}, "fc": {"lam": [0.0, 1.0]}}
    methods = [m for m in api.available_methods() if m != "fr-train"]
    assert {"lr", "fc", "lbc", "ad"} <= set(methods)
    for method in methods:
        spec = {
            "data": {"builtin": "synthetic"},
            "method": method,
            "hyperparameters": fast.get(method, {}),
            "seeds": [0],
        }
        res = api.run_training(spec, threads=1)
        seed = res["seeds"][0]
        assert len(seed["grid"]) == (2 if method == "fc" else 1)
        assert 0.5 < seed["test"]["accuracy"] <= 1.0, method
        assert seed["test"]["confusion"].keys() == {"0", "1"}


def test_equalized_odds_fr_train_selects_on_validation_equalized_odds() -> None:
    spec = {
        **SMALL,
        "hyperparameters": {**SMALL["hyperparameters"], "fairness": "eo"},
        "selection": {"metric": "equalized_odds", "min_fairness": 0.7},
        "seeds": [0],
    }
    res = api.run_training(spec, threads=1)
    seed = res["seeds"][0]
    # equalized odds needs labels: only the validation rows count (docs/SELECTION.md)
    for p in seed["grid"]:
        ev = p["selection"]
        assert ev["checked_n"] == p["val"]["n"] and ev["checked_metric"] == "equalized_odds"
        eo = [p["val"]["equalized_odds_y0"], p["val"]["equalized_odds_y1"]]
        assert ev["checked_estimate"] == (None if None in eo else pytest.approx(min(eo)))
    evidence = [p["selection"] for p in seed["grid"]]
    assert seed["selected"] == interval_rule(evidence, min_fairness=0.7)
    assert res["hyperparameters"]["fairness"] == "eo"
