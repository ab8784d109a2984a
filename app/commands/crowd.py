"""frtrain CLI commands: crowd (registered on the groups in app.commands)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from app.commands import crowd_app
from app.core.errors import DomainError
from app.crowd import DEFAULT_METHOD, CrowdInputError
from app.workflows.table6 import PAPER_TABLE6, Table6Config, Table6Result, run_table6


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(
            f"seeds must be comma-separated integers, e.g. 0,1,2; got {text!r}",
            param_hint="--seeds",
        ) from None
    if not seeds:
        raise typer.BadParameter("give at least one seed", param_hint="--seeds")
    return seeds


def paper_key_for(csv: Path, paper: str | None) -> str | None:
    if paper is not None:
        return None if paper.lower() == "none" else paper
    name = csv.name.lower()
    if "compas" in name:
        return "COMPAS"
    if "adult" in name:
        return "AdultCensus"
    return None


def crowd_csv_option() -> Any:
    """The ``--csv`` option of `crowd table6` and `crowd replay` (a fresh one per command)."""
    return typer.Option(
        ...,
        "--csv",
        exists=True,
        dir_okay=False,
        readable=True,
        help="Crowd CSV in the released format (example_idx, true_label, ans_k, worker_id_k, "
        "features).",
    )


def table6_options(
    csv: Path, paper: str | None, gold_fraction: float, seeds: str
) -> tuple[str | None, Table6Config]:
    """The paper row to print beside ours and the Table 6 settings, from the shared CLI options
    of `crowd table6` and `crowd replay` (a clear BadParameter naming the option otherwise)."""
    if not 0.0 < gold_fraction < 1.0:
        raise typer.BadParameter("must be in (0, 1)", param_hint="--gold-fraction")
    paper_key = paper_key_for(csv, paper)
    if paper_key is not None and paper_key not in PAPER_TABLE6:
        raise typer.BadParameter(
            f"choose one of {', '.join(PAPER_TABLE6)} or none", param_hint="--paper"
        )
    return paper_key, Table6Config(gold_fraction=gold_fraction, seeds=parse_seeds(seeds))


@contextmanager
def exit_on_bad_csv(csv: Path, console: Console) -> Iterator[None]:
    """Print why the crowd CSV was refused and exit 1, instead of a traceback."""
    try:
        yield
    except DomainError as error:  # the service rejected the file; detail names row and column
        console.print(f"[red]error:[/red] {escape(f'{csv}: {error.detail}')}", soft_wrap=True)
        raise typer.Exit(code=1) from None
    except (CrowdInputError, ValueError) as error:
        console.print(f"[red]error:[/red] {escape(f'{csv}: {error}')}", soft_wrap=True)
        raise typer.Exit(code=1) from None


def render_table6(result: Table6Result, paper: str | None, console: Console) -> None:
    config = result.config
    console.print(
        f"{result.n_examples} examples, {result.n_workers} workers; hidden gold "
        f"{config.gold_fraction:.0%} = {result.n_gold} examples, accuracy on the other "
        f"{result.n_examples - result.n_gold}; seeds {','.join(map(str, config.seeds))} "
        "(mean ± sample std over seeds)"
    )
    console.print(
        f"worker filter {config.rule.to_dict()}; workers excluded per seed: "
        f"{result.excluded_per_seed}"
    )
    table = Table(
        title="Table 6: crowd label accuracy against N (answers per example)",
        caption="all = every example, no gold, no filter (deterministic); "
        "non-gold columns: mean ± std over seeds; raw = mean rule without worker filtering",
    )
    table.add_column("N", justify="right")
    table.add_column(f"paper {paper}" if paper else "paper", justify="right")
    table.add_column("mean, all, raw", justify="right")
    table.add_column("mean, raw", justify="right")
    for method in config.methods:
        name = f"{method} (default)" if method == DEFAULT_METHOD else method
        table.add_column(name, justify="right")
    paper_row = PAPER_TABLE6.get(paper, {}) if paper else {}
    for n in config.n_values:
        cells = [str(n), f"{paper_row[n]:.3f}" if n in paper_row else ""]
        cells.append(f"{result.unfiltered_all[n]:.3f}")
        cells.append("{:.3f}±{:.3f}".format(*result.baseline_summary(n)))
        cells += ["{:.3f}±{:.3f}".format(*result.summary(m, n)) for m in config.methods]
        table.add_row(*cells)
    console.print(table)


@crowd_app.command("table6")
def table6(
    csv: Path = crowd_csv_option(),
    gold_fraction: float = typer.Option(
        0.2, "--gold-fraction", help="Share of examples used as hidden gold (0 < f < 1)."
    ),
    seeds: str = typer.Option("0,1,2,3,4", "--seeds", help="Comma-separated gold-split seeds."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the results as JSON."),
    paper: str | None = typer.Option(
        None,
        "--paper",
        help="Paper row to print beside ours: COMPAS, AdultCensus or none "
        "(default: guessed from the file name).",
    ),
) -> None:
    """Reproduce Table 6 (paper Section 4.4): label accuracy for N = 1..11 per method."""
    paper_key, config = table6_options(csv, paper, gold_fraction, seeds)
    # A fixed minimum width keeps the table readable when the output is piped to a file.
    console = Console(width=max(120, shutil.get_terminal_size().columns))
    with exit_on_bad_csv(csv, console), Progress(console=console, transient=True) as progress:
        task = progress.add_task(
            "gold split x method", total=len(config.seeds) * len(config.methods)
        )
        result = run_table6(csv_path=csv, config=config, on_step=lambda: progress.advance(task))
    render_table6(result, paper_key, console)
    if json_out is not None:
        payload = result.to_json()
        payload["csv"] = str(csv)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
        console.print(f"wrote {json_out}")
