"""COMPAS with AIF360's preprocessing (docs/ALGORITHMS.md §2.2) and the crowd file's encoding."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainer.data import DataError, encode_crowd_examples, load_compas, replace_validation
from trainer.data.compas import compas_frame, compas_path
from trainer.data.synthetic import default_data_dir

CROWD = default_data_dir() / "crowd" / "COMPAS_crowdsourcing_data.csv"
FEATURES = [
    "race",
    "age_cat=25 to 45",
    "age_cat=Greater than 45",
    "age_cat=Less than 25",
    "priors_count=0",
    "priors_count=1 to 3",
    "priors_count=More than 3",
    "c_charge_degree=F",
    "c_charge_degree=M",
]


def raw_rows_by_csv_module() -> list[dict[str, str]]:
    """An independent re-implementation of ProPublica's filters with the csv module."""
    with open(compas_path(), newline="") as f:
        rows = list(csv.DictReader(f))
    keep = []
    for r in rows:
        d = r["days_b_screening_arrest"]
        if d == "" or not -30 <= float(d) <= 30:
            continue
        if r["is_recid"] == "-1" or r["c_charge_degree"] == "O" or r["score_text"] == "N/A":
            continue
        keep.append(r)
    return keep


def all_rows(ds):  # type: ignore[no-untyped-def]
    return (
        np.concatenate([ds.train.X, ds.val.X, ds.test.X]),
        np.concatenate([ds.train.y, ds.val.y, ds.test.y]),
        np.concatenate([ds.train.z, ds.val.z, ds.test.z]),
        np.concatenate([ds.train.ids, ds.val.ids, ds.test.ids]),
    )


def test_default_variant_matches_aif360_preproc() -> None:
    ds = load_compas()
    X, y, z, ids = all_rows(ds)
    raw = [r for r in raw_rows_by_csv_module() if r["race"] in ("African-American", "Caucasian")]
    assert len(raw) == 5278 == len(y)
    assert ds.feature_names == FEATURES
    assert ds.sensitive_name == "sex" and ds.group_names == {0: "Male", 1: "Female"}
    by_id = {int(r["id"]): r for r in raw}
    assert set(ids.tolist()) == set(by_id)
    for i in range(0, len(ids), 97):
        r = by_id[int(ids[i])]
        assert y[i] == (1 if r["two_year_recid"] == "1" else -1)
        assert z[i] == (1 if r["sex"] == "Female" else 0)
        assert X[i, 0] == (r["race"] == "Caucasian")
        p = int(r["priors_count"])
        bucket = "0" if p == 0 else "1 to 3" if p <= 3 else "More than 3"
        assert X[i, FEATURES.index(f"priors_count={bucket}")] == 1
        age = r["age_cat"].replace("25 - 45", "25 to 45")
        assert X[i, FEATURES.index(f"age_cat={age}")] == 1
    assert np.all(X[:, 1:4].sum(1) == 1) and np.all(X[:, 4:7].sum(1) == 1)
    assert abs((y == 1).mean() - 0.470) < 0.001
    assert abs(z.mean() - 0.195) < 0.001


def test_full_variant_has_6167_rows_and_scaled_counts() -> None:
    ds = load_compas(variant="full")
    _, y, _, _ = all_rows(ds)
    assert len(y) == 6167
    assert sum(1 for n in ds.feature_names if n.startswith("c_charge_desc=")) == 389
    age = ds.feature_names.index("age")
    np.testing.assert_allclose(ds.train.X[:, age].mean(), 0, atol=1e-5)
    np.testing.assert_allclose(ds.train.X[:, age].std(), 1, atol=1e-4)


def test_race_as_sensitive_attribute_binary_and_multi_valued() -> None:
    ds = load_compas(sensitive="race")
    assert ds.group_names == {0: "African-American", 1: "Caucasian"}
    assert ds.feature_names[0] == "sex"  # sex becomes a binary feature, Female = 1
    multi = load_compas(variant="full", sensitive="race", privileged=None)
    _, _, z, _ = all_rows(multi)
    assert sorted(np.unique(z).tolist()) == list(range(6))
    assert multi.group_names[2] == "Caucasian"
    # stratified: every race group appears in test
    assert len(np.unique(multi.test.z)) == 6


def test_split_is_seeded_and_stratified() -> None:
    a, b, c = load_compas(seed=1), load_compas(seed=1), load_compas(seed=2)
    assert np.array_equal(a.train.ids, b.train.ids) and not np.array_equal(a.train.ids, c.train.ids)
    assert abs(len(a.test) / 5278 - 0.3) < 0.002
    for part in (a.train, a.test):
        assert abs(part.z.mean() - 0.195) < 0.005


def test_encode_crowd_examples_maps_all_440_rows() -> None:
    crowd = pd.read_csv(CROWD)
    ds = load_compas()
    X, z = encode_crowd_examples(crowd, ds)
    assert X.shape == (440, len(ds.feature_names))
    assert np.all(X[:, 1:4].sum(1) == 1) and np.all(X[:, 4:7].sum(1) == 1)
    assert np.all(X[:, 7:9].sum(1) == 1)
    col = {n: X[:, i] for i, n in enumerate(ds.feature_names)}
    assert col["race"].sum() == (crowd["race"] == "Caucasian").sum()
    assert col["age_cat=25 to 45"].sum() == (crowd["age_category"] == "25 to 45").sum()
    assert col["c_charge_degree=F"].sum() == crowd["crime_level"].str.startswith("Felony").sum()
    assert col["priors_count=More than 3"].sum() == (crowd["num_of_crimes"] > 3).sum()
    assert z.sum() == (crowd["gender"] == "Female").sum()
    # row 0: Less than 25, felony, 8 priors, male, non-caucasian
    expected = [0, 0, 0, 1, 0, 0, 1, 1, 0]
    np.testing.assert_array_equal(X[0], expected)
    assert z[0] == 0


def test_crowd_file_replaces_validation(tmp_path: Path) -> None:
    ds = load_compas()
    crowd = pd.read_csv(CROWD)
    new = replace_validation(ds, CROWD)
    assert len(new.val) == 440
    np.testing.assert_array_equal(new.val.ids, crowd["example_idx"])
    np.testing.assert_array_equal(new.val.y, crowd["true_label"])
    X, z = encode_crowd_examples(crowd, ds)
    np.testing.assert_array_equal(new.val.X, X)
    np.testing.assert_array_equal(new.val.z, z)


def test_export_in_raw_schema_aligns_with_the_dataset(tmp_path: Path) -> None:
    ds = load_compas()
    frame = compas_frame().set_index("id")
    rows = frame.loc[ds.test.ids[:50]].reset_index()
    export = pd.DataFrame(
        {
            "example_id": rows["id"],
            "age_cat": rows["age_cat"],
            "priors_count": rows["priors_count"],
            "c_charge_degree": rows["c_charge_degree"],
            "race": rows["race"],
            "sex": rows["sex"],
            "label": np.where(rows["two_year_recid"] == 1, 1, -1),
            "answers_used": 11,
            "mean_score": 2.5,
            "confidence": 0.7,
            "is_gold": True,
        }
    )
    path = tmp_path / "val.parquet"
    export.to_parquet(path)
    new = replace_validation(ds, path)
    np.testing.assert_array_equal(new.val.X, ds.test.X[:50])
    np.testing.assert_array_equal(new.val.y, ds.test.y[:50])
    np.testing.assert_array_equal(new.val.z, ds.test.z[:50])


def test_user_supplied_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.csv does not exist"):
        load_compas(tmp_path / "missing.csv")
