"""The Prolific emulator against docs/PROLIFIC.md's shapes and rules (§1 wire protocol, §2 studies,
§3 submissions, §4 bonuses, §5 groups, §8 what the emulator must reproduce)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from app.prolific.emulator import ProlificEmulator
from tests.app.prolific.conftest import api

HEX24 = re.compile(r"^[0-9a-f]{24}$")
DETAIL_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LIST_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
# docs/PROLIFIC.md §3: detail and list use different field names.
SUBMISSION_DETAIL = {
    "id",
    "study_id",
    "participant",
    "started_at",
    "completed_at",
    "entered_code",
    "status",
    "bonus_payments",
    "return_requested",
}
SUBMISSION_LIST = {
    "id",
    "participant_id",
    "status",
    "started_at",
    "completed_at",
    "has_siblings",
    "study_code",
    "return_requested",
}
STUDY_LIST = {
    "id",
    "name",
    "internal_name",
    "status",
    "total_available_places",
    "places_taken",
    "number_of_submissions",
    "reward",
    "total_cost",
    "date_created",
}


def study_body(**changes: Any) -> dict[str, Any]:
    body = {
        "name": "Label examples",
        "internal_name": "frtrain:test",
        "description": "<p>Answer <b>ten</b> questions.</p>",
        "external_study_url": "https://example.org/s?PROLIFIC_PID={{%PROLIFIC_PID%}}"
        "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}",
        "prolific_id_option": "url_parameters",
        "completion_codes": [
            {"code": "ABC123", "code_type": "COMPLETED", "actions": [{"action": "MANUALLY_REVIEW"}]}
        ],
        "total_available_places": 2,
        "estimated_completion_time": 5,
        "maximum_allowed_time": 20,
        "reward": 90,
    }
    body.update(changes)
    return body


def published(c: httpx.Client, **changes: Any) -> dict[str, Any]:
    study = c.post("studies/", json=study_body(**changes)).json()
    assert (
        c.post(f"studies/{study['id']}/transition/", json={"action": "PUBLISH"}).status_code == 200
    )
    return study


def finish(pemu: ProlificEmulator, study_id: str) -> tuple[str, str]:
    pid = pemu.new_participants(1)[0]
    sub = pemu.join(study_id, pid)
    r = httpx.get(f"{pemu.url}/submissions/complete", params={"cc": "ABC123", "participant": pid})
    assert r.status_code == 200
    return pid, sub["submission_id"]


def test_auth_only_token_scheme(pemu: ProlificEmulator) -> None:
    for header in ({}, {"Authorization": f"Bearer {pemu.token}"}, {"Authorization": "Token nope"}):
        r = httpx.get(f"{pemu.api_url}/users/me/", headers=header)
        assert r.status_code == 401
        assert r.json()["error"]["status"] == 401
    with api(pemu) as c:
        assert c.get("users/me").status_code == 200  # no trailing slash, no redirect


def test_create_study_shapes_and_validation(pemu: ProlificEmulator) -> None:
    with api(pemu) as c:
        r = c.post("studies/", json=study_body())
        assert r.status_code == 201
        study = r.json()
        assert HEX24.match(study["id"]) and study["status"] == "UNPUBLISHED"
        assert DETAIL_MS.match(study["date_created"])
        # Validation: flat error shape on create study, field dict detail.
        bad = c.post(
            "studies/",
            json=study_body(
                reward=0.9,
                maximum_allowed_time=5,
                external_study_url="https://example.org/s",
                description="<script>x</script>",
                completion_codes=[
                    {
                        "code": "A",
                        "code_type": "COMPLETED",
                        "actions": [
                            {"action": "AUTOMATICALLY_APPROVE"},
                            {"action": "MANUALLY_REVIEW"},
                        ],
                    }
                ],
            ),
        )
        assert bad.status_code == 400
        body = bad.json()
        assert "error" not in body and body["status"] == 400
        assert set(body["detail"]) >= {
            "reward",
            "maximum_allowed_time",
            "external_study_url",
            "description",
            "completion_codes",
        }
        # Nested shape elsewhere; unknown ids are 404.
        missing = c.get("studies/0123456789abcdef01234567/")
        assert missing.status_code == 404 and missing.json()["error"]["status"] == 404


def test_study_states_and_patch_rules(pemu: ProlificEmulator) -> None:
    with api(pemu) as c:
        study = published(c)
        sid = study["id"]
        assert c.get(f"studies/{sid}/").json()["status"] in ("PUBLISHING", "ACTIVE")
        again = c.post(f"studies/{sid}/transition/", json={"action": "PUBLISH"})
        assert again.status_code == 400
        frozen = c.patch(f"studies/{sid}/", json={"filters": []})
        assert frozen.status_code == 400
        fewer = c.patch(f"studies/{sid}/", json={"total_available_places": 1})
        assert fewer.status_code == 400
        finish(pemu, sid)
        finish(pemu, sid)
        assert c.get(f"studies/{sid}/").json()["status"] == "AWAITING REVIEW"
        subs = c.get(f"studies/{sid}/submissions/").json()["results"]
        for s in subs:
            assert (
                c.post(f"submissions/{s['id']}/transition/", json={"action": "APPROVE"}).status_code
                == 200
            )
        assert c.get(f"studies/{sid}/").json()["status"] == "COMPLETED"
        more = c.patch(f"studies/{sid}/", json={"total_available_places": 3})
        assert more.status_code == 200 and more.json()["status"] == "ACTIVE"


def test_submissions_list_detail_and_transitions(pemu: ProlificEmulator) -> None:
    with api(pemu) as c:
        sid = published(c)["id"]
        pid, sub_id = finish(pemu, sid)
        row = c.get(f"studies/{sid}/submissions/").json()["results"][0]
        assert set(row) >= SUBMISSION_LIST and "participant" not in row
        assert LIST_US.match(row["started_at"])
        detail = c.get(f"submissions/{sub_id}/").json()
        assert set(detail) >= SUBMISSION_DETAIL and "participant_id" not in detail
        assert detail["participant"] == pid and detail["entered_code"] == "ABC123"
        short = {"action": "REJECT", "message": "too short", "rejection_category": "LOW_EFFORT"}
        assert c.post(f"submissions/{sub_id}/transition/", json=short).status_code == 400
        listed = {**short, "message": "x" * 100, "rejection_category": ["LOW_EFFORT"]}
        assert c.post(f"submissions/{sub_id}/transition/", json=listed).status_code == 400
        ok = c.post(f"submissions/{sub_id}/transition/", json={"action": "APPROVE"})
        assert ok.status_code == 200 and ok.json()["status"] == "APPROVED"
        repeat = c.post(f"submissions/{sub_id}/transition/", json={"action": "APPROVE"})
        assert repeat.status_code == 200  # an identical repeat is a silent no-op
        reject = {**short, "message": "x" * 100}
        assert c.post(f"submissions/{sub_id}/transition/", json=reject).status_code == 400


def test_one_submission_per_participant_and_places(pemu: ProlificEmulator) -> None:
    with api(pemu) as c:
        sid = published(c, total_available_places=1)["id"]
    pid = pemu.new_participants(1)[0]
    pemu.join(sid, pid)
    r = httpx.post(f"{pemu.url}/_emu/studies/{sid}/join", json={"participant_id": pid})
    assert r.status_code == 409
    other = pemu.new_participants(1)[0]
    full = httpx.post(f"{pemu.url}/_emu/studies/{sid}/join", json={"participant_id": other})
    assert full.status_code == 409


def test_blocklist_filters_refuse_at_reserve(pemu: ProlificEmulator) -> None:
    blocked, grouped = pemu.new_participants(2)
    with api(pemu) as c:
        ws = c.get("workspaces/").json()["results"][0]["id"]
        group = c.post("participant-groups/", json={"workspace_id": ws, "name": "blocked"}).json()
        c.post(
            f"participant-groups/{group['id']}/participants/", json={"participant_ids": [grouped]}
        )
        sid = published(
            c,
            filters=[
                {"filter_id": "custom_blocklist", "selected_values": [blocked]},
                {"filter_id": "participant_group_blocklist", "selected_values": [group["id"]]},
            ],
        )["id"]
    for pid in (blocked, grouped):
        r = httpx.post(f"{pemu.url}/_emu/studies/{sid}/join", json={"participant_id": pid})
        assert r.status_code == 403


def test_pagination_both_styles(pemu: ProlificEmulator) -> None:
    with api(pemu) as c:
        sid = published(c, total_available_places=25)["id"]
        for _ in range(23):
            pemu.join(sid, pemu.new_participants(1)[0])
        first = c.get(f"studies/{sid}/submissions/", params={"limit": 10}).json()
        assert len(first["results"]) == 10 and first["meta"]["count"] == 23
        seen = list(first["results"])
        nxt = first["_links"]["next"]["href"]
        while nxt:
            page = httpx.get(nxt, headers=c.headers).json()
            seen += page["results"]
            nxt = page["_links"]["next"]["href"]
        assert len({s["id"] for s in seen}) == 23
        paged = c.get("submissions/", params={"study": sid, "page": 2, "page_size": 20}).json()
        assert len(paged["results"]) == 3 and paged["_links"]["next"]["href"] is None


def test_bonus_major_units_and_second_pay_pays_again(pemu: ProlificEmulator) -> None:
    with api(pemu) as c:
        sid = published(c)["id"]
        pid, sub_id = finish(pemu, sid)
        header = c.post(
            "submissions/bonus-payments/",
            json={"study_id": sid, "csv_bonuses": f"participant_id,amount\n{pid},0.50"},
        )
        assert header.status_code == 400  # a header row names an id that did not take part
        created = c.post(
            "submissions/bonus-payments/", json={"study_id": sid, "csv_bonuses": f"{pid},0.50"}
        )
        assert created.status_code == 201
        bonus = created.json()
        assert bonus["amount"] == 50 and bonus["total_amount"] == 50 + bonus["fees"] + bonus["vat"]
        for _ in range(2):
            assert c.post(f"bulk-bonus-payments/{bonus['id']}/pay/").status_code == 202
        assert c.get(f"submissions/{sub_id}/").json()["bonus_payments"] == [50, 50]


def test_clock_timeout_and_completion_delay(pemu: ProlificEmulator) -> None:
    with api(pemu) as c:
        sid = published(c)["id"]
        late = pemu.join(sid, pemu.new_participants(1)[0])
        httpx.post(f"{pemu.url}/_emu/clock", json={"advance": 21 * 60})
        assert c.get(f"submissions/{late['submission_id']}/").json()["status"] == "TIMED-OUT"
        httpx.post(f"{pemu.url}/_emu/config", json={"completion_delay_seconds": 30})
        pid = pemu.new_participants(1)[0]
        sub = pemu.join(sid, pid)
        httpx.get(f"{pemu.url}/submissions/complete", params={"cc": "ABC123", "participant": pid})
        early = c.post(
            f"submissions/{sub['submission_id']}/transition/", json={"action": "APPROVE"}
        )
        assert early.status_code == 400  # Dall's race: the status has not landed yet
        httpx.post(f"{pemu.url}/_emu/clock", json={"advance": 31})
        assert c.get(f"submissions/{sub['submission_id']}/").json()["status"] == "AWAITING REVIEW"


@pytest.mark.parametrize("kind", ["throttle", "after_commit"])
def test_fault_injection(pemu: ProlificEmulator, kind: str) -> None:
    pemu.faults.fail_next("POST /studies/", kind)  # type: ignore[arg-type]
    with api(pemu) as c:
        r = c.post("studies/", json=study_body())
        assert r.status_code == (429 if kind == "throttle" else 500)
        n = len(c.get("studies/").json()["results"])
    assert n == (0 if kind == "throttle" else 1)  # after commit: it took effect


def test_state_survives_restart(tmp_path: Any) -> None:
    path = tmp_path / "emu.sqlite"
    emu = ProlificEmulator(state_path=path).start()
    try:
        with api(emu) as c:
            sid = published(c)["id"]
        token = emu.token
    finally:
        emu.stop()
    again = ProlificEmulator(state_path=path).start()
    try:
        assert again.token == token
        with api(again) as c:
            assert c.get(f"studies/{sid}/").json()["status"] == "ACTIVE"
    finally:
        again.stop()
