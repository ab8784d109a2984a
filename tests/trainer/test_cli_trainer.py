"""`frtrain train` and `frtrain reproduce synthetic` through Typer's test runner."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from trainer import api, cli
from trainer.data.synthetic import load_synthetic
from trainer.experiments import synthetic as exp
from trainer.metrics import accuracy
from trainer.models.lr import LogisticRegression

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    cli.register(root)
    return root


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _predictions(folder) -> list[dict[str, str]]:
    with open(folder / "predictions.csv") as fh:
        return list(csv.DictReader(fh))


def test_train_lr_on_poisoned_synthetic(app, tmp_path) -> None:
    res = runner.invoke(app, ["train", "--method", "lr", "--poison", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    ds = load_synthetic(poisoned=True)
    want = accuracy(
        ds.test.y,
        LogisticRegression().fit(ds.train.X, ds.train.y, ds.train.z).predict(ds.test.X, ds.test.z),
    )
    assert f"{want:.3f}" in res.output
    rows = _predictions(tmp_path)
    assert len(rows) == len(ds.test)
    assert np.mean([int(r["y_pred"]) == int(r["y_true"]) for r in rows]) == pytest.approx(want)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["spec"]["data"] == {"builtin": "synthetic", "synthetic_poisoned": True}


TINY = ["--l1", "0.1,0.3", "--l2", "0.2", "--epochs", "150", "--k", "3", "--device", "cpu"]


def test_cli_and_api_train_the_same_model_with_the_same_artifacts(app, tmp_path) -> None:
    """`frtrain train` is trainer.api.run_training: same input, same choice, same files."""
    res = runner.invoke(app, ["train", *TINY, "--poison", "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    spec = {
        "data": {"builtin": "synthetic", "synthetic_poisoned": True},
        "hyperparameters": {"l1": [0.1, 0.3], "l2": [0.2], "epochs": 150, "k": 3,
                            "pretrain_epochs": 30},
        "seeds": [0], "split_seed": 0, "device": "cpu",
    }  # fmt: skip
    out = api.run_training(spec, artifact_dir=tmp_path / "api", threads=1)
    cli_metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert cli_metrics["seeds"][0]["selected"] == out["seeds"][0]["selected"]
    assert cli_metrics["seeds"][0]["test"] == out["seeds"][0]["test"]
    assert cli_metrics["hyperparameters"] == out["hyperparameters"]
    assert _predictions(tmp_path / "cli") == _predictions(tmp_path / "api")
    cfg = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert str(tmp_path) not in json.dumps(cfg)  # no machine paths in the artifacts


@pytest.mark.parametrize("rule", ["smoothed", "point"])
def test_cli_and_api_agree_for_a_named_selection_rule(app, tmp_path, rule) -> None:
    """`--selection-rule` is the job spec's selection.rule: the same choice, reason and files."""
    out_dir = tmp_path / "cli"
    args = ["--l1", "0.1,0.3,0.5", *TINY[2:]]  # TINY with a third l1 value
    res = runner.invoke(app, ["train", *args, "--poison", "--selection-rule", rule,
                              "--out", str(out_dir)])  # fmt: skip
    assert res.exit_code == 0, res.output
    spec = {
        "data": {"builtin": "synthetic", "synthetic_poisoned": True},
        "hyperparameters": {"l1": [0.1, 0.3, 0.5], "l2": [0.2], "epochs": 150, "k": 3,
                            "pretrain_epochs": 30},
        "selection": {"rule": rule},
        "seeds": [0], "split_seed": 0, "device": "cpu",
    }  # fmt: skip
    out = api.run_training(spec, artifact_dir=tmp_path / "api", threads=1)
    got = json.loads((out_dir / "metrics.json").read_text())
    for key in ("selected", "selection_rule", "selection_reason", "test"):
        assert got["seeds"][0][key] == out["seeds"][0][key], key
    assert got["seeds"][0]["selection_rule"] == rule
    assert got["selection"] == out["selection"]
    assert _predictions(out_dir) == _predictions(tmp_path / "api")
    if rule == "smoothed":  # DI checked on the validation rows plus the 500-row unused block
        ev = got["seeds"][0]["grid"][0]["selection"]
        assert got["selection"]["extra_label_free"] == "synthetic-unused-block"
        assert ev["checked_n"] == 200 + 500 and "smoothed_fairness" in ev


