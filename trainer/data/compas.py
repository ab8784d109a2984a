"""ProPublica COMPAS with AI Fairness 360's preprocessing (paper §4; docs/ALGORITHMS.md §2.2).

Why the paper's "7,214" is not our row count: 7,214 is the number of rows of the raw
``compas-scores-two-years.csv``, before any filtering. Every AIF360 loader first applies
ProPublica's filters (``days_b_screening_arrest`` in [-30, 30], ``is_recid != -1``,
``c_charge_degree != 'O'``, ``score_text != 'N/A'``), leaving 6,172 rows:

* ``variant="preproc"`` (default) = ``load_preproc_data_compas``: race restricted to
  African-American and Caucasian, **5,278 rows**; features: one-hot ``age_cat``
  {<25, 25-45, >45}, one-hot priors-count bucket {0, 1-3, >3}, one-hot ``c_charge_degree``
  {F, M} and binary race (Caucasian = 1). All 440 rows of the authors' crowdsourced COMPAS
  file match rows of this pool, so it is the pool they used.
* ``variant="full"`` = ``CompasDataset()``: also drops rows without ``c_charge_desc``,
  **6,167 rows**; features: age, juvenile felony/misdemeanour/other counts, priors count
  (standardised on the training split), one-hot ``age_cat``, ``c_charge_degree`` and
  ``c_charge_desc``, binary race (Caucasian = 1).

Sensitive attribute: SEX by default, encoded as AIF360 does, **Female = 1 (z = 1),
Male = 0** (the opposite of Adult). ``sensitive="race"`` makes race the sensitive attribute
(Caucasian = 1) and sex a binary feature (Female = 1); ``privileged=None`` keeps every value
as its own group (codes ``0..G-1`` in sorted order, e.g. six races in the full variant).

Label: ``y = +1`` iff ``two_year_recid == 1`` (re-offended within two years), as in the
crowd file's ``true_label``; AIF360 calls 0 "favourable" but keeps the same 0/1 column.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from trainer.data.base import Dataset
from trainer.data.tabular import (
    PREPARERS,
    DataError,
    build_dataset,
    encoder_of,
    read_table,
    require_columns,
)
from trainer.datasets import file_path

FILE_NAME = "compas-scores-two-years.csv"
LABEL = "two_year_recid"
Variant = Literal["preproc", "full"]

#: AIF360's privileged values, used for z = 1 (sensitive) and for binary features.
PRIVILEGED = {"sex": "Female", "race": "Caucasian"}
PREPROC_FEATURES = ["age_cat", "priors_count", "c_charge_degree"]
FULL_FEATURES = [
    "age",
    "juv_fel_count",
    "juv_misd_count",
    "juv_other_count",
    "priors_count",
    "age_cat",
    "c_charge_degree",
    "c_charge_desc",
]
#: One-hot columns per variant; in the full variant the counts and age stay numeric.
CATEGORICAL = {
    "preproc": ["age_cat", "priors_count", "c_charge_degree"],
    "full": ["age_cat", "c_charge_degree", "c_charge_desc"],
}
_DEFAULT = "default"


def compas_path(path: str | Path | None = None) -> Path:
    """The raw CSV: ``path`` (a file or its folder) or ``<data dir>/compas/``."""
    if path is None:
        return file_path("compas", FILE_NAME)
    p = Path(path)
    return p / FILE_NAME if p.is_dir() else p


@functools.lru_cache(maxsize=4)
def _read_raw(path: str) -> pd.DataFrame:
    # The file repeats two column names (decile_score, priors_count); pandas suffixes the
    # second copy with ".1" and AIF360 uses the first, as we do.
    if not Path(path).exists():
        raise DataError(f"{path} does not exist")
    df = pd.read_csv(path, index_col="id")
    if len(df) == 0:
        raise DataError(f"{path} has no rows")
    return df


def _propublica_filter(df: pd.DataFrame) -> pd.DataFrame:
    """ProPublica's filters, as AIF360's loaders apply them (7,214 -> 6,172 rows)."""
    d = df["days_b_screening_arrest"]
    keep = (
        (d <= 30)
        & (d >= -30)
        & (df["is_recid"] != -1)
        & (df["c_charge_degree"] != "O")
        & (df["score_text"].fillna("N/A") != "N/A")
    )
    return df.loc[keep]


def priors_bucket(count: Any) -> str:
    """AIF360's ``quantizePrior``: '0', '1 to 3' or 'More than 3'."""
    x = float(count)
    if x <= 0:
        return "0"
    if 1 <= x <= 3:
        return "1 to 3"
    return "More than 3"


