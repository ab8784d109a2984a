"""What ``frtrain reproduce select-defaults`` compares, and on which data: the candidate
configurations (:class:`Candidate`; the synthetic, COMPAS and AdultCensus sets) and the data
each selection trains on (the synthetic DI rows, the demo's crowd validation set for COMPAS).

How they are run and judged (validation only, the rule fixed before any run) is
:mod:`trainer.experiments.select_defaults`, which re-exports these names; its docstring lists
the candidates compared and the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainer.data.base import Dataset


@dataclass(frozen=True)
class Candidate:
    """One configuration: lambda_2, its lambda_1 grid, and the other FR-Train arguments."""

    name: str
    lambda_r: float
    lambda_f: tuple[float, ...]
    params: Mapping[str, Any]


# -- candidate sets --------------------------------------------------------------------------
def shifted_grid(base: Sequence[float], base_r: float, lambda_r: float) -> tuple[float, ...]:
    """``base`` (a lambda_1 grid for ``base_r``) shifted so lambda_1 + lambda_2 is unchanged."""
    out = tuple(round(lf + base_r - lambda_r, 4) for lf in base)
    if min(out) <= 0:
        raise ValueError(f"shifting the grid to lambda_2 = {lambda_r} leaves lambda_1 <= 0")
    return out


def synthetic_candidates(poisoned: bool) -> list[Candidate]:
    """The synthetic configurations compared (incumbent default first)."""
    from trainer.experiments.synthetic import DEFAULT_SETTINGS

    setting = DEFAULT_SETTINGS["poisoned" if poisoned else "clean"]
    base_r = float(setting["lambda_r"])
    base = list(setting["lambda_f"])
    params = {k: v for k, v in setting["params"].items() if k != "average_last"}
    incumbent_avg = float(setting["params"].get("average_last", 0.5))
    considered: tuple[float, ...] = (0.2, 0.3, 0.4) if poisoned else (0.1, 0.2)
    lambda_rs = (base_r, *(r for r in considered if r != base_r))
    avgs = (incumbent_avg, 0.0 if incumbent_avg > 0 else 0.5)
    return [
        Candidate(
            name=f"l2={r:g} avg={'on' if a > 0 else 'off'}",
            lambda_r=r,
            lambda_f=shifted_grid(base, base_r, r),
            params={**params, "average_last": a},
        )
        for r in lambda_rs
        for a in avgs
    ]


def compas_candidates(epochs: int = 2_000) -> list[Candidate]:
    """The real-data (COMPAS) configurations compared (incumbent default first)."""
    from trainer.api import FRTRAIN_DEFAULTS

    real = FRTRAIN_DEFAULTS["real"]
    base_r = float(real["l2"][0])
    inc_lr = float(real["lr_g"])
    inc_avg = float(real["average_last"])
    fixed = dict(
        epochs=epochs, k=real["k"], pretrain_epochs=real["pretrain_epochs"], c_pre=real["c_pre"],
        reweight="paper", hidden=0, batch_size=None, fairness="dp",
    )  # fmt: skip
    out = []
    for r in (base_r, *(x for x in (0.1, 0.2, 0.3) if x != base_r)):
        for lr in (inc_lr, *(x for x in (1e-3, 1e-2) if x != inc_lr)):
            for a in (inc_avg, 0.0 if inc_avg > 0 else 0.5):
                out.append(
                    Candidate(
                        name=f"l2={r:g} lr={lr:g} avg={'on' if a > 0 else 'off'}",
                        lambda_r=r,
                        lambda_f=tuple(float(v) for v in real["l1"]),
                        params={**fixed, "lr_g": lr, "lr_f": lr, "lr_r": lr, "average_last": a},
                    )
                )
    return out


def adult_candidates(steps: Sequence[int] = (2_000, 8_000)) -> list[Candidate]:
    """AdultCensus (the reproduction's Tables 3, 7, 9): the number of optimisation steps.

    The real-data defaults otherwise (``trainer.api.FRTRAIN_DEFAULTS["real"]``: λ_r 0.3,
    λ_f 0.1-0.6, rates 1e-2, 500 pretraining steps); mini-batches of 2,048 rows. The
    incumbent (2,000 steps, as many as COMPAS's full-batch epochs) is listed first.
    """
    from trainer.api import FRTRAIN_DEFAULTS
    from trainer.experiments.paper import adult_schedule

    real = FRTRAIN_DEFAULTS["real"]
    return [
        Candidate(
            name=f"steps={n}",
            lambda_r=float(real["l2"][0]),
            lambda_f=tuple(float(v) for v in real["l1"]),
            params={
                **{
                    key: real[key] for key in ("k", "c_pre", "lr_g", "lr_f", "lr_r", "average_last")
                },
                "reweight": "paper",
                "hidden": 0,
                "fairness": "dp",
                **adult_schedule(n, int(real["pretrain_epochs"])),
            },
        )
        for n in steps
    ]


# -- data --------------------------------------------------------------------------------------
def synthetic_di_rows(data_dir: str | Path | None) -> Callable[[Dataset], Any]:
    """Validation rows plus the unused [2200, 2700) block's features (no labels) for DI."""
    from trainer.data.synthetic import load_synthetic_arrays
    from trainer.experiments.synthetic import VAL2_ROWS

    X_all, _, z_all, _ = load_synthetic_arrays(data_dir)
    lo, hi = VAL2_ROWS

    def rows(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
        va = ds.val
        return (
            np.concatenate([va.X, X_all[lo:hi]]),
            np.concatenate([va.z, z_all[lo:hi].astype(np.int64)]),
        )

    return rows


CROWD_FILE = Path("crowd") / "COMPAS_crowdsourcing_data.csv"


def crowd_validation_frame(
    path: str | Path,
    *,
    gold_fraction: float = 0.2,
    gold_seed: int = 0,
    n_max: int = 11,
    threshold: float = 2.5,
    min_gold: int = 5,
    credible_level: float = 0.95,
) -> pd.DataFrame:
    """The demo's crowd validation set, rebuilt without the service (paper Section 4.4).

    Mirrors ``frtrain demo``: a seeded ``round(gold_fraction * n)`` of the examples (file
    order, ``numpy.random.default_rng(gold_seed).choice``, as ``app.services.table6.
    choose_gold``) become hidden gold; a worker with at least ``min_gold`` gold answers is
    filtered when P(accuracy < 0.5 | gold answers) >= ``credible_level`` under a Beta(1, 1)
    prior (the service's default rule); each example's label is the mean of its first
    ``n_max`` remaining answers > ``threshold``; the gold rows are left out.

    Returns:
        The crowd file's feature columns with ``example_id`` and ``label`` (+1 / -1), one row
        per non-gold example with at least one remaining answer.
    """
    from scipy.special import betainc

    df = pd.read_csv(path)
    ans = [c for c in df.columns if c.startswith("ans_")]
    wid = [c for c in df.columns if c.startswith("worker_id_")]
    if not ans or len(ans) != len(wid) or "true_label" not in df.columns:
        raise ValueError(f"{path}: expected ans_1.., worker_id_1.. and true_label columns")
    n = len(df)
    n_gold = round(gold_fraction * n)
    if not 1 <= n_gold < n:
        raise ValueError(f"gold_fraction {gold_fraction} leaves no gold or no validation rows")
    gold = np.zeros(n, dtype=bool)
    gold[np.random.default_rng(gold_seed).choice(n, size=n_gold, replace=False)] = True
    values = df[ans].to_numpy(dtype=float)
    workers = df[wid].to_numpy(dtype=object)
    truth = df["true_label"].to_numpy() > 0
    correct = (values > threshold) == truth[:, None]
    n_g: dict[Any, int] = {}
    n_c: dict[Any, int] = {}
    for g_row in np.flatnonzero(gold):
        for w, ok in zip(workers[g_row], correct[g_row], strict=True):
            n_g[w] = n_g.get(w, 0) + 1
            n_c[w] = n_c.get(w, 0) + int(ok)
    bad = {
        w for w, g in n_g.items()
        if g >= min_gold and betainc(n_c[w] + 1.0, g - n_c[w] + 1.0, 0.5) >= credible_level
    }  # fmt: skip
    keep = ~np.isin(workers, list(bad)) & ~np.isnan(values)
    labels, used = [], []
    for r in range(n):
        v = values[r][keep[r]][:n_max]
        used.append(len(v))
        labels.append(1 if len(v) and v.mean() > threshold else -1)
    out = df.drop(columns=[*ans, *wid, "true_label"]).rename(columns={"example_idx": "example_id"})
    out["label"] = labels
    mask = ~gold & (np.array(used) > 0)
    out = out.loc[mask].reset_index(drop=True)
    out.attrs.update(n_examples=n, n_gold=n_gold, workers_filtered=len(bad))
    return out


def compas_datasets(
    seeds: Sequence[int],
    crowd_csv: str | Path,
    *,
    poison_fraction: float = 0.1,
    compas_path: str | Path | None = None,
) -> dict[int, Dataset]:
    """Per seed, the demo's data: COMPAS split by ``seed``, 10% top-margin flips in z = 1,
    the crowd validation set of :func:`crowd_validation_frame`."""
    from trainer import data as tdata

    frame = crowd_validation_frame(crowd_csv)
    out = {}
    for s in seeds:
        ds = tdata.load_compas(compas_path, seed=int(s))
        ds = tdata.poison(ds, attack="top_margin", budget=poison_fraction, target_group=1).dataset
        out[int(s)] = tdata.replace_validation(ds, frame)
    return out
