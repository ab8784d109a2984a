"""``method: auto``: choose among FR-Train and the practitioner baselines on the clean set.

The recommended method for user data. It sees what every method sees - the untrusted
training rows and the small clean set - and nothing else (never a test split).

Selection rule (fixed and committed before any evaluation run):

1. **Folds.** ``n_repeats`` x ``n_splits``-fold cross-validation inside the clean set,
   stratified by (label, group), the same folds for every candidate. In each fold a
   candidate is fitted on the whole training split plus the clean rows outside the fold,
   exactly as it would be fitted for real (``fit(X, y, z, X_val=clean_in, ...)``).
2. **Scores per fold.** Accuracy on the held-out clean rows (the only labels we trust).
   Disparate impact on the *training split's features* (all rows, its labels never read):
   demographic parity needs no labels, and the training split has ~20x the clean set's
   rows, so the DI estimate is far less noisy than on a held-out clean fold.
3. **Intervals.** Mean over folds with a 95% interval from the corrected resampled t
   statistic (Nadeau and Bengio's variance correction ``1/J + n_test/n_train`` for
   overlapping CV folds); paired differences between candidates use the same correction.
4. **Eligible** candidates have mean training-feature DI at least ``target_di + margin``
   (0.8 + 0.05): a candidate that only just reaches 0.8 there is as likely as not to miss it
   on new rows.
5. **Choice.** The eligible candidate with the highest mean CV accuracy. If none is
   eligible, the one with the highest mean DI (and a warning).
6. **Too small to tell apart.** When another eligible candidate's paired accuracy
   difference to the chosen one is not significant (its 95% interval contains 0), the report
   says which and warns that the clean set cannot separate them; the choice stays rule 5's.
   A clean set under :data:`SMALL_CLEAN_ROWS` rows, or with fewer than
   :data:`SMALL_GROUP_ROWS` rows in some group, also draws a warning.
7. **Refit.** The chosen method is fitted once more on the training split plus the whole
   clean set, as that method prescribes (FR-Train then picks its lambda by the product's
   selection rule, docs/SELECTION.md: accuracy on the clean set, DI interval on the clean
   rows plus the training features; the baselines fit where their ``fit_on`` says).

FR-Train is a candidate when the training split has at most :data:`FRTRAIN_MAX_ROWS`
rows; larger data sets skip it and the report says so (``include_frtrain=True`` forces it).
Its cross-validation uses the first repeat's ``n_splits`` folds only (one lambda grid per
fold is the expensive part); its paired differences are taken on those folds.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator

from trainer.metrics import accuracy, disparate_impact
from trainer.models import fit_cache
from trainer.models.practitioners import make_practitioner

#: The baselines ``auto`` compares by default (names of practitioners.PRACTITIONERS).
DEFAULT_CANDIDATES = (
    "eg-dp-clean",
    "to-dp-clean",
    "to-dp-post",
    "eg-dp-train",
    "cr-lr",
    "relabel-eg",
)
SMALL_CLEAN_ROWS = 500
SMALL_GROUP_ROWS = 50
FRTRAIN_MAX_ROWS = 10_000


def default_repeats(n_clean: int) -> int:
    """Repeats of the CV: more for small clean sets (their folds are noisier), 1 from
    1,000 clean rows on (``ceil(1000 / n)`` capped at 3: the cost is repeats x folds fits of
    every candidate, and ExponentiatedGradient on a 33k-row training split takes ~20 s)."""
    return int(min(3, max(1, math.ceil(1000 / max(n_clean, 1)))))


def frtrain_real_defaults() -> dict[str, Any]:
    """:class:`FRTrainSelected` arguments for the product's real-data FR-Train defaults."""
    from trainer.defaults import REGIMES

    real = REGIMES["real"]
    params = real.estimator_params()
    for key in ("lambda_f", "lambda_r"):  # the grid is l1 x (l2,)
        params.pop(key)
    return {"l1": list(real.lambda_f), "l2": float(real.lambda_r), "params": params}


