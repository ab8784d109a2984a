"""Projects API on both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_create_get_list_update_project(client: TestClient, admin_headers: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/projects",
        json={"name": "compas", "question": "Will this person reoffend within two years?"},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    # Paper §4.4 defaults.
    assert body["threshold"] == 2.5
    assert body["questions_per_hit"] == 30
    assert body["reward_per_answer"] == 0.03
    assert body["max_answers"] == 11
    assert len(body["scale_labels"]) == 4
    pid = body["id"]

    r = client.get(f"/api/v1/projects/{pid}", headers=admin_headers)
    assert r.status_code == 200 and r.json()["name"] == "compas"

    r = client.get("/api/v1/projects", headers=admin_headers)
    assert r.json()["count"] == 1 and r.json()["data"][0]["id"] == pid

    r = client.patch(
        f"/api/v1/projects/{pid}",
        json={"max_answers": 5, "sensitive_column": "gender", "visible_columns": ["age"]},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["max_answers"], r.json()["sensitive_column"]) == (5, "gender")
    assert r.json()["question"].startswith("Will this person")

    r = client.patch(
        f"/api/v1/projects/{pid}", json={"visible_columns": None}, headers=admin_headers
    )
    assert r.json()["visible_columns"] is None


def test_unknown_project_is_404(client: TestClient, admin_headers: dict[str, str]) -> None:
    r = client.get("/api/v1/projects/999999", headers=admin_headers)
    assert r.status_code == 404
    assert r.json() == {
        "error": "not_found",
        "detail": "project 999999 does not exist",
        "project_id": 999999,
    }


def test_invalid_project_is_422_naming_field(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    r = client.post(
        "/api/v1/projects",
        json={"name": "x", "question": "q", "threshold": 7, "scale_labels": ["a", "b"]},
        headers=admin_headers,
    )
    assert r.status_code == 422
    assert "threshold" in r.json()["detail"] and "scale_labels" in r.json()["detail"]
