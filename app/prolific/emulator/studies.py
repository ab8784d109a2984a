"""Study operations of the emulator."""

from __future__ import annotations

import math
import re
from typing import Any

from app.prolific.emulator.base import ServiceBase
from app.prolific.emulator.rules import (
    _TAG,
    ALLOWED_TAGS,
    CODE_ACTIONS,
    CODE_TYPES,
    HOLDS_PLACE,
    ID_OPTIONS,
    PATCH_AFTER_PUBLISH,
    STUDY_TRANSITIONS,
    ApiError,
    new_id,
)


class StudyOps(ServiceBase):
    """Studies: create-time validation, views, PATCH rules, transitions (docs/PROLIFIC.md §2)."""

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