class FRTrainSelected(BaseEstimator):  # type: ignore[misc]
    """FR-Train's lambda grid with the product's selection rule, as one estimator.

    Trains ``FRTrainGrid`` with the clean set as its validation set and keeps the grid
    point ``trainer.selection.select`` picks by ``rule`` (docs/SELECTION.md; by default
    ``interval``: the most accurate on the clean set among points whose DI interval, on the
    clean rows plus the training rows' features, lies at or above ``min_di``). The training
    labels are never read for that, nor is any row outside ``fit``'s arguments.
    ``selection_`` records the evidence and the reason.
    """

    uses_clean = True
    uses_train = True

    def __init__(
        self,
        *,
        l1: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
        l2: float = 0.3,
        min_di: float = 0.8,
        seed: int = 0,
        params: Mapping[str, Any] | None = None,
        rule: str = "interval",
    ) -> None:
        self.l1 = l1
        self.l2 = l2
        self.min_di = min_di
        self.seed = seed
        self.params = params
        self.rule = rule

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
        from trainer.models.fr_train import FRTrainGrid
        from trainer.selection import select

        if X_val is None or y_val is None or z_val is None:
            raise ValueError("FR-Train needs the clean set: pass X_val, y_val and z_val")
        params = dict(self.params or {})
        grid = FRTrainGrid(
            lambda_f=[v for v in self.l1 if v + self.l2 < 1],
            lambda_r=[self.l2],
            seeds=[self.seed],
            **params,
        )
        grid.fit(X, y, sensitive_features, X_val=X_val, y_val=y_val, z_val=z_val)
        choice = select(
            y_val, grid.predictions(X_val, z_val), z_val,
            train_pred=grid.predictions(X, sensitive_features), z_train=sensitive_features,
            metric="disparate_impact", min_fairness=self.min_di, rule=self.rule, seed=self.seed,
        )  # fmt: skip
        i = choice.index
        self.selection_ = choice.to_dict()
        self.model_ = grid.models_[i]
        self.chosen_ = dict(grid.grid_[i])
        return self

    def decision_function(self, X: ArrayLike, sensitive_features: ArrayLike) -> NDArray[Any]:
        return np.asarray(self.model_.decision_function(X, sensitive_features))

    def predict_proba(self, X: ArrayLike, sensitive_features: ArrayLike) -> NDArray[Any]:
        return np.asarray(self.model_.predict_proba(X, sensitive_features))

    def predict(self, X: ArrayLike, sensitive_features: ArrayLike) -> NDArray[np.int8]:
        return np.asarray(self.model_.predict(X, sensitive_features), dtype=np.int8)


@dataclass
class CandidateScore:
    """One candidate's cross-validated scores (rule 2-4)."""

    name: str
    acc: list[float]
    di: list[float]
    acc_mean: float = float("nan")
    acc_low: float = float("nan")
    acc_high: float = float("nan")
    di_mean: float = float("nan")
    di_min: float = float("nan")
    eligible: bool = False
    fit_seconds: float = 0.0
    #: paired accuracy difference chosen - this one: (mean, low, high)
    diff_to_chosen: tuple[float, float, float] | None = None


def _t95(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, max(df, 1)))


