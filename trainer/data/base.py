"""Containers shared by every loader, attack and estimator.

Conventions (used everywhere in :mod:`trainer`):

* ``X`` is a float32 matrix of the *non-sensitive* features. Estimators append the
  sensitive attribute themselves when ``include_sensitive=True`` (the paper's models
  see ``[x, z]``, docs/ALGORITHMS.md §1.1 and §4).
* ``y`` holds labels in ``{-1, +1}`` (int8); +1 is the positive outcome.
* ``z`` holds sensitive-group codes ``0 .. G-1`` (int64). For binary attributes ``z = 1``
  is the group AIF360 calls privileged (female for COMPAS, male for Adult), which is the
  group the paper's poisoning targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Split:
    """One split of a data set: features, labels, sensitive attribute and row ids."""

    X: NDArray[np.float32]
    y: NDArray[np.int8]
    z: NDArray[np.int64]
    ids: NDArray[Any] | None = None

    def __post_init__(self) -> None:
        n = len(self.y)
        if self.X.ndim != 2 or self.X.shape[0] != n or len(self.z) != n:
            raise ValueError(
                f"inconsistent split shapes: X{self.X.shape}, y({n},), z({len(self.z)},)"
            )
        if self.ids is not None and len(self.ids) != n:
            raise ValueError(f"ids has {len(self.ids)} rows but y has {n}")

    def __len__(self) -> int:
        return len(self.y)

    def with_labels(self, y: NDArray[np.int8]) -> Split:
        """A copy with other labels (for poisoning or crowdsourced labels)."""
        return replace(self, y=np.asarray(y, dtype=np.int8))

    def subset(self, index: NDArray[Any]) -> Split:
        return Split(
            X=self.X[index],
            y=self.y[index],
            z=self.z[index],
            ids=None if self.ids is None else self.ids[index],
        )


@dataclass
class Dataset:
    """A data set with train / validation / test splits and its metadata."""

    name: str
    train: Split
    val: Split
    test: Split
    feature_names: list[str]
    sensitive_name: str
    #: Group code -> human-readable name, e.g. {0: "Male", 1: "Female"}.
    group_names: dict[int, str] = field(default_factory=dict)
    #: Free-form provenance (source files, preprocessing variant, seed, poisoning info).
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.train.X.shape[1])
