"""UCI AdultCensus with AI Fairness 360's ``AdultDataset()`` defaults (docs/ALGORITHMS.md §2.1).

* Raw files ``adult.data`` (32,561 rows) and ``adult.test`` (16,281 rows, first line skipped),
  concatenated test first as AIF360 does, spaces stripped, ``?`` read as missing.
* ``fnlwgt`` dropped; every row with a missing value dropped: 48,842 -> **45,222** rows.
* Features: numeric age, education-num, capital-gain, capital-loss, hours-per-week
  (standardised with training-split statistics; AIF360 leaves them raw), one-hot workclass,
  education, marital-status, occupation, relationship, native-country, and the other
  protected attribute as a binary feature (race: White = 1; sex: Male = 1).
* Label: ``y = +1`` iff income is ``>50K`` (``>50K.`` in adult.test).
* Sensitive attribute: SEX by default with AIF360's encoding **Male = 1 (z = 1), Female = 0**
  (the opposite of COMPAS). ``sensitive="race"`` uses race (White = 1); ``privileged=None``
  keeps every value as its own group (codes ``0..G-1`` in sorted order, e.g. five races).

This is **not** ``load_preproc_data_adult``, which keeps only four coarse columns and
returns 48,842 rows.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import pandas as pd

from trainer.data.base import Dataset
from trainer.data.tabular import PREPARERS, DataError, build_dataset
from trainer.datasets import ensure

COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income-per-year",
]
LABEL = "income-per-year"
NUMERIC = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
CATEGORICAL = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "native-country",
]
PRIVILEGED = {"sex": "Male", "race": "White"}
_DEFAULT = "default"


def adult_dir(path: str | Path | None = None) -> Path:
    """The folder holding adult.data and adult.test (default ``<data dir>/adult``)."""
    return Path(path) if path is not None else ensure("adult")


@functools.lru_cache(maxsize=2)
def _read_raw(folder: str) -> pd.DataFrame:
    d = Path(folder)
    for f in ("adult.data", "adult.test"):
        if not (d / f).exists():
            raise DataError(f"{d / f} does not exist")
    kw = {"header": None, "names": COLUMNS, "skipinitialspace": True, "na_values": ["?"]}
    train = pd.read_csv(d / "adult.data", **kw)  # type: ignore[call-overload]
    test = pd.read_csv(d / "adult.test", skiprows=1, **kw)  # type: ignore[call-overload]
    # Test first, as AIF360 concatenates them; ids are positions in this table.
    df = pd.concat([test, train], ignore_index=True)
    df["id"] = df.index.to_numpy()
    return df


def adult_frame(path: str | Path | None = None) -> pd.DataFrame:
    """The cleaned Adult table (45,222 rows, raw values, label without the trailing dot)."""
    df = _read_raw(str(adult_dir(path).resolve()))
    df = df.drop(columns=["fnlwgt"]).dropna().reset_index(drop=True)
    df[LABEL] = prepare_adult_labels(df[LABEL])
    return df


def prepare_adult_labels(s: pd.Series) -> pd.Series:
    """'>50K.' -> '>50K' (adult.test spells labels with a dot); numbers pass unchanged."""
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s
    return s.astype(str).str.strip().str.rstrip(".")


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    if LABEL in out.columns:
        out[LABEL] = prepare_adult_labels(out[LABEL])
    return out


PREPARERS["adult"] = _prepare


def load_adult(
    path: str | Path | None = None,
    *,
    sensitive: Literal["sex", "race"] = "sex",
    privileged: str | None = _DEFAULT,
    test_size: float = 0.3,
    val_size: float = 0.05,
    seed: int = 0,
) -> Dataset:
    """AdultCensus as AIF360's ``AdultDataset()`` builds it, with a seeded stratified split.

    Args:
        path: folder with adult.data and adult.test (default ``<data dir>/adult``).
        sensitive: ``"sex"`` (default, Male = 1) or ``"race"`` (White = 1).
        privileged: the value coded ``z = 1``; ``None`` gives every value its own code.
        test_size: fraction of rows in test (the paper's Table 4 implies about 23.5%);
            ``val_size``: |val| / |train| (paper §4.2: 5%).
        seed: split seed.
    """
    if sensitive not in PRIVILEGED:
        raise ValueError(f"sensitive must be 'sex' or 'race', got {sensitive!r}")
    df = adult_frame(path)
    other = "race" if sensitive == "sex" else "sex"
    priv = PRIVILEGED[sensitive] if privileged == _DEFAULT else privileged
    return build_dataset(
        df,
        name="adult",
        features=[*NUMERIC, other, *CATEGORICAL],
        sensitive=sensitive,
        label=LABEL,
        id_column="id",
        categorical=CATEGORICAL,
        binary={other: PRIVILEGED[other]},
        positive_label=">50K",
        privileged=priv,
        test_size=test_size,
        val_size=val_size,
        seed=seed,
        info={
            "source": str(adult_dir(path)),
            "prepare": "adult",
            "label": "+1 = income >50K",
            "sensitive_encoding": f"{sensitive}: z=1 is {priv}" if priv else "all values",
        },
        what="Adult",
    )
