"""The released wide CSV format to the long table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.crowd import CrowdInputError, parse_wide, wide_to_long
from app.crowd import wide as wide_module


def small_wide() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "example_idx": [10, 11, 12],
            "city": ["Oslo", "Lima", "Pune"],
            "true_label": [1, -1, 1],
            "ans_2": [3, 1, np.nan],
            "ans_1": [4, 2, 1],
            "worker_id_1": ["a", "b", "c"],
            "worker_id_2": ["b", "a", None],
            "income": [1.5, 2.5, 3.5],
        }
    )


def test_long_table_in_answer_position_order() -> None:
    parsed = parse_wide(small_wide())
    assert parsed.answers.to_dict("list") == {
        "example_id": [10, 10, 11, 11, 12],
        "worker_id": ["a", "b", "b", "a", "c"],
        "value": [4, 3, 2, 1, 1],
        "submitted_at": [1, 2, 1, 2, 1],  # ans_k is the k-th answer; the release has no times
    }
    assert parsed.feature_columns == ["city", "income"]  # everything not reserved, file order
    assert list(parsed.examples.columns) == ["example_id", "city", "income", "true_label"]
    assert parsed.true_labels is not None
    assert parsed.true_labels.to_dict() == {10: 1, 11: -1, 12: 1}
    assert parsed.n_answer_columns == 2
    pd.testing.assert_frame_equal(wide_to_long(small_wide()), parsed.answers)


def test_without_labels_and_with_example_id_column() -> None:
    frame = small_wide().drop(columns=["true_label"]).rename(columns={"example_idx": "example_id"})
    parsed = parse_wide(frame)
    assert parsed.true_labels is None
    assert parsed.answers["example_id"].tolist()[:2] == [10, 10]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns=["example_idx"]), wide_module.ERR_NO_ID),
        (
            lambda d: d.drop(columns=["worker_id_2"]),
            wide_module.ERR_UNPAIRED.format(detail="no worker_id_k for k = [2]"),
        ),
        (
            lambda d: d.assign(example_idx=[10, 11, 10]),
            wide_module.ERR_DUPLICATE_ID.format(row=2, example=10, column="example_idx"),
        ),
        (
            lambda d: d.assign(ans_1=[4, 7, 1]),
            wide_module.ERR_ANSWER_VALUE.format(row=1, column="ans_1", value=7),
        ),
        (
            lambda d: d.assign(worker_id_2=["b", "a", "z"]),
            wide_module.ERR_WORKER_WITHOUT_ANSWER.format(
                row=2, column="worker_id_2", answer="ans_2"
            ),
        ),
        (
            lambda d: d.assign(worker_id_1=["a", None, "c"]),
            wide_module.ERR_ANSWER_WITHOUT_WORKER.format(
                row=1, column="ans_1", worker="worker_id_1"
            ),
        ),
        (
            lambda d: d.assign(true_label=[1, 0, 1]),
            wide_module.ERR_LABEL.format(row=1, value=0),
        ),
        (
            lambda d: d.drop(columns=["ans_1", "ans_2", "worker_id_1", "worker_id_2"]),
            wide_module.ERR_NO_ANSWERS,
        ),
    ],
)
def test_bad_wide_tables_name_row_and_column(mutate: object, message: str) -> None:
    with pytest.raises(CrowdInputError) as info:
        parse_wide(mutate(small_wide()))  # type: ignore[operator]
    assert str(info.value) == message
