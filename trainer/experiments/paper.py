"""The paper's tables and figures from one harness (paper Section 4 and A.3).

``frtrain reproduce TABLE`` / ``reproduce all`` build every table from *tasks*: one task is
one (data set, setting, seed or seed list, method family) unit of training whose result is a
small JSON record. Tasks are deduplicated across tables (Table 2's FR-Train row and Table
5's ablation share one batched FR-Train grid), cached on disk under ``OUT/cache`` (a rerun
resumes), and run in a process pool of at most 2 workers with a tqdm bar. Tables are then
assembled from the records by :mod:`trainer.experiments.report`.

Protocol (paper §4, docs/ALGORITHMS.md §4; every choice made on the validation split only):

* Data: synthetic = the authors' files and split (train 1,800, val 200 = 10% of the
  paper's 2,000, test 1,000; poisoned labels = their ``y_poi``). COMPAS (5,278-row AIF360
  preprocessing) and AdultCensus (45,222 rows): one seeded (y, z)-stratified split
  (``SPLIT_SEED``; test 30% COMPAS, 23.5% Adult as Table 4 implies), validation = 5% of
  D_tr with clean labels, poisoning = the authors' top-margin flip of 10% of D_tr inside
  z = 1 (female for COMPAS, male for Adult), training split only.
* Seeds: the split and the poisoning are fixed; a seed is the model's initialisation
  seed (AD, RML, FR-Train; FC, LBC and LR are deterministic, so their std is 0), and for
  the validation-subset experiments also the subset drawn.
* Fairness baselines: each knob is swept and chosen with
  :func:`trainer.experiments.tuning.select_knob` (validation DI >= 0.8, best validation
  accuracy). FC's knob is Zafar's covariance bound ``c`` as a fraction of the
  unconstrained covariance (the constraint form; by convex duality it traces the same
  path as the penalty λ of Figure 2b, from λ = 0 at c = 1 to Cov = 0 at c = 0); LBC's is
  the iteration count T; AD's is α (no projection term). RML+X = the same sweeps with
  RML's static weights as ``sample_weight`` (:mod:`trainer.models.rml_x`).
* FR-Train: trained, scored and chosen through ``trainer.api`` (``fit_grid``,
  ``score_grid``, ``select_grid_point``: the steps of ``run_training``, the training path of
  jobs and ``frtrain train``) with each task's job spec (:func:`fr_spec`). Synthetic:
  ``frtrain reproduce synthetic``'s settings
  (:data:`trainer.experiments.synthetic.DEFAULT_SETTINGS`, the synthetic regimes of
  ``trainer.defaults``) and rule ``smoothed`` (λ_f chosen on
  validation accuracy and on DI over the validation rows plus the authors' unused block
  [2200, 2700), both smoothed along the λ_f grid). COMPAS and AdultCensus: what a training
  job on them gets, ``trainer.defaults.REGIMES["real"]`` (λ_r 0.3, λ_f 0.1-0.6) and the
  product's rule ``interval`` (docs/SELECTION.md: the most accurate grid point whose 95%
  DI interval on the validation rows plus the training split's features lies at or above
  0.8); AdultCensus in mini-batches of 2,048 rows for :data:`ADULT_STEPS` = 8,000 steps, the
  step count chosen on validation by ``select-defaults --data adult`` (a job on AdultCensus
  trains 2,000 full-batch epochs instead). The point is chosen per seed and λ_r among the
  λ_f > 0 points and recorded with its rule. One batched
  :class:`~trainer.models.fr_train.FRTrainGrid` per (data set, setting) trains every
  seed, λ_f and the ablation points (λ_r = 0, λ_f = 0) at once.
* AD and RML+AD: every (seed, weighting, α) of a task in one vectorised run
  (:func:`trainer.models.ad.fit_many`).
"""

# The harness is split by job: :mod:`.protocol` (constants, profiles, data),
# :mod:`.runners` (what one task trains), :mod:`.task_specs` (which tasks a table needs) and
# :mod:`.executor` (the cached process pool). This module re-exports their public names.

from __future__ import annotations

from trainer.experiments.executor import (
    RunLog,
    profile_with,
    run_tasks,
)
from trainer.experiments.protocol import (
    BASE_L2,
    CROWD_ACCURACY,
    DATASETS,
    FAIRNESS_METHODS,
    FULL,
    METHODS,
    PAPER_TRAIN_SIZE,
    PROFILES,
    QUICK,
    SETTINGS,
    SPLIT_SEED,
    TARGET_DI,
    TEST_SIZE,
    Profile,
    crowd_validation,
    load_data,
    val_subset,
)
from trainer.experiments.runners import (
    ADULT_BATCH,
    ADULT_STEPS,
    FR_RULES,
    RUNNERS,
    Task,
    adult_schedule,
    choose_fr,
    fr_grid,
    fr_rule,
    fr_settings,
    fr_spec,
    run_auto,
    run_baselines,
    run_fr,
    run_practitioners,
    run_rml_val,
    select_curve,
)
from trainer.experiments.task_specs import (
    MAIN_TABLE_DATASET,
    TABLES,
    VAL_SIZES,
    auto_task,
    baselines_task,
    fr_main_task,
    tasks_for,
)

__all__ = [
    "ADULT_BATCH",
    "ADULT_STEPS",
    "BASE_L2",
    "CROWD_ACCURACY",
    "DATASETS",
    "FAIRNESS_METHODS",
    "FR_RULES",
    "FULL",
    "MAIN_TABLE_DATASET",
    "METHODS",
    "PAPER_TRAIN_SIZE",
    "PROFILES",
    "QUICK",
    "RUNNERS",
    "SETTINGS",
    "SPLIT_SEED",
    "TABLES",
    "TARGET_DI",
    "TEST_SIZE",
    "VAL_SIZES",
    "Profile",
    "RunLog",
    "Task",
    "adult_schedule",
    "auto_task",
    "baselines_task",
    "choose_fr",
    "crowd_validation",
    "fr_grid",
    "fr_main_task",
    "fr_rule",
    "fr_settings",
    "fr_spec",
    "load_data",
    "profile_with",
    "run_auto",
    "run_baselines",
    "run_fr",
    "run_practitioners",
    "run_rml_val",
    "run_tasks",
    "select_curve",
    "tasks_for",
    "val_subset",
]
