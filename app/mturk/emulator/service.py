"""The emulator's dispatcher over one MTurk requester account (operations live in mixins).

:class:`EmulatorService` holds the state (a :class:`~app.mturk.emulator.store.Store`) behind one
lock. ``handle(op, params)`` runs a requester operation from its wire JSON and returns the output
JSON; the ``worker_*`` methods are the worker side MTurk's API does not have (accept, return,
abandon, externalSubmit). Rules follow docs/MTURK.md §2-3 and §7; HIT status is derived on every
read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.mturk.emulator.clock import Clock
from app.mturk.emulator.core import (
    PREVIEW_ASSIGNMENT_ID,
    Accounting,
    WorkerError,
    synthetic_worker_id,
)
from app.mturk.emulator.model import operation_model, validate_input
from app.mturk.emulator.protocol import EmuError, request_error
from app.mturk.emulator.store import Store
from app.mturk.emulator.worker_side import WorkerSide

__all__ = [
    "PREVIEW_ASSIGNMENT_ID",
    "Accounting",
    "EmulatorService",
    "WorkerError",
    "synthetic_worker_id",
]


class EmulatorService(WorkerSide):
    """The dispatcher: every requester operation by its wire name, run under the lock. The
    operations live in the mixins it inherits (``ops_*``, ``money``, ``worker_side``)."""

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
        super().__init__(
            store,
            clock,
            accounting=accounting,
            initial_balance=initial_balance,
            allow_http_questions=allow_http_questions,
            base_url=base_url,
            list_lag_seconds=list_lag_seconds,
            create_lag_seconds=create_lag_seconds,
        )
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
                # Every assignment in any state (accepted, submitted, returned, abandoned, ...),
                # without the answer XML.
                "assignments": [
                    {k: v for k, v in self._assignment_out(a).items() if k != "Answer"}
                    for a in sorted(self.store["assignments"].values(), key=lambda a: a["seq"])
                ],
                "blocks": sorted(self.store["blocks"]),
                "bonuses": len(self.store["bonuses"]),
                "notifications": len(self.store["notifications"]),
                "balance": self._get_account_balance({}, now),
            }
