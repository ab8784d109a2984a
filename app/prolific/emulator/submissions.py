"""Participant-side and submission operations of the emulator."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from app.prolific.emulator.base import ServiceBase
from app.prolific.emulator.rules import (
    _OBJECT_ID,
    CENT,
    FINISHED,
    HOLDS_PLACE,
    REJECTION_CATEGORIES,
    SUBMISSION_ACTIONS_ALL,
    ApiError,
    _minor,
    new_id,
)


class SubmissionOps(ServiceBase):
    """Participants, submissions, bonuses and groups (docs/PROLIFIC.md §3-§5)."""

    # -- participants ------------------------------------------------------------------------
    def new_participants(self, n: int) -> list[str]:
        ids = []
        for _ in range(n):
            pid = new_id()
            self.store.put("participants", pid, {"id": pid, "devices": ["desktop"]})
            ids.append(pid)
        return ids

    def _eligible(self, study: dict[str, Any], pid: str) -> None:
        for f in study["filters"]:
            fid = f.get("filter_id")
            values = f.get("selected_values") or []
            if fid == "custom_blocklist" and pid in values:
                raise ApiError(403, "You are not eligible for this study (blocklist).")
            if fid == "custom_allowlist" and pid not in values:
                raise ApiError(403, "You are not eligible for this study (allowlist).")
            if fid in ("participant_group_blocklist", "participant_group_allowlist"):
                members = set()
                for gid in values:
                    g = self.store["groups"].get(str(gid))
                    if g is not None and not g.get("is_deleted"):
                        members |= set(g["participants"])
                if fid.endswith("blocklist") and pid in members:
                    raise ApiError(403, "You are not eligible for this study (group blocklist).")
                if fid.endswith("allowlist") and pid not in members:
                    raise ApiError(403, "You are not eligible for this study (group allowlist).")
            if fid == "previous_studies_blocklist":
                for s in self.store["submissions"].values():
                    if s["participant"] == pid and s["study_id"] in values:
                        raise ApiError(403, "You took part in an earlier study of this researcher.")
        devices = study["device_compatibility"]
        have = self.store["participants"].get(pid, {}).get("devices", ["desktop"])
        if devices and not set(devices) & set(have):
            raise ApiError(403, "Your device is not compatible with this study.")

    def join(self, study_id: str, pid: str) -> dict[str, Any]:
        """Reserve a place and start (RESERVED → ACTIVE); returns the filled-in study URL."""
        if not _OBJECT_ID.match(pid or ""):
            raise ApiError(400, {"participant_id": ["A 24-hex participant id is required."]})
        study = self.store["studies"].get(study_id)
        if study is None:
            raise ApiError(404, "No study matches the given query.")
        if study["status"] != "ACTIVE":
            raise ApiError(409, f"This study is {study['status']}; it takes no participants.")
        if pid not in self.store["participants"]:
            self.store.put("participants", pid, {"id": pid, "devices": ["desktop"]})
        subs = [s for s in self.store["submissions"].values() if s["study_id"] == study_id]
        mine = [s for s in subs if s["participant"] == pid]
        cap = study["submissions_config"].get("max_submissions_per_participant", 1)
        cap = study["total_available_places"] if cap == -1 else cap
        if len(mine) >= cap:
            raise ApiError(409, "You have already taken part in this study.")
        self._eligible(study, pid)
        if sum(s["status"] in HOLDS_PLACE for s in subs) >= study["total_available_places"]:
            raise ApiError(409, "This study is full.")
        concurrent = study["submissions_config"].get("max_concurrent_submissions", -1)
        active = sum(s["status"] in ("RESERVED", "ACTIVE") for s in subs)
        if concurrent not in (-1, None) and active >= concurrent:
            raise ApiError(409, "Too many participants are taking this study right now.")
        sub: dict[str, Any] = {
            "id": new_id(),
            "study_id": study_id,
            "participant": pid,
            "status": "ACTIVE",
            "started_at": self.now(),
            "completed_at": None,
            "entered_code": None,
            "return_requested": None,
            "bonus_payments": [],
            "lands_at": None,
            "charged": False,
        }
        self.store.put("submissions", sub["id"], sub)
        url = (
            str(study["external_study_url"] or "")
            .replace("{{%PROLIFIC_PID%}}", quote(pid))
            .replace("{{%STUDY_ID%}}", quote(study_id))
            .replace("{{%SESSION_ID%}}", quote(sub["id"]))
        )
        return {"submission_id": sub["id"], "study_id": study_id, "participant_id": pid, "url": url}

    def complete(self, pid: str | None, code: str | None) -> dict[str, Any]:
        """The participant lands on the completion URL: sets ``entered_code``, runs actions."""
        if not pid:
            raise ApiError(401, "Sign in to Prolific to complete a study.")
        mine = sorted(
            (
                s
                for s in self.store["submissions"].values()
                if s["participant"] == pid and s["status"] in ("ACTIVE", "RESERVED")
            ),
            key=lambda s: s["started_at"],
        )
        if not mine:
            raise ApiError(409, "You have no study in progress to complete.")
        target, matched = mine[-1], None
        for s in mine:
            for c in self.store["studies"][s["study_id"]]["completion_codes"]:
                if (
                    code
                    and c.get("code") == code
                    and c.get("actor", "participant") == "participant"
                ):
                    target, matched = s, c
        study = self.store["studies"][target["study_id"]]
        return self._complete(study, target, matched, code)

    def _complete(
        self,
        study: dict[str, Any],
        sub: dict[str, Any],
        code: dict[str, Any] | None,
        given: str | None,
    ) -> dict[str, Any]:
        sub["entered_code"] = code["code"] if code else (given or "NOCODE")
        sub["completed_at"] = self.now()
        final = "AWAITING REVIEW"
        for action in (code or {}).get("actions", []):
            name = action.get("action")
            if name == "AUTOMATICALLY_APPROVE":
                final = "APPROVED"
            elif name in ("ADD_TO_PARTICIPANT_GROUP", "REMOVE_FROM_PARTICIPANT_GROUP"):
                group = self.store["groups"].get(str(action.get("participant_group")))
                if group is not None:
                    members = set(group["participants"])
                    if name.startswith("ADD"):
                        members.add(sub["participant"])
                    else:
                        members.discard(sub["participant"])
                    group["participants"] = sorted(members)
                    self.store.put("groups", group["id"], group)
            elif name == "REQUEST_RETURN":
                sub["return_requested"] = self.stamp(self.now())
        delay = self.config.completion_delay_seconds
        if delay > 0:
            sub["pending_status"] = final
            sub["lands_at"] = self.now() + delay
        else:
            sub["status"] = final
            if final == "APPROVED":
                self._charge(study, sub)
        self.store.put("submissions", sub["id"], sub)
        self._study_progress(study)
        return sub

    def participant_return(self, sub_id: str) -> dict[str, Any]:
        sub = self.store["submissions"].get(sub_id)
        if sub is None:
            raise ApiError(404, "No submission matches the given query.")
        if sub["status"] not in ("RESERVED", "ACTIVE", "AWAITING REVIEW"):
            raise ApiError(409, f"A {sub['status']} submission cannot be returned.")
        sub["status"] = "RETURNED"
        sub["lands_at"] = None
        self.store.put("submissions", sub_id, sub)
        self._study_progress(self.store["studies"][sub["study_id"]])
        return sub

    # -- submissions -------------------------------------------------------------------------
    def submission_view(self, sub: dict[str, Any], *, list_row: bool = False) -> dict[str, Any]:
        if list_row:
            study = self.store["studies"][sub["study_id"]]
            taken = None
            if sub.get("completed_at"):
                taken = int(sub["completed_at"] - sub["started_at"])
            return {
                "id": sub["id"],
                "participant_id": sub["participant"],
                "status": sub["status"],
                "started_at": self.stamp(sub["started_at"], list_row=True),
                "completed_at": self.stamp(sub.get("completed_at"), list_row=True),
                "has_siblings": False,
                "study_code": sub.get("entered_code"),
                "return_requested": sub.get("return_requested"),
                "is_complete": sub["status"] in FINISHED,
                "time_taken": taken,
                "reward": study["reward"],
                "ip": "127.0.0.1",
                "strata": {},
            }
        return {
            "id": sub["id"],
            "study_id": sub["study_id"],
            "participant": sub["participant"],
            "started_at": self.stamp(sub["started_at"]),
            "completed_at": self.stamp(sub.get("completed_at")),
            "entered_code": sub.get("entered_code"),
            "status": sub["status"],
            "bonus_payments": list(sub.get("bonus_payments", [])),
            "return_requested": sub.get("return_requested"),
        }

    def transition_submission(self, sub: dict[str, Any], body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "Expected a JSON object.")
        action = body.get("action")
        if action not in SUBMISSION_ACTIONS_ALL:
            raise ApiError(400, {"action": [f'"{action}" is not a valid choice.']})
        study = self.store["studies"][sub["study_id"]]
        status = sub["status"]
        if action == "APPROVE":
            if status == "APPROVED":
                return sub  # an identical repeat is ignored
            if status != "AWAITING REVIEW":
                raise ApiError(
                    400, {"action": [f"Cannot approve a submission whose status is {status}."]}
                )
            sub["status"] = "APPROVED"
            self._charge(study, sub)
        elif action == "REJECT":
            category = body.get("rejection_category")
            message = body.get("message")
            errors: dict[str, list[str]] = {}
            if not isinstance(category, str) or category not in REJECTION_CATEGORIES:
                errors["rejection_category"] = [f'"{category}" is not a valid choice.']
            if not isinstance(message, str) or len(message) < 100:
                errors["message"] = ["Ensure this field has at least 100 characters."]
            if status == "REJECTED" and not errors:
                return sub
            if errors:
                raise ApiError(400, errors)
            if status != "AWAITING REVIEW":
                raise ApiError(
                    400, {"action": [f"Cannot reject a submission whose status is {status}."]}
                )
            sub["status"] = "REJECTED"
            sub["rejection"] = {"category": category, "message": message}
        elif action == "COMPLETE":
            if status in FINISHED:
                return sub
            code_value = body.get("completion_code")
            code = next(
                (
                    c
                    for c in study["completion_codes"]
                    if c.get("code") == code_value and c.get("actor") == "researcher"
                ),
                None,
            )
            if code is None or status not in ("ACTIVE", "RESERVED"):
                raise ApiError(
                    400,
                    {
                        "completion_code": [
                            "A researcher-actor completion code of this study is required."
                        ]
                    },
                )
            return self._complete(study, sub, code, code_value)
        elif action == "RETURN":
            if status == "RETURNED":
                return sub
            return self.participant_return(sub["id"])
        else:
            raise ApiError(400, {"action": [f"{action} is not supported by this emulator."]})
        self.store.put("submissions", sub["id"], sub)
        self._study_progress(study)
        return sub

    def bulk_approve(self, body: Any, ws: dict[str, Any]) -> str:
        if not isinstance(body, dict):
            raise ApiError(400, "Expected a JSON object.")
        ids = body.get("submission_ids")
        if ids is None and body.get("study_id") and isinstance(body.get("participant_ids"), list):
            study = self._own("studies", str(body["study_id"]), ws)
            pids = set(body["participant_ids"])
            ids = [
                s["id"]
                for s in self.store["submissions"].values()
                if s["study_id"] == study["id"] and s["participant"] in pids
            ]
        if not isinstance(ids, list) or not ids:
            raise ApiError(400, {"submission_ids": ["This field is required."]})
        if len(ids) > 1000:
            raise ApiError(400, {"submission_ids": ["At most 1000 ids per call."]})
        for sid in ids:
            sub = self.store["submissions"].get(str(sid))
            if sub is None or self.store["studies"][sub["study_id"]]["workspace"] != ws["id"]:
                raise ApiError(400, {"submission_ids": [f"Unknown submission {sid}."]})
        for sid in ids:  # asynchronous: lands at the next request
            sub = self.store["submissions"][str(sid)]
            if sub["status"] == "AWAITING REVIEW":
                sub["pending_status"] = "APPROVED"
                sub["lands_at"] = self.now()
                self.store.put("submissions", sub["id"], sub)
        return "Bulk approve in progress"

    def request_return(self, sub: dict[str, Any], body: Any) -> dict[str, Any]:
        reasons = body.get("request_return_reasons") if isinstance(body, dict) else None
        if (
            not isinstance(reasons, list)
            or not reasons
            or not all(isinstance(r, str) for r in reasons)
        ):
            raise ApiError(400, {"request_return_reasons": ["Give at least one reason."]})
        if sub["status"] not in ("ACTIVE", "AWAITING REVIEW"):
            raise ApiError(400, f"A {sub['status']} submission cannot be asked to return.")
        sub["return_requested"] = self.stamp(self.now())
        self.store.put("submissions", sub["id"], sub)
        return sub

    # -- bonuses -----------------------------------------------------------------------------
    def create_bonus(self, body: Any, ws: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "Expected a JSON object.")
        study = self._own("studies", str(body.get("study_id")), ws)
        text = body.get("csv_bonuses")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, {"csv_bonuses": ["This field is required."]})
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        if len(lines) > 200:
            raise ApiError(400, {"csv_bonuses": ["At most 200 rows per call."]})
        subs = [s for s in self.store["submissions"].values() if s["study_id"] == study["id"]]
        known = {s["participant"]: s for s in subs} | {s["id"]: s for s in subs}
        rows: list[tuple[str, int]] = []
        unknown: list[str] = []
        bad: list[str] = []
        for line in lines:
            ident, _, given = line.partition(",")
            ident = ident.strip()
            try:
                value = Decimal(given.strip())
            except InvalidOperation:
                bad.append(line)
                continue
            if value <= 0 or value != value.quantize(CENT):
                bad.append(line)
                continue
            if ident not in known:
                unknown.append(ident)
                continue
            rows.append((known[ident]["id"], _minor(value * 100)))
        if unknown:
            raise ApiError(
                400, {"csv_bonuses": [f"These ids did not take part in the study: {unknown}"]}
            )
        if bad:
            raise ApiError(
                400,
                {"csv_bonuses": [f"Amounts must be positive major-unit decimals: {bad[:3]}"]},
            )
        amount = sum(a for _, a in rows)
        fees, vat = self.split(amount)
        bonus = {
            "id": new_id(),
            "workspace": ws["id"],
            "study": study["id"],
            "rows": rows,
            "amount": amount,
            "fees": fees,
            "vat": vat,
            "total_amount": amount + fees + vat,
            "paid": 0,
        }
        self.store.put("bonuses", bonus["id"], bonus)
        return bonus

    def pay_bonus(self, bonus: dict[str, Any]) -> None:
        """Pays, every time it is called (docs/PROLIFIC.md §4: pay is not idempotent)."""
        ws = self.store["workspaces"][bonus["workspace"]]
        if self.config.money and ws["balance"] - ws["reserved"] < bonus["total_amount"]:
            raise ApiError(400, "Insufficient funds to pay these bonuses.")
        ws["balance"] -= bonus["total_amount"]
        self.store.put("workspaces", ws["id"], ws)
        bonus["paid"] += 1
        self.store.put("bonuses", bonus["id"], bonus)
        for sub_id, amount in bonus["rows"]:
            sub = self.store["submissions"][sub_id]
            sub.setdefault("bonus_payments", []).append(amount)
            self.store.put("submissions", sub_id, sub)

    # -- groups ------------------------------------------------------------------------------
    def create_group(self, body: Any, ws: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise ApiError(400, {"name": ["This field is required."]})
        wid = body.get("workspace_id")
        if wid is None and body.get("project_id"):
            wid = self._own("projects", str(body["project_id"]), ws)["workspace"]
        if wid != ws["id"]:
            raise ApiError(400, {"workspace_id": ["Workspace not found."]})
        pids = body.get("participant_ids") or []
        if not isinstance(pids, list) or not all(_OBJECT_ID.match(str(p)) for p in pids):
            raise ApiError(400, {"participant_ids": ["Invalid participant ids."]})
        group = {
            "id": new_id(),
            "workspace": ws["id"],
            "name": body["name"],
            "description": body.get("description", ""),
            "participants": sorted(set(pids)),
            "is_deleted": False,
        }
        self.store.put("groups", group["id"], group)
        return group

    def group_view(self, g: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": g["id"],
            "name": g["name"],
            "description": g["description"],
            "workspace_id": g["workspace"],
            "participant_count": len(g["participants"]),
            "is_deleted": g["is_deleted"],
        }

    def group_members(self, g: dict[str, Any], method: str, body: Any) -> list[dict[str, Any]]:
        if method != "GET":
            pids = body.get("participant_ids") if isinstance(body, dict) else None
            if not isinstance(pids, list) or not all(_OBJECT_ID.match(str(p)) for p in pids):
                raise ApiError(400, {"participant_ids": ["A list of 24-hex ids is required."]})
            members = set(g["participants"])
            members = members | set(pids) if method == "POST" else members - set(pids)
            g["participants"] = sorted(members)
            self.store.put("groups", g["id"], g)
        return [{"participant_id": p} for p in g["participants"]]
