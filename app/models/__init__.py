"""SQLAlchemy ORM models. Every model module is imported here so `Base.metadata` is complete
(Alembic autogenerate and the test fixtures rely on it). Helpers adding tables register their
module below (app.models.mturk, app.models.jobs, app.models.prolific)."""

from app.models.auth import AdminSession, AdminToken
from app.models.crowd import (
    Answer,
    Assignment,
    Example,
    ExportSnapshot,
    GoldQuestion,
    Project,
    Worker,
)
from app.models.jobs import TrainingFile, TrainingJob, TrainingJobRun
from app.models.mturk import (
    ExclusionQualification,
    Hit,
    HitAssignment,
    HitType,
    LinkInvite,
    PublishSettings,
    SpendEntry,
)
from app.models.prolific import ProlificAccount, ProlificPayment, ProlificSession, ProlificStudy

__all__ = [
    "AdminSession",
    "AdminToken",
    "Answer",
    "Assignment",
    "Example",
    "ExclusionQualification",
    "ExportSnapshot",
    "GoldQuestion",
    "Hit",
    "HitAssignment",
    "HitType",
    "LinkInvite",
    "Project",
    "ProlificAccount",
    "ProlificPayment",
    "ProlificSession",
    "ProlificStudy",
    "PublishSettings",
    "SpendEntry",
    "TrainingFile",
    "TrainingJob",
    "TrainingJobRun",
    "Worker",
]
