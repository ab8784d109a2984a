"""The emulator's model of one MTurk requester account: operations, state machines, money.

:class:`EmulatorService` holds the state (a :class:`~app.mturk.emulator.store.Store`) behind one
lock. ``handle(op, params)`` runs a requester operation from its wire JSON and returns the output
JSON; the ``worker_*`` methods are the worker side MTurk's API does not have (accept, return,
abandon, externalSubmit). Rules follow MTURK.md §2-3 and §7; HIT status is derived on every read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.mturk import errors as E
from app.mturk.emulator.clock import Clock
from app.mturk.emulator.model import operation_model, validate_input
from app.mturk.emulator.protocol import (
    EmuError,
    parameter_validation_error,
    request_error,
    validation_error,
)
from app.mturk.emulator.store import Row, Store
from app.mturk.xml import QuestionXMLError, build_answers, parse_question

Accounting = Literal["sandbox", "production"]
PREVIEW_ASSIGNMENT_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"
SANDBOX_BALANCE = Decimal("10000.00")
TOKEN_WINDOW_S = 24 * 3600
OVERRIDE_WINDOW_S = 30 * 24 * 3600
DEFAULT_PAGE = 10
# System qualification type ids (MTURK.md §2).
QUAL_LOCALE = "00000000000000000071"
QUAL_HITS_APPROVED = "00000000000000000040"
QUAL_PERCENT_APPROVED = "000000000000000000L0"
QUAL_ADULT = "00000000000000000060"
MASTERS_IDS = frozenset({"2ARFPLSP75KLA8M8DH1HTEQVJT3SY6", "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH"})
_ID_ALPHABET = string.ascii_uppercase + string.digits
# Legacy CreateHIT bounds (MTURK.md §2) that the service model does not carry.
_BOUNDS: dict[str, tuple[int, int]] = {
    "LifetimeInSeconds": (30, 31_536_000),
    "AssignmentDurationInSeconds": (30, 31_536_000),
    "AutoApprovalDelayInSeconds": (0, 2_592_000),
    "MaxAssignments": (1, 1_000_000_000),
}
_MAX_LEN = {
    "Title": 128,
    "Description": 2000,
    "Keywords": 1000,
    "RequesterAnnotation": 255,
    "RequesterFeedback": 1024,
    "Subject": 200,
    "MessageText": 4096,
}
_CONTROL_CHARS = {chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32)]}


class WorkerError(Exception):
    """A refusal on the worker side (accept/return/submit); ``status`` is the HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def new_id(n: int = 30) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(n))


def synthetic_worker_id(label: str) -> str:
    """A stable MTurk-shaped WorkerId (``^A[A-Z0-9]+$``, 14 chars) for any label, e.g. the
    anonymised ``worker_32`` ids of the released crowd CSV."""
    digest = base64.b32encode(hashlib.sha256(label.encode()).digest()).decode()
    return "A" + "".join(c for c in digest if c.isalnum())[:13]


def _money(s: str | Decimal) -> Decimal:
    return Decimal(s).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _fee(amount: Decimal, *, max_assignments: int = 1, masters: bool = False) -> Decimal:
    # 20% commission, +20% for HITs with >= 10 assignments, +5% Masters; min $0.01 (§3 Money).
    rate = Decimal("0.20") + (Decimal("0.20") if max_assignments >= 10 else 0)
    rate += Decimal("0.05") if masters else 0
    return max(_money(amount * rate), Decimal("0.01"))


