"""`frtrain train` and `frtrain reproduce synthetic` through Typer's test runner."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from trainer import cli
from trainer.data.synthetic import load_synthetic
from trainer.experiments import synthetic as exp
from trainer.metrics import accuracy
from trainer.models.fr_train import FRTrain
from trainer.models.lr import LogisticRegression

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    cli.register(root)
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_train_lr_on_poisoned_synthetic(app, tmp_path) -> None:
    res = runner.invoke(app, ["train", "--method", "lr", "--poison", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    ds = load_synthetic(poisoned=True)
    want = accuracy(
        ds.test.y,
        LogisticRegression().fit(ds.train.X, ds.train.y, ds.train.z).predict(ds.test.X, ds.test.z),
    )
    assert f"{want:.3f}" in res.output
    with open(tmp_path / "predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(ds.test)
    assert np.mean([int(r["y_pred"]) == int(r["y_true"]) for r in rows]) == pytest.approx(want)
    assert torch.load(tmp_path / "model.pt", weights_only=True)["model"] == "LogisticRegression"
    assert json.loads((tmp_path / "config.json").read_text())["poison"] is True


def test_train_frtrain_grid_saves_selected_model(app, tmp_path) -> None:
    res = runner.invoke(app, [
        "train", "--l1", "0.1,0.3", "--l2", "0.2", "--epochs", "150", "--k", "3",
        "--device", "cpu", "--out", str(tmp_path),
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "config.json").read_text())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert cfg["lambda_f"] == [0.1, 0.3] and len(metrics["models"]) == 2
    model = FRTrain.load(tmp_path / "model.pt")
    assert model.lambda_f == [0.1, 0.3][cfg["chosen"]] and model.step_ == 150
    grid = torch.load(tmp_path / "grid.pt", weights_only=True)
    assert len(grid["models"]) == 2 and grid["selected"] == cfg["chosen"]
    ds = load_synthetic()
    with open(tmp_path / "predictions.csv") as fh:
        preds = [int(r["y_pred"]) for r in csv.DictReader(fh)]
    np.testing.assert_array_equal(preds, model.predict(ds.test.X, ds.test.z))


def test_train_on_a_user_csv_with_external_validation_file(app, tmp_path) -> None:
    ds = load_synthetic()
    frame = pd.DataFrame({"x1": ds.train.X[:, 0], "x2": ds.train.X[:, 1],
                          "group": np.where(ds.train.z == 1, "a", "b"),
                          "outcome": np.where(ds.train.y > 0, "yes", "no")})  # fmt: skip
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[:150].to_csv(tmp_path / "val.csv", index=False)
    res = runner.invoke(app, [
        "train", "--method", "lr", "--data", str(tmp_path / "train.csv"), "--label", "outcome",
        "--sensitive", "group", "--positive-label", "yes", "--privileged", "a",
        "--val-file", str(tmp_path / "val.csv"), "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["n_val"] == 150 and cfg["n_train"] + cfg["n_test"] + 150 <= len(frame) + 150


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


def test_train_cli_defaults_follow_the_validation_selected_settings() -> None:
    # The CLI repeats the defaults as literals (Typer needs them at import time); keep them equal.
    import inspect

    from trainer.cli import train
    from trainer.experiments.synthetic import DEFAULT_SETTINGS

    sig = inspect.signature(train)
    l1 = [float(v) for v in sig.parameters["l1"].default.default.split(",")]
    l2 = [float(v) for v in sig.parameters["l2"].default.default.split(",")]
    assert l1 == DEFAULT_SETTINGS["poisoned"]["lambda_f"]
    assert l2 == [DEFAULT_SETTINGS["poisoned"]["lambda_r"]]
