"""Assembling the paper's tables and figure curves from task records: mean ± std over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.experiments import paper as P

# (DI, accuracy) per method: clean, poisoned. Paper Tables 1-3 and 5.
from trainer.experiments.paper_numbers import PAPER_MAIN, PAPER_TABLE7, PAPER_TABLE8, PAPER_TABLE9


def stat(values: Sequence[float]) -> dict[str, Any]:
    """Mean and population std over seeds, NaN-aware, with the per-seed values."""
    v = np.asarray([np.nan if x is None else x for x in values], dtype=float)
    ok = v[~np.isnan(v)]
    return {
        "mean": float(ok.mean()) if len(ok) else float("nan"),
        "std": float(ok.std()) if len(ok) else float("nan"),
        "per_seed": [None if math.isnan(x) else float(x) for x in v],
    }


def _cell(di: list[float], acc: list[float]) -> dict[str, Any]:
    return {"di": stat(di), "acc": stat(acc)}


# ----------------------------------------------------------------------------------------
# Assembly
# ----------------------------------------------------------------------------------------
def _fr_points(rec: dict[str, Any], seed: int, lambda_r: float) -> list[dict[str, Any]]:
    return [p for p in rec["points"] if p["seed"] == seed and abs(p["lambda_r"] - lambda_r) < 1e-9]


def main_lambda_r(rec: dict[str, Any]) -> float:
    """The λ_r a grid record was trained for (its first; ablation grids append 0)."""
    return float(rec["lambda_r"][0])


def fr_settings_used(results: dict[str, Any]) -> list[str]:
    """One line per FR-Train grid record: λ_r, λ_f grid, schedule and selection rule.

    Taken from the records themselves, so a report built from a cache states what was
    run even if the defaults in :mod:`trainer.experiments.synthetic` changed since.
    """
    lines = []
    for key, rec in sorted(results.items()):
        if key.startswith("fr.") and "params" in rec:
            prm = rec["params"]
            keys = ("epochs", "pretrain_epochs", "k", "lr_g", "batch_size", "reweight",
                    "average_last")  # fmt: skip
            sched = ", ".join(f"{k}={prm[k]}" for k in keys if k in prm)
            rule = rec.get("selection", "smoothed")
            rule = {"validation": "point"}.get(rule, rule)  # its name before the rules had names
            if "chosen" not in rec:
                rule += " (re-applied to a record cached before choices were recorded)"
            lines.append(f"`{key}`: λ_r {rec['lambda_r']}, λ_f {rec['lambda_f']}, {sched}, "
                         f"{rec['n_val']} validation rows, selection rule {rule}")  # fmt: skip
    return lines


def fr_chosen(
    rec: dict[str, Any], seeds: Sequence[int], lambda_r: float, *, eo: bool = False,
    drop_zero_f: bool = False,
) -> list[dict[str, Any]]:  # fmt: skip
    """The validation-chosen FR-Train point per seed for one λ_r of a grid record: the one
    ``trainer.api``'s selection recorded (``chosen``; made among the λ_f > 0 points), or for
    a record cached before that, :func:`~trainer.experiments.runners.choose_fr`."""
    recorded = {(c["seed"], c["lambda_r"]): c["lambda_f"] for c in rec.get("chosen", [])}
    out = []
    for s in seeds:
        pts = _fr_points(rec, s, lambda_r)
        if drop_zero_f:
            pts = [p for p in pts if p["lambda_f"] > 0]
        lf = recorded.get((s, lambda_r))
        if lf is not None:
            out.append(next(p for p in pts if p["lambda_f"] == lf))
        else:
            out.append(P.choose_fr(pts, eo=eo, selection=rec.get("selection", "smoothed")))
    return out


def main_table(table: str, results: dict[str, Any], profile: P.Profile) -> dict[str, Any]:
    """Tables 1-3: every method, clean and poisoned, ours beside the paper's."""
    d = P.MAIN_TABLE_DATASET[table]
    rows = []
    for m in P.METHODS:
        row: dict[str, Any] = {"method": m}
        for s in P.SETTINGS:
            if m == "FR-Train":
                rec = results[P.fr_main_task(d, s, profile).key]
                ch = fr_chosen(rec, profile.seeds, main_lambda_r(rec), drop_zero_f=True)
                row[s] = _cell([c["test_di"] for c in ch], [c["test_acc"] for c in ch])
                row[s]["knob"] = [c["lambda_f"] for c in ch]
            else:
                recs = results[P.baselines_task(d, s, profile).key][m]
                recs = [P.select_curve(r) if "curve" in r else r for r in recs]
                row[s] = _cell([r["test_di"] for r in recs], [r["test_acc"] for r in recs])
                row[s]["knob"] = [r.get("knob") for r in recs]
                row[s]["reached"] = [r.get("reached") for r in recs]
                if all("curve" in r for r in recs):
                    # Test (DI, acc) of every knob value per seed, for finding (a) only.
                    row[s]["curve"] = [[[c["test_di"], c["test_acc"]] for c in r["curve"]]
                                       for r in recs]  # fmt: skip
                if m == "RML" and s == "poisoned":
                    row[s]["weight_flipped"] = stat([r.get("weight_flipped") for r in recs])
                    row[s]["weight_unflipped"] = stat([r.get("weight_unflipped") for r in recs])
            pc, pp = PAPER_MAIN[table][m]
            row[s]["paper"] = {
                "di": (pc if s == "clean" else pp)[0],
                "acc": (pc if s == "clean" else pp)[1],
            }
        rows.append(row)
    auto_row = _auto_row(d, results, profile)
    if auto_row is not None:
        rows.append(auto_row)
    return {"dataset": d, "rows": rows}


