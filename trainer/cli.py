"""Trainer commands: `frtrain train` and `frtrain reproduce ...`."""

from __future__ import annotations

import csv
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


def _load_data(
    data: str,
    *,
    poison: bool,
    attack: str,
    fraction: float,
    target_group: int,
    val_file: Path | None,
    label: str | None,
    sensitive: str | None,
    features: str | None,
    categorical: str | None,
    positive_label: str | None,
    privileged: str | None,
    split_seed: int,
) -> Any:
    """Load a built-in or user data set, poison its training split, swap in a validation file."""
    from trainer import data as tdata

    if attack not in ("top_margin", "paudice_greedy"):
        raise typer.BadParameter("--attack must be top_margin or paudice_greedy")
    atk: Any = attack
    if data == "synthetic":
        default_attack = attack == "top_margin" and abs(fraction - 0.1) < 1e-12
        # the shipped y_poi.npy is exactly the authors' top-margin attack at 10%
        ds = tdata.load_synthetic(poisoned=poison and default_attack)
        if poison and not default_attack:
            ds = tdata.poison(ds, attack=atk, budget=fraction, target_group=target_group).dataset
    else:
        if data == "compas":
            ds = tdata.load_compas(seed=split_seed)
        elif data == "adult":
            ds = tdata.load_adult(seed=split_seed)
        else:
            path = Path(data)
            if not path.exists():
                raise typer.BadParameter(
                    f"--data {data!r} is neither one of {', '.join(BUILTIN)} nor an existing file"
                )
            if not label or not sensitive:
                raise typer.BadParameter("a user data file needs --label and --sensitive columns")
            ds = tdata.load_table(
                path, label=label, sensitive=sensitive,
                features=features.split(",") if features else None,
                categorical=categorical.split(",") if categorical else (),
                positive_label=positive_label, privileged=privileged, seed=split_seed,
            )  # fmt: skip
        if poison:
            ds = tdata.poison(ds, attack=atk, budget=fraction, target_group=target_group).dataset
    if val_file is not None:
        ds = tdata.replace_validation(ds, val_file)
    return ds


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
    categorical: str = typer.Option(None, help="User file: comma-separated categorical columns."),
    positive_label: str = typer.Option(None, help="User file: the label value meaning +1."),
    privileged: str = typer.Option(None, help="User file: the sensitive value coded z = 1."),
    poison: bool = typer.Option(False, "--poison/--no-poison", help="Poison the training split."),
    attack: str = typer.Option("top_margin", help="top_margin or paudice_greedy."),
    fraction: float = typer.Option(0.1, help="Poisoning budget as a fraction of D_tr."),
    target_group: int = typer.Option(1, help="Group whose labels the attack flips."),
    val_file: Path = typer.Option(None, help="External (e.g. crowdsourced) validation file."),
    # Defaults: the poisoned-synthetic grid chosen on validation only by
    # `frtrain reproduce select-defaults` (trainer.experiments.synthetic.DEFAULT_SETTINGS).
    l1: str = typer.Option("0.3,0.4,0.45,0.5,0.55,0.58,0.61,0.64", help="lambda_1 value(s)."),
    l2: str = typer.Option("0.3", help="lambda_2 value(s)."),
    fairness: str = typer.Option("dp", help="dp, eo or eop."),
    reweight: str = typer.Option("paper", help="paper, notebook or off."),
    hidden: int = typer.Option(0, help="Hidden units in the generator (0, 8 or 16)."),
    epochs: int = typer.Option(10_000, help="Training epochs."),
    k: int = typer.Option(5, help="Discriminator steps per generator step."),
    batch_size: int = typer.Option(None, help="Mini-batch size (default: full batch)."),
    seed: int = typer.Option(0, help="Initialisation seed."),
    split_seed: int = typer.Option(0, help="Seed of the train/val/test split (real data)."),
    min_di: float = typer.Option(0.8, help="Model selection on validation: DI floor."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int = typer.Option(1, help="torch CPU threads (small models: 1 is fastest)."),
    out: Path = typer.Option(Path("frtrain-out"), help="Output folder."),
) -> None:
    """Train FR-Train (a whole lambda grid in one batched run) or LR; print test metrics and
    save the model checkpoint, its config and its test predictions under --out."""
    import numpy as np
    import torch

    from trainer.experiments.synthetic import choose_index
    from trainer.metrics import evaluate

    if method is None:
        method = "fr-train" if data in BUILTIN else "auto"
    from trainer.api import available_methods

    # the rest are served by trainer.api's estimator registry (baselines, auto)
    registry = [m for m in available_methods() if m not in METHODS]
    if method not in (*METHODS, *registry):
        raise typer.BadParameter(f"--method must be one of {', '.join((*METHODS, *registry))}")
    torch.set_num_threads(max(1, threads))
    ds = _load_data(
        data, poison=poison, attack=attack, fraction=fraction, target_group=target_group,
        val_file=val_file, label=label, sensitive=sensitive, features=features,
        categorical=categorical, positive_label=positive_label, privileged=privileged,
        split_seed=split_seed,
    )  # fmt: skip
    tr, va, te = ds.train, ds.val, ds.test
    out.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "method": method, "data": data, "poison": poison, "attack": attack,
        "fraction": fraction, "target_group": target_group,
        "val_file": str(val_file) if val_file else None, "seed": seed, "split_seed": split_seed,
        "n_train": len(tr), "n_val": len(va), "n_test": len(te),
    }  # fmt: skip
    models: list[Any]
    points: list[dict[str, Any]]
    if method in registry:
        from trainer.api import fit_named

        named = fit_named(method, ds, seed=seed, progress=typer.echo)
        models, points, chosen = [named], [{}], 0
        if hasattr(named, "report"):
            rep = named.report()
            config["auto"] = rep
            typer.echo(f"auto chose {rep['reason']}")
            for line in rep["warnings"] + rep["notes"]:
                typer.echo(f"  note: {line}")
        # the fitted estimator itself (fairlearn objects inside): torch.load(weights_only=False)
        torch.save({"method": method, "estimator": named}, out / "model.pt")
    elif method == "lr":
        from trainer.models.lr import LogisticRegression

        lr_model = LogisticRegression().fit(tr.X, tr.y, tr.z)
        models, points, chosen = [lr_model], [{}], 0
        torch.save(lr_model.state_dict(), out / "model.pt")
    else:
        from trainer.models.fr_train import FRTrainGrid

        params = dict(
            fairness=fairness, reweight=reweight, hidden=hidden, epochs=epochs, k=k,
            batch_size=batch_size, device=device, progress=True,
        )  # fmt: skip
        grid = FRTrainGrid(
            lambda_f=_floats(l1, "--l1"), lambda_r=_floats(l2, "--l2"), seeds=[seed], **params
        )
        grid.fit(tr.X, tr.y, tr.z, X_val=va.X, y_val=va.y, z_val=va.z)
        models, points = grid.models_, grid.grid_
        pv = grid.predictions(va.X, va.z)
        val_m = [evaluate(va.y, p, va.z) for p in pv]
        chosen, crit = choose_index(
            [m["accuracy"] for m in val_m], [_fair(m, fairness) for m in val_m], min_di=min_di
        )
        config.update(params, lambda_f=_floats(l1, "--l1"), lambda_r=_floats(l2, "--l2"),
                      selection=crit)  # fmt: skip
        torch.save(
            {"selected": chosen, "grid": points,
             "models": [m.state_dict() for m in models]}, out / "grid.pt",
        )  # fmt: skip
        models[chosen].save(out / "model.pt")
    rows = []
    typer.echo(f"{'#':>2} {'l1':>5} {'l2':>5}  {'val acc':>7} {'test acc':>8} {'test DI':>7}"
               f" {'EO y=0':>6} {'EO y=1':>6}")  # fmt: skip
    for i, m in enumerate(models):
        pred = m.predict(te.X, te.z)
        met = evaluate(te.y, pred, te.z)
        vacc = float(np.mean((m.predict(va.X, va.z) > 0) == (va.y > 0)))
        rows.append({**points[i], "val_accuracy": vacc, "test": met})
        mark = "*" if i == chosen else " "
        lam = "".join(
            f"{points[i][key]:>5.2f} " if key in points[i] else f"{'-':>5} "
            for key in ("lambda_f", "lambda_r")
        )
        typer.echo(
            f"{i:>2}{mark}{lam} {vacc:>7.3f} "
            f"{met['accuracy']:>8.3f} {met['disparate_impact']:>7.3f} "
            f"{met['equalized_odds_y0']:>6.3f} {met['equalized_odds_y1']:>6.3f}"
        )
    best = models[chosen]
    with open(out / "predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "id", "z", "y_true", "y_pred", "proba"])
        ids = te.ids if te.ids is not None else range(len(te))
        for r, (i, z, y, p, q) in enumerate(
            zip(ids, te.z, te.y, best.predict(te.X, te.z), best.predict_proba(te.X, te.z),
                strict=True)
        ):  # fmt: skip
            w.writerow([r, i, int(z), int(y), int(p), f"{float(q):.6f}"])
    config["chosen"] = chosen
    (out / "config.json").write_text(json.dumps(config, indent=2, default=str))
    (out / "metrics.json").write_text(
        json.dumps(_json_safe({"chosen": chosen, "models": rows}), indent=2)
    )
    typer.echo(f"selected model #{chosen} (* above; chosen on validation). Wrote {out}/model.pt, "
               "config.json, metrics.json, predictions.csv")  # fmt: skip


def _json_safe(v: Any) -> Any:
    """NaN (a 0/0 fairness ratio) becomes null, which JSON can hold."""
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    if isinstance(v, float) and v != v:
        return None
    return v


def _fair(metrics: dict[str, Any], fairness: str) -> float:
    if fairness == "eo":
        return min(metrics["equalized_odds_y0"], metrics["equalized_odds_y1"])
    if fairness == "eop":
        return float(metrics["equal_opportunity"])
    return float(metrics["disparate_impact"])


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
        data_dir: Path = typer.Option(None, help="Data folder (default ../shared/data)."),
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
    data_dir: Path = typer.Option(None, help="Data folder (default ../shared/data)."),
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


@reproduce_app.command("practitioners")
def reproduce_practitioners(
    out: Path = typer.Option(Path("reproduction/practitioners"), help="Output folder."),
    split_seeds: str = typer.Option("0,1,2,3,4", help="Split seeds."),
    model_seeds: str = typer.Option("0", help="Model seeds (FR-Train and auto)."),
    datasets: str = typer.Option("compas,adult", help="compas and/or adult."),
    methods: str = typer.Option(None, help="Comma-separated subset of the rows (default: all)."),
    settings: str = typer.Option("clean,poisoned", help="clean and/or poisoned."),
    quick: bool = typer.Option(False, help="Short FR-Train schedules (a smoke test)."),
    workers: int = typer.Option(2, help="Worker processes (at most 2)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
    cached_only: bool = typer.Option(
        False, help="Train nothing: report the cached tasks and list the missing ones."
    ),
) -> None:
    """FR-Train (paper mode), auto and every practitioner baseline over split seeds."""
    from trainer.experiments import practitioners as prac

    cmd = (
        "frtrain reproduce practitioners"
        + (" --quick" if quick else "")
        + (" --cached-only" if cached_only else "")
    )
    path, table = prac.reproduce(
        out, split_seeds=_ints(split_seeds, "--split-seeds"),
        model_seeds=_ints(model_seeds, "--model-seeds"),
        datasets=[d.strip() for d in datasets.split(",") if d.strip()],
        methods=[m.strip() for m in methods.split(",")] if methods else prac.ROWS,
        settings=[x.strip() for x in settings.split(",") if x.strip()],
        quick=quick, workers=workers, progress=progress, command=cmd, cached_only=cached_only,
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(_json_safe(table), indent=2))
    else:
        typer.echo(path.read_text())


@reproduce_app.command("select-defaults")
def reproduce_select_defaults(
    data: str = typer.Option(
        "synthetic", help="synthetic (poisoned and clean), compas or adult (step count)."
    ),
    seeds: str = typer.Option("0,1,2,3,4", help="Comma-separated seeds."),
    json_path: Path = typer.Option(None, "--json", help="Write the selection as JSON here."),
    epochs: int = typer.Option(None, help="Override every candidate's epochs (quick checks)."),
    data_dir: Path = typer.Option(None, help="Data folder (default ../shared/data)."),
    crowd_csv: Path = typer.Option(None, help="COMPAS crowd answers (default crowd/ in data)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    threads: int = typer.Option(1, help="torch CPU threads (small models: 1 is fastest)."),
) -> None:
    """Choose the FR-Train defaults on VALIDATION data only; test metrics of the winner are
    printed afterwards, as a report (trainer.experiments.select_defaults)."""
    import torch

    from trainer.experiments import select_defaults as sd

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
        json_path.write_text(json.dumps(_json_safe(out), indent=2, default=float))
        typer.echo(f"wrote {json_path}")


def register(root: Any) -> None:
    root.command("train")(train)
    root.add_typer(reproduce_app, name="reproduce")
