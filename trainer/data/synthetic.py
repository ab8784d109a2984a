"""The authors' synthetic data set (paper Section 4.1; docs/ALGORITHMS.md §1.1 and §6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainer.data.base import Dataset, Split
from trainer.data.tabular import ColumnSpec, TableEncoder
from trainer.datasets import ensure

#: The notebook's split by index (docs/ALGORITHMS.md §1.1).
TRAIN_ROWS = (0, 1800)
VAL_ROWS = (2000, 2200)
TEST_ROWS = (2700, 3700)
#: The notebook's second validation block (``num_val2``), which no split uses; its features
#: serve as extra label-free rows for DI (trainer.api ``selection.extra_label_free``).
UNUSED_ROWS = (2200, 2700)


#: Raw schema of the synthetic data: unscaled x1, x2; z in {0, 1}; label y in ±1.
SYNTHETIC_ENCODER = TableEncoder(
    features=[ColumnSpec("x1", "numeric"), ColumnSpec("x2", "numeric")],
    sensitive="z",
    groups=["0", "1"],
    privileged=None,
    label="y",
    positive_label="1",
    negative_label="-1",
)


def default_data_dir() -> Path:
    """The data directory (``$FRTRAIN_DATA_DIR`` or the per-user cache) with every registered
    data set present and verified; the packaged copies fill it on first use (trainer.datasets).
    """
    from trainer.datasets import data_root

    return data_root()


def load_synthetic_arrays(
    path: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(X, y, z, y_poi)`` exactly as shipped (float32 files; y and y_poi in ±1)."""
    d = Path(path) if path is not None else ensure("synthetic")
    X = np.load(d / "X_synthetic.npy")
    y = np.load(d / "y_synthetic.npy")
    z = np.load(d / "s1_synthetic.npy")
    y_poi = np.load(d / "y_poi.npy")
    return X, y, z, y_poi


def load_synthetic(path: str | Path | None = None, *, poisoned: bool = False) -> Dataset:
    """The notebook's split: train [0,1800), val [2000,2200), test [2700,3700).

    With ``poisoned=True`` the training labels are the shipped ``y_poi[0:1800]``; the
    validation and test labels are always clean.
    """
    X, y, z, y_poi = load_synthetic_arrays(path)

    def split(lo: int, hi: int, labels: np.ndarray) -> Split:
        return Split(
            X=X[lo:hi].astype(np.float32),
            y=labels[lo:hi].astype(np.int8),
            z=z[lo:hi].astype(np.int64),
            ids=np.arange(lo, hi),
        )

    train_labels = y.copy()
    if poisoned:
        train_labels[: len(y_poi)] = y_poi
    return Dataset(
        name="synthetic",
        train=split(*TRAIN_ROWS, train_labels),
        val=split(*VAL_ROWS, y),
        test=split(*TEST_ROWS, y),
        feature_names=["x1", "x2"],
        sensitive_name="z",
        group_names={0: "z=0", 1: "z=1"},
        info={
            "poisoned": poisoned,
            "source": "authors' synthetic .npy files",
            # Lets an external validation file (columns x1, x2, z, label) replace val.
            "encoder": SYNTHETIC_ENCODER.to_dict(),
        },
    )
