"""Request/response models for the crowd API (one family per resource; ORM rows never leak)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from app.core.errors import InvalidInput
from app.schemas.common import RequestModel
from app.services import recruiting

Label = Literal[-1, 1]
#: Must list exactly ``app.crowd.METHODS`` (checked by a test; mypy needs the literal spelled out).
AggregationMethod = Literal[
    "mean",
    "majority",
    "weighted",
    "dawid_skene",
    "peer_weighted",
    "ordinal_dawid_skene",
    "calibrated_mean",
]
GoldKind = Literal["training_quiz", "hidden_check"]
ExportFormat = Literal["csv", "parquet", "jsonl"]
Name = Annotated[str, Field(min_length=1, max_length=200)]
ColumnName = Annotated[str, Field(min_length=1, max_length=200)]


def _registered(name: str) -> str:
    # Checked when a request is validated, against the registry as it is then (a provider
    # registered after this module loaded is accepted too).
    try:
        return recruiting.check_name(name)
    except InvalidInput as exc:
        raise ValueError(exc.detail) from None


#: A recruiting provider's name: one registered in app.services.recruiting (``_FACTORIES``), the
#: one list of them. The OpenAPI schema lists the providers registered when this module loads.
Provider = Annotated[
    str,
    Field(
        min_length=1,
        max_length=recruiting.NAME_MAX,
        description="a registered recruiting provider",
        json_schema_extra={"enum": recruiting.names()},
    ),
    AfterValidator(_registered),
]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class WorkerFilterRule(RequestModel):
    """Who is trusted and who is filtered (app.crowd.quality.WorkerFilterRule, where each rule is
    explained): per-class gold scores with a Beta(prior_alpha, prior_beta) prior, judged after
    `min_gold` gold answers; filtered on credible evidence (`credible_level`) of constant, at-
    or-below-chance, inverted or (after `decide_after` gold answers) skill-less answering;
    trusted when P(class accuracy > 1/2) >= `trust_level` on both classes."""

    min_gold: int = Field(default=5, ge=0, le=1000)
    min_accuracy: float = Field(default=0.5, ge=0.0, le=1.0)
    prior_alpha: float = Field(default=1.0, gt=0.0, le=1000.0)
    prior_beta: float = Field(default=1.0, gt=0.0, le=1000.0)
    credible_level: float | None = Field(default=0.95, gt=0.0, lt=1.0)
    trust_level: float = Field(default=0.9, gt=0.0, lt=1.0)
    decide_after: int = Field(default=12, ge=0, le=100_000)
    min_pattern_answers: int = Field(default=10, ge=0, le=100_000)
    interval_level: float = Field(default=0.9, gt=0.0, lt=1.0)
    min_skill: float = Field(default=0.1, ge=0.0, lt=1.0)


class _ProjectFields(RequestModel):
    description: str = Field(default="", max_length=10_000)
    threshold: float = Field(default=2.5, gt=1.0, lt=4.0)
    max_answers: int = Field(
        default=11, ge=1, le=1000, description="N: answers averaged per example"
    )
    questions_per_hit: int = Field(default=30, ge=1, le=1000)
    reward_per_answer: float = Field(default=0.03, ge=0.0, le=100.0, description="USD per answer")
    gold_per_hit: int = Field(default=3, ge=0, le=1000)
    quiz_per_hit: int = Field(default=0, ge=0, le=1000)
    worker_filter: WorkerFilterRule = Field(default_factory=WorkerFilterRule)
    visible_columns: list[ColumnName] | None = Field(
        default=None, max_length=1000, description="feature columns workers see; null = all"
    )
    sensitive_column: ColumnName | None = None
    provider: Provider = "mturk"
    allow_live: bool = False
    budget_cap: float | None = Field(default=None, ge=0.0, le=1e9, description="USD; null = no cap")


class ProjectCreate(_ProjectFields):
    name: Name
    question: str = Field(min_length=1, max_length=10_000)
    scale_labels: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=lambda: ["Very unlikely", "Unlikely", "Likely", "Very likely"],
        min_length=4,
        max_length=4,
        description="labels of answers 1..4, lowest first",
    )


class ProjectUpdate(RequestModel):
    """Every field optional; only the fields sent are changed."""

    name: Name | None = None
    description: str | None = Field(default=None, max_length=10_000)
    question: str | None = Field(default=None, min_length=1, max_length=10_000)
    scale_labels: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, min_length=4, max_length=4
    )
    threshold: float | None = Field(default=None, gt=1.0, lt=4.0)
    max_answers: int | None = Field(default=None, ge=1, le=1000)
    questions_per_hit: int | None = Field(default=None, ge=1, le=1000)
    reward_per_answer: float | None = Field(default=None, ge=0.0, le=100.0)
    gold_per_hit: int | None = Field(default=None, ge=0, le=1000)
    quiz_per_hit: int | None = Field(default=None, ge=0, le=1000)
    worker_filter: WorkerFilterRule | None = None
    visible_columns: list[ColumnName] | None = Field(default=None, max_length=1000)
    sensitive_column: ColumnName | None = None
    provider: Provider | None = None
    allow_live: bool | None = None
    budget_cap: float | None = Field(default=None, ge=0.0, le=1e9)


class ProjectPublic(_Out):
    id: int
    name: str
    description: str
    question: str
    scale_labels: list[str]
    threshold: float
    max_answers: int
    questions_per_hit: int
    reward_per_answer: float
    gold_per_hit: int
    quiz_per_hit: int
    worker_filter: WorkerFilterRule
    visible_columns: list[str] | None
    sensitive_column: str | None
    provider: str
    allow_live: bool
    budget_cap: float | None
    created_at: datetime
    updated_at: datetime
    n_examples: int = 0
    n_answers: int = 0

    @field_validator("worker_filter", mode="before")
    @classmethod
    def _rule(cls, value: Any) -> Any:
        # Stored rules may predate newer optional fields; unknown keys are dropped, not fatal.
        if isinstance(value, dict):
            known = WorkerFilterRule.model_fields
            return {k: v for k, v in value.items() if k in known}
        return value


class ProjectsPublic(BaseModel):
    data: list[ProjectPublic]
    count: int


class ExamplePublic(BaseModel):
    example_id: str
    features: dict[str, Any]
    sensitive_value: str | None
    known_label: int | None


class ExamplesPublic(BaseModel):
    data: list[ExamplePublic]
    count: int


class UploadResult(BaseModel):
    created: int
    columns: list[str] = Field(description="feature columns stored")


class GoldCreate(RequestModel):
    example_id: Annotated[str, Field(min_length=1, max_length=200)]
    label: Label
    explanation: str | None = Field(default=None, max_length=10_000)
    kind: GoldKind = "hidden_check"


class GoldPublic(BaseModel):
    id: int
    example_id: str
    label: int
    explanation: str | None
    kind: str


class GoldsPublic(BaseModel):
    data: list[GoldPublic]
    count: int


class AnswerImportResult(BaseModel):
    layout: Literal["long", "wide"]
    answers_created: int
    workers_created: int
    examples_created: int


class WorkerQuality(BaseModel):
    """One worker's scores (app.crowd.quality). ``accuracy`` is the posterior mean of the overall
    gold accuracy under the Beta prior ((n_correct + a) / (n_gold + a + b)); ``raw_accuracy`` is
    n_correct / n_gold. Statuses are decided on the per-class scores and answer patterns, and
    ``reason`` says which rule decided."""

    worker_id: str
    n_answers: int
    n_gold: int
    n_correct: int
    accuracy: float | None = Field(description="posterior mean of the overall gold accuracy")
    raw_accuracy: float | None = Field(default=None, description="n_correct / n_gold")
    n_gold_pos: int = 0
    n_correct_pos: int = 0
    n_gold_neg: int = 0
    n_correct_neg: int = 0
    sensitivity: float | None = Field(default=None, description="posterior mean, positive gold")
    sensitivity_low: float | None = None
    sensitivity_high: float | None = None
    specificity: float | None = Field(default=None, description="posterior mean, negative gold")
    specificity_low: float | None = None
    specificity_high: float | None = None
    p_better_than_chance: float | None = Field(
        default=None, description="P(sensitivity + specificity > 1 | gold)"
    )
    modal_share: float | None = Field(default=None, description="share of the most common answer")
    peer_corr: float | None = Field(
        default=None, description="correlation with the other workers' mean answer"
    )
    peer_z: float | None = Field(default=None, description="Fisher z of peer_corr")
    skill: float | None = Field(
        default=None,
        description="sensitivity + specificity - 1 over all answers, against the labels the "
        "other workers and the gold imply",
    )
    p_skilled: float | None = Field(default=None, description="P(skill > min_skill)")
    status: Literal["pending", "trusted", "filtered", "blocked"]
    reason: str = ""


class WorkersPublic(BaseModel):
    data: list[WorkerQuality]
    count: int
    warnings: list[str] = Field(default_factory=list, description="about the gold set")


class LabelPublic(BaseModel):
    example_id: str
    label: Label
    answers_used: int
    mean_score: float
    confidence: float
    is_gold: bool


class LabelsPublic(BaseModel):
    method: AggregationMethod
    n: int
    threshold: float
    data: list[LabelPublic]
    count: int


class ExportCreate(RequestModel):
    method: AggregationMethod = "peer_weighted"
    n: int | None = Field(
        default=None, ge=1, le=1000, description="N; default: the project's max_answers"
    )


class ExportPublic(_Out):
    id: int
    project_id: int
    version: int
    method: str
    n_max: int
    threshold: float
    filter_rule: dict[str, Any]
    row_count: int
    columns: list[str]
    checksum: str
    created_at: datetime


class ExportsPublic(BaseModel):
    data: list[ExportPublic]
    count: int


class GroupAuditPublic(BaseModel):
    """One sensitive group (app.crowd.audit): crowd labels against the known labels."""

    group: str
    n_examples: int
    n_known: int = Field(description="examples of the group with a known label")
    label_accuracy: float | None
    crowd_positive_rate: float | None
    known_positive_rate: float | None
    positive_rate_gap: float | None = Field(description="crowd minus known positive rate")
    false_positive_rate: float | None
    false_negative_rate: float | None
    mean_answer: float | None


class WorkerGroupPublic(BaseModel):
    worker_id: str
    group: str
    n_answers: int
    mean_answer: float
    positive_share: float


class AuditPublic(BaseModel):
    column: str
    method: AggregationMethod
    groups: list[GroupAuditPublic]
    workers: list[WorkerGroupPublic]
    worker_gaps: dict[str, float] = Field(
        description="per worker: positive-answer share, most minus least positive group"
    )
