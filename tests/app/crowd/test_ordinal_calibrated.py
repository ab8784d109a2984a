"""Ordinal Dawid-Skene and the per-worker calibrated mean, against hand-computed toy tables."""

from __future__ import annotations

import math
from typing import get_args

import numpy as np
import pandas as pd
import pytest

from app.crowd import GOLD_FREE_METHODS, METHODS, REGISTRY, CrowdInputError, aggregate
from app.crowd.calibrated import CalibratedMean
from app.crowd.ordinal_ds import OrdinalDawidSkene
from app.schemas.crowd import AggregationMethod


def _table(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"example_id": e, "worker_id": w, "value": v, "submitted_at": t}
            for t, (e, w, v) in enumerate(rows)
        ]
    )


# h reads the scale high (3 = no, 4 = yes), l reads it low (1 = no, 2 = yes); e4 and e5 have
# one answer each, so the plain mean reads them through the worker's offset and gets both wrong.
SHIFTED = [
    ("e0", "h", 3), ("e1", "h", 4), ("e2", "h", 3), ("e3", "h", 4), ("e4", "h", 3),
    ("e0", "l", 1), ("e1", "l", 2), ("e2", "l", 1), ("e3", "l", 2), ("e5", "l", 2),
]  # fmt: skip
TRUTH = [-1, 1, -1, 1, -1, 1]


def test_calibrated_mean_by_hand_removes_each_workers_offset() -> None:
    fitted = CalibratedMean(shrink=0.0).fit(_table(SHIFTED))
    assert fitted.labels_.tolist() == TRUTH
    # h: answers 3,4,3,4,3 -> mean 3.4, sd sqrt(0.24); crowd: mean 2.5, sd sqrt(1.05).
    assert fitted.worker_means_["h"] == pytest.approx(3.4)
    assert fitted.worker_sds_["l"] == pytest.approx(math.sqrt(0.24))
    z = (3 - 3.4) / math.sqrt(0.24)
    assert fitted.mean_scores_["e4"] == pytest.approx(2.5 + math.sqrt(1.05) * z)
    assert fitted.mean_scores_["e5"] == pytest.approx(2.5 - math.sqrt(1.05) * z)
    plain = aggregate(_table(SHIFTED), method="mean").set_index("example_id")["label"]
    assert plain[["e4", "e5"]].tolist() == [1, -1]  # the mean rule is fooled
    assert ((fitted.confidences_ >= 0) & (fitted.confidences_ <= 1)).all()


def test_calibrated_mean_is_the_mean_rule_for_one_worker_and_shrinks_few_answers() -> None:
    one = _table([("a", "w", 4), ("b", "w", 1), ("c", "w", 2)])
    got = aggregate(one, method="calibrated_mean")
    assert got["label"].tolist() == aggregate(one, method="mean")["label"].tolist()
    assert got["mean_score"].to_numpy() == pytest.approx([4.0, 1.0, 2.0])
    # A constant worker (sd 0) is read on the crowd's scale, not divided by zero.
    const = _table([("a", "c", 3), ("b", "c", 3), ("a", "d", 4), ("b", "d", 1)])
    fitted = CalibratedMean().fit(const)
    assert np.isfinite(fitted.mean_scores_).all() and fitted.worker_sds_["c"] > 0
    with pytest.raises(ValueError, match="shrink"):
        CalibratedMean(shrink=-1.0).fit(const)