def _adjust_age(s: str) -> str:
    return "25 to 45" if s.strip() in ("25 - 45", "25 to 45") else s.strip()


def compas_frame(path: str | Path | None = None, variant: Variant = "preproc") -> pd.DataFrame:
    """The cleaned COMPAS table (raw values, before encoding), one row per defendant."""
    raw = _read_raw(str(compas_path(path).resolve()))
    df = _propublica_filter(raw).copy()
    df["age_cat"] = df["age_cat"].map(_adjust_age)
    df["id"] = df.index.to_numpy()
    if variant == "preproc":
        df = df.loc[df["race"].isin(["African-American", "Caucasian"])].copy()
        df["priors_count"] = df["priors_count"].map(priors_bucket)
        cols = ["id", "sex", "race", *PREPROC_FEATURES, LABEL]
    elif variant == "full":
        cols = ["id", "sex", "race", *FULL_FEATURES, LABEL]
        df = df[cols].dropna()
    else:
        raise ValueError(f"unknown COMPAS variant {variant!r}; use 'preproc' or 'full'")
    return df[cols].reset_index(drop=True)


def load_compas(
    path: str | Path | None = None,
    *,
    variant: Variant = "preproc",
    sensitive: Literal["sex", "race"] = "sex",
    privileged: str | None = _DEFAULT,
    test_size: float = 0.3,
    val_size: float = 0.05,
    seed: int = 0,
) -> Dataset:
    """COMPAS as AIF360 preprocesses it, split with a seeded (y, z)-stratified split.

    Args:
        path: the raw ProPublica CSV or its folder (default ``<data dir>/compas``).
        variant: ``"preproc"`` (5,278 rows, default) or ``"full"`` (6,167 rows); see the
            module docstring for why neither is the paper's 7,214.
        sensitive: ``"sex"`` (default, Female = 1) or ``"race"`` (Caucasian = 1); the other
            attribute stays a binary feature.
        privileged: the value coded ``z = 1``; ``None`` gives every value its own code.
        test_size: fraction of rows in test; ``val_size``: |val| / |train| (paper: 5%).
        seed: split seed.
    """
    if variant not in CATEGORICAL:
        raise ValueError(f"unknown COMPAS variant {variant!r}; use 'preproc' or 'full'")
    if sensitive not in PRIVILEGED:
        raise ValueError(f"sensitive must be 'sex' or 'race', got {sensitive!r}")
    df = compas_frame(path, variant)
    other = "race" if sensitive == "sex" else "sex"
    feats = PREPROC_FEATURES if variant == "preproc" else FULL_FEATURES
    priv = PRIVILEGED[sensitive] if privileged == _DEFAULT else privileged
    return build_dataset(
        df,
        name="compas" if variant == "preproc" else "compas-full",
        features=[other, *feats],
        sensitive=sensitive,
        label=LABEL,
        id_column="id",
        categorical=CATEGORICAL[variant],
        binary={other: PRIVILEGED[other]},
        positive_label=1,
        privileged=priv,
        test_size=test_size,
        val_size=val_size,
        seed=seed,
        info={
            "source": str(compas_path(path)),
            "variant": variant,
            "prepare": "compas",
            "label": "+1 = two_year_recid == 1 (re-offended within two years)",
            "sensitive_encoding": f"{sensitive}: z=1 is {priv}" if priv else "all values",
        },
        what=f"COMPAS ({variant})",
    )


