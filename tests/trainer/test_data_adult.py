"""AdultCensus with AIF360's AdultDataset() defaults (docs/ALGORITHMS.md §2.1)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainer.data import load_adult, replace_validation
from trainer.data.adult import NUMERIC, adult_dir, adult_frame


def count_raw_by_csv_module() -> tuple[int, int, int]:
    """Rows without '?', positives and males, counted independently of pandas."""
    n = pos = male = 0
    for name, skip in (("adult.data", 0), ("adult.test", 1)):
        with open(adult_dir() / name, newline="") as f:
            reader = csv.reader(f, skipinitialspace=True)
            for i, row in enumerate(reader):
                if i < skip or len(row) < 15 or "?" in row:
                    continue
                n += 1
                pos += row[14].rstrip(".") == ">50K"
                male += row[9] == "Male"
    return n, pos, male


def test_rows_labels_and_sex_encoding_match_raw_counts() -> None:
    ds = load_adult()
    y = np.concatenate([ds.train.y, ds.val.y, ds.test.y])
    z = np.concatenate([ds.train.z, ds.val.z, ds.test.z])
    n, pos, male = count_raw_by_csv_module()
    assert len(y) == n == 45222
    assert (y == 1).sum() == pos
    assert z.sum() == male  # Male = 1
    assert ds.group_names == {0: "Female", 1: "Male"}
    ids = np.concatenate([ds.train.ids, ds.val.ids, ds.test.ids])
    assert (ids < 16281).sum() == 15060  # AIF360 puts adult.test first
    assert ds.n_features == 97  # AIF360's 98 columns minus the sensitive one
    assert "race" in ds.feature_names and "native-country=Holand-Netherlands" in ds.feature_names


def test_numeric_columns_standardised_on_train_only() -> None:
    ds = load_adult(seed=4)
    frame = adult_frame().set_index("id")
    for name in NUMERIC:
        j = ds.feature_names.index(name)
        raw_train = frame.loc[ds.train.ids, name].to_numpy(dtype=float)
        raw_test = frame.loc[ds.test.ids, name].to_numpy(dtype=float)
        expected = (raw_test - raw_train.mean()) / raw_train.std()
        np.testing.assert_allclose(ds.test.X[:, j], expected, rtol=1e-4, atol=1e-5)


def test_race_multi_valued() -> None:
    ds = load_adult(sensitive="race", privileged=None)
    assert ds.group_names == {
        0: "Amer-Indian-Eskimo",
        1: "Asian-Pac-Islander",
        2: "Black",
        3: "Other",
        4: "White",
    }
    assert "sex" in ds.feature_names
    assert sorted(np.unique(ds.test.z).tolist()) == [0, 1, 2, 3, 4]


def test_export_with_plus_minus_one_labels_aligns(tmp_path: Path) -> None:
    ds = load_adult()
    frame = adult_frame().set_index("id")
    rows = frame.loc[ds.test.ids[:40]].reset_index()
    export = rows.drop(columns=["income-per-year"]).rename(columns={"id": "example_id"})
    export["label"] = np.where(rows["income-per-year"] == ">50K", 1, -1)
    export["confidence"] = 1.0
    path = tmp_path / "val.csv"
    export.to_csv(path, index=False)
    new = replace_validation(ds, path)
    np.testing.assert_allclose(new.val.X, ds.test.X[:40], rtol=1e-6)
    np.testing.assert_array_equal(new.val.y, ds.test.y[:40])
    # the raw label spelling of adult.test ('>50K.') is accepted too
    raw = rows.rename(columns={"id": "example_id"})
    raw["income-per-year"] = raw["income-per-year"] + "."
    np.testing.assert_array_equal(replace_validation(ds, raw).val.y, ds.test.y[:40])


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"adult\.data does not exist"):
        load_adult(tmp_path)


def test_frame_has_no_missing_values() -> None:
    df = adult_frame()
    assert not df.isna().any().any()
    assert set(df["income-per-year"]) == {">50K", "<=50K"}
    assert isinstance(df, pd.DataFrame)
