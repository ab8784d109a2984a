"""The worker side over HTTP: control surface, frame URL, a real externalSubmit; persistence;
production accounting; the `frtrain mturk-local` command."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.mturk.client import MTurkClient
from app.mturk.emulator import PREVIEW_ASSIGNMENT_ID, Emulator, run_emulator
from app.mturk.errors import INSUFFICIENT_FUNDS, MTurkRequestError
from app.mturk.xml import parse_answers

from .conftest import TASK_URL, client_for, make_hit, submitted, worker


def test_accept_frame_url_and_external_submit_over_http(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt)["HITId"]
    r = httpx.post(f"{emu.url}/_emu/workers/{worker(1)}/accept", json={"hitId": hit_id})
    assert r.status_code == 200
    acc = r.json()
    frame = urlsplit(acc["frameUrl"])
    q = {k: v[0] for k, v in parse_qs(frame.query).items()}
    assert frame.geturl().startswith(TASK_URL.split("?")[0])
    assert (q["project"], q["batch"]) == ("1", "2")  # the ExternalURL's own query is kept
    assert q["assignmentId"] == acc["assignmentId"] and q["hitId"] == hit_id
    assert q["workerId"] == worker(1) and q["turkSubmitTo"] == emu.url
    submit = q["turkSubmitTo"] + "/mturk/externalSubmit"
    form = {"assignmentId": acc["assignmentId"], "hitId": hit_id, "ex_1": "3", "ex_2": "1"}
    assert httpx.post(submit, data=form).status_code == 200
    (a,) = mt.iter_assignments(hit_id)
    assert a["WorkerId"] == worker(1) and a["AssignmentStatus"] == "Submitted"
    assert parse_answers(a["Answer"]).as_dict() == {"ex_1": "3", "ex_2": "1"}
    # A second submit of the same assignment is refused and changes nothing.
    again = httpx.post(submit, data={**form, "ex_1": "4"})
    assert again.status_code == 409
    (a2,) = mt.iter_assignments(hit_id)
    assert a2["Answer"] == a["Answer"]


def test_external_submit_refusals(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt)["HITId"]
    acc = emu.worker_accept(hit_id, worker(1))
    submit = f"{emu.url}/mturk/externalSubmit"
    cases = [
        ({"q": "1"}, 400),  # no assignmentId
        ({"assignmentId": PREVIEW_ASSIGNMENT_ID, "q": "1"}, 400),
        ({"assignmentId": "UNKNOWN0000000000000000000000", "q": "1"}, 404),
        ({"assignmentId": acc["assignmentId"], "workerId": worker(2), "q": "1"}, 403),
        ({"assignmentId": acc["assignmentId"]}, 400),  # no answers
    ]
    for form, code in cases:
        assert httpx.post(submit, data=form).status_code == code, form
    assert httpx.post(submit, json={"assignmentId": acc["assignmentId"]}).status_code == 415
    assert list(mt.iter_assignments(hit_id)) == []


def test_preview_and_control_routes(mt: MTurkClient, emu: Emulator) -> None:
    hit_id = make_hit(mt)["HITId"]
    prev = httpx.get(f"{emu.url}/_emu/hits/{hit_id}/preview").json()["frameUrl"]
    assert f"assignmentId={PREVIEW_ASSIGNMENT_ID}" in prev and "workerId" not in prev
    page = httpx.get(f"{emu.url}/mturk/preview", params={"hitId": hit_id})
    assert page.status_code == 200 and "<iframe" in page.text
    acc = emu.worker_accept(hit_id, worker(1))
    page = httpx.get(f"{emu.url}/mturk/frame", params={"assignmentId": acc["assignmentId"]})
    assert acc["assignmentId"] in page.text
    before = httpx.get(f"{emu.url}/_emu/clock").json()["offset"]
    after = httpx.post(f"{emu.url}/_emu/clock", json={"advance": 120}).json()["offset"]
    assert after - before == pytest.approx(120)
    r = httpx.post(f"{emu.url}/_emu/assignments/{acc['assignmentId']}/return", json={})
    assert r.status_code == 200
    assert (
        httpx.post(f"{emu.url}/_emu/workers/bad/accept", json={"hitId": hit_id}).status_code == 400
    )
    assert (
        httpx.post(f"{emu.url}/_emu/workers/{worker(1)}/accept", json={"hitId": "NOPE"}).status_code
        == 404
    )
    state = httpx.get(f"{emu.url}/_emu/state").json()
    assert [h["HITId"] for h in state["hits"]] == [hit_id]
    assert "CreateHITWithHITType" in httpx.get(f"{emu.url}/_emu/health").json()["operations"]


def test_state_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "emu.sqlite"
    with run_emulator(state_path=path, allow_http_questions=True) as emu:
        mt, _ = client_for(emu.url)
        hit = make_hit(mt, token="tok-1", max_assignments=2)
        aid = submitted(emu, hit["HITId"], 1, {"q": "4"})
        mt.approve_assignment(aid)
        pending = emu.worker_accept(hit["HITId"], worker(2))["assignmentId"]
        emu.clock.advance(60)
        offset = emu.clock.offset
    with run_emulator(state_path=path, allow_http_questions=True) as emu:
        mt, oracle = client_for(emu.url)
        assert emu.clock.offset >= offset
        got = mt.get_hit(hit["HITId"])
        assert got["NumberOfAssignmentsCompleted"] == 1 and got["NumberOfAssignmentsPending"] == 1
        (a,) = mt.iter_assignments(hit["HITId"])
        assert a["AssignmentStatus"] == "Approved" and parse_answers(a["Answer"]).as_dict() == {
            "q": "4"
        }
        with pytest.raises(MTurkRequestError, match=hit["HITId"]):
            make_hit(mt, token="tok-1")  # the token store persisted too
        emu.worker_submit(pending, {"q": "2"})
        assert len(list(mt.iter_assignments(hit["HITId"]))) == 2
        assert oracle.problems == []


def test_production_accounting_charges_fees_at_approval() -> None:
    with run_emulator(
        accounting="production", initial_balance="5.00", allow_http_questions=True
    ) as emu:
        mt, oracle = client_for(emu.url)
        hit_id = make_hit(mt, max_assignments=2, reward="0.50")["HITId"]
        # Two open slots at $0.50 + 20% fee are held.
        assert mt.get_account_balance()["OnHoldBalance"] == "1.20"
        a1, a2 = submitted(emu, hit_id, 1), submitted(emu, hit_id, 2)
        mt.approve_assignment(a1)
        mt.reject_assignment(a2, feedback="no")  # a rejection pays neither worker nor fee
        mt.send_bonus(
            worker_id=worker(1),
            assignment_id=a1,
            amount="0.04",
            reason="r",
            unique_request_token="b",
        )
        bal = mt.get_account_balance()
        # 5.00 - (0.50 + 0.10) - (0.04 + 0.01 minimum fee)
        assert (
            Decimal(bal["AvailableBalance"]) == Decimal("4.35") and bal["OnHoldBalance"] == "0.00"
        )
        with pytest.raises(MTurkRequestError) as info:
            make_hit(mt, max_assignments=10, reward="0.40")  # 10 x (0.40 + 40% fee) = 5.60
        assert info.value.turk_error_code == INSUFFICIENT_FUNDS
        assert oracle.problems == []


def test_mturk_local_command_serves_and_persists(tmp_path: Path) -> None:
    state = tmp_path / "cli.sqlite"
    code = "import app.commands.mturk; from app.commands import root; root()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "mturk-local", "--port", "0", "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        url = line.split("listening on ")[1].split()[0]
        mt, _ = client_for(url)
        assert mt.get_account_balance()["AvailableBalance"] == "10000.00"
        make_hit(mt)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    with run_emulator(state_path=state) as emu:
        mt, _ = client_for(emu.url)
        assert len(list(mt.iter_hits())) == 1


def test_bonus_refused_beyond_the_available_balance() -> None:
    with run_emulator(
        accounting="production", initial_balance="2.00", allow_http_questions=True
    ) as emu:
        mt, oracle = client_for(emu.url)
        hit_id = make_hit(mt, max_assignments=2, reward="0.50")["HITId"]  # holds 2 x 0.60
        a1, a2 = submitted(emu, hit_id, 1), submitted(emu, hit_id, 2)
        mt.approve_assignment(a1)  # balance 1.40, 0.60 still held for a2 → 0.80 available
        bonus = dict(worker_id=worker(1), assignment_id=a1, reason="r")
        with pytest.raises(MTurkRequestError, match="insufficient funds") as info:
            mt.send_bonus(**bonus, amount="0.70", unique_request_token="t1")  # 0.70 + 0.14
        assert info.value.turk_error_code == INSUFFICIENT_FUNDS
        assert mt.send_bonus(**bonus, amount="0.50", unique_request_token="t2")  # 0.50 + 0.10
        mt.approve_assignment(a2)  # paid from the held money
        bal = mt.get_account_balance()
        assert (bal["AvailableBalance"], bal["OnHoldBalance"]) == ("0.20", "0.00")
        assert oracle.problems == []


def test_garbage_requests_get_clear_4xx(emu: Emulator) -> None:
    r = httpx.post(
        f"{emu.url}/mturk/externalSubmit",
        content=b"assignmentId=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    assert httpx.post(f"{emu.url}/_emu/clock", content=b"[1]").status_code == 400
    assert httpx.post(f"{emu.url}/_emu/clock", json={"advance": -5}).status_code == 400
    assert httpx.get(f"{emu.url}/nope").status_code == 404
