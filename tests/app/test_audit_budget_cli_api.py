"""`frtrain crowd budget` / `frtrain crowd audit` on a small released-format file, and the audit
endpoint on a project with a sensitive column (both databases)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import root
from tests.app.crowd.synthetic import write_synthetic_csv

from .api_helpers import H, import_answers, post_project, upload
from .test_quality_export import TOY_ANSWERS, TOY_EXAMPLES, toy_project


def test_budget_cli_writes_table_json_and_plot(tmp_path: Path) -> None:
    csv = write_synthetic_csv(tmp_path / "crowd.csv", n_examples=60, n_answers=5, seed=3)
    out, png = tmp_path / "budget.json", tmp_path / "budget.png"
    result = CliRunner().invoke(
        root, ["crowd", "budget", "--csv", str(csv), "--json", str(out), "--plot", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert "fixed N=5" in result.output and "adaptive n_min=2,c=1.5" in result.output
    payload = json.loads(out.read_text())
    assert list(payload["fixed"]) == [str(n) for n in range(1, 12)]
    assert payload["fixed"]["5"]["answers_per_example"]["mean"] == 5.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_audit_cli_per_column(tmp_path: Path) -> None:
    csv = write_synthetic_csv(tmp_path / "crowd.csv", n_examples=60, n_answers=5, seed=3)
    out, png = tmp_path / "audit.json", tmp_path / "audit.png"
    args = ["crowd", "audit", "--csv", str(csv), "--column", "colour"]
    result = CliRunner().invoke(root, [*args, "--json", str(out), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    groups = json.loads(out.read_text())["audits"][0]["groups"]
    assert {g["group"] for g in groups} == {"red", "blue"}
    assert sum(g["n_examples"] for g in groups) == 60
    assert png.exists()
    bad = CliRunner().invoke(root, ["crowd", "audit", "--csv", str(csv), "--column", "nope"])
    assert bad.exit_code == 1 and "no such column" in bad.output


def test_audit_endpoint(client: TestClient, admin_headers: H) -> None:
    pid = toy_project(client, admin_headers)
    r = client.get(
        f"/api/v1/projects/{pid}/audit", params={"method": "mean"}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["column"] == "sex" and body["method"] == "mean"
    by_group = {g["group"]: g for g in body["groups"]}
    # `bad` is filtered; e1 (M) = mean(4, 3) -> +1, e2 (F) = 3 -> +1; gold g1, g3 (F) +1, g2 (M)
    # -1 by the crowd's answers; no example has a known label.
    assert by_group["M"]["n_examples"] == 2 and by_group["F"]["n_examples"] == 3
    assert by_group["M"]["label_accuracy"] is None
    assert by_group["F"]["crowd_positive_rate"] == 1.0
    # No sensitive column and none given: a clear 4xx.
    other = post_project(client, admin_headers)
    assert upload(client, admin_headers, other, TOY_EXAMPLES).status_code == 201
    assert import_answers(client, admin_headers, other, TOY_ANSWERS).status_code == 201
    r = client.get(f"/api/v1/projects/{other}/audit", headers=admin_headers)
    assert r.status_code == 422 and "sensitive_column" in r.text
    r = client.get(
        f"/api/v1/projects/{other}/audit", params={"column": "sex"}, headers=admin_headers
    )
    assert r.status_code == 200
