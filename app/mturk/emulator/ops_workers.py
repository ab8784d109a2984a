"""The emulator's worker records and profiles, the system qualifications they carry, blocks
and notifications."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.mturk.emulator.core import (
    MASTERS_IDS,
    QUAL_ADULT,
    QUAL_HITS_APPROVED,
    QUAL_LOCALE,
    QUAL_PERCENT_APPROVED,
    WorkerError,
    _check_worker_id,
    _default_profile,
    _page_out,
    _paginate,
    new_id,
)
from app.mturk.emulator.money import Money
from app.mturk.emulator.protocol import (
    parameter_validation_error,
    validation_error,
)
from app.mturk.emulator.store import Row


class WorkerOps(Money):
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