class EmulatorService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        accounting: Accounting = "sandbox",
        initial_balance: str = "10000.00",
        allow_http_questions: bool = False,
        base_url: Callable[[], str] = lambda: "http://127.0.0.1",
        list_lag_seconds: Callable[[], float] = lambda: 0.0,
        create_lag_seconds: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.lock = threading.RLock()
        self.allow_http_questions = allow_http_questions
        self.base_url = base_url
        self.list_lag_seconds = list_lag_seconds
        self.create_lag_seconds = create_lag_seconds
        meta = store["meta"].get("account")
        if meta is None:
            meta = store.put(
                "meta",
                "account",
                {"accounting": accounting, "balance": str(_money(initial_balance)), "seq": 0},
            )
            store.put("meta", "clock", {"offset": 0.0})
            store.commit()
        self.accounting: Accounting = meta["accounting"]
        self.clock._offset = max(self.clock.offset, store["meta"]["clock"]["offset"])
        self.clock.on_change.append(self._save_clock)
        self._by_hit: dict[str, list[str]] = {}
        self._active: set[str] = set()
        for aid, a in sorted(store["assignments"].items(), key=lambda kv: kv[1]["seq"]):
            self._by_hit.setdefault(a["HITId"], []).append(aid)
            if a["state"] in ("Accepted", "Submitted"):
                self._active.add(aid)
        self._ops: dict[str, Callable[[dict[str, Any], float], dict[str, Any]]] = {
            "GetAccountBalance": self._get_account_balance,
            "CreateHITType": self._create_hit_type,
            "CreateHIT": self._create_hit,
            "CreateHITWithHITType": self._create_hit_with_hit_type,
            "GetHIT": self._get_hit,
            "ListHITs": self._list_hits,
            "ListReviewableHITs": self._list_reviewable_hits,
            "ListAssignmentsForHIT": self._list_assignments,
            "GetAssignment": self._get_assignment,
            "ApproveAssignment": self._approve,
            "RejectAssignment": self._reject,
            "SendBonus": self._send_bonus,
            "ListBonusPayments": self._list_bonus_payments,
            "CreateAdditionalAssignmentsForHIT": self._add_assignments,
            "UpdateExpirationForHIT": self._update_expiration,
            "UpdateHITReviewStatus": self._update_review_status,
            "DeleteHIT": self._delete_hit,
            "CreateWorkerBlock": self._create_block,
            "DeleteWorkerBlock": self._delete_block,
            "ListWorkerBlocks": self._list_blocks,
            "NotifyWorkers": self._notify,
            "CreateQualificationType": self._create_qual_type,
            "GetQualificationType": self._get_qual_type,
            "ListQualificationTypes": self._list_qual_types,
            "GetQualificationScore": self._get_qual_score,
            "AssociateQualificationWithWorker": self._associate_qual,
            "DisassociateQualificationFromWorker": self._disassociate_qual,
            "ListWorkersWithQualificationType": self._list_workers_with_qual,
        }

    @property
    def operations(self) -> list[str]:
        return sorted(self._ops)

    # -- entry points ------------------------------------------------------------------------------
    def handle(self, op: str, params: Any) -> dict[str, Any]:
        """Run one requester operation; raises :class:`EmuError` with the wire error."""
        model = operation_model(op)
        if model is None:
            raise EmuError("UnknownOperationException", f"Unknown operation {op}", coral=True)
        validate_input(model, params)
        impl = self._ops.get(op)
        if impl is None:
            raise request_error(
                f"Operation {op} is not implemented by the local emulator", "AWS.NotImplemented"
            )
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            try:
                return impl(params, now)
            finally:
                # Validation happens before any mutation, so what changed is safe to keep.
                self.store.commit()

    def _save_clock(self, offset: float) -> None:
        with self.lock:
            self.store.put("meta", "clock", {"offset": offset})
            self.store.commit()

    def _next_seq(self) -> int:
        acct = self.store["meta"]["account"]
        acct["seq"] += 1
        self.store.put("meta", "account", acct)
        return int(acct["seq"])

    # -- lazy time-driven transitions --------------------------------------------------------------
    def _settle(self, now: float) -> None:
        for aid in sorted(self._active):
            a = self.store["assignments"][aid]
            if a["state"] == "Accepted" and now >= a["Deadline"]:
                self._release(a, at=a["Deadline"])
            elif a["state"] == "Submitted" and now >= a["AutoApprovalTime"]:
                hit = self.store["hits"][a["HITId"]]
                self._charge(self._assignment_cost(hit))  # auto-approval pays even if short
                a.update(state="Approved", ApprovalTime=a["AutoApprovalTime"])
                self.store.put("assignments", aid, a)
                self._active.discard(aid)

    def _release(self, a: Row, *, at: float) -> None:
        """Return/abandon: the slot comes back only while the HIT is unexpired (§3)."""
        hit = self.store["hits"][a["HITId"]]
        self._active.discard(a["AssignmentId"])
        if at < hit["Expiration"]:
            self.store.delete("assignments", a["AssignmentId"])
            self._by_hit[a["HITId"]].remove(a["AssignmentId"])
        else:
            a["state"] = "Lost"
            self.store.put("assignments", a["AssignmentId"], a)

    # -- shared lookups ------------------------------------------------------------------------
    def _hit_row(self, hit_id: str, *, allow_deleted: bool = False) -> Row:
        hit = self.store["hits"].get(hit_id)
        if hit is None or (hit["deleted"] and not allow_deleted):
            raise request_error(f"Hit {hit_id} does not exist.", E.HIT_DOES_NOT_EXIST)
        return hit

    def _hit_type(self, hit: Row) -> Row:
        return self.store["hit_types"][hit["HITTypeId"]]

    def _assignments_of(self, hit_id: str) -> list[Row]:
        rows = self.store["assignments"]
        return [rows[aid] for aid in self._by_hit.get(hit_id, [])]

    def _counts(self, hit: Row) -> dict[str, int]:
        c = {"Accepted": 0, "Submitted": 0, "Approved": 0, "Rejected": 0, "Lost": 0}
        for a in self._assignments_of(hit["HITId"]):
            c[a["state"]] += 1
        return c

    def _status(self, hit: Row, now: float) -> str:
        if hit["deleted"]:
            return "Disposed"
        if hit["reviewing"]:
            return "Reviewing"
        c = self._counts(hit)
        available = hit["MaxAssignments"] - sum(c.values())
        if now < hit["Expiration"] and available > 0:
            return "Assignable"
        if c["Accepted"] > 0:
            return "Unassignable"
        return "Reviewable"

    def _hit_out(self, hit: Row, now: float) -> dict[str, Any]:
        ht = self._hit_type(hit)
        c = self._counts(hit)
        out: dict[str, Any] = {
            "HITId": hit["HITId"],
            "HITTypeId": ht["HITTypeId"],
            "HITGroupId": ht["HITGroupId"],
            "CreationTime": hit["CreationTime"],
            "Title": ht["Title"],
            "Description": ht["Description"],
            "HITStatus": self._status(hit, now),
            "MaxAssignments": hit["MaxAssignments"],
            "Reward": ht["Reward"],
            "AutoApprovalDelayInSeconds": ht["AutoApprovalDelayInSeconds"],
            "Expiration": hit["Expiration"],
            "AssignmentDurationInSeconds": ht["AssignmentDurationInSeconds"],
            "QualificationRequirements": ht["QualificationRequirements"],
            "HITReviewStatus": "NotReviewed",
            "NumberOfAssignmentsPending": c["Accepted"],
            "NumberOfAssignmentsAvailable": max(0, hit["MaxAssignments"] - sum(c.values())),
            "NumberOfAssignmentsCompleted": c["Approved"] + c["Rejected"],
        }
        for key in ("Question", "HITLayoutId", "RequesterAnnotation"):
            if hit.get(key) is not None:
                out[key] = hit[key]
        if ht.get("Keywords"):
            out["Keywords"] = ht["Keywords"]
        return out

    @staticmethod
    def _assignment_out(a: Row) -> dict[str, Any]:
        out = {
            "AssignmentId": a["AssignmentId"],
            "WorkerId": a["WorkerId"],
            "HITId": a["HITId"],
            "AssignmentStatus": a["state"],
            "AutoApprovalTime": a["AutoApprovalTime"],
            "AcceptTime": a["AcceptTime"],
            "SubmitTime": a["SubmitTime"],
            "Answer": a["Answer"],
        }
        for key in ("ApprovalTime", "RejectionTime", "RequesterFeedback"):
            if a.get(key) is not None:
                out[key] = a[key]
        return out

    def _visible_assignment(self, assignment_id: str) -> Row:
        a = self.store["assignments"].get(assignment_id)
        if a is None or a["state"] not in ("Submitted", "Approved", "Rejected"):
            # In-progress assignments are invisible to the requester (§7 item 5).
            raise request_error(
                f"Assignment {assignment_id} does not exist.", E.ASSIGNMENT_DOES_NOT_EXIST
            )
        return a

    # -- validation helpers --------------------------------------------------------------------
    @staticmethod
    def _check_bounds(params: Mapping[str, Any]) -> None:
        problems = []
        for key, (lo, hi) in _BOUNDS.items():
            v = params.get(key)
            if v is not None and not lo <= v <= hi:
                problems.append(
                    f"Value '{v}' at '{key[:1].lower() + key[1:]}' failed to satisfy constraint: "
                    f"Member must have value between {lo} and {hi}"
                )
        for key, hi in _MAX_LEN.items():
            v = params.get(key)
            if isinstance(v, str) and len(v) > hi:
                problems.append(
                    f"Value '{v[:20]}...' at '{key[:1].lower() + key[1:]}' failed to satisfy "
                    f"constraint: Member must have length less than or equal to {hi}"
                )
        if len(params.get("QualificationRequirements") or []) > 10:
            problems.append(
                "Value at 'qualificationRequirements' failed to satisfy constraint: "
                "Member must have length less than or equal to 10"
            )
        if problems:
            raise validation_error(problems)
        fb = params.get("RequesterFeedback")
        if isinstance(fb, str) and _CONTROL_CHARS & set(fb):
            raise request_error(
                "RequesterFeedback must not contain ASCII control characters.",
                E.PARAMETER_OUT_OF_RANGE,
            )

    @staticmethod
    def _check_reward(amount: str, field: str = "Reward") -> Decimal:
        value = Decimal(amount)
        if value < Decimal("0.01"):
            raise request_error(
                f"The value {amount} for {field} is below the minimum of 0.01.",
                E.PARAMETER_OUT_OF_RANGE,
            )
        return _money(value)

    def _check_question(self, params: Mapping[str, Any]) -> None:
        has_q, has_layout = (
            params.get("Question") is not None,
            params.get("HITLayoutId") is not None,
        )
        if has_q == has_layout:
            raise request_error(
                "Exactly one of Question and HITLayoutId must be provided.",
                E.PARAMETER_OUT_OF_RANGE,
            )
        if has_q:
            try:
                parse_question(params["Question"], require_https=not self.allow_http_questions)
            except QuestionXMLError as exc:
                raise request_error(
                    f"There was an error parsing the XML question or answer data in your "
                    f"request: {exc}.",
                    E.XML_PARSE_ERROR,
                ) from exc

    def _token_check(self, kind: str, token: str | None, now: float) -> None:
        if not token:
            return
        if len(token) > 64:  # model has max 64 but we double-check here for non-model callers
            raise validation_error([f"Value '{token}' at 'uniqueRequestToken' too long"])
        row = self.store["tokens"].get(f"{kind}:{token}")
        if row is None or now - row["created"] >= TOKEN_WINDOW_S:
            return
        if kind == "hit":
            raise request_error(
                f'There is already a HIT with ID "{row["ref"]}" created with '
                f'UniqueRequestToken "{token}".',
                E.HIT_ALREADY_EXISTS,
            )
        raise request_error(
            f'The idempotency token "{token}" has already been processed. '
            f"Original request id: {row['request_id']}",
            E.DUPLICATE_REQUEST,
        )

    def _token_record(self, kind: str, token: str | None, ref: str, now: float) -> None:
        if token:
            self.store.put(
                "tokens",
                f"{kind}:{token}",
                {"created": now, "ref": ref, "request_id": str(uuid.uuid4())},
            )

    # -- money ---------------------------------------------------------------------------------
    def _masters(self, ht: Row) -> bool:
        return any(r["QualificationTypeId"] in MASTERS_IDS for r in ht["QualificationRequirements"])

    def _assignment_cost(self, hit: Row) -> Decimal:
        ht = self._hit_type(hit)
        reward = Decimal(ht["Reward"])
        return reward + _fee(
            reward, max_assignments=hit["MaxAssignments"], masters=self._masters(ht)
        )

    def _balance(self) -> Decimal:
        if self.accounting == "sandbox":
            return SANDBOX_BALANCE
        return Decimal(self.store["meta"]["account"]["balance"])

    def _on_hold(self, now: float) -> Decimal:
        if self.accounting == "sandbox":
            return Decimal("0.00")
        total = Decimal("0.00")
        for hit in self.store["hits"].values():
            if hit["deleted"]:
                continue
            c = self._counts(hit)
            open_slots = c["Accepted"] + c["Submitted"]
            if now < hit["Expiration"]:
                open_slots += max(0, hit["MaxAssignments"] - sum(c.values()))
            total += open_slots * self._assignment_cost(hit)
        return total

    def _require_funds(self, amount: Decimal, now: float, *, include_hold: bool) -> None:
        available = self._balance() - (self._on_hold(now) if include_hold else 0)
        if amount > available:
            raise request_error(
                "This Requester has insufficient funds in their account to complete this "
                "transaction. Please visit https://requester.mturk.com/account to purchase "
                "additional prepaid HITs.",
                E.INSUFFICIENT_FUNDS,
            )

    def _charge(self, amount: Decimal) -> None:
        if self.accounting == "sandbox":
            return
        acct = self.store["meta"]["account"]
        acct["balance"] = str(_money(Decimal(acct["balance"]) - amount))
        self.store.put("meta", "account", acct)

    # -- operations: account and HIT types -----------------------------------------------------
    def _get_account_balance(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        available = self._balance() - self._on_hold(now)
        return {
            "AvailableBalance": str(_money(available)),
            "OnHoldBalance": str(self._on_hold(now)),
        }

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
        creation (MTURK.md §3 eventual consistency), emulated by ``create_lag_seconds``."""
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

    # -- operations: workers ---------------------------------------------------------------------
    def _create_block(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        if p["WorkerId"] not in self.store["workers"]:
            raise parameter_validation_error(p["WorkerId"], "WorkerId")
        self.store.put(
            "blocks",
            p["WorkerId"],
            {"WorkerId": p["WorkerId"], "Reason": p["Reason"], "seq": self._next_seq()},
        )
        return {}

    def _delete_block(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self.store.delete("blocks", p["WorkerId"])  # succeeds even if not blocked (§2)
        return {}

    def _list_blocks(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        rows = sorted(self.store["blocks"].values(), key=lambda b: b["seq"])
        page, token = _paginate("ListWorkerBlocks", rows, p)
        return _page_out(
            {"WorkerBlocks": [{"WorkerId": b["WorkerId"], "Reason": b["Reason"]} for b in page]},
            token,
        )

    def _notify(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._check_bounds(p)
        if len(p["WorkerIds"]) > 100:
            raise validation_error(
                [
                    "Value at 'workerIds' failed to satisfy constraint: Member must have length "
                    "less than or equal to 100"
                ]
            )
        worked = {
            a["WorkerId"]
            for a in self.store["assignments"].values()
            if a["state"] in ("Approved", "Rejected")
        }
        failures = []
        for wid in p["WorkerIds"]:
            if wid in worked:
                self.store.put(
                    "notifications",
                    new_id(),
                    {
                        "WorkerId": wid,
                        "Subject": p["Subject"],
                        "MessageText": p["MessageText"],
                        "time": now,
                    },
                )
            else:
                failures.append(
                    {
                        "NotifyWorkersFailureCode": "HardFailure",
                        "NotifyWorkersFailureMessage": f"Cannot notify worker {wid}: the worker "
                        "has not done any work for you.",
                        "WorkerId": wid,
                    }
                )
        return {"NotifyWorkersFailureStatuses": failures}

    # -- operations: qualifications ------------------------------------------------------------
    def _create_qual_type(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        if any(q["Name"] == p["Name"] for q in self.store["qual_types"].values()):
            raise request_error(
                "You have already created a QualificationType with this name. A "
                "QualificationType's name must be unique among all of the QualificationTypes "
                "created by the same user.",
                E.QUALIFICATION_TYPE_ALREADY_EXISTS,
            )
        if p.get("Test") is not None:
            if p.get("TestDurationInSeconds") is None:
                raise request_error(
                    "Test requires TestDurationInSeconds.", E.PARAMETER_OUT_OF_RANGE
                )
            if p.get("AutoGranted"):
                raise request_error(
                    "Test and AutoGranted are mutually exclusive.", E.PARAMETER_OUT_OF_RANGE
                )
            try:
                parsed = parse_question(p["Test"])
            except QuestionXMLError as exc:
                raise request_error(f"Invalid Test: {exc}.", E.XML_PARSE_ERROR) from exc
            if parsed.kind != "QuestionForm":
                raise request_error(
                    "A qualification Test must be a QuestionForm.", E.XML_PARSE_ERROR
                )
        elif p.get("AnswerKey") is not None:
            raise request_error("AnswerKey requires Test.", E.PARAMETER_OUT_OF_RANGE)
        qtid = new_id()
        row: Row = {
            "QualificationTypeId": qtid,
            "CreationTime": now,
            "Name": p["Name"],
            "Description": p["Description"],
            "QualificationTypeStatus": p["QualificationTypeStatus"],
            "IsRequestable": p.get("Test") is not None or bool(p.get("AutoGranted")),
            "AutoGranted": bool(p.get("AutoGranted", False)),
        }
        for key in (
            "Keywords",
            "RetryDelayInSeconds",
            "Test",
            "AnswerKey",
            "TestDurationInSeconds",
        ):
            if p.get(key) is not None:
                row[key] = p[key]
        if row["AutoGranted"]:
            row["AutoGrantedValue"] = p.get("AutoGrantedValue", 1)
        self.store.put("qual_types", qtid, row)
        return {"QualificationType": dict(row)}

    def _qual_type(self, qtid: str) -> Row:
        row = self.store["qual_types"].get(qtid)
        if row is None:
            raise request_error(
                f"QualificationType {qtid} does not exist.", E.QUALIFICATION_TYPE_DOES_NOT_EXIST
            )
        return row

    def _get_qual_type(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        return {"QualificationType": dict(self._qual_type(p["QualificationTypeId"]))}

    def _list_qual_types(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        query = (p.get("Query") or "").lower()
        rows = sorted(
            (
                q
                for q in self.store["qual_types"].values()
                if (not p["MustBeRequestable"] or q["IsRequestable"])
                and (query in q["Name"].lower() or query in q["Description"].lower())
            ),
            key=lambda q: q["CreationTime"],
        )
        page, token = _paginate("ListQualificationTypes", rows, p)
        return _page_out({"QualificationTypes": [dict(q) for q in page]}, token)

    def _get_qual_score(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._qual_type(p["QualificationTypeId"])
        row = self.store["quals"].get(f"{p['QualificationTypeId']}:{p['WorkerId']}")
        if row is None:
            raise request_error(
                f"You requested a Qualification that does not exist. (worker {p['WorkerId']})",
                "AWS.MechanicalTurk.QualificationDoesNotExist",
            )
        return {"Qualification": dict(row)}

    def _associate_qual(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._qual_type(p["QualificationTypeId"])
        self._ensure_worker(p["WorkerId"])
        key = f"{p['QualificationTypeId']}:{p['WorkerId']}"
        # A repeat call overwrites the score (§2).
        self.store.put(
            "quals",
            key,
            {
                "QualificationTypeId": p["QualificationTypeId"],
                "WorkerId": p["WorkerId"],
                "GrantTime": now,
                "IntegerValue": p.get("IntegerValue", 1),
                "Status": "Granted",
            },
        )
        return {}

    def _disassociate_qual(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._qual_type(p["QualificationTypeId"])
        key = f"{p['QualificationTypeId']}:{p['WorkerId']}"
        row = self.store["quals"].get(key)
        if row is None or row["Status"] != "Granted":
            raise request_error(
                f"Worker {p['WorkerId']} does not hold qualification {p['QualificationTypeId']}.",
                "AWS.MechanicalTurk.QualificationDoesNotExist",
            )
        row["Status"] = "Revoked"
        self.store.put("quals", key, row)
        return {}

    def _list_workers_with_qual(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._qual_type(p["QualificationTypeId"])
        status = p.get("Status")
        rows = [
            q
            for key, q in sorted(self.store["quals"].items())
            if q["QualificationTypeId"] == p["QualificationTypeId"]
            and (status is None or q["Status"] == status)
        ]
        page, token = _paginate("ListWorkersWithQualificationType", rows, p)
        return _page_out({"Qualifications": [dict(q) for q in page]}, token)

    # -- worker side -------------------------------------------------------------------------------
    def _ensure_worker(self, worker_id: str) -> Row:
        row = self.store["workers"].get(worker_id)
        if row is None:
            row = self.store.put("workers", worker_id, _default_profile(worker_id))
        return row

    def set_worker_profile(self, worker_id: str, **profile: Any) -> dict[str, Any]:
        """Set system-qualification values: ``Locale`` ({"Country": "US"}), ``NumberHITsApproved``,
        ``PercentAssignmentsApproved``, ``Adult`` (0/1), ``Masters`` (bool)."""
        _check_worker_id(worker_id)
        unknown = set(profile) - set(_default_profile(worker_id))
        if unknown:
            raise WorkerError(400, "bad_profile", f"unknown profile fields {sorted(unknown)}")
        with self.lock:
            row = self._ensure_worker(worker_id)
            row.update(profile)
            self.store.put("workers", worker_id, row)
            self.store.commit()
            return dict(row)

    def _qual_value(self, worker: Row, qtid: str) -> tuple[int | None, dict[str, str] | None]:
        if qtid == QUAL_LOCALE:
            return None, worker["Locale"]
        system = {
            QUAL_HITS_APPROVED: worker["NumberHITsApproved"],
            QUAL_PERCENT_APPROVED: worker["PercentAssignmentsApproved"],
            QUAL_ADULT: worker["Adult"],
        }
        if qtid in system:
            return int(system[qtid]), None
        if qtid in MASTERS_IDS:
            return (1 if worker["Masters"] else None), None
        row = self.store["quals"].get(f"{qtid}:{worker['WorkerId']}")
        if row is None or row["Status"] != "Granted":
            return None, None
        return int(row["IntegerValue"]), None

    def _meets(self, worker: Row, req: Mapping[str, Any]) -> bool:
        value, locale = self._qual_value(worker, req["QualificationTypeId"])
        comp = req["Comparator"]
        has = value is not None or locale is not None
        if comp == "Exists":
            return has
        if comp == "DoesNotExist":
            return not has
        if not has:
            return False
        if locale is not None:
            wanted = [
                (lv["Country"], lv.get("Subdivision")) for lv in req.get("LocaleValues") or []
            ]
            mine = (locale["Country"], locale.get("Subdivision"))
            hit = any(c == mine[0] and (s is None or s == mine[1]) for c, s in wanted)
            return (
                hit
                if comp in ("EqualTo", "In")
                else not hit
                if comp in ("NotEqualTo", "NotIn")
                else False
            )
        ints = [int(v) for v in req.get("IntegerValues") or []]
        assert value is not None
        ops: dict[str, Callable[[], bool]] = {
            "LessThan": lambda: value < ints[0],
            "LessThanOrEqualTo": lambda: value <= ints[0],
            "GreaterThan": lambda: value > ints[0],
            "GreaterThanOrEqualTo": lambda: value >= ints[0],
            "EqualTo": lambda: value == ints[0],
            "NotEqualTo": lambda: value != ints[0],
            "In": lambda: value in ints,
            "NotIn": lambda: value not in ints,
        }
        return bool(ints) and ops[comp]()

    def _guard(self, worker: Row, ht: Row, *, preview: bool) -> None:
        for req in ht["QualificationRequirements"]:
            guarded = req.get("ActionsGuarded", "Accept")
            if preview and not (req.get("RequiredToPreview") or guarded != "Accept"):
                continue
            if not self._meets(worker, req):
                raise WorkerError(
                    403,
                    "qualification_not_met",
                    f"Worker {worker['WorkerId']} does not meet the qualification requirement "
                    f"{req['QualificationTypeId']} {req['Comparator']}",
                )

    def frame_url(self, hit: Row, *, assignment_id: str, worker_id: str | None) -> str | None:
        """The ExternalURL plus ``assignmentId``, ``hitId``, ``turkSubmitTo``, ``workerId``."""
        if not hit.get("Question"):
            return None
        parsed = parse_question(hit["Question"], require_https=False)
        if parsed.external_url is None:
            return None
        parts = urlsplit(parsed.external_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query += [("assignmentId", assignment_id), ("hitId", hit["HITId"])]
        if worker_id is not None:
            query += [("turkSubmitTo", self.base_url()), ("workerId", worker_id)]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def worker_preview(self, hit_id: str, worker_id: str | None = None) -> str | None:
        """Frame URL in preview (``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE``)."""
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            hit = self._worker_hit(hit_id)
            if worker_id is not None:
                _check_worker_id(worker_id)
                self._guard(self._ensure_worker(worker_id), self._hit_type(hit), preview=True)
            self.store.commit()
            return self.frame_url(hit, assignment_id=PREVIEW_ASSIGNMENT_ID, worker_id=worker_id)

    def _worker_hit(self, hit_id: str) -> Row:
        hit = self.store["hits"].get(hit_id)
        if hit is None or hit["deleted"]:
            raise WorkerError(404, "hit_not_found", f"HIT {hit_id} does not exist")
        return hit

    def worker_accept(self, hit_id: str, worker_id: str) -> dict[str, Any]:
        """Accept a HIT as a worker → ``{assignmentId, hitId, workerId, frameUrl, deadline}``."""
        _check_worker_id(worker_id)
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            try:
                hit = self._worker_hit(hit_id)
                worker = self._ensure_worker(worker_id)
                if worker_id in self.store["blocks"]:
                    raise WorkerError(
                        403, "worker_blocked", f"Worker {worker_id} is blocked by this requester"
                    )
                mine = [a for a in self._assignments_of(hit_id) if a["WorkerId"] == worker_id]
                if mine:
                    raise WorkerError(
                        409,
                        "already_accepted",
                        f"Worker {worker_id} already has assignment {mine[0]['AssignmentId']} "
                        f"({mine[0]['state']}) for HIT {hit_id}; one assignment per worker per HIT",
                    )
                status = self._status(hit, now)
                if status != "Assignable":
                    why = "expired" if now >= hit["Expiration"] else "has no free assignment"
                    raise WorkerError(
                        409, "hit_not_assignable", f"HIT {hit_id} is {status} ({why})"
                    )
                ht = self._hit_type(hit)
                self._guard(worker, ht, preview=False)
                aid = new_id()
                a = {
                    "AssignmentId": aid,
                    "WorkerId": worker_id,
                    "HITId": hit_id,
                    "state": "Accepted",
                    "AcceptTime": now,
                    "Deadline": now + ht["AssignmentDurationInSeconds"],
                    "seq": self._next_seq(),
                }
                self.store.put("assignments", aid, a)
                self._by_hit[hit_id].append(aid)
                self._active.add(aid)
                return {
                    "assignmentId": aid,
                    "hitId": hit_id,
                    "workerId": worker_id,
                    "frameUrl": self.frame_url(hit, assignment_id=aid, worker_id=worker_id),
                    "deadline": a["Deadline"],
                }
            finally:
                self.store.commit()

    def _worker_assignment(self, assignment_id: str, worker_id: str | None) -> Row:
        a = self.store["assignments"].get(assignment_id)
        if a is None or a["state"] == "Lost":
            raise WorkerError(
                404,
                "assignment_not_found",
                f"Assignment {assignment_id} does not exist (returned, abandoned or unknown)",
            )
        if worker_id is not None and a["WorkerId"] != worker_id:
            raise WorkerError(
                403, "wrong_worker", f"Assignment {assignment_id} belongs to another worker"
            )
        if a["state"] != "Accepted":
            raise WorkerError(
                409, "already_submitted", f"Assignment {assignment_id} is already {a['state']}"
            )
        return a

    def worker_return(self, assignment_id: str, worker_id: str | None = None) -> None:
        """Return an accepted assignment (its slot frees only while the HIT is unexpired)."""
        self._end(assignment_id, worker_id)

    def worker_abandon(self, assignment_id: str, worker_id: str | None = None) -> None:
        """Abandon now, as if the assignment's deadline passed."""
        self._end(assignment_id, worker_id)

    def _end(self, assignment_id: str, worker_id: str | None) -> None:
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            try:
                self._release(self._worker_assignment(assignment_id, worker_id), at=now)
            finally:
                self.store.commit()

    def worker_submit(self, fields: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """The externalSubmit handler: ``fields`` are the posted form pairs, which must include
        ``assignmentId``; the others (minus reserved names) become FreeText answers."""
        pairs = list(fields)
        form = dict(pairs)
        aid = form.get("assignmentId")
        if not aid:
            raise WorkerError(
                400, "missing_assignment_id", "the form must post an assignmentId field"
            )
        if aid == PREVIEW_ASSIGNMENT_ID:
            raise WorkerError(
                400, "preview", "cannot submit while previewing; accept the HIT first"
            )
        answers = [
            (k, v)
            for k, v in pairs
            if k not in ("assignmentId", "hitId", "turkSubmitTo", "workerId")
        ]
        if not answers:
            raise WorkerError(400, "no_answers", "the form posted no answer fields")
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            try:
                a = self._worker_assignment(aid, form.get("workerId"))
                if form.get("hitId") and form["hitId"] != a["HITId"]:
                    # MTurk only accepts an assignment for the HIT it was issued for.
                    raise WorkerError(
                        403,
                        "wrong_hit",
                        f"Assignment {aid} was not issued for HIT {form['hitId'][:64]}",
                    )
                ht = self._hit_type(self.store["hits"][a["HITId"]])
                a.update(
                    state="Submitted",
                    SubmitTime=now,
                    AutoApprovalTime=now + ht["AutoApprovalDelayInSeconds"],
                    Answer=build_answers(answers),
                )
                self.store.put("assignments", aid, a)
                self._settle(now)  # AutoApprovalDelayInSeconds=0 approves at once
                return {
                    "assignmentId": aid,
                    "hitId": a["HITId"],
                    "workerId": a["WorkerId"],
                    "status": a["state"],
                }
            finally:
                self.store.commit()

    def summary(self) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            self.store.commit()
            return {
                "now": now,
                "accounting": self.accounting,
                "hits": [
                    self._hit_out(h, now)
                    for h in sorted(self.store["hits"].values(), key=lambda h: h["seq"])
                ],
                "blocks": sorted(self.store["blocks"]),
                "bonuses": len(self.store["bonuses"]),
                "notifications": len(self.store["notifications"]),
                "balance": self._get_account_balance({}, now),
            }


def _default_profile(worker_id: str) -> Row:
    return {
        "WorkerId": worker_id,
        "Locale": {"Country": "US"},
        "NumberHITsApproved": 1000,
        "PercentAssignmentsApproved": 100,
        "Adult": 1,
        "Masters": False,
    }


def _check_worker_id(worker_id: str) -> None:
    if not (
        isinstance(worker_id, str)
        and 2 <= len(worker_id) <= 64
        and worker_id[0] == "A"
        and all(c in _ID_ALPHABET for c in worker_id[1:])
    ):
        raise WorkerError(
            400,
            "bad_worker_id",
            f"WorkerId {worker_id!r} must match ^A[A-Z0-9]+$ (see synthetic_worker_id())",
        )


def _to_id(hexdigest: str) -> str:
    return "".join(c for c in hexdigest if c.isalnum())[:30]


def _hit_state_error(status: str, allowed: str) -> EmuError:
    return request_error(
        f"This HIT is currently in the state '{status}'. This operation can be called with a "
        f"status of: {allowed}",
        E.INVALID_HIT_STATE,
    )


def _assignment_state_error() -> EmuError:
    return request_error(
        "This operation can be called with a status of: Submitted", E.INVALID_ASSIGNMENT_STATE
    )


def _paginate(op: str, rows: list[Row], p: Mapping[str, Any]) -> tuple[list[Row], str | None]:
    """Offset pagination with opaque ``p1:`` tokens: a token on every non-empty page, none on the
    empty final page (what the real service does, §2 Pagination)."""
    size = p.get("MaxResults") or DEFAULT_PAGE
    start = 0
    token = p.get("NextToken")
    if token:
        try:
            raw = (
                base64.urlsafe_b64decode(token[3:].encode()).decode()
                if token.startswith("p1:")
                else ""
            )
            tag, _, offset = raw.rpartition(":")
            if tag != op:
                raise ValueError(token)
            start = int(offset)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise request_error(
                f"The pagination token {token} is invalid.", E.PARAMETER_OUT_OF_RANGE
            ) from exc
    page = rows[start : start + size]
    if not page:
        return page, None
    nxt = "p1:" + base64.urlsafe_b64encode(f"{op}:{start + len(page)}".encode()).decode()
    return page, nxt


def _page_out(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    items = next(iter(body.values()))
    out = {**body, "NumResults": len(items)}
    if token:
        out["NextToken"] = token
    return out
