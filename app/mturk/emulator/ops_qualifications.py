"""The emulator's qualification types and scores."""

from __future__ import annotations

from typing import Any

from app.mturk import errors as E
from app.mturk.emulator.core import _page_out, _paginate, new_id
from app.mturk.emulator.ops_workers import WorkerOps
from app.mturk.emulator.protocol import (
    request_error,
)
from app.mturk.emulator.store import Row
from app.mturk.xml import QuestionXMLError, parse_question


class QualificationOps(WorkerOps):
    # -- operations: qualifications ------------------------------------------------------------
    def _create_qual_type(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        if any(q["Name"] == p["Name"] for q in self.store["qual_types"].values()):
            raise request_error(
                "You have already created a QualificationType with this name. A "
                "QualificationType's name must be unique among all of the QualificationTypes "
                "created by the same user.",
                E.QUALIFICATION_TYPE_ALREADY_EXISTS,
            )
        if p.get("Test") is not None:
            if p.get("TestDurationInSeconds") is None:
                raise request_error(
                    "Test requires TestDurationInSeconds.", E.PARAMETER_OUT_OF_RANGE
                )
            if p.get("AutoGranted"):
                raise request_error(
                    "Test and AutoGranted are mutually exclusive.", E.PARAMETER_OUT_OF_RANGE
                )
            try:
                parsed = parse_question(p["Test"])
            except QuestionXMLError as exc:
                raise request_error(f"Invalid Test: {exc}.", E.XML_PARSE_ERROR) from exc
            if parsed.kind != "QuestionForm":
                raise request_error(
                    "A qualification Test must be a QuestionForm.", E.XML_PARSE_ERROR
                )
        elif p.get("AnswerKey") is not None:
            raise request_error("AnswerKey requires Test.", E.PARAMETER_OUT_OF_RANGE)
        qtid = new_id()
        row: Row = {
            "QualificationTypeId": qtid,
            "CreationTime": now,
            "Name": p["Name"],
            "Description": p["Description"],
            "QualificationTypeStatus": p["QualificationTypeStatus"],
            "IsRequestable": p.get("Test") is not None or bool(p.get("AutoGranted")),
            "AutoGranted": bool(p.get("AutoGranted", False)),
        }
        for key in (
            "Keywords",
            "RetryDelayInSeconds",
            "Test",
            "AnswerKey",
            "TestDurationInSeconds",
        ):
            if p.get(key) is not None:
                row[key] = p[key]
        if row["AutoGranted"]:
            row["AutoGrantedValue"] = p.get("AutoGrantedValue", 1)
        self.store.put("qual_types", qtid, row)
        return {"QualificationType": dict(row)}

    def _qual_type(self, qtid: str) -> Row:
        row = self.store["qual_types"].get(qtid)
        if row is None:
            raise request_error(
                f"QualificationType {qtid} does not exist.", E.QUALIFICATION_TYPE_DOES_NOT_EXIST
            )
        return row

    def _get_qual_type(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        return {"QualificationType": dict(self._qual_type(p["QualificationTypeId"]))}

    def _list_qual_types(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        query = (p.get("Query") or "").lower()
        rows = sorted(
            (
                q
                for q in self.store["qual_types"].values()
                if (not p["MustBeRequestable"] or q["IsRequestable"])
                and (query in q["Name"].lower() or query in q["Description"].lower())
            ),
            key=lambda q: q["CreationTime"],
        )
        page, token = _paginate("ListQualificationTypes", rows, p)
        return _page_out({"QualificationTypes": [dict(q) for q in page]}, token)

    def _get_qual_score(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._qual_type(p["QualificationTypeId"])
        row = self.store["quals"].get(f"{p['QualificationTypeId']}:{p['WorkerId']}")
        if row is None:
            raise request_error(
                f"You requested a Qualification that does not exist. (worker {p['WorkerId']})",
                "AWS.MechanicalTurk.QualificationDoesNotExist",
            )
        return {"Qualification": dict(row)}

    def _associate_qual(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._qual_type(p["QualificationTypeId"])
        self._ensure_worker(p["WorkerId"])
        key = f"{p['QualificationTypeId']}:{p['WorkerId']}"
        # A repeat call overwrites the score (§2).
        self.store.put(
            "quals",
            key,
            {
                "QualificationTypeId": p["QualificationTypeId"],
                "WorkerId": p["WorkerId"],
                "GrantTime": now,
                "IntegerValue": p.get("IntegerValue", 1),
                "Status": "Granted",
            },
        )
        return {}

    def _disassociate_qual(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._qual_type(p["QualificationTypeId"])
        key = f"{p['QualificationTypeId']}:{p['WorkerId']}"
        row = self.store["quals"].get(key)
        if row is None or row["Status"] != "Granted":
            raise request_error(
                f"Worker {p['WorkerId']} does not hold qualification {p['QualificationTypeId']}.",
                "AWS.MechanicalTurk.QualificationDoesNotExist",
            )
        row["Status"] = "Revoked"
        self.store.put("quals", key, row)
        return {}

    def _list_workers_with_qual(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._qual_type(p["QualificationTypeId"])
        status = p.get("Status")
        rows = [
            q
            for key, q in sorted(self.store["quals"].items())
            if q["QualificationTypeId"] == p["QualificationTypeId"]
            and (status is None or q["Status"] == status)
        ]
        page, token = _paginate("ListWorkersWithQualificationType", rows, p)
        return _page_out({"Qualifications": [dict(q) for q in page]}, token)
