"""Peer-weighted aggregation, the adaptive-budget rule and the bias audit, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from app.crowd import aggregate
from app.crowd._table import encode, validate_answers
from app.crowd.audit import audit
from app.crowd.budget import SequentialRule, answer_matrix, replay, run_policy
from app.crowd.peer import peer_correlations
from tests.app.crowd.toy import long_table


def _table(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"example_id": e, "worker_id": w, "value": v, "submitted_at": t}
            for t, (e, w, v) in enumerate(rows)
        ]
    )


def test_peer_weights_follow_agreement_and_one_answer_is_the_mean_rule() -> None:
    # a, b and d agree on every example, c answers against them (5 - x).
    rows = []
    for i, (x, y) in enumerate([(4, 1), (3, 2), (4, 1), (1, 4), (2, 3), (1, 4)]):
        e = f"e{i}"
        rows += [(e, "a", x), (e, "b", x), (e, "d", x), (e, "c", y)]
    codes = encode(validate_answers(_table(rows)))
    r = dict(zip(codes.workers, peer_correlations(codes, shrink=0.0), strict=True))
    assert r["a"] > 0.5 and r["b"] > 0.5 and r["c"] < 0
    labels = aggregate(_table(rows), method="peer_weighted").set_index("example_id")
    mean = aggregate(_table(rows), method="mean").set_index("example_id")
    # c's weight is ~0, so the score is the agreeing workers' answer, not the plain mean.
    assert r["a"] == pytest.approx(1.0) and r["c"] == pytest.approx(-1.0)
    assert labels.loc["e1", "label"] == 1
    assert labels.loc["e1", "mean_score"] == pytest.approx(3, abs=1e-3)
    assert mean.loc["e1", "mean_score"] == pytest.approx(11 / 4)
    single = _table([("e0", "a", 3), ("e1", "b", 2)])
    assert aggregate(single, method="peer_weighted")["label"].tolist() == [1, -1]


def test_sequential_rule_by_hand() -> None:
    rule = SequentialRule(n_min=2, c=1.5)
    assert not rule.settled([4])  # fewer than n_min answers
    # [4, 4]: mean 4, sd 0 -> 0.5; |4 - 2.5| sqrt(2) / 0.5 = 4.24 >= 1.5.
    assert rule.settled([4, 4])
    # [2, 3]: mean 2.5 -> statistic 0.
    assert not rule.settled([2, 3])
    # [3, 3, 2]: mean 8/3, sd 0.577; (1/6) sqrt(3) / 0.577 = 0.5 < 1.5.
    assert not rule.settled([3, 3, 2])


def test_run_policy_stops_where_the_rule_says_and_caps_at_n() -> None:
    rows = [("x", f"w{k}", v) for k, v in enumerate([4, 4, 1, 1])]
    rows += [("y", f"w{k}", v) for k, v in enumerate([2, 3, 2, 3, 3])]
    _, matrix = answer_matrix(_table(rows))
    used, label = run_policy(matrix, SequentialRule(n_min=2, c=1.5), n_max=4)
    assert used.tolist() == [2, 4] and label.tolist() == [1, -1]  # y: mean(2,3,2,3) = 2.5
    fixed, _ = run_policy(matrix, SequentialRule(n_min=3, c=math.inf), n_max=3)
    assert fixed.tolist() == [3, 3]


def test_budget_replay_reports_fixed_and_adaptive_per_seed() -> None:
    rng = np.random.default_rng(0)
    truth = pd.Series({f"e{i}": int(rng.choice([-1, 1])) for i in range(60)})
    rows = []
    for e, y in truth.items():
        for k in range(11):
            right = rng.random() < 0.7
            rows.append((e, f"w{k}", 4 if (y > 0) == right else 1))
    result = replay(
        _table(rows),
        truth,
        [(0, list(truth.index[:30])), (1, list(truth.index[30:]))],
        settings=((2, 1.5),),
    )
    assert list(result.fixed) == list(range(1, 12)) and result.seeds == (0, 1)
    adaptive = result.adaptive["n_min=2,c=1.5"]
    assert all(2 <= a < 11 for a in adaptive["answers_per_example"])
    assert result.fixed[11]["answers_per_example"] == [11.0, 11.0]
    assert result.to_json()["adaptive"]["n_min=2,c=1.5"]["accuracy"]["mean"] > 0.6


def test_audit_by_hand() -> None:
    # Group A: e1 (known +1, crowd +1), e2 (known -1, crowd +1); group B: e3 (-1, -1).
    answers = long_table({"w1": [4, 3, 1], "w2": [3, 4, 2]}, examples=["e1", "e2", "e3"])
    labels = aggregate(answers, method="mean")
    result = audit(
        answers,
        labels,
        {"e1": "A", "e2": "A", "e3": "B"},
        {"e1": 1, "e2": -1, "e3": -1},
        column="group",
        min_answers=1,
    )
    a, b = result.groups
    assert (a.group, a.n_examples, a.label_accuracy) == ("A", 2, 0.5)
    assert (a.crowd_positive_rate, a.known_positive_rate, a.positive_rate_gap) == (1.0, 0.5, 0.5)
    assert a.false_positive_rate == 1.0 and a.false_negative_rate == 0.0
    assert (b.label_accuracy, b.crowd_positive_rate, b.false_negative_rate) == (1.0, 0.0, None)
    shares = {(w.worker_id, w.group): w.positive_share for w in result.workers}
    assert shares == {("w1", "A"): 1.0, ("w1", "B"): 0.0, ("w2", "A"): 1.0, ("w2", "B"): 0.0}
    assert result.worker_gaps == {"w1": 1.0, "w2": 1.0}
