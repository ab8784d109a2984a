"""The 25-worker scenario (tests/app/crowd/scenario.py): class imbalance cannot be gamed, bad
workers are excluded once they have 12+ gold answers, honest workers are kept."""

from __future__ import annotations

import numpy as np
import pytest

from app.crowd import excluded_workers, gold_warnings, score_workers
from app.crowd.quality import p_sum_above_one
from tests.app.crowd.scenario import BAD, HONEST, make_scenario


def test_the_scenario_excludes_every_bad_worker_and_no_honest_one() -> None:
    scenario = make_scenario(seed=0)
    scores = score_workers(scenario.answers, scenario.gold).set_index("worker_id")
    kinds = scenario.kind
    bad = [w for w, k in kinds.items() if k in BAD]
    honest = [w for w, k in kinds.items() if k in HONEST]
    assert all(scores.loc[w, "n_gold"] >= 12 for w in bad)
    assert set(bad) <= excluded_workers(scores.reset_index())
    assert not set(honest) & excluded_workers(scores.reset_index())
    # The always-"1" worker is right on most of the (75% negative) gold, and still excluded.
    constant = scores.loc["constant0"]
    assert constant["raw_accuracy"] >= 0.6 and constant["specificity"] > 0.9
    assert constant["sensitivity"] < 0.3 and constant["reason"].startswith("constant answers")
    assert scores.loc["adversarial0", "status"] == "filtered"
    # Trusted means credibly better than chance on both classes: the lower interval ends of
    # every trusted worker's sensitivity and specificity are informative.
    trusted = scores[scores["status"] == "trusted"]
    assert len(trusted) >= 3 and set(trusted.index) <= set(honest)
    assert (trusted["n_gold_pos"] > 0).all() and (trusted["n_gold_neg"] > 0).all()
    assert (trusted["sensitivity_low"] < trusted["sensitivity"]).all()
    assert (scores["reason"].str.len() > 10).all()


def test_bad_workers_are_caught_and_honest_ones_kept_over_many_draws() -> None:
    """A power check over 30 scenario draws (seeds 0-29): at least 85% of the bad workers who
    reached 12 gold answers are excluded, and at most 1% of the good and medium workers."""
    bad_total = bad_caught = honest_total = honest_lost = 0
    for seed in range(30):
        scenario = make_scenario(seed=seed)
        scores = score_workers(scenario.answers, scenario.gold).set_index("worker_id")
        for worker, kind in scenario.kind.items():
            if worker not in scores.index:
                continue
            excluded = scores.loc[worker, "status"] == "filtered"
            if kind in BAD and scores.loc[worker, "n_gold"] >= 12:
                bad_total += 1
                bad_caught += int(excluded)
            elif kind in HONEST:
                honest_total += 1
                honest_lost += int(excluded)
    assert bad_total >= 60
    assert bad_caught / bad_total >= 0.85
    assert honest_lost / honest_total <= 0.01


def test_gold_warnings_name_imbalance_and_small_gold() -> None:
    scenario = make_scenario(seed=0)
    scores = score_workers(scenario.answers, scenario.gold)
    warnings = gold_warnings(scenario.gold, scores)
    assert any("class-imbalanced: 10 positive / 30 negative" in w for w in warnings)
    assert any("always answers negative scores 75%" in w for w in warnings)
    tiny = {"g0": -1, "g1": 1}
    assert any("too small" in w for w in gold_warnings(tiny, score_workers(scenario.answers, tiny)))
    assert gold_warnings({}, scores)[0].startswith("no hidden gold")


def test_p_sum_above_one_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    a1, b1, a2, b2 = 4.0, 2.0, 3.0, 5.0
    draws = rng.beta(a1, b1, 400_000) + rng.beta(a2, b2, 400_000)
    for margin in (0.0, 0.1):
        got = p_sum_above_one(
            np.array([a1]), np.array([b1]), np.array([a2]), np.array([b2]), margin
        )
        assert got[0] == pytest.approx(float((draws > 1 + margin).mean()), abs=3e-3)
