"""Reuse of identical fits: one fit per (estimator, settings, the exact rows it reads).

``auto`` (:mod:`trainer.models.auto`) fits every candidate once per cross-validation fold and
then refits the chosen one; ``frtrain reproduce practitioners`` also fits every baseline on
the same split. Many of those fits are the same computation on the same bytes:

* a candidate that reads only the training split (``uses_clean`` is False: ``eg-dp-train``,
  ``cr-lr``, ``to-*-train``; their ``fit`` picks ``fit_on="train"`` rows and never touches
  ``X_val``) fits the same model in every fold and in the final refit;
* auto's final refit of a clean-set method (training split + whole clean set, seeded as the
  table's row) is the table's own row for that method;
* ``to-*-post``'s training-set LR is the same in every fold.

A :class:`FitCache` keys a fit by the estimator's class and ``get_params`` (its seed
included), and a digest (dtype, shape, bytes) of exactly the arrays it reads: the training
arrays when ``uses_train``, the clean arrays when ``uses_clean`` (flags the practitioner
estimators and auto's candidates declare; an estimator without them counts as reading both;
tests/trainer/test_fit_cache.py checks every practitioner's flags against refits on other
rows). A hit returns a deep copy of the stored fitted estimator, so
no caller can change what another one gets. Every estimator cached here is deterministic
given its parameters and rows (fairlearn's reductions and post-processing, scikit-learn's
newton-cholesky LR, FR-Train seeded by ``seed``), so a hit equals a refit.

Nothing is shared unless asked: :func:`active` is a disabled cache until a :func:`scope`
opens one (``auto`` opens one per ``fit``; the reproduction opens one per (data set,
setting, split seed) worker group). :func:`disabled` switches reuse off (the benchmark's
old path).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import hashlib
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

T = TypeVar("T")


def digest(*arrays: ArrayLike | None) -> str:
    """A digest of the arrays' dtypes, shapes and bytes (None hashes as itself)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if a is None:
            h.update(b"None;")
            continue
        arr = np.ascontiguousarray(np.asarray(a))
        h.update(f"{arr.dtype.str}{arr.shape};".encode())
        h.update(arr.view(np.uint8).reshape(-1).data if arr.size else b"")
    return h.hexdigest()


def estimator_key(est: Any) -> tuple[str, str]:
    """The estimator's class and its parameters (seed included), as a hashable pair."""
    cls = type(est)
    params = sorted(est.get_params(deep=False).items())
    return f"{cls.__module__}.{cls.__qualname__}", repr(params)


@dataclass
class FitCache:
    """Fitted estimators by key; ``enabled=False`` fits every time and stores nothing."""

    enabled: bool = True
    hits: int = 0
    misses: int = 0
    #: fit seconds the hits did not spend (the stored fits' own times)
    saved_seconds: float = 0.0
    _store: dict[Hashable, tuple[Any, float]] = field(default_factory=dict)

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``'s result for ``key``: computed once, a deep copy on each reuse."""
        if not self.enabled:
            return make()
        if key in self._store:
            value, seconds = self._store[key]
            self.hits += 1
            self.saved_seconds += seconds
            return copy.deepcopy(value)  # type: ignore[no-any-return]
        t0 = time.perf_counter()
        value = make()
        self.misses += 1
        self._store[key] = (copy.deepcopy(value), time.perf_counter() - t0)
        return value

    def fit(
        self,
        est: T,
        X: ArrayLike,
        y: ArrayLike,
        z: ArrayLike,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
    ) -> T:
        """``est.fit(X, y, z, X_val=..., ...)``, or a copy of the same fit done before."""
        if not self.enabled:
            return est.fit(X, y, z, X_val=X_val, y_val=y_val, z_val=z_val)  # type: ignore[attr-defined,no-any-return]
        train = digest(X, y, z) if getattr(est, "uses_train", True) else None
        clean = digest(X_val, y_val, z_val) if getattr(est, "uses_clean", True) else None
        key = ("fit", *estimator_key(est), train, clean)
        return self.memo(key, lambda: est.fit(X, y, z, X_val=X_val, y_val=y_val, z_val=z_val))  # type: ignore[attr-defined]

    def clear(self) -> None:
        self._store.clear()


_OFF = FitCache(enabled=False)
_ACTIVE: contextvars.ContextVar[FitCache | None] = contextvars.ContextVar(
    "frtrain_fit_cache", default=None
)
_DISABLED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "frtrain_fit_cache_disabled", default=False
)


def active() -> FitCache:
    """The cache a :func:`scope` opened, or a disabled one (fits every time)."""
    cache = _ACTIVE.get()
    return _OFF if cache is None or _DISABLED.get() else cache


@contextlib.contextmanager
def scope() -> Iterator[FitCache]:
    """The open cache, or a new one for the block (disabled inside :func:`disabled`)."""
    if _DISABLED.get():
        yield _OFF
        return
    cache = _ACTIVE.get()
    if cache is not None:
        yield cache
        return
    cache = FitCache()
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)
        cache.clear()


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """No reuse inside the block: every fit is done again (the uncached path)."""
    token = _DISABLED.set(True)
    try:
        yield
    finally:
        _DISABLED.reset(token)


__all__ = ["FitCache", "active", "digest", "disabled", "estimator_key", "scope"]
