"""The emulator's assignments: list, get, approve, reject, bonuses."""

from __future__ import annotations

from typing import Any

from app.mturk import errors as E
from app.mturk.emulator.core import (
    OVERRIDE_WINDOW_S,
    _assignment_state_error,
    _fee,
    _page_out,
    _paginate,
    new_id,
)
from app.mturk.emulator.ops_hits import HitOps
from app.mturk.emulator.protocol import (
    request_error,
    validation_error,
)


class AssignmentOps(HitOps):
    # -- operations: assignments -----------------------------------------------------------------
    def _list_assignments(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        hit = self._hit_row(p["HITId"], allow_deleted=True)
        wanted = set(p.get("AssignmentStatuses") or ("Submitted", "Approved", "Rejected"))
        rows = [a for a in self._assignments_of(hit["HITId"]) if a["state"] in wanted]
        page, token = _paginate("ListAssignmentsForHIT", rows, p)
        return _page_out({"Assignments": [self._assignment_out(a) for a in page]}, token)

    def _get_assignment(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        a = self._visible_assignment(p["AssignmentId"])
        hit = self.store["hits"][a["HITId"]]
        return {"Assignment": self._assignment_out(a), "HIT": self._hit_out(hit, now)}

    def _approve(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._check_bounds(p)
        a = self._visible_assignment(p["AssignmentId"])
        hit = self.store["hits"][a["HITId"]]
        override = bool(p.get("OverrideRejection"))
        if a["state"] == "Rejected" and override:
            if hit["deleted"] or now - a["SubmitTime"] > OVERRIDE_WINDOW_S:
                raise request_error(
                    "A rejected assignment can be approved only within 30 days of submission "
                    "and before its HIT is deleted.",
                    E.INVALID_ASSIGNMENT_STATE,
                )
        elif a["state"] != "Submitted":
            raise _assignment_state_error()
        cost = self._assignment_cost(hit)
        self._require_funds(cost, now, include_hold=False)
        self._charge(cost)
        a.update(state="Approved", ApprovalTime=now, RejectionTime=None)
        if p.get("RequesterFeedback"):
            a["RequesterFeedback"] = p["RequesterFeedback"]
        self.store.put("assignments", a["AssignmentId"], a)
        self._active.discard(a["AssignmentId"])
        return {}

    def _reject(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._check_bounds(p)
        a = self._visible_assignment(p["AssignmentId"])
        if a["state"] != "Submitted":
            raise _assignment_state_error()
        a.update(state="Rejected", RejectionTime=now, RequesterFeedback=p["RequesterFeedback"])
        self.store.put("assignments", a["AssignmentId"], a)
        self._active.discard(a["AssignmentId"])
        return {}

    def _send_bonus(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        a = self._visible_assignment(p["AssignmentId"])
        if a["WorkerId"] != p["WorkerId"]:
            raise request_error(
                f"Assignment {p['AssignmentId']} does not belong to worker {p['WorkerId']}.",
                E.PARAMETER_OUT_OF_RANGE,
            )
        amount = self._check_reward(p["BonusAmount"], "BonusAmount")
        if not p["Reason"].strip():
            raise validation_error(
                ["Value null at 'reason' failed to satisfy constraint: Member must not be null"]
            )
        self._token_check("bonus", p.get("UniqueRequestToken"), now)
        cost = amount + _fee(amount)
        # A bonus draws on the available balance; money held for open assignments is not spent.
        self._require_funds(cost, now, include_hold=True)
        self._charge(cost)
        bonus_id = new_id()
        self.store.put(
            "bonuses",
            bonus_id,
            {
                "WorkerId": p["WorkerId"],
                "AssignmentId": a["AssignmentId"],
                "HITId": a["HITId"],
                "BonusAmount": str(amount),
                "Reason": p["Reason"],
                "GrantTime": now,
                "seq": self._next_seq(),
            },
        )
        self._token_record("bonus", p.get("UniqueRequestToken"), bonus_id, now)
        return {}

    def _list_bonus_payments(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        if bool(p.get("HITId")) == bool(p.get("AssignmentId")):
            raise request_error(
                "Exactly one of HITId and AssignmentId must be provided.", E.PARAMETER_OUT_OF_RANGE
            )
        rows = sorted(
            (
                b
                for b in self.store["bonuses"].values()
                if b["HITId"] == p.get("HITId") or b["AssignmentId"] == p.get("AssignmentId")
            ),
            key=lambda b: b["seq"],
        )
        page, token = _paginate("ListBonusPayments", rows, p)
        fields = ("WorkerId", "BonusAmount", "AssignmentId", "Reason", "GrantTime")
        return _page_out({"BonusPayments": [{k: b[k] for k in fields} for b in page]}, token)
