"""`frtrain crowd budget` (adaptive answer budgets) and `frtrain crowd audit` (crowd bias per
sensitive group), both offline on a released-format crowd CSV."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from app.commands import crowd_app
from app.commands.crowd import crowd_csv_option, exit_on_bad_csv, parse_seeds
from app.crowd import DEFAULT_METHOD, METHODS
from app.crowd.budget import RULE


@crowd_app.command("budget")
def budget(
    csv: Path = crowd_csv_option(),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the results as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write accuracy vs answers as a PNG."),
    seeds: str = typer.Option("0,1,2,3,4", "--seeds", help="Comma-separated gold-split seeds."),
    gold_fraction: float = typer.Option(
        0.2, "--gold-fraction", help="Share of examples drawn as hidden gold (not scored)."
    ),
) -> None:
    """Accuracy against answers per example: fixed N = 1..11 and the adaptive policy
    (app.crowd.budget) at a few settings, replaying each example's answers in submission order."""
    from app.services.crowd.reports import budget_from_csv, plot_budget

    if not 0.0 < gold_fraction < 1.0:
        raise typer.BadParameter("must be in (0, 1)", param_hint="--gold-fraction")
    console = Console(width=max(100, shutil.get_terminal_size().columns))
    with exit_on_bad_csv(csv, console):
        result = budget_from_csv(csv, seeds=parse_seeds(seeds), gold_fraction=gold_fraction)
    console.print(f"rule: {RULE}")
    console.print(
        f"{result.n_examples} examples; each seed scores the {result.n_evaluated} left after a "
        f"{gold_fraction:.0%} hidden-gold draw, against true_label; labels by the mean rule; "
        f"seeds {','.join(map(str, result.seeds))} (mean ± sample std)"
    )
    table = Table(title="Adaptive answer budgets: accuracy vs answers per example")
    for col in ("policy", "answers / example", "share of N=11 answers", "accuracy", "vs N=11"):
        table.add_column(col, justify="right")
    full_answers = result.stats(result.fixed[max(result.fixed)]["answers_per_example"])[0]
    full_acc = result.stats(result.fixed[max(result.fixed)]["accuracy"])[0]
    rows = [(f"fixed N={n}", b) for n, b in result.fixed.items()]
    rows += [(f"adaptive {k}", b) for k, b in result.adaptive.items()]
    for name, block in rows:
        used = result.stats(block["answers_per_example"])
        acc = result.stats(block["accuracy"])
        table.add_row(
            name,
            f"{used[0]:.2f}±{used[1]:.2f}",
            f"{used[0] / full_answers:.0%}",
            f"{acc[0]:.3f}±{acc[1]:.3f}",
            f"{acc[0] - full_acc:+.3f}",
        )
    console.print(table)
    if plot is not None:
        plot_budget(result, plot, title=f"Adaptive answer budgets: {csv.name}")
        console.print(f"wrote {plot}")
    if json_out is not None:
        payload = result.to_json() | {"csv": str(csv)}
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
        console.print(f"wrote {json_out}")


@crowd_app.command("audit")
def audit_cmd(
    csv: Path = crowd_csv_option(),
    column: list[str] | None = typer.Option(
        None, "--column", help="Sensitive column(s) to audit (default: gender and race)."
    ),
    method: str = typer.Option(DEFAULT_METHOD, "--method", help="Aggregation method."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the audit as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write the per-group bars as a PNG."),
) -> None:
    """Crowd bias audit (app.crowd.audit): per sensitive group, the crowd labels' accuracy and
    positive rate against the known labels, and per-worker answer distributions."""
    from app.services.crowd.reports import audit_from_csv, plot_audit

    if method not in METHODS:
        raise typer.BadParameter(f"choose one of {', '.join(METHODS)}", param_hint="--method")
    console = Console(width=max(100, shutil.get_terminal_size().columns))
    with exit_on_bad_csv(csv, console):
        results = audit_from_csv(csv, column or None, method=method)
    console.print(
        f"crowd labels: {method}, every answer of every example (no gold drawn, no worker "
        "filtered), scored against true_label"
    )
    for res in results:
        table = Table(title=f"Crowd bias audit: {res.column}")
        for col in (
            "group",
            "examples",
            "label accuracy",
            "crowd +rate",
            "known +rate",
            "gap (crowd-known)",
            "FPR",
            "FNR",
            "mean answer",
        ):
            table.add_column(col, justify="right")
        for g in res.groups:
            table.add_row(
                g.group,
                str(g.n_examples),
                _f(g.label_accuracy),
                _f(g.crowd_positive_rate),
                _f(g.known_positive_rate),
                _f(g.positive_rate_gap, signed=True),
                _f(g.false_positive_rate),
                _f(g.false_negative_rate),
                _f(g.mean_answer, digits=2),
            )
        console.print(table)
        summary = res.to_json()["worker_positive_share_gap"]
        console.print(
            f"per-worker positive-answer share, most minus least positive {res.column} group "
            f"({summary['n_workers']} workers with >= 5 answers in 2+ groups): median "
            f"{_f(summary['median'])}, max {_f(summary['max'])}"
        )
    if plot is not None:
        plot_audit(results, plot, title=f"Crowd bias audit: {csv.name} ({method})")
        console.print(f"wrote {plot}")
    if json_out is not None:
        payload = {"csv": str(csv), "method": method, "audits": [r.to_json() for r in results]}
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
        console.print(f"wrote {json_out}")


def _f(value: float | None, *, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
