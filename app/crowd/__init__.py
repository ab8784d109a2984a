"""Worker quality and label aggregation over the long answer table (pure: no I/O).

The procedure of Section 4.4 of the FR-Train paper: hidden gold questions score the workers,
poor performers are filtered out, and the first N answers per example are aggregated (the paper
compares their mean with 2.5). Every function reads one contract, a pandas DataFrame with columns
``example_id, worker_id, value (1..4)[, submitted_at]``.
"""

from app.crowd._table import DEFAULT_THRESHOLD, CrowdInputError, first_n, validate_answers
from app.crowd.aggregate import (
    DEFAULT_METHOD,
    GOLD_FREE_METHODS,
    METHODS,
    REGISTRY,
    aggregate,
    make_aggregator,
)
from app.crowd.calibrated import CalibratedMean
from app.crowd.dawid_skene import DawidSkene
from app.crowd.majority import MajorityVote
from app.crowd.mean import MeanAggregator
from app.crowd.ordinal_ds import OrdinalDawidSkene
from app.crowd.peer import PeerWeightedMean
from app.crowd.quality import (
    BLOCKED,
    EXCLUDED_STATUSES,
    FILTERED,
    PENDING,
    STATUSES,
    TRUSTED,
    WorkerFilterRule,
    accuracy_weights,
    as_rule,
    excluded_workers,
    gold_warnings,
    score_workers,
)
from app.crowd.weighted import WeightedMean
from app.crowd.wide import WideCrowdTable, parse_wide, wide_to_long

__all__ = [
    "BLOCKED",
    "DEFAULT_METHOD",
    "DEFAULT_THRESHOLD",
    "EXCLUDED_STATUSES",
    "FILTERED",
    "GOLD_FREE_METHODS",
    "METHODS",
    "PENDING",
    "REGISTRY",
    "STATUSES",
    "TRUSTED",
    "CalibratedMean",
    "CrowdInputError",
    "DawidSkene",
    "MajorityVote",
    "MeanAggregator",
    "OrdinalDawidSkene",
    "PeerWeightedMean",
    "WeightedMean",
    "WideCrowdTable",
    "WorkerFilterRule",
    "accuracy_weights",
    "aggregate",
    "as_rule",
    "excluded_workers",
    "first_n",
    "gold_warnings",
    "make_aggregator",
    "parse_wide",
    "score_workers",
    "validate_answers",
    "wide_to_long",
]