def _auto_row(d: str, results: dict[str, Any], profile: P.Profile) -> dict[str, Any] | None:
    """The `auto` row (trainer/models/auto.py; no paper figure) when its tasks ran."""
    keys = [P.auto_task(d, s, profile).key for s in P.SETTINGS]
    if d == "synthetic" or not all(k in results for k in keys):
        return None
    row: dict[str, Any] = {"method": "auto"}
    for s, key in zip(P.SETTINGS, keys, strict=True):
        recs = results[key]["auto"]
        row[s] = _cell([r["test_di"] for r in recs], [r["test_acc"] for r in recs])
        row[s]["knob"] = [r["knob"] for r in recs]
        row[s]["paper"] = {"di": float("nan"), "acc": float("nan")}
    return row


def _pf(v: float) -> str:
    """A paper figure, or a dash where the paper has none (the auto row)."""
    return "—" if v != v else f"{v:.3f}"


def table5(results: dict[str, Any], profile: P.Profile) -> dict[str, Any]:
    """Table 5 ablation on COMPAS: without R (λ_r = 0), without F (λ_f = 0), without RW."""
    rows = []
    for name in ("Without R", "Without F", "Without RW", "FR-Train"):
        row: dict[str, Any] = {"method": name}
        for s in P.SETTINGS:
            main = results[P.fr_main_task("compas", s, profile).key]
            lr_main = main_lambda_r(main)
            if name == "Without R":
                ch = fr_chosen(main, profile.seeds, 0.0, drop_zero_f=True)
            elif name == "Without F":
                ch = [
                    next(p for p in _fr_points(main, seed, lr_main) if p["lambda_f"] == 0.0)
                    for seed in profile.seeds
                ]
            elif name == "Without RW":
                off = results[P.Task("fr", "compas", s, profile.seeds, (("reweight", "off"),)).key]
                ch = fr_chosen(off, profile.seeds, main_lambda_r(off))
            else:
                ch = fr_chosen(main, profile.seeds, lr_main, drop_zero_f=True)
            row[s] = _cell([c["test_di"] for c in ch], [c["test_acc"] for c in ch])
            row[s]["knob"] = [c["lambda_f"] for c in ch]
            pc, pp = PAPER_MAIN["table5"][name]
            ref = pc if s == "clean" else pp
            row[s]["paper"] = {"di": ref[0], "acc": ref[1]}
        rows.append(row)
    return {"dataset": "compas", "rows": rows}


def table7(results: dict[str, Any], profile: P.Profile) -> dict[str, Any]:
    """Table 7: FR-Train on poisoned data with crowdsourced vs ground-truth validation."""
    rows = []
    for d in ("compas", "adult"):
        for src in ("crowd", "truth"):
            rec = results[P.Task("fr", d, "poisoned", profile.seeds, (("val_source", src),)).key]
            ch = fr_chosen(rec, profile.seeds, main_lambda_r(rec))
            di, acc = PAPER_TABLE7[(d, src)]
            rows.append({
                "dataset": d, "validation": src, "n_val": rec["n_val"],
                **_cell([c["test_di"] for c in ch], [c["test_acc"] for c in ch]),
                "paper": {"di": di, "acc": acc},
            })  # fmt: skip
    return {"rows": rows}


def table8(results: dict[str, Any], profile: P.Profile) -> dict[str, Any]:
    """Table 8: RML on synthetic data for several validation-set sizes."""
    rows = []
    for (s, size), (di, acc) in PAPER_TABLE8.items():
        n = P.VAL_SIZES[size]
        recs = [
            results[P.Task("rml_val", "synthetic", s, (seed,), (("n_val", n),)).key]
            for seed in profile.seeds
        ]
        rows.append({
            "setting": s, "val_size": size, "n_val": n,
            **_cell([r["test_di"] for r in recs], [r["test_acc"] for r in recs]),
            "paper": {"di": di, "acc": acc},
        })  # fmt: skip
    return {"rows": rows}


