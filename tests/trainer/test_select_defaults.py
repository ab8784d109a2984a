"""Validation-only selection of the FR-Train defaults (trainer.experiments.select_defaults)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainer.data.base import Dataset, Split
from trainer.experiments import select_defaults as sd


class _Poisoned:
    """A test split that must never be read: any attribute access fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"test split accessed during selection: {name}")

    def __len__(self) -> int:
        raise AssertionError("test split accessed during selection: len")


def _toy(seed: int = 0) -> Dataset:
    """Two features, group z; y depends on x0 only, so a trained model beats a frozen one."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> Split:
        X = rng.normal(size=(n, 2)).astype(np.float32)
        z = rng.integers(0, 2, n).astype(np.int64)
        y = np.where(X[:, 0] + 0.2 * rng.normal(size=n) > 0, 1, -1).astype(np.int8)
        return Split(X=X, y=y, z=z)

    return Dataset(
        name="toy", train=split(300), val=split(120), test=_Poisoned(),  # type: ignore[arg-type]
        feature_names=["x0", "x1"], sensitive_name="z",
    )  # fmt: skip


def _cand(name: str, lr: float) -> sd.Candidate:
    params = dict(epochs=60, pretrain_epochs=40, k=2, lr_g=lr, lr_f=lr, lr_r=lr, c_pre=1.0)
    return sd.Candidate(name=name, lambda_r=0.1, lambda_f=(0.1, 0.2), params=params)


def test_selection_never_reads_test_and_picks_better_validation_candidate() -> None:
    ds = _toy()
    # "frozen": learning rate 0, G stays at its random initialisation; "trained" learns x0.
    cands = [_cand("frozen", 0.0), _cand("trained", 0.05)]
    sel = sd.select_defaults(
        cands, {0: ds, 1: ds}, chooser=sd.api_chooser, min_di=0.0, progress=False,
        log=lambda _: None,
    )  # fmt: skip
    # Oracle: recompute each candidate's chosen models' validation accuracy by hand.
    va = ds.val
    means = [
        np.mean([np.mean(m.predict(va.X, va.z) == va.y) for m in sel.models[ci].values()])
        for ci in range(len(cands))
    ]
    assert means[1] > means[0] + 0.1
    assert sel.winner == int(np.argmax(means))
    assert sel.candidates[sel.winner].name == "trained"
    assert [s.acc_mean for s in sel.scores] == pytest.approx(means)
    # the report needs a real test split, and only runs after selection
    with pytest.raises(AssertionError, match="test split accessed"):
        sd.report_test(sel, {0: ds, 1: ds})


def test_sealed_split_raises() -> None:
    sealed = sd.seal(_toy())
    with pytest.raises(sd.TestSplitAccessError, match="validation data only"):
        _ = sealed.test.X


def _score(name: str, accs: list[float], dis: list[float], floor: float = 0.8) -> sd.Score:
    choices = [
        sd.SeedChoice(seed=i, index=0, lambda_f=0.5, val_acc=a, val_di=d, meets=d >= floor)
        for i, (a, d) in enumerate(zip(accs, dis, strict=True))
    ]
    return sd.score_candidate(name, choices)


def test_pick_winner_rules() -> None:
    # infeasible (2 of 5 seeds meet DI 0.8) loses to a less accurate feasible one
    a = _score("a", [0.9] * 5, [0.9, 0.9, 0.5, 0.5, 0.5])
    b = _score("b", [0.8] * 5, [0.85, 0.85, 0.85, 0.5, 0.5])
    assert (a.feasible, b.feasible) == (False, True)
    assert sd.pick_winner([a, b], tie_tol=0.005)[0] == 1
    # within the tie tolerance the smaller DI spread wins; outside it accuracy wins
    c = _score("c", [0.803] * 5, [0.81, 0.95, 0.81, 0.95, 0.5])
    d = _score("d", [0.800] * 5, [0.85, 0.85, 0.85, 0.85, 0.85])
    assert sd.pick_winner([c, d], tie_tol=0.005)[0] == 1
    assert sd.pick_winner([c, d], tie_tol=0.001)[0] == 0
    # nothing feasible: most seeds meeting the floor, then mean DI
    e = _score("e", [0.9] * 4, [0.9, 0.5, 0.5, 0.5])
    f = _score("f", [0.7] * 4, [0.9, 0.9, 0.5, 0.5])
    i, why = sd.pick_winner([e, f], tie_tol=0.005)
    assert i == 1 and "no candidate feasible" in why


def test_crowd_validation_frame_mean_rule_and_gold(tmp_path: Any) -> None:
    rng = np.random.default_rng(3)
    n = 20
    answers = rng.integers(1, 5, size=(n, 3))
    frame = pd.DataFrame({"example_idx": range(n), "age": rng.integers(20, 60, n)})
    frame["true_label"] = np.where(rng.random(n) > 0.5, 1, -1)
    for j in range(3):
        frame[f"ans_{j + 1}"] = answers[:, j]
        frame[f"worker_id_{j + 1}"] = [f"w{j}"] * n  # 5+ gold answers each, honest or not
    path = tmp_path / "crowd.csv"
    frame.to_csv(path, index=False)
    out = sd.crowd_validation_frame(path, gold_fraction=0.25, gold_seed=1, min_gold=100)
    gold = set(np.random.default_rng(1).choice(n, size=5, replace=False).tolist())
    assert sorted(out["example_id"]) == [i for i in range(n) if i not in gold]
    expect = np.where(answers.mean(1) > 2.5, 1, -1)
    assert out["label"].tolist() == expect[out["example_id"].to_numpy()].tolist()
    assert "true_label" not in out.columns and "ans_1" not in out.columns


def test_cli_prints_validation_table_before_the_test_report(tmp_path: Any) -> None:
    import json

    import torch
    import typer
    from typer.testing import CliRunner

    from trainer import cli

    root = typer.Typer()
    cli.register(root)
    n_threads = torch.get_num_threads()
    out = tmp_path / "sel.json"
    try:
        res = CliRunner().invoke(
            root,
            ["reproduce", "select-defaults", "--data", "synthetic", "--seeds", "0",
             "--epochs", "30", "--no-progress", "--json", str(out)],
        )  # fmt: skip
    finally:
        torch.set_num_threads(n_threads)
    assert res.exit_code == 0, res.output
    text = res.output
    # each data set's validation table comes before its own test report
    t1 = text.index("synthetic-poisoned: validation-only selection")
    t2 = text.index("synthetic-clean: validation-only selection")
    r1 = text.index("REPORT ONLY")
    r2 = text.index("REPORT ONLY", r1 + 1)
    assert t1 < r1 < t2 < r2
    data = json.loads(out.read_text())
    assert len(data["synthetic-poisoned"]["candidates"]) == 6
    assert len(data["synthetic-clean"]["candidates"]) == 4
    for block in data.values():
        names = [c["name"] for c in block["candidates"]]
        assert block["winner"] in names
        assert block["test_report_after_selection"]["winner"] == block["winner"]
        # every candidate keeps lambda_1 + lambda_2 <= 0.95 (paper Appendix A.4)
        for c in block["candidates"]:
            assert max(c["lambda_f"]) + c["lambda_r"] <= 0.95 + 1e-9


def test_cli_rejects_unknown_data() -> None:
    import typer
    from typer.testing import CliRunner

    from trainer import cli

    root = typer.Typer()
    cli.register(root)
    res = CliRunner().invoke(root, ["reproduce", "select-defaults", "--data", "german"])
    assert res.exit_code != 0
    assert "synthetic, compas or adult" in res.output
    res = CliRunner().invoke(
        root, ["reproduce", "select-defaults", "--data", "adult", "--epochs", "5"]
    )
    assert res.exit_code != 0 and "--epochs does not apply" in res.output


def test_adult_candidates_are_step_counts_of_the_real_defaults() -> None:
    from trainer.api import FRTRAIN_DEFAULTS
    from trainer.experiments import paper as P

    real = FRTRAIN_DEFAULTS["real"]
    n = len(P.load_data("adult", "clean").train)
    per_epoch = -(-n // 2048)
    cands = sd.adult_candidates((2000, 8000))
    assert [c.name for c in cands] == ["steps=2000", "steps=8000"]
    for c, steps in zip(cands, (2000, 8000), strict=True):
        assert c.lambda_r == real["l2"][0] and list(c.lambda_f) == real["l1"]
        assert abs(c.params["epochs"] * per_epoch - steps) <= per_epoch / 2
        assert c.params["batch_size"] == 2048 and c.params["lr_g"] == real["lr_g"]
    # The reproduction's AdultCensus schedule is one of the candidates.
    harness = P.fr_settings("adult", "poisoned", P.FULL)["params"]
    assert any(
        all(harness[k] == c.params[k] for k in ("epochs", "pretrain_epochs", "batch_size"))
        for c in cands
    )
