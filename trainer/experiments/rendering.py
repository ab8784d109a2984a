"""Rendering the report: PNG figures, Markdown tables, software versions, timing."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.experiments import paper as P
from trainer.experiments.findings import Finding

# (DI, accuracy) per method: clean, poisoned. Paper Tables 1-3 and 5.
from trainer.experiments.paper_numbers import DATASET_NAME
from trainer.experiments.report_tables import _pf


# ----------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------
def _plot_curves(ax: Any, curves: dict[str, dict[str, Any]], title: str) -> None:
    colors = ["tab:blue", "tab:red", "tab:green", "tab:purple"]
    markers = ["o", "s", "^", "D"]
    for i, (label, c) in enumerate(curves.items()):
        # Points joined in knob order (the path the knob traces), not sorted by DI.
        ax.plot(c["di"], c["acc"], marker=markers[i % 4], color=colors[i % 4], label=label,
                ms=4)  # fmt: skip
    ax.axvline(0.8, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("disparate impact (test)")
    ax.set_ylabel("accuracy (test)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def write_figures(tables: dict[str, dict[str, Any]], out: Path) -> list[str]:
    """PNG trade-off plots for Figure 2b and Figure 4a-e; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    if "figure2b" in tables:
        fig, ax = plt.subplots(figsize=(5, 4))
        _plot_curves(ax, tables["figure2b"]["FC"], "Fig. 2b: Fairness Constraints, synthetic")
        fig.tight_layout()
        fig.savefig(out / "figure2b.png", dpi=120)
        plt.close(fig)
        files.append("figure2b.png")
    if "figure4" in tables:
        f4 = tables["figure4"]
        titles = {
            "a_LBC": "(a) LBC (knob T)", "b_AD": "(b) AD (knob α)",
            "c_FR_10pct": "(c) FR-Train, 10% val", "d_FR_5pct": "(d) FR-Train, 5% val",
            "e_FR_0.1pct": "(e) FR-Train, 0.1% val",
        }  # fmt: skip
        fig, axes = plt.subplots(1, 5, figsize=(22, 4))
        for ax, (k, title) in zip(axes, titles.items(), strict=True):
            _plot_curves(ax, f4[k], title)
        fig.tight_layout()
        fig.savefig(out / "figure4.png", dpi=110)
        plt.close(fig)
        files.append("figure4.png")
    return files


# ----------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------
def summary_table(tables: dict[str, Any]) -> list[str]:
    """Tables 1-3 in one: accuracy / DI per method and data set, ours (paper)."""
    mains = [t for t in ("table1", "table2", "table3") if t in tables]
    if not mains:
        return []
    head = ["method"] + [f"{DATASET_NAME[P.MAIN_TABLE_DATASET[t]]} {s}" for t in mains
                         for s in P.SETTINGS]  # fmt: skip
    lines = ["## Summary: accuracy / DI on the test split, ours (paper)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]  # fmt: skip
    for m in (*P.METHODS, "auto"):
        cells = [m]
        for t in mains:
            row = next((r for r in tables[t]["rows"] if r["method"] == m), None)
            for s in P.SETTINGS:
                if row is None:
                    cells.append("—")
                    continue
                c = row[s]
                cells.append(f"{c['acc']['mean']:.3f} / {c['di']['mean']:.3f} "
                             f"({_pf(c['paper']['acc'])} / {_pf(c['paper']['di'])})")  # fmt: skip
        if m == "auto" and set(cells[1:]) == {"—"}:
            continue
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Means over the seeds; the per-table sections below give the spread (± std) "
              "and the knob chosen per seed."]  # fmt: skip
    return lines


def _ms(s: dict[str, Any]) -> str:
    if s["mean"] != s["mean"]:
        return "n/a"
    return f"{s['mean']:.3f} ± {s['std']:.3f}"


def _pct(ours: float, paper: float) -> str:
    return f"{ours - paper:+.3f}" if ours == ours else "n/a"


