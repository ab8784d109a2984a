"""The demo workflow end to end on a tiny configuration: the first HITs of the released COMPAS
crowd file replayed through the MTurk emulator and the task page, hidden gold and an export, and
the three training jobs (one seed, two FR-Train epochs) run by the in-process worker."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from app.core.config import Settings
from app.crowd import parse_wide
from app.workflows.demo import DemoConfig, format_table, run_demo
from app.workflows.replay import rebuild_hits
from trainer.datasets import file_path

CSV = file_path("compas-crowd", "COMPAS_crowdsourcing_data.csv")


def _first_hits(out: Path, n_hits: int) -> tuple[Path, int]:
    """The rows of the file's first ``n_hits`` HITs (examples answered by one worker set)."""
    frame = pd.read_csv(CSV)
    hits = rebuild_hits(parse_wide(frame).answers)[:n_hits]
    keep = {e for h in hits for e in h.example_ids}
    ids = frame["example_idx"].astype(str) if "example_idx" in frame else frame["example_id"]
    small = frame[ids.astype(str).isin(keep)]
    path = out / "crowd.csv"
    small.to_csv(path, index=False)
    return path, len(small)


@pytest.mark.timeout(900)
def test_demo_tiny_configuration(tmp_path: Path) -> None:
    csv, n_examples = _first_hits(tmp_path, 2)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'demo.db'}", artifact_dir=tmp_path / "artifacts"
    )
    cfg = DemoConfig(
        crowd_csv=csv,
        out_dir=tmp_path / "out",
        seeds=[0],
        fr_hyperparameters={"epochs": 2, "pretrain_epochs": 1, "l1": [0.4], "l2": [0.2]},
    )
    report = run_demo(cfg, settings)

    crowd = report["crowd"]
    assert crowd["hits"] == 2
    assert crowd["assignments"] > 0 and crowd["answers"] > crowd["assignments"]
    assert [r["key"] for r in report["rows"]] == ["lr", "fr-train-crowd", "fr-train-truth"]
    for row in report["rows"]:
        assert 0.0 <= row["acc_mean"] <= 1.0
        assert row["di_mean"] >= 0.0
        assert [s["seed"] for s in row["per_seed"]] == [0]
    # A seeded 20% of the examples became hidden gold; the validation set is the rest.
    facts = report["validation_set"]
    assert facts["examples"] == n_examples
    assert facts["gold"] == round(0.2 * n_examples)
    assert facts["validation_rows"] == n_examples - facts["gold"]
    written = json.loads((cfg.out_dir / "demo.json").read_text())
    assert written["rows"] == report["rows"]
    assert "FR-Train, crowd validation" in format_table(report)
