"""Service hardening against hostile input (both databases): weak secrets and server-side
sign-out, request bodies bounded before they are read, uploads off the event loop, values that
would break exports later, CSV formula injection, and the HTTP contract (503 on a lost
database, UTC timestamps, the documented 422 body, strict integers, bounded publishing)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.orm import Session

from app.api.deps import get_session
from app.core.config import Settings
from app.main import create_app

from .admin.test_admin_pages import sign_in
from .api_helpers import H, import_answers, post_project, upload
from .live import committed_token, live_server, private_database, raw_request, stream_chunked

ROOT = Path(__file__).resolve().parents[2]


def _app(settings: Settings, session: Session) -> FastAPI:
    application = create_app(settings)
    application.dependency_overrides[get_session] = lambda: session
    return application


# -- secrets --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key", ["", "x", "changeme", "dev-insecure-secret-change-me", "secret", "a" * 40, "k" * 31]
)
def test_weak_secret_key_refused_in_production(key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        Settings(environment="production", secret_key=key, database_url=f"sqlite:///{tmp_path}/d")
    message = str(info.value)
    assert "32" in message and "secrets.token_hex(32)" in message


def test_strong_secret_key_accepted_in_production(tmp_path: Path) -> None:
    key = "3f1c" + "9a7b2e54d8c06f1e" * 4
    settings = Settings(
        environment="production", secret_key=key, database_url=f"sqlite:///{tmp_path}/d.db"
    )
    assert settings.secret_key == key


def test_development_key_is_random_kept_beside_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    first_dir, other_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    other_dir.mkdir()
    one = Settings(environment="development", database_url=f"sqlite:///{first_dir}/x.db")
    again = Settings(environment="development", database_url=f"sqlite:///{first_dir}/x.db")
    other = Settings(environment="development", database_url=f"sqlite:///{other_dir}/x.db")
    assert one.secret_key == again.secret_key != other.secret_key
    assert len(one.secret_key) >= 32
    assert [p.name for p in first_dir.iterdir() if p.name != "x.db"], "no key file beside the db"
    source = "\n".join(p.read_text() for p in (ROOT / "app").rglob("*.py"))
    assert one.secret_key not in source
    server = Settings(environment="development", database_url="postgresql+psycopg://h/db")
    server_again = Settings(environment="development", database_url="postgresql+psycopg://h/db")
    assert server.secret_key == server_again.secret_key
    assert (tmp_path / "config" / "frtrain").is_dir()


def test_cookie_signed_with_the_published_key_is_refused(
    db_url: str, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = Settings(environment="development", database_url=db_url, artifact_dir=tmp_path)
    token = committed_or_session_token(session)
    forged = URLSafeTimedSerializer(
        "dev-insecure-secret-change-me", salt="frtrain-admin-session"
    ).dumps({"t": token, "c": "forged"})
    with TestClient(_app(settings, session)) as client:
        client.cookies.set("frtrain_admin", forged, path="/admin")
        r = client.get("/admin", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")


def committed_or_session_token(session: Session) -> int:
    from app.services.auth import create_token

    return create_token(session=session, name="victim").id


def test_logout_ends_the_session_on_the_server(client: TestClient, admin_token: str) -> None:
    csrf = sign_in(client, admin_token)
    stolen = client.cookies.get("frtrain_admin")
    assert stolen
    r = client.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.clear()
    client.cookies.set("frtrain_admin", stolen, path="/admin")
    r = client.get("/admin", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")


def test_link_credentials_stay_out_of_the_access_log(
    db_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    with private_database(db_kind, tmp_path, "log") as url:
        settings = Settings(environment="test", database_url=url, artifact_dir=tmp_path)
        with live_server(create_app(settings)) as (host, port):
            handler = Keep()
            logging.getLogger("uvicorn.access").addHandler(handler)
            try:
                httpx.get(f"http://{host}:{port}/task/1?invite=INVITESECRET&pid=p&k=PANELSECRET")
                httpx.get(f"http://{host}:{port}/task/1?k=PANELSECRET")
            finally:
                logging.getLogger("uvicorn.access").removeHandler(handler)
    assert any("/task/1" in line for line in records), records
    assert not any("INVITESECRET" in line or "PANELSECRET" in line for line in records), records


# -- request bodies --------------------------------------------------------------------------
def _head(path: str, length: int | None, token: str | None = None, kind: str = "multipart") -> str:
    ctype = (
        "multipart/form-data; boundary=frtrainboundary"
        if kind == "multipart"
        else "application/x-www-form-urlencoded"
    )
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {ctype}"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return "\r\n".join(lines) + "\r\n\r\n"


FILLER = b"e,1\n" * 16000
PART = (
    b'--frtrainboundary\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
    b"Content-Type: text/csv\r\n\r\nexample_id,a\n" + FILLER
)


def test_upload_bodies_are_refused_before_they_are_read(db_kind: str, tmp_path: Path) -> None:
    with private_database(db_kind, tmp_path, "body") as url:
        token = committed_token(url)
        settings = Settings(
            environment="test", database_url=url, artifact_dir=tmp_path, max_upload_bytes=1 << 20
        )
        with live_server(create_app(settings)) as (host, port):
            big = 120 * 1024 * 1024
            path = "/api/v1/projects/1/examples"
            # No token: 401 although only 64 KB of the declared 120 MB arrived.
            assert " 401 " in raw_request(host, port, _head(path, big), PART)
            # A token but a declared length above MAX_UPLOAD_BYTES: 413 at once.
            assert " 413 " in raw_request(host, port, _head(path, big, token), PART)
            # No declared length: refused once the stream passes the limit, not at its end.
            status, sent = stream_chunked(
                host, port, _head(path, None, token), FILLER, max_bytes=64 << 20, first=PART
            )
            assert " 413 " in status and sent < 8 << 20, (status, sent)
            # The task form: bounded before it is read.
            form = b"a=" + b"1" * 65000
            assert " 413 " in raw_request(host, port, _head("/task/1/submit", big, kind="f"), form)
            # Streamed without a length: refused (too large, too many or too long fields) long
            # before the 64 MB are through.
            status, sent = stream_chunked(
                host, port, _head("/task/1/submit", None, kind="f"), form, max_bytes=64 << 20
            )
            assert (" 413 " in status or " 422 " in status) and sent < 8 << 20, (status, sent)


def test_task_form_fields_are_bounded(client: TestClient) -> None:
    r = client.post("/task/1/submit", data={"ex_a": "1" * 20000})
    assert r.status_code in (413, 422)
    many = "&".join(f"f{i}=1" for i in range(5000))
    r = client.post(
        "/task/1/submit",
        content=many,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code in (413, 422) and "field" in r.text


# -- uploads off the event loop ------------------------------------------------------------
def test_healthz_answers_while_a_large_upload_is_parsed(db_kind: str, tmp_path: Path) -> None:
    rows = 150_000
    frame = pd.DataFrame(
        {
            "example_id": [f"e{i}" for i in range(rows)],
            **{f"c{j}": np.arange(rows) % (j + 7) for j in range(8)},
            "sex": np.where(np.arange(rows) % 2 == 0, "F", "M"),
        }
    )
    body = frame.to_csv(index=False).encode()
    with private_database(db_kind, tmp_path, "loop") as url:
        token = committed_token(url)
        settings = Settings(environment="test", database_url=url, artifact_dir=tmp_path)
        with live_server(create_app(settings)) as (host, port):
            base = f"http://{host}:{port}"
            headers = {"Authorization": f"Bearer {token}"}
            pid = httpx.post(
                f"{base}/api/v1/projects", json={"name": "big", "question": "q?"}, headers=headers
            ).json()["id"]
            outcome: dict[str, Any] = {}

            def send() -> None:
                t0 = time.perf_counter()
                r = httpx.post(
                    f"{base}/api/v1/projects/{pid}/examples",
                    files={"file": ("big.csv", body)},
                    headers=headers,
                    timeout=300,
                )
                outcome["status"], outcome["seconds"] = r.status_code, time.perf_counter() - t0

            thread = threading.Thread(target=send)
            thread.start()
            worst = 0.0
            with httpx.Client(base_url=base, timeout=300) as probe:
                while thread.is_alive():
                    t0 = time.perf_counter()
                    assert probe.get("/healthz").status_code == 200
                    worst = max(worst, time.perf_counter() - t0)
                    time.sleep(0.01)
            thread.join()
    assert outcome["status"] == 201
    # The event loop stays free: no health probe waits anywhere near as long as the upload.
    assert worst < 0.5 * outcome["seconds"], (worst, outcome)


def test_parquet_and_json_are_bounded_by_rows_columns_and_size(
    settings: Settings, session: Session
) -> None:
    bounded = settings.model_copy(
        update={"max_upload_rows": 10_000, "max_upload_columns": 50, "max_decoded_bytes": 4 << 20}
    )
    with TestClient(_app(bounded, session)) as client:
        headers = {"Authorization": f"Bearer {committed_or_session_token_str(session)}"}
        pid = post_project(client, headers)
        buf = io.BytesIO()
        pq.write_table(pa.table({"example_id": pa.array(np.zeros(1_000_000, np.int8))}), buf)
        assert len(buf.getvalue()) < 100_000
        r = upload(client, headers, pid, buf.getvalue(), name="tiny.parquet")
        assert r.status_code == 413 and "rows" in r.json()["detail"], r.text
        buf = io.BytesIO()
        pq.write_table(pa.table({f"c{i}": [1] for i in range(60)} | {"example_id": ["e"]}), buf)
        r = upload(client, headers, pid, buf.getvalue(), name="wide.parquet")
        assert r.status_code == 413 and "columns" in r.json()["detail"], r.text
        buf = io.BytesIO()
        pq.write_table(pa.table({"example_id": ["e1", "e2"], "t": ["a" * (3 << 20)] * 2}), buf)
        r = upload(client, headers, pid, buf.getvalue(), name="bomb.parquet")
        assert r.status_code == 413 and "decode" in r.json()["detail"], r.text
        rows = json.dumps([{"example_id": f"e{i}"} for i in range(10_001)]).encode()
        r = upload(client, headers, pid, rows, name="x.json")
        assert r.status_code == 413 and "rows" in r.json()["detail"], r.text
        wide = json.dumps([{"example_id": "e", **{f"c{i}": 1 for i in range(60)}}]).encode()
        r = upload(client, headers, pid, wide, name="x.json")
        assert r.status_code == 413 and "columns" in r.json()["detail"], r.text
        assert client.get(f"/api/v1/projects/{pid}", headers=headers).json()["n_examples"] == 0


def committed_or_session_token_str(session: Session) -> str:
    from app.services.auth import create_token

    return create_token(session=session, name="t").token


# -- values that break later --------------------------------------------------------------
def test_integer_beyond_int64_is_refused_naming_row_and_column(
    client: TestClient, admin_headers: H
) -> None:
    pid = post_project(client, admin_headers)
    for content, name in (
        (b"example_id,big\ne0,1\ne1,99999999999999999999\n", "x.csv"),
        (
            b'[{"example_id": "e0", "big": 1}, {"example_id": "e1", "big": -99999999999999999999}]',
            "x.json",
        ),
    ):
        r = upload(client, admin_headers, pid, content, name=name)
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert "row 1" in detail and "'big'" in detail and "99999999999999999999" in detail
    # Exports of the project keep working (nothing half-stored).
    assert upload(client, admin_headers, pid, b"example_id,big\ne0,1\n").status_code == 201
    r = client.post(f"/api/v1/projects/{pid}/exports", headers=admin_headers)
    assert r.status_code == 201, r.text


def test_deeply_nested_json_is_4xx(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers)
    deep = b"[" * 100_000 + b"]" * 100_000
    r = upload(client, admin_headers, pid, deep, name="x.json")
    assert r.status_code == 422 and "nested" in r.json()["detail"], r.text
    r = client.post(
        "/api/v1/projects",
        content=b"[" * 100_000,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text


def test_short_csv_row_is_refused_naming_row_and_column(
    client: TestClient, admin_headers: H
) -> None:
    pid = post_project(client, admin_headers, sensitive_column="sex")
    r = upload(client, admin_headers, pid, b"example_id,age,sex\ne1,20,F\ne2,30\n")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "row 1" in detail and "'sex'" in detail
    assert client.get(f"/api/v1/projects/{pid}", headers=admin_headers).json()["n_examples"] == 0


def test_error_messages_show_plain_values(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers)
    assert upload(client, admin_headers, pid, b"example_id,a\ne1,1\n").status_code == 201
    r = import_answers(client, admin_headers, pid, b"example_id,worker_id,value\ne1,w,0\n")
    assert r.status_code == 422
    assert "np." not in r.json()["detail"] and "'value': 0 is not" in r.json()["detail"]


# -- CSV formula injection ----------------------------------------------------------------
FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def test_csv_export_neutralises_formulas(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers)
    rows = [{"example_id": f"e{i}", "note": f} for i, f in enumerate(FORMULAS)]
    rows.append({"example_id": "=id", "note": "plain"})
    assert upload(client, admin_headers, pid, json.dumps(rows).encode(), name="x.json").status_code
    answers = "example_id,worker_id,value\n" + "".join(f"{r['example_id']},w,4\n" for r in rows)
    r = import_answers(client, admin_headers, pid, answers.encode())
    assert r.status_code == 201, r.text
    export = client.post(f"/api/v1/projects/{pid}/exports", headers=admin_headers).json()
    got = client.get(f"/api/v1/exports/{export['id']}/download", headers=admin_headers)
    assert got.headers["X-Checksum-SHA256"] == hashlib.sha256(got.content).hexdigest()
    assert b",'\rx" in got.content and b",\rx" not in got.content
    table = list(csv.DictReader(io.StringIO(got.content.decode().replace("\r", ""), newline="")))
    notes = {row["note"] for row in table}
    assert notes == {"'" + f.replace("\r", "") for f in FORMULAS} | {"plain"}
    assert "'=id" in {row["example_id"] for row in table}
    for row in table:
        for value in row.values():
            assert value[:1] not in ("=", "+", "-", "@", "\t", "\r") or value == "-1"
    url = f"/api/v1/exports/{export['id']}/download"
    lines = client.get(url, params={"format": "jsonl"}, headers=admin_headers).text.splitlines()
    assert {json.loads(line)["note"] for line in lines} == set(FORMULAS) | {"plain"}
    parquet = client.get(url, params={"format": "parquet"}, headers=admin_headers).content
    assert set(pd.read_parquet(io.BytesIO(parquet))["note"]) == set(FORMULAS) | {"plain"}


# -- contract --------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["sqlite", "postgres"])
def test_lost_database_is_a_json_503_with_retry_after(where: str, tmp_path: Path) -> None:
    url = (
        f"sqlite:///{tmp_path}/missing-dir/none.db"
        if where == "sqlite"
        else "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2"
    )
    app = create_app(Settings(environment="test", database_url=url, artifact_dir=tmp_path))
    client = TestClient(app, raise_server_exceptions=False)  # no lifespan: the DB is gone
    r = client.get("/api/v1/projects", headers={"Authorization": "Bearer frt_x"})
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "database_unavailable"
    assert int(r.headers["Retry-After"]) > 0


def test_timestamps_read_back_in_utc(
    client: TestClient, admin_headers: H, session: Session
) -> None:
    pid = post_project(client, admin_headers)
    session.expire_all()  # read the row back from the database, not the identity map
    body = client.get(f"/api/v1/projects/{pid}", headers=admin_headers).json()
    for key in ("created_at", "updated_at"):
        value = pd.Timestamp(body[key])
        assert value.tzinfo is not None and value.utcoffset() == pd.Timedelta(0), body[key]


def test_422_body_matches_the_openapi_schema(client: TestClient, admin_headers: H) -> None:
    doc = client.get("/openapi.json").json()
    schema = doc["paths"]["/api/v1/projects"]["post"]["responses"]["422"]["content"]
    ref = schema["application/json"]["schema"]
    r = client.post("/api/v1/projects", json={"name": 5}, headers=admin_headers)
    assert r.status_code == 422
    jsonschema_rs.validate({**ref, "components": doc["components"]}, r.json())
    assert r.json()["detail"]  # still says what is wrong


def test_integers_are_strict(client: TestClient, admin_headers: H) -> None:
    r = client.post(
        "/api/v1/projects",
        json={"name": "p", "question": "q?", "max_answers": True},
        headers=admin_headers,
    )
    assert r.status_code == 422, r.text
    r = client.post(
        "/api/v1/projects",
        json={"name": "p", "question": "q?", "max_answers": "3"},
        headers=admin_headers,
    )
    assert r.status_code == 422, r.text
    r = client.post("/api/v1/hits/1/extend", json={"assignments": True}, headers=admin_headers)
    assert r.status_code == 422, r.text
    r = client.post("/api/v1/projects/1/hits/publish", json={"dry_run": 1}, headers=admin_headers)
    assert r.status_code == 422, r.text


def test_one_publish_request_is_bounded(client: TestClient, admin_headers: H) -> None:
    pid = post_project(
        client,
        admin_headers,
        provider="link",
        questions_per_hit=2,
        gold_per_hit=0,
        max_answers=1,
    )
    ids = "".join(f"e{i},1\n" for i in range(50))
    assert upload(client, admin_headers, pid, f"example_id,a\n{ids}".encode()).status_code == 201
    url = f"/api/v1/projects/{pid}/hits/publish"
    r = client.post(url, json={"max_hits": 10}, headers=admin_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 10 and body["remaining_hits"] == 15
    assert any("publish again" in w for w in body["warnings"])
    total = 10
    while body["remaining_hits"]:
        body = client.post(url, json={"max_hits": 10}, headers=admin_headers).json()
        total += body["created"]
    assert total == 25
    r = client.post(url, json={"max_hits": 10**6}, headers=admin_headers)
    assert r.status_code == 422 and "max_hits" in r.text


def test_other_request_bodies_are_bounded(client: TestClient, admin_headers: H) -> None:
    from app.api.contract import MAX_BODY_BYTES

    huge = b'{"name": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    r = client.post(
        "/api/v1/projects",
        content=huge,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"

    def chunks() -> Any:
        for _ in range(20):
            yield b"x" * (1 << 20)

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = client.post("/admin/login", content=chunks(), headers=form)
    assert r.status_code == 413


def test_publish_settings_values_are_typed(client: TestClient, admin_headers: H) -> None:
    pid = post_project(client, admin_headers)
    url = f"/api/v1/projects/{pid}/publish-settings"
    for bad in (
        {"hit_options": {"lifetime_seconds": [{}, [True]]}},
        {"hit_options": {"lifetime_seconds": 5}},
        {"review_policy": {"reject_below": "half"}},
        {"review_policy": {"bonus_reason": {"x": "\x00"}}},
    ):
        assert client.patch(url, json=bad, headers=admin_headers).status_code == 422, bad
    r = client.patch(url, json={"hit_options": {"lifetime_seconds": 600}}, headers=admin_headers)
    assert r.status_code == 200 and r.json()["hit_options"]["lifetime_seconds"] == 600
    assert r.json()["hit_options"]["frame_height"] == 0  # the others keep their values


def test_processes_starting_together_agree_on_the_development_key(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from app.core.config import dev_key_path, load_or_create_dev_key

    url = f"sqlite:///{tmp_path}/race.db"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_or_create_dev_key(url), range(32)))
    assert len(keys) == 1
    assert dev_key_path(url).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["race.db.secret_key"]  # no temp files left
