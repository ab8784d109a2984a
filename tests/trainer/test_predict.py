"""A saved model predicts new rows exactly as the job recorded its test rows; bad rows get
an error naming the column."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from trainer import api, cli
from trainer.data.synthetic import load_synthetic

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    cli.register(root)
    return root


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _table() -> pd.DataFrame:
    ds = load_synthetic()
    rng = np.random.default_rng(0)
    n = len(ds.train)
    return pd.DataFrame({
        "loan_id": [f"L{i:05d}" for i in range(n)],
        "x1": ds.train.X[:, 0], "x2": ds.train.X[:, 1],
        "region": rng.choice(["north", "south", "east"], size=n),
        "sex": np.where(ds.train.z == 1, "female", "male"),
        "approved": np.where(ds.train.y > 0, "yes", "no"),
    })  # fmt: skip


@pytest.mark.parametrize("method", ["fr-train", "lr"])
def test_predict_reproduces_the_recorded_test_predictions(app, tmp_path, method) -> None:
    frame = _table()
    frame.to_csv(tmp_path / "loans.csv", index=False)
    res = runner.invoke(app, [
        "train", "--method", method, "--data", str(tmp_path / "loans.csv"), "--label",
        "approved", "--sensitive", "sex", "--positive-label", "yes", "--privileged", "female",
        "--id-column", "loan_id", "--l1", "0.2,0.4", "--l2", "0.2", "--epochs", "120",
        "--device", "cpu", "--out", str(tmp_path / "m"),
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    recorded = pd.read_csv(tmp_path / "m" / "predictions.csv", dtype=str)
    rows = frame.set_index("loan_id").loc[recorded["id"]].reset_index()
    rows.drop(columns=["approved"]).to_csv(tmp_path / "new.csv", index=False)
    res = runner.invoke(app, ["predict", str(tmp_path / "m"), str(tmp_path / "new.csv"),
                              "--out", str(tmp_path / "preds.csv")])  # fmt: skip
    assert res.exit_code == 0, res.output
    got = pd.read_csv(tmp_path / "preds.csv", dtype=str)
    assert list(got.columns) == ["id", "score", "label"]
    assert got["id"].tolist() == recorded["id"].tolist()
    assert got["score"].tolist() == recorded["score"].tolist()  # exactly, as text
    assert got["label"].tolist() == recorded["y_pred"].tolist()
    # the same through the library entry point the service uses (rows as parsed from text,
    # like the training file was)
    rows_back = pd.read_csv(tmp_path / "new.csv")
    same = api.predict_table(api.load_model(tmp_path / "m" / "model.pt"), rows_back)
    assert same["score"].tolist() == recorded["score"].tolist()
    meta = torch.load(tmp_path / "m" / "model.pt", weights_only=True)["metadata"]
    assert meta["method"] == method and len(meta["data_sha256"]) == 64
    assert str(tmp_path) not in json.dumps(meta, default=str)


def test_bad_rows_get_an_error_naming_the_column(app, tmp_path) -> None:
    frame = _table()
    frame.to_csv(tmp_path / "loans.csv", index=False)
    res = runner.invoke(app, [
        "train", "--method", "lr", "--data", str(tmp_path / "loans.csv"), "--label",
        "approved", "--sensitive", "sex", "--positive-label", "yes", "--privileged", "female",
        "--out", str(tmp_path / "m"),
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = frame.iloc[:5].drop(columns=["approved"])
    cases = {
        "unknown category": (rows.assign(region="west"), "region"),
        "missing column": (rows.drop(columns=["x2"]), "x2"),
        "wrong type": (rows.assign(x1="lots"), "x1"),
        "missing sensitive": (rows.drop(columns=["sex"]), "sex"),
    }
    for name, (bad, column) in cases.items():
        bad.to_csv(tmp_path / "bad.csv", index=False)
        res = runner.invoke(app, ["predict", str(tmp_path / "m"), str(tmp_path / "bad.csv")])
        assert res.exit_code == 2, (name, res.output)
        assert "error:" in res.output and column in res.output, (name, res.output)
        assert "Traceback" not in res.output
