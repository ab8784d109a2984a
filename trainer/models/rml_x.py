"""RML+X: Learning to Reweight first, then a fairness method on the reweighted data; the
paper's "RML+FC", "RML+LBC" and "RML+AD" rows (Section 4.1, Tables 1-3). Spec:
docs/ALGORITHMS.md §4.5.

The paper says only "first performing RML and then utilizing the example weights in the
fairness training in a straightforward fashion". Exactly what is done here:

1. Fit :class:`~trainer.models.rml.LearningToReweight` (full-batch LR, clean validation
   set) on the (possibly poisoned) training rows, passing ``sample_weight`` as its
   prior.
2. Take its static weights w^RML (``weights_``): n times the mean of the per-step
   normalised weights over its last ``last_k`` = K steps (default K = 100), rescaled to
   mean 1. Not the single last step, which is too noisy.
3. Fit the fairness method on the same training rows with ``sample_weight = w^RML``
   (w^RML already contains the user's ``sample_weight`` through step 1, so it is not
   multiplied in a second time). Each method uses the weights as follows:

   * FC: weighted mean log-loss Σwℓ/Σw, and the decision-boundary covariance with the
     weighted mean z̄_w (:mod:`trainer.models.fc`);
   * LBC: w^RML multiplies Jiang & Nachum's weights at every one of the T fits;
     violations stay unweighted training rates (:mod:`trainer.models.lbc`);
   * AD: weighted means of the per-example predictor loss L_P and adversary loss L_A
     (:mod:`trainer.models.ad`).

Rows that RML gives weight 0 thus drop out of the fairness training entirely.
``rml_weights`` lets a caller reuse one RML fit across a whole knob grid (the weights do
not depend on the fairness knob); fitting with it is identical to step 3 alone.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trainer.models._linear import ERR_NOT_FITTED
from trainer.models.ad import AdversarialDebiasing
from trainer.models.base import Estimator, FairEstimator, require_sensitive
from trainer.models.fc import FairnessConstraints
from trainer.models.lbc import LabelBiasCorrection
from trainer.models.rml import LearningToReweight


class RMLReweighted(FairEstimator):
    """A fairness estimator trained on Ren et al.'s static example weights (module doc).

    Args:
        estimator: the unfitted fairness method (FC, LBC or AD; any estimator that
            accepts ``sample_weight``); it is copied, never fitted in place.
        rml: the unfitted RML model (default ``LearningToReweight()``).
        rml_weights: precomputed w^RML for the training rows; skips step 1-2.
    """

    def __init__(
        self,
        *,
        estimator: Estimator,
        rml: LearningToReweight | None = None,
        rml_weights: ArrayLike | None = None,
    ) -> None:
        self.estimator = estimator
        self.rml = rml
        self.rml_weights = rml_weights

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sensitive_features: ArrayLike | None = None,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> RMLReweighted:
        """RML on (train, clean val), then the fairness method with ``sample_weight=w^RML``."""
        sensitive_features = require_sensitive(sensitive_features, "RMLReweighted")
        if self.rml_weights is not None:
            w = np.asarray(self.rml_weights, dtype=np.float64).reshape(-1)
            if len(w) != len(np.asarray(y).reshape(-1)):
                raise ValueError(
                    f"rml_weights has {len(w)} entries but y has {len(np.asarray(y))} rows"
                )
            self.rml_ = None
        else:
            rml = copy.deepcopy(self.rml) if self.rml is not None else LearningToReweight()
            self.rml_ = rml.fit(
                X,
                y,
                sensitive_features,
                X_val=X_val,
                y_val=y_val,
                z_val=z_val,
                sample_weight=sample_weight,
            )
            w = self.rml_.weights_
        self.weights_ = w
        self.estimator_ = copy.deepcopy(self.estimator).fit(
            X, y, sensitive_features, X_val=X_val, y_val=y_val, z_val=z_val, sample_weight=w
        )
        return self

    def _fitted(self) -> Any:
        if not hasattr(self, "estimator_"):
            raise RuntimeError(ERR_NOT_FITTED.format(type(self).__name__))
        return self.estimator_

    def decision_function(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]:
        """The fairness method's raw logit."""
        return np.asarray(self._fitted().decision_function(X, sensitive_features))

    def predict(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[np.int8]:
        """Labels in {-1, +1}."""
        return np.asarray(self._fitted().predict(X, sensitive_features), dtype=np.int8)

    def predict_proba(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]:
        """P(y = +1) as a 1-D array."""
        return np.asarray(self._fitted().predict_proba(X, sensitive_features))


def rml_fc(*, rml: LearningToReweight | None = None, **fc_params: Any) -> RMLReweighted:
    """RML+FC (Table 1 row 4): ``FairnessConstraints(**fc_params)`` on w^RML."""
    return RMLReweighted(estimator=FairnessConstraints(**fc_params), rml=rml)


def rml_lbc(*, rml: LearningToReweight | None = None, **lbc_params: Any) -> RMLReweighted:
    """RML+LBC (Table 1 row 5): ``LabelBiasCorrection(**lbc_params)`` on w^RML."""
    return RMLReweighted(estimator=LabelBiasCorrection(**lbc_params), rml=rml)


def rml_ad(*, rml: LearningToReweight | None = None, **ad_params: Any) -> RMLReweighted:
    """RML+AD (Table 1 row 6): ``AdversarialDebiasing(**ad_params)`` on w^RML."""
    return RMLReweighted(estimator=AdversarialDebiasing(**ad_params), rml=rml)
