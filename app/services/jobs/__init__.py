"""Training jobs: the API side (:mod:`.api`: training files, job creation with up-front
validation, listing, cancellation, artifacts) and the queue a worker uses (:mod:`.queue`: claim
with a lease, heartbeat, finish, release). This module re-exports their public names."""

from __future__ import annotations

from app.services.jobs.api import (
    ARTIFACT_MEDIA,
    artifact_file,
    build_spec,
    cancel_job,
    create_job,
    get_job_row,
    list_jobs,
    newest_jobs,
    read_job,
    read_training_file,
    to_public,
    to_summary,
    upload_training_file,
)
from app.services.jobs.queue import (
    JOBS_FOLDER,
    Beat,
    Claim,
    attempt_folder_name,
    claim_next,
    finish,
    heartbeat,
    job_folder,
    materialize_inputs,
    release,
    remove_attempt,
)

__all__ = [
    "ARTIFACT_MEDIA",
    "JOBS_FOLDER",
    "Beat",
    "Claim",
    "artifact_file",
    "attempt_folder_name",
    "build_spec",
    "cancel_job",
    "claim_next",
    "create_job",
    "finish",
    "get_job_row",
    "heartbeat",
    "job_folder",
    "list_jobs",
    "materialize_inputs",
    "newest_jobs",
    "read_job",
    "read_training_file",
    "release",
    "remove_attempt",
    "to_public",
    "to_summary",
    "upload_training_file",
]
