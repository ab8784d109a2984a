"""Helpers that drive the crowd API through a TestClient, shared by the API test modules."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

H = dict[str, str]


def post_project(client: TestClient, headers: H, **extra: Any) -> int:
    body = {"name": "p", "question": "Will this person reoffend?", **extra}
    r = client.post("/api/v1/projects", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def upload(
    client: TestClient, headers: H, pid: int, content: bytes, name: str = "x.csv", **params: Any
) -> Any:
    return client.post(
        f"/api/v1/projects/{pid}/examples",
        files={"file": (name, content)},
        params=params,
        headers=headers,
    )


def import_answers(
    client: TestClient, headers: H, pid: int, content: bytes, name: str = "a.csv", **params: Any
) -> Any:
    return client.post(
        f"/api/v1/projects/{pid}/answers/import",
        files={"file": (name, content)},
        params=params,
        headers=headers,
    )
