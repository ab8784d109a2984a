"""What a run writes and prints: the artifacts folder, the text report, the trade-off plot."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainer.api.fitting import GridFit
from trainer.api.spec import JobSpec
from trainer.metrics import json_safe as _json_safe


def format_results(results: Mapping[str, Any]) -> str:
    """The grid per seed (validation with 95% bootstrap intervals beside test), the chosen
    point marked, where the test labels come from, and any warnings."""
    lines = []
    for s in results["seeds"]:
        lines.append(f"seed {s['seed']}: n_train {s['n_train']}, n_val {s['n_val']}, "
                     f"n_test {s['n_test']}")  # fmt: skip
        lines.append(f"{'#':>3} {'params':<22} {'val acc [95%]':>20} {'val DI [95%]':>20}"
                     f" {'label-free DI [95%]':>20} {'ok':>2} {'test acc':>8}"
                     f" {'test DI':>7}")  # fmt: skip
        rep = s.get("method_report")
        if rep:  # auto: what it compared, chose and why
            lines.append(f"auto chose {rep.get('reason', rep.get('chosen'))}")
            lines.extend(f"  note: {n}" for n in [*rep.get("warnings", []), *rep.get("notes", [])])
        for i, p in enumerate(s["grid"]):
            iv = p.get("val_interval") or {}

            def cell(v: Any, ci: Any) -> str:
                if v is None:
                    return f"{'-':>20}"
                c = f" [{ci[0]:.2f},{ci[1]:.2f}]" if ci else ""
                return f"{v:>7.3f}{c:>13}"

            params = ", ".join(f"{k}={v}" for k, v in p["params"].items())[:22]
            ta, td = p["test"]["accuracy"], p["test"]["disparate_impact"]
            ev = p.get("selection") or {}
            lines.append(
                f"{i:>2}{'*' if i == s['selected'] else ' '} {params:<22} "
                f"{cell(p['val']['accuracy'], iv.get('accuracy'))} "
                f"{cell(p['val']['disparate_impact'], iv.get('disparate_impact'))} "
                f"{cell(ev.get('label_free_di'), ev.get('label_free_di_interval'))} "
                f"{'y' if ev.get('feasible') else '-':>2} "
                f"{ta:>8.3f} {'-' if td is None else f'{td:.3f}':>7}"
            )
        if s.get("selection_reason"):
            lines.append(f"  chosen by {s['selection_reason']}")
    lines.append("* = chosen without test rows (trainer.selection, docs/SELECTION.md); ok = "
                 "feasible: the checked fairness interval lies at or above the target")  # fmt: skip
    lines.append(f"test labels: {results['test_labels']['note']}")
    h = results.get("holdout")
    if h:
        cells = []
        for key in ("accuracy", "disparate_impact"):
            m = h["summary"][key]
            mean, std = m["mean"], m["std"]
            cells.append(f"{key} {'-' if mean is None else f'{mean:.3f} ± {std:.3f}'}")
        lines.append(f"held-out crowd evaluation ({h['repeats']} repeats, {h['fraction']:.0%} of "
                     f"the validation rows held out, seed {h['seed']}): {', '.join(cells)}; "
                     f"scored against {h['labels']}")  # fmt: skip
    lines.extend(f"WARNING: {w}" for w in results.get("warnings", []))
    return "\n".join(lines)


def _portable_spec(spec: JobSpec) -> dict[str, Any]:
    """The spec without machine paths: files are named by their base name only."""
    d = json.loads(json.dumps(spec.to_dict(), default=str))
    for part, key in (("data", "file"), ("validation", "path"), ("test", "file")):
        sub = d.get(part)
        if isinstance(sub, dict) and sub.get(key):
            sub[key] = Path(str(sub[key])).name
    return d


def write_artifacts(
    folder: Path, spec: JobSpec, results: dict[str, Any], fitted: list[tuple[Any, GridFit, int]]
) -> list[str]:
    """model.pt + config.json, predictions.csv, tradeoff.png, metrics.json; returns names."""
    import torch

    from trainer.artifact import build_payload, format_score

    folder.mkdir(parents=True, exist_ok=True)
    ds0 = fitted[0][0]
    portable = _portable_spec(spec)
    config = {
        "spec": portable,
        "feature_names": list(ds0.feature_names),
        "sensitive": ds0.sensitive_name,
        "group_names": {str(k): v for k, v in ds0.group_names.items()},
        "inputs": "[features..., sensitive code]; logit > 0 predicts +1",
        "selected": {str(s["seed"]): s["selected_params"] for s in results["seeds"]},
    }
    # The whole fitted pipeline (trainer.artifact): encoder, chosen model per seed, metadata.
    payload = build_payload(
        datasets=[d for d, _, _ in fitted],
        method=spec.method,
        dataset=spec.dataset_name,
        seeds=results["seeds"],
        estimators=[f.states[chosen] for _, f, chosen in fitted],
        spec_summary=portable,
    )
    torch.save(payload, folder / "model.pt")
    (folder / "config.json").write_text(json.dumps(_json_safe(config), indent=2))
    lines = ["seed,row,id,group,y_true,y_pred,score"]
    for seed_res, (ds, f, chosen) in zip(results["seeds"], fitted, strict=True):
        scores = f.test_scores[chosen]
        ids = ds.test.ids if ds.test.ids is not None else np.arange(len(ds.test))
        for r in range(len(ds.test)):
            lines.append(
                f"{seed_res['seed']},{r},{ids[r]},{int(ds.test.z[r])},{int(ds.test.y[r])},"
                f"{1 if scores[r] > 0 else -1},{format_score(scores[r])}"
            )
    (folder / "predictions.csv").write_text("\n".join(lines) + "\n")
    plot_tradeoff(results, folder / "tradeoff.png")
    (folder / "metrics.json").write_text(json.dumps(results, indent=2))
    return ["model.pt", "config.json", "predictions.csv", "tradeoff.png", "metrics.json"]


def plot_tradeoff(results: Mapping[str, Any], path: Path, title: str | None = None) -> None:
    """The accuracy-fairness trade-off as a curve (Figure 4c style): test accuracy against
    test disparate impact, the grid points of each seed joined in order of DI (not of
    lambda), each labelled with its lambda_1, the 0.8 rule drawn, and the point chosen on
    validation circled. The y label says where the test labels come from."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for s in results["seeds"]:
        pts = []
        for i, p in enumerate(s["grid"]):
            di, acc = p["test"]["disparate_impact"], p["test"]["accuracy"]
            if di is not None and acc is not None:
                pts.append((di, acc, i))
        pts.sort()
        (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=4, alpha=0.8,
                          label=f"seed {s['seed']}")  # fmt: skip
        for di, acc, i in pts:
            lam = s["grid"][i]["params"].get("l1")
            if lam is not None:
                ax.annotate(f"λ1={lam:g}", (di, acc), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")  # fmt: skip
            if i == s["selected"]:
                ax.plot(di, acc, "o", ms=11, mfc="none", mec=line.get_color(), mew=2)
    ax.axvline(0.8, color="grey", ls="--", lw=1, label="DI = 0.8")
    ax.set_xlabel("disparate impact (test)")
    labels = results.get("test_labels", {})
    trusted = labels.get("trusted", True)
    ax.set_ylabel("accuracy (test" + ("" if trusted else ", UNTRUSTED labels") + ")")
    ax.set_title(title or f"{results['method']} on {results['dataset']}: trade-off over the grid",
                 fontsize=10)  # fmt: skip
    if not trusted:
        fig.text(0.01, 0.01, "test labels from the training file: may be noisy or poisoned",
                 fontsize=7, color="tab:red")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    # fixed margins: tight_layout would draw the figure once more just to measure it
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=0.92)
    fig.savefig(path, dpi=110)
    plt.close(fig)
