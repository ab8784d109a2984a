"""The emulator's constants, ids, errors and switches (docs/PROLIFIC.md §2, §3, §8)."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

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
    """A 24-hex ObjectId-shaped id (docs/PROLIFIC.md §1 Formats)."""
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
    max_time_rule: str = "spec"  # spec: 2+2·ETA+2√ETA; help: 2+ETA+2√ETA (docs/PROLIFIC.md §2)
    money: bool = True  # wallet checks at publish
    fees_percentage: float = 33.33
    vat_percentage: float = 0.0
    currency_code: str = "GBP"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)