def _md_main(name: str, tab: dict[str, Any]) -> list[str]:
    lines = [
        f"### {name} — {DATASET_NAME.get(tab['dataset'], tab['dataset'])}",
        "",
        "| method | clean DI (ours) | paper | clean acc (ours) | paper | "
        "poisoned DI (ours) | paper | poisoned acc (ours) | paper | "
        "knob chosen (clean; poisoned) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in tab["rows"]:
        c, p = r["clean"], r["poisoned"]

        def knob(cell: dict[str, Any]) -> str:
            ks = [k for k in cell.get("knob", []) if k is not None]
            return ",".join(k if isinstance(k, str) else f"{k:g}" for k in ks) if ks else "-"

        lines.append(
            f"| {r['method']} | {_ms(c['di'])} | {_pf(c['paper']['di'])} | {_ms(c['acc'])} | "
            f"{_pf(c['paper']['acc'])} | {_ms(p['di'])} | {_pf(p['paper']['di'])} | "
            f"{_ms(p['acc'])} | {_pf(p['paper']['acc'])} | {knob(c)}; {knob(p)} |"
        )
    not_reached = [
        f"{r['method']} ({s})" for r in tab["rows"] for s in P.SETTINGS
        if any(x is False for x in r[s].get("reached", []))
    ]  # fmt: skip
    if not_reached:
        lines += ["", "Validation DI 0.8 not reached by any knob value for: "
                  + ", ".join(not_reached)
                  + " (the knob with the highest validation DI is reported)."]  # fmt: skip
    rml = next((r for r in tab["rows"] if r["method"] == "RML"), None)
    if rml and "weight_flipped" in rml["poisoned"]:
        wf, wu = rml["poisoned"]["weight_flipped"], rml["poisoned"]["weight_unflipped"]
        lines += ["", f"RML static weights on the poisoned training rows: flipped rows {_ms(wf)}, "
                  f"unflipped rows {_ms(wu)} (mean 1 overall)."]  # fmt: skip
    return lines


DI_ACC = ["DI (ours)", "paper", "acc (ours)", "paper"]


def _md_simple(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    return [title, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]  # fmt: skip


def software_versions() -> dict[str, str]:
    """Versions of the interpreter and the numerical libraries used."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("numpy", "scipy", "torch", "pandas", "matplotlib", "frtrain"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _rules_text() -> str:
    """Which selection rule chooses FR-Train's point on which data set."""
    return ", ".join(
        f"{DATASET_NAME[d]} `{P.fr_rule(d)}`" + (" (the product's)" if d != "synthetic" else "")
        for d in P.DATASETS
    )


def write_report(
    tables: dict[str, dict[str, Any]],
    findings: list[Finding],
    *,
    out: Path,
    profile: P.Profile,
    timing: dict[str, Any],
    command: str,
    fr_lines: Sequence[str] = (),
) -> Path:
    """REPORT.md + results.json + PNG figures under ``out``; returns the report path."""
    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(tables, out)
    versions = software_versions()
    L: list[str] = [
        "# FR-Train reproduction report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')} by `{command}`.",
        f"Profile **{profile.name}**; seeds {list(profile.seeds)}; FR-Train grids on "
        f"{profile.device}; ours = mean ± std over "
        "seeds (population std); paper = the published figure. Knobs are chosen on the "
        "validation split only; the test split is only reported.",
        "FR-Train settings module: `trainer.defaults` (regimes synthetic-poisoned, "
        "synthetic-clean and real, each with the `select-defaults` evidence that chose it); "
        "fitted, scored and chosen through `trainer.api` (the steps of `run_training`, the "
        "training path of jobs and `frtrain train`); selection rules (`trainer.selection`, "
        f"docs/SELECTION.md): {_rules_text()}. Each grid's rule is listed under "
        '"FR-Train grids run".',
        "",
        "Software: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
    ]
    summary = summary_table(tables)
    if summary:
        L += [*summary, ""]
    L += ["## Findings (a)-(d) (docs/PAPER.md), checked on our numbers", ""]
    for f in findings:
        verdict = {True: "HOLDS", False: "DOES NOT HOLD", None: "NOT CHECKED"}[f.holds]
        skipped = sum(e.endswith("skipped") for e in f.evidence)
        if skipped:
            verdict += f" ({skipped} case(s) not comparable and skipped, listed below)"
        L += [f"**({f.key}) {verdict}.** {f.claim}", ""]
        L += [f"- {e}" for e in f.evidence] + [""]
    L += ["## Run time", "",
          "| table | tasks | training s (all its tasks) | training s charged here (tasks no "
          "earlier table needed) |",
          "|---|---|---|---|"]  # fmt: skip
    for t, info in timing.get("tables", {}).items():
        charged = info.get("new_seconds", float("nan"))
        L.append(f"| {t} | {info['tasks']} ({info['cached']} from cache) | "
                 f"{info['seconds']:.0f} | {charged:.0f} |")  # fmt: skip
    if timing.get("stale_cache"):
        L += ["", "Cached FR-Train grids trained under earlier FR-Train defaults (their own "
              "settings are listed at the end; delete OUT/cache to retrain): "
              + ", ".join(f"`{k}`" for k in timing["stale_cache"])]  # fmt: skip
    total = sum(timing.get("tasks", {}).values())
    L += ["", f"Wall time of this invocation: {timing.get('wall', float('nan')):.0f} s "
          f"with {timing.get('workers', 1)} worker process(es) (tasks read from the cache "
          f"cost nothing here). Training time of all tasks of this report, cached or not: "
          f"{total:.0f} s, about {total / 2:.0f} s of wall time on 2 workers.", ""]  # fmt: skip
    runs = timing.get("runs") or []
    if runs:
        L += ["Invocations that trained the tasks in this cache (OUT/cache/runs.jsonl):", ""]
        L += [f"- {r['finished']}: {r['tasks_trained']} tasks, profile {r['profile']}, "
              f"{r['workers']} worker(s), wall {r['wall_seconds']:.0f} s "
              f"({r['wall_seconds'] / 60:.1f} min), training {r['training_seconds']:.0f} s"
              for r in runs] + [""]  # fmt: skip
    L += ["## Tables", ""]
    names = {"table1": "Table 1", "table2": "Table 2", "table3": "Table 3"}
    for t, tab in tables.items():
        if t in names:
            L += [*_md_main(names[t], tab), ""]
        elif t == "table5":
            L += [*_md_main("Table 5 (ablation)", tab), ""]
        elif t == "table7":
            rows = [[DATASET_NAME[r["dataset"]], r["validation"], str(r["n_val"]), _ms(r["di"]),
                     f"{r['paper']['di']:.3f}", _ms(r["acc"]), f"{r['paper']['acc']:.3f}"]
                    for r in tab["rows"]]  # fmt: skip
            L += [*_md_simple("### Table 7 — crowdsourced vs ground-truth validation (poisoned)",
                              ["data", "validation", "rows", *DI_ACC],
                              rows), "",
                  "COMPAS crowd labels are the authors' real MTurk answers (mean of 11 > 2.5); "
                  "AdultCensus crowd labels are simulated (each clean label flipped with "
                  "probability 0.257, Table 6's N = 11 error rate) since no Adult crowd file "
                  "is shipped.",
                  ""]  # fmt: skip
        elif t == "table8":
            rows = [[r["setting"], f"{r['val_size']} ({r['n_val']} rows)", _ms(r["di"]),
                     f"{r['paper']['di']:.3f}", _ms(r["acc"]), f"{r['paper']['acc']:.3f}"]
                    for r in tab["rows"]]  # fmt: skip
            L += [*_md_simple("### Table 8 — RML vs validation-set size (synthetic)",
                              ["data", "val set", *DI_ACC], rows), ""]  # fmt: skip
        elif t == "table9":
            rows = [[DATASET_NAME[r["dataset"]], r["method"],
                     *(x for k in ("eo0", "eo1", "acc")
                       for x in (_ms(r[k]), f"{r['paper'][k]:.3f}"))]
                    for r in tab["rows"]]  # fmt: skip
            L += [*_md_simple("### Table 9 — equalized odds (clean training data)",
                              ["data", "method", "EO Y=0 (ours)", "paper", "EO Y=1 (ours)", "paper",
                               "acc (ours)", "paper"], rows), ""]  # fmt: skip
    if figures:
        L += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    if fr_lines:
        L += ["## FR-Train grids run (settings read from each record)", ""]
        L += [f"- {line}" for line in fr_lines] + [""]
    L += ["## Protocol", "", *(line.strip() for line in (P.__doc__ or "").splitlines()[8:])]
    report = out / "REPORT.md"
    report.write_text("\n".join(L) + "\n")
    payload = {
        "profile": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(profile).items()},
        "versions": versions, "command": command, "timing": timing,
        "settings_module": "trainer.defaults",
        "findings": [vars(f) for f in findings], "tables": tables,
        "fr_grids": list(fr_lines),
    }  # fmt: skip
    (out / "results.json").write_text(json.dumps(_nan_to_none(payload), indent=2))
    return report


def format_timing(timing: dict[str, Any]) -> str:
    """The per-table time of a run as plain text (``frtrain reproduce`` prints it).

    Each task's training time is charged to the first table (in run order) that needs it,
    so the rows add up; a table's own tasks, shared or not, are in the second column.
    """
    lines = [f"{'table':<9} {'tasks':>5} {'cached':>6} {'own s':>7} {'charged s':>9}"]
    for t, info in timing.get("tables", {}).items():
        lines.append(f"{t:<9} {info['tasks']:>5} {info['cached']:>6} {info['seconds']:>7.0f} "
                     f"{info.get('new_seconds', 0.0):>9.0f}")  # fmt: skip
    total = sum(timing.get("tasks", {}).values())
    wall = timing["wall"]
    lines.append(f"training time of all tasks {total:.0f} s; wall time {wall:.0f} s "
                 f"({wall / 60:.1f} min) on {timing['workers']} worker process(es)")  # fmt: skip
    return "\n".join(lines)


def _nan_to_none(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _nan_to_none(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_nan_to_none(x) for x in v]
    if isinstance(v, float) and v != v:
        return None
    return v
