"""trainer.metrics against fairlearn (docs/ALGORITHMS.md §5) and hand-computed toy tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_ratio,
    equal_opportunity_ratio,
    equalized_odds_ratio,
    false_positive_rate,
    true_positive_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, confusion_matrix

from trainer.metrics import (
    accuracy,
    disparate_impact,
    equal_opportunity,
    equalized_odds,
    evaluate,
    group_confusion_matrices,
    positive_rates,
)

NAN = float("nan")


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


# fairlearn rejects single-row inputs, hence n >= 2.
rows = st.integers(2, 40).flatmap(
    lambda n: st.integers(1, 4).flatmap(
        lambda g: st.tuples(
            st.lists(st.sampled_from([-1, 1]), min_size=n, max_size=n),
            st.lists(st.sampled_from([-1, 1]), min_size=n, max_size=n),
            st.lists(st.integers(0, g - 1), min_size=n, max_size=n),
        )
    )
)


@settings(max_examples=40, deadline=None)
@given(rows)
def test_every_metric_matches_fairlearn(data: tuple[list[int], list[int], list[int]]) -> None:
    yt, yp, z = (np.asarray(a) for a in data)
    assert same(accuracy(yt, yp), accuracy_score(yt, yp))
    assert same(disparate_impact(yp, z), demographic_parity_ratio(yt, yp, sensitive_features=z))

    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=yt,
        y_pred=yp,
        sensitive_features=z,
    )
    ratio = mf.ratio()
    eo = equalized_odds(yt, yp, z)
    groups = np.unique(z)
    has_pos = all((yt[z == g] == 1).any() for g in groups)
    has_neg = all((yt[z == g] == -1).any() for g in groups)
    # Where every group has rows of the label, the rate ratios are fairlearn's exactly.
    # Otherwise a group's rate is undefined: fairlearn counts it as 0, we report NaN.
    if has_pos:
        assert same(eo[1], float(ratio["tpr"]))
        assert same(
            equal_opportunity(yt, yp, z), equal_opportunity_ratio(yt, yp, sensitive_features=z)
        )
    else:
        assert math.isnan(eo[1]) and math.isnan(equal_opportunity(yt, yp, z))
    if has_neg:
        assert same(eo[0], float(ratio["fpr"]))
    else:
        assert math.isnan(eo[0])
    if has_pos and has_neg and not (math.isnan(eo[0]) or math.isnan(eo[1])):
        worst = equalized_odds_ratio(yt, yp, sensitive_features=z, agg="worst_case")
        assert same(min(eo[0], eo[1]), worst)

    cms = group_confusion_matrices(yt, yp, z)
    assert sorted(cms) == groups.tolist()
    for g in groups:
        m = z == g
        tn, fp, fn, tp = confusion_matrix(yt[m], yp[m], labels=[-1, 1]).ravel()
        assert cms[int(g)] == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def test_toy_table_by_hand() -> None:
    # group 0: TP, FN, FP, TN; group 1: TP, TP, FN, TN, TN
    z = [0, 0, 0, 0, 1, 1, 1, 1, 1]
    y = [1, 1, -1, -1, 1, 1, 1, -1, -1]
    p = [1, -1, 1, -1, 1, 1, -1, -1, -1]
    assert group_confusion_matrices(y, p, z) == {
        0: {"tp": 1, "fp": 1, "tn": 1, "fn": 1},
        1: {"tp": 2, "fp": 0, "tn": 2, "fn": 1},
    }
    assert accuracy(y, p) == pytest.approx(6 / 9)
    assert positive_rates(p, z) == {0: 0.5, 1: 0.4}
    assert disparate_impact(p, z) == pytest.approx(0.8)
    # TPR 1/2 vs 2/3; FPR 1/2 vs 0
    assert equalized_odds(y, p, z) == {0: 0.0, 1: pytest.approx(0.75)}
    assert equal_opportunity(y, p, z) == pytest.approx(0.75)
    ev = evaluate(y, p, z)
    assert ev["confusion"]["1"]["tp"] == 2 and ev["n"] == 9
    assert ev["equalized_odds_y1"] == pytest.approx(0.75)


def test_zero_over_zero_is_nan() -> None:
    y = [1, -1, 1, -1]
    z = [0, 0, 1, 1]
    never = [-1, -1, -1, -1]
    assert math.isnan(disparate_impact(never, z))
    assert math.isnan(demographic_parity_ratio(y, never, sensitive_features=z))
    eo = equalized_odds(y, never, z)
    assert math.isnan(eo[0]) and math.isnan(eo[1])
    # one rate 0, the other positive: a ratio of 0, not NaN
    assert disparate_impact([1, -1, -1, -1], z) == 0.0


def test_group_without_a_label_makes_its_ratio_nan() -> None:
    # group 1 has no Y = 1 rows: its TPR is undefined, so EO_1 cannot be 1.0
    y = [1, 1, -1, -1, -1, -1]
    p = [1, -1, -1, -1, 1, -1]
    z = [0, 0, 0, 1, 1, 1]
    eo = equalized_odds(y, p, z)
    assert math.isnan(eo[1])
    assert eo[0] == 0.0  # FPR 0 vs 1/3


def test_multi_valued_groups() -> None:
    z = [0, 0, 1, 1, 2, 2, 2, 2]
    y = [1, -1, 1, -1, 1, 1, -1, -1]
    p = [1, 1, 1, -1, 1, -1, -1, -1]
    assert positive_rates(p, z) == {0: 1.0, 1: 0.5, 2: 0.25}
    assert disparate_impact(p, z) == pytest.approx(0.25)
    # TPR: 1, 1, 1/2; FPR: 1, 0, 0
    assert equalized_odds(y, p, z) == {0: 0.0, 1: pytest.approx(0.5)}
    assert sorted(group_confusion_matrices(y, p, z)) == [0, 1, 2]


def test_zero_one_inputs_equal_plus_minus_one() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice([-1, 1], 50)
    p = rng.choice([-1, 1], 50)
    z = rng.integers(0, 2, 50)
    assert evaluate(y, p, z) == evaluate((y + 1) // 2, (p + 1) // 2, z)


def test_empty_input_accuracy_is_nan() -> None:
    assert math.isnan(accuracy([], []))
    assert math.isnan(disparate_impact([], []))
