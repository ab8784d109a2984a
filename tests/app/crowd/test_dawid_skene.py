"""Binary Dawid-Skene against toy tables worked out by hand (see the module docstring's EM)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.crowd import DawidSkene, aggregate
from tests.app.crowd.toy import long_table, votes_grid

# Three perfect workers, one who always answers the opposite, one who always says "positive".
# Truth: + + - - +.
ADVERSARY = votes_grid({"A": "++--+", "B": "++--+", "C": "++--+", "D": "--++-", "E": "+++++"})
# Two perfect workers and three who always say "positive". Truth: + - - + -.
SPAMMERS = votes_grid({"A": "+--+-", "B": "+--+-", "C": "+++++", "D": "+++++", "E": "+++++"})


def test_one_em_iteration_by_hand() -> None:
    # Start (soft majority): T = 4/5, 4/5, 2/5, 2/5, 4/5.  M-step: pi = 3.2/5 = 0.64;
    # sum T = 3.2, sum (1 - T) = 1.8.  A, B, C: alpha = 2.4/3.2 = 3/4, beta = 1.2/1.8 = 2/3;
    # D: alpha = 0.8/3.2 = 1/4, beta = 0.6/1.8 = 1/3; E: alpha = 1, beta = 0 (clipped).
    # E-step, e1 (A B C +, D -, E +): odds = 0.64 (3/4)^4 / (0.36 (1/3)^4) = 729/16 -> 729/745.
    # e3 (A B C -, D +, E +): odds = 0.64 (1/4)^4 / (0.36 (2/3)^4) = 9/256 -> 9/265.
    model = DawidSkene(max_iter=1).fit(long_table(ADVERSARY))
    np.testing.assert_allclose(
        model.probas_.to_numpy(), [729 / 745, 729 / 745, 9 / 265, 9 / 265, 729 / 745], rtol=1e-5
    )
    assert model.prior_ == pytest.approx(0.64)
    errors = model.errors_
    np.testing.assert_allclose(errors.loc[["A", "B", "C"], "sensitivity"], 0.75)
    np.testing.assert_allclose(errors.loc[["A", "B", "C"], "specificity"], 2 / 3)
    assert errors.loc["D"].tolist() == pytest.approx([0.25, 1 / 3])
    assert errors.loc["E"].tolist() == pytest.approx([1.0, 0.0], abs=1e-5)
    assert model.n_iter_ == 1


def test_converges_to_the_truth_and_learns_the_adversary() -> None:
    model = DawidSkene().fit(long_table(ADVERSARY))
    assert model.labels_.tolist() == [1, 1, -1, -1, 1]
    assert model.errors_.loc["D"].tolist() == pytest.approx([0.0, 0.0], abs=1e-4)
    assert model.skills_.loc["A"] == pytest.approx(1.0, abs=1e-4)
    assert model.skills_.loc["E"] == pytest.approx(0.5, abs=1e-4)  # a constant answer is no skill
    assert (model.confidences_ > 0.99).all()


def test_beats_majority_when_spammers_outvote_good_workers() -> None:
    # Majority: every example has >= 3 positive votes -> all positive, 2 of 5 right.
    # One EM step on e2 (A, B -, spammers +): pi = 3.8/5 = 0.76, alpha_A = 2/3.8 = 10/19,
    # beta_A = 1 (clipped): odds = 0.76 (9/19)^2 / 0.24 = 81/114 -> T = 81/195 = 27/65 < 0.5.
    answers = long_table(SPAMMERS)
    majority = aggregate(answers, method="majority").set_index("example_id")["label"]
    assert majority.tolist() == [1, 1, 1, 1, 1]
    one_step = DawidSkene(max_iter=1).fit(answers)
    assert one_step.probas_.loc["e2"] == pytest.approx(27 / 65, rel=1e-5)
    model = DawidSkene().fit(answers)
    assert model.labels_.tolist() == [1, -1, -1, 1, -1]
    np.testing.assert_allclose(model.skills_.loc[["C", "D", "E"]], 0.5, atol=1e-4)


def test_aggregate_reports_posterior_confidence_and_plain_mean() -> None:
    answers = long_table(SPAMMERS)
    out = aggregate(answers, method="dawid_skene").set_index("example_id")
    model = DawidSkene().fit(answers)
    probas = model.probas_.reindex(out.index).to_numpy()
    np.testing.assert_allclose(out["confidence"], np.maximum(probas, 1 - probas))
    # e2: answers 1, 1, 4, 4, 4 -> plain mean 2.8, although the label is negative.
    assert out.loc["e2", "mean_score"] == pytest.approx(2.8)
    assert out.loc["e2", "label"] == -1


def test_posterior_of_exactly_one_half_is_negative() -> None:
    # One worker answers one example positive, another negative: perfectly symmetric.
    answers = pd.DataFrame({"example_id": ["e", "e"], "worker_id": ["x", "y"], "value": [4, 1]})
    model = DawidSkene().fit(answers)
    assert model.probas_.loc["e"] == pytest.approx(0.5)
    assert model.labels_.loc["e"] == -1
