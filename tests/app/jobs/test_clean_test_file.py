"""A clean test file through the job API (``test: {upload_id}``): checked at creation (422 naming
the field, nothing stored), written by the worker beside the training file, and scored on: the
results say the test labels are the clean file's, and the stored test metrics match the clean
labels recomputed here from the raw file and the downloaded predictions."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import TrainingJob
from app.worker import Worker

from .conftest import job_row

H = dict[str, str]
JOBS = "/api/v1/training-jobs"


def _table(n: int, seed: int, flip: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows id,x1,x2,grp,y; ``flip`` of the labels flipped (the clean labels returned too)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    grp = rng.choice(["F", "M"], size=n)
    clean = np.where(x[:, 0] + 0.5 * x[:, 1] + 0.3 * (grp == "M") > 0, 1, -1)
    y = clean.copy()
    flipped = rng.random(n) < flip
    y[flipped] = -y[flipped]
    frame = pd.DataFrame({"id": np.arange(n) + seed * 10_000, "x1": x[:, 0].round(4),
                          "x2": x[:, 1].round(4), "grp": grp, "y": y})  # fmt: skip
    return frame, clean


def _upload(client: TestClient, headers: H, frame: pd.DataFrame, name: str) -> int:
    r = client.post(
        "/api/v1/training-files",
        files={"file": (name, frame.to_csv(index=False).encode(), "text/csv")},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_test_file_is_checked_at_creation(
    client: TestClient, admin_headers: H, session: Session
) -> None:
    train, _ = _table(60, 0, 0.0)
    train_id = _upload(client, admin_headers, train, "train.csv")
    no_x2 = _upload(client, admin_headers, train.drop(columns=["x2"]), "no_x2.csv")
    data = {"upload_id": train_id, "label": "y", "sensitive": "grp", "id_column": "id"}
    base = {"data": data, "method": "lr"}
    before = int(session.scalar(select(func.count()).select_from(TrainingJob)) or 0)
    for test, needle in (
        ({"upload_id": 987654}, "test.upload_id: training file 987654 does not exist"),
        ({"upload_id": no_x2}, "lacks column(s) ['x2']"),
        ({"upload_id": train_id, "label_column": "clean"}, "lacks column(s) ['clean']"),
    ):
        r = client.post(JOBS, json={**base, "test": test}, headers=admin_headers)
        assert r.status_code == 422 and needle in r.json()["detail"], r.text
    r = client.post(JOBS, json={"data": {"builtin": "compas"}, "test": {"upload_id": train_id}},
                    headers=admin_headers)  # fmt: skip
    assert r.status_code == 422 and "test.upload_id" in r.json()["detail"]
    r = client.post(JOBS, json={**base, "test": {"upload_id": train_id, "extra": 1}},
                    headers=admin_headers)  # fmt: skip
    assert r.status_code == 422
    assert int(session.scalar(select(func.count()).select_from(TrainingJob)) or 0) == before
    ok = client.post(JOBS, json={**base, "test": {"upload_id": train_id}}, headers=admin_headers)
    assert ok.status_code == 201, ok.text


def test_worker_scores_on_the_clean_test_file(
    committed: Callable[[], Session], queue_settings: Settings
) -> None:
    from app.main import create_app
    from app.services.auth import create_token

    train, _ = _table(800, 1, 0.25)  # a quarter of the training labels flipped
    test, clean = _table(300, 2, 0.0)
    test = test.rename(columns={"y": "label_noisy"}).assign(y_clean=clean)
    test["label_noisy"] = -test["y_clean"]  # a decoy: the wrong column would score ~0
    with committed() as s:
        headers = {"Authorization": f"Bearer {create_token(session=s, name='t').token}"}
    with TestClient(create_app(queue_settings)) as client:
        train_id = _upload(client, headers, train, "train.csv")
        test_id = _upload(client, headers, test.rename(columns={"label_noisy": "y"}), "clean.csv")
        body: dict[str, Any] = {
            "data": {"upload_id": train_id, "label": "y", "sensitive": "grp", "id_column": "id",
                     "features": ["x1", "x2"]},
            "test": {"upload_id": test_id, "label_column": "y_clean"},
            "method": "lr",
            "seeds": [0],
        }  # fmt: skip
        r = client.post(JOBS, json=body, headers=headers)
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        worker = Worker(queue_settings)
        try:
            assert worker.run(exit_when_idle=True) == 1
        finally:
            worker.close()
        job = job_row(committed, job_id)
        assert job.status == "succeeded", job.error
        res = job.results
        assert res is not None
        labels = res["test_labels"]
        assert labels["trusted"] is True and labels["source"] == "test file"
        assert f"upload {test_id} (clean.csv)" in labels["note"]
        seed = res["seeds"][0]
        # every training row trains (no test split carved out), every test-file row is scored
        assert (seed["n_train"] + seed["n_val"], seed["n_test"]) == (800, 300)
        pred = client.get(f"{JOBS}/{job_id}/artifacts/predictions.csv", headers=headers)
        frame = pd.read_csv(io.StringIO(pred.text))
        assert frame["id"].tolist() == test["id"].tolist()
        assert frame["y_true"].tolist() == test["y_clean"].tolist()
        want = float((frame["y_pred"].to_numpy() == test["y_clean"].to_numpy()).mean())
        assert abs(seed["test"]["accuracy"] - want) < 1e-12 and want > 0.7


def test_held_out_crowd_evaluation_defaults_for_an_export_validated_upload(
    client: TestClient, admin_headers: H
) -> None:
    from .test_export_validation import _export

    export_id = _export(client, admin_headers)
    rows = pd.DataFrame({"example_id": [f"t{i}" for i in range(40)],
                         "age": np.arange(40) + 20, "sex": ["F", "M"] * 20,
                         "truth": [1, -1, -1, 1] * 10})  # fmt: skip
    train_id = _upload(client, admin_headers, rows, "train.csv")
    body: dict[str, Any] = {
        "data": {"upload_id": train_id, "label": "truth", "sensitive": "sex",
                 "id_column": "example_id"},
        "validation": {"kind": "export", "export_id": export_id},
        "method": "lr",
    }  # fmt: skip
    r = client.post(JOBS, json=body, headers=admin_headers)
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["holdout"] == {"repeats": 3, "fraction": 0.3}
    r = client.post(JOBS, json={**body, "test": {"upload_id": train_id}}, headers=admin_headers)
    assert r.status_code == 201 and r.json()["spec"]["holdout"] is None
    r = client.post(JOBS, json={**body, "holdout": {"repeats": 0}}, headers=admin_headers)
    assert r.status_code == 201 and r.json()["spec"]["holdout"] is None
    r = client.post(JOBS, json={**body, "holdout": {"repeats": 5, "fraction": 0.5}},
                    headers=admin_headers)  # fmt: skip
    assert r.status_code == 201 and r.json()["spec"]["holdout"] == {"repeats": 5, "fraction": 0.5}
    for bad in ({"repeats": 50}, {"fraction": 0.01}, {"folds": 2}):
        r = client.post(JOBS, json={**body, "holdout": bad}, headers=admin_headers)
        assert r.status_code == 422 and "holdout" in r.text, r.text
    r = client.post(JOBS, json={"data": {"builtin": "synthetic"}, "holdout": {"repeats": 2}},
                    headers=admin_headers)  # fmt: skip
    assert r.status_code == 422 and "needs a validation file" in r.text
