"""Request/response models of the training-jobs API. The detailed checks of a job
request (data set, hyperparameters, grid, seeds) live in ``trainer.api.validate_spec`` so the
API and the trainer agree on one definition; these models fix the JSON shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.config import MAX_ID
from app.schemas.common import RequestModel
from app.schemas.crowd import ColumnName

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class BuiltinData(RequestModel):
    """A data set shipped with the trainer (paper §4.1, §4.2)."""

    builtin: Literal["synthetic", "compas", "adult"]
    variant: Literal["preproc", "full"] | None = None
    synthetic_poisoned: bool | None = None


class UploadedData(RequestModel):
    """An uploaded table (``POST /training-files``) with its column roles."""

    upload_id: Id
    label: ColumnName
    sensitive: ColumnName
    features: list[ColumnName] | None = None
    id_column: ColumnName | None = None
    categorical: list[ColumnName] = Field(default_factory=list, max_length=10_000)
    positive_label: str | int | float | bool | None = None
    privileged: str | int | float | bool | None = None


class BuiltinValidation(RequestModel):
    """The data set's own clean validation split (5% of D_tr, paper §4.2)."""

    kind: Literal["builtin"] = "builtin"


class ExportValidation(RequestModel):
    """A crowdsourced validation set: an export snapshot.

    ``exclude_gold`` drops the gold rows (whose labels are the requester's known truth, not the
    crowd's); ``labels="known"`` swaps the crowd labels for the examples' known labels (the
    paper's Table 7 comparison: the same examples with ground-truth labels)."""

    kind: Literal["export"]
    export_id: Id
    label_column: ColumnName | None = None
    exclude_gold: bool = False
    labels: Literal["crowd", "known"] = "crowd"


class TestFile(RequestModel):
    """A clean test set: an uploaded table (``POST /training-files``) with the training file's
    feature and sensitive columns and clean labels (in ``label_column``, else the training
    file's label column). The job then scores on it instead of a split carved from the
    (possibly poisoned) training file, and trains on every training row."""

    upload_id: Id
    label_column: ColumnName | None = None


class Holdout(RequestModel):
    """Held-out crowd-labelled evaluation (``trainer.api``): ``repeats`` fits, each selecting on
    the validation rows left after holding out ``fraction`` of them and scoring the chosen
    point on the held-out rows. On by default (3 x 30%) for an uploaded file validated on an
    export without a clean test file; ``repeats: 0`` turns it off."""

    repeats: int = Field(default=3, ge=0, le=20)
    fraction: float = Field(default=0.3, ge=0.1, le=0.9)


class Poisoning(RequestModel):
    attack: Literal["top_margin", "paudice_greedy"] = "top_margin"
    fraction: float = Field(default=0.1, ge=0.0, le=0.5)
    target_group: int | None = Field(default=1, ge=0, le=1000)


class Selection(RequestModel):
    min_fairness: float = Field(default=0.8, ge=0.0, le=1.0)
    metric: Literal["disparate_impact", "equalized_odds", "equal_opportunity"] = "disparate_impact"


class JobCreate(RequestModel):
    """A training request. ``hyperparameters`` are method-specific (see ``trainer.api``): for
    FR-Train ``l1`` and ``l2`` may be lists (the trade-off grid), plus epochs, k, lr_g, lr_f,
    lr_r, pretrain_epochs, c_pre, reweight, g_hidden, batch_size, fairness."""

    name: str = Field(default="", max_length=200)
    data: BuiltinData | UploadedData
    validation: BuiltinValidation | ExportValidation = Field(default_factory=BuiltinValidation)
    poisoning: Poisoning | None = None
    test: TestFile | None = None
    holdout: Holdout | None = None
    method: str = Field(default="fr-train", max_length=32)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    selection: Selection = Field(default_factory=Selection)
    seeds: list[Annotated[int, Field(ge=0, le=MAX_ID)]] = Field(
        default_factory=lambda: [0],
        min_length=1,
        max_length=20,
        json_schema_extra={"uniqueItems": True},
    )
    split_seed: int | None = Field(default=None, ge=0, le=MAX_ID)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    test_size: float = Field(default=0.3, ge=0.05, le=0.9)
    val_size: float = Field(default=0.05, ge=0.0, le=1.0)


class JobProgress(BaseModel):
    epoch: int
    total_epochs: int
    percent: float
    stage: str


class JobSummary(BaseModel):
    id: int
    name: str
    status: JobStatus
    method: str
    dataset: str
    progress: JobProgress
    attempts: int
    max_attempts: int
    cancel_requested: bool
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobPublic(JobSummary):
    """Everything about one job; ``results`` holds per-seed and per-grid-point metrics
    (accuracy, disparate impact, equalized odds, confusion matrices by group) once it ran."""

    spec: dict[str, Any]
    worker_id: str | None
    training_file_id: int | None
    export_id: int | None
    results: dict[str, Any] | None
    artifacts: list[str]


class JobsPublic(BaseModel):
    data: list[JobSummary]
    count: int


class TrainingFilePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    format: str
    size_bytes: int
    sha256: str
    columns: list[str]
    row_count: int
    created_at: datetime
