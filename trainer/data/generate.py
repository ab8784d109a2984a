"""Regenerate the synthetic data set of paper §4.1 (docs/ALGORITHMS.md §6).

It is Zafar et al.'s ``generate_synthetic_data`` with 3,700 points per class:

* class +1 ~ N([2, 2], [[5, 1], [1, 5]]), class -1 ~ N([-2, -2], [[10, 1], [1, 3]]), drawn with
  scipy's ``multivariate_normal.rvs`` from NumPy's legacy generator seeded 1122334455;
* positives stacked first, then shuffled with Python 3's ``random.shuffle`` seeded the same;
  this reproduces the authors' ``X_synthetic.npy`` and ``y_synthetic.npy`` bit for bit;
* the sensitive attribute is drawn from the rotated posterior: x' = x·R with
  R = [[cos φ, -sin φ], [sin φ, cos φ]], φ = π/4 (row vectors, so x1' = x1 cos φ + x2 sin φ,
  x2' = -x1 sin φ + x2 cos φ), p = pdf₊(x') / (pdf₊(x') + pdf₋(x')), z = 1[u < p].

**Sign:** the paper prints the rotation with the opposite sign; that does not fit the
released z (mean log-likelihood -1.43 against -0.416 with Zafar's sign, and -0.89 with no
rotation). We use Zafar's sign by default (``sign=+1``); ``sign=-1`` gives the paper's.

The released z does not match the seeded uniform stream (73.5% agreement, about what two
independent draws from the same p give), so z is regenerated *statistically*: use the
shipped ``s1_synthetic.npy`` (:func:`trainer.data.synthetic.load_synthetic`) to reproduce
the paper's numbers.
"""

from __future__ import annotations

import random

import numpy as np
from numpy.typing import NDArray
from scipy.stats import multivariate_normal

SEED = 1122334455
MEAN_POS, COV_POS = [2.0, 2.0], [[5.0, 1.0], [1.0, 5.0]]
MEAN_NEG, COV_NEG = [-2.0, -2.0], [[10.0, 1.0], [1.0, 3.0]]


def rotation(phi: float, sign: int = 1) -> NDArray[np.float64]:
    """Zafar's row-vector rotation matrix; ``sign=-1`` is the paper's printed (wrong) one."""
    c, s = np.cos(phi), sign * np.sin(phi)
    return np.array([[c, -s], [s, c]])


def group_probability(
    X: NDArray[np.floating], *, phi: float = np.pi / 4, sign: int = 1
) -> NDArray[np.float64]:
    """P(z = 1 | x): the class-+1 posterior at the rotated point x·R (paper §4.1)."""
    xr = np.asarray(X, dtype=np.float64) @ rotation(phi, sign)
    p_pos = multivariate_normal(mean=MEAN_POS, cov=COV_POS).pdf(xr)
    p_neg = multivariate_normal(mean=MEAN_NEG, cov=COV_NEG).pdf(xr)
    return np.asarray(p_pos / (p_pos + p_neg), dtype=np.float64)


def generate_synthetic(
    n_per_class: int = 3700,
    *,
    seed: int = SEED,
    phi: float = np.pi / 4,
    sign: int = 1,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Draw ``(X, y, z)`` as the authors did (float32, y in ±1, z in {0, 1}).

    With the defaults, ``X`` and ``y`` equal the shipped files exactly; ``z`` is a fresh draw
    from the same model (see the module docstring). Global RNG state is not touched.

    Args:
        n_per_class: points per class (3,700 gives the shipped 7,400 rows).
        seed: seed of both the NumPy and the Python generator.
        phi: rotation angle of the sensitive-attribute model.
        sign: +1 for Zafar's rotation (fits the released z), -1 for the paper's print.
    """
    nprng = np.random.RandomState(seed)
    pyrng = random.Random(seed)
    X_pos = multivariate_normal(mean=MEAN_POS, cov=COV_POS).rvs(n_per_class, random_state=nprng)
    X_neg = multivariate_normal(mean=MEAN_NEG, cov=COV_NEG).rvs(n_per_class, random_state=nprng)
    X = np.vstack((X_pos, X_neg))
    y = np.hstack((np.ones(n_per_class), -np.ones(n_per_class)))
    perm = list(range(2 * n_per_class))
    pyrng.shuffle(perm)
    X, y = X[perm], y[perm]
    # Zafar draws one uniform per row, in row order, after the shuffle.
    u = nprng.uniform(size=len(X))
    z = (u < group_probability(X, phi=phi, sign=sign)).astype(np.float64)
    return X.astype(np.float32), y.astype(np.float32), z.astype(np.float32)


def mean_log_likelihood(
    X: NDArray[np.floating], z: NDArray[np.floating], *, phi: float = np.pi / 4, sign: int = 1
) -> float:
    """Mean log P(z | x) under the rotated-posterior model (used to check the sign)."""
    p = np.clip(group_probability(X, phi=phi, sign=sign), 1e-12, 1 - 1e-12)
    zz = np.asarray(z).reshape(-1) > 0.5
    return float(np.mean(np.log(np.where(zz, p, 1 - p))))
