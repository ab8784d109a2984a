"""The emulator's money: fees, balance, holds and charges (docs/MTURK.md §3 Money)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.mturk import errors as E
from app.mturk.emulator.core import MASTERS_IDS, SANDBOX_BALANCE, _fee, _money
from app.mturk.emulator.protocol import (
    request_error,
)
from app.mturk.emulator.store import Row
from app.mturk.emulator.validation import Validation


class Money(Validation):
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
