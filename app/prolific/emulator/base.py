"""The emulator's state: store, virtual clock, workspaces and wallet, the study progress rule."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.mturk.emulator.clock import Clock
from app.mturk.emulator.store import Store
from app.prolific.emulator.rules import (
    AUTO_APPROVE_SECONDS,
    DEFAULT_TOKEN,
    FINISHED,
    RESERVATION_SECONDS,
    ApiError,
    EmuConfig,
    _minor,
    new_id,
)


class ServiceBase:
    """State, time, accounts and money; one lock serialises every request."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        tokens: dict[str, str] | None = None,
        initial_balance_minor: int = 10_000_000,
    ) -> None:
        self.store = store
        self.clock = clock
        self.lock = threading.RLock()
        self.config = EmuConfig()
        saved = store["meta"].get("config")
        if saved:
            self.config = EmuConfig(**saved["value"])
        offset = store["meta"].get("clock")
        if offset:
            self.clock.advance(max(0.0, float(offset["value"]) - self.clock.offset))
        if not store["workspaces"]:
            self._bootstrap(tokens or {DEFAULT_TOKEN: "Emulator workspace"}, initial_balance_minor)
        self.tokens = {
            t[6:]: row["workspace"] for t, row in store["meta"].items() if t[:6] == "token:"
        }

    def _bootstrap(self, tokens: dict[str, str], balance: int) -> None:
        for token, title in tokens.items():
            ws: dict[str, Any] = {
                "id": new_id(),
                "title": title,
                "description": "",
                "owner": new_id(),
                "currency_code": self.config.currency_code,
                "balance": balance,  # total, minor units
                "reserved": 0,
            }
            self.store.put("workspaces", ws["id"], ws)
            self.store.put("meta", f"token:{token}", {"workspace": ws["id"]})
            project: dict[str, Any] = {"id": new_id(), "title": "Project", "workspace": ws["id"]}
            self.store.put("projects", project["id"], project)
        self.store.commit()

    def save_settings(self) -> None:
        self.store.put("meta", "config", {"value": self.config.to_json()})
        self.store.put("meta", "clock", {"value": self.clock.offset})

    # -- time --------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def stamp(self, ts: float | None, *, list_row: bool = False) -> str | None:
        """ISO-8601 UTC; detail gives milliseconds, list rows microseconds (docs/PROLIFIC.md §1)."""
        if ts is None:
            return None
        dt = datetime.fromtimestamp(ts, UTC)
        if list_row:
            return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"

    def tick(self) -> None:
        """Apply everything the clock has made due (run before each request)."""
        now = self.now()
        touched: set[str] = set()
        for sub in list(self.store["submissions"].values()):
            study = self.store["studies"].get(sub["study_id"])
            if study is None:
                continue
            changed = False
            if sub.get("lands_at") is not None and sub["lands_at"] <= now:
                sub["status"] = sub.pop("pending_status")
                sub["lands_at"] = None
                changed = True
                if sub["status"] == "APPROVED":
                    self._charge(study, sub)
            if sub["status"] == "RESERVED" and now - sub["started_at"] > RESERVATION_SECONDS:
                sub["status"] = "TIMED-OUT"
                changed = True
            if (
                sub["status"] == "ACTIVE"
                and sub.get("lands_at") is None
                and now - sub["started_at"] > 60 * study["maximum_allowed_time"]
            ):
                sub["status"] = "TIMED-OUT"
                changed = True
            if (
                sub["status"] == "AWAITING REVIEW"
                and sub.get("completed_at")
                and now - sub["completed_at"] > AUTO_APPROVE_SECONDS
            ):
                sub["status"] = "APPROVED"
                sub["auto_approved"] = True
                self._charge(study, sub)
                changed = True
            if changed:
                self.store.put("submissions", sub["id"], sub)
                touched.add(study["id"])
        for study_id in touched:
            self._study_progress(self.store["studies"][study_id])

    # -- accounts ----------------------------------------------------------------------------
    def workspace_for(self, authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise ApiError(401, "Authentication credentials were not provided.")
        scheme, _, token = authorization.partition(" ")
        if scheme != "Token" or not token:
            raise ApiError(401, "Invalid token header. Use 'Authorization: Token <token>'.")
        ws_id = self.tokens.get(token.strip())
        if ws_id is None:
            raise ApiError(401, "Invalid token.")
        return dict(self.store["workspaces"][ws_id])

    def _own(self, table: str, obj_id: str, ws: dict[str, Any]) -> dict[str, Any]:
        row = self.store[table].get(obj_id)
        if row is None or row.get("workspace") != ws["id"]:
            raise ApiError(404, f"No {table[:-1]} matches the given query.")
        return row

    # -- money -------------------------------------------------------------------------------
    def split(self, rewards: int) -> tuple[int, int]:
        """Fees and VAT (on fees) for ``rewards`` minor units."""
        fees = _minor(Decimal(rewards) * Decimal(str(self.config.fees_percentage)) / 100)
        vat = _minor(Decimal(fees) * Decimal(str(self.config.vat_percentage)) / 100)
        return fees, vat

    def cost(self, reward: int, places: int) -> int:
        rewards = reward * places
        fees, vat = self.split(rewards)
        return rewards + fees + vat

    def _charge(self, study: dict[str, Any], sub: dict[str, Any]) -> None:
        if sub.get("charged"):
            return
        ws = self.store["workspaces"][study["workspace"]]
        per = self.cost(study["reward"], 1)
        ws["balance"] -= per
        ws["reserved"] = max(0, ws["reserved"] - per)
        sub["charged"] = True
        self.store.put("workspaces", ws["id"], ws)

    def balance(self, ws_id: str) -> dict[str, Any]:
        ws = self.store["workspaces"][ws_id]
        fees, vat = self.split(ws["balance"])

        def breakdown(total: int) -> dict[str, int]:
            f = _minor(Decimal(total) * Decimal(fees) / max(ws["balance"], 1))
            v = _minor(Decimal(total) * Decimal(vat) / max(ws["balance"], 1))
            return {"rewards": total - f - v, "fees": f, "vat": v}

        available = ws["balance"] - ws["reserved"]
        return {
            "currency_code": ws["currency_code"],
            "total_balance": ws["balance"],
            "balance_breakdown": breakdown(ws["balance"]),
            "available_balance": available,
            "available_balance_breakdown": breakdown(available),
        }

    def _study_progress(self, study: dict[str, Any]) -> None:
        """AWAITING REVIEW once finished submissions fill the places; COMPLETED once approved."""
        if study["status"] not in ("ACTIVE", "AWAITING REVIEW", "PAUSED", "COMPLETED"):
            return
        subs = [s for s in self.store["submissions"].values() if s["study_id"] == study["id"]]
        finished = [s for s in subs if s["status"] in FINISHED]
        if study["status"] == "PAUSED":
            return
        if len(finished) >= study["total_available_places"] or study.get("stopped"):
            if any(s["status"] == "AWAITING REVIEW" for s in finished):
                study["status"] = "AWAITING REVIEW"
            elif not any(s["status"] in ("ACTIVE", "RESERVED") for s in subs):
                study["status"] = "COMPLETED"
        elif study["status"] in ("AWAITING REVIEW", "COMPLETED") and not study.get("stopped"):
            # a place reopened (reject / return while full): docs/PROLIFIC.md §2 Conflicts → PAUSED
            study["status"] = "PAUSED"
        self.store.put("studies", study["id"], study)
