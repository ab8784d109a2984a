"""The training-job page over HTTP (both databases), from a real FR-Train run's stored results:
status and progress, the chosen grid point per seed and why, every grid point's validation and
test metrics (checked against the result JSON), the labels each was scored against, the
trade-off plot inline, artifacts, fields the trainer adds later, and a failed job's one-line
reason with the full log behind a signed-in link, never server paths."""

from __future__ import annotations

import copy
import re
import shutil
from html import unescape
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.schemas.jobs import BuiltinData, JobCreate
from app.services import jobs as job_service
from tests.app.admin.test_admin_pages import is_login_redirect, sign_in
from trainer import api as trainer_api

SPEC = {
    "data": {"builtin": "synthetic"},
    "method": "fr-train",
    "hyperparameters": {"epochs": 3, "pretrain_epochs": 1, "l1": [0.1, 0.4, 0.7], "l2": [0.2]},
    "seeds": [0, 1],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One small FR-Train grid (3 points, 2 seeds), trained once for the module."""
    folder = tmp_path_factory.mktemp("run")
    results = trainer_api.run_training(SPEC, artifact_dir=folder, threads=1)
    return results, folder


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def finished_job(
    session: Session,
    settings: Settings,
    *,
    status: str,
    results: dict[str, Any] | None = None,
    files: Path | None = None,
    error: str | None = None,
) -> int:
    body = JobCreate(name="grid", data=BuiltinData(builtin="synthetic"), method="fr-train")
    job = job_service.create_job(session=session, settings=settings, body=body)
    claim = job_service.claim_next(session=session, worker_id="w", lease_seconds=60)
    assert claim is not None and claim.job_id == job.id
    names: list[str] = []
    if files is not None:
        attempt = job_service.job_folder(settings, job.id) / job_service.attempt_folder_name(claim)
        shutil.copytree(files, attempt)
        names = [f"{attempt.name}/{p.name}" for p in sorted(attempt.iterdir())]
    assert job_service.finish(
        session=session, claim=claim, status=status, results=results, error=error, artifacts=names
    )
    return job.id


def test_job_page_shows_every_grid_point_the_choice_and_the_plot(
    client: TestClient,
    session: Session,
    settings: Settings,
    admin_token: str,
    trained: tuple[dict[str, Any], Path],
) -> None:
    results, folder = copy.deepcopy(trained[0]), trained[1]
    results.pop("artifacts", None)
    # Fields a later trainer may add show up without the page knowing them.
    results["test_labels"] = "ground truth of the synthetic data set"
    results["summary"]["test"]["accuracy"]["ci_low"] = 0.5
    jid = finished_job(session, settings, status="succeeded", results=results, files=folder)
    sign_in(client, admin_token)

    jobs = client.get("/admin/jobs").text
    assert f'<a href="/admin/jobs/{jid}">#{jid}</a>' in jobs
    r = client.get(f"/admin/jobs/{jid}")
    assert r.status_code == 200
    html, page = r.text, text_of(r.text)
    assert "succeeded" in page and "100%" in page

    # Every grid point's validation and test accuracy: the mean over seeds of the stored values.
    n_points = len(results["seeds"][0]["grid"])
    assert n_points == 3  # l1 in (0.1, 0.4, 0.7) with l2 = 0.2
    for part, heading in (("val", "validation"), ("test", "test")):
        table = html.split(f'id="grid-{part}-h"')[1].split("</table>")[0]
        rows = table.split("<tbody>")[1].split("</tr>")[:-1]
        assert len(rows) == n_points
        for i, row in enumerate(rows):
            acc = mean(s["grid"][i][part]["accuracy"] for s in results["seeds"])
            assert f"{acc:.3f}" in row, (part, i)
            assert f"l1={results['seeds'][0]['grid'][i]['params']['l1']:.4g}" in row
        assert f"Every grid point: {heading} metrics" in page
    # The chosen point per seed and why (the reason the trainer recorded).
    chosen = html.split('id="chosen-h"')[1].split("</table>")[0]
    for s in results["seeds"]:
        assert f'<th scope="row">{s["seed"]}</th><td>#{s["selected"] + 1}</td>' in chosen
        # why: the reason the trainer recorded with its rule (docs/SELECTION.md)
        assert " ".join(s["selection_reason"].split()) in text_of(chosen)
    assert "rule 'interval'" in text_of(chosen)
    # Which labels: validation and test, plus the trainer's own statement.
    labels = text_of(html.split('id="labels-h"')[1].split("</section>")[0])
    assert "clean validation split of synthetic" in labels
    assert "test labels ground truth of the synthetic data set" in labels
    assert "ci low" in page  # a new summary statistic gets its own column
    # The plot inline, served as an image; every artifact linked.
    img = f'<img src="/admin/jobs/{jid}/artifacts/tradeoff.png"'
    assert img in html
    png = client.get(f"/admin/jobs/{jid}/artifacts/tradeoff.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["content-disposition"].startswith("inline")
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("model.pt", "config.json", "predictions.csv", "metrics.json"):
        assert f'href="/admin/jobs/{jid}/artifacts/{name}"' in html
    assert str(settings.artifact_dir) not in html and "attempt1-" not in html


def test_failed_job_shows_one_line_reason_and_log_for_admins(
    client: TestClient, session: Session, settings: Settings, admin_token: str
) -> None:
    error = (
        "FileNotFoundError: [Errno 2] No such file or directory: "
        "'/srv/frtrain/artifacts/jobs/7/attempt1-ab/inputs/validation.csv'\n\n"
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/site-packages/trainer/api.py", line 700, in run\n'
        "FileNotFoundError: ..."
    )
    jid = finished_job(session, settings, status="failed", error=error)
    assert is_login_redirect(client.get(f"/admin/jobs/{jid}/log", follow_redirects=False))
    sign_in(client, admin_token)
    for path in (f"/admin/jobs/{jid}", "/admin/jobs"):
        html = client.get(path).text
        assert "FileNotFoundError: [Errno 2] No such file or directory" in unescape(html)
        assert "…/validation.csv" in unescape(html)
        assert "/srv/" not in html and "/usr/lib" not in html and "Traceback" not in html
    page = client.get(f"/admin/jobs/{jid}").text
    assert f'href="/admin/jobs/{jid}/log"' in page
    log = client.get(f"/admin/jobs/{jid}/log")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    assert log.text == error
    ok = finished_job(session, settings, status="cancelled")
    assert client.get(f"/admin/jobs/{ok}/log").status_code == 404


def test_missing_artifact_store_names_no_server_path(
    client: TestClient, session: Session, settings: Settings, admin_token: str
) -> None:
    jid = finished_job(session, settings, status="succeeded", results={})
    with session.begin_nested():
        job = job_service.get_job_row(session=session, job_id=jid)
        job.artifacts = ["attempt1-x/tradeoff.png"]  # recorded, but not on this server's disk
    sign_in(client, admin_token)
    r = client.get(f"/admin/jobs/{jid}/artifacts/tradeoff.png")
    assert r.status_code == 404 and "is missing from the artifact store" in r.text
    assert str(settings.artifact_dir) not in r.text
    assert client.get("/admin/jobs/99999").status_code == 404
    assert client.get("/admin/jobs/abc").status_code == 404
