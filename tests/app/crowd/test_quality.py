"""Worker scoring on gold questions: counts, Beta posterior, statuses and the rule's dict form."""

from __future__ import annotations

import pytest

from app.crowd import (
    CrowdInputError,
    WorkerFilterRule,
    accuracy_weights,
    excluded_workers,
    score_workers,
)
from app.crowd import quality as quality_module
from tests.app.crowd.toy import GOLD, TOY, long_table

MEAN_RULE = WorkerFilterRule(min_gold=3, credible_level=None)


def test_counts_and_posterior_mean_by_hand() -> None:
    # Gold e1 +, e2 -, e3 +. Binarised answers (> 2.5): w1 + - + (3/3); w2 - + - (0/3);
    # w3 + - - (2/3); w4 - + + (1/3); w5 + - (no e3) (2/2). Beta(1, 1): (c + 1) / (n + 2).
    scores = score_workers(long_table(TOY), GOLD, MEAN_RULE).set_index("worker_id")
    assert scores["n_gold"].to_dict() == {"w1": 3, "w2": 3, "w3": 3, "w4": 3, "w5": 2}
    assert scores["n_correct"].to_dict() == {"w1": 3, "w2": 0, "w3": 2, "w4": 1, "w5": 2}
    assert scores["accuracy"].to_dict() == pytest.approx(
        {"w1": 0.8, "w2": 0.2, "w3": 0.6, "w4": 0.4, "w5": 0.75}
    )
    # w1 (3 of 3) and w3 (2 of 3) are not *credibly* better than chance on both classes with
    # one negative gold item: pending (answers kept), not trusted.
    assert scores["status"].to_dict() == {
        "w1": "pending",
        "w2": "filtered",
        "w3": "pending",
        "w4": "filtered",
        "w5": "pending",  # 2 gold answers < min_gold 3
    }


def test_credible_rule_filters_only_credibly_bad_workers() -> None:
    # w2 is 0 of 3: posterior Beta(1, 4), P(acc < 1/2) = 1 - (1/2)^4 = 0.9375.
    answers = long_table(TOY)
    at_95 = score_workers(answers, GOLD, {"min_gold": 3, "credible_level": 0.95})
    at_90 = score_workers(answers, GOLD, {"min_gold": 3, "credible_level": 0.9})
    assert excluded_workers(at_95) == set()
    assert excluded_workers(at_90) == {"w2"}  # w4 (1 of 3): P = 11/16 = 0.6875


def test_default_rule_and_blocked_workers() -> None:
    answers = long_table(TOY)
    scores = score_workers(answers, GOLD, None, blocked={"w1", "nobody"}).set_index("worker_id")
    # Default min_gold = 5: nobody has 5 gold answers, so all pending except the blocked worker.
    assert scores["status"].to_dict() == {
        "w1": "blocked",
        "w2": "pending",
        "w3": "pending",
        "w4": "pending",
        "w5": "pending",
    }
    assert excluded_workers(scores.reset_index()) == {"w1"}


def test_extra_gold_ids_are_ignored_and_a_prior_shrinks() -> None:
    gold = {**GOLD, "not-answered": 1}
    scores = score_workers(long_table(TOY), gold, {"prior_a": 3, "prior_b": 1, "min_gold": 0})
    # w2: (0 + 3) / (3 + 4) = 3/7.
    assert scores.set_index("worker_id").loc["w2", "accuracy"] == pytest.approx(3 / 7)
    assert accuracy_weights(scores)["w2"] == pytest.approx(3 / 7)


def test_rule_round_trips_through_a_dict() -> None:
    rule = WorkerFilterRule(prior_a=2.0, prior_b=3.0, min_gold=4, min_accuracy=0.6)
    assert WorkerFilterRule.from_dict(rule.to_dict()) == rule
    assert rule.to_dict() == {
        "prior_a": 2.0,
        "prior_b": 3.0,
        "min_gold": 4,
        "min_accuracy": 0.6,
        "credible_level": 0.95,
        "trust_level": 0.9,
        "decide_after": 12,
        "min_pattern_answers": 10,
        "interval_level": 0.9,
        "min_skill": 0.1,
    }
    # The project schema spells the priors prior_alpha / prior_beta.
    assert WorkerFilterRule.from_dict({"prior_alpha": 2.0, "prior_beta": 3.0}).prior_b == 3.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"min_gold": 3, "colour": 1},
            quality_module.ERR_RULE_KEYS.format(
                keys="colour",
                allowed="prior_a, prior_b, min_gold, min_accuracy, credible_level, trust_level, "
                "decide_after, min_pattern_answers, interval_level, min_skill",
            ),
        ),
        (
            {"prior_a": 0},
            quality_module.ERR_RULE_FIELD.format(name="prior_a", what="a number > 0", value=0),
        ),
        (
            {"min_gold": 2.5},
            quality_module.ERR_RULE_FIELD.format(
                name="min_gold", what="an integer >= 0", value=2.5
            ),
        ),
        (
            {"min_accuracy": 1.5},
            quality_module.ERR_RULE_FIELD.format(
                name="min_accuracy", what="a number in [0, 1]", value=1.5
            ),
        ),
        (
            {"prior_a": 1, "prior_alpha": 1},
            quality_module.ERR_RULE_ALIAS.format(alias="prior_alpha", name="prior_a"),
        ),
    ],
)
def test_bad_rules_raise_clear_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(CrowdInputError) as info:
        WorkerFilterRule.from_dict(data)
    assert str(info.value) == message


def test_bad_gold_label() -> None:
    with pytest.raises(CrowdInputError) as info:
        score_workers(long_table(TOY), {"e1": 0})
    assert str(info.value) == quality_module.ERR_GOLD_LABEL.format(example="e1", label=0)
