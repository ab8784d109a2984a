"""Fault injection against botocore's standard retries, and UniqueRequestToken de-duplication."""

from __future__ import annotations

import httpx

from app.mturk.client import MTurkClient
from app.mturk.emulator import Emulator
from app.mturk.xml import external_question_xml

from .conftest import TASK_URL, client_for, make_hit


def _publish(mt: MTurkClient, type_id: str, n: int, *, tokens: bool) -> list[str]:
    ids = []
    for i in range(n):
        params = {
            "HITTypeId": type_id,
            "LifetimeInSeconds": 3600,
            "MaxAssignments": 3,
            "Question": external_question_xml(f"{TASK_URL}&hit={i}", 0, require_https=False),
        }
        if tokens:
            ids.append(
                mt.create_hit_idempotent(**params, UniqueRequestToken=f"p1-b1-h{i}").hit["HITId"]
            )
        else:
            ids.append(mt.create_hit_with_hit_type(**params)["HITId"])
    return ids


def _type(mt: MTurkClient) -> str:
    return mt.create_hit_type(
        Title="t", Description="d", Reward="0.05", AssignmentDurationInSeconds=600
    )


def test_throttling_is_retried_and_each_hit_exists_once(emu: Emulator, mt: MTurkClient) -> None:
    type_id = _type(mt)
    emu.faults.set(throttle_rate=0.3, seed=2, operations={"CreateHITWithHITType", "ListHITs"})
    ids = _publish(mt, type_id, 6, tokens=True)
    assert emu.faults.stats["throttle"] > 0  # the seed does throttle some calls
    assert (
        emu.calls["CreateHITWithHITType"]
        == 6 + emu.faults.stats["throttle"] - emu.errors[("ListHITs", "ThrottlingException")]
    )
    listed = [h["HITId"] for h in mt.iter_hits()]
    assert sorted(listed) == sorted(ids) and len(set(ids)) == 6


def test_5xx_after_commit_with_tokens_gives_no_duplicates(emu: Emulator, mt: MTurkClient) -> None:
    type_id = _type(mt)
    emu.faults.set(
        fault_after_commit_rate=0.4, throttle_rate=0.2, seed=3, operations={"CreateHITWithHITType"}
    )
    ids = _publish(mt, type_id, 8, tokens=True)
    assert emu.faults.stats["after_commit"] > 0
    emu.faults.clear()
    hits = list(mt.iter_hits())
    assert len(hits) == 8 and sorted(h["HITId"] for h in hits) == sorted(ids)
    urls = sorted(h["Question"] for h in hits)
    assert len(set(urls)) == 8


def test_5xx_after_commit_without_tokens_duplicates(emu: Emulator, mt: MTurkClient) -> None:
    # Why the token matters: the retried call creates the HIT a second time.
    type_id = _type(mt)
    emu.faults.fail_next("CreateHITWithHITType", "after_commit", 1)
    _publish(mt, type_id, 1, tokens=False)
    assert len(list(mt.iter_hits())) == 2


def test_bonus_retried_after_commit_is_paid_once(emu: Emulator) -> None:
    mt, oracle = client_for(emu.url)
    emu2_hit = make_hit(mt)
    acc = emu.worker_accept(emu2_hit["HITId"], "A1TESTWORKER")
    emu.worker_submit(acc["assignmentId"], {"q": "1"})
    emu.faults.fail_next("SendBonus", "after_commit", 1)
    kw = dict(
        worker_id="A1TESTWORKER",
        assignment_id=acc["assignmentId"],
        amount="0.25",
        reason="gold",
        unique_request_token="bonus-1",
    )
    assert mt.send_bonus(**kw) is False  # the retry met the already-processed token
    assert mt.send_bonus(**kw) is False
    payments = mt.call("ListBonusPayments", HITId=emu2_hit["HITId"])["BonusPayments"]
    assert [p["BonusAmount"] for p in payments] == ["0.25"]
    assert oracle.problems == []


def test_delay_and_list_lag(emu: Emulator, mt: MTurkClient) -> None:
    emu.faults.set(list_lag_seconds=30)
    hit = make_hit(mt)
    assert list(mt.iter_hits()) == []  # ListHITs lags creation ...
    assert mt.get_hit(hit["HITId"])["HITId"] == hit["HITId"]  # ... GetHIT does not
    emu.clock.advance(31)
    assert [h["HITId"] for h in mt.iter_hits()] == [hit["HITId"]]
    emu.faults.set(delay_seconds=0.05, operations={"GetAccountBalance"})
    assert mt.get_account_balance()["AvailableBalance"] == "10000.00"


def test_fault_control_endpoint(emu: Emulator, mt: MTurkClient) -> None:
    r = httpx.post(
        f"{emu.url}/_emu/faults", json={"throttle_rate": 1.0, "operations": ["GetAccountBalance"]}
    )
    assert r.status_code == 200 and r.json()["config"]["throttle_rate"] == 1.0
    client, _ = client_for(emu.url, max_attempts=1)
    import pytest

    from app.mturk.errors import MTurkUnavailable

    with pytest.raises(MTurkUnavailable) as info:
        client.get_account_balance()
    assert info.value.aws_code == "ThrottlingException" and info.value.http_status == 400
    assert httpx.get(f"{emu.url}/_emu/faults").json()["stats"]["throttle"] == 1
    assert httpx.post(f"{emu.url}/_emu/faults", json={"throttle_rate": 2}).status_code == 400
    assert httpx.delete(f"{emu.url}/_emu/faults").json()["config"]["throttle_rate"] == 0.0
    assert mt.get_account_balance()["AvailableBalance"] == "10000.00"
