"""Which tasks each paper table needs (deduplicated across tables)."""

from __future__ import annotations

from trainer.experiments.protocol import DATASETS, SETTINGS, Profile
from trainer.experiments.runners import Task

# ----------------------------------------------------------------------------------------
# Table specifications: which tasks each table needs
# ----------------------------------------------------------------------------------------
TABLES = (
    "table1", "table2", "table3", "table5", "table7", "table8", "table9", "figure2b", "figure4",
)  # fmt: skip
MAIN_TABLE_DATASET = {"table1": "synthetic", "table2": "compas", "table3": "adult"}
#: Synthetic validation-set sizes (rows of the 200-row clean set) for Table 8 / Figure 4.
VAL_SIZES = {"10%": 200, "5%": 100, "0.5%": 10, "0.1%": 2}


def fr_main_task(dataset: str, setting: str, profile: Profile) -> Task:
    """The FR-Train grid of Tables 1-3 (with the Table 5 ablation points included)."""
    return Task("fr", dataset, setting, profile.seeds, (("ablation", True),))


def baselines_task(dataset: str, setting: str, profile: Profile) -> Task:
    """All baselines of one (data set, setting), every seed (Tables 1-3, 9, Figures)."""
    return Task("baselines", dataset, setting, profile.seeds)


def auto_task(dataset: str, setting: str, profile: Profile) -> Task:
    """``method: auto`` on the fixed split, every seed (the auto row of Tables 2 and 3)."""
    return Task("auto", dataset, setting, profile.seeds)


def tasks_for(table: str, profile: Profile) -> list[Task]:
    """Every task a table needs (deduplicated by the runner across tables)."""
    seeds = profile.seeds
    out: list[Task] = []
    if table in MAIN_TABLE_DATASET:
        d = MAIN_TABLE_DATASET[table]
        for s in SETTINGS:
            out.append(baselines_task(d, s, profile))
            out.append(fr_main_task(d, s, profile))
            if d != "synthetic":
                out.append(auto_task(d, s, profile))
    elif table == "table5":
        for s in SETTINGS:
            out.append(fr_main_task("compas", s, profile))
            out.append(Task("fr", "compas", s, seeds, (("reweight", "off"),)))
    elif table == "table7":
        for d in ("compas", "adult"):
            for src in ("crowd", "truth"):
                out.append(Task("fr", d, "poisoned", seeds, (("val_source", src),)))
    elif table == "table8":
        for seed in seeds:
            out.append(Task("rml_val", "synthetic", "clean", (seed,), (("n_val", 200),)))
            for n in VAL_SIZES.values():
                out.append(Task("rml_val", "synthetic", "poisoned", (seed,), (("n_val", n),)))
    elif table == "table9":
        for d in DATASETS:
            out.append(baselines_task(d, "clean", profile))
            out.append(Task("fr", d, "clean", seeds, (("fairness", "eo"),)))
    elif table == "figure2b":
        out += [baselines_task("synthetic", s, profile) for s in SETTINGS]
    elif table == "figure4":
        out += [baselines_task("synthetic", s, profile) for s in SETTINGS]
        out += [fr_main_task("synthetic", s, profile) for s in SETTINGS]
        out.append(Task("fr", "synthetic", "poisoned", seeds, (("n_val", 100),)))
        out.append(
            Task("fr", "synthetic", "poisoned", seeds, (("lambda_r", (0.4, 0.1)), ("n_val", 2)))
        )
    else:
        raise ValueError(f"unknown table {table!r}; use one of {', '.join(TABLES)} or all")
    return out
