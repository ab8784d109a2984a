"""The emulator's dispatcher over one MTurk requester account (operations live in mixins).

:class:`EmulatorService` holds the state (a :class:`~app.mturk.emulator.store.Store`) behind one
lock. ``handle(op, params)`` runs a requester operation from its wire JSON and returns the output
JSON; the ``worker_*`` methods are the worker side MTurk's API does not have (accept, return,
abandon, externalSubmit). Rules follow docs/MTURK.md §2-3 and §7; HIT status is derived on every
read.
"""

from __future__ import annotations

from typing import Any, ClassVar

from app.mturk.emulator.core import (
    PREVIEW_ASSIGNMENT_ID,
    Accounting,
    WorkerError,
    synthetic_worker_id,
)
from app.mturk.emulator.model import operation_model, validate_input
from app.mturk.emulator.protocol import EmuError, request_error
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

    #: Each requester operation by its wire name, and the method (of a mixin) that runs it.
    OPERATIONS: ClassVar[dict[str, str]] = {
        "GetAccountBalance": "_get_account_balance",
        "CreateHITType": "_create_hit_type",
        "CreateHIT": "_create_hit",
        "CreateHITWithHITType": "_create_hit_with_hit_type",
        "GetHIT": "_get_hit",
        "ListHITs": "_list_hits",
        "ListReviewableHITs": "_list_reviewable_hits",
        "ListAssignmentsForHIT": "_list_assignments",
        "GetAssignment": "_get_assignment",
        "ApproveAssignment": "_approve",
        "RejectAssignment": "_reject",
        "SendBonus": "_send_bonus",
        "ListBonusPayments": "_list_bonus_payments",
        "CreateAdditionalAssignmentsForHIT": "_add_assignments",
        "UpdateExpirationForHIT": "_update_expiration",
        "UpdateHITReviewStatus": "_update_review_status",
        "DeleteHIT": "_delete_hit",
        "CreateWorkerBlock": "_create_block",
        "DeleteWorkerBlock": "_delete_block",
        "ListWorkerBlocks": "_list_blocks",
        "NotifyWorkers": "_notify",
        "CreateQualificationType": "_create_qual_type",
        "GetQualificationType": "_get_qual_type",
        "ListQualificationTypes": "_list_qual_types",
        "GetQualificationScore": "_get_qual_score",
        "AssociateQualificationWithWorker": "_associate_qual",
        "DisassociateQualificationFromWorker": "_disassociate_qual",
        "ListWorkersWithQualificationType": "_list_workers_with_qual",
    }

    @property
    def operations(self) -> list[str]:
        return sorted(self.OPERATIONS)

    # -- entry points ------------------------------------------------------------------------------
    def handle(self, op: str, params: Any) -> dict[str, Any]:
        """Run one requester operation; raises :class:`EmuError` with the wire error."""
        model = operation_model(op)
        if model is None:
            raise EmuError("UnknownOperationException", f"Unknown operation {op}", coral=True)
        validate_input(model, params)
        name = self.OPERATIONS.get(op)
        if name is None:
            raise request_error(
                f"Operation {op} is not implemented by the local emulator", "AWS.NotImplemented"
            )
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            try:
                result: dict[str, Any] = getattr(self, name)(params, now)
                return result
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
