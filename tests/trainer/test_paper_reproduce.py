"""The reproduction harness: tasks, caching, table assembly, findings, report and CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from trainer.experiments import paper as P
from trainer.experiments import report as R

#: Far below --quick: enough to exercise every code path in seconds.
SMOKE = replace(
    P.QUICK,
    name="smoke",
    seeds=(0,),
    fr_epoch_scale=0.01,
    fr_lambda_stride=5,
    ad_steps=50,
    rml_steps=60,
    lbc_max_iter=4,
    fc_grid=(1.0, 0.1, 0.0),
    ad_grid=(0.0, 5.0),
)


def _row(method: str, clean: tuple[float, float], poisoned: tuple[float, float]) -> dict:
    def cell(di: float, acc: float) -> dict:
        return {"di": R.stat([di]), "acc": R.stat([acc])}

    return {"method": method, "clean": cell(*clean), "poisoned": cell(*poisoned)}


def test_findings_are_computed_from_the_numbers() -> None:
    good = {
        "FC": ((0.82, 0.80), (0.83, 0.76)),
        "LBC": ((0.82, 0.76), (0.83, 0.71)),
        "AD": ((0.81, 0.81), (0.83, 0.77)),
        "RML+FC": ((0.82, 0.80), (0.80, 0.53)),
        "RML+LBC": ((0.82, 0.76), (0.81, 0.75)),
        "RML+AD": ((0.81, 0.81), (0.81, 0.76)),
        "LR": ((0.41, 0.88), (0.45, 0.82)),
        "RML": ((0.47, 0.88), (0.40, 0.87)),
        "FR-Train": ((0.82, 0.81), (0.83, 0.814)),
    }
    tables = {"table1": {"dataset": "synthetic", "rows": [_row(m, *v) for m, v in good.items()]}}
    found = {f.key: f for f in R.check_findings(tables)}
    assert found["a"].holds and found["b"].holds and found["c"].holds
    assert found["d"].holds is None
    # LR above 0.6 DI and FC gaining accuracy under poisoning both break their findings.
    bad = dict(good, LR=((0.65, 0.88), (0.45, 0.82)), FC=((0.82, 0.76), (0.83, 0.80)))
    tables = {"table1": {"dataset": "synthetic", "rows": [_row(m, *v) for m, v in bad.items()]}}
    found = {f.key: f for f in R.check_findings(tables)}
    assert found["a"].holds is False and found["b"].holds is False
    assert any("NOT" in e for e in found["b"].evidence)


def test_finding_a_uses_the_clean_curve_when_chosen_dis_differ() -> None:
    rows = {m: _row(m, (0.82, 0.80), (0.83, 0.79)) for m in P.METHODS}
    # AD's clean knob landed at DI 0.60, its poisoned one at 0.85: not similar. Its clean
    # curve (test DI, acc per knob) has a point at DI 0.86 with accuracy 0.75.
    rows["AD"] = _row("AD", (0.60, 0.84), (0.85, 0.74))
    rows["AD"]["clean"]["curve"] = [[[0.60, 0.84], [0.86, 0.75], [0.99, 0.60]]]
    tables = {"table1": {"dataset": "synthetic", "rows": list(rows.values())}}
    found = {f.key: f for f in R.check_findings(tables)}["a"]
    assert found.holds is True  # 0.74 poisoned < 0.75 clean at DI 0.86
    assert any("acc 0.750 at DI 0.860 vs poisoned 0.740" in e for e in found.evidence)
    # A clean point at similar DI that is *less* accurate than the poisoned one breaks it.
    rows["AD"]["clean"]["curve"] = [[[0.60, 0.84], [0.86, 0.70]]]
    assert {f.key: f for f in R.check_findings(tables)}["a"].holds is False
    # No clean knob within 0.1 DI: not comparable, skipped (like finding (c)).
    rows["AD"]["clean"]["curve"] = [[[0.60, 0.84], [0.70, 0.80]]]
    found = {f.key: f for f in R.check_findings(tables)}["a"]
    assert found.holds is True and any(e.endswith("skipped") for e in found.evidence)


def test_tasks_are_shared_between_tables() -> None:
    t2 = {t.key for t in P.tasks_for("table2", SMOKE)}
    t5 = {t.key for t in P.tasks_for("table5", SMOKE)}
    assert {P.fr_main_task("compas", s, SMOKE).key for s in P.SETTINGS} <= t2 & t5
    with pytest.raises(ValueError, match="unknown table"):
        P.tasks_for("table4", SMOKE)


@pytest.mark.slow  # ~35 s on an idle 2-core machine (FR-Train grids, AD sweeps)
def test_smoke_reproduction_writes_report_and_resumes(tmp_path: Path) -> None:
    tables = ["table1", "table8", "figure2b", "figure4"]
    path, assembled, findings, timing = R.reproduce(
        tables, out=tmp_path, profile=SMOKE, workers=1, progress=False
    )
    # Each task is charged to one table: the charged times add up to the whole run's.
    charged = sum(t["new_seconds"] for t in timing["tables"].values())
    assert charged == pytest.approx(sum(timing["tasks"].values()))
    assert timing["tables"]["figure2b"]["new_seconds"] == 0  # its tasks are Table 1's
    assert timing["tables"]["figure2b"]["seconds"] > 0
    assert "figure2b" in R.format_timing(timing)
    text = path.read_text()
    assert "Table 1" in text and "Table 8" in text and "paper" in text
    lr = next(r for r in assembled["table1"]["rows"] if r["method"] == "LR")
    summary = text.split("## Summary", 1)[1].split("## Findings", 1)[0]
    assert (
        f"| LR | {lr['clean']['acc']['mean']:.3f} / {lr['clean']['di']['mean']:.3f} (0.885 / 0.409)"
        in summary
    )
    assert (tmp_path / "figure2b.png").stat().st_size > 0
    assert (tmp_path / "figure4.png").stat().st_size > 0
    data = json.loads((tmp_path / "results.json").read_text())
    rows = {r["method"]: r for r in data["tables"]["table1"]["rows"]}
    assert set(rows) == set(P.METHODS)
    assert rows["LR"]["clean"]["paper"] == {"di": 0.409, "acc": 0.885}
    # LR is deterministic: its synthetic numbers are the authors' LR (docs/ALGORITHMS.md §3.1).
    assert rows["LR"]["clean"]["acc"]["mean"] == pytest.approx(0.883, abs=0.005)
    assert {f.key for f in findings} == {"a", "b", "c", "d"}
    # Second run: every task comes from the cache.
    _, again, _, _ = R.reproduce(tables, out=tmp_path, profile=SMOKE, workers=1, progress=False)
    assert again["table1"] == assembled["table1"]
    again_timing = json.loads((tmp_path / "results.json").read_text())["timing"]
    assert all(v["cached"] == v["tasks"] for v in again_timing["tables"].values())
    # The cached rerun trained nothing, but its report still states what the first run cost.
    (run,) = again_timing["runs"]
    assert run["tasks_trained"] == len(timing["tasks"])
    assert run["training_seconds"] == pytest.approx(sum(timing["tasks"].values()), abs=0.1)
    assert f"{run['tasks_trained']} tasks" in (tmp_path / "REPORT.md").read_text()


def test_cli_quick_table8(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from trainer.cli import reproduce_app

    res = CliRunner().invoke(
        reproduce_app,
        ["table8", "--quick", "--seeds", "0", "--workers", "1", "--no-progress",
         "--out", str(tmp_path)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Table 8" in (tmp_path / "REPORT.md").read_text()
    assert "charged s" in res.output and "wall time" in res.output
    bad = CliRunner().invoke(reproduce_app, ["table8", "--workers", "3", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "--workers" in bad.output


def test_fr_settings_are_the_products_defaults() -> None:
    from trainer.api import FRTRAIN_DEFAULTS
    from trainer.experiments.synthetic import DEFAULT_SETTINGS

    real = FRTRAIN_DEFAULTS["real"]
    for setting in P.SETTINGS:
        syn = P.fr_settings("synthetic", setting, P.FULL)
        assert syn["lambda_r"] == DEFAULT_SETTINGS[setting]["lambda_r"]
        assert syn["lambda_f"] == DEFAULT_SETTINGS[setting]["lambda_f"]
        assert syn["params"]["epochs"] == DEFAULT_SETTINGS[setting]["params"]["epochs"]
        compas = P.fr_settings("compas", setting, P.FULL)
        assert [compas["lambda_r"]] == real["l2"] and compas["lambda_f"] == real["l1"]
        for k in ("epochs", "pretrain_epochs", "lr_g", "lr_f", "lr_r", "k", "c_pre"):
            assert compas["params"][k] == real[k], k
    # AdultCensus: mini-batches of 2,048 for P.ADULT_STEPS steps (chosen on validation).
    adult = P.fr_settings("adult", "poisoned", P.FULL)["params"]
    n = len(P.load_data("adult", "clean").train)
    steps_per_epoch = -(-n // 2048)
    assert adult["batch_size"] == 2048
    assert abs(adult["epochs"] * steps_per_epoch - P.ADULT_STEPS) <= steps_per_epoch / 2
    assert abs(adult["pretrain_epochs"] * steps_per_epoch - real["pretrain_epochs"]) <= (
        steps_per_epoch / 2
    )


def test_choose_fr_rules() -> None:
    def pt(lf: float, acc: float, di: float) -> dict:
        return {"lambda_f": lf, "val_acc": acc, "sel_di": di, "val_eo0": di, "val_eo1": 1.0}

    # Raw validation numbers (the product's rule): the most accurate point with DI >= 0.8.
    pts = [pt(0.1, 0.70, 0.60), pt(0.2, 0.66, 0.81), pt(0.3, 0.69, 0.79), pt(0.4, 0.60, 0.95)]
    assert P.choose_fr(pts, selection="validation")["lambda_f"] == 0.2
    # Smoothed along the grid (synthetic's rule): the lone 0.81 is noise between 0.60 and
    # 0.79 (smoothed 0.73); 0.3 and 0.4 smooth to DI .85 / .87 and accuracy .650 / .645.
    assert P.choose_fr(pts, selection="smoothed")["lambda_f"] == 0.3
    # Nothing reaches 0.8: the fairest point, whatever the rule.
    low = [pt(0.1, 0.7, 0.5), pt(0.2, 0.6, 0.7), pt(0.3, 0.5, 0.6)]
    assert P.choose_fr(low, selection="validation")["lambda_f"] == 0.2
    # Equalized odds uses the worse of the two EO ratios.
    assert P.choose_fr(pts, eo=True, selection="validation")["lambda_f"] == 0.2


def test_fr_rules_and_their_label_free_rows_never_hold_training_or_test_rows() -> None:
    """Real data: the product's rule (what a training job gets). Synthetic: ``smoothed`` with
    the authors' unused block as extra DI rows, which are neither training nor test rows."""
    from trainer import api
    from trainer.selection import DEFAULT_RULE

    compas = P.fr_spec(P.fr_main_task("compas", "poisoned", SMOKE), SMOKE)
    assert P.fr_rule("compas") == P.fr_rule("adult") == DEFAULT_RULE == "interval"
    assert compas.selection["rule"] == DEFAULT_RULE and api.label_free_rows(compas) is None
    spec = P.fr_spec(P.fr_main_task("synthetic", "poisoned", SMOKE), SMOKE)
    assert spec.selection["rule"] == "smoothed"
    extra = api.label_free_rows(spec)
    assert extra is not None and len(extra[0]) == len(extra[1]) == 500
    syn = P.load_data("synthetic", "poisoned")
    rows = {r.tobytes() for r in extra[0].astype("float32")}
    for split in (syn.train, syn.val, syn.test):
        assert not rows & {r.tobytes() for r in split.X.astype("float32")}


