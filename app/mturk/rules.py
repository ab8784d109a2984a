"""MTurk's state rules: which operation MTurk allows in which HIT or assignment state
(docs/MTURK.md §2-§3), added to its refusals so a 409 says what would have been allowed."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from app.mturk.errors import MTurkRequestError

#: MTurk WorkerIds (docs/MTURK.md: CustomerId ^A[A-Z0-9]+$); never ':', so never a link id.
WORKER_ID = re.compile(r"^A[A-Z0-9]{1,63}$")

# MTurk's own refusals, and the state in which each call is allowed (docs/MTURK.md §3).
ALLOWED_WHEN = {
    "DeleteHIT": "a HIT can be deleted when it is Reviewable or Reviewing (expired, or every "
    "assignment submitted) and no assignment is still Submitted: approve or reject them first",
    "ApproveAssignment": "an assignment can be approved while Submitted, or when Rejected with "
    "override_rejection=true within 30 days of submission",
    "RejectAssignment": "an assignment can be rejected only while Submitted (not once approved "
    "or auto-approved)",
    "SendBonus": "a bonus needs a submitted assignment of that worker",
    "CreateAdditionalAssignmentsForHIT": "assignments can be added to a HIT that is not deleted; "
    "a HIT with fewer than 10 assignments cannot grow to 10 or more (publish a new HIT instead)",
    "UpdateExpirationForHIT": "the expiry can be moved later, or to the past to expire the HIT "
    "now, but not to an earlier future time",
    "GetHIT": "the HIT must exist on the endpoint it was published to",
}


@contextlib.contextmanager
def explain_mturk(operation: str) -> Iterator[None]:
    """Add ``allowed_when`` (what state would allow the call) to MTurk's refusals."""
    try:
        yield
    except MTurkRequestError as exc:
        hint = ALLOWED_WHEN.get(exc.operation or operation)
        if hint:
            exc.extra["allowed_when"] = hint
            exc.detail = f"{exc.detail}; {hint}"
        raise
