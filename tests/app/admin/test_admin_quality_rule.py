"""The project page's "Rule:" line describes app.crowd.quality's current rule (class-aware
posteriors, trusted on both classes, the filtering checks) with the project's own values: every
deciding field of WorkerFilterRule shows in it, and its trusted threshold is the one the scorer
applies (checked against a hand-computed Beta tail)."""

from __future__ import annotations

import dataclasses
import html

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.routes.admin_projects import quality_rule_text
from app.crowd.quality import WorkerFilterRule, score_workers
from tests.app.admin.test_admin_pages import sign_in, toy_project

#: A valid value other than the default for each field of the rule.
OTHER = {
    "prior_a": 2.0,
    "prior_b": 3.0,
    "min_gold": 7,
    "min_accuracy": 0.6,
    "credible_level": 0.99,
    "trust_level": 0.8,
    "decide_after": 20,
    "min_pattern_answers": 15,
    "interval_level": 0.8,
    "min_skill": 0.2,
}
#: Fields that decide no status (app.crowd.quality: the reported intervals' level).
REPORT_ONLY = {"interval_level"}


def test_every_deciding_field_of_the_rule_is_in_the_text() -> None:
    names = {f.name for f in dataclasses.fields(WorkerFilterRule)}
    assert names == set(OTHER), "a new rule field: describe it in quality_rule_text"
    default = quality_rule_text(WorkerFilterRule())
    for name, value in OTHER.items():
        text = quality_rule_text(WorkerFilterRule(**{name: value}))
        if name in REPORT_ONLY:
            assert text == default, name
        else:
            assert text != default and f"{value:g}" in text, name


def test_the_text_follows_the_rule_variants() -> None:
    text = quality_rule_text(WorkerFilterRule())
    assert "P(sensitivity > 1/2) and P(specificity > 1/2) are both ≥ 0.9" in text
    assert "P(gold accuracy < 0.5) ≥ 0.95" in text and "Beta(1, 1)" in text
    assert "at least 10 answers" in text and "after 12 gold answers, P(J > 0.1) < 0.5" in text
    mean_rule = quality_rule_text(WorkerFilterRule(credible_level=None))
    assert "posterior mean gold accuracy below 0.5" in mean_rule
    gold_only = quality_rule_text(WorkerFilterRule(min_pattern_answers=0))
    assert "answers credibly against" not in gold_only and "one value for all" not in gold_only


@pytest.mark.parametrize(
    ("right_pos", "right_neg", "status"), [(3, 3, "trusted"), (2, 3, "pending")]
)
def test_trusted_threshold_is_the_scorers(right_pos: int, right_neg: int, status: str) -> None:
    """k of k positive gold right: P(sensitivity > 1/2) under Beta(1 + k, 1) is 1 - 2^-(k+1),
    0.9375 for k = 3 and 0.875 for k = 2: the text's 0.9 separates them, and so does the scorer."""
    gold = {f"p{i}": 1 for i in range(right_pos)} | {f"n{i}": -1 for i in range(right_neg)}
    answers = pd.DataFrame(
        [(e, "w", 4 if label == 1 else 1) for e, label in gold.items()],
        columns=["example_id", "worker_id", "value"],
    )
    p_sensitivity = 1 - 0.5 ** (right_pos + 1)
    rule = WorkerFilterRule()
    assert (p_sensitivity >= rule.trust_level) == (status == "trusted")
    assert f"both ≥ {rule.trust_level:g}" in quality_rule_text(rule)
    assert score_workers(answers, gold, rule)["status"].tolist() == [status]


def test_project_page_shows_the_projects_rule(
    client: TestClient, session: Session, admin_token: str
) -> None:
    pid = toy_project(session)  # min_gold=2, credible_level=None
    sign_in(client, admin_token)
    page = html.unescape(client.get(f"/admin/projects/{pid}").text)
    rule = WorkerFilterRule(min_gold=2, min_accuracy=0.5, credible_level=None)
    assert f"Rule: {quality_rule_text(rule)}." in page
    assert "after 2 gold answers" in page and "posterior mean gold accuracy below 0.5" in page
    assert "judged after" not in page  # the old one-line Beta-mean rule
