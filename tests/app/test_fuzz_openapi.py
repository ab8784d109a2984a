"""Property-based run over the OpenAPI schema: no request, however malformed, gets a 5xx
(except a mapped upstream failure such as MTurk being unreachable: 502 external_service_error).

Schemathesis generates schema-conforming and schema-violating requests for every operation
(bounded: at most MAX_EXAMPLES per operation, derandomised so a failure reproduces), half of
them aimed at a seeded project and export so the handlers behind the 404s run too.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from .test_data_import import import_answers, post_project, upload
from .test_quality_export import TOY_ANSWERS, TOY_EXAMPLES

MAX_EXAMPLES = 12
H = dict[str, str]


#: 5xx answers that are domain errors about something outside this process (here: no MTurk
#: endpoint is reachable from the test machine), not a crash on the request.
UPSTREAM_ERRORS = {"external_service_error", "database_unavailable"}


def _mapped_upstream_error(response: Any) -> bool:
    if response.status_code == 500:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") in UPSTREAM_ERRORS


def _strategies(op: Any, ids: dict[str, int]) -> list[Any]:
    real = {k: v for k, v in ids.items() if k in op.path_parameters}
    out = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        try:
            out.append(op.as_strategy(generation_mode=mode))
            if real:
                out.append(op.as_strategy(generation_mode=mode, path_parameters=real))
        except Exception:  # an operation without inputs has no negative cases
            continue
    return out


@pytest.mark.slow
def test_no_5xx_for_any_generated_request(
    app: FastAPI, client: TestClient, admin_headers: H
) -> None:
    pid = post_project(client, admin_headers)
    assert upload(client, admin_headers, pid, TOY_EXAMPLES).status_code == 201
    assert import_answers(client, admin_headers, pid, TOY_ANSWERS).status_code == 201
    export = client.post(f"/api/v1/projects/{pid}/exports", headers=admin_headers).json()
    ids = {"project_id": pid, "export_id": export["id"]}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        _fuzz(op, _strategies(op, ids), admin_headers, failures)
    assert not failures, "\n".join(failures[:10])


def _fuzz(op: Any, strategies: list[Any], admin_headers: H, failures: list[str]) -> None:
    label, protected = op.label, op.path.startswith("/api/")

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies), with_auth=st.booleans())
    def check(case: Any, with_auth: bool) -> None:
        headers = dict(case.headers or {})
        if with_auth:
            headers.update(admin_headers)
        response = case.call(headers=headers)
        if response.status_code >= 500 and not _mapped_upstream_error(response):
            failures.append(f"{label}: {response.status_code} for {case.as_curl_command()}")
        elif protected and not with_auth and response.status_code < 300:
            failures.append(f"{label}: {response.status_code} without a token")

    check()
