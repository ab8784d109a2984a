"""The emulator's wire protocol, checked with raw HTTP (what boto3 cannot send) and boto3."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from app.mturk.client import MTurkClient
from app.mturk.emulator import Emulator
from app.mturk.errors import MTurkRequestError

from .conftest import make_hit, worker

TARGET = "MTurkRequesterServiceV20170117"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/mturk-requester/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "a" * 64
)


def raw(emu: Emulator, op: str, body: Any, **headers: str) -> httpx.Response:
    h = {
        "X-Amz-Target": f"{TARGET}.{op}",
        "Content-Type": "application/x-amz-json-1.1",
        "Authorization": AUTH,
        **headers,
    }
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(emu.url + "/", content=data, headers={k: v for k, v in h.items() if v})


def test_success_shape_and_request_id(emu: Emulator) -> None:
    r = raw(emu, "GetAccountBalance", {})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-amz-json-1.1"
    assert re.fullmatch(r"[0-9a-f-]{36}", r.headers["x-amzn-requestid"])
    assert r.json() == {"AvailableBalance": "10000.00", "OnHoldBalance": "0.00"}


@pytest.mark.parametrize(
    "headers, status, etype",
    [
        ({"Authorization": ""}, 403, "MissingAuthenticationTokenException"),
        ({"Authorization": "Bearer x"}, 403, "IncompleteSignatureException"),
        (
            {"Authorization": AUTH.replace("mturk-requester", "s3")},
            403,
            "IncompleteSignatureException",
        ),
        ({"X-Amz-Target": "Other.GetHIT"}, 400, "UnknownOperationException"),
        ({"X-Amz-Target": f"{TARGET}.NoSuchOp"}, 400, "UnknownOperationException"),
        ({"Content-Type": "application/json"}, 400, "SerializationException"),
    ],
)
def test_protocol_errors(emu: Emulator, headers: dict[str, str], status: int, etype: str) -> None:
    r = raw(emu, "GetAccountBalance", {}, **headers)
    assert r.status_code == status and r.json()["__type"] == etype


def test_request_error_wire_body(emu: Emulator) -> None:
    r = raw(emu, "GetHIT", {"HITId": "ABC"})
    body = r.json()
    assert r.status_code == 400 and set(body) == {"__type", "Message", "TurkErrorCode"}
    assert body["__type"] == "RequestError"
    assert body["TurkErrorCode"] == "AWS.MechanicalTurk.HITDoesNotExist"
    assert re.fullmatch(r"Hit ABC does not exist\. \(\d{13}\)", body["Message"])


@pytest.mark.parametrize(
    "op, body, fragment",
    [
        (
            "ListHITs",
            {"MaxResults": 101},
            "at 'maxResults' failed to satisfy constraint: "
            "Member must have value less than or equal to 100",
        ),
        (
            "SendBonus",
            {"WorkerId": "A1", "AssignmentId": "X", "BonusAmount": "0.9752", "Reason": "r"},
            "Value '0.9752' at 'bonusAmount' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern",
        ),
        (
            "ListAssignmentsForHIT",
            {"HITId": "X", "AssignmentStatuses": ["Bogus"]},
            "at 'assignmentStatuses.1.member' failed to satisfy constraint: "
            "Member must satisfy enum value set",
        ),
        (
            "CreateWorkerBlock",
            {"WorkerId": "A1"},
            "Value null at 'reason' failed to satisfy constraint: Member must not be null",
        ),
        (
            "CreateHITWithHITType",
            {"HITTypeId": "X", "LifetimeInSeconds": 60, "UniqueRequestToken": "t" * 65},
            "at 'uniqueRequestToken' failed to satisfy constraint: "
            "Member must have length less than or equal to 64",
        ),
        (
            "CreateQualificationType",
            {"Name": "n", "Description": "d", "QualificationTypeStatus": "Weird"},
            "at 'qualificationTypeStatus'",
        ),
        ("GetHIT", {"HITId": "lower"}, "regular expression pattern: ^[A-Z0-9]+$"),
    ],
)
def test_server_enforces_what_botocore_does_not(
    emu: Emulator, op: str, body: dict[str, Any], fragment: str
) -> None:
    r = raw(emu, op, body)
    assert r.status_code == 400
    payload = r.json()
    assert payload["__type"] == "ValidationException"
    assert payload["message"].startswith("1 validation error detected: ")
    assert fragment in payload["message"]


def test_type_mismatch_is_serialization_error(emu: Emulator) -> None:
    r = raw(emu, "ListHITs", {"MaxResults": "ten"})
    assert r.status_code == 400 and r.json()["__type"] == "SerializationException"
    r = raw(emu, "ListHITs", b"{not json")
    assert r.status_code == 400 and r.json()["__type"] == "SerializationException"


def test_unset_members_are_left_out_and_times_are_epoch_numbers(
    emu: Emulator, mt: MTurkClient
) -> None:
    hit = make_hit(mt)
    acc = emu.worker_accept(hit["HITId"], worker(1))
    emu.worker_submit(acc["assignmentId"], {"q": "1"})
    body = raw(emu, "ListAssignmentsForHIT", {"HITId": hit["HITId"]}).json()
    (a,) = body["Assignments"]
    assert not {"ApprovalTime", "RejectionTime", "RequesterFeedback", "Deadline"} & set(a)
    assert isinstance(a["SubmitTime"], float) and a["AssignmentStatus"] == "Submitted"
    assert "null" not in json.dumps(body)


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"LifetimeInSeconds": 10}, "ValidationException"),
        ({"Title": "x" * 129}, "ValidationException"),
        ({"Question": "<nope/>"}, "AWS.MechanicalTurk.XMLParseError"),
        ({"Question": None}, "AWS.ParameterOutOfRange"),
        ({"Reward": "0.00"}, "AWS.ParameterOutOfRange"),
    ],
)
def test_create_hit_business_and_bounds_errors(
    mt: MTurkClient, kwargs: dict[str, Any], code: str
) -> None:
    params: dict[str, Any] = {
        "LifetimeInSeconds": 600,
        "AssignmentDurationInSeconds": 600,
        "Reward": "0.10",
        "Title": "t",
        "Description": "d",
        "Question": (
            '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas'
            '/2006-07-14/ExternalQuestion.xsd"><ExternalURL>https://a.example/t</ExternalURL>'
            "<FrameHeight>0</FrameHeight></ExternalQuestion>"
        ),
    }
    params.update(kwargs)
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(MTurkRequestError) as info:
        mt.create_hit(**params)
    assert code in (info.value.turk_error_code, info.value.aws_code)


def test_http_external_url_refused_by_an_https_only_emulator() -> None:
    from app.mturk.emulator import run_emulator

    from .conftest import client_for

    with run_emulator() as strict:
        mt, oracle = client_for(strict.url)
        with pytest.raises(MTurkRequestError, match="https") as info:
            make_hit(mt)
        assert info.value.turk_error_code == "AWS.MechanicalTurk.XMLParseError"
        assert oracle.problems == []


def test_create_hit_derives_type_and_hit_type_is_deduplicated(mt: MTurkClient) -> None:
    props = {"Title": "t", "Description": "d", "Reward": "0.10", "AssignmentDurationInSeconds": 300}
    t1 = mt.create_hit_type(**props)
    assert mt.create_hit_type(**props) == t1
    assert mt.create_hit_type(**{**props, "Reward": "0.11"}) != t1
    hit = mt.create_hit(
        **props,
        LifetimeInSeconds=300,
        Question=(
            '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
            '2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA[<p>hi</p>]]></HTMLContent>'
            "<FrameHeight>0</FrameHeight></HTMLQuestion>"
        ),
    )
    assert hit["HITTypeId"] == t1 and hit["HITStatus"] == "Assignable"
    assert hit["MaxAssignments"] == 1 and hit["NumberOfAssignmentsAvailable"] == 1
    assert hit["AutoApprovalDelayInSeconds"] == 2_592_000


def test_shape_oracle_catches_bad_responses() -> None:
    from .conftest import MODEL, check_shape

    out = MODEL.operation_model("GetHIT").output_shape
    problems: list[str] = []
    bad_hit = {
        "HITId": 5,
        "HITStatus": "Open",
        "Bogus": 1,
        "CreationTime": "2020-01-01",
        "Reward": None,
    }
    check_shape(out, {"HIT": bad_hit}, "GetHIT", problems)
    joined = "\n".join(problems)
    for needle in (
        "HITId: expected string",
        "not in enum",
        "Bogus: not a member",
        "epoch-second",
        "null",
    ):
        assert needle in joined
