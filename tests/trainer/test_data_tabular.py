"""Generic loader, encoders, splits and external validation files (trainer.data.tabular)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainer.data import (
    EmptyDataError,
    EncodingError,
    LabelError,
    MissingColumnError,
    load_synthetic,
    load_table,
    poison,
    read_validation,
    replace_validation,
    stratified_split,
)
from trainer.data.tabular import DataError, TableEncoder, encoder_of
from trainer.metrics import evaluate


def toy_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(10, 3, n)
    group = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    y = np.where(size + (colour == "red") * 2 + rng.normal(0, 2, n) > 11, "yes", "no")
    return pd.DataFrame(
        {"uid": np.arange(1000, 1000 + n), "colour": colour, "size": size, "g": group, "out": y}
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_load_table_roles_onehot_and_train_only_scaling(tmp_path: Path, fmt: str) -> None:
    df = toy_frame()
    path = tmp_path / f"toy.{fmt}"
    df.to_csv(path, index=False) if fmt == "csv" else df.to_parquet(path)
    ds = load_table(path, label="out", sensitive="g", id_column="uid", positive_label="yes", seed=3)
    assert ds.feature_names == ["colour=blue", "colour=green", "colour=red", "size"]
    # multi-valued sensitive attribute: codes 0..G-1 in sorted order
    assert ds.group_names == {0: "a", 1: "b", 2: "c"}
    ids = np.concatenate([ds.train.ids, ds.val.ids, ds.test.ids])
    assert sorted(ids.tolist()) == df["uid"].tolist()
    by_id = df.set_index("uid")
    train_raw = by_id.loc[ds.train.ids]
    mean, sd = train_raw["size"].mean(), train_raw["size"].std(ddof=0)
    test_raw = by_id.loc[ds.test.ids]
    np.testing.assert_allclose(ds.test.X[:, 3], (test_raw["size"] - mean) / sd, rtol=1e-5)
    np.testing.assert_allclose(ds.train.X[:, 3].mean(), 0, atol=1e-5)
    assert abs(ds.test.X[:, 3].mean()) > 1e-4  # not re-centred on test
    np.testing.assert_array_equal(ds.test.X[:, 2], (test_raw["colour"] == "red").to_numpy())
    np.testing.assert_array_equal(ds.test.y, np.where(test_raw["out"] == "yes", 1, -1))
    np.testing.assert_array_equal(ds.test.z, test_raw["g"].map({"a": 0, "b": 1, "c": 2}))
    # the same file and seed give the same split
    again = load_table(
        path, label="out", sensitive="g", id_column="uid", positive_label="yes", seed=3
    )
    np.testing.assert_array_equal(again.train.ids, ds.train.ids)


def test_multi_valued_groups_end_to_end() -> None:
    ds = load_table(toy_frame(), label="out", sensitive="g", id_column="uid", positive_label="yes")
    res = poison(ds, budget=0.1, target_group=2)
    flipped_z = res.dataset.train.z[res.flipped]
    assert len(res.flipped) == round(0.1 * len(ds.train)) and np.all(flipped_z == 2)
    report = evaluate(ds.test.y, ds.test.y, ds.test.z)
    assert set(report["positive_rates"]) == {"0", "1", "2"}
    binary = load_table(
        toy_frame(), label="out", sensitive="g", positive_label="yes", privileged="c"
    )
    assert binary.group_names == {0: "not c", 1: "c"}
    assert set(np.unique(binary.train.z)) == {0, 1}


@pytest.mark.parametrize(
    ("labels", "positive", "expected"),
    [
        ([1, -1, 1, -1], None, [1, -1, 1, -1]),
        ([1, 0, 1, 0], None, [1, -1, 1, -1]),
        (["good", "bad", "good", "bad"], "good", [1, -1, 1, -1]),
        ([1.0, 0.0, 1.0, 0.0], None, [1, -1, 1, -1]),
    ],
)
def test_label_forms(labels: list[object], positive: object, expected: list[int]) -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 5, "s": [0, 1] * 10, "y": labels * 5})
    ds = load_table(
        df, label="y", sensitive="s", positive_label=positive, test_size=0.5, val_size=0
    )
    enc = encoder_of(ds)
    np.testing.assert_array_equal(enc.transform_labels(df), expected * 5)


def test_missing_column_names_it(tmp_path: Path) -> None:
    with pytest.raises(MissingColumnError, match="'income'"):
        load_table(toy_frame(), label="income", sensitive="g")
    with pytest.raises(MissingColumnError, match="'weight'"):
        load_table(
            toy_frame(),
            label="out",
            sensitive="g",
            features=["size", "weight"],
            positive_label="yes",
        )


def test_non_binary_and_ambiguous_labels() -> None:
    df = toy_frame()
    df.loc[5, "out"] = "maybe"
    with pytest.raises(LabelError, match=r"'out' has 3 distinct values"):
        load_table(df, label="out", sensitive="g", positive_label="yes")
    with pytest.raises(LabelError, match="positive_label"):
        load_table(toy_frame(), label="out", sensitive="g")
    with pytest.raises(LabelError, match="not among"):
        load_table(toy_frame(), label="out", sensitive="g", positive_label="ja")
    assert issubclass(LabelError, ValueError)


def test_empty_files(tmp_path: Path) -> None:
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    header = tmp_path / "header.csv"
    header.write_text("a,b,label\n")
    for p in (blank, header):
        with pytest.raises(EmptyDataError, match="has no rows"):
            load_table(p, label="label", sensitive="a")
    xlsx = tmp_path / "x.xlsx"
    xlsx.write_text("")
    with pytest.raises(DataError, match=r"\.csv or \.parquet"):
        load_table(xlsx, label="y", sensitive="s")
    with pytest.raises(DataError, match="does not exist"):
        load_table(tmp_path / "nope.csv", label="y", sensitive="s")


def test_missing_and_non_numeric_values_name_row_and_column() -> None:
    df = toy_frame(50)
    df.loc[7, "colour"] = None
    with pytest.raises(
        EncodingError, match=r"column 'colour' has missing values in row\(s\) \[7\]"
    ):
        load_table(df, label="out", sensitive="g", positive_label="yes")
    ds = load_table(toy_frame(50), label="out", sensitive="g", positive_label="yes")
    bad = toy_frame(5)
    bad["size"] = bad["size"].astype(object)
    bad.loc[3, "size"] = "big"
    with pytest.raises(
        EncodingError, match=r"'size' has non-numeric value 'big' in row\(s\) \[3\]"
    ):
        read_validation(ds, bad.rename(columns={"out": "label"}).assign(label=1))


def test_replace_validation_with_export_format(tmp_path: Path) -> None:
    df = toy_frame()
    ds = load_table(df, label="out", sensitive="g", id_column="uid", positive_label="yes", seed=1)
    rows = df.set_index("uid").loc[ds.test.ids[:30]].reset_index()
    export = pd.DataFrame(
        {
            "example_id": rows["uid"],
            "colour": rows["colour"],
            "size": rows["size"],
            "g": rows["g"],
            "label": np.where(rows["out"] == "yes", 1, -1),
            "answers_used": 11,
            "mean_score": 2.7,
            "confidence": 0.9,
            "is_gold": False,
        }
    )
    path = tmp_path / "export.csv"
    export.to_csv(path, index=False)
    new = replace_validation(ds, path)
    # encoded with the training split's encoders: identical to the test rows' encoding
    np.testing.assert_array_equal(new.val.X, ds.test.X[:30])
    np.testing.assert_array_equal(new.val.y, ds.test.y[:30])
    np.testing.assert_array_equal(new.val.z, ds.test.z[:30])
    np.testing.assert_array_equal(new.val.ids, ds.test.ids[:30])
    assert new.train is ds.train and new.test is ds.test
    assert new.info["validation_extra_columns"] == [
        "answers_used",
        "mean_score",
        "confidence",
        "is_gold",
    ]
    _, extras = read_validation(ds, export)
    assert extras["confidence"].tolist() == [0.9] * 30
    unseen = export.copy()
    unseen.loc[4, "colour"] = "purple"
    with pytest.raises(EncodingError, match=r"'colour': value 'purple' in row\(s\) \[4\]"):
        replace_validation(ds, unseen)
    with pytest.raises(MissingColumnError, match="'size'"):
        replace_validation(ds, export.drop(columns=["size"]))


def test_replace_validation_on_synthetic() -> None:
    ds = load_synthetic()
    X = ds.test.X[:20]
    ext = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "z": ds.test.z[:20], "label": ds.test.y[:20]})
    new = replace_validation(ds, ext)
    np.testing.assert_array_equal(new.val.X, X)
    np.testing.assert_array_equal(new.val.y, ds.test.y[:20])


def test_encoder_round_trips_through_a_dict() -> None:
    ds = load_table(toy_frame(), label="out", sensitive="g", positive_label="yes")
    enc = encoder_of(ds)
    assert TableEncoder.from_dict(enc.to_dict()) == enc
    import json

    json.dumps(ds.info)  # JSON-friendly provenance


def test_stratified_split_properties() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice([-1, 1], 3000, p=[0.7, 0.3])
    z = rng.choice([0, 1, 2], 3000, p=[0.6, 0.3, 0.1])
    tr, va, te = stratified_split(y, z, test_size=0.3, val_size=0.05, seed=5)
    assert len(np.intersect1d(tr, te)) == len(np.intersect1d(tr, va)) == 0
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(3000))
    assert abs(len(te) / 3000 - 0.3) < 0.01
    assert abs(len(va) / len(tr) - 0.05) < 0.01
    for yy in (-1, 1):
        for zz in (0, 1, 2):
            cell = (y == yy) & (z == zz)
            assert abs(cell[te].mean() - cell.mean()) < 0.01
            assert abs(cell[tr].mean() - cell.mean()) < 0.01
    again = stratified_split(y, z, test_size=0.3, val_size=0.05, seed=5)
    other = stratified_split(y, z, test_size=0.3, val_size=0.05, seed=6)
    assert np.array_equal(again[0], tr) and not np.array_equal(other[0], tr)
    with pytest.raises(ValueError, match="test_size"):
        stratified_split(y, z, test_size=1.0)
