"""A crowd export as a job's validation set: gold rows dropped on request, crowd labels swapped
for the examples' known labels on request (the Table 7 comparison), checked by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.services import jobs as svc

from ..test_data_import import import_answers, post_project, upload
from ..test_quality_export import TOY_ANSWERS, TOY_RULE

H = dict[str, str]
# Known labels for every example; the crowd gets e1 right (+1) and e2 wrong (truth -1).
EXAMPLES = b"example_id,age,sex,truth\ng1,20,F,1\ng2,30,M,-1\ng3,40,F,1\ne1,50,M,1\ne2,60,F,-1\n"
GOLD = [
    {"example_id": "g1", "label": 1},
    {"example_id": "g2", "label": -1},
    {"example_id": "g3", "label": 1},
]


def _export(client: TestClient, headers: H, examples: bytes = EXAMPLES) -> int:
    pid = post_project(client, headers, worker_filter=TOY_RULE, sensitive_column="sex")
    assert upload(client, headers, pid, examples, label_column="truth").status_code == 201
    assert import_answers(client, headers, pid, TOY_ANSWERS).status_code == 201
    r = client.post(f"/api/v1/projects/{pid}/gold", json=GOLD, headers=headers)
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/projects/{pid}/exports", headers=headers)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _validation_file(
    client: TestClient, headers: H, session: Session, tmp_path: Path, validation: dict[str, Any]
) -> pd.DataFrame:
    body = {"data": {"builtin": "synthetic"}, "method": "lr", "validation": validation}
    r = client.post("/api/v1/training-jobs", json=body, headers=headers)
    assert r.status_code == 201, r.text
    claim = svc.claim_next(session=session, worker_id="t", lease_seconds=60)
    assert claim is not None and claim.job_id == r.json()["id"]
    spec = svc.materialize_inputs(session=session, claim=claim, folder=tmp_path / str(claim.job_id))
    assert "export_options" not in spec  # a service key, never passed to the trainer
    return pd.read_parquet(spec["validation"]["path"])


def test_export_validation_options(
    client: TestClient, admin_headers: H, session: Session, tmp_path: Path
) -> None:
    export_id = _export(client, admin_headers)
    base = {"kind": "export", "export_id": export_id}

    everything = _validation_file(client, admin_headers, session, tmp_path, base)
    assert sorted(everything["example_id"]) == ["e1", "e2", "g1", "g2", "g3"]

    crowd = _validation_file(
        client, admin_headers, session, tmp_path, {**base, "exclude_gold": True}
    )
    # "bad" fails the gold checks and is filtered: e1 = mean(4, 3) > 2.5, e2 = 3 > 2.5.
    assert dict(zip(crowd["example_id"], crowd["label"], strict=True)) == {"e1": 1, "e2": 1}

    truth = _validation_file(
        client, admin_headers, session, tmp_path, {**base, "exclude_gold": True, "labels": "known"}
    )
    assert dict(zip(truth["example_id"], truth["label"], strict=True)) == {"e1": 1, "e2": -1}
    assert list(truth.columns) == list(crowd.columns)


def test_known_labels_must_exist(client: TestClient, admin_headers: H) -> None:
    examples = EXAMPLES.replace(b"e2,60,F,-1", b"e2,60,F,")
    export_id = _export(client, admin_headers, examples)
    body = {
        "data": {"builtin": "synthetic"},
        "method": "lr",
        "validation": {"kind": "export", "export_id": export_id, "labels": "known"},
    }
    r = client.post("/api/v1/training-jobs", json=body, headers=admin_headers)
    assert r.status_code == 422 and "1 have none (e.g. ['e2'])" in r.json()["detail"]
