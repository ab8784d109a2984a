"""Assemble the paper's tables from task records, check the findings, write the report.

Every number printed is ours as mean ± std over the seeds beside the paper's figure
(Tables 1-3, 5, 7-9; Figures 2b and 4). Findings (a)-(d) of docs/PAPER.md are computed here from
our numbers and stated plainly, whether they hold or not; none of them feeds back into
training or selection.

The report is split by job: :mod:`.paper_numbers`, :mod:`.report_tables`, :mod:`.findings`
and :mod:`.rendering`; this module runs the tasks and writes the report (:func:`reproduce`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.experiments import paper as P
from trainer.experiments.findings import Finding, check_findings
from trainer.experiments.rendering import format_timing, write_report
from trainer.experiments.report_tables import assemble, fr_settings_used, stat

__all__ = ["Finding", "check_findings", "format_timing", "reproduce", "stat"]


def reproduce(
    tables: Sequence[str],
    *,
    out: Path,
    profile: P.Profile,
    data_dir: str | None = None,
    workers: int = 2,
    progress: bool = True,
    command: str = "frtrain reproduce",
) -> tuple[Path, dict[str, dict[str, Any]], list[Finding], dict[str, Any]]:
    """Run the tasks of ``tables`` (cached under ``out/cache``), then write the report.

    Returns the report's path, the assembled tables, the findings and the timing record.
    """
    t0 = time.perf_counter()
    per_table = {t: P.tasks_for(t, profile) for t in tables}
    all_tasks = [task for ts in per_table.values() for task in ts]
    results, log = P.run_tasks(
        all_tasks, profile, cache_dir=out / "cache", data_dir=data_dir, workers=workers,
        progress=progress,
    )  # fmt: skip
    assembled = {t: assemble(t, results, profile) for t in tables}
    findings = check_findings(assembled)
    seen: set[str] = set()
    first_needed: dict[str, set[str]] = {}
    for t, ts in per_table.items():  # a shared task is charged to the first table needing it
        first_needed[t] = {x.key for x in ts} - seen
        seen |= first_needed[t]
    timing = {
        "wall": time.perf_counter() - t0, "workers": workers,
        "tables": {
            t: {"tasks": len({x.key for x in ts}),
                "cached": len({x.key for x in ts} & log.cached),
                "seconds": sum(log.seconds[k] for k in {x.key for x in ts}),
                "new_tasks": len(first_needed[t]),
                "new_seconds": sum(log.seconds[k] for k in first_needed[t])}
            for t, ts in per_table.items()
        },
        "tasks": log.seconds,
        "stale_cache": log.stale,
        "runs": log.runs,
    }  # fmt: skip
    used = {t.key: results[t.key] for t in all_tasks}
    path = write_report(
        assembled, findings, out=out, profile=profile, timing=timing, command=command,
        fr_lines=fr_settings_used(used),
    )  # fmt: skip
    return path, assembled, findings, timing
