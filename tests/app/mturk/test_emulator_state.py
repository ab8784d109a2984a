"""State machines and rules (docs/MTURK.md §3 and §7), driven through boto3 over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.mturk.client import MTurkClient
from app.mturk.emulator import Emulator, WorkerError
from app.mturk.errors import (
    ASSIGNMENT_DOES_NOT_EXIST,
    DUPLICATE_REQUEST,
    HIT_ALREADY_EXISTS,
    INVALID_ASSIGNMENT_STATE,
    INVALID_HIT_STATE,
    INVALID_MAX_ASSIGNMENTS_INCREASE,
    MTurkDuplicateRequest,
    MTurkHitAlreadyExists,
    MTurkRequestError,
)

from .conftest import make_hit, submitted, worker


def status(mt: MTurkClient, hit_id: str) -> tuple[str, int, int, int]:
    h = mt.get_hit(hit_id)
    return (
        h["HITStatus"],
        h["NumberOfAssignmentsPending"],
        h["NumberOfAssignmentsAvailable"],
        h["NumberOfAssignmentsCompleted"],
    )


def test_one_assignment_per_worker_even_after_submission(mt: MTurkClient, emu: Emulator) -> None:
    hit = make_hit(mt)
    acc = emu.worker_accept(hit["HITId"], worker(1))
    with pytest.raises(WorkerError) as info:
        emu.worker_accept(hit["HITId"], worker(1))
    assert info.value.status == 409 and info.value.code == "already_accepted"
    emu.worker_submit(acc["assignmentId"], {"q": "1"})
    with pytest.raises(WorkerError, match="one assignment per worker"):
        emu.worker_accept(hit["HITId"], worker(1))


def test_max_assignments_and_derived_status(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, max_assignments=2)["HITId"]
    assert status(mt, hit_id) == ("Assignable", 0, 2, 0)
    a1 = emu.worker_accept(hit_id, worker(1))["assignmentId"]
    a2 = emu.worker_accept(hit_id, worker(2))["assignmentId"]
    assert status(mt, hit_id) == ("Unassignable", 2, 0, 0)
    with pytest.raises(WorkerError) as info:
        emu.worker_accept(hit_id, worker(3))
    assert info.value.code == "hit_not_assignable"
    emu.worker_submit(a1, {"q": "1"})
    # A submitted-but-unreviewed assignment counts in none of the three numbers.
    assert status(mt, hit_id) == ("Unassignable", 1, 0, 0)
    emu.worker_submit(a2, {"q": "2"})
    assert status(mt, hit_id) == ("Reviewable", 0, 0, 0)
    mt.approve_assignment(a1)
    mt.reject_assignment(a2, feedback="wrong gold answers")
    assert status(mt, hit_id) == ("Reviewable", 0, 0, 2)


def test_return_frees_the_slot_only_before_expiry(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, max_assignments=2, lifetime=100, duration=1000)["HITId"]
    a1 = emu.worker_accept(hit_id, worker(1))["assignmentId"]
    emu.worker_return(a1, worker(1))
    assert status(mt, hit_id) == ("Assignable", 0, 2, 0)
    emu.worker_accept(hit_id, worker(1))  # a returned worker may accept again
    a2 = emu.worker_accept(hit_id, worker(2))["assignmentId"]
    emu.clock.advance(101)
    assert status(mt, hit_id) == ("Unassignable", 2, 0, 0)
    emu.worker_return(a2)
    assert status(mt, hit_id) == ("Unassignable", 1, 0, 0)  # the slot stays used
    with pytest.raises(WorkerError, match="expired"):
        emu.worker_accept(hit_id, worker(3))


def test_abandonment_at_the_assignment_deadline(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, max_assignments=1, duration=60)["HITId"]
    aid = emu.worker_accept(hit_id, worker(1))["assignmentId"]
    emu.clock.advance(61)
    assert status(mt, hit_id) == ("Assignable", 0, 1, 0)
    with pytest.raises(WorkerError) as info:
        emu.worker_submit(aid, {"q": "1"})
    assert info.value.status == 404


def test_expiry_blocks_accepts_but_in_progress_work_may_still_submit(
    mt: MTurkClient, emu: Emulator
) -> None:
    hit_id = make_hit(mt, max_assignments=3, lifetime=60, duration=600)["HITId"]
    aid = emu.worker_accept(hit_id, worker(1))["assignmentId"]
    emu.clock.advance(120)
    assert status(mt, hit_id)[0] == "Unassignable"
    with pytest.raises(WorkerError, match="expired"):
        emu.worker_accept(hit_id, worker(2))
    emu.worker_submit(aid, {"q": "1"})
    h = mt.get_hit(hit_id)
    # Mephisto's "expired" test: Reviewable with slots still available.
    assert h["HITStatus"] == "Reviewable" and h["NumberOfAssignmentsAvailable"] == 2
    mt.update_expiration(hit_id, datetime.now(UTC) + timedelta(days=2))
    assert status(mt, hit_id)[0] == "Assignable"


def test_update_expiration_rules(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, lifetime=3600)["HITId"]
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    mt.update_expiration(hit_id, later)
    with pytest.raises(MTurkDuplicateRequest) as info:
        mt.update_expiration(hit_id, later)
    assert info.value.turk_error_code == DUPLICATE_REQUEST
    assert "has already been processed" in info.value.detail
    with pytest.raises(MTurkRequestError, match="only be extended"):
        mt.update_expiration(hit_id, later - timedelta(days=1))
    mt.expire_hit(hit_id)
    assert status(mt, hit_id)[0] == "Reviewable"
    assert mt.get_hit(hit_id)["Expiration"] <= datetime.now(UTC) + timedelta(seconds=1)


def test_approve_reject_state_machine(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, max_assignments=3)["HITId"]
    a1, a2, a3 = (submitted(emu, hit_id, n) for n in (1, 2, 3))
    mt.approve_assignment(a1, feedback="thanks")
    for call in (lambda: mt.approve_assignment(a1), lambda: mt.reject_assignment(a1, feedback="x")):
        with pytest.raises(MTurkRequestError) as info:
            call()
        assert info.value.turk_error_code == INVALID_ASSIGNMENT_STATE
        assert info.value.status_code == 409
        assert "This operation can be called with a status of: Submitted" in info.value.detail
    assert mt.ensure_approved(a1) is False  # idempotent helper: already approved
    mt.reject_assignment(a2, feedback="failed gold checks")
    with pytest.raises(MTurkRequestError):
        mt.approve_assignment(a2)
    with pytest.raises(MTurkRequestError):
        mt.ensure_approved(a2)  # rejected: not silently accepted
    mt.approve_assignment(a2, override_rejection=True)
    got = mt.get_assignment(a2)["Assignment"]
    assert got["AssignmentStatus"] == "Approved" and "ApprovalTime" in got
    assert mt.ensure_rejected(a3, feedback="bad") is True
    assert mt.ensure_rejected(a3, feedback="bad") is False
    assert got["RequesterFeedback"] == "failed gold checks"


def test_override_rejection_window_is_30_days(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, max_assignments=1, auto_approval=2_592_000)["HITId"]
    aid = submitted(emu, hit_id, 1)
    mt.reject_assignment(aid, feedback="no")
    emu.clock.advance(31 * 86400)
    with pytest.raises(MTurkRequestError, match="30 days"):
        mt.approve_assignment(aid, override_rejection=True)


def test_auto_approval_then_reject_fails(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, auto_approval=60)["HITId"]
    aid = submitted(emu, hit_id, 1)
    assert mt.get_assignment(aid)["Assignment"]["AssignmentStatus"] == "Submitted"
    emu.clock.advance(61)
    a = mt.get_assignment(aid)["Assignment"]
    assert a["AssignmentStatus"] == "Approved" and a["ApprovalTime"] == a["AutoApprovalTime"]
    with pytest.raises(MTurkRequestError) as info:
        mt.reject_assignment(aid, feedback="too late")
    assert info.value.turk_error_code == INVALID_ASSIGNMENT_STATE


def test_in_progress_assignments_are_invisible(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt)["HITId"]
    acc = emu.worker_accept(hit_id, worker(1))
    assert list(mt.iter_assignments(hit_id)) == []
    for call in (
        lambda: mt.get_assignment(acc["assignmentId"]),
        lambda: mt.send_bonus(
            worker_id=worker(1),
            assignment_id=acc["assignmentId"],
            amount="0.10",
            reason="r",
            unique_request_token="b1",
        ),
        lambda: mt.approve_assignment(acc["assignmentId"]),
    ):
        with pytest.raises(MTurkRequestError, match="does not exist") as info:
            call()
        assert info.value.turk_error_code == ASSIGNMENT_DOES_NOT_EXIST
        assert info.value.status_code == 404


def test_list_assignments_status_filter(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, max_assignments=3)["HITId"]
    a1, a2, a3 = (submitted(emu, hit_id, n) for n in (1, 2, 3))
    mt.approve_assignment(a1)
    mt.reject_assignment(a2, feedback="no")
    by = {
        s: [a["AssignmentId"] for a in mt.iter_assignments(hit_id, statuses=[s])]
        for s in ("Submitted", "Approved", "Rejected")
    }
    assert by == {"Submitted": [a3], "Approved": [a1], "Rejected": [a2]}
    assert {a["AssignmentId"] for a in mt.iter_assignments(hit_id)} == {a1, a2, a3}


def test_delete_hit_rules(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, max_assignments=1)["HITId"]
    with pytest.raises(MTurkRequestError) as info:
        mt.delete_hit(hit_id)
    assert info.value.turk_error_code == INVALID_HIT_STATE
    assert "currently in the state 'Assignable'" in info.value.detail
    aid = submitted(emu, hit_id, 1)
    with pytest.raises(MTurkRequestError, match="Reviewing, Reviewable"):
        mt.delete_hit(hit_id)  # Reviewable but one assignment is still Submitted
    mt.reject_assignment(aid, feedback="no")
    mt.delete_hit(hit_id)
    assert hit_id not in {h["HITId"] for h in mt.iter_hits()}
    assert mt.get_hit(hit_id)["HITStatus"] == "Disposed"
    with pytest.raises(MTurkRequestError, match="30 days"):
        mt.approve_assignment(aid, override_rejection=True)


def test_review_status_and_reviewing(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, max_assignments=1)["HITId"]
    with pytest.raises(MTurkRequestError):
        mt.update_hit_review_status(hit_id)  # Assignable cannot be set Reviewing
    aid = submitted(emu, hit_id, 1)
    mt.update_hit_review_status(hit_id)
    assert status(mt, hit_id)[0] == "Reviewing"
    mt.approve_assignment(aid)
    mt.delete_hit(hit_id)


def test_additional_assignments(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt, max_assignments=1)["HITId"]
    submitted(emu, hit_id, 1)
    assert status(mt, hit_id)[0] == "Reviewable"
    assert mt.create_additional_assignments(hit_id, 2, unique_request_token="more-1") is True
    assert status(mt, hit_id) == ("Assignable", 0, 2, 0)
    assert mt.create_additional_assignments(hit_id, 2, unique_request_token="more-1") is False
    assert mt.get_hit(hit_id)["MaxAssignments"] == 3
    with pytest.raises(MTurkRequestError) as info:
        mt.create_additional_assignments(hit_id, 7)
    assert info.value.turk_error_code == INVALID_MAX_ASSIGNMENTS_INCREASE
    mt.create_additional_assignments(hit_id, 6)
    assert mt.get_hit(hit_id)["MaxAssignments"] == 9


def test_unique_request_token_window(mt: MTurkClient, emu: Emulator) -> None:
    first = make_hit(mt, token="proj1-batch2-hit0")
    with pytest.raises(MTurkHitAlreadyExists) as info:
        make_hit(mt, token="proj1-batch2-hit0")
    assert info.value.turk_error_code == HIT_ALREADY_EXISTS
    assert info.value.existing_hit_id == first["HITId"]
    assert len(list(mt.iter_hits())) == 1
    emu.clock.advance(24 * 3600 + 1)  # the token is forgotten after 24 h
    second = make_hit(mt, token="proj1-batch2-hit0")
    assert second["HITId"] != first["HITId"]


def test_pagination_tokens_on_every_non_empty_page(mt: MTurkClient, emu: Emulator) -> None:
    for _ in range(23):
        make_hit(mt, max_assignments=1)
    sizes, token, tokens = [], None, []
    while True:
        page = mt.call("ListHITs", **({"NextToken": token} if token else {}))
        sizes.append(page["NumResults"])
        token = page.get("NextToken")
        tokens.append(token)
        if not token:
            break
    assert sizes == [10, 10, 3, 0]  # default page size 10; empty final page without a token
    assert all(tokens[:3]) and tokens[3] is None
    paginator = mt.boto_client.get_paginator("list_hits")
    ids = [
        h["HITId"] for p in paginator.paginate(PaginationConfig={"PageSize": 7}) for h in p["HITs"]
    ]
    assert len(ids) == len(set(ids)) == 23
    assert len(list(mt.iter_hits(page_size=5))) == 23
    with pytest.raises(MTurkRequestError, match="pagination token"):
        mt.call("ListHITs", NextToken="garbage")


def test_worker_blocks(mt: MTurkClient, emu: Emulator) -> None:
    with pytest.raises(MTurkRequestError) as info:
        mt.create_worker_block(worker(99), "spam")  # unknown to the requester
    assert info.value.aws_code == "ParameterValidationError"
    hit_id = make_hit(mt, max_assignments=2)["HITId"]
    submitted(emu, hit_id, 1)
    mt.create_worker_block(worker(1), "failed gold")
    assert [b["WorkerId"] for b in mt.iter_worker_blocks()] == [worker(1)]
    other = make_hit(mt, max_assignments=2)["HITId"]
    with pytest.raises(WorkerError) as winfo:
        emu.worker_accept(other, worker(1))
    assert winfo.value.code == "worker_blocked"
    mt.delete_worker_block(worker(1))
    mt.delete_worker_block(worker(1))  # succeeds even if not blocked
    emu.worker_accept(other, worker(1))


def test_qualification_requirements(mt: MTurkClient, emu: Emulator) -> None:
    qt = mt.create_qualification_type(
        Name="gold-score", Description="d", QualificationTypeStatus="Active"
    )
    with pytest.raises(MTurkRequestError, match="already created a QualificationType"):
        mt.create_qualification_type(
            Name="gold-score", Description="d", QualificationTypeStatus="Active"
        )
    req = [
        {
            "QualificationTypeId": qt["QualificationTypeId"],
            "Comparator": "GreaterThanOrEqualTo",
            "IntegerValues": [80],
        },
        {
            "QualificationTypeId": "00000000000000000071",
            "Comparator": "In",
            "LocaleValues": [{"Country": "US"}, {"Country": "CA"}],
        },
    ]
    hit_id = make_hit(mt, max_assignments=5, quals=req)["HITId"]
    with pytest.raises(WorkerError, match="qualification"):
        emu.worker_accept(hit_id, worker(1))
    mt.associate_qualification(qt["QualificationTypeId"], worker(1), 90)
    mt.associate_qualification(qt["QualificationTypeId"], worker(2), 90)
    mt.associate_qualification(qt["QualificationTypeId"], worker(2), 70)  # overwrites
    scores = {
        q["WorkerId"]: q["IntegerValue"]
        for q in mt.iter_workers_with_qualification(qt["QualificationTypeId"])
    }
    assert scores == {worker(1): 90, worker(2): 70}
    emu.worker_accept(hit_id, worker(1))
    with pytest.raises(WorkerError):
        emu.worker_accept(hit_id, worker(2))
    mt.associate_qualification(qt["QualificationTypeId"], worker(3), 95)
    emu.set_worker_profile(worker(3), Locale={"Country": "DE"})
    with pytest.raises(WorkerError, match="00000000000000000071"):
        emu.worker_accept(hit_id, worker(3))


def test_notify_workers_reports_failures_instead_of_raising(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt)["HITId"]
    mt.approve_assignment(submitted(emu, hit_id, 1))
    failures = mt.notify_workers(
        subject="New batch", message="Hi", worker_ids=[worker(1), worker(2)]
    )
    assert [(f["WorkerId"], f["NotifyWorkersFailureCode"]) for f in failures] == [
        (worker(2), "HardFailure")
    ]


def test_list_reviewable_hits(mt: MTurkClient, emu: Emulator) -> None:
    done = make_hit(mt, max_assignments=1)["HITId"]
    make_hit(mt, max_assignments=1)
    submitted(emu, done, 1)
    page = mt.call("ListReviewableHITs")
    assert [h["HITId"] for h in page["HITs"]] == [done]
    mt.update_hit_review_status(done)
    assert mt.call("ListReviewableHITs")["HITs"] == []
    assert [h["HITId"] for h in mt.call("ListReviewableHITs", Status="Reviewing")["HITs"]] == [done]


def test_post_create_lag_for_extend_and_delete(mt: MTurkClient, emu: Emulator) -> None:
    emu.faults.set(create_lag_seconds=15)
    hit_id = make_hit(mt, max_assignments=1)["HITId"]
    with pytest.raises(MTurkRequestError, match="does not exist"):
        mt.create_additional_assignments(hit_id, 1)
    assert mt.get_hit(hit_id)["MaxAssignments"] == 1  # GetHIT is immediately consistent
    emu.clock.advance(16)
    mt.create_additional_assignments(hit_id, 1)
    assert mt.get_hit(hit_id)["MaxAssignments"] == 2


def test_qualification_listing_and_score(mt: MTurkClient, emu: Emulator) -> None:
    qt = mt.create_qualification_type(
        Name="English test", Description="passes", QualificationTypeStatus="Active"
    )["QualificationTypeId"]
    mt.create_qualification_type(Name="Other", Description="x", QualificationTypeStatus="Inactive")
    found = mt.call("ListQualificationTypes", MustBeRequestable=False, Query="english")
    assert [q["QualificationTypeId"] for q in found["QualificationTypes"]] == [qt]
    mt.associate_qualification(qt, worker(1), 77)
    score = mt.call("GetQualificationScore", QualificationTypeId=qt, WorkerId=worker(1))
    assert score["Qualification"]["IntegerValue"] == 77
    with pytest.raises(MTurkRequestError):
        mt.call("GetQualificationScore", QualificationTypeId=qt, WorkerId=worker(2))
    with pytest.raises(MTurkRequestError, match="mutually exclusive"):
        mt.create_qualification_type(
            Name="q2",
            Description="d",
            QualificationTypeStatus="Active",
            AutoGranted=True,
            Test="<x/>",
            TestDurationInSeconds=60,
        )