def corrected_interval(values: Sequence[float], test_fraction: float) -> tuple[float, float, float]:
    """Mean and 95% interval of CV fold values with Nadeau and Bengio's correction."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if len(v) == 1:
        return m, float("-inf"), float("inf")
    ratio = test_fraction / max(1.0 - test_fraction, 1e-12)
    half = _t95(len(v) - 1) * math.sqrt((1.0 / len(v) + ratio) * float(v.var(ddof=1)))
    return m, m - half, m + half


def stratified_folds(
    y: NDArray[Any], z: NDArray[Any], n_splits: int, n_repeats: int, seed: int
) -> list[NDArray[np.int64]]:
    """Held-out index sets of ``n_repeats`` x ``n_splits`` folds stratified by (y, z)."""
    strata = (np.asarray(y) > 0).astype(np.int64) * 1000 + np.asarray(z, dtype=np.int64)
    rng = np.random.default_rng(seed)
    out: list[NDArray[np.int64]] = []
    for _ in range(n_repeats):
        assign = np.empty(len(strata), dtype=np.int64)
        offset = int(rng.integers(n_splits))
        for s in np.unique(strata):
            idx = rng.permutation(np.flatnonzero(strata == s))
            assign[idx] = (np.arange(len(idx)) + offset) % n_splits
            offset = (offset + len(idx)) % n_splits
        out += [np.flatnonzero(assign == k) for k in range(n_splits)]
    return [f for f in out if len(f)]


class AutoMethod(BaseEstimator):  # type: ignore[misc]
    """Choose among FR-Train and the baselines by repeated CV inside the clean set.

    Args:
        candidates: practitioner method names, a list or comma-separated
            (:data:`DEFAULT_CANDIDATES` when None).
        include_frtrain: ``"auto"`` (when the training split has at most
            :data:`FRTRAIN_MAX_ROWS` rows), True or False.
        frtrain_params: FR-Train's settings (``FRTrainSelected`` arguments).
        target_di: the DI target; ``margin`` is added for eligibility (rule 4).
        n_splits, n_repeats: the CV inside the clean set (``n_repeats=None``:
            :func:`default_repeats`).
        random_state: the folds' and the randomised baselines' seed.

    Set ``progress`` (an attribute, not a knob) to a callable to receive one line per
    cross-validated candidate.
    """

    #: the chosen method may hold fairlearn objects: the saved model pickles it
    _pickled_artifact = True

    uses_clean = True
    uses_train = True
    progress: Callable[[str], None] | None = None

    def __init__(
        self,
        *,
        candidates: Sequence[str] | str | None = None,
        include_frtrain: bool | str = "auto",
        frtrain_params: Mapping[str, Any] | None = None,
        target_di: float = 0.8,
        margin: float = 0.05,
        n_splits: int = 5,
        n_repeats: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.candidates = candidates
        self.include_frtrain = include_frtrain
        self.frtrain_params = frtrain_params
        self.target_di = target_di
        self.margin = margin
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state

    # -- candidates -----------------------------------------------------------------------
    def _factories(self, n_train: int) -> tuple[dict[str, Callable[[], Any]], list[str]]:
        notes: list[str] = []
        names = list(DEFAULT_CANDIDATES)
        if isinstance(self.candidates, str):  # "a,b,c" (a training job's JSON)
            names = [c.strip() for c in self.candidates.split(",") if c.strip()]
        elif self.candidates is not None:
            names = list(self.candidates)
        out: dict[str, Callable[[], Any]] = {}
        for name in names:
            make_practitioner(name)  # fail early on unknown names
            out[name] = functools.partial(_make_seeded, name, self.random_state)
        use_fr = self.include_frtrain
        if use_fr == "auto":
            use_fr = n_train <= FRTRAIN_MAX_ROWS
            if not use_fr:
                notes.append(
                    f"FR-Train not compared: the training split has {n_train:,} rows "
                    f"(> {FRTRAIN_MAX_ROWS:,}), so its cross-validation would train "
                    "one lambda grid per fold; pass include_frtrain=True to compare it anyway"
                )
        if use_fr:
            fr_kw = dict(self.frtrain_params or frtrain_real_defaults())
            fr_kw.setdefault("seed", self.random_state)
            out["fr-train"] = lambda: FRTrainSelected(**fr_kw)
        return out, notes

    # -- fit ---------------------------------------------------------------------------------
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
        """Cross-validate every candidate inside the clean set, choose, refit (module doc)."""
        if X_val is None or y_val is None or z_val is None:
            raise ValueError("method 'auto' needs the clean set: pass X_val, y_val and z_val")
        Xt = np.asarray(X, dtype=np.float32)
        yt = np.asarray(y).reshape(-1)
        zt = np.asarray(sensitive_features).reshape(-1)
        Xc = np.asarray(X_val, dtype=np.float32)
        yc = np.asarray(y_val).reshape(-1)
        zc = np.asarray(z_val).reshape(-1)
        n_clean = len(yc)
        if n_clean < 2 * self.n_splits:
            raise ValueError(
                f"method 'auto' needs at least {2 * self.n_splits} clean rows for "
                f"{self.n_splits}-fold cross-validation, got {n_clean}"
            )
        repeats = self.n_repeats or default_repeats(n_clean)
        folds = stratified_folds(yc, zc, self.n_splits, repeats, self.random_state)
        factories, notes = self._factories(len(yt))
        with fit_cache.scope() as fits:  # identical fits done once (trainer/models/fit_cache.py)
            scores = [self._cross_validate(name, f, fits, folds, Xt, yt, zt, Xc, yc, zc)
                      for name, f in factories.items()]  # fmt: skip
            best, reason, warnings = self._choose(scores, n_clean, zc)
            self.model_ = fits.fit(factories[best.name](), Xt, yt, zt, X_val=Xc, y_val=yc,
                                   z_val=zc)  # fmt: skip
        self.scores_ = scores
        self.chosen_ = best.name
        self.reason_ = reason
        self.warnings_ = warnings
        self.notes_ = notes
        self.n_folds_ = len(folds)
        self.n_repeats_ = repeats
        return self

    def _cross_validate(
        self,
        name: str,
        factory: Callable[[], Any],
        fits: fit_cache.FitCache,
        folds: Sequence[NDArray[np.int64]],
        Xt: NDArray[Any],
        yt: NDArray[Any],
        zt: NDArray[Any],
        Xc: NDArray[Any],
        yc: NDArray[Any],
        zc: NDArray[Any],
    ) -> CandidateScore:
        """Rules 1-2 for one candidate: its held-out clean accuracy and training DI per fold."""
        t0 = time.perf_counter()
        sc = CandidateScore(name=name, acc=[], di=[])
        cached: Any = None
        for held in folds[: self.n_splits] if name == "fr-train" else folds:
            keep = np.setdiff1d(np.arange(len(yc)), held)
            proto = factory()
            if not getattr(proto, "uses_clean", True) and cached is not None:
                model = cached  # ignores the clean rows: every fold's fit is the same
            else:
                model = fits.fit(proto, Xt, yt, zt, X_val=Xc[keep], y_val=yc[keep],
                                 z_val=zc[keep])  # fmt: skip
                cached = model
            sc.acc.append(accuracy(yc[held], model.predict(Xc[held], zc[held])))
            sc.di.append(disparate_impact(model.predict(Xt, zt), zt))
        sc.fit_seconds = time.perf_counter() - t0
        if self.progress is not None:
            self.progress(f"auto: {name} cross-validated in {sc.fit_seconds:.1f} s")
        return sc

    def _choose(
        self, scores: list[CandidateScore], n_clean: int, zc: NDArray[Any]
    ) -> tuple[CandidateScore, str, list[str]]:
        """Rules 3-6: intervals, eligibility, the choice, its reason and warnings."""
        test_fraction = 1.0 / self.n_splits
        floor = self.target_di + self.margin
        for sc in scores:
            sc.acc_mean, sc.acc_low, sc.acc_high = corrected_interval(sc.acc, test_fraction)
            di = np.asarray(sc.di, dtype=np.float64)
            di = np.where(np.isnan(di), 0.0, di)
            sc.di_mean, sc.di_min = float(di.mean()), float(di.min())
            sc.eligible = sc.di_mean >= floor
        warnings: list[str] = []
        eligible = [s for s in scores if s.eligible]
        if eligible:
            best = max(eligible, key=lambda s: (s.acc_mean, s.di_mean))
            reason = (
                f"{best.name}: the highest cross-validated clean accuracy "
                f"({best.acc_mean:.3f}, 95% interval {best.acc_low:.3f}-{best.acc_high:.3f}) "
                f"among the {len(eligible)} candidate(s) whose DI on the training split's "
                f"features reaches {floor:.2f} (target {self.target_di:.2f} + margin "
                f"{self.margin:.2f}); its DI there {best.di_mean:.3f}"
            )
        else:
            best = max(scores, key=lambda s: (s.di_mean, s.acc_mean))
            reason = (
                f"{best.name}: no candidate reaches DI {floor:.2f} on the training split's "
                f"features; this one is the fairest there ({best.di_mean:.3f})"
            )
            warnings.append(f"no candidate reached the DI target with margin ({floor:.2f})")
        ties = []
        for sc in eligible:
            if sc is best:
                continue
            n = min(len(best.acc), len(sc.acc))  # FR-Train: the first repeat's folds
            d = np.asarray(best.acc[:n]) - np.asarray(sc.acc[:n])
            sc.diff_to_chosen = corrected_interval(d.tolist(), test_fraction)
            if sc.diff_to_chosen[1] <= 0.0:
                ties.append(sc.name)
        if ties:
            warnings.append(
                f"the clean set ({n_clean} rows) is too small to tell {best.name} apart from "
                f"{', '.join(ties)}: their paired accuracy differences are within noise "
                "(95% interval contains 0)"
            )
        counts = {int(g): int((zc == g).sum()) for g in np.unique(zc)}
        if n_clean < SMALL_CLEAN_ROWS or min(counts.values()) < SMALL_GROUP_ROWS:
            warnings.append(
                f"small clean set: {n_clean} rows, per group {counts}; held-out accuracy "
                "differences of a few points are noise at this size"
            )
        return best, reason, warnings

    def report(self) -> dict[str, Any]:
        """What was compared, what was chosen and why (JSON-safe)."""
        if not hasattr(self, "chosen_"):
            raise RuntimeError("this AutoMethod is not fitted yet; call fit() first")
        return {
            "chosen": self.chosen_,
            "reason": self.reason_,
            "warnings": list(self.warnings_),
            "notes": list(self.notes_),
            "folds": self.n_folds_,
            "repeats": self.n_repeats_,
            "target_di": self.target_di,
            "margin": self.margin,
            "candidates": [_score_dict(s) for s in self.scores_],
        }

    def decision_function(self, X: ArrayLike, sensitive_features: ArrayLike) -> NDArray[Any]:
        self._check_fitted()
        return np.asarray(self.model_.decision_function(X, sensitive_features))

    def predict_proba(self, X: ArrayLike, sensitive_features: ArrayLike) -> NDArray[Any]:
        self._check_fitted()
        return np.asarray(self.model_.predict_proba(X, sensitive_features))

    def predict(self, X: ArrayLike, sensitive_features: ArrayLike) -> NDArray[np.int8]:
        self._check_fitted()
        return np.asarray(self.model_.predict(X, sensitive_features), dtype=np.int8)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("this AutoMethod is not fitted yet; call fit() first")


def _make_seeded(name: str, seed: int) -> Any:
    est = make_practitioner(name)
    if "random_state" in est.get_params():
        est.set_params(random_state=seed)
    return est


def _score_dict(s: CandidateScore) -> dict[str, Any]:
    d = asdict(s)
    d["diff_to_chosen"] = None if s.diff_to_chosen is None else list(s.diff_to_chosen)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


__all__ = ["DEFAULT_CANDIDATES", "AutoMethod", "CandidateScore", "FRTrainSelected"]