def table9(results: dict[str, Any], profile: P.Profile) -> dict[str, Any]:
    """Table 9: equalized odds of LR and FR-Train (EO variant) on clean training data."""
    rows = []
    for d in P.DATASETS:
        lr = results[P.baselines_task(d, "clean", profile).key]["LR"][0]
        rec = results[P.Task("fr", d, "clean", profile.seeds, (("fairness", "eo"),)).key]
        ch = fr_chosen(rec, profile.seeds, main_lambda_r(rec), eo=True)
        for m, eo0, eo1, acc in (
            ("LR", [lr["test_eo0"]], [lr["test_eo1"]], [lr["test_acc"]]),
            ("FR-Train", [c["test_eo0"] for c in ch], [c["test_eo1"] for c in ch],
             [c["test_acc"] for c in ch]),
        ):  # fmt: skip
            p0, p1, pa = PAPER_TABLE9[(d, m)]
            rows.append({
                "dataset": d, "method": m, "eo0": stat(eo0), "eo1": stat(eo1), "acc": stat(acc),
                "paper": {"eo0": p0, "eo1": p1, "acc": pa},
            })  # fmt: skip
    return {"rows": rows}


def _mean_curve(curves: list[list[dict[str, Any]]], x: str, y: str) -> tuple[list, list, list]:
    knobs = [c["knob"] for c in curves[0]]
    xs = np.nanmean([[c[x] for c in cur] for cur in curves], axis=0)
    ys = np.nanmean([[c[y] for c in cur] for cur in curves], axis=0)
    return knobs, xs.tolist(), ys.tolist()


def baseline_curves(results: dict[str, Any], profile: P.Profile, method: str) -> dict[str, Any]:
    """Test (DI, accuracy) along a fairness method's knob, mean over seeds, synthetic data."""
    out = {}
    for s in P.SETTINGS:
        recs = results[P.baselines_task("synthetic", s, profile).key][method]
        curves = [r["curve"] for r in recs]
        knobs, di, acc = _mean_curve(curves, "test_di", "test_acc")
        out[s] = {"knob": knobs, "di": di, "acc": acc}
    return out


def fr_curve(rec: dict[str, Any], seeds: Sequence[int], lambda_r: float) -> dict[str, Any]:
    """FR-Train test (DI, accuracy) along λ_f for one λ_r, mean over seeds."""
    lfs = sorted({p["lambda_f"] for p in rec["points"] if p["lambda_f"] > 0})
    di, acc = [], []
    for lf in lfs:
        pts = [
            p for p in rec["points"]
            if p["lambda_f"] == lf and abs(p["lambda_r"] - lambda_r) < 1e-9 and p["seed"] in seeds
        ]  # fmt: skip
        di.append(float(np.nanmean([p["test_di"] for p in pts])))
        acc.append(float(np.nanmean([p["test_acc"] for p in pts])))
    return {"knob": lfs, "di": di, "acc": acc}


def figure4(results: dict[str, Any], profile: P.Profile) -> dict[str, Any]:
    """Figure 4 a-e curves (synthetic): LBC, AD, FR-Train at 10% / 5% / 0.1% validation."""
    seeds = profile.seeds
    main_c = results[P.fr_main_task("synthetic", "clean", profile).key]
    clean = fr_curve(main_c, seeds, main_lambda_r(main_c))
    main_p = results[P.fr_main_task("synthetic", "poisoned", profile).key]
    lr_p = main_lambda_r(main_p)
    v5 = results[P.Task("fr", "synthetic", "poisoned", seeds, (("n_val", 100),)).key]
    tiny_key = P.Task(
        "fr", "synthetic", "poisoned", seeds, (("lambda_r", (0.4, 0.1)), ("n_val", 2))
    )
    tiny = results[tiny_key.key]
    return {
        "a_LBC": baseline_curves(results, profile, "LBC"),
        "b_AD": baseline_curves(results, profile, "AD"),
        "c_FR_10pct": {"clean": clean, "poisoned": fr_curve(main_p, seeds, lr_p)},
        "d_FR_5pct": {"clean": clean, "poisoned": fr_curve(v5, seeds, lr_p)},
        "e_FR_0.1pct": {
            "clean": clean,
            "poisoned, l2=0.4": fr_curve(tiny, seeds, 0.4),
            "poisoned, l2=0.1": fr_curve(tiny, seeds, 0.1),
        },
    }


def assemble(table: str, results: dict[str, Any], profile: P.Profile) -> dict[str, Any]:
    """One table's (or figure's) numbers from the task records."""
    if table in P.MAIN_TABLE_DATASET:
        return main_table(table, results, profile)
    if table == "table5":
        return table5(results, profile)
    if table == "table7":
        return table7(results, profile)
    if table == "table8":
        return table8(results, profile)
    if table == "table9":
        return table9(results, profile)
    if table == "figure2b":
        return {"FC": baseline_curves(results, profile, "FC")}
    if table == "figure4":
        return figure4(results, profile)
    raise ValueError(f"unknown table {table!r}")