@pytest.mark.parametrize("dataset", ["synthetic", "compas"])
def test_the_harness_fr_row_is_what_run_training_reports(dataset: str) -> None:
    """The FR-Train row of Tables 1-3 (the main λ_r of the ablation grid, chosen per seed) is
    exactly what trainer.api.run_training reports for the same spec without the ablation
    points: the same chosen λ_f, test metrics and reason, on every seed."""
    import torch

    from trainer import api
    from trainer.experiments.report_tables import fr_chosen, main_lambda_r

    torch.set_num_threads(1)
    profile = replace(SMOKE, seeds=(0, 1))
    rec = P.run_fr(P.fr_main_task(dataset, "poisoned", profile), profile, None)
    job = api.run_training(P.fr_spec(P.Task("fr", dataset, "poisoned", profile.seeds), profile))
    main = main_lambda_r(rec)
    rows = fr_chosen(rec, profile.seeds, main, drop_zero_f=True)
    assert rec["selection"] == P.fr_rule(dataset)
    for seed, row, got in zip(profile.seeds, rows, job["seeds"], strict=True):
        assert got["selected_params"] == {"l1": row["lambda_f"], "l2": main}
        assert got["selection_rule"] == rec["selection"]
        assert got["test"]["accuracy"] == row["test_acc"]
        assert got["test"]["disparate_impact"] == row["test_di"]
        (choice,) = [c for c in rec["chosen"] if c["seed"] == seed and c["lambda_r"] == main]
        assert choice["reason"] == got["selection_reason"]


def test_cli_device_option() -> None:
    import torch
    from typer.testing import CliRunner

    from trainer.cli import reproduce_app

    bad = CliRunner().invoke(reproduce_app, ["table8", "--device", "tpu"])
    assert bad.exit_code != 0 and "--device" in bad.output
    if not torch.cuda.is_available():
        res = CliRunner().invoke(reproduce_app, ["table8", "--device", "cuda"])
        assert res.exit_code != 0 and "no CUDA device" in res.output