_CROWD_CHARGE = {"felony": "F", "misdemeanor": "M", "f": "F", "m": "M"}


def prepare_compas_table(df: pd.DataFrame) -> pd.DataFrame:
    """Map an external COMPAS-like table into the loader's raw column names and values.

    Accepts the crowd CSV's readable columns (``age_category``, ``num_of_crimes``,
    ``crime_level`` "Felony (Serious)"/"Misdemeanor (Light)", ``gender``, ``race``
    "Caucasian"/"Non-caucasian", ``true_label``) as well as the raw ProPublica ones;
    numeric priors counts are bucketed as AIF360 does. "Non-caucasian" becomes
    "African-American" because the default pool holds only those two races.
    """
    out = df.copy()
    renames = {
        "age_category": "age_cat",
        "num_of_crimes": "priors_count",
        "crime_level": "c_charge_degree",
        "gender": "sex",
        "true_label": "label",
    }
    for src, dst in renames.items():
        if src in out.columns and dst not in out.columns:
            out[dst] = out[src]
    if "age_cat" in out.columns:
        out["age_cat"] = out["age_cat"].astype(str).map(_adjust_age)
        # The crowd file capitalises like AIF360 except for case differences in some exports.
        fix = {"less than 25": "Less than 25", "greater than 45": "Greater than 45"}
        out["age_cat"] = out["age_cat"].map(lambda s: fix.get(s.lower(), s))
    if "priors_count" in out.columns:
        num = pd.to_numeric(out["priors_count"], errors="coerce")
        if num.notna().all():
            out["priors_count"] = num.map(priors_bucket)
    if "c_charge_degree" in out.columns:
        deg = out["c_charge_degree"].astype(str).str.strip()
        head = deg.str.split(r"[\s(]", n=1, regex=True).str[0].str.lower()
        mapped = head.map(_CROWD_CHARGE)
        out["c_charge_degree"] = mapped.where(mapped.notna(), deg)
    if "race" in out.columns:
        r = out["race"].astype(str).str.strip()
        out["race"] = r.where(r.str.lower() != "non-caucasian", "African-American")
    if "sex" in out.columns:
        out["sex"] = out["sex"].astype(str).str.strip().str.capitalize()
    return out


PREPARERS["compas"] = prepare_compas_table

CROWD_COLUMNS = ("age_category", "num_of_crimes", "crime_level", "gender", "race")


@functools.lru_cache(maxsize=1)
def _default_compas() -> Dataset:
    return load_compas()


def encode_crowd_examples(
    df: pd.DataFrame, dataset: Dataset | None = None
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Encode the crowd CSV's readable columns into the COMPAS feature space.

    Maps ``age_category``, ``num_of_crimes`` (priors count, bucketed), ``crime_level``
    (charge degree), ``race`` and ``gender`` into the columns of the default (``preproc``)
    COMPAS variant (paper §4.4, crowdsourcing-data/COMPAS_crowdsourcing_data.csv);
    ``stay_in_prison`` and ``age`` are not features of that variant and are ignored.

    Args:
        df: the crowd table (or any table with those columns).
        dataset: the COMPAS data set whose encoders to use (default: ``load_compas()``).

    Returns:
        ``(X, z)`` with ``X``'s columns in ``dataset.feature_names`` order and ``z`` the
        dataset's sensitive codes (sex: Female = 1 by default).
    """
    ds = dataset if dataset is not None else _default_compas()
    if ds.info.get("prepare") != "compas" or ds.info.get("variant") != "preproc":
        raise DataError("encode_crowd_examples needs a COMPAS data set of the 'preproc' variant")
    table = read_table(df, what="the crowd table")
    require_columns(table, list(CROWD_COLUMNS), "the crowd table")
    prepared = prepare_compas_table(table)
    enc = encoder_of(ds)
    return enc.transform_features(prepared, "the crowd table"), enc.transform_sensitive(
        prepared, "the crowd table"
    )
