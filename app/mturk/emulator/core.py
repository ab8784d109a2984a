"""State and shared reads of the emulated MTurk requester account.

:class:`ServiceCore` holds the store, the clock and the lock and derives HIT status on every read
(docs/MTURK.md §2-3 and §7). The operation groups are mixins layered on it, in
``validation`` → ``money`` → ``ops_workers`` → ``ops_qualifications`` → ``ops_hits`` →
``ops_assignments`` → ``worker_side``; :mod:`app.mturk.emulator.service` is the dispatcher.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import string
import threading
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from app.mturk import errors as E
from app.mturk.emulator.clock import Clock
from app.mturk.emulator.protocol import (
    EmuError,
    request_error,
)
from app.mturk.emulator.store import Row, Store

Accounting = Literal["sandbox", "production"]
PREVIEW_ASSIGNMENT_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"
SANDBOX_BALANCE = Decimal("10000.00")
TOKEN_WINDOW_S = 24 * 3600
OVERRIDE_WINDOW_S = 30 * 24 * 3600
DEFAULT_PAGE = 10
# System qualification type ids (docs/MTURK.md §2).
QUAL_LOCALE = "00000000000000000071"
QUAL_HITS_APPROVED = "00000000000000000040"
QUAL_PERCENT_APPROVED = "000000000000000000L0"
QUAL_ADULT = "00000000000000000060"
MASTERS_IDS = frozenset({"2ARFPLSP75KLA8M8DH1HTEQVJT3SY6", "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH"})
_ID_ALPHABET = string.ascii_uppercase + string.digits
# Legacy CreateHIT bounds (docs/MTURK.md §2) that the service model does not carry.
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


class ServiceCore:
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

    def _save_clock(self, offset: float) -> None:
        with self.lock:
            self.store.put("meta", "clock", {"offset": offset})
            self.store.commit()

    def _next_seq(self) -> int:
        acct = self.store["meta"]["account"]
        acct["seq"] += 1
        self.store.put("meta", "account", acct)
        return int(acct["seq"])

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
