"""The practitioner's scenario on the synthetic data (paper §4.1): a training file whose labels are
poisoned (the shipped ``y_poi``), a crowd-export-like validation file, and a clean test file.

Without the clean test file the test split is carved from the poisoned file: the results, the
text report and the plot say the test labels are untrusted, and the recorded ``y_true`` are the
poisoned labels. With it, every training row trains and the reported test accuracy and disparate
impact equal those recomputed here from the predictions and the clean labels (an independent
hand computation, and fairlearn's demographic-parity ratio for DI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainer import api
from trainer.data.synthetic import load_synthetic_arrays

HP = {"l1": [0.2, 0.5], "epochs": 120, "pretrain_epochs": 30}


def _frame(X: np.ndarray, z: np.ndarray, y: np.ndarray, lo: int) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(lo, lo + len(y)), "x1": X[:, 0], "x2": X[:, 1],
                         "z": z.astype(int), "y": y.astype(int)})  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    X, y, z, y_poi = load_synthetic_arrays()
    d = tmp_path_factory.mktemp("scenario")
    train = _frame(X[:2000], z[:2000], y_poi, 0)  # poisoned labels (179 flipped)
    assert int((train["y"].to_numpy() != y[:2000]).sum()) > 150
    train.to_csv(d / "train.csv", index=False)
    # A crowd export: example_id, features, sensitive, the crowd's label (5% wrong), extras.
    rng = np.random.default_rng(0)
    crowd = np.where(rng.random(200) < 0.05, -y[2000:2200], y[2000:2200]).astype(int)
    pd.DataFrame({"example_id": [f"e{i}" for i in range(200)], "x1": X[2000:2200, 0],
                  "x2": X[2000:2200, 1], "z": z[2000:2200].astype(int), "label": crowd,
                  "answers_used": 3, "mean_score": 0.0, "confidence": 0.9,
                  "is_gold": False}).to_parquet(d / "crowd.parquet", index=False)  # fmt: skip
    clean = _frame(X[2700:3700], z[2700:3700], y[2700:3700], 2700)
    clean.to_csv(d / "clean_test.csv", index=False)
    return {"dir": d, "clean": clean, "train": train}


def _spec(d: Path, test: bool) -> dict[str, Any]:
    return {
        "data": {"file": str(d / "train.csv"), "label": "y", "sensitive": "z", "id_column": "id",
                 "features": ["x1", "x2"], "positive_label": 1, "privileged": 1},
        "validation": {"kind": "file", "path": str(d / "crowd.parquet")},
        "method": "fr-train", "hyperparameters": HP, "seeds": [0],
        **({"test": {"file": str(d / "clean_test.csv")}} if test else {}),
    }  # fmt: skip


def _di(pred: np.ndarray, z: np.ndarray) -> float:
    rates = [float((pred[z == g] == 1).mean()) for g in (0, 1)]
    return min(rates) / max(rates)


def test_untrusted_test_split_is_flagged(files: dict[str, Any], tmp_path: Path) -> None:
    res = api.run_training(_spec(files["dir"], test=False), artifact_dir=tmp_path, threads=1)
    assert res["test_labels"]["trusted"] is False
    text = api.format_results(res)
    assert "UNTRUSTED TEST LABELS" in text
    # The carved test rows carry the poisoned file's labels, not the clean ones.
    pred = pd.read_csv(tmp_path / "predictions.csv")
    truth = files["train"].set_index("id")["y"]
    assert pred["y_true"].tolist() == truth.loc[pred["id"]].tolist()
    s = res["seeds"][0]
    assert s["n_train"] + s["n_test"] == 2000 and s["n_val"] == 200  # the crowd file validates


def test_clean_test_file_scores_against_clean_labels(files: dict[str, Any], tmp_path: Path) -> None:
    from fairlearn.metrics import demographic_parity_ratio

    res = api.run_training(_spec(files["dir"], test=True), artifact_dir=tmp_path, threads=1)
    assert res["test_labels"]["trusted"] is True and "clean_test.csv" in res["test_labels"]["note"]
    assert "UNTRUSTED" not in api.format_results(res)
    s = res["seeds"][0]
    assert (s["n_train"], s["n_val"], s["n_test"]) == (2000, 200, 1000)  # all rows train
    clean = files["clean"]
    pred = pd.read_csv(tmp_path / "predictions.csv")
    assert pred["id"].tolist() == clean["id"].tolist()
    y_pred, y_clean, z = pred["y_pred"].to_numpy(), clean["y"].to_numpy(), clean["z"].to_numpy()
    assert s["test"]["accuracy"] == pytest.approx(float((y_pred == y_clean).mean()), abs=1e-12)
    assert s["test"]["disparate_impact"] == pytest.approx(_di(y_pred, z), abs=1e-12)
    assert s["test"]["disparate_impact"] == pytest.approx(
        demographic_parity_ratio(y_clean, y_pred, sensitive_features=z), abs=1e-9
    )


def test_held_out_crowd_evaluation_is_the_default_without_a_clean_test_file(
    files: dict[str, Any], tmp_path: Path
) -> None:
    """Each repeat trains and selects on the validation rows it keeps and is scored on the rows
    it holds out. Oracle for the first repeat: the same job run on a validation file of the kept
    rows only (no held-out evaluation), its saved model predicting the held-out rows, scored
    here against their crowd labels."""
    d = files["dir"]
    spec = _spec(d, test=False)
    res = api.run_training(spec, threads=1)
    h = res["holdout"]
    assert (h["repeats"], h["fraction"]) == (3, 0.3) and "crowd" in h["labels"]
    assert "held-out crowd evaluation (3 repeats" in api.format_results(res)
    assert api.run_training({**spec, "test": {"file": str(d / "clean_test.csv")}},
                            threads=1).get("holdout") is None  # fmt: skip
    crowd = pd.read_parquet(d / "crowd.parquet")
    held_sets = [set(r["held_out_ids"]) for r in h["repeats_run"]]
    assert all(len(s) == 60 for s in held_sets) and len({frozenset(s) for s in held_sets}) == 3
    accs = [r["held_out"]["accuracy"] for r in h["repeats_run"]]
    assert h["summary"]["accuracy"]["mean"] == pytest.approx(float(np.mean(accs)))
    assert h["summary"]["accuracy"]["std"] == pytest.approx(float(np.std(accs)))

    first = h["repeats_run"][0]
    held = crowd[crowd["example_id"].isin(held_sets[0])]
    crowd[~crowd["example_id"].isin(held_sets[0])].to_parquet(d / "keep.parquet", index=False)
    oracle_spec = {**spec, "validation": {"kind": "file", "path": str(d / "keep.parquet")},
                   "holdout": None}  # fmt: skip
    out = tmp_path / "oracle"
    oracle = api.run_training(oracle_spec, artifact_dir=out, threads=1)
    assert oracle["seeds"][0]["selected_params"] == first["selected_params"]
    pred = api.predict_table(api.load_model(out), held[["x1", "x2", "z"]].reset_index(drop=True))
    y_pred, y_crowd = pred["label"].to_numpy(), held["label"].to_numpy()
    assert first["held_out"]["accuracy"] == pytest.approx(float((y_pred == y_crowd).mean()))
    assert first["held_out"]["disparate_impact"] == pytest.approx(_di(y_pred, held["z"].to_numpy()))


def test_holdout_spec_is_checked() -> None:
    base = {"data": {"builtin": "synthetic"}, "method": "lr"}
    assert api.validate_spec(base).holdout is None
    for bad, needle in (
        ({"repeats": 2}, "needs a validation file"),
        ({"repeats": 99}, "holdout.repeats"),
        ({"fraction": 0.0}, "holdout.fraction"),
        ({"k": 1}, "unknown key"),
    ):
        with pytest.raises(ValueError, match=needle):
            api.validate_spec({**base, "holdout": bad})
    assert api.validate_spec({**base, "holdout": {"repeats": 0}}).holdout is None


def test_cli_holdout_default_and_off(files: dict[str, Any], tmp_path: Path) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from trainer import cli

    root = typer.Typer()
    cli.register(root)
    d = files["dir"]
    args = ["train", "--method", "lr", "--data", str(d / "train.csv"), "--label", "y",
            "--sensitive", "z", "--id-column", "id", "--features", "x1,x2",
            "--positive-label", "1", "--privileged", "1",
            "--val-file", str(d / "crowd.parquet")]  # fmt: skip
    runs = {}
    for name, extra in (("default", []), ("off", ["--holdout-repeats", "0"]),
                        ("two", ["--holdout-repeats", "2"])):  # fmt: skip
        res = CliRunner().invoke(root, [*args, *extra, "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        runs[name] = json.loads((tmp_path / name / "metrics.json").read_text())
        assert ("held-out crowd evaluation" in res.output) == (name != "off")
    assert runs["default"]["holdout"]["repeats"] == 3 and "holdout" not in runs["off"]
    assert len(runs["two"]["holdout"]["repeats_run"]) == 2
    # the held-out evaluation never changes the main run's choice or numbers
    assert runs["default"]["seeds"][0]["test"] == runs["off"]["seeds"][0]["test"]


def test_holdout_skips_a_validation_file_too_small_to_split(files: dict[str, Any]) -> None:
    d = files["dir"]
    pd.read_parquet(d / "crowd.parquet").head(3).to_parquet(d / "tiny.parquet", index=False)
    spec = {**_spec(d, test=False), "method": "lr", "hyperparameters": {},
            "validation": {"kind": "file", "path": str(d / "tiny.parquet")}}  # fmt: skip
    h = api.run_training(spec, threads=1)["holdout"]
    assert h["repeats_run"] == [] and "too few" in h["note"]
    assert h["summary"]["accuracy"]["mean"] is None
