"""Examples upload, gold questions and answer imports: happy paths and bad input (both DBs).

Every bad request must answer 4xx naming the problem and leave the database unchanged.
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from .api_helpers import H, import_answers, post_project, upload


def n_examples(client: TestClient, headers: H, pid: int) -> int:
    return int(client.get(f"/api/v1/projects/{pid}", headers=headers).json()["n_examples"])


def n_answers(client: TestClient, headers: H, pid: int) -> int:
    return int(client.get(f"/api/v1/projects/{pid}", headers=headers).json()["n_answers"])


EXAMPLES_CSV = b"example_id,age,sex,true_label\ne1,23,F,1\ne2,52,M,-1\ne3,31,F,\n"


def test_upload_csv_parquet_json(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers, sensitive_column="sex")
    r = upload(client, admin_headers, pid, EXAMPLES_CSV)
    assert r.status_code == 201, r.text
    assert r.json() == {"created": 3, "columns": ["age", "sex"]}
    listed = client.get(f"/api/v1/projects/{pid}/examples", headers=admin_headers).json()
    assert listed["count"] == 3
    first = listed["data"][0]
    assert first == {
        "example_id": "e1",
        "features": {"age": 23, "sex": "F"},
        "sensitive_value": "F",
        "known_label": 1,
    }
    assert listed["data"][2]["known_label"] is None

    frame = pd.DataFrame({"example_id": ["p1", "p2"], "age": [40, 41], "sex": ["M", "F"]})
    buf = io.BytesIO()
    frame.to_parquet(buf)
    r = upload(client, admin_headers, pid, buf.getvalue(), name="x.parquet")
    assert r.status_code == 201, r.text
    payload = json.dumps([{"example_id": "j1", "age": 1.5, "sex": "M"}]).encode()
    r = upload(client, admin_headers, pid, payload, name="x.json")
    assert r.status_code == 201, r.text
    jsonl = (
        b'{"example_id": "l1", "age": 2, "sex": "M"}\n{"example_id": "l2", "age": 3, "sex": "F"}\n'
    )
    r = upload(client, admin_headers, pid, jsonl, name="x.jsonl")
    assert r.status_code == 201, r.text
    assert n_examples(client, admin_headers, pid) == 8


# (file content, filename, extra query params, status, words the detail must contain)
BAD_UPLOADS = [
    (b"", "x.csv", {}, 422, ["empty"]),
    (b"example_id,age\n", "x.csv", {}, 422, ["no data rows"]),
    (b"id,age\n1,2\n", "x.csv", {}, 422, ["missing required column 'example_id'"]),
    (b"example_id,age\na,1\nb,2\na,3\n", "x.csv", {}, 422, ["row 2", "'example_id'", "'a'"]),
    (b'example_id,age\na,1\nb,"2\n', "x.csv", {}, 422, ["malformed CSV"]),
    (b"example_id,age\na,1,9,9\n", "x.csv", {}, 422, ["malformed CSV"]),
    (b"example_id,age,age\na,1,2\n", "x.csv", {}, 422, ["duplicate column name 'age'"]),
    (b"example_id,age\na,1\n,2\n", "x.csv", {}, 422, ["row 1", "empty value"]),
    (
        b"example_id,y\na,1\nb,0\n",
        "x.csv",
        {"label_column": "y"},
        422,
        ["row 1", "'y'", "+1 or -1"],
    ),
    (b"example_id,label\na,1\n", "x.csv", {}, 422, ["'label' is reserved"]),
    (b"\xff\xfe\x00garbage", "x.csv", {}, 422, ["not UTF-8"]),
    (b"[1, 2]", "x.json", {}, 422, ["row 0", "JSON object"]),
    (b'[{"example_id": "a", "f": {"x": 1}}]', "x.json", {}, 422, ["row 0", "'f'", "scalars"]),
    (b"{not json", "x.json", {}, 422, ["malformed JSON"]),
    (b"PAR1 not really parquet", "x.parquet", {}, 422, ["Parquet"]),
    (b"example_id,age\na,1\n", "x.csv", {"label_column": "nope"}, 422, ["'nope'"]),
]


@pytest.mark.parametrize(("content", "name", "params", "status", "words"), BAD_UPLOADS)
def test_bad_upload_is_4xx_and_stores_nothing(
    client: TestClient,
    admin_headers: H,
    content: bytes,
    name: str,
    params: dict[str, str],
    status: int,
    words: list[str],
) -> None:
    pid = post_project(client, admin_headers)
    r = upload(client, admin_headers, pid, content, name=name, **params)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == "invalid_input"
    for word in words:
        assert word in body["detail"], (word, body["detail"])
    assert n_examples(client, admin_headers, pid) == 0


def test_sensitive_column_must_be_in_file(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers, sensitive_column="gender")
    r = upload(client, admin_headers, pid, EXAMPLES_CSV)
    assert r.status_code == 422 and "'gender'" in r.json()["detail"]
    assert n_examples(client, admin_headers, pid) == 0


def test_existing_id_conflicts_and_nothing_is_added(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers)
    assert upload(client, admin_headers, pid, EXAMPLES_CSV).status_code == 201
    r = upload(client, admin_headers, pid, b"example_id,age,sex\nnew,1,F\ne2,5,M\n")
    assert r.status_code == 409
    assert "row 1" in r.json()["detail"] and "'e2'" in r.json()["detail"]
    assert n_examples(client, admin_headers, pid) == 3


def test_oversize_upload_is_413(app: FastAPI, client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers)
    app.state.settings = app.state.settings.model_copy(update={"max_upload_bytes": 64})
    big = b"example_id,age\n" + b"".join(b"e%d,1\n" % i for i in range(50))
    r = upload(client, admin_headers, pid, big)
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large" and "64 bytes" in r.json()["detail"]
    r = import_answers(client, admin_headers, pid, big)
    assert r.status_code == 413
    assert n_examples(client, admin_headers, pid) == 0


def test_unknown_project_is_404_everywhere(client: TestClient, admin_headers: H) -> None:
    for r in (
        upload(client, admin_headers, 424242, EXAMPLES_CSV),
        import_answers(client, admin_headers, 424242, b"example_id,worker_id,value\ne1,w,1\n"),
        client.get("/api/v1/projects/424242/workers", headers=admin_headers),
        client.get("/api/v1/projects/424242/labels", headers=admin_headers),
        client.get("/api/v1/projects/424242/gold", headers=admin_headers),
        client.post("/api/v1/projects/424242/exports", headers=admin_headers),
        client.get("/api/v1/exports/424242", headers=admin_headers),
        client.get("/api/v1/exports/424242/download", headers=admin_headers),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "not_found" and "424242" in r.json()["detail"]


LONG = b"example_id,worker_id,value\ne1,w1,4\ne2,w1,1\ne1,w2,3\ne2,w2,2\ne3,w2,2\n"


def test_long_import_and_gold(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers)
    upload(client, admin_headers, pid, EXAMPLES_CSV)
    r = import_answers(client, admin_headers, pid, LONG)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "layout": "long",
        "answers_created": 5,
        "workers_created": 2,
        "examples_created": 0,
    }
    r = client.post(
        f"/api/v1/projects/{pid}/gold",
        json=[
            {"example_id": "e1", "label": 1, "explanation": "8 priors"},
            {"example_id": "e2", "label": -1, "kind": "training_quiz"},
        ],
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    gold = client.get(f"/api/v1/projects/{pid}/gold", headers=admin_headers).json()
    assert [(g["example_id"], g["kind"]) for g in gold["data"]] == [
        ("e1", "hidden_check"),
        ("e2", "training_quiz"),
    ]
    again = client.post(
        f"/api/v1/projects/{pid}/gold",
        json=[{"example_id": "e1", "label": 1}],
        headers=admin_headers,
    )
    assert again.status_code == 409
    unknown = client.post(
        f"/api/v1/projects/{pid}/gold",
        json=[{"example_id": "zz", "label": 1}],
        headers=admin_headers,
    )
    assert unknown.status_code == 404 and "'zz'" in unknown.json()["detail"]
    bad_label = client.post(
        f"/api/v1/projects/{pid}/gold",
        json=[{"example_id": "e3", "label": 0}],
        headers=admin_headers,
    )
    assert bad_label.status_code == 422 and "label" in bad_label.json()["detail"]


BAD_LONG = [
    (b"example_id,worker_id,value\ne1,w1,4\ne2,w1,5\n", {}, 422, ["row 1", "'value'", "1-4"]),
    (b"example_id,worker_id,value\ne1,w1,4\ne2,w1,x\n", {}, 422, ["row 1", "'value'"]),
    (b"example_id,worker_id,value\ne1,w1,2.5\n", {}, 422, ["row 0", "'value'"]),
    (b"example_id,worker_id\ne1,w1\n", {}, 422, ["missing required column 'value'"]),
    (b"example_id,worker_id,value\ne1,w1,4\nzz,w1,3\n", {}, 404, ["row 1", "'zz'"]),
    (b"example_id,worker_id,value\ne1,w1,4\ne1,w1,3\n", {}, 422, ["row 1", "twice"]),
    (b"example_id,worker_id,value\ne1,new,4\n", {"create_workers": "false"}, 422, ["'new'"]),
    (b"example_id,worker_id,value,submitted_at\ne1,w1,4,yesterday\n", {}, 422, ["submitted_at"]),
]


@pytest.mark.parametrize(("content", "params", "status", "words"), BAD_LONG)
def test_bad_long_import_changes_nothing(
    client: TestClient,
    admin_headers: H,
    content: bytes,
    params: dict[str, str],
    status: int,
    words: list[str],
) -> None:
    pid = post_project(client, admin_headers)
    upload(client, admin_headers, pid, EXAMPLES_CSV)
    r = import_answers(client, admin_headers, pid, content, **params)
    assert r.status_code == status, r.text
    for word in words:
        assert word in r.json()["detail"], (word, r.json()["detail"])
    assert n_answers(client, admin_headers, pid) == 0
    assert client.get(f"/api/v1/projects/{pid}/workers", headers=admin_headers).json()["count"] == 0


def test_reimport_conflicts(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers)
    upload(client, admin_headers, pid, EXAMPLES_CSV)
    assert import_answers(client, admin_headers, pid, LONG).status_code == 201
    r = import_answers(client, admin_headers, pid, LONG)
    assert r.status_code == 409 and "already has an answer" in r.json()["detail"]
    assert n_answers(client, admin_headers, pid) == 5


WIDE = (
    b"example_idx,age,sex,true_label,ans_1,ans_2,ans_3,worker_id_1,worker_id_2,worker_id_3\n"
    b"0,23,F,1,4,3,1,wa,wb,wc\n"
    b"1,52,M,-1,1,2,4,wb,wc,wa\n"
)


def test_wide_import_creates_examples(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers)
    r = import_answers(client, admin_headers, pid, WIDE)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "layout": "wide",
        "answers_created": 6,
        "workers_created": 3,
        "examples_created": 2,
    }
    ex = client.get(f"/api/v1/projects/{pid}/examples", headers=admin_headers).json()["data"]
    assert ex[0] == {
        "example_id": "0",
        "features": {"age": 23, "sex": "F"},
        "sensitive_value": None,
        "known_label": 1,
    }
    # N=1 takes ans_1 only: 4 -> +1, 1 -> -1. N=2: means 3.5 (+1) and 1.5 (-1).
    labels = client.get(
        f"/api/v1/projects/{pid}/labels", params={"n": 1}, headers=admin_headers
    ).json()
    assert [(d["example_id"], d["label"], d["answers_used"]) for d in labels["data"]] == [
        ("0", 1, 1),
        ("1", -1, 1),
    ]


def test_bad_wide_import_changes_nothing(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers)
    bad = WIDE.replace(b"1,52,M,-1,1,2,4", b"1,52,M,-1,1,2,7")
    r = import_answers(client, admin_headers, pid, bad)
    assert r.status_code == 422 and "ans_3" in r.json()["detail"]
    unpaired = WIDE.replace(b",worker_id_3", b",worker_x")
    r = import_answers(client, admin_headers, pid, unpaired)
    assert r.status_code == 422 and "pair" in r.json()["detail"]
    assert n_examples(client, admin_headers, pid) == 0
    assert n_answers(client, admin_headers, pid) == 0
