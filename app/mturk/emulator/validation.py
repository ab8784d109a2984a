"""The emulator's validation of requests: bounds, lengths, reward, question XML, idempotency
tokens."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.mturk import errors as E
from app.mturk.emulator.core import (
    _BOUNDS,
    _CONTROL_CHARS,
    _MAX_LEN,
    TOKEN_WINDOW_S,
    ServiceCore,
    _money,
)
from app.mturk.emulator.protocol import (
    request_error,
    validation_error,
)
from app.mturk.xml import QuestionXMLError, parse_question


class Validation(ServiceCore):
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