def _hand_ordinal_one_step(rows: list[tuple[str, str, int]], s: float) -> dict[str, float]:
    """One EM step written out with dictionaries (an independent oracle)."""
    examples = sorted({e for e, _, _ in rows})
    workers = sorted({w for _, w, _ in rows})
    t0 = {e: np.mean([v > 2.5 for e2, _, v in rows if e2 == e]) for e in examples}
    prior = np.mean(list(t0.values()))
    theta: dict[tuple[str, int], list[float]] = {}
    for c in (0, 1):
        weight = {e: t0[e] if c == 1 else 1 - t0[e] for e in examples}
        pooled = [1.0] * 4
        for e, _, v in rows:
            pooled[v - 1] += weight[e]
        pooled = [p / sum(pooled) for p in pooled]
        for w in workers:
            mass = [s * p for p in pooled]
            for e, w2, v in rows:
                if w2 == w:
                    mass[v - 1] += weight[e]
            theta[(w, c)] = [m / sum(mass) for m in mass]
    out = {}
    for e in examples:
        lo = math.log(prior / (1 - prior))
        for e2, w, v in rows:
            if e2 == e:
                lo += math.log(theta[(w, 1)][v - 1] / theta[(w, 0)][v - 1])
        out[e] = 1 / (1 + math.exp(-lo))
    return out


def test_ordinal_dawid_skene_one_em_step_matches_the_hand_computation() -> None:
    rows = [*SHIFTED, ("e4", "m", 1), ("e5", "m", 4), ("e0", "m", 2), ("e1", "m", 3)]
    fitted = OrdinalDawidSkene(max_iter=1, smoothing=0.5).fit(_table(rows))
    expected = _hand_ordinal_one_step(rows, 0.5)
    for e, p in expected.items():
        assert fitted.probas_[e] == pytest.approx(p, rel=1e-9)
    assert fitted.n_iter_ == 1
    for table in fitted.confusions_.values():
        assert table.shape == (2, 4) and table.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_ordinal_dawid_skene_reads_levels_a_binarised_vote_throws_away() -> None:
    # l never answers above 2.5, so its binarised votes are all "no"; its 2 vs 1 still tells the
    # classes apart. Many examples: h and l on each, plus examples only l answered.
    rng = np.random.default_rng(0)
    rows, truth = [], {}
    for i in range(60):
        e = f"x{i}"
        y = int(rng.integers(0, 2))
        truth[e] = 1 if y else -1
        rows.append((e, "l", 2 if y else 1))
        if i < 40:
            rows.append((e, "h", 4 if y else 1))
    data = _table(rows)
    ods = aggregate(data, method="ordinal_dawid_skene").set_index("example_id")["label"]
    binary = aggregate(data, method="dawid_skene").set_index("example_id")["label"]
    only_l = [f"x{i}" for i in range(40, 60)]
    acc = {
        name: float(np.mean([labels[e] == truth[e] for e in only_l]))
        for name, labels in (("ordinal", ods), ("binary", binary))
    }
    assert acc["ordinal"] == 1.0
    assert acc["binary"] < 0.8


def test_ordinal_dawid_skene_rejects_bad_parameters() -> None:
    data = _table(SHIFTED)
    with pytest.raises(ValueError, match="max_iter"):
        OrdinalDawidSkene(max_iter=0).fit(data)
    with pytest.raises(ValueError, match="smoothing"):
        OrdinalDawidSkene(smoothing=0).fit(data)


def test_one_registry_lists_every_method_everywhere() -> None:
    from app.api.routes import admin_pages
    from app.commands import lifecycle
    from app.workflows import table6

    assert {"ordinal_dawid_skene", "calibrated_mean"} <= set(METHODS)
    assert tuple(REGISTRY) == METHODS
    assert get_args(AggregationMethod) == METHODS
    assert admin_pages.METHODS == METHODS
    assert lifecycle._METHODS == METHODS
    assert table6.Table6Config().methods == METHODS
    assert "weighted" not in GOLD_FREE_METHODS and "calibrated_mean" in GOLD_FREE_METHODS
    for method in METHODS:
        got = aggregate(_table(SHIFTED), method=method)
        assert len(got) == 6 and set(got["label"]) <= {-1, 1}
    with pytest.raises(CrowdInputError, match="calibrated_mean"):
        aggregate(_table(SHIFTED), method="nope")
