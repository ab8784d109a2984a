"""Seeded train / validation / test splits stratified on ``(y, z)``.

The paper leaves the real-data split undocumented (docs/ALGORITHMS.md §2.1, §2.2); we use a
seeded random split that keeps the share of every (label, group) cell the same in each split,
so small groups (female defendants in COMPAS) are represented in validation and test too.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def stratified_split(
    y: ArrayLike,
    z: ArrayLike,
    *,
    test_size: float = 0.3,
    val_size: float = 0.05,
    seed: int = 0,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Row indices ``(train, val, test)``, stratified on the ``(y, z)`` cells.

    Args:
        y: labels (any values; each distinct value is a stratum).
        z: group codes.
        test_size: fraction of all rows that go to test, in [0, 1).
        val_size: size of validation relative to train (``|val| ≈ val_size · |train|``,
            the paper's "5% of D_tr", §4.2), >= 0.
        seed: seed of the permutation; the same seed and inputs give the same split.

    Returns:
        Three sorted, disjoint index arrays covering every row.
    """
    y = np.asarray(y).reshape(-1)
    z = np.asarray(z).reshape(-1)
    if len(y) != len(z):
        raise ValueError(f"y has {len(y)} rows but z has {len(z)}")
    if not 0 <= test_size < 1:
        raise ValueError(f"test_size must be in [0, 1), got {test_size}")
    if val_size < 0:
        raise ValueError(f"val_size must be >= 0, got {val_size}")
    rng = np.random.default_rng(seed)
    # Of the non-test rows, val takes val_size / (1 + val_size) so |val| = val_size * |train|.
    val_frac = (1 - test_size) * val_size / (1 + val_size)
    cells: dict[tuple[object, object], list[int]] = {}
    for i, key in enumerate(zip(y.tolist(), z.tolist(), strict=True)):
        cells.setdefault(key, []).append(i)
    parts: list[list[NDArray[np.int64]]] = [[], [], []]
    for key in sorted(cells, key=repr):
        idx = rng.permutation(np.asarray(cells[key], dtype=np.int64))
        n = len(idx)
        n_test = round(test_size * n)
        n_val = round(val_frac * n)
        n_val = min(n_val, n - n_test)
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test : n_test + n_val])
        parts[0].append(idx[n_test + n_val :])
    train, val, test = (np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts)
    return train, val, test
