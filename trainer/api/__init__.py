"""The narrow interface the service calls. `app` imports nothing else from `trainer`.

A training job is described by a JSON-friendly spec (:func:`validate_spec` turns a raw dict
into a :class:`JobSpec` or raises ``ValueError`` naming the bad field) and executed by
:func:`run_training`, which reports progress through a callback, stops when
``should_cancel()`` turns true (raising :class:`Cancelled`), writes its artifacts into a folder
and returns a results dict (JSON-safe: NaN becomes ``None``).

Spec (every key optional except ``data``; defaults in brackets)::

    {
      "data": {"builtin": "synthetic" | "compas" | "adult", "variant": ...,
               "synthetic_poisoned": false}
            | {"file": PATH, "label": COL, "sensitive": COL, "features": [COLS] | null,
               "id_column": COL | null, "categorical": [COLS], "positive_label": V,
               "privileged": V},
      "validation": {"kind": "builtin"} | {"kind": "file", "path": PATH,
                                         "label_column": COL | null},
      "poisoning": null | {"attack": "top_margin" | "paudice_greedy", "fraction": 0.1,
                           "target_group": 1},
      "method": "fr-train" | "lr" | "fc" | "lbc" | "ad" | "rml" | "auto" | a practitioner
                baseline (trainer/models/practitioners.py: "eg-dp-clean", "cr-lr", ...)
                ["auto" for a user file, "fr-train" for a built-in data set],
      "hyperparameters": {...}    # method-specific; list values form the grid
      "selection": {"min_fairness": 0.8, "metric": "disparate_impact",
                    "rule": "interval" | "point" | "smoothed",
                    "extra_label_free": null | "synthetic-unused-block"
                        ["synthetic-unused-block" with "smoothed" on the synthetic data]},
      "seeds": [0, 1, 2],         # model seeds; each also draws the split unless split_seed
      "split_seed": null | int,
      "device": "auto" | "cpu" | "cuda",
      "test_size": 0.3, "val_size": 0.05,
      "test": null | {"file": PATH, "label_column": COL | null},
      "holdout": null | {"repeats": 3, "fraction": 0.3}
            [on for a user file with a validation file and no clean test file]
    }

Held-out crowd-labelled evaluation (``holdout``): when the only clean labels are the
validation file's (a crowd export), the test split carved from the training file carries
untrusted labels. Then, besides it, the job repeats the whole fit ``repeats`` times on the
first seed, each time with a random ``fraction`` of the validation rows held out: the method
trains and selects its grid point on the remaining validation rows only, and the chosen point
is scored on the held-out rows, which no fit or selection saw. The report gives mean and std
over the repeats and says these numbers are scored against crowd labels. Three repeats of 30%
(fixed in advance, not tuned) keep the cost at three extra fits (FR-Train's grid trains batched,
so one fit per repeat covers the whole grid).

FR-Train's grid: ``l1`` (lambda_1, the fairness weight) and ``l2`` (lambda_2, the robustness
weight) may be lists; every (l1, l2) pair trains in one batched run (paper §3, Appendix A.4
"vary lambda_1 ... for a trade-off"), and the point reported per seed is chosen without test
rows by ``selection.rule`` (docs/SELECTION.md): by default ``interval``, the highest
validation accuracy among grid points whose fairness interval lies at or above
``min_fairness`` (DI measured on the validation rows plus the training split's features,
whose labels are not read; equalized odds and equal opportunity on the validation rows);
if none does, the one with the highest lower end. ``point`` is the previous rule on
validation point estimates; ``smoothed`` (the synthetic reproduction's, built-in synthetic
data only) the same on 3-point moving averages along one lambda_1 sweep, with DI on the
validation rows plus ``extra_label_free`` rows (the synthetic files' unused block [2200,
2700)). Each grid point records that evidence under ``selection``, each seed
``selection_rule`` and ``selection_reason``.
The package is split by job: :mod:`.spec` (the spec and its validation), :mod:`.fitting` (the
data set a seed trains on, every grid point's model), :mod:`.evaluation` (scoring, selection
on validation rows, held-out crowd evaluation, where test labels come from), :mod:`.training`
(:func:`run_training`), :mod:`.artifacts` (files, text report, trade-off plot) and
:mod:`.predict` (a saved model on new rows). Every public name is re-exported here: the
service imports ``trainer.api`` only. :func:`run_training` is the one training path: it is
built from :func:`prepare_dataset`, :func:`label_free_rows`, :func:`fit_grid` and
:func:`evaluate_seed`, which the paper reproduction (``frtrain reproduce``) calls on its own
data sets, so that a reproduced FR-Train row is what a job with the same spec reports.
"""

from __future__ import annotations

from trainer.api.artifacts import format_results, plot_tradeoff, write_artifacts
from trainer.api.evaluation import (
    SUMMARY_KEYS,
    evaluate_seed,
    score_grid,
    select_grid_point,
    test_labels,
)
from trainer.api.fitting import (
    GridFit,
    LabelFree,
    fit_grid,
    label_free_rows,
    prepare_dataset,
    set_threads,
)
from trainer.api.predict import MAX_PREDICT_ROWS, load_model, predict_table, read_rows
from trainer.api.spec import (
    ATTACKS,
    BUILTIN_DATASETS,
    DEFAULT_METHOD,
    DEVICES,
    EXTRA_LABEL_FREE,
    FAIRNESS_METRICS,
    FRTRAIN_DEFAULTS,
    HOLDOUT_DEFAULT,
    JOB_RULES,
    MAX_GRID,
    MAX_HOLDOUT_REPEATS,
    MAX_SEEDS,
    MIN_HOLDOUT_ROWS,
    PRACTITIONER_METHODS,
    SYNTHETIC_UNUSED_BLOCK,
    JobSpec,
    available_methods,
    validate_spec,
)
from trainer.api.training import Cancelled, Progress, run_training

# the selection rules live in trainer.selection
from trainer.selection import select, select_point

__all__ = [
    "ATTACKS",
    "BUILTIN_DATASETS",
    "DEFAULT_METHOD",
    "DEVICES",
    "EXTRA_LABEL_FREE",
    "FAIRNESS_METRICS",
    "FRTRAIN_DEFAULTS",
    "HOLDOUT_DEFAULT",
    "JOB_RULES",
    "MAX_GRID",
    "MAX_HOLDOUT_REPEATS",
    "MAX_PREDICT_ROWS",
    "MAX_SEEDS",
    "MIN_HOLDOUT_ROWS",
    "PRACTITIONER_METHODS",
    "SUMMARY_KEYS",
    "SYNTHETIC_UNUSED_BLOCK",
    "Cancelled",
    "GridFit",
    "JobSpec",
    "LabelFree",
    "Progress",
    "available_methods",
    "evaluate_seed",
    "fit_grid",
    "format_results",
    "label_free_rows",
    "load_model",
    "plot_tradeoff",
    "predict_table",
    "prepare_dataset",
    "read_rows",
    "run_training",
    "score_grid",
    "select",
    "select_grid_point",
    "select_point",
    "set_threads",
    "test_labels",
    "validate_spec",
    "write_artifacts",
]
