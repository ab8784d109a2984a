"""What a practitioner would do in an afternoon with scikit-learn and fairlearn.

The baselines a user with poisoned training labels and a small clean set would otherwise
run, in the shared estimator shape (:mod:`trainer.models.base`): ``fit(X, y,
sensitive_features, *, X_val, y_val, z_val, sample_weight)``, fitted state ending in ``_``,
labels in {-1, +1}. Each one *calls* fairlearn (``ExponentiatedGradient``,
``ThresholdOptimizer``, ``CorrelationRemover``) around scikit-learn's
``LogisticRegression``; nothing of fairlearn is re-implemented here.

Where a model is fitted (``fit_on``):

* ``"clean"``: the clean validation set alone (``X_val``, ``y_val``, ``z_val``); the
  untrusted training rows are ignored;
* ``"train"``: the (possibly poisoned) training set alone; the clean set is ignored;
* ``"post"`` (ThresholdOptimizer only): LR fitted on the training set, then
  ``ThresholdOptimizer(prefit=True)`` post-processes it on the clean set.

``RelabelExponentiatedGradient`` combines the two halves: an LR fitted on the clean set
relabels the training rows whose label it confidently contradicts (probability of the other
label at least ``threshold``), then ExponentiatedGradient is fitted on the relabelled
training rows plus the clean rows. The threshold is fixed (0.9: the clean-set model must be
nine times surer of the other label), never tuned on test.

Randomised predictions: fairlearn's ExponentiatedGradient and ThresholdOptimizer are
randomised classifiers; their fairness guarantees hold for the randomised prediction.
``predict`` therefore returns fairlearn's own ``predict(..., random_state=random_state)``
(the same labels as calling fairlearn directly with that state), ``predict_proba`` the
probability of +1 (fairlearn's ``_pmf_predict``), and ``decision_function`` a score whose
sign is ``predict``'s label and whose size is ``|logit(predict_proba)|`` (so ``score > 0``
reproduces ``predict``, as the shared shape requires). ``randomized=False`` thresholds the
probability at 1/2 instead.

The sensitive attribute: like every model in the paper, the LR sees ``[x, z]``
(``include_sensitive=True``); fairlearn gets ``z`` as ``sensitive_features``.
CorrelationRemover removes the linear correlation of ``x`` with ``z`` (``alpha`` = 1: all
of it) and the LR then sees the filtered ``x`` only.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import Iterator
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator

from trainer.models import fit_cache
from trainer.models.base import with_sensitive

FitOn = Literal["clean", "train", "post"]
Constraint = Literal["dp", "eo"]
_EG_CONSTRAINTS = {"dp": "DemographicParity", "eo": "EqualizedOdds"}
_TO_CONSTRAINTS = {"dp": "demographic_parity", "eo": "equalized_odds"}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the pandas deprecation warnings fairlearn 0.15 raises inside its own code."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="fairlearn")
        warnings.filterwarnings("ignore", category=FutureWarning, module="fairlearn")
        yield


def base_lr(C: float = 1.0) -> Any:
    """The practitioner's classifier: scikit-learn's L2 logistic regression.

    Solver ``newton-cholesky``: the same objective as the default lbfgs, solved to
    convergence in a handful of Newton steps; 5x faster on AdultCensus's 33k x 98 training
    matrix (0.44 s against 2.2 s per fit), which matters because ExponentiatedGradient refits
    it up to 50 times.
    """
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=1000, solver="newton-cholesky")


def _train_lr(C: float, feat: NDArray[Any], y01: NDArray[Any]) -> Any:
    """``base_lr(C)`` fitted on ``(feat, y01)``, reused when an open fit cache has the same
    rows (``to-*-post`` fits the same training-set LR in every fold of ``auto``'s CV)."""
    key = ("base-lr", repr(base_lr(C).get_params()), fit_cache.digest(feat, y01))
    return fit_cache.active().memo(key, lambda: base_lr(C).fit(feat, y01))


def _labels01(y: ArrayLike) -> NDArray[np.int64]:
    ya = np.asarray(y).reshape(-1)
    if not np.isin(ya, (-1, 0, 1)).all():
        raise ValueError("y must hold binary labels in {-1, +1} or {0, 1}")
    return (ya > 0).astype(np.int64)


def _pick(
    fit_on: str,
    X: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    X_val: ArrayLike | None,
    y_val: ArrayLike | None,
    z_val: ArrayLike | None,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """The rows a ``fit_on="clean"`` or ``"train"`` model is fitted on."""
    if fit_on == "train":
        return np.asarray(X, dtype=np.float32), np.asarray(y), np.asarray(z)
    if X_val is None or y_val is None or z_val is None:
        raise ValueError(f"fit_on={fit_on!r} needs the clean set: pass X_val, y_val and z_val")
    if len(np.asarray(y_val)) == 0:
        raise ValueError("the clean set is empty")
    return np.asarray(X_val, dtype=np.float32), np.asarray(y_val), np.asarray(z_val)


def _scores(proba: NDArray[Any], pred01: NDArray[Any]) -> NDArray[np.float64]:
    """A score with ``pred01``'s sign and ``|logit(proba)|``'s size (never exactly 0)."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1 - 1e-12)
    size = np.abs(np.log(p) - np.log1p(-p)) + 1e-9
    return np.where(np.asarray(pred01) > 0, size, -size)


class _Practitioner(BaseEstimator):  # type: ignore[misc]
    """Shared plumbing: feature building, fitted checks, the prediction trio."""

    #: fairlearn objects inside: the saved model pickles it (trainer.artifact)
    _pickled_artifact = True

    #: the model needs the clean set (``fit`` raises without it)
    uses_clean: bool = True
    #: the model needs the training set's labels
    uses_train: bool = True
    include_sensitive: bool
    randomized: bool
    random_state: int

    def _feat(self, X: ArrayLike, z: ArrayLike) -> NDArray[np.float64]:
        # float64: fairlearn's ThresholdOptimizer cannot write probabilities into a float32
        # frame (pandas 3 refuses the upcast)
        return with_sensitive(X, z, self.include_sensitive).astype(np.float64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            name = type(self).__name__
            raise RuntimeError(f"this {name} is not fitted yet; call fit() first")

    def _pmf(self, X: ArrayLike, z: ArrayLike) -> NDArray[np.float64]:
        raise NotImplementedError

    def _randomized01(self, X: ArrayLike, z: ArrayLike) -> NDArray[Any]:
        raise NotImplementedError

    def predict_proba(self, X: ArrayLike, sensitive_features: ArrayLike) -> NDArray[Any]:
        """P(y = +1) under the (randomised) classifier."""
        self._check_fitted()
        return self._pmf(X, sensitive_features)

    def _pred01(self, X: ArrayLike, z: ArrayLike) -> NDArray[Any]:
        if self.randomized:
            return np.asarray(self._randomized01(X, z)).reshape(-1)
        return (self._pmf(X, z) > 0.5).astype(np.int64)

    def decision_function(self, X: ArrayLike, sensitive_features: ArrayLike) -> NDArray[Any]:
        """A score whose sign is :meth:`predict`'s label (module docstring)."""
        self._check_fitted()
        return _scores(self._pmf(X, sensitive_features), self._pred01(X, sensitive_features))

    def predict(self, X: ArrayLike, sensitive_features: ArrayLike) -> NDArray[np.int8]:
        """Labels in {-1, +1} (fairlearn's randomised prediction when ``randomized``)."""
        self._check_fitted()
        return np.where(self._pred01(X, sensitive_features) > 0, 1, -1).astype(np.int8)


class CleanSetLR(_Practitioner):
    """Logistic regression on the clean validation set alone (no fairness)."""

    uses_train = False

    def __init__(self, *, C: float = 1.0, include_sensitive: bool = True) -> None:
        self.C = C
        self.include_sensitive = include_sensitive
        self.randomized = False
        self.random_state = 0

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sensitive_features: ArrayLike,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> Self:
        """Fit on ``(X_val, y_val, z_val)``; the training rows are ignored."""
        Xc, yc, zc = _pick("clean", X, y, sensitive_features, X_val, y_val, z_val)
        self.model_ = base_lr(self.C).fit(self._feat(Xc, zc), _labels01(yc))
        self.n_fit_rows_ = len(yc)
        return self

    def _pmf(self, X: ArrayLike, z: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(self.model_.predict_proba(self._feat(X, z))[:, 1], dtype=np.float64)


class ExponentiatedGradientLR(_Practitioner):
    """fairlearn's ``ExponentiatedGradient(LogisticRegression, DemographicParity |
    EqualizedOdds)`` fitted on the clean set or on the training set.

    Args:
        constraint: ``"dp"`` (DemographicParity) or ``"eo"`` (EqualizedOdds).
        fit_on: ``"clean"`` or ``"train"`` (module docstring).
        eps: fairlearn's allowed constraint violation (its default, 0.01).
        max_iter: fairlearn's iteration cap (its default, 50).
        C: the LR's inverse L2 strength.
        randomized: fairlearn's randomised prediction (default) or the probability > 1/2.
        random_state: the state handed to fairlearn's ``predict``.
    """

    def __init__(
        self,
        *,
        constraint: str = "dp",
        fit_on: str = "clean",
        eps: float = 0.01,
        max_iter: int = 50,
        C: float = 1.0,
        include_sensitive: bool = True,
        randomized: bool = True,
        random_state: int = 0,
    ) -> None:
        self.constraint = constraint
        self.fit_on = fit_on
        self.eps = eps
        self.max_iter = max_iter
        self.C = C
        self.include_sensitive = include_sensitive
        self.randomized = randomized
        self.random_state = random_state
        self._check()

    def _check(self) -> None:
        if self.constraint not in _EG_CONSTRAINTS:
            raise ValueError(f"constraint must be one of {sorted(_EG_CONSTRAINTS)}")
        if self.fit_on not in ("clean", "train"):
            raise ValueError("fit_on must be 'clean' or 'train' for ExponentiatedGradient")

    @property
    def uses_clean(self) -> bool:  # type: ignore[override]
        return self.fit_on == "clean"

    @property
    def uses_train(self) -> bool:  # type: ignore[override]
        return self.fit_on == "train"

    def make(self) -> Any:
        """The unfitted fairlearn object this estimator wraps."""
        import fairlearn.reductions as red

        return red.ExponentiatedGradient(
            base_lr(self.C),
            getattr(red, _EG_CONSTRAINTS[self.constraint])(),
            eps=self.eps,
            max_iter=self.max_iter,
        )

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sensitive_features: ArrayLike,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> Self:
        """Fit fairlearn's reduction on the rows ``fit_on`` names."""
        self._check()
        Xf, yf, zf = _pick(self.fit_on, X, y, sensitive_features, X_val, y_val, z_val)
        self.model_ = self.make()
        with quiet():
            self.model_.fit(self._feat(Xf, zf), _labels01(yf), sensitive_features=zf)
        self.n_fit_rows_ = len(yf)
        return self

    def _pmf(self, X: ArrayLike, z: ArrayLike) -> NDArray[np.float64]:
        with quiet():
            pmf = self.model_._pmf_predict(self._feat(X, z))
        # a mixture of classifiers: its weights sum to 1 up to rounding
        return np.clip(np.asarray(pmf[:, 1], dtype=np.float64), 0.0, 1.0)

    def _randomized01(self, X: ArrayLike, z: ArrayLike) -> NDArray[Any]:
        with quiet():
            return self.model_.predict(self._feat(X, z), random_state=self.random_state)


class ThresholdOptimizerLR(_Practitioner):
    """fairlearn's ``ThresholdOptimizer`` around an LR: fitted on the clean set, on the
    training set, or (``fit_on="post"``) post-processing a training-set LR on the clean set.

    Args:
        constraint: ``"dp"`` (demographic_parity) or ``"eo"`` (equalized_odds).
        fit_on: ``"clean"``, ``"train"`` or ``"post"`` (module docstring).
        C: the LR's inverse L2 strength.
        randomized: fairlearn's randomised prediction (default) or the probability > 1/2.
        random_state: the state handed to fairlearn's ``predict``.
    """

    def __init__(
        self,
        *,
        constraint: str = "dp",
        fit_on: str = "clean",
        C: float = 1.0,
        include_sensitive: bool = True,
        randomized: bool = True,
        random_state: int = 0,
    ) -> None:
        self.constraint = constraint
        self.fit_on = fit_on
        self.C = C
        self.include_sensitive = include_sensitive
        self.randomized = randomized
        self.random_state = random_state
        self._check()

    def _check(self) -> None:
        if self.constraint not in _TO_CONSTRAINTS:
            raise ValueError(f"constraint must be one of {sorted(_TO_CONSTRAINTS)}")
        if self.fit_on not in ("clean", "train", "post"):
            raise ValueError("fit_on must be 'clean', 'train' or 'post'")

    @property
    def uses_clean(self) -> bool:  # type: ignore[override]
        return self.fit_on in ("clean", "post")

    @property
    def uses_train(self) -> bool:  # type: ignore[override]
        return self.fit_on in ("train", "post")

    def make(self, estimator: Any, *, prefit: bool) -> Any:
        """The unfitted fairlearn object this estimator wraps."""
        from fairlearn.postprocessing import ThresholdOptimizer

        return ThresholdOptimizer(
            estimator=estimator,
            constraints=_TO_CONSTRAINTS[self.constraint],
            objective="accuracy_score",
            prefit=prefit,
            predict_method="predict_proba",
        )

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sensitive_features: ArrayLike,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> Self:
        """Fit the LR and the group thresholds on the rows ``fit_on`` names."""
        self._check()
        z = sensitive_features
        if self.fit_on == "post":
            Xt, yt, zt = _pick("train", X, y, z, X_val, y_val, z_val)
            lr = _train_lr(self.C, self._feat(Xt, zt), _labels01(yt))
            Xf, yf, zf = _pick("clean", X, y, z, X_val, y_val, z_val)
            self.model_ = self.make(lr, prefit=True)
        else:
            Xf, yf, zf = _pick(self.fit_on, X, y, z, X_val, y_val, z_val)
            self.model_ = self.make(base_lr(self.C), prefit=False)
        with quiet():
            self.model_.fit(self._feat(Xf, zf), _labels01(yf), sensitive_features=zf)
        self.n_fit_rows_ = len(yf)
        return self

    def _pmf(self, X: ArrayLike, z: ArrayLike) -> NDArray[np.float64]:
        with quiet():
            pmf = self.model_._pmf_predict(self._feat(X, z), sensitive_features=np.asarray(z))
        return np.asarray(pmf[:, 1], dtype=np.float64)

    def _randomized01(self, X: ArrayLike, z: ArrayLike) -> NDArray[Any]:
        with quiet():
            return self.model_.predict(
                self._feat(X, z), sensitive_features=np.asarray(z), random_state=self.random_state
            )


class CorrelationRemoverLR(_Practitioner):
    """fairlearn's ``CorrelationRemover`` on ``[x, z]`` (z removed, x decorrelated from z),
    then an LR on the filtered features; fitted on the training set (``fit_on="train"``)
    or the clean set (``"clean"``).
    """

    def __init__(self, *, alpha: float = 1.0, fit_on: str = "train", C: float = 1.0) -> None:
        self.alpha = alpha
        self.fit_on = fit_on
        self.C = C
        self.include_sensitive = True
        self.randomized = False
        self.random_state = 0
        if fit_on not in ("clean", "train"):
            raise ValueError("fit_on must be 'clean' or 'train' for CorrelationRemover")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")

    @property
    def uses_clean(self) -> bool:  # type: ignore[override]
        return self.fit_on == "clean"

    @property
    def uses_train(self) -> bool:  # type: ignore[override]
        return self.fit_on == "train"

    def make(self, n_features: int) -> Any:
        """The unfitted fairlearn CorrelationRemover (z is the last column)."""
        from fairlearn.preprocessing import CorrelationRemover

        return CorrelationRemover(sensitive_feature_ids=[n_features], alpha=self.alpha)

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sensitive_features: ArrayLike,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> Self:
        """Fit the filter and the LR on the rows ``fit_on`` names."""
        Xf, yf, zf = _pick(self.fit_on, X, y, sensitive_features, X_val, y_val, z_val)
        A = with_sensitive(Xf, zf, True).astype(np.float64)
        self.remover_ = self.make(A.shape[1] - 1).fit(A)
        self.model_ = base_lr(self.C).fit(self.remover_.transform(A), _labels01(yf))
        self.n_fit_rows_ = len(yf)
        return self

    def _pmf(self, X: ArrayLike, z: ArrayLike) -> NDArray[np.float64]:
        A = self.remover_.transform(with_sensitive(X, z, True).astype(np.float64))
        return np.asarray(self.model_.predict_proba(A)[:, 1], dtype=np.float64)


class RelabelExponentiatedGradient(ExponentiatedGradientLR):
    """A clean-set LR relabels the training rows it confidently contradicts; then fairlearn's
    ExponentiatedGradient is fitted on the relabelled training rows plus the clean rows.

    Args:
        threshold: relabel a training row when the clean-set LR gives its *other* label at
            least this probability (fixed at 0.9; not a tuned knob).
        constraint, eps, max_iter, C, randomized, random_state: as ExponentiatedGradientLR.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.9,
        constraint: str = "dp",
        eps: float = 0.01,
        max_iter: int = 50,
        C: float = 1.0,
        include_sensitive: bool = True,
        randomized: bool = True,
        random_state: int = 0,
    ) -> None:
        self.threshold = threshold
        super().__init__(
            constraint=constraint,
            fit_on="clean",
            eps=eps,
            max_iter=max_iter,
            C=C,
            include_sensitive=include_sensitive,
            randomized=randomized,
            random_state=random_state,
        )
        if not 0.5 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0.5, 1], got {threshold!r}")

    @property
    def uses_train(self) -> bool:  # type: ignore[override]
        return True

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sensitive_features: ArrayLike,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> Self:
        """Relabel, then fit ExponentiatedGradient on relabelled train + clean rows."""
        self._check()
        Xc, yc, zc = _pick("clean", X, y, sensitive_features, X_val, y_val, z_val)
        Xt, yt, zt = _pick("train", X, y, sensitive_features, X_val, y_val, z_val)
        judge = base_lr(self.C).fit(self._feat(Xc, zc), _labels01(yc))
        p1 = judge.predict_proba(self._feat(Xt, zt))[:, 1]
        y01 = _labels01(yt)
        p_other = np.where(y01 == 1, 1.0 - p1, p1)
        flip = p_other >= self.threshold
        y_new = np.where(flip, 1 - y01, y01)
        self.relabelled_ = np.flatnonzero(flip)
        Xa = np.concatenate([self._feat(Xt, zt), self._feat(Xc, zc)])
        ya = np.concatenate([y_new, _labels01(yc)])
        za = np.concatenate([np.asarray(zt), np.asarray(zc)])
        self.model_ = self.make()
        with quiet():
            self.model_.fit(Xa, ya, sensitive_features=za)
        self.n_fit_rows_ = len(ya)
        return self


#: Named configurations: the method names of ``frtrain train --method``, training jobs and
#: ``frtrain reproduce practitioners`` (name -> (class, keyword arguments)).
PRACTITIONERS: dict[str, tuple[type[_Practitioner], dict[str, Any]]] = {
    "lr-clean": (CleanSetLR, {}),
    "eg-dp-clean": (ExponentiatedGradientLR, {"constraint": "dp", "fit_on": "clean"}),
    "eg-eo-clean": (ExponentiatedGradientLR, {"constraint": "eo", "fit_on": "clean"}),
    "eg-dp-train": (ExponentiatedGradientLR, {"constraint": "dp", "fit_on": "train"}),
    "eg-eo-train": (ExponentiatedGradientLR, {"constraint": "eo", "fit_on": "train"}),
    "to-dp-clean": (ThresholdOptimizerLR, {"constraint": "dp", "fit_on": "clean"}),
    "to-eo-clean": (ThresholdOptimizerLR, {"constraint": "eo", "fit_on": "clean"}),
    "to-dp-train": (ThresholdOptimizerLR, {"constraint": "dp", "fit_on": "train"}),
    "to-eo-train": (ThresholdOptimizerLR, {"constraint": "eo", "fit_on": "train"}),
    "to-dp-post": (ThresholdOptimizerLR, {"constraint": "dp", "fit_on": "post"}),
    "to-eo-post": (ThresholdOptimizerLR, {"constraint": "eo", "fit_on": "post"}),
    "cr-lr": (CorrelationRemoverLR, {"fit_on": "train"}),
    "relabel-eg": (RelabelExponentiatedGradient, {"constraint": "dp"}),
}


def make_practitioner(name: str, **overrides: Any) -> _Practitioner:
    """A fresh estimator for a named configuration of :data:`PRACTITIONERS`."""
    if name not in PRACTITIONERS:
        raise ValueError(f"unknown practitioner method {name!r}; use {sorted(PRACTITIONERS)}")
    cls, kwargs = PRACTITIONERS[name]
    return cls(**{**kwargs, **overrides})


@functools.cache
def estimator_class(name: str) -> type[_Practitioner]:
    """A class for the named configuration whose ``__init__`` takes only its free knobs.

    Training jobs (``trainer.api``) build estimators as ``cls(**hyperparameters)`` and
    validate the keys against ``cls.__init__``'s keyword-only parameters; this gives each
    named configuration that shape, with its fixed arguments (``fit_on``, ``constraint``)
    bound.
    """
    if name not in PRACTITIONERS:
        raise ValueError(f"unknown practitioner method {name!r}; use {sorted(PRACTITIONERS)}")
    base, fixed = PRACTITIONERS[name]
    sig = inspect.signature(base.__init__)
    free = [p for n, p in sig.parameters.items() if n not in fixed]

    def __init__(self: Any, **kwargs: Any) -> None:
        base.__init__(self, **fixed, **kwargs)

    __init__.__signature__ = sig.replace(parameters=free)  # type: ignore[attr-defined]
    ns = {"__init__": __init__, "__doc__": base.__doc__, "_fixed": dict(fixed),
          "__module__": __name__, "__qualname__": _title(name)}  # fmt: skip
    return type(_title(name), (base,), ns)


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def __getattr__(attr: str) -> Any:
    """``ToDpPost`` etc.: the named configurations' classes, so fitted models pickle."""
    for name in PRACTITIONERS:
        if _title(name) == attr:
            return estimator_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
