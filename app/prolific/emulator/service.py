"""The emulator's rules in one object (studies + submissions over the shared state)."""

from __future__ import annotations

from app.prolific.emulator.studies import StudyOps
from app.prolific.emulator.submissions import SubmissionOps


class ProlificService(StudyOps, SubmissionOps):
    """Every rule of the emulator; the HTTP layer calls it under ``lock``."""
