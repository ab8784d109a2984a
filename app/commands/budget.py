"""`frtrain crowd budget`: adaptive answer budgets replayed offline on a released crowd CSV."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from app.commands import crowd_app
from app.commands.crowd import crowd_csv_option, exit_on_bad_csv, parse_seeds
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
    from app.services.crowd_reports import budget_from_csv, plot_budget

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
