"""The emulator's worker side, which MTurk's API does not have: preview, accept, return,
abandon, externalSubmit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.mturk.emulator.core import PREVIEW_ASSIGNMENT_ID, WorkerError, _check_worker_id, new_id
from app.mturk.emulator.ops_assignments import AssignmentOps
from app.mturk.emulator.store import Row
from app.mturk.xml import build_answers, parse_question


class WorkerSide(AssignmentOps):
    def frame_url(self, hit: Row, *, assignment_id: str, worker_id: str | None) -> str | None:
        """The ExternalURL plus ``assignmentId``, ``hitId``, ``turkSubmitTo``, ``workerId``."""
        if not hit.get("Question"):
            return None
        parsed = parse_question(hit["Question"], require_https=False)
        if parsed.external_url is None:
            return None
        parts = urlsplit(parsed.external_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query += [("assignmentId", assignment_id), ("hitId", hit["HITId"])]
        if worker_id is not None:
            query += [("turkSubmitTo", self.base_url()), ("workerId", worker_id)]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def worker_preview(self, hit_id: str, worker_id: str | None = None) -> str | None:
        """Frame URL in preview (``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE``)."""
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            hit = self._worker_hit(hit_id)
            if worker_id is not None:
                _check_worker_id(worker_id)
                self._guard(self._ensure_worker(worker_id), self._hit_type(hit), preview=True)
            self.store.commit()
            return self.frame_url(hit, assignment_id=PREVIEW_ASSIGNMENT_ID, worker_id=worker_id)

    def _worker_hit(self, hit_id: str) -> Row:
        hit = self.store["hits"].get(hit_id)
        if hit is None or hit["deleted"]:
            raise WorkerError(404, "hit_not_found", f"HIT {hit_id} does not exist")
        return hit

    def worker_accept(self, hit_id: str, worker_id: str) -> dict[str, Any]:
        """Accept a HIT as a worker → ``{assignmentId, hitId, workerId, frameUrl, deadline}``."""
        _check_worker_id(worker_id)
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            try:
                hit = self._worker_hit(hit_id)
                worker = self._ensure_worker(worker_id)
                if worker_id in self.store["blocks"]:
                    raise WorkerError(
                        403, "worker_blocked", f"Worker {worker_id} is blocked by this requester"
                    )
                mine = [a for a in self._assignments_of(hit_id) if a["WorkerId"] == worker_id]
                if mine:
                    raise WorkerError(
                        409,
                        "already_accepted",
                        f"Worker {worker_id} already has assignment {mine[0]['AssignmentId']} "
                        f"({mine[0]['state']}) for HIT {hit_id}; one assignment per worker per HIT",
                    )
                status = self._status(hit, now)
                if status != "Assignable":
                    why = "expired" if now >= hit["Expiration"] else "has no free assignment"
                    raise WorkerError(
                        409, "hit_not_assignable", f"HIT {hit_id} is {status} ({why})"
                    )
                ht = self._hit_type(hit)
                self._guard(worker, ht, preview=False)
                aid = new_id()
                a = {
                    "AssignmentId": aid,
                    "WorkerId": worker_id,
                    "HITId": hit_id,
                    "state": "Accepted",
                    "AcceptTime": now,
                    "Deadline": now + ht["AssignmentDurationInSeconds"],
                    "seq": self._next_seq(),
                }
                self.store.put("assignments", aid, a)
                self._by_hit[hit_id].append(aid)
                self._active.add(aid)
                return {
                    "assignmentId": aid,
                    "hitId": hit_id,
                    "workerId": worker_id,
                    "frameUrl": self.frame_url(hit, assignment_id=aid, worker_id=worker_id),
                    "deadline": a["Deadline"],
                }
            finally:
                self.store.commit()

    def _worker_assignment(self, assignment_id: str, worker_id: str | None) -> Row:
        a = self.store["assignments"].get(assignment_id)
        if a is None or a["state"] == "Lost":
            raise WorkerError(
                404,
                "assignment_not_found",
                f"Assignment {assignment_id} does not exist (returned, abandoned or unknown)",
            )
        if worker_id is not None and a["WorkerId"] != worker_id:
            raise WorkerError(
                403, "wrong_worker", f"Assignment {assignment_id} belongs to another worker"
            )
        if a["state"] != "Accepted":
            raise WorkerError(
                409, "already_submitted", f"Assignment {assignment_id} is already {a['state']}"
            )
        return a

    def worker_return(self, assignment_id: str, worker_id: str | None = None) -> None:
        """Return an accepted assignment (its slot frees only while the HIT is unexpired)."""
        self._end(assignment_id, worker_id)

    def worker_abandon(self, assignment_id: str, worker_id: str | None = None) -> None:
        """Abandon now, as if the assignment's deadline passed."""
        self._end(assignment_id, worker_id)

    def _end(self, assignment_id: str, worker_id: str | None) -> None:
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            try:
                self._release(self._worker_assignment(assignment_id, worker_id), at=now)
            finally:
                self.store.commit()

    def worker_submit(self, fields: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """The externalSubmit handler: ``fields`` are the posted form pairs, which must include
        ``assignmentId``; the others (minus reserved names) become FreeText answers."""
        pairs = list(fields)
        form = dict(pairs)
        aid = form.get("assignmentId")
        if not aid:
            raise WorkerError(
                400, "missing_assignment_id", "the form must post an assignmentId field"
            )
        if aid == PREVIEW_ASSIGNMENT_ID:
            raise WorkerError(
                400, "preview", "cannot submit while previewing; accept the HIT first"
            )
        answers = [
            (k, v)
            for k, v in pairs
            if k not in ("assignmentId", "hitId", "turkSubmitTo", "workerId")
        ]
        if not answers:
            raise WorkerError(400, "no_answers", "the form posted no answer fields")
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            try:
                a = self._worker_assignment(aid, form.get("workerId"))
                if form.get("hitId") and form["hitId"] != a["HITId"]:
                    # MTurk only accepts an assignment for the HIT it was issued for.
                    raise WorkerError(
                        403,
                        "wrong_hit",
                        f"Assignment {aid} was not issued for HIT {form['hitId'][:64]}",
                    )
                ht = self._hit_type(self.store["hits"][a["HITId"]])
                a.update(
                    state="Submitted",
                    SubmitTime=now,
                    AutoApprovalTime=now + ht["AutoApprovalDelayInSeconds"],
                    Answer=build_answers(answers),
                )
                self.store.put("assignments", aid, a)
                self._settle(now)  # AutoApprovalDelayInSeconds=0 approves at once
                return {
                    "assignmentId": aid,
                    "hitId": a["HITId"],
                    "workerId": a["WorkerId"],
                    "status": a["state"],
                }
            finally:
                self.store.commit()
