"""Batched FR-Train training loop with hand-written gradients (private).

All ``M`` models of a hyperparameter grid live in one set of stacked tensors (weights of
shape ``(M, ...)``), so a whole lambda sweep costs about as many tensor operations as a
single run. Gradients are written out by hand instead of going through autograd: the
networks are tiny (a logistic-regression generator, a 1-unit fairness discriminator, a
16-unit robustness discriminator) and per-step Python/autograd overhead, not arithmetic,
dominates a 10,000-step full-batch run. ``tests/trainer/test_fr_train_engine.py`` checks
these gradients and the optimiser updates against a plain autograd transcription of the
authors' notebook.

Notation follows the paper (Section 3.3) and docs/ALGORITHMS.md §1:

* ``G``: generator/classifier, outputs a raw logit ``g``; linear or one hidden layer with
  LeakyReLU(0.2) (Appendix A.4).
* ``D_F``: fairness discriminator ``Linear(1 -> K)`` on the logit; sigmoid for binary ``z``
  (K = 1), softmax for ``|Z| > 2`` (K = |Z|, Section 3.3 "softmax layer"). For equalized
  odds / equal opportunity there is one ``D_F`` per label value (Appendix A.2, Theorem 3);
  rows are routed to the ``D_F`` of their label, and equal opportunity keeps only y = 1.
* ``D_R``: robustness discriminator ``Linear(d+1 -> 16) -> LeakyReLU(0.2) -> Linear(16 -> 1)
  -> sigmoid`` on ``[x, z, y]``: training rows carry the generator's logit, validation rows
  their clean label in {-1, +1} (Section 3.2).
* Objective for G: ``(1 - l1 - l2) L1 + l1 L2 + l2 L3`` where G *maximises* the
  discriminators' cross-entropies (so ``- l1 BCE_F - l2 BCE_R`` in the loss it minimises).

The package: :mod:`.state` (configuration, data, the stacked parameters and their
initialisation), :mod:`.nets` (the three networks and Adam in working form, with their
hand-written gradients), :mod:`.steps` (one step of each player) and :mod:`.loop` (the
epoch loop, :func:`train`). Modules import each other relatively so that
benchmarks/engine_ab.py can load a copy of the package from another commit beside this one.
"""

from __future__ import annotations

from .loop import train
from .nets import LEAK
from .state import EngineConfig, EngineData, EngineState, init_models

__all__ = ["LEAK", "EngineConfig", "EngineData", "EngineState", "init_models", "train"]
