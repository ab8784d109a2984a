"""A local emulator of Prolific's researcher API v1 and of the participant's side of a study.

It follows PROLIFIC.md §8 ("What the emulator must reproduce"): ``Token`` auth (anything else is a
401), paths with or without the trailing slash and no redirects, Prolific's nested error shape
(the flat one on list/create study and bulk-approve, or forced either way), the create-study
validation of §2, the study and submission state machines, places and eligibility filters, a
virtual clock (reservation lapse, timeouts, 21-day auto-approval), the completion redirect
(``GET /submissions/complete?cc=``, landing after a configurable delay), bonus create + pay (a
second pay pays again), participant groups, both pagination styles, a wallet with fees and VAT,
persistent state and fault injection.

Control surface (``/_emu/…``, not Prolific): ``POST /_emu/participants {"n"}`` → new 24-hex ids;
``GET /_emu/join/{study}?participant=PID`` (a browser: sets the participant cookie and redirects to
the study URL with ``PROLIFIC_PID``, ``STUDY_ID``, ``SESSION_ID`` filled in) or ``POST
/_emu/studies/{study}/join {"participant_id"}`` → ``{submission_id, url}``; ``POST
/_emu/submissions/{id}/return``; ``GET|POST /_emu/clock {"advance"}``; ``GET|POST|DELETE
/_emu/faults``; ``GET|POST /_emu/config``; ``GET /_emu/state``; ``GET /_emu/health``.

Not emulated: webhooks, messages, Taskflow, filter sets, test participants.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from app.mturk.emulator.clock import Clock
from app.mturk.emulator.faults import Faults
from app.mturk.emulator.store import Store

log = logging.getLogger(__name__)

API = "/api/v1"
MAX_BODY = 2 * 1024 * 1024
TABLES = (
    "meta",
    "workspaces",
    "projects",
    "studies",
    "submissions",
    "groups",
    "bonuses",
    "participants",
)
DEFAULT_TOKEN = "emulator-token"
ID_OPTIONS = ("question", "url_parameters", "not_required")
CODE_TYPES = (
    "COMPLETED",
    "FAILED_ATTENTION_CHECK",
    "FOLLOW_UP_STUDY",
    "GIVE_BONUS",
    "INCOMPATIBLE_DEVICE",
    "NO_CONSENT",
    "OTHER",
    "FIXED_SCREENOUT",
    "SCREENED_IN",
    "SCREENED_OUT",
)
CODE_ACTIONS = (
    "AUTOMATICALLY_APPROVE",
    "MANUALLY_REVIEW",
    "ADD_TO_PARTICIPANT_GROUP",
    "REMOVE_FROM_PARTICIPANT_GROUP",
    "REQUEST_RETURN",
    "DYNAMIC_PAYMENT",
    "FIXED_SCREEN_OUT_PAYMENT",
)
REJECTION_CATEGORIES = (
    "TOO_QUICKLY",
    "TOO_SLOWLY",
    "FAILED_INSTRUCTIONS",
    "INCOMP_LONGITUDINAL",
    "FAILED_CHECK",
    "LOW_EFFORT",
    "MALINGERING",
    "NO_CODE",
    "BAD_CODE",
    "NO_DATA",
    "UNSUPP_DEVICE",
    "OTHER",
)
SUBMISSION_ACTIONS = ("APPROVE", "COMPLETE", "REJECT", "RETURN", "START", "SCREEN_OUT")
SUBMISSION_ACTIONS_ALL = (*SUBMISSION_ACTIONS, "UNREJECT", "UNRETURN")
HOLDS_PLACE = ("RESERVED", "ACTIVE", "AWAITING REVIEW", "APPROVED")
FINISHED = ("AWAITING REVIEW", "APPROVED")
ALLOWED_TAGS = {"b", "i", "em", "strong", "s", "u", "h1", "h2", "ol", "ul", "li", "p"}
PATCH_AFTER_PUBLISH = {
    "internal_name",
    "total_available_places",
    "access_details",
    "submissions_config",
}
STUDY_TRANSITIONS = {
    ("UNPUBLISHED", "PUBLISH"): "ACTIVE",
    ("UNPUBLISHED", "SCHEDULE_PUBLISH"): "SCHEDULED",
    ("SCHEDULED", "CANCEL_PUBLISH"): "UNPUBLISHED",
    ("ACTIVE", "PAUSE"): "PAUSED",
    ("ACTIVE", "STOP"): "COMPLETED",
    ("PAUSED", "START"): "ACTIVE",
    ("PAUSED", "STOP"): "COMPLETED",
    ("AWAITING REVIEW", "STOP"): "AWAITING REVIEW",
}
RESERVATION_SECONDS = 600
AUTO_APPROVE_SECONDS = 21 * 86400
_TAG = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9]*)")
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
CENT = Decimal("0.01")


def new_id() -> str:
    """A 24-hex ObjectId-shaped id (PROLIFIC.md §1 Formats)."""
    return secrets.token_hex(12)


class ApiError(Exception):
    """A Prolific-shaped error: ``status``, ``title``, ``detail`` (str, list or field dict)."""

    def __init__(
        self, status: int, detail: Any, *, title: str | None = None, error_code: int | None = None
    ) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.title = title or {
            400: "Bad request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not found",
            429: "Too many requests",
        }.get(status, "Error")
        self.error_code = error_code or {400: 140100, 401: 140101, 404: 140104}.get(status, 0)


def _minor(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass
class EmuConfig:
    """Switches of the emulator (``/_emu/config``)."""

    error_shape: str = "auto"  # auto | nested | flat
    completion_delay_seconds: float = 0.0  # the completion status lands after this (Dall's race)
    max_time_rule: str = "spec"  # spec: 2+2·ETA+2√ETA; help: 2+ETA+2√ETA (PROLIFIC.md §2)
    money: bool = True  # wallet checks at publish
    fees_percentage: float = 33.33
    vat_percentage: float = 0.0
    currency_code: str = "GBP"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ProlificService:
    """The state and rules; one lock serialises every request (the emulator is small)."""

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
        """ISO-8601 UTC; detail gives milliseconds, list rows microseconds (PROLIFIC.md §1)."""
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

    # -- studies -----------------------------------------------------------------------------
    def min_max_time(self, eta: int) -> int:
        factor = 2 if self.config.max_time_rule == "spec" else 1
        return math.ceil(2 + factor * eta + 2 * math.sqrt(eta))

    def validate_study(self, body: dict[str, Any], ws: dict[str, Any]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}

        def bad(field: str, msg: str) -> None:
            errors.setdefault(field, []).append(msg)

        for name in ("name", "description"):
            value = body.get(name)
            if not isinstance(value, str) or not value.strip():
                bad(name, "This field is required.")
        desc = body.get("description")
        if isinstance(desc, str):
            tags = {t.lower() for t in _TAG.findall(desc)} - ALLOWED_TAGS
            if tags:
                bad("description", f"HTML tags not allowed: {sorted(tags)}")
        methods = [k for k in ("external_study_url", "access_details", "data_collection_method")]
        given = [k for k in methods if body.get(k) not in (None, "", [])]
        if len(given) != 1:
            bad(
                "external_study_url",
                "Provide exactly one of external_study_url, access_details or "
                "data_collection_method.",
            )
        option = body.get("prolific_id_option")
        if option not in ID_OPTIONS:
            bad("prolific_id_option", f'"{option}" is not a valid choice.')
        url = body.get("external_study_url")
        if isinstance(url, str) and url:
            if not re.match(r"^https?://", url):
                bad("external_study_url", "Enter a valid URL.")
            if option == "url_parameters" and "{{%PROLIFIC_PID%}}" not in url:
                bad(
                    "external_study_url",
                    "The URL must contain {{%PROLIFIC_PID%}} when prolific_id_option is "
                    "url_parameters.",
                )
        for name in ("total_available_places", "estimated_completion_time", "reward"):
            value = body.get(name)
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and name == "reward":
                    bad(name, "A valid integer is required (reward is in minor units).")
                else:
                    bad(name, "A valid integer is required.")
            elif value < (0 if name == "reward" else 1):
                bad(name, "Ensure this value is greater than or equal to 1.")
        eta = body.get("estimated_completion_time")
        mat = body.get("maximum_allowed_time")
        if mat is not None:
            if isinstance(mat, bool) or not isinstance(mat, int):
                bad("maximum_allowed_time", "A valid integer is required.")
            elif isinstance(eta, int) and not isinstance(eta, bool) and eta >= 1:
                low = self.min_max_time(eta)
                if mat < low:
                    bad("maximum_allowed_time", f"Ensure this value is greater than {low - 1}.")
        codes = body.get("completion_codes")
        if not isinstance(codes, list) or not codes:
            bad("completion_codes", "At least one completion code is required.")
        else:
            seen: set[str] = set()
            for n, code in enumerate(codes):
                if not isinstance(code, dict):
                    bad("completion_codes", f"Item {n} is not an object.")
                    continue
                value = code.get("code")
                if value is not None and (not isinstance(value, str) or not value):
                    bad("completion_codes", f"Item {n}: code must be a non-empty string.")
                if isinstance(value, str):
                    if value in seen:
                        bad("completion_codes", f"Duplicate completion code {value!r}.")
                    seen.add(value)
                if code.get("code_type") not in CODE_TYPES:
                    bad("completion_codes", f"Item {n}: invalid code_type.")
                actions = code.get("actions", [])
                if not isinstance(actions, list):
                    bad("completion_codes", f"Item {n}: actions must be a list.")
                    continue
                names = [a.get("action") if isinstance(a, dict) else None for a in actions]
                if any(a not in CODE_ACTIONS for a in names):
                    bad("completion_codes", f"Item {n}: invalid action.")
                if "AUTOMATICALLY_APPROVE" in names and "MANUALLY_REVIEW" in names:
                    bad(
                        "completion_codes",
                        f"Item {n}: AUTOMATICALLY_APPROVE and MANUALLY_REVIEW cannot be combined.",
                    )
                if code.get("actor", "participant") not in ("participant", "researcher"):
                    bad("completion_codes", f"Item {n}: actor must be participant or researcher.")
                if value is None and actions:
                    bad("completion_codes", f"Item {n}: a null code cannot have actions.")
        filters = body.get("filters", [])
        if filters and body.get("filter_set_id"):
            bad("filters", "filters cannot be combined with filter_set_id.")
        if not isinstance(filters, list):
            bad("filters", "Expected a list.")
        else:
            for n, f in enumerate(filters):
                if not isinstance(f, dict) or not isinstance(f.get("filter_id"), str):
                    bad("filters", f"Item {n}: filter_id is required.")
                elif not any(
                    k in f for k in ("selected_values", "selected_range", "selected_filters")
                ):
                    bad("filters", f"Item {n}: selected_values or selected_range is required.")
                elif "selected_values" in f and not isinstance(f["selected_values"], list):
                    bad("filters", f"Item {n}: selected_values must be a list.")
        project = body.get("project")
        if project is not None:
            row = self.store["projects"].get(str(project))
            if row is None or row["workspace"] != ws["id"]:
                bad("project", "Project not found in this workspace.")
        sub_cfg = body.get("submissions_config", {})
        if sub_cfg is not None and not isinstance(sub_cfg, dict):
            bad("submissions_config", "Expected an object.")
        return errors

    def create_study(self, body: Any, ws: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "Expected a JSON object.")
        errors = self.validate_study(body, ws)
        if errors:
            raise ApiError(400, errors)
        eta = int(body["estimated_completion_time"])
        project = body.get("project") or next(
            p["id"] for p in self.store["projects"].values() if p["workspace"] == ws["id"]
        )
        sub_cfg = {
            "max_submissions_per_participant": 1,
            "max_concurrent_submissions": -1,
            **(body.get("submissions_config") or {}),
        }
        study = {
            "id": new_id(),
            "workspace": ws["id"],
            "name": body["name"],
            "internal_name": body.get("internal_name") or "",
            "description": body["description"],
            "external_study_url": body.get("external_study_url"),
            "prolific_id_option": body["prolific_id_option"],
            "completion_codes": [
                {"actor": "participant", "actions": [], **c} for c in body["completion_codes"]
            ],
            "total_available_places": int(body["total_available_places"]),
            "estimated_completion_time": eta,
            "maximum_allowed_time": int(body.get("maximum_allowed_time") or max(24 * 60 - 1, 0)),
            "reward": int(body["reward"]),
            "device_compatibility": body.get("device_compatibility") or [],
            "peripheral_requirements": body.get("peripheral_requirements") or [],
            "filters": body.get("filters") or [],
            "project": project,
            "submissions_config": sub_cfg,
            "metadata": body.get("metadata"),
            "status": "UNPUBLISHED",
            "date_created": self.now(),
            "published_at": None,
            "reserved": 0,
        }
        self.store.put("studies", study["id"], study)
        return study

    def study_view(self, study: dict[str, Any], *, list_row: bool = False) -> dict[str, Any]:
        subs = [s for s in self.store["submissions"].values() if s["study_id"] == study["id"]]
        taken = sum(s["status"] in HOLDS_PLACE for s in subs)
        row = {
            "id": study["id"],
            "name": study["name"],
            "internal_name": study["internal_name"],
            "status": study["status"],
            "total_available_places": study["total_available_places"],
            "places_taken": taken,
            "number_of_submissions": len(subs),
            "reward": study["reward"],
            "total_cost": self.cost(study["reward"], study["total_available_places"]),
            "date_created": self.stamp(study["date_created"], list_row=list_row),
            "published_at": self.stamp(study["published_at"], list_row=list_row),
        }
        if list_row:
            return row
        status = study["status"]
        if study.get("publishing_until") and self.now() < study["publishing_until"]:
            status = "PUBLISHING"
        return {
            **row,
            "status": status,
            "description": study["description"],
            "external_study_url": study["external_study_url"],
            "prolific_id_option": study["prolific_id_option"],
            "completion_codes": study["completion_codes"],
            "estimated_completion_time": study["estimated_completion_time"],
            "maximum_allowed_time": study["maximum_allowed_time"],
            "device_compatibility": study["device_compatibility"],
            "peripheral_requirements": study["peripheral_requirements"],
            "filters": study["filters"],
            "project": study["project"],
            "submissions_config": study["submissions_config"],
            "metadata": study["metadata"],
            "currency_code": self.store["workspaces"][study["workspace"]]["currency_code"],
            "fees_percentage": self.config.fees_percentage,
            "vat_percentage": self.config.vat_percentage,
        }

    def patch_study(self, study: dict[str, Any], body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "Expected a JSON object.")
        if study["status"] != "UNPUBLISHED":
            frozen = sorted(set(body) - PATCH_AFTER_PUBLISH)
            if frozen:
                raise ApiError(
                    400,
                    {
                        f: ["This field cannot be changed once the study is published."]
                        for f in frozen
                    },
                )
            places = body.get("total_available_places")
            if places is not None:
                if not isinstance(places, int) or places < study["total_available_places"]:
                    raise ApiError(
                        400,
                        {
                            "total_available_places": [
                                "Places can only be increased once published."
                            ]
                        },
                    )
                extra = self.cost(study["reward"], places - study["total_available_places"])
                self._reserve(study, extra)
                study["total_available_places"] = places
                if study["status"] in ("COMPLETED", "AWAITING REVIEW"):
                    study["status"] = "ACTIVE"
            for k in ("internal_name", "access_details"):
                if k in body:
                    study[k] = body[k]
            if "submissions_config" in body and isinstance(body["submissions_config"], dict):
                study["submissions_config"] = {
                    **study["submissions_config"],
                    **body["submissions_config"],
                }
        else:
            merged = {**self.study_view(study), **body}
            errors = self.validate_study(merged, self.store["workspaces"][study["workspace"]])
            if errors:
                raise ApiError(400, errors)
            for k, v in body.items():
                if k in study and k not in ("id", "workspace", "status", "date_created"):
                    study[k] = v
        self.store.put("studies", study["id"], study)
        return study

    def _reserve(self, study: dict[str, Any], amount: int) -> None:
        ws = self.store["workspaces"][study["workspace"]]
        if self.config.money and ws["balance"] - ws["reserved"] < amount:
            raise ApiError(
                400,
                "Insufficient funds: the workspace balance does not cover this study "
                f"({amount} needed, {ws['balance'] - ws['reserved']} available).",
                title="Insufficient funds",
            )
        ws["reserved"] += amount
        study["reserved"] = study.get("reserved", 0) + amount
        self.store.put("workspaces", ws["id"], ws)

    def transition_study(self, study: dict[str, Any], body: Any) -> dict[str, Any]:
        action = body.get("action") if isinstance(body, dict) else None
        target = STUDY_TRANSITIONS.get((study["status"], str(action)))
        if target is None:
            raise ApiError(
                400,
                {"action": [f"Cannot {action} a study whose status is {study['status']}."]},
            )
        if action == "PUBLISH":
            self._reserve(study, self.cost(study["reward"], study["total_available_places"]))
            study["published_at"] = self.now()
            study["publishing_until"] = self.now() + 0.05
        if action == "STOP":
            self._refund_unused(study)
            if self._unreviewed(study):
                target = "AWAITING REVIEW"
            study["stopped"] = True
        study["status"] = target
        self.store.put("studies", study["id"], study)
        return study

    def _unreviewed(self, study: dict[str, Any]) -> bool:
        return any(
            s["study_id"] == study["id"] and s["status"] == "AWAITING REVIEW"
            for s in self.store["submissions"].values()
        )

    def _refund_unused(self, study: dict[str, Any]) -> None:
        subs = [s for s in self.store["submissions"].values() if s["study_id"] == study["id"]]
        keep = sum(s["status"] in ("AWAITING REVIEW", "ACTIVE", "RESERVED") for s in subs)
        needed = self.cost(study["reward"], keep)
        ws = self.store["workspaces"][study["workspace"]]
        charged = sum(self.cost(study["reward"], 1) for s in subs if s.get("charged"))
        still = max(0, study.get("reserved", 0) - charged)
        refund = max(0, still - needed)
        ws["reserved"] = max(0, ws["reserved"] - refund)
        study["reserved"] = study.get("reserved", 0) - refund
        self.store.put("workspaces", ws["id"], ws)

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
            # a place reopened (reject / return while full): PROLIFIC.md §2 Conflicts → PAUSED
            study["status"] = "PAUSED"
        self.store.put("studies", study["id"], study)

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
        """Pays, every time it is called (PROLIFIC.md §4: pay is not idempotent)."""
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


# -- HTTP ------------------------------------------------------------------------------------
def _page_offset(q: dict[str, str], style: str) -> tuple[int, int]:
    try:
        if style == "page":
            size = int(q.get("page_size", 20))
            page = int(q.get("page", 1))
            if size < 1 or page < 1:
                raise ValueError
            return (page - 1) * size, size
        limit = int(q.get("limit", 20))
        offset = int(q.get("offset", 0))
        if limit < 1 or offset < 0:
            raise ValueError
        return offset, limit
    except ValueError:
        raise ApiError(400, {"page": ["Invalid page or limit."]}) from None


def paginate(
    base: str, path: str, q: dict[str, str], rows: list[Any], style: str
) -> dict[str, Any]:
    """Prolific's page body: ``results``, ``_links.{next,previous}.href`` and ``meta.count``."""
    start, size = _page_offset(q, style)
    chunk = rows[start : start + size]

    def link(at: int) -> dict[str, str | None]:
        if at < 0 or at >= len(rows) or (at == start):
            return {"href": None}
        extra = {k: v for k, v in q.items() if k not in ("page", "page_size", "limit", "offset")}
        if style == "page":
            extra |= {"page": str(at // size + 1), "page_size": str(size)}
        else:
            extra |= {"limit": str(size), "offset": str(at)}
        query = "&".join(f"{k}={quote(v)}" for k, v in extra.items())
        return {"href": f"{base}{path}?{query}"}

    nxt = start + size
    prev = start - size if start > 0 else -1
    return {
        "results": chunk,
        "_links": {
            "self": {"href": f"{base}{path}"},
            "next": link(nxt) if nxt < len(rows) else {"href": None},
            "previous": link(max(prev, 0)) if prev >= 0 or start > 0 else {"href": None},
        },
        "meta": {"count": len(rows)},
    }


FLAT_ERROR_OPS = {"POST /studies/", "GET /studies/", "POST /submissions/bulk-approve/"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], emulator: ProlificEmulator) -> None:
        self.emulator = emulator
        super().__init__(addr, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    @property
    def emu(self) -> ProlificEmulator:
        return self.server.emulator

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = b"" if status == 204 else json.dumps(obj).encode()
        self._send(status, body, "application/json", headers)

    def _error(self, exc: ApiError, op: str) -> None:
        shape = self.emu.service.config.error_shape
        flat = shape == "flat" or (shape == "auto" and op in FLAT_ERROR_OPS)
        inner = {
            "status": exc.status,
            "error_code": exc.error_code,
            "title": exc.title,
            "detail": exc.detail,
        }
        self._json(exc.status, inner if flat else {"error": inner})

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError(400, f"Request body over {MAX_BODY} bytes.")
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "JSON parse error.") from None

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        op = f"{method} {path}"
        try:
            body = self._body() if method in ("POST", "PATCH", "DELETE") else {}
            if path.startswith("/_emu/"):
                self._control(method, path, q, body)
            elif path == "/submissions/complete/":
                self._participant_complete(q)
            elif path.startswith(API + "/"):
                self._api(method, path[len(API) :], q, body)
            else:
                raise ApiError(404, "Not found.")
        except ApiError as exc:
            self._error(exc, op.replace(API, "", 1))
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- participant side --------------------------------------------------------------------
    def _cookie_pid(self) -> str | None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "prolific_pid" and v:
                return v
        return None

    def _participant_complete(self, q: dict[str, str]) -> None:
        svc = self.emu.service
        with svc.lock:
            svc.tick()
            try:
                sub = svc.complete(q.get("participant") or self._cookie_pid(), q.get("cc"))
                svc.store.commit()
            except ApiError as exc:
                svc.store.commit()
                page = f"<h1>Cannot complete</h1><p>{exc.detail}</p>"
                self._send(exc.status, page.encode(), "text/html; charset=utf-8")
                return
        code = sub.get("entered_code") or "NOCODE"
        page = (
            "<!doctype html><title>Submission complete - Prolific</title>"
            f'<h1 id="complete">Submission complete</h1><p>Completion code: <b id="code">{code}'
            f'</b></p><p id="submission">{sub["id"]}</p>'
        )
        self._send(200, page.encode(), "text/html; charset=utf-8")

    # -- control -----------------------------------------------------------------------------
    def _control(self, method: str, path: str, q: dict[str, str], body: Any) -> None:
        svc = self.emu.service
        seg = path.strip("/").split("/")[1:]
        with svc.lock:
            svc.tick()
            if seg == ["health"]:
                self._json(200, {"ok": True, "now": svc.stamp(svc.now())})
            elif seg == ["participants"] and method == "POST":
                n = int(body.get("n", 1)) if isinstance(body, dict) else 1
                self._json(201, {"participant_ids": svc.new_participants(max(1, min(n, 10000)))})
            elif len(seg) == 2 and seg[0] == "join" and method == "GET":
                pid = q.get("participant") or self._cookie_pid() or svc.new_participants(1)[0]
                out = svc.join(seg[1], pid)
                svc.store.commit()
                self._send(
                    302,
                    b"",
                    "text/html",
                    {
                        "Location": out["url"],
                        "Set-Cookie": f"prolific_pid={pid}; Path=/; HttpOnly",
                    },
                )
                return
            elif len(seg) == 3 and seg[0] == "studies" and seg[2] == "join" and method == "POST":
                given = body.get("participant_id") if isinstance(body, dict) else None
                self._json(201, svc.join(seg[1], str(given or "")))
            elif len(seg) == 3 and seg[0] == "submissions" and seg[2] == "return":
                self._json(200, svc.submission_view(svc.participant_return(seg[1])))
            elif seg == ["clock"]:
                if method == "POST":
                    svc.clock.advance(float(body.get("advance", 0)))
                    svc.tick()
                    svc.save_settings()
                self._json(200, {"offset": svc.clock.offset, "now": svc.stamp(svc.now())})
            elif seg == ["faults"]:
                if method == "POST":
                    self.emu.faults.set(**body)
                elif method == "DELETE":
                    self.emu.faults.clear()
                self._json(
                    200,
                    {
                        "config": self.emu.faults.config.to_json(),
                        "stats": dict(self.emu.faults.stats),
                    },
                )
            elif seg == ["config"]:
                if method == "POST":
                    for k, v in body.items():
                        if not hasattr(svc.config, k):
                            raise ApiError(400, {k: ["unknown emulator setting"]})
                        setattr(svc.config, k, v)
                    svc.save_settings()
                self._json(200, svc.config.to_json())
            elif seg == ["state"]:
                self._json(200, {t: list(svc.store[t].values()) for t in TABLES if t != "meta"})
            else:
                raise ApiError(404, "Unknown emulator control path.")
            svc.store.commit()

    # -- researcher API ----------------------------------------------------------------------
    def _api(self, method: str, path: str, q: dict[str, str], body: Any) -> None:
        emu = self.emu
        svc = emu.service
        template = re.sub(r"/[0-9a-f]{24}/", "/{id}/", path)
        op = f"{method} {template}"
        emu.count_call(op)
        decision = emu.faults.decide(op)
        if decision.delay:
            time.sleep(decision.delay)
        if decision.throttle:
            raise ApiError(429, "Request was throttled.", title="Too many requests")
        with svc.lock:
            svc.tick()
            ws = svc.workspace_for(self.headers.get("Authorization"))
            try:
                status, payload = self._route(method, path, q, body, ws)
            except ApiError:
                svc.store.commit()
                raise
            svc.store.commit()
        if decision.after_commit:
            raise ApiError(
                emu.faults.config.fault_status, "Internal server error.", title="Server error"
            )
        self._json(status, payload)

    def _route(
        self, method: str, path: str, q: dict[str, str], body: Any, ws: dict[str, Any]
    ) -> tuple[int, Any]:
        svc = self.emu.service
        base = self.emu.url + API
        seg = path.strip("/").split("/")
        n = len(seg)
        if seg == ["users", "me"] and method == "GET":
            return 200, {
                "id": ws["owner"],
                "email": "researcher@example.org",
                "current_workspace": ws["id"],
            }
        if seg == ["workspaces"] and method == "GET":
            rows = [
                {"id": w["id"], "title": w["title"], "description": w["description"]}
                for w in svc.store["workspaces"].values()
                if w["id"] == ws["id"]
            ]
            return 200, paginate(base, path, q, rows, "limit")
        if n == 3 and seg[0] == "workspaces" and seg[2] == "balance" and method == "GET":
            if seg[1] != ws["id"]:
                raise ApiError(404, "No workspace matches the given query.")
            return 200, svc.balance(ws["id"])
        if n == 3 and seg[0] == "workspaces" and seg[2] == "projects":
            if seg[1] != ws["id"]:
                raise ApiError(404, "No workspace matches the given query.")
            if method == "POST":
                title = body.get("title") if isinstance(body, dict) else None
                if not isinstance(title, str) or not title.strip():
                    raise ApiError(400, {"title": ["This field is required."]})
                project = {"id": new_id(), "title": title, "workspace": ws["id"]}
                svc.store.put("projects", project["id"], project)
                return 201, {"id": project["id"], "title": title, "workspace": ws["id"]}
            rows = [
                {"id": p["id"], "title": p["title"], "workspace": p["workspace"]}
                for p in svc.store["projects"].values()
                if p["workspace"] == ws["id"]
            ]
            return 200, paginate(base, path, q, rows, "limit")
        if n == 3 and seg[0] == "projects" and seg[2] == "studies" and method == "GET":
            project = svc._own("projects", seg[1], ws)
            rows = sorted(
                (s for s in svc.store["studies"].values() if s["project"] == project["id"]),
                key=lambda s: s["date_created"],
                reverse=q.get("ordering") == "-date_created",
            )
            return 200, paginate(
                base, path, q, [svc.study_view(s, list_row=True) for s in rows], "page"
            )
        if seg == ["studies"]:
            if method == "POST":
                return 201, svc.study_view(svc.create_study(body, ws))
            if method == "GET":
                rows = [s for s in svc.store["studies"].values() if s["workspace"] == ws["id"]]
                if q.get("state"):
                    rows = [s for s in rows if s["status"] == q["state"]]
                rows.sort(key=lambda s: s["date_created"])
                return 200, {"results": [svc.study_view(s, list_row=True) for s in rows]}
        if seg == ["study-cost-calculator"] and method == "POST":
            reward, places = body.get("reward"), body.get("total_available_places")
            if not isinstance(reward, int) or not isinstance(places, int) or places < 1:
                raise ApiError(400, {"reward": ["reward and total_available_places are integers."]})
            return 200, {"total_cost": svc.cost(reward, places)}
        if n >= 2 and seg[0] == "studies":
            study = svc._own("studies", seg[1], ws)
            if n == 2:
                if method == "GET":
                    return 200, svc.study_view(study)
                if method == "PATCH":
                    return 200, svc.study_view(svc.patch_study(study, body))
                if method == "DELETE":
                    if study["status"] != "UNPUBLISHED":
                        raise ApiError(400, "Only draft studies can be deleted.")
                    svc.store.delete("studies", study["id"])
                    return 204, None
            if seg[2:] == ["transition"] and method == "POST":
                return 200, svc.study_view(svc.transition_study(study, body))
            if seg[2:] == ["submissions"] and method == "GET":
                rows = sorted(
                    (s for s in svc.store["submissions"].values() if s["study_id"] == study["id"]),
                    key=lambda s: s["started_at"],
                )
                return 200, paginate(
                    base, path, q, [svc.submission_view(s, list_row=True) for s in rows], "limit"
                )
            if seg[2:] == ["submissions", "counts"] and method == "GET":
                counts: Counter[str] = Counter(
                    s["status"]
                    for s in svc.store["submissions"].values()
                    if s["study_id"] == study["id"]
                )
                return 200, {**counts, "TOTAL": sum(counts.values())}
            if seg[2:] == ["cost"] and method == "GET":
                subs = [
                    s for s in svc.store["submissions"].values() if s["study_id"] == study["id"]
                ]
                rewards = study["reward"] * sum(s["status"] in HOLDS_PLACE for s in subs)
                bonus = sum(
                    b["amount"] * b["paid"]
                    for b in svc.store["bonuses"].values()
                    if b["study"] == study["id"]
                )
                cur = svc.store["workspaces"][ws["id"]]["currency_code"]

                def part(amount: int) -> dict[str, Any]:
                    fees, vat = svc.split(amount)
                    return {
                        "rewards": {"amount": amount, "currency": cur},
                        "fees": {"amount": fees, "currency": cur},
                        "tax": {"amount": vat, "currency": cur},
                    }

                return 200, {"rewards": part(rewards), "bonuses": part(bonus)}
        if seg == ["submissions"] and method == "GET":
            rows = sorted(svc.store["submissions"].values(), key=lambda s: s["started_at"])
            rows = [
                s
                for s in rows
                if svc.store["studies"][s["study_id"]]["workspace"] == ws["id"]
                and (not q.get("study") or s["study_id"] == q["study"])
                and (not q.get("status") or s["status"] == q["status"])
            ]
            return 200, paginate(
                base, path, q, [svc.submission_view(s, list_row=True) for s in rows], "page"
            )
        if seg == ["submissions", "bulk-approve"] and method == "POST":
            return 200, svc.bulk_approve(body, ws)
        if seg == ["submissions", "bonus-payments"] and method == "POST":
            b = svc.create_bonus(body, ws)
            return 201, {k: b[k] for k in ("id", "study", "amount", "fees", "vat", "total_amount")}
        if n == 3 and seg[0] == "bulk-bonus-payments" and seg[2] == "pay" and method == "POST":
            svc.pay_bonus(svc._own("bonuses", seg[1], ws))
            return 202, {}
        if n >= 2 and seg[0] == "submissions":
            sub = svc.store["submissions"].get(seg[1])
            if sub is None or svc.store["studies"][sub["study_id"]]["workspace"] != ws["id"]:
                raise ApiError(404, "No submission matches the given query.")
            if n == 2 and method == "GET":
                return 200, svc.submission_view(sub)
            if seg[2:] == ["transition"] and method == "POST":
                return 200, svc.submission_view(svc.transition_submission(sub, body))
            if seg[2:] == ["request-return"] and method == "POST":
                return 200, svc.submission_view(svc.request_return(sub, body))
        if seg == ["participant-groups"]:
            if method == "POST":
                return 201, svc.group_view(svc.create_group(body, ws))
            if method == "GET":
                rows = [
                    svc.group_view(g)
                    for g in svc.store["groups"].values()
                    if g["workspace"] == ws["id"] and not g["is_deleted"]
                ]
                return 200, paginate(base, path, q, rows, "limit")
        if n >= 2 and seg[0] == "participant-groups":
            group = svc._own("groups", seg[1], ws)
            if n == 2 and method == "GET":
                return 200, svc.group_view(group)
            if n == 2 and method == "DELETE":
                group["is_deleted"] = True
                svc.store.put("groups", group["id"], group)
                return 204, None
            if seg[2:] == ["participants"]:
                members = svc.group_members(group, method, body)
                return 200, paginate(base, path, q, members, "limit")
        raise ApiError(404, f"No route {method} {path}.")


class ProlificEmulator:
    """A running emulator; ``url`` is the base (``PROLIFIC_API_URL = url + "/api/v1"``)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: str | Path | None = None,
        tokens: dict[str, str] | None = None,
        initial_balance_minor: int = 10_000_000,
    ) -> None:
        self.clock = Clock()
        self.faults = Faults()
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self.store = Store(state_path, tables=TABLES)
        self.service = ProlificService(
            self.store, self.clock, tokens=tokens, initial_balance_minor=initial_balance_minor
        )
        self._httpd = _Server((host, port), self)
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def api_url(self) -> str:
        return self.url + API

    @property
    def token(self) -> str:
        return next(t[6:] for t in self.store["meta"] if t.startswith("token:"))

    def count_call(self, op: str) -> None:
        with self._count_lock:
            self.calls[op] += 1

    def join(self, study_id: str, participant_id: str) -> dict[str, Any]:
        with self.service.lock:
            out = self.service.join(study_id, participant_id)
            self.store.commit()
            return out

    def new_participants(self, n: int = 1) -> list[str]:
        with self.service.lock:
            out = self.service.new_participants(n)
            self.store.commit()
            return out

    def start(self) -> ProlificEmulator:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"prolific-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._close()

    def stop(self) -> None:
        if self._closed:
            return
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._httpd.socket.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self.store.close()


@contextlib.contextmanager
def run_prolific_emulator(**options: Any) -> Iterator[ProlificEmulator]:
    """Start a :class:`ProlificEmulator` in a background thread; stop it on exit."""
    emu = ProlificEmulator(**options).start()
    try:
        yield emu
    finally:
        emu.stop()
