"""Mean, majority and weighted rules on hand-computed toy tables; N selection; input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.crowd import CrowdInputError, MeanAggregator, aggregate
from app.crowd import _table as table_module
from app.crowd.aggregate import ERR_METHOD
from app.crowd.weighted import ERR_WEIGHT
from tests.app.crowd.toy import TOY, long_table


def by_example(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("example_id")


def test_mean_rule_on_the_toy_table_by_hand() -> None:
    # Column sums: e1 4+1+3+2+4=14 /5=2.8 +; e2 1+4+2+3+2=12 /5=2.4 -; e3 3+2+2+4=11 /4=2.75 +;
    # e4 2+3+4+1+1=11 /5=2.2 -; e5 4+3+1+2+4=14 /5=2.8 +.
    out = by_example(aggregate(long_table(TOY), method="mean", n_max=11))
    assert out["label"].to_dict() == {"e1": 1, "e2": -1, "e3": 1, "e4": -1, "e5": 1}
    assert out["answers_used"].to_dict() == {"e1": 5, "e2": 5, "e3": 4, "e4": 5, "e5": 5}
    np.testing.assert_allclose(out["mean_score"], [2.8, 2.4, 2.75, 2.2, 2.8])
    np.testing.assert_allclose(out["confidence"], np.abs(out["mean_score"] - 2.5) / 1.5)
    assert out["label"].dtype == np.int64


def test_mean_of_exactly_the_threshold_is_negative() -> None:
    # Paper: positive iff the mean is *larger than* 2.5; answers 2 and 3 average exactly 2.5.
    answers = pd.DataFrame(
        {
            "example_id": ["a", "a", "b", "b"],
            "worker_id": ["x", "y", "x", "y"],
            "value": [2, 3, 3, 3],
        }
    )
    out = by_example(aggregate(answers))
    assert out.loc["a", "label"] == -1
    assert out.loc["a", "confidence"] == 0.0
    assert out.loc["b", "label"] == 1


def test_first_n_by_submission_time_with_ties_in_input_order() -> None:
    answers = pd.DataFrame(
        {
            "example_id": ["e"] * 4,
            "worker_id": ["late", "tie1", "tie2", "early"],
            "value": [4, 1, 4, 1],
            "submitted_at": pd.to_datetime(
                ["2024-01-03", "2024-01-02", "2024-01-02", "2024-01-01"]
            ),
        }
    )
    # Order: early(1), tie1(1), tie2(4), late(4). N=2 -> mean 1 (negative); N=3 -> 2.0; N=4 -> 2.5.
    assert by_example(aggregate(answers, n_max=2)).loc["e", "mean_score"] == 1.0
    assert by_example(aggregate(answers, n_max=3)).loc["e", "mean_score"] == 2.0
    swapped = answers.iloc[[0, 2, 1, 3]]  # tie2 now precedes tie1 in the input
    assert by_example(aggregate(swapped, n_max=2)).loc["e", "mean_score"] == 2.5


def test_excluded_workers_are_dropped_before_counting_n() -> None:
    # e1 answers in order w1..w5: 4, 1, 3, 2, 4. Excluding w2 and N=2 keeps w1, w3: mean 3.5.
    answers = long_table(TOY)
    out = by_example(aggregate(answers, n_max=2, exclude_workers={"w2"}))
    assert out.loc["e1", "mean_score"] == 3.5
    assert out.loc["e1", "answers_used"] == 2
    before = answers.copy()
    aggregate(answers, exclude_workers={"w1", "w2", "w3", "w4"})
    pd.testing.assert_frame_equal(answers, before)  # nothing deleted or modified


def test_an_example_without_usable_answers_is_absent() -> None:
    answers = long_table(TOY)
    out = aggregate(answers, exclude_workers={"w1", "w2", "w3", "w4"})
    assert "e3" not in set(out["example_id"])  # only w1..w4 answered e3
    empty = aggregate(answers, exclude_workers={"w1", "w2", "w3", "w4", "w5"})
    assert list(empty.columns) == [
        "example_id",
        "label",
        "answers_used",
        "mean_score",
        "confidence",
    ]
    assert len(empty) == 0


def test_majority_vote_by_hand_and_the_tie_rule() -> None:
    # Positive votes (value > 2.5): e1 w1,w3,w5 = 3/5 +; e2 w2,w4 = 2/5 -; e3 w1,w4 = 2/4 tie -;
    # e4 w2,w3 = 2/5 -; e5 w1,w2,w5 = 3/5 +.
    out = by_example(aggregate(long_table(TOY), method="majority"))
    assert out["label"].to_dict() == {"e1": 1, "e2": -1, "e3": -1, "e4": -1, "e5": 1}
    np.testing.assert_allclose(out["confidence"], [0.6, 0.6, 0.5, 0.6, 0.6])
    np.testing.assert_allclose(out["mean_score"], [2.8, 2.4, 2.75, 2.2, 2.8])


def test_weighted_mean_by_hand() -> None:
    weights = {"w1": 0.8, "w2": 0.2, "w3": 0.6, "w4": 0.4, "w5": 0.5}
    out = by_example(aggregate(long_table(TOY), method="weighted", worker_weights=weights))
    # e2: (0.8*1 + 0.2*4 + 0.6*2 + 0.4*3 + 0.5*2) / 2.5 = 5.0 / 2.5 = 2.0 -> negative.
    # e4: (0.8*2 + 0.2*3 + 0.6*4 + 0.4*1 + 0.5*1) / 2.5 = 5.5 / 2.5 = 2.2 -> negative.
    # e5: (0.8*4 + 0.2*3 + 0.6*1 + 0.4*2 + 0.5*4) / 2.5 = 7.2 / 2.5 = 2.88 -> positive.
    assert out.loc["e2", "mean_score"] == pytest.approx(2.0)
    assert out.loc["e4", "mean_score"] == pytest.approx(2.2)
    assert out.loc["e5", "mean_score"] == pytest.approx(2.88)
    assert out.loc["e5", "confidence"] == pytest.approx(0.38 / 1.5)
    assert out["label"].to_dict() == {"e1": 1, "e2": -1, "e3": 1, "e4": -1, "e5": 1}


def test_weighted_defaults_missing_workers_and_all_zero_weights() -> None:
    answers = long_table(TOY)
    plain = aggregate(answers, method="mean")
    unweighted = aggregate(answers, method="weighted")
    pd.testing.assert_frame_equal(plain, unweighted)
    # w5 missing -> weight = mean(1, 1, 1, 3) = 1.5. e1: (4+1+3+3*2 + 1.5*4)/(6+1.5) = 20/7.5.
    partial = by_example(
        aggregate(answers, method="weighted", worker_weights={"w1": 1, "w2": 1, "w3": 1, "w4": 3})
    )
    assert partial.loc["e1", "mean_score"] == pytest.approx(20 / 7.5)
    zero = by_example(aggregate(answers, method="weighted", worker_weights=dict.fromkeys(TOY, 0)))
    assert zero.loc["e1", "mean_score"] == pytest.approx(2.8)  # falls back to the plain mean
    with pytest.raises(CrowdInputError) as info:
        aggregate(answers, method="weighted", worker_weights={"w1": -1.0})
    assert str(info.value) == ERR_WEIGHT.format(worker="w1", weight=-1.0)


def test_fit_api_matches_aggregate() -> None:
    answers = long_table(TOY)
    fitted = MeanAggregator().fit(answers)
    pd.testing.assert_frame_equal(fitted.result_frame(), aggregate(answers, n_max=100))
    assert fitted.labels_.loc["e3"] == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d.drop(columns=["worker_id"]),
            table_module.ERR_MISSING_COLUMNS.format(missing="worker_id"),
        ),
        (
            lambda d: d.assign(value=[5] + [1] * (len(d) - 1)),
            table_module.ERR_VALUE.format(row=0, value=5),
        ),
        (
            lambda d: d.assign(value=[2.5] + [1] * (len(d) - 1)),
            table_module.ERR_VALUE.format(row=0, value=2.5),
        ),
        (
            lambda d: d.assign(value=[1, "x"] + [1] * (len(d) - 2)),
            table_module.ERR_VALUE.format(row=1, value="x"),
        ),
        (
            lambda d: d.assign(worker_id=[None] + ["w"] * (len(d) - 1)),
            table_module.ERR_EMPTY_CELL.format(row=0, column="worker_id"),
        ),
    ],
)
def test_bad_answers_raise_clear_errors(mutate: object, message: str) -> None:
    answers = long_table(TOY)
    with pytest.raises(CrowdInputError) as info:
        aggregate(mutate(answers))  # type: ignore[operator]
    assert str(info.value) == message


def test_bad_arguments_raise_clear_errors() -> None:
    answers = long_table(TOY)
    with pytest.raises(CrowdInputError) as info:
        aggregate(answers, method="median")
    assert str(info.value) == ERR_METHOD.format(method="median")
    with pytest.raises(CrowdInputError) as info:
        aggregate(answers, n_max=0)
    assert str(info.value) == table_module.ERR_N_MAX.format(n_max=0)
    with pytest.raises(CrowdInputError) as info:
        aggregate(answers, threshold=4)
    assert str(info.value) == table_module.ERR_THRESHOLD.format(threshold=4)
    with pytest.raises(CrowdInputError) as info:
        aggregate([1, 2])  # type: ignore[arg-type]
    assert str(info.value) == table_module.ERR_NOT_FRAME.format(kind="list")


def naive_mean_rule(rows: list[tuple[int, int, int, int]], n_max: int, excluded: set[str]) -> dict:
    """Oracle: a plain loop over the rules as written in the docstring."""
    out = {}
    for example in sorted({r[0] for r in rows}):
        mine = [
            (t, pos, v)
            for pos, (e, w, v, t) in enumerate(rows)
            if e == example and f"w{w}" not in excluded
        ]
        mine.sort()
        used = [v for _, _, v in mine[:n_max]]
        if used:
            mean = sum(used) / len(used)
            out[example] = (1 if mean > 2.5 else -1, len(used), mean)
    return out


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 4), st.integers(1, 4), st.integers(0, 3)),
        min_size=1,
        max_size=40,
    ),
    n_max=st.integers(1, 6),
    excluded=st.sets(st.sampled_from(["w0", "w1", "w2", "w3", "w4"]), max_size=2),
)
def test_mean_rule_matches_a_naive_loop(
    rows: list[tuple[int, int, int, int]], n_max: int, excluded: set[str]
) -> None:
    answers = pd.DataFrame(rows, columns=["example_id", "worker_id", "value", "submitted_at"])
    answers["worker_id"] = "w" + answers["worker_id"].astype(str)
    got = aggregate(answers, n_max=n_max, exclude_workers=excluded)
    expected = naive_mean_rule(rows, n_max, excluded)
    assert list(got["example_id"]) == list(expected)
    for row in got.itertuples():
        label, used, mean = expected[row.example_id]
        assert (row.label, row.answers_used) == (label, used)
        assert row.mean_score == pytest.approx(mean)


@pytest.mark.parametrize(
    "times",
    [
        ["2024-01-03T00:00", "2024-01-01T00:00", "2024-01-02T00:00"],  # ISO strings
        pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02"]).tz_localize("Europe/Oslo"),
        [3.0, 1.0, 2.0],
    ],
)
def test_submission_times_of_several_types(times: object) -> None:
    answers = pd.DataFrame(
        {
            "example_id": ["e"] * 3,
            "worker_id": ["c", "a", "b"],
            "value": [4, 1, 2],
            "submitted_at": times,
        }
    )
    # Order a(1), b(2), c(4): the first two average 1.5.
    assert by_example(aggregate(answers, n_max=2)).loc["e", "mean_score"] == 1.5


def test_unsortable_submission_times() -> None:
    answers = pd.DataFrame(
        {"example_id": ["e"] * 3, "worker_id": ["c", "a", "b"], "value": [4, 1, 2]}
    )
    answers["submitted_at"] = pd.Series(["x", 1, 2.0], dtype=object)
    with pytest.raises(CrowdInputError, match="submitted_at cannot be sorted"):
        aggregate(answers, n_max=2)
