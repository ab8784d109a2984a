"""The emulator's HIT types and HITs: create, read, list, extend, expire, review status, delete."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.mturk import errors as E
from app.mturk.emulator.core import (
    MASTERS_IDS,
    QUAL_ADULT,
    QUAL_HITS_APPROVED,
    QUAL_LOCALE,
    QUAL_PERCENT_APPROVED,
    TOKEN_WINDOW_S,
    _fee,
    _hit_state_error,
    _page_out,
    _paginate,
    _to_id,
    new_id,
)
from app.mturk.emulator.ops_qualifications import QualificationOps
from app.mturk.emulator.protocol import (
    request_error,
    validation_error,
)
from app.mturk.emulator.store import Row


class HitOps(QualificationOps):
    def _ensure_hit_type(self, p: Mapping[str, Any]) -> Row:
        reward = self._check_reward(p["Reward"])
        quals = [dict(q) for q in p.get("QualificationRequirements") or []]
        for q in quals:
            self._check_requirement(q)
        props = {
            "Title": p["Title"],
            "Description": p["Description"],
            "Reward": str(reward),
            "AssignmentDurationInSeconds": p["AssignmentDurationInSeconds"],
            "AutoApprovalDelayInSeconds": p.get("AutoApprovalDelayInSeconds", 2_592_000),
            "Keywords": p.get("Keywords"),
            "QualificationRequirements": quals,
        }
        key = hashlib.sha256(json.dumps(props, sort_keys=True).encode()).hexdigest()
        for ht in self.store["hit_types"].values():
            if ht["key"] == key:  # identical properties → the existing HITTypeId (§2)
                return ht
        type_id = new_id()
        group = hashlib.sha256(f"group:{type_id}".encode()).hexdigest().upper()
        row = {**props, "key": key, "HITTypeId": type_id, "HITGroupId": _to_id(group)}
        return self.store.put("hit_types", type_id, row)

    def _check_requirement(self, q: Mapping[str, Any]) -> None:
        qtid = q["QualificationTypeId"]
        system = {QUAL_LOCALE, QUAL_HITS_APPROVED, QUAL_PERCENT_APPROVED, QUAL_ADULT} | MASTERS_IDS
        if qtid not in system and qtid not in self.store["qual_types"]:
            raise request_error(
                f"QualificationType {qtid} does not exist.", E.QUALIFICATION_TYPE_DOES_NOT_EXIST
            )
        comp = q["Comparator"]
        if comp not in ("Exists", "DoesNotExist") and not (
            q.get("IntegerValues") or q.get("LocaleValues")
        ):
            raise request_error(
                f"Comparator {comp} needs IntegerValues or LocaleValues.", E.PARAMETER_OUT_OF_RANGE
            )

    def _create_hit_type(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._check_bounds(p)
        return {"HITTypeId": self._ensure_hit_type(p)["HITTypeId"]}

    def _create_hit(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._check_bounds(p)
        self._check_question(p)
        self._token_check("hit", p.get("UniqueRequestToken"), now)
        return self._new_hit(self._ensure_hit_type(p), p, now)

    def _create_hit_with_hit_type(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._check_bounds(p)
        ht = self.store["hit_types"].get(p["HITTypeId"])
        if ht is None:
            raise request_error(
                f"HITType {p['HITTypeId']} does not exist.",
                "AWS.MechanicalTurk.HITTypeDoesNotExist",
            )
        self._check_question(p)
        self._token_check("hit", p.get("UniqueRequestToken"), now)
        return self._new_hit(ht, p, now)

    def _new_hit(self, ht: Row, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        max_a = p.get("MaxAssignments", 1)
        reward = Decimal(ht["Reward"])
        cost = max_a * (reward + _fee(reward, max_assignments=max_a, masters=self._masters(ht)))
        self._require_funds(cost, now, include_hold=True)
        hit_id = new_id()
        hit = {
            "HITId": hit_id,
            "HITTypeId": ht["HITTypeId"],
            "CreationTime": now,
            "Expiration": now + p["LifetimeInSeconds"],
            "MaxAssignments": max_a,
            "Question": p.get("Question"),
            "HITLayoutId": p.get("HITLayoutId"),
            "RequesterAnnotation": p.get("RequesterAnnotation"),
            "reviewing": False,
            "deleted": False,
            "seq": self._next_seq(),
        }
        self.store.put("hits", hit_id, hit)
        self._by_hit[hit_id] = []
        self._token_record("hit", p.get("UniqueRequestToken"), hit_id, now)
        return {"HIT": self._hit_out(hit, now)}

    # -- operations: HITs ------------------------------------------------------------------------
    def _get_hit(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        return {"HIT": self._hit_out(self._hit_row(p["HITId"], allow_deleted=True), now)}

    def _list_hits(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        lag = self.list_lag_seconds()
        hits = sorted(
            (
                h
                for h in self.store["hits"].values()
                if not h["deleted"] and now - h["CreationTime"] >= lag
            ),
            key=lambda h: h["seq"],
        )
        page, token = _paginate("ListHITs", hits, p)
        return _page_out({"HITs": [self._hit_out(h, now) for h in page]}, token)

    def _list_reviewable_hits(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        wanted = p.get("Status") or "Reviewable"
        hits = sorted(
            (
                h
                for h in self.store["hits"].values()
                if not h["deleted"]
                and p.get("HITTypeId") in (None, h["HITTypeId"])
                and self._status(h, now) == wanted
            ),
            key=lambda h: h["seq"],
        )
        page, token = _paginate("ListReviewableHITs", hits, p)
        return _page_out({"HITs": [self._hit_out(h, now) for h in page]}, token)

    def _settled_hit(self, hit_id: str, now: float) -> Row:
        """A HIT for extend/delete: the real service refuses these for a short while after
        creation (docs/MTURK.md §3 eventual consistency), emulated by ``create_lag_seconds``."""
        hit = self._hit_row(hit_id)
        if now - hit["CreationTime"] < self.create_lag_seconds():
            raise request_error(f"Hit {hit_id} does not exist.", E.HIT_DOES_NOT_EXIST)
        return hit

    def _add_assignments(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        hit = self._settled_hit(p["HITId"], now)
        n = p["NumberOfAdditionalAssignments"]
        if n < 1:
            raise validation_error(
                [
                    f"Value '{n}' at 'numberOfAdditionalAssignments' failed to satisfy constraint: "
                    "Member must have value greater than or equal to 1"
                ]
            )
        old = hit["MaxAssignments"]
        if old < 10 <= old + n:
            raise request_error(
                "The HIT has fewer than 10 assignments; it cannot be extended to 10 or more "
                "assignments.",
                E.INVALID_MAX_ASSIGNMENTS_INCREASE,
            )
        self._token_check("extend", p.get("UniqueRequestToken"), now)
        ht = self._hit_type(hit)
        reward = Decimal(ht["Reward"])
        self._require_funds(
            n * (reward + _fee(reward, max_assignments=old + n)), now, include_hold=True
        )
        hit["MaxAssignments"] = old + n
        hit["reviewing"] = False  # extending sends Reviewable/Reviewing back to Assignable
        self.store.put("hits", hit["HITId"], hit)
        self._token_record("extend", p.get("UniqueRequestToken"), hit["HITId"], now)
        return {}

    def _update_expiration(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        hit = self._hit_row(p["HITId"])
        expire_at = float(p["ExpireAt"])
        token = f"{hit['HITId']}{p['ExpireAt']}"
        row = self.store["tokens"].get(f"expire:{token}")
        if row is not None and now - row["created"] < TOKEN_WINDOW_S:
            raise request_error(
                f'The idempotency token "{token}" has already been processed.', E.DUPLICATE_REQUEST
            )
        if now < expire_at < hit["Expiration"]:
            raise request_error(
                "The expiration date can only be extended, or set in the past to expire the HIT "
                "now.",
                E.PARAMETER_OUT_OF_RANGE,
            )
        hit["Expiration"] = min(expire_at, now) if expire_at <= now else expire_at
        if expire_at > now:
            hit["reviewing"] = False
        self.store.put("hits", hit["HITId"], hit)
        self._token_record("expire", token, hit["HITId"], now)
        return {}

    def _update_review_status(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        hit = self._hit_row(p["HITId"])
        status = self._status(hit, now)
        if p.get("Revert"):
            if status != "Reviewing":
                raise _hit_state_error(status, "Reviewing")
            hit["reviewing"] = False
        else:
            if status not in ("Reviewable", "Reviewing"):
                raise _hit_state_error(status, "Reviewable, Reviewing")
            hit["reviewing"] = True
        self.store.put("hits", hit["HITId"], hit)
        return {}

    def _delete_hit(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        hit = self._settled_hit(p["HITId"], now)
        status = self._status(hit, now)
        if status not in ("Reviewable", "Reviewing") or self._counts(hit)["Submitted"]:
            raise _hit_state_error(status, "Reviewing, Reviewable")
        hit["deleted"] = True
        self.store.put("hits", hit["HITId"], hit)
        return {}