def test_selection_rule_is_checked(app, tmp_path) -> None:
    res = runner.invoke(app, ["train", "--selection-rule", "best", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--selection-rule" in res.output
    # smoothed needs extra label-free rows, which only the built-in synthetic data has
    res = runner.invoke(app, ["train", "--data", "compas", "--selection-rule", "smoothed",
                              "--out", str(tmp_path)])  # fmt: skip
    assert res.exit_code != 0 and "selection.rule" in res.output


def test_train_on_a_user_csv_with_external_validation_file(app, tmp_path) -> None:
    ds = load_synthetic()
    frame = pd.DataFrame({"row": [f"r{i}" for i in range(len(ds.train))],
                          "x1": ds.train.X[:, 0], "x2": ds.train.X[:, 1],
                          "group": np.where(ds.train.z == 1, "a", "b"),
                          "outcome": np.where(ds.train.y > 0, "yes", "no")})  # fmt: skip
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[:150].to_csv(tmp_path / "val.csv", index=False)
    # no --features: the id-like "row" column is not one-hot encoded, and the validation
    # file does not crash the run
    res = runner.invoke(app, [
        "train", "--method", "lr", "--data", str(tmp_path / "train.csv"), "--label", "outcome",
        "--sensitive", "group", "--positive-label", "yes", "--privileged", "a",
        "--val-file", str(tmp_path / "val.csv"), "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    s = m["seeds"][0]
    # with a validation file, every non-test row trains (no 5% carved out and dropped)
    assert s["n_val"] == 150 and s["n_train"] + s["n_test"] == len(frame)
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["feature_names"] == ["x1", "x2"]
    assert m["test_labels"]["trusted"] is False and "UNTRUSTED" in res.output
    # a privileged value that the column does not hold fails before training, naming it
    res = runner.invoke(app, [
        "train", "--method", "lr", "--data", str(tmp_path / "train.csv"), "--label", "outcome",
        "--sensitive", "group", "--positive-label", "yes", "--privileged", "male",
        "--out", str(tmp_path / "out2"),
    ])  # fmt: skip
    assert res.exit_code != 0 and "data.privileged" in res.output and "'group'" in res.output


def test_clean_test_file_is_scored_against_its_labels(app, tmp_path) -> None:
    ds = load_synthetic()

    def frame(split, flip=False):
        y = -split.y if flip else split.y
        return pd.DataFrame({"x1": split.X[:, 0], "x2": split.X[:, 1],
                             "group": np.where(split.z == 1, "a", "b"),
                             "outcome": np.where(y > 0, "yes", "no")})  # fmt: skip

    frame(ds.train).to_csv(tmp_path / "train.csv", index=False)
    frame(ds.val).to_csv(tmp_path / "val.csv", index=False)
    frame(ds.test).to_csv(tmp_path / "test.csv", index=False)
    args = [
        "train",
        "--method",
        "lr",
        "--data",
        str(tmp_path / "train.csv"),
        "--label",
        "outcome",
        "--sensitive",
        "group",
        "--positive-label",
        "yes",
        "--privileged",
        "a",
        "--val-file",
        str(tmp_path / "val.csv"),
        "--test-file",
        str(tmp_path / "test.csv"),
    ]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])  # fmt: skip
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    s = m["seeds"][0]
    assert m["test_labels"]["trusted"] is True and s["n_test"] == len(ds.test)
    assert s["n_train"] == len(ds.train)  # nothing carved: the test file is the test set
    want = accuracy(ds.test.y, LogisticRegression().fit(ds.train.X, ds.train.y, ds.train.z)
                    .predict(ds.test.X, ds.test.z))  # fmt: skip
    assert s["test"]["accuracy"] == pytest.approx(want, abs=2e-3)


def test_bad_arguments_fail_with_a_message(app, tmp_path) -> None:
    res = runner.invoke(
        app, ["train", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]
    )
    assert res.exit_code != 0 and "neither" in res.output
    res = runner.invoke(app, ["train", "--method", "svm", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--method" in res.output
    res = runner.invoke(app, ["train", "--l1", "a,b", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--l1" in res.output


def test_reproduce_synthetic_writes_table_json_and_plot(app, tmp_path, monkeypatch) -> None:
    tiny = {
        name: {**s, "lambda_f": s["lambda_f"][::4],
               "params": {**s["params"], "epochs": 120, "pretrain_epochs": 40}}
        for name, s in exp.DEFAULT_SETTINGS.items()
    }  # fmt: skip
    monkeypatch.setattr(exp, "DEFAULT_SETTINGS", tiny)
    res = runner.invoke(app, [
        "reproduce", "synthetic", "--seeds", "0,1", "--json", str(tmp_path / "t1.json"),
        "--plot", str(tmp_path / "fig.png"), "--no-progress", "--device", "cpu",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "0.814" in res.output and "0.885" in res.output  # the paper's figures are printed
    rows = json.loads((tmp_path / "t1.json").read_text())["rows"]
    assert {(r["method"], r["data"]) for r in rows} == set(exp.PAPER_TABLE1)
    for r in rows:
        assert set(r) >= {"method", "data", "acc_mean", "acc_std", "di_mean", "di_std",
                          "paper_acc", "paper_di", "seeds"}  # fmt: skip
        assert r["seeds"] == [0, 1]
        if r["method"] == "FR-Train":
            assert set(r["chosen_lambda_f"]) == {"0", "1"}
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
