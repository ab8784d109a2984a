"""Table 1 (LR and FR-Train rows) and Figure 4c on the synthetic data (paper Section 4.1).

For each seed, a whole lambda_f sweep trains in one batched run (:class:`FRTrainGrid`),
lambda_f is chosen per seed on the validation split only, and the chosen model's test
accuracy and disparate impact are averaged over seeds. The test split is evaluated for
reporting and never used for a decision.

Choice of lambda_f (never on the test split): the most accurate point on the validation
split whose disparate impact reaches 0.8, else the point with the highest DI. The
validation split has only 200 rows, and it is the same 200 rows for every seed, so its
sampling error (about +-0.1 on DI) does not average out over seeds. Two things make the
choice robust to that noise:

* DI needs no labels, so it is estimated on the features (x, z) of the validation rows
  together with the authors' second, never-used validation block [2200, 2700) of the
  synthetic files (700 rows; ``num_val2`` in their notebook); accuracy needs clean labels
  and comes from the 200 validation rows only.
* Both curves vary slowly with lambda_f, so each is smoothed over neighbouring grid points
  (3-point moving average) before the threshold is applied.

The grids follow the paper's Appendix A.4 rule lambda_1 <= 0.95 - lambda_2 (at
lambda_1 + lambda_2 = 1 the classification loss vanishes and training collapses).

Fitting, scoring and the choice go through ``trainer.api`` (``fit_grid``, ``evaluate_seed``:
the steps of ``run_training``) with the job spec of :func:`fr_spec`, whose selection rule is
``smoothed`` (``trainer.selection``) with the unused block as ``extra_label_free`` rows: a
training job or ``frtrain train --selection-rule smoothed`` with these settings chooses the
same points.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data.synthetic import UNUSED_ROWS, load_synthetic
from trainer.defaults import REGIMES
from trainer.selection import choose_index, smooth

__all__ = ["choose_index", "smooth"]  # the selection rule lives in trainer.selection

#: Paper Table 1 (synthetic): (accuracy, DI) per method and data.
PAPER_TABLE1 = {
    ("LR", "clean"): (0.885, 0.409),
    ("LR", "poisoned"): (0.819, 0.446),
    ("FR-Train", "clean"): (0.807, 0.818),
    ("FR-Train", "poisoned"): (0.814, 0.827),
}

#: Default FR-Train settings of the reproduction: the synthetic regimes of
#: :mod:`trainer.defaults` (chosen by `frtrain reproduce select-defaults --data synthetic`
#: on validation only; the evidence is recorded there).
SETTINGS_MODULE = "trainer.defaults"
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    data: {
        "lambda_r": REGIMES[f"synthetic-{data}"].lambda_r,
        "lambda_f": list(REGIMES[f"synthetic-{data}"].lambda_f),
        "params": {
            k: REGIMES[f"synthetic-{data}"].estimator_params()[k]
            for k in ("epochs", "k", "lr_g", "lr_f", "lr_r", "c_pre", "average_last")
        },
    }
    for data in ("poisoned", "clean")
}

MIN_DI = 0.8
#: The notebook's unused second validation block (``num_val2``), features only.
VAL2_ROWS = UNUSED_ROWS


@dataclass
class SweepPoint:
    """One trained model of a sweep with its validation and test metrics."""

    seed: int
    lambda_f: float
    lambda_r: float
    val_acc: float
    val_di: float  # on the validation rows plus the second block's features (no labels)
    test_acc: float
    test_di: float


@dataclass
class SeedResult:
    seed: int
    points: list[SweepPoint]
    chosen: int  # index into points
    criterion: dict[str, Any] = field(default_factory=dict)


def choose_lambda(points: Sequence[SweepPoint], min_di: float = MIN_DI) -> tuple[int, dict]:
    """Index of the chosen point (validation-only criterion of the module docstring)."""
    return choose_index([p.val_acc for p in points], [p.val_di for p in points], min_di=min_di)


def fr_spec(
    *,
    poisoned: bool,
    seeds: Sequence[int],
    lambda_f: Sequence[float] | None = None,
    lambda_r: float | None = None,
    device: str = "auto",
    **overrides: Any,
) -> Any:
    """The training-job spec (``trainer.api``) of one sweep: :data:`DEFAULT_SETTINGS` (with
    ``overrides``, FR-Train hyperparameters in the job's names) and the rule ``smoothed`` with
    the unused block as its extra label-free rows. ``frtrain train --selection-rule smoothed``
    on the same data and settings trains and chooses the same models."""
    from trainer.api import SYNTHETIC_UNUSED_BLOCK, validate_spec

    setting = DEFAULT_SETTINGS["poisoned" if poisoned else "clean"]
    lfs = list(lambda_f if lambda_f is not None else setting["lambda_f"])
    lr = float(lambda_r if lambda_r is not None else setting["lambda_r"])
    return validate_spec({
        "data": {"builtin": "synthetic", "synthetic_poisoned": poisoned},
        "method": "fr-train",
        "hyperparameters": {"l1": lfs, "l2": [lr], **setting["params"], **overrides},
        "selection": {"rule": "smoothed", "min_fairness": MIN_DI,
                      "extra_label_free": SYNTHETIC_UNUSED_BLOCK},
        "seeds": list(seeds), "device": device,
    })  # fmt: skip


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def run_fr_sweep(
    *,
    poisoned: bool,
    seeds: Sequence[int],
    lambda_f: Sequence[float] | None = None,
    lambda_r: float | None = None,
    data_dir: str | Path | None = None,
    progress: bool = True,
    **overrides: Any,
) -> list[SeedResult]:
    """Train the lambda_f sweep for every seed (ONE batched run) and choose per seed, through
    ``trainer.api`` (``fit_grid`` and ``evaluate_seed``: the steps of ``run_training``)."""
    from trainer import api

    spec = fr_spec(poisoned=poisoned, seeds=seeds, lambda_f=lambda_f, lambda_r=lambda_r,
                   **overrides)  # fmt: skip
    ds = load_synthetic(data_dir, poisoned=poisoned)
    extra = api.label_free_rows(spec, data_dir)
    fits = api.fit_grid(spec, ds, seeds, extra=extra, progress=progress)
    results: list[SeedResult] = []
    for seed, fit in zip(seeds, fits, strict=True):
        rec = api.evaluate_seed(spec, ds, fit, int(seed), extra=extra)
        pts, crit = [], {"rule": rec["selection_reason"]}
        for p in rec["grid"]:
            ev = p["selection"]
            pts.append(
                SweepPoint(
                    seed=int(seed),
                    lambda_f=p["params"]["l1"],
                    lambda_r=p["params"]["l2"],
                    val_acc=_nan(ev["val_accuracy"]),
                    val_di=_nan(ev["checked_estimate"]),
                    test_acc=_nan(p["test"]["accuracy"]),
                    test_di=_nan(p["test"]["disparate_impact"]),
                )
            )
            crit.setdefault("smoothed_val_acc", []).append(ev["smoothed_val_accuracy"])
            crit.setdefault("smoothed_di", []).append(ev["smoothed_fairness"])
        results.append(SeedResult(seed=int(seed), points=pts, chosen=rec["selected"],
                                  criterion=crit))  # fmt: skip
    return results


def run_lr(*, poisoned: bool, data_dir: str | Path | None = None) -> tuple[float, float]:
    """Test (accuracy, DI) of logistic regression on [x, z] (deterministic), fitted and
    scored through ``trainer.api`` like a job with ``method: lr``."""
    from trainer import api

    spec = api.validate_spec({"data": {"builtin": "synthetic", "synthetic_poisoned": poisoned},
                              "method": "lr", "seeds": [0]})  # fmt: skip
    ds = load_synthetic(data_dir, poisoned=poisoned)
    (fit,) = api.fit_grid(spec, ds, [0])
    (point,) = api.score_grid(ds, fit, 0, spec.grid())
    return _nan(point["test"]["accuracy"]), _nan(point["test"]["disparate_impact"])


def _row(method: str, data: str, accs: list[float], dis: list[float], seeds: list[int]) -> dict:
    pa, pd = PAPER_TABLE1[(method, data)]
    return {
        "method": method,
        "data": data,
        "acc_mean": float(np.mean(accs)),
        "acc_std": float(np.std(accs)),
        "di_mean": float(np.mean(dis)),
        "di_std": float(np.std(dis)),
        "paper_acc": pa,
        "paper_di": pd,
        "seeds": list(seeds),
        "acc_per_seed": [float(a) for a in accs],
        "di_per_seed": [float(d) for d in dis],
    }


def reproduce(
    seeds: Sequence[int],
    *,
    data_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    **overrides: Any,
) -> dict[str, Any]:
    """Table 1's LR and FR-Train rows (clean and poisoned), mean and std over ``seeds``."""
    seeds = list(seeds)
    rows, sweeps = [], {}
    for data in ("clean", "poisoned"):
        poisoned = data == "poisoned"
        acc, di = run_lr(poisoned=poisoned, data_dir=data_dir)
        # LR is deterministic: the same numbers for every seed
        rows.append(_row("LR", data, [acc] * len(seeds), [di] * len(seeds), seeds))
        log(f"[{data}] training the FR-Train lambda_f sweep for seeds {seeds} in one batch")
        res = run_fr_sweep(
            poisoned=poisoned, seeds=seeds, data_dir=data_dir, progress=progress, **overrides
        )
        chosen = [r.points[r.chosen] for r in res]
        rows.append(
            _row("FR-Train", data, [p.test_acc for p in chosen], [p.test_di for p in chosen], seeds)
        )
        rows[-1]["chosen_lambda_f"] = {str(r.seed): r.points[r.chosen].lambda_f for r in res}
        rows[-1]["lambda_r"] = chosen[0].lambda_r
        sweeps[data] = [
            {"seed": r.seed, "chosen": r.chosen, "criterion": r.criterion,
             "points": [p.__dict__ for p in r.points]}
            for r in res
        ]  # fmt: skip
    return {"rows": rows, "sweeps": sweeps, "seeds": seeds}


def format_table(result: dict[str, Any]) -> str:
    """Plain-text Table 1 excerpt, ours (mean ± std over seeds) beside the paper."""
    lines = [
        f"Synthetic data, Table 1 (seeds {result['seeds']}; ours = mean ± std over seeds)",
        f"{'method':<9} {'data':<9} {'acc (ours)':>15} {'paper':>6}  {'DI (ours)':>15} {'paper':>6}"
        "  lambda_f chosen per seed",
    ]
    for r in result["rows"]:
        lam = r.get("chosen_lambda_f")
        lam_s = ", ".join(f"{v:.2f}" for v in lam.values()) if lam else "-"
        lines.append(
            f"{r['method']:<9} {r['data']:<9} {r['acc_mean']:.3f} ± {r['acc_std']:.3f}"
            f"   {r['paper_acc']:.3f}  {r['di_mean']:.3f} ± {r['di_std']:.3f}"
            f"   {r['paper_di']:.3f}  {lam_s}"
        )
    for r in result["rows"]:
        if r["method"] == "FR-Train":
            a, d = r["acc_per_seed"], r["di_per_seed"]
            lines.append(
                f"FR-Train {r['data']}: acc range {min(a):.3f}-{max(a):.3f}, "
                f"DI range {min(d):.3f}-{max(d):.3f}"
            )
    return "\n".join(lines)


def plot_tradeoff(result: dict[str, Any], path: str | Path) -> None:
    """Figure 4c style: test accuracy against DI for every lambda_f, clean and poisoned."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    styles = {"clean": ("tab:blue", "o"), "poisoned": ("tab:red", "s")}
    for data, runs in result["sweeps"].items():
        color, marker = styles[data]
        pts = [r["points"] for r in runs]
        di = np.mean([[p["test_di"] for p in ps] for ps in pts], axis=0)
        acc = np.mean([[p["test_acc"] for p in ps] for ps in pts], axis=0)
        ax.plot(di, acc, marker=marker, color=color, label=f"FR-Train, {data} (mean over seeds)")
        for ps in pts:
            ax.scatter([p["test_di"] for p in ps], [p["test_acc"] for p in ps], color=color,
                       alpha=0.2, s=10)  # fmt: skip
    for r in result["rows"]:
        if r["method"] == "LR":
            ax.scatter([r["di_mean"]], [r["acc_mean"]], marker="x", color="k")
            ax.annotate(f"LR {r['data']}", (r["di_mean"], r["acc_mean"]), fontsize=8)
    ax.set_xlabel("disparate impact (test)")
    ax.set_ylabel("accuracy (test)")
    ax.set_title("FR-Train accuracy-fairness trade-off, synthetic data")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(Path(path), dpi=120)
    plt.close(fig)


def write_json(result: dict[str, Any], path: str | Path) -> None:
    """Write :func:`reproduce`'s result (rows plus per-seed sweeps) as JSON."""
    Path(path).write_text(json.dumps(result, indent=2))
