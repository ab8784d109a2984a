"""Trainer commands: `frtrain train` and `frtrain reproduce ...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

reproduce_app = typer.Typer(help="Regenerate the paper's tables and figures.", no_args_is_help=True)

METHODS = ("fr-train", "lr")
BUILTIN = ("synthetic", "compas", "adult")


def _floats(text: str, what: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"{what} must be a number or a comma-separated list: {text!r}"
        raise typer.BadParameter(msg) from None
    if not vals:
        raise typer.BadParameter(f"{what} is empty")
    return vals


def _ints(text: str, what: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"{what} must be an integer or a comma-separated list: {text!r}"
        raise typer.BadParameter(msg) from None
    if not vals:
        raise typer.BadParameter(f"{what} is empty")
    return vals


def _spec(
    *, method: str, data: str, label: str | None, sensitive: str | None, features: str | None,
    id_column: str | None, categorical: str | None, positive_label: str | None,
    privileged: str | None, poison: bool, attack: str, fraction: float, target_group: int,
    val_file: Path | None, test_file: Path | None, l1: str | None, l2: str | None,
    fairness: str, reweight: str, hidden: int, epochs: int | None, k: int | None,
    batch_size: int | None, seed: int, split_seed: int, min_di: float, device: str,
    holdout_repeats: int | None = None, selection_rule: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The job spec (trainer.api's JSON shape) that ``frtrain train``'s options describe."""
    from trainer.api import available_methods

    methods = available_methods()
    if method not in methods:
        raise typer.BadParameter(f"--method must be one of {', '.join(methods)}")
    if attack not in ("top_margin", "paudice_greedy"):
        raise typer.BadParameter("--attack must be top_margin or paudice_greedy")
    spec: dict[str, Any] = {"method": method, "seeds": [seed], "split_seed": split_seed,
                            "device": device}  # fmt: skip
    poisoning = {"attack": attack, "fraction": fraction, "target_group": target_group}
    if data in BUILTIN:
        spec["data"] = {"builtin": data}
        # the shipped y_poi.npy is exactly the authors' top-margin attack at 10%
        shipped = data == "synthetic" and attack == "top_margin" and abs(fraction - 0.1) < 1e-12
        if data == "synthetic":
            spec["data"]["synthetic_poisoned"] = poison and shipped
        if poison and not (data == "synthetic" and shipped):
            spec["poisoning"] = poisoning
    else:
        if not Path(data).exists():
            raise typer.BadParameter(
                f"--data {data!r} is neither one of {', '.join(BUILTIN)} nor an existing file"
            )
        if not label or not sensitive:
            raise typer.BadParameter("a user data file needs --label and --sensitive columns")
        spec["data"] = {
            "file": str(data), "label": label, "sensitive": sensitive,
            "features": features.split(",") if features else None, "id_column": id_column,
            "categorical": categorical.split(",") if categorical else [],
            "positive_label": positive_label, "privileged": privileged,
        }  # fmt: skip
        if poison:
            spec["poisoning"] = poisoning
    if val_file is not None:
        spec["validation"] = {"kind": "file", "path": str(val_file)}
    if test_file is not None:
        spec["test"] = {"file": str(test_file)}
    if holdout_repeats is not None:
        spec["holdout"] = {"repeats": holdout_repeats} if holdout_repeats > 0 else None
    hp: dict[str, Any] = {}
    if method == "fr-train":
        if l1 is not None:
            hp["l1"] = _floats(l1, "--l1")
        if l2 is not None:
            hp["l2"] = _floats(l2, "--l2")
        hp.update(fairness=fairness, reweight=reweight, g_hidden=hidden, batch_size=batch_size)
        if epochs is not None:
            hp["epochs"] = epochs
            hp["pretrain_epochs"] = min(500, max(0, epochs // 5)) if epochs <= 500 else 500
        if k is not None:
            hp["k"] = k
    spec["hyperparameters"] = hp
    metric = {"dp": "disparate_impact", "eo": "equalized_odds", "eop": "equal_opportunity"}
    spec["selection"] = {"min_fairness": min_di, "metric": metric.get(fairness, "")}
    if selection_rule is not None:
        from trainer.api import JOB_RULES

        if selection_rule not in JOB_RULES:
            raise typer.BadParameter(f"--selection-rule must be one of {', '.join(JOB_RULES)}")
        spec["selection"]["rule"] = selection_rule
    return spec


def train(
    method: str = typer.Option(
        None,
        help="fr-train, lr, auto or a practitioner baseline (eg-dp-clean, to-dp-post, "
        "cr-lr, ...). Default: auto for a user file, fr-train for a built-in data set.",
    ),
    data: str = typer.Option("synthetic", help="synthetic, compas, adult, or a CSV/Parquet path."),
    label: str = typer.Option(None, help="User file: label column."),
    sensitive: str = typer.Option(None, help="User file: sensitive-attribute column."),
    features: str = typer.Option(None, help="User file: comma-separated feature columns."),
    id_column: str = typer.Option(None, help="User file: the row id column (not a feature)."),
    categorical: str = typer.Option(None, help="User file: comma-separated categorical columns."),
    positive_label: str = typer.Option(None, help="User file: the label value meaning +1."),
    privileged: str = typer.Option(None, help="User file: the sensitive value coded z = 1."),
    poison: bool = typer.Option(False, "--poison/--no-poison", help="Poison the training split."),
    attack: str = typer.Option("top_margin", help="top_margin or paudice_greedy."),
    fraction: float = typer.Option(0.1, help="Poisoning budget as a fraction of D_tr."),
    target_group: int = typer.Option(1, help="Group whose labels the attack flips."),
    val_file: Path = typer.Option(None, help="External (e.g. crowdsourced) validation file."),
    test_file: Path = typer.Option(
        None,
        help="Clean test file (else the test split is carved "
        "from the training file and its labels are untrusted).",
    ),
    holdout_repeats: int = typer.Option(
        None,
        help="Held-out crowd-labelled evaluation: fits with 30% of --val-file held out "
        "[3 for a user file with --val-file and no --test-file; 0 turns it off].",
    ),
    # None: the data regime's defaults (trainer.defaults, chosen by select-defaults)
    l1: str = typer.Option(None, help="lambda_1 value(s) [regime default]."),
    l2: str = typer.Option(None, help="lambda_2 value(s) [regime default]."),
    fairness: str = typer.Option("dp", help="dp, eo or eop."),
    reweight: str = typer.Option("paper", help="paper, notebook or off."),
    hidden: int = typer.Option(0, help="Hidden units in the generator (0, 8 or 16)."),
    epochs: int = typer.Option(None, help="Training epochs [regime default]."),
    k: int = typer.Option(None, help="Discriminator steps per generator step [regime default]."),
    batch_size: int = typer.Option(None, help="Mini-batch size (default: full batch)."),
    seed: int = typer.Option(0, help="Initialisation seed."),
    split_seed: int = typer.Option(0, help="Seed of the train/val/test split (real data)."),
    min_di: float = typer.Option(0.8, help="Model selection on validation: fairness floor."),
    selection_rule: str = typer.Option(
        None,
        help="How the grid point is chosen on validation data (docs/SELECTION.md): interval, "
        "point or smoothed (built-in synthetic data only) [interval].",
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int = typer.Option(1, help="torch CPU threads (small models: 1 is fastest)."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    out: Path = typer.Option(Path("frtrain-out"), help="Output folder."),
) -> None:
    """Train FR-Train (a whole lambda grid in one batched run) or LR through the same
    pipeline as a training job (trainer.api.run_training); print the grid and save the
    artifacts (model.pt, config.json, predictions.csv, tradeoff.png, metrics.json) under
    --out."""
    from trainer import api

    if method is None:
        method = "fr-train" if data in BUILTIN else "auto"
    spec_raw = _spec(
        method=method, data=data, label=label, sensitive=sensitive, features=features,
        id_column=id_column, categorical=categorical, positive_label=positive_label,
        privileged=privileged, poison=poison, attack=attack, fraction=fraction,
        target_group=target_group, val_file=val_file, test_file=test_file, l1=l1, l2=l2,
        fairness=fairness, reweight=reweight, hidden=hidden, epochs=epochs, k=k,
        batch_size=batch_size, seed=seed, split_seed=split_seed, min_di=min_di, device=device,
        holdout_repeats=holdout_repeats, selection_rule=selection_rule,
    )  # fmt: skip
    try:
        spec = api.validate_spec(spec_raw)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        results = api.run_training(spec, artifact_dir=out, threads=threads)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(json.dumps(results, indent=2))
        return
    typer.echo(api.format_results(results))
    typer.echo(f"wrote {', '.join(results['artifacts'])} under {out}")


def predict(
    model: Path = typer.Argument(..., help="model.pt, or the --out folder of `frtrain train`."),
    data: Path = typer.Argument(..., help="CSV or Parquet rows with the training columns."),
    out: Path = typer.Option(None, help="Write id,score,label here (default: stdout)."),
    seed: int = typer.Option(None, help="Which seed's chosen model (default: the first)."),
) -> None:
    """Predict new rows with a saved model: the same encoding and model as training, so the
    job's test rows get exactly the predictions its predictions.csv recorded."""
    from trainer import api

    try:
        saved = api.load_model(model)
        frame = api.predict_table(saved, data, seed=seed)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    text = frame.to_csv(index=False)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {len(frame)} predictions to {out}", err=True)


@reproduce_app.command("synthetic")
def reproduce_synthetic(
    seeds: str = typer.Option("0,1,2,3,4", help="Comma-separated seeds."),
    json_path: Path = typer.Option(None, "--json", help="Write the rows as JSON here."),
    plot: Path = typer.Option(None, help="Write the Figure 4c-style trade-off PNG here."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    threads: int = typer.Option(1, help="torch CPU threads (small models: 1 is fastest)."),
) -> None:
    """Table 1's LR and FR-Train rows (clean and poisoned), ours beside the paper's."""
    import torch

    from trainer.experiments import synthetic as exp

    torch.set_num_threads(max(1, threads))
    result = exp.reproduce(_ints(seeds, "--seeds"), progress=progress, log=typer.echo,
                           device=device)  # fmt: skip
    typer.echo(exp.format_table(result))
    if json_path is not None:
        exp.write_json(result, json_path)
        typer.echo(f"wrote {json_path}")
    if plot is not None:
        exp.plot_tradeoff(result, plot)
        typer.echo(f"wrote {plot}")


# -- paper tables (trainer.experiments.paper / report) -------------------------------------
def _reproduce_tables(
    tables: list[str], out: Path, quick: bool, seeds: str | None, workers: int,
    data_dir: Path | None, progress: bool, command: str, device: str = "auto",
) -> None:  # fmt: skip
    from dataclasses import replace

    import torch

    from trainer.experiments import paper, report

    profile = paper.profile_with(
        paper.QUICK if quick else paper.FULL, _ints(seeds, "--seeds") if seeds else None
    )
    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("--device must be auto, cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise typer.BadParameter("--device cuda: no CUDA device is available here")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    profile = replace(profile, device=device)
    if not 1 <= workers <= 2:
        raise typer.BadParameter("--workers must be 1 or 2 (the machine has 2 cores)")
    path, _, findings, timing = report.reproduce(
        tables, out=out, profile=profile, data_dir=str(data_dir) if data_dir else None,
        workers=workers, progress=progress, command=command,
    )  # fmt: skip
    for f in findings:
        verdict = {True: "holds", False: "DOES NOT HOLD", None: "not checked"}[f.holds]
        typer.echo(f"finding ({f.key}) {verdict}: {f.claim}")
    typer.echo(report.format_timing(timing))
    typer.echo(f"wrote {path} and {path.parent / 'results.json'}")


_DEVICE_HELP = "FR-Train grids on auto|cpu|cuda (auto: CUDA if present)."


def _table_command(table: str) -> Any:
    def command(
        out: Path = typer.Option(Path("reproduction"), help="Output folder (cache/ inside)."),
        quick: bool = typer.Option(False, "--quick", help="Fewer seeds, epochs and knobs."),
        seeds: str = typer.Option(None, help="Comma-separated seeds (default 0-4; quick 0,1)."),
        workers: int = typer.Option(2, help="Worker processes (1 or 2)."),
        data_dir: Path = typer.Option(
            None,
            help="Data folder (default: FRTRAIN_DATA_DIR or the user cache).",
        ),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
        device: str = typer.Option("auto", help=_DEVICE_HELP),
    ) -> None:
        _reproduce_tables([table], out, quick, seeds, workers, data_dir, progress,
                          f"frtrain reproduce {table}" + (" --quick" if quick else ""),
                          device)  # fmt: skip

    command.__doc__ = f"Regenerate the paper's {table} (ours beside the paper's) under --out."
    return command


def _paper_tables() -> tuple[str, ...]:
    from trainer.experiments.paper import TABLES

    return TABLES


for _name in (
    "table1", "table2", "table3", "table5", "table7", "table8", "table9", "figure2b", "figure4",
):  # fmt: skip
    reproduce_app.command(_name)(_table_command(_name))


@reproduce_app.command("all")
def reproduce_all(
    out: Path = typer.Option(Path("reproduction"), help="Output folder (cache/ inside)."),
    quick: bool = typer.Option(False, "--quick", help="Fewer seeds, epochs and knobs."),
    seeds: str = typer.Option(None, help="Comma-separated seeds (default 0-4; quick 0,1)."),
    workers: int = typer.Option(2, help="Worker processes (1 or 2)."),
    data_dir: Path = typer.Option(
        None,
        help="Data folder (default: FRTRAIN_DATA_DIR or the user cache).",
    ),
    only: str = typer.Option(None, help="Comma-separated subset, e.g. table1,table8."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    device: str = typer.Option("auto", help=_DEVICE_HELP),
) -> None:
    """Every paper table and figure: REPORT.md, results.json and PNGs under --out."""
    tables = list(_paper_tables())
    if only:
        chosen = [t.strip() for t in only.split(",") if t.strip()]
        bad = sorted(set(chosen) - set(tables))
        if bad or not chosen:
            raise typer.BadParameter(f"--only takes tables among {', '.join(tables)}; got {bad}")
        tables = [t for t in tables if t in chosen]
    cmd = (
        "frtrain reproduce all"
        + (" --quick" if quick else "")
        + (f" --only {only}" if only else "")
    )
    _reproduce_tables(tables, out, quick, seeds, workers, data_dir, progress, cmd, device)


@reproduce_app.command("select-defaults")
def reproduce_select_defaults(
    data: str = typer.Option(
        "synthetic", help="synthetic (poisoned and clean), compas or adult (step count)."
    ),
    seeds: str = typer.Option("0,1,2,3,4", help="Comma-separated seeds."),
    json_path: Path = typer.Option(None, "--json", help="Write the selection as JSON here."),
    epochs: int = typer.Option(None, help="Override every candidate's epochs (quick checks)."),
    data_dir: Path = typer.Option(
        None,
        help="Data folder (default: FRTRAIN_DATA_DIR or the user cache).",
    ),
    crowd_csv: Path = typer.Option(None, help="COMPAS crowd answers (default crowd/ in data)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    threads: int = typer.Option(1, help="torch CPU threads (small models: 1 is fastest)."),
) -> None:
    """Choose the FR-Train defaults on VALIDATION data only; test metrics of the winner are
    printed afterwards, as a report (trainer.experiments.select_defaults)."""
    import torch

    from trainer.experiments import select_defaults as sd
    from trainer.metrics import json_safe

    if data not in ("synthetic", "compas", "adult"):
        raise typer.BadParameter("--data must be synthetic, compas or adult")
    if data == "adult" and epochs is not None:
        raise typer.BadParameter(
            "--epochs does not apply to adult (its candidates are step counts)"
        )
    torch.set_num_threads(max(1, threads))
    names = ["synthetic-poisoned", "synthetic-clean"] if data == "synthetic" else [data]
    out: dict[str, Any] = {}
    typer.echo(f"criterion: {sd.CRITERION}")
    for name in names:
        sel, load = sd.run(
            name, _ints(seeds, "--seeds"), data_dir=data_dir, crowd_csv=crowd_csv,
            epochs=epochs, progress=progress, log=typer.echo,
        )  # fmt: skip
        typer.echo(sd.format_selection(sel))
        # Only now, with the winner fixed, is the test split loaded: a report, not an input.
        rep = sd.report_test(sel, load())
        typer.echo(
            f"REPORT ONLY (test split, not used for the choice): {rep['winner']}: "
            f"acc {rep['acc_mean']:.3f} ± {rep['acc_std']:.3f}, "
            f"DI {rep['di_mean']:.3f} ± {rep['di_std']:.3f}"
        )
        out[name] = {**sel.to_dict(), "test_report_after_selection": rep}
    if json_path is not None:
        json_path.write_text(json.dumps(json_safe(out), indent=2, default=float))
        typer.echo(f"wrote {json_path}")


@reproduce_app.command("practitioners")
def reproduce_practitioners(
    out: Path = typer.Option(Path("reproduction/practitioners"), help="Output folder."),
    split_seeds: str = typer.Option("0,1,2,3,4", help="Comma-separated split seeds."),
    seeds: str = typer.Option("0", help="Model seeds (FR-Train and auto), comma-separated."),
    datasets: str = typer.Option("compas,adult", help="Comma-separated: compas, adult."),
    methods: str = typer.Option(None, help="Comma-separated rows (default: every one)."),
    quick: bool = typer.Option(False, "--quick", help="FR-Train's quick profile."),
    workers: int = typer.Option(2, help="Worker processes (1 or 2)."),
    data_dir: Path = typer.Option(
        None, help="Data folder (default: FRTRAIN_DATA_DIR or the user cache)."
    ),
    cached_only: bool = typer.Option(
        False, "--cached-only", help="Train nothing: report the tasks already cached."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """FR-Train against every practitioner baseline and auto (trainer.experiments.practitioners)."""
    from trainer.experiments import practitioners as EP

    names = [d.strip() for d in datasets.split(",") if d.strip()]
    bad = sorted(set(names) - set(EP.DATASETS))
    if bad or not names:
        raise typer.BadParameter(f"--datasets takes {', '.join(EP.DATASETS)}; got {bad}")
    rows = EP.ROWS if methods is None else tuple(m.strip() for m in methods.split(","))
    cmd = "frtrain reproduce practitioners" + (" --cached-only" if cached_only else "")
    report, _ = EP.reproduce(
        out, split_seeds=_ints(split_seeds, "--split-seeds"), model_seeds=_ints(seeds, "--seeds"),
        quick=quick, workers=workers, datasets=names, methods=rows,
        data_dir=str(data_dir) if data_dir else None, progress=progress, command=cmd,
        cached_only=cached_only,
    )  # fmt: skip
    typer.echo(f"wrote {report}")


def register(root: Any) -> None:
    root.command("train")(train)
    root.command("predict")(predict)
    root.add_typer(reproduce_app, name="reproduce")
