"""Worker quality: class-aware scores on hidden gold plus checks on the answer distribution.

Section 4.4 of the FR-Train paper filters "poor performers" with hidden gold questions. A single
gold accuracy cannot be trusted on its own: when most gold items are negative, a worker who
answers "1" to everything scores high. So every worker is scored **per class**:

* ``sensitivity`` (share of positive gold answered positive) and ``specificity`` (share of
  negative gold answered negative), each the posterior mean of a Beta(``prior_a``, ``prior_b``)
  prior, with an equal-tailed ``interval_level`` interval (``*_low`` / ``*_high``);
* ``p_better_than_chance`` = P(sensitivity + specificity > 1 | gold): the posterior probability
  that the worker's positive answers are more frequent on positive items than on negative ones
  (Youden's J > 0). A worker who always gives the same answer has J = 0 whatever the gold mix;
* ``accuracy`` is **the posterior mean of the overall gold accuracy**, ``(n_correct + a) /
  (n_gold + a + b)`` (so 1 of 3 right shows as 0.40 under Beta(1, 1)); ``raw_accuracy`` is
  ``n_correct / n_gold``. Both are reported for reference; no status is decided on them alone;
* from the answer distribution (every answer, gold or not): ``modal_share`` (share of the
  worker's most frequent answer) and ``peer_corr`` / ``peer_z``: the Pearson correlation of the
  worker's answers with the mean of the *other* workers' answers on the same examples, and its
  Fisher z statistic ``atanh(r) * sqrt(n - 3)`` (reported, not decided on);
* ``skill``: J = sensitivity + specificity - 1 over **all** the worker's answers, each compared
  with the label that the gold (where known) or the *other* workers' answers imply (binary
  Dawid-Skene EM with gold clamped; the worker's own answer is left out of its example's
  posterior), and ``p_skilled`` = P(J > ``min_skill``) under Beta posteriors of those soft
  counts. Gold alone is too small to catch a random clicker (12 gold answers of which 9 are
  negative say little); all answers against the crowd's labels say much more.

Statuses, in order of precedence (``reason`` says which rule decided):

* ``blocked``: named in the admin's ``blocked`` set;
* ``filtered`` (answers left out of aggregation), when any of:
  constant answers (one value for all of at least ``min_pattern_answers`` answers); credibly at
  or below chance on gold (P(J <= 0) >= ``credible_level``, given ``min_gold`` gold answers);
  overall gold accuracy credibly below ``min_accuracy`` (the original rule); answers credibly
  against the crowd's labels (P(skill <= 0) >= ``credible_level`` over at least
  ``min_pattern_answers`` answers, unless gold says the worker is skilled); after
  ``decide_after`` gold answers, skill probably below ``min_skill`` (``p_skilled < 0.5``),
  which catches random and near-constant answering;
* ``trusted``: credibly better than chance **on both classes**: P(sensitivity > 1/2) and
  P(specificity > 1/2) both at least ``trust_level`` (needs gold of both classes);
* ``pending``: everyone else (not enough evidence either way; answers kept).

These functions only read the
answer table; nothing is deleted. ``gold_warnings`` says when the gold set is class-imbalanced
or too small to judge anyone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betainc, betaincinv, betaln

from app.crowd._table import DEFAULT_THRESHOLD, CrowdInputError, check_threshold, validate_answers

PENDING, TRUSTED, FILTERED, BLOCKED = "pending", "trusted", "filtered", "blocked"
STATUSES = (PENDING, TRUSTED, FILTERED, BLOCKED)
#: Statuses whose answers aggregation leaves out.
EXCLUDED_STATUSES = frozenset({FILTERED, BLOCKED})
_ALIASES = {"prior_alpha": "prior_a", "prior_beta": "prior_b"}
SCORE_COLUMNS = (
    "worker_id",
    "n_answers",
    "n_gold",
    "n_correct",
    "accuracy",
    "raw_accuracy",
    "n_gold_pos",
    "n_correct_pos",
    "n_gold_neg",
    "n_correct_neg",
    "sensitivity",
    "sensitivity_low",
    "sensitivity_high",
    "specificity",
    "specificity_low",
    "specificity_high",
    "p_better_than_chance",
    "modal_share",
    "peer_corr",
    "peer_z",
    "skill",
    "p_skilled",
    "status",
    "reason",
)
#: Points of the midpoint rule that integrates P(sensitivity + specificity > 1).
_GRID = 400

ERR_RULE_TYPE = "rule must be a WorkerFilterRule, a dict or None; got {kind}"
ERR_RULE_KEYS = "unknown worker-filter rule key(s) {keys}; allowed: {allowed}"
ERR_RULE_FIELD = "worker-filter rule {name} must be {what}; got {value!r}"
ERR_RULE_ALIAS = "worker-filter rule has both {alias} and {name}; give one"
ERR_GOLD_LABEL = "gold label for example {example!r} must be +1 or -1; got {label!r}"


@dataclass(frozen=True)
class WorkerFilterRule:
    """When a worker is judged, trusted and filtered out (see the module docstring).

    Attributes:
        prior_a: Beta prior pseudo-count of correct gold answers (> 0), per class and overall.
        prior_b: Beta prior pseudo-count of wrong gold answers (> 0).
        min_gold: gold answers needed before a worker is judged on gold (>= 0).
        min_accuracy: the overall gold accuracy a worker must not credibly fall below.
        credible_level: ``None``: filter when the posterior mean accuracy is below
            ``min_accuracy``. A level in (0, 1): how sure a rule must be before it filters.
        trust_level: P(class accuracy > 1/2) needed on both classes to be ``trusted``; also
            the P(J > 0) that counts as credible skill on gold.
        decide_after: gold answers after which a worker with no credible skill is filtered.
        min_pattern_answers: answers needed before the answer-distribution checks apply
            (0 turns them off: only gold judges).
        interval_level: level of the reported equal-tailed intervals.
        min_skill: the skill J = sensitivity + specificity - 1 (over all answers, against the
            labels the other workers and the gold imply) a worker must credibly reach after
            ``decide_after`` gold answers; 0.1 is a symmetric accuracy of 55%.

    Why the defaults (Beta(1, 1); judged after 5 gold answers; filtered only on credible
    evidence): a hidden-gold budget of about 20% leaves most workers with roughly 6 gold answers,
    and at that size an honest worker of accuracy 0.6 has a posterior mean below 0.5 with
    probability 0.18 (binomial, 2 or fewer of 6 right), so a mean threshold throws away good
    answers (0.664 at 0.5 against 0.674 unfiltered on COMPAS). A worker who shows no skill after
    12 gold answers (``decide_after``) and whose answers do not track the other workers' is very
    unlikely to be an honest one: an honest 70%-accurate worker with 40 answers has ``peer_z``
    above 1.645 in almost every draw (tests/app/crowd/test_quality_scenario.py).
    """

    prior_a: float = 1.0
    prior_b: float = 1.0
    min_gold: int = 5
    min_accuracy: float = 0.5
    credible_level: float | None = 0.95
    trust_level: float = 0.9
    decide_after: int = 12
    min_pattern_answers: int = 10
    interval_level: float = 0.9
    min_skill: float = 0.1

    def __post_init__(self) -> None:
        for name in ("prior_a", "prior_b"):
            value = getattr(self, name)
            if not _is_number(value) or not value > 0 or not math.isfinite(value):
                raise CrowdInputError(
                    ERR_RULE_FIELD.format(name=name, what="a number > 0", value=value)
                )
        for name in ("min_gold", "decide_after", "min_pattern_answers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise CrowdInputError(
                    ERR_RULE_FIELD.format(name=name, what="an integer >= 0", value=value)
                )
        if not _is_number(self.min_accuracy) or not 0.0 <= self.min_accuracy <= 1.0:
            raise CrowdInputError(
                ERR_RULE_FIELD.format(
                    name="min_accuracy", what="a number in [0, 1]", value=self.min_accuracy
                )
            )
        level = self.credible_level
        if level is not None and (not _is_number(level) or not 0.0 < level < 1.0):
            raise CrowdInputError(
                ERR_RULE_FIELD.format(
                    name="credible_level", what="null or a number in (0, 1)", value=level
                )
            )
        if not _is_number(self.min_skill) or not 0.0 <= self.min_skill < 1.0:
            raise CrowdInputError(
                ERR_RULE_FIELD.format(
                    name="min_skill", what="a number in [0, 1)", value=self.min_skill
                )
            )
        for name in ("trust_level", "interval_level"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 < value < 1.0:
                raise CrowdInputError(
                    ERR_RULE_FIELD.format(name=name, what="a number in (0, 1)", value=value)
                )

    @property
    def level(self) -> float:
        """The credibility the filtering rules need (``credible_level``, 0.95 when null)."""
        return 0.95 if self.credible_level is None else float(self.credible_level)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable) of the rule."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerFilterRule:
        """Build a rule from a dict; missing keys take the defaults, unknown keys are an error.

        ``prior_alpha`` / ``prior_beta`` are accepted as spellings of ``prior_a`` / ``prior_b``
        (the names the project schema stores).
        """
        allowed = [f.name for f in fields(cls)]
        data = dict(data)
        for alias, name in _ALIASES.items():
            if alias in data:
                if name in data:
                    raise CrowdInputError(ERR_RULE_ALIAS.format(alias=alias, name=name))
                data[name] = data.pop(alias)
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise CrowdInputError(
                ERR_RULE_KEYS.format(keys=", ".join(unknown), allowed=", ".join(allowed))
            )
        return cls(**data)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def as_rule(rule: WorkerFilterRule | Mapping[str, Any] | None) -> WorkerFilterRule:
    """Normalise ``None`` / dict / ``WorkerFilterRule`` to a ``WorkerFilterRule``."""
    if rule is None:
        return WorkerFilterRule()
    if isinstance(rule, WorkerFilterRule):
        return rule
    if isinstance(rule, Mapping):
        return WorkerFilterRule.from_dict(rule)
    raise CrowdInputError(ERR_RULE_TYPE.format(kind=type(rule).__name__))


def _gold_series(gold: Mapping[Any, int]) -> pd.Series:
    items = list(gold.items())
    for example, label in items:
        if isinstance(label, bool) or label not in (1, -1):
            raise CrowdInputError(ERR_GOLD_LABEL.format(example=example, label=label))
    return pd.Series(
        [int(label) for _, label in items],
        index=pd.Index([example for example, _ in items], dtype=object),
        dtype=np.int64,
    )


def p_sum_above_one(
    a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray, margin: float = 0.0
) -> np.ndarray:
    """P(X + Y > 1 + margin) for independent X ~ Beta(a1, b1), Y ~ Beta(a2, b2), elementwise.

    ``P = E_Y[P(X > 1 + margin - Y)]``, integrated by the midpoint rule on ``_GRID`` points
    (error below 1e-4 for the pseudo-counts seen here).
    """
    y = (np.arange(_GRID) + 0.5) / _GRID
    a1, b1, a2, b2 = (np.asarray(v, dtype=np.float64)[:, None] for v in (a1, b1, a2, b2))
    log_pdf = (a2 - 1) * np.log(y) + (b2 - 1) * np.log1p(-y) - betaln(a2, b2)
    tail = 1.0 - betainc(a1, b1, np.clip(1.0 + margin - y, 0.0, 1.0))
    weights = np.exp(log_pdf)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.asarray(np.clip((weights * tail).sum(axis=1), 0.0, 1.0))


def _peer_agreement(table: pd.DataFrame, worker_codes: np.ndarray, n_workers: int) -> tuple:
    """Per worker: answers with at least one other answer on the example, Pearson r with the
    mean of the others' answers there, and Fisher's z = atanh(r) sqrt(n - 3)."""
    value = table["value"].to_numpy(dtype=np.float64)
    example = pd.factorize(table["example_id"])[0]
    count = np.bincount(example).astype(np.float64)
    total = np.bincount(example, weights=value)
    others = count[example] - 1
    ok = others > 0
    loo = np.where(ok, (total[example] - value) / np.maximum(others, 1), 0.0)
    w = worker_codes[ok]
    x, y = value[ok], loo[ok]
    n = np.bincount(w, minlength=n_workers).astype(np.float64)

    def s(v: np.ndarray) -> np.ndarray:
        return np.bincount(w, weights=v, minlength=n_workers)

    sx, sy, sxx, syy, sxy = s(x), s(y), s(x * x), s(y * y), s(x * y)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sy / n
        vx, vy = sxx - sx * sx / n, syy - sy * sy / n
        r = cov / np.sqrt(vx * vy)
    r = np.where(np.isfinite(r) & (vx > 1e-12) & (vy > 1e-12), r, 0.0)
    r = np.clip(r, -0.999999, 0.999999)
    z = np.arctanh(r) * np.sqrt(np.maximum(n - 3, 0.0))
    return n.astype(np.int64), r, z


def _soft_skill(
    table: pd.DataFrame,
    worker_codes: np.ndarray,
    n_workers: int,
    gold_label: np.ndarray,
    said_pos: np.ndarray,
    *,
    iterations: int = 20,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Soft confusion counts (TP, FN, TN, FP) per worker against the labels the *other*
    workers' answers and the gold imply: binary Dawid-Skene EM on the binarised answers with the
    gold labels clamped; each answer is compared with its example's posterior computed without
    that answer (so a worker's own votes never vouch for them)."""
    if len(table) == 0:
        empty = np.zeros(n_workers)
        return empty, empty, empty, empty
    example = pd.factorize(table["example_id"])[0]
    n_ex = int(example.max()) + 1
    gold_of = np.full(n_ex, np.nan)
    gold_of[example] = gold_label
    clamped = ~np.isnan(gold_of)
    pos = said_pos.astype(np.float64)
    share = np.bincount(example, weights=pos, minlength=n_ex) / np.maximum(
        np.bincount(example, minlength=n_ex), 1
    )
    p = np.where(clamped, gold_of > 0, share).astype(np.float64)
    contrib = np.zeros(len(example))
    for _ in range(iterations):
        q = p[example]
        tp = np.bincount(worker_codes, weights=q * pos, minlength=n_workers)
        fn = np.bincount(worker_codes, weights=q * (1 - pos), minlength=n_workers)
        tn = np.bincount(worker_codes, weights=(1 - q) * (1 - pos), minlength=n_workers)
        fp = np.bincount(worker_codes, weights=(1 - q) * pos, minlength=n_workers)
        sens, spec = (tp + 1) / (tp + fn + 2), (tn + 1) / (tn + fp + 2)
        w_pos = np.log(sens / (1 - spec))
        w_neg = np.log((1 - sens) / spec)
        contrib = np.where(said_pos, w_pos[worker_codes], w_neg[worker_codes])
        prior = float(np.clip(p.mean(), 0.05, 0.95))
        llr = np.bincount(example, weights=contrib, minlength=n_ex) + np.log(prior / (1 - prior))
        p = np.where(clamped, gold_of > 0, 1 / (1 + np.exp(-np.clip(llr, -30, 30))))
    prior = float(np.clip(p.mean(), 0.05, 0.95))
    llr = np.bincount(example, weights=contrib, minlength=n_ex) + np.log(prior / (1 - prior))
    loo = 1 / (1 + np.exp(-np.clip(llr[example] - contrib, -30, 30)))
    q = np.where(clamped[example], gold_of[example] > 0, loo)
    return (
        np.bincount(worker_codes, weights=q * pos, minlength=n_workers),
        np.bincount(worker_codes, weights=q * (1 - pos), minlength=n_workers),
        np.bincount(worker_codes, weights=(1 - q) * (1 - pos), minlength=n_workers),
        np.bincount(worker_codes, weights=(1 - q) * pos, minlength=n_workers),
    )


