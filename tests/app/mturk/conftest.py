"""Fixtures: an emulator per test on a free port, and a client whose every response is checked
against botocore's MTurk service model (raw JSON walk + botocore's own ParamValidator)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from app.core.config import Settings
from app.mturk.client import MTurkClient, make_mturk_client
from app.mturk.emulator import Emulator, synthetic_worker_id
from app.mturk.xml import external_question_xml

MODEL = botocore.session.get_session().get_service_model("mturk")
ERROR_TYPES = {
    400: {
        "RequestError",
        "ValidationException",
        "ThrottlingException",
        "ParameterValidationError",
        "SerializationException",
        "UnknownOperationException",
    },
    500: {"ServiceFault"},
    503: {"ServiceFault"},
}


def check_shape(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    """Walk raw response JSON against the model: no unknown members, no nulls, right JSON types,
    required members present, string patterns/enums/lengths and integer ranges respected."""
    t = shape.type_name
    md = shape.metadata
    if value is None:
        problems.append(f"{path}: null (unset members must be left out)")
        return
    if t == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected object")
            return
        for req in shape.required_members:
            if req not in value:
                problems.append(f"{path}.{req}: required member missing")
        for k, v in value.items():
            if k not in shape.members:
                problems.append(f"{path}.{k}: not a member of {shape.name}")
            else:
                check_shape(shape.members[k], v, f"{path}.{k}", problems)
    elif t == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected list")
            return
        for i, v in enumerate(value):
            check_shape(shape.member, v, f"{path}[{i}]", problems)
    elif t == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected string, got {type(value).__name__}")
            return
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in enum {shape.enum}")
        if md.get("pattern") and not re.search(md["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {md['pattern']}")
        if "max" in md and len(value) > md["max"]:
            problems.append(f"{path}: longer than {md['max']}")
        if "min" in md and len(value) < md["min"]:
            problems.append(f"{path}: shorter than {md['min']}")
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected integer")
    elif t == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected boolean")
    elif t == "timestamp":
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"{path}: timestamps must be epoch-second numbers")
    else:
        problems.append(f"{path}: unexpected shape type {t}")


class ShapeOracle:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked = 0

    def __call__(self, http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        self.checked += 1
        status = http_response.status_code
        headers = http_response.headers
        if not headers.get("x-amzn-RequestId"):
            self.problems.append(f"{model.name}: no x-amzn-RequestId header")
        if headers.get("Content-Type") != "application/x-amz-json-1.1":
            self.problems.append(f"{model.name}: content type {headers.get('Content-Type')}")
        body = json.loads(http_response.content)
        if status == 200:
            if model.output_shape is None:
                if body != {}:
                    self.problems.append(f"{model.name}: output should be {{}}")
                return
            check_shape(model.output_shape, body, model.name, self.problems)
            clean = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
            report = ParamValidator().validate(clean, model.output_shape)
            if report.has_errors():
                self.problems.append(f"{model.name}: {report.generate_report()}")
            return
        etype = body.get("__type")
        if etype not in ERROR_TYPES.get(status, set()):
            self.problems.append(f"{model.name}: error type {etype} with HTTP {status}")
        if etype in ("RequestError", "ServiceFault"):
            if set(body) != {"__type", "Message", "TurkErrorCode"}:
                self.problems.append(f"{model.name}: error body members {sorted(body)}")
            if not re.search(r" \(\d{13}\)$", body["Message"]):
                self.problems.append(f"{model.name}: message lacks the ' (epoch-ms)' suffix")


def client_for(url: str, **kw: Any) -> tuple[MTurkClient, ShapeOracle]:
    settings = Settings(_env_file=None, mturk_endpoint_url=url)  # type: ignore[call-arg]
    mt = make_mturk_client(settings, **kw)
    oracle = ShapeOracle()
    mt.boto_client.meta.events.register("after-call.mturk", oracle)
    return mt, oracle


@pytest.fixture
def mt(emu: Emulator) -> Iterator[MTurkClient]:
    client, oracle = client_for(emu.url)
    yield client
    assert oracle.problems == [], oracle.problems
    assert oracle.checked > 0  # the oracle really saw the responses


TASK_URL = "http://127.0.0.1:9/task?project=1&batch=2"


def worker(n: int | str) -> str:
    return synthetic_worker_id(f"worker_{n}")


def make_hit(
    mt: MTurkClient,
    *,
    max_assignments: int = 3,
    lifetime: int = 3600,
    duration: int = 600,
    auto_approval: int = 86400,
    reward: str = "0.30",
    token: str | None = None,
    quals: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    type_id = mt.create_hit_type(
        Title="Label examples",
        Description="Answer 30 questions",
        Reward=reward,
        AssignmentDurationInSeconds=duration,
        AutoApprovalDelayInSeconds=auto_approval,
        QualificationRequirements=quals or [],
    )
    params: dict[str, Any] = {
        "HITTypeId": type_id,
        "LifetimeInSeconds": lifetime,
        "MaxAssignments": max_assignments,
        "Question": external_question_xml(TASK_URL, 600, require_https=False),
        "RequesterAnnotation": "project=1;batch=2",
    }
    if token:
        params["UniqueRequestToken"] = token
    return mt.create_hit_with_hit_type(**params)


def submitted(emu: Emulator, hit_id: str, n: int, answers: dict[str, str] | None = None) -> str:
    acc = emu.worker_accept(hit_id, worker(n))
    emu.worker_submit(acc["assignmentId"], answers or {"q1": "2"})
    return str(acc["assignmentId"])
