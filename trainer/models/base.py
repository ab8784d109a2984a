"""The estimator shape every method shares (STYLE.md habit 5): scikit-learn's.

* every estimator derives from :class:`FairEstimator` (a ``sklearn.base.BaseEstimator``):
  hyperparameters are keyword-only ``__init__`` arguments stored unchanged, so
  ``get_params`` / ``set_params`` / ``sklearn.base.clone`` work; randomness is
  ``random_state`` (an int seed);
* ``fit(X, y, sensitive_features=None, *, X_val=None, y_val=None, z_val=None,
  sample_weight=None) -> self``; ``sensitive_features`` may be passed by keyword as in
  fairlearn; the clean validation set is optional for methods that do not use it;
* fitted state ends in ``_``;
* ``decision_function`` returns raw logits (positive means +1), ``predict`` returns
  labels in {-1, +1}, ``predict_proba`` returns P(y = +1) as a 1-D array.

Labels are in {-1, +1}; ``sensitive_features`` are integer group codes. Models that see
the sensitive attribute as an input feature (``include_sensitive=True``, the paper's
setting) append it to ``X`` themselves.
"""

from __future__ import annotations

from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin


@runtime_checkable
class Estimator(Protocol):
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
    ) -> Self: ...

    def decision_function(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]: ...

    def predict(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[np.int8]: ...

    def predict_proba(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]: ...


class FairEstimator(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Base class of every trainer estimator: scikit-learn's ``BaseEstimator`` shape.

    Subclasses list their hyperparameters as keyword-only ``__init__`` arguments and store
    them unchanged (scikit-learn's ``get_params`` reads the signature); fitted state is set
    by ``fit`` only and ends in ``_``. ``classes_`` is ``[-1, +1]``: labels are {-1, +1}.
    """

    classes_ = np.array([-1, 1])

    def score(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        sensitive_features: ArrayLike | None = None,
    ) -> float:
        """Accuracy of :meth:`predict` against ``y`` (labels in {-1, +1} or {0, 1})."""
        pred = self.predict(X, sensitive_features)  # type: ignore[attr-defined]
        ok = (np.asarray(pred) > 0) == (np.asarray(y).reshape(-1) > 0)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        return float(np.average(ok, weights=w))


def require_sensitive(sensitive_features: ArrayLike | None, who: str) -> ArrayLike:
    """``sensitive_features`` or a ValueError saying that ``who`` needs them."""
    if sensitive_features is None:
        raise ValueError(f"{who} needs sensitive_features (one group code per row)")
    return sensitive_features


def with_sensitive(X: ArrayLike, z: ArrayLike | None, include: bool) -> NDArray[np.float32]:
    """``[X, z]`` as float32 when ``include``, else ``X``."""
    Xa = np.asarray(X, dtype=np.float32)
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    if not include:
        return Xa
    za = np.asarray(z, dtype=np.float32).reshape(-1, 1)
    return np.concatenate([Xa, za], axis=1)


def to01(y: ArrayLike) -> NDArray[np.float32]:
    """Map labels in {-1, +1} (or {0, 1}) to BCE targets in {0, 1}."""
    return (np.asarray(y).reshape(-1) > 0).astype(np.float32)


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks CUDA when present, else CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but CUDA is not available")
    return device