def score_workers(
    answers: pd.DataFrame,
    gold: Mapping[Any, int],
    rule: WorkerFilterRule | Mapping[str, Any] | None = None,
    blocked: set[str] | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """Score every worker in ``answers`` on the gold questions and the answer distribution.

    Args:
        answers: long table ``example_id, worker_id, value[, submitted_at]``: every answer of
            the project (the distribution checks read non-gold answers too).
        gold: example id -> gold label (+1 / -1). Ids absent from ``answers`` are ignored.
        rule: a ``WorkerFilterRule``, its dict form, or ``None`` for the default rule.
        blocked: worker ids an admin blocked; they get status ``blocked``.
        threshold: answers above it count as a positive answer.

    Returns:
        One row per worker of ``answers`` (sorted by worker id) with the ``SCORE_COLUMNS``
        described in the module docstring; ``reason`` is a sentence saying why the worker has
        its status.
    """
    table = validate_answers(answers)
    threshold = check_threshold(threshold)
    rule = as_rule(rule)
    gold_labels = _gold_series(gold)
    # Look the gold up through an object index so int / numpy-int ids compare as equal values.
    example_ids = pd.Index(table["example_id"].to_numpy(), dtype=object)
    label = gold_labels.reindex(example_ids).to_numpy(dtype=np.float64, na_value=np.nan)
    is_gold = ~np.isnan(label)
    said_pos = table["value"].to_numpy() > threshold
    correct = is_gold & (said_pos == (label > 0))
    codes, uniques = pd.factorize(table["worker_id"], sort=True)
    k = len(uniques)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=mask.astype(np.float64), minlength=k).astype(np.int64)

    n_answers = np.bincount(codes, minlength=k).astype(np.int64)
    n_gold, n_correct = count(is_gold), count(correct)
    n_pos, c_pos = count(is_gold & (label > 0)), count(correct & (label > 0))
    n_neg, c_neg = count(is_gold & (label < 0)), count(correct & (label < 0))
    a, b = rule.prior_a, rule.prior_b
    post_a, post_b = n_correct + a, n_gold - n_correct + b
    accuracy = post_a / (post_a + post_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(n_gold > 0, n_correct / np.maximum(n_gold, 1), np.nan)
    sa, sb = c_pos + a, n_pos - c_pos + b
    pa, pb = c_neg + a, n_neg - c_neg + b
    tail = (1.0 - rule.interval_level) / 2
    p_j = p_sum_above_one(sa, sb, pa, pb) if k else np.zeros(0)
    value_counts = np.zeros((k, 4), dtype=np.int64)
    np.add.at(value_counts, (codes, table["value"].to_numpy() - 1), 1)
    modal_share = value_counts.max(axis=1) / np.maximum(n_answers, 1)
    _n_peer, peer_r, peer_z = _peer_agreement(table, codes, k)
    tp, fn, tn, fp = _soft_skill(table, codes, k, label, said_pos)
    skill = (tp + a) / (tp + fn + a + b) + (tn + a) / (tn + fp + a + b) - 1.0
    p_skilled = p_sum_above_one(tp + a, fn + b, tn + a, fp + b, rule.min_skill) if k else skill
    p_positive_j = p_sum_above_one(tp + a, fn + b, tn + a, fp + b) if k else skill

    level = rule.level
    judged = n_gold >= max(rule.min_gold, 1)
    if rule.credible_level is None:
        below = accuracy < rule.min_accuracy
    else:
        # Regularised incomplete beta = posterior CDF: P(accuracy < min_accuracy | gold answers).
        below = betainc(post_a, post_b, rule.min_accuracy) >= rule.credible_level
    gold_skilled = p_j >= rule.trust_level
    patterns_on = rule.min_pattern_answers > 0
    peer_judged = patterns_on & (n_answers >= rule.min_pattern_answers)
    constant = patterns_on & (n_answers >= rule.min_pattern_answers) & (modal_share >= 1.0)
    trusted = (1.0 - betainc(sa, sb, 0.5) >= rule.trust_level) & (
        1.0 - betainc(pa, pb, 0.5) >= rule.trust_level
    )
    blocked_set = set(blocked or ())
    status: list[str] = []
    reason: list[str] = []
    for i, worker in enumerate(uniques):
        why = _decide(
            i,
            rule=rule,
            blocked=worker in blocked_set,
            constant=bool(constant[i]),
            judged=bool(judged[i]),
            at_chance=bool(judged[i] and 1.0 - p_j[i] >= level),
            below=bool(judged[i] and below[i]),
            against_peers=bool(
                peer_judged[i] and 1.0 - p_positive_j[i] >= level and not gold_skilled[i]
            ),
            no_skill=bool(n_gold[i] >= max(rule.decide_after, 1) and p_skilled[i] < 0.5),
            trusted=bool(judged[i] and trusted[i]),
            facts={
                "value": int(np.argmax(value_counts[i]) + 1),
                "n": int(n_answers[i]),
                "n_gold": int(n_gold[i]),
                "p_j": float(p_j[i]),
                "acc": float(accuracy[i]),
                "skill": float(skill[i]),
                "p_skilled": float(p_skilled[i]),
                "modal": float(modal_share[i]),
            },
        )
        status.append(why[0])
        reason.append(why[1])
    return pd.DataFrame(
        {
            "worker_id": uniques.to_numpy(),
            "n_answers": n_answers,
            "n_gold": n_gold,
            "n_correct": n_correct,
            "accuracy": accuracy.astype(np.float64),
            "raw_accuracy": raw.astype(np.float64),
            "n_gold_pos": n_pos,
            "n_correct_pos": c_pos,
            "n_gold_neg": n_neg,
            "n_correct_neg": c_neg,
            "sensitivity": sa / (sa + sb),
            "sensitivity_low": betaincinv(sa, sb, tail),
            "sensitivity_high": betaincinv(sa, sb, 1.0 - tail),
            "specificity": pa / (pa + pb),
            "specificity_low": betaincinv(pa, pb, tail),
            "specificity_high": betaincinv(pa, pb, 1.0 - tail),
            "p_better_than_chance": p_j.astype(np.float64),
            "modal_share": modal_share.astype(np.float64),
            "peer_corr": peer_r.astype(np.float64),
            "peer_z": peer_z.astype(np.float64),
            "skill": skill.astype(np.float64),
            "p_skilled": np.asarray(p_skilled, dtype=np.float64),
            "status": pd.Series(status, dtype=object).to_numpy(),
            "reason": pd.Series(reason, dtype=object).to_numpy(),
        },
        columns=list(SCORE_COLUMNS),
    )


def _decide(
    _i: int,
    *,
    rule: WorkerFilterRule,
    blocked: bool,
    constant: bool,
    judged: bool,
    at_chance: bool,
    below: bool,
    against_peers: bool,
    no_skill: bool,
    trusted: bool,
    facts: dict[str, Any],
) -> tuple[str, str]:
    """(status, reason) for one worker, by the precedence of the module docstring."""
    f = facts
    if blocked:
        return BLOCKED, "blocked by an admin"
    if constant:
        return FILTERED, f"constant answers: all {f['n']} answers are {f['value']}"
    if at_chance:
        return FILTERED, (
            f"credibly no better than chance on gold: P(sensitivity + specificity > 1) = "
            f"{f['p_j']:.2f} after {f['n_gold']} gold answers"
        )
    if below:
        return FILTERED, (
            f"gold accuracy credibly below {rule.min_accuracy:g} "
            f"(posterior mean {f['acc']:.2f} after {f['n_gold']} gold answers)"
        )
    if against_peers:
        return FILTERED, (
            f"answers run against the labels the other workers and the gold imply over all "
            f"{f['n']} answers (skill J = {f['skill']:.2f})"
        )
    if no_skill:
        kind = "near-constant" if f["modal"] >= 0.9 else "random-looking"
        return FILTERED, (
            f"no credible skill after {f['n_gold']} gold answers ({kind} answering): over all "
            f"{f['n']} answers J = sensitivity + specificity - 1 = {f['skill']:.2f}, "
            f"P(J > {rule.min_skill:g}) = {f['p_skilled']:.2f} < 0.5"
        )
    if trusted:
        return TRUSTED, (
            f"credibly better than chance on both classes (each with probability >= "
            f"{rule.trust_level:g}) after {f['n_gold']} gold answers"
        )
    if not judged:
        return PENDING, (
            f"{f['n_gold']} gold answer(s); {max(rule.min_gold, 1)} needed before judging"
        )
    return PENDING, (
        f"not yet credibly better than chance on both classes after {f['n_gold']} gold answers "
        f"(P(better than chance) = {f['p_j']:.2f}); answers kept"
    )


def gold_warnings(
    gold: Mapping[Any, int], scores: pd.DataFrame, rule: WorkerFilterRule | None = None
) -> list[str]:
    """Plain-language warnings about the gold set: class imbalance and too little to judge."""
    rule = rule or WorkerFilterRule()
    labels = list(gold.values())
    n_pos = sum(1 for v in labels if v == 1)
    n_neg = len(labels) - n_pos
    out: list[str] = []
    if not labels:
        return ["no hidden gold: no worker can be judged on gold (add hidden-check gold)"]
    minority = min(n_pos, n_neg) / len(labels)
    if minority < 0.3:
        major = "negative" if n_neg > n_pos else "positive"
        out.append(
            f"gold is class-imbalanced: {n_pos} positive / {n_neg} negative; a worker who always "
            f"answers {major} scores {max(n_pos, n_neg) / len(labels):.0%} overall accuracy, so "
            "judge by per-class scores and add gold of the minority class"
        )
    if min(n_pos, n_neg) < 5:
        out.append(
            f"gold has only {min(n_pos, n_neg)} item(s) of one class; per-class accuracy on it "
            "rests on very few answers"
        )
    if len(scores):
        need = max(rule.min_gold, 1)
        reached = int((scores["n_gold"] >= need).sum())
        median = float(np.median(scores["n_gold"]))
        if reached == 0 or median < need:
            out.append(
                f"gold too small to judge most workers: median {median:g} gold answers per "
                f"worker, {reached} of {len(scores)} worker(s) have the {need} needed"
            )
    return out


def excluded_workers(scores: pd.DataFrame) -> set[Any]:
    """Workers whose answers aggregation leaves out (status ``filtered`` or ``blocked``)."""
    mask = scores["status"].isin(list(EXCLUDED_STATUSES))
    return set(scores.loc[mask, "worker_id"].tolist())


def accuracy_weights(scores: pd.DataFrame) -> dict[Any, float]:
    """Per-worker weights for ``aggregate(method="weighted")``: the gold accuracy column."""
    accuracy = scores["accuracy"].astype(float).tolist()
    return dict(zip(scores["worker_id"].tolist(), accuracy, strict=True))
