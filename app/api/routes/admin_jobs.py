"""Admin pages for training jobs: the list, one job's page (status and progress, the grid point
chosen on validation and why, every grid point's validation and test metrics, the trade-off plot,
artifacts), cancelling, artifact downloads, and a failed job's full log (signed-in admins only).

Metrics are rendered from the stored result JSON (``trainer.api.run_training``) without a fixed
list of keys, so fields the trainer adds later show up too. Pages never show server paths: a
failed job's page carries the error's first line with paths shortened; the log link has the rest.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)

from app.api.deps import MAX_ID
from app.api.routes.admin_auth import ActionDep, Page, PageDep
from app.api.routes.admin_base import NO_STORE, parse_id, scrub_paths
from app.core.errors import DomainError, NotFound
from app.schemas.jobs import JobPublic
from app.services import jobs as job_service

router = APIRouter(prefix="/admin", tags=["admin pages"], include_in_schema=False)

JOBS_SHOWN = 200  # newest training jobs on the jobs page
#: Result keys the job page lays out itself; every other key is listed under "More results".
_SHOWN = {"seeds", "summary", "curve", "artifacts"}
#: Per-seed keys that are about the data, not a grid point.
_SEED_FACTS = ("n_train", "n_val", "n_test")


def one_line_reason(error: str | None) -> str | None:
    """The first line of a job's error (the worker stores the message, then the traceback)."""
    if not error:
        return None
    first = next((line.strip() for line in error.splitlines() if line.strip()), "")
    return scrub_paths(first)[:300]


def _metric(results: dict[str, Any] | None, part: str, key: str) -> dict[str, Any] | None:
    try:
        value = (results or {})["summary"][part][key]
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, dict) and value.get("mean") is not None else None


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _num(v: Any) -> float | None:
    return float(v) if _number(v) else None


def _scalar_keys(dicts: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for d in dicts:
        for k, v in d.items():
            if _number(v) or v is None:
                keys.setdefault(k, None)
    return [k for k in keys if any(_number(d.get(k)) for d in dicts)]


def _mean_std(values: list[Any]) -> dict[str, float] | None:
    ok = [float(v) for v in values if _number(v)]
    if not ok:
        return None
    mean = sum(ok) / len(ok)
    return {
        "mean": mean,
        "std": math.sqrt(sum((v - mean) ** 2 for v in ok) / len(ok)),
        "n": len(ok),
    }


def _why(seed: dict[str, Any], selection: dict[str, Any]) -> str:
    """Why the trainer chose this seed's point: the reason it recorded (trainer.selection,
    docs/SELECTION.md), or for results recorded before it did, the old rule's restatement."""
    if isinstance(seed.get("selection_reason"), str):
        return str(seed["selection_reason"])
    metric = str(selection.get("metric", "disparate_impact"))
    floor = _num(selection.get("min_fairness"))
    val = seed.get("val") or {}
    if metric == "equalized_odds":
        parts = [_num(val.get("equalized_odds_y0")), _num(val.get("equalized_odds_y1"))]
        fair = min(p for p in parts if p is not None) if None not in parts else None
    else:
        fair = _num(val.get(metric))
    acc = _num(val.get("accuracy"))
    acc_txt = f"{acc:.3f}" if acc is not None else "—"
    if fair is not None and floor is not None and fair >= floor:
        return (
            f"the most accurate point on validation (accuracy {acc_txt}) whose validation "
            f"{metric.replace('_', ' ')} {fair:.3f} reaches the floor {floor:g}"
        )
    fair_txt = f"{fair:.3f}" if fair is not None else "undefined"
    return (
        f"no point reaches validation {metric.replace('_', ' ')} ≥ {floor}; this is the fairest "
        f"one ({fair_txt}, accuracy {acc_txt})"
    )


def _labels_scored(job: JobPublic) -> dict[str, str]:
    """Which labels validation and test were scored against: the trainer's own statement when
    the results carry one, else what the job's spec implies."""
    results = job.results or {}
    stated = {k: v for k, v in results.items() if "label" in k and isinstance(v, str | dict | list)}
    validation = job.spec.get("validation") or {}
    options = job.spec.get("export_options") or {}
    if job.export_id is not None:
        which = "the examples' known labels" if options.get("labels") == "known" else "crowd labels"
        val = f"export snapshot #{job.export_id}, {which}"
        if options.get("exclude_gold"):
            val += " (gold rows left out)"
    elif validation.get("kind") == "builtin":
        val = f"the clean validation split of {job.dataset} (its own labels)"
    else:
        val = f"the validation file's {validation.get('label_column') or 'label'} column"
    out = {
        "Validation (selection)": val,
        "Test": f"the held-out test split of {job.dataset}, scored against its own labels",
    }
    for k, v in stated.items():
        out[k.replace("_", " ")] = v if isinstance(v, str) else scrub_paths(json.dumps(v))
    return out


def _grid(results: dict[str, Any]) -> dict[str, Any]:
    seeds = [s for s in results.get("seeds") or [] if isinstance(s, dict)]
    if not seeds:
        return {"points": [], "parts": {}}
    n = max(len(s.get("grid") or []) for s in seeds)
    points = []
    for i in range(n):
        at = [s["grid"][i] for s in seeds if i < len(s.get("grid") or [])]
        points.append(
            {
                "index": i,
                "params": at[0].get("params", {}) if at else {},
                "chosen_by": [s.get("seed") for s in seeds if s.get("selected") == i],
                "cells": {
                    part: {
                        k: _mean_std([p.get(part, {}).get(k) for p in at])
                        for k in _scalar_keys([p.get(part) or {} for p in at])
                    }
                    for part in ("val", "test")
                },
            }
        )
    parts = {
        part: list(dict.fromkeys(k for p in points for k in p["cells"][part]))
        for part in ("val", "test")
    }
    return {"points": points, "parts": parts}


def _summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    summary = results.get("summary")
    for part, metrics in summary.items() if isinstance(summary, dict) else []:
        for key, stats in metrics.items() if isinstance(metrics, dict) else []:
            if isinstance(stats, dict):
                rows.append({"part": part, "metric": key, "stats": stats})
    return rows


def _more(results: dict[str, Any]) -> tuple[list[tuple[str, Any]], list[tuple[str, str]]]:
    """The result fields the page has no place for: plain values, and structures as JSON."""
    rest = [(k, v) for k, v in results.items() if k not in _SHOWN]
    facts = [(k, scrub_paths(v) if isinstance(v, str) else v) for k, v in rest if _plain(v)]
    nested = [
        (k, scrub_paths(json.dumps(v, indent=2, default=str))) for k, v in rest if not _plain(v)
    ]
    return facts, nested


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def _job_page(page: Page, job_id: str) -> Response:
    with page.errors_shown():
        jid = parse_id(job_id, "training job")
        job = job_service.read_job(session=page.session, job_id=jid)
    results = job.results or {}
    more_facts, more = _more(results)
    selection = results.get("selection") or job.spec.get("selection") or {}
    seeds = [
        {
            "seed": s.get("seed"),
            "selected": s.get("selected"),
            "params": s.get("selected_params") or {},
            "why": _why(s, selection),
            "facts": {k: s[k] for k in _SEED_FACTS if k in s},
        }
        for s in results.get("seeds") or []
        if isinstance(s, dict)
    ]
    return page.render(
        "admin/job.html",
        {
            "job": job,
            "reason": one_line_reason(job.error) if job.status == "failed" else None,
            "seeds": seeds,
            "selection": selection,
            "grid": _grid(results),
            "summary_rows": _summary_rows(results),
            "labels_scored": _labels_scored(job),
            "more_facts": more_facts,
            "more": more,
            "has_plot": "tradeoff.png" in job.artifacts,
        },
    )


def _jobs_page(
    page: Page, *, error: DomainError | None = None, cancelled: int | None = None
) -> Response:
    jobs, total = job_service.newest_jobs(session=page.session, limit=JOBS_SHOWN)
    metrics = {
        j.id: {
            "accuracy": _metric(j.results, "test", "accuracy"),
            "di": _metric(j.results, "test", "disparate_impact"),
            "eo0": _metric(j.results, "test", "equalized_odds_y0"),
            "eo1": _metric(j.results, "test", "equalized_odds_y1"),
        }
        for j in jobs
    }
    notice = None
    for j in jobs if cancelled else ():
        if j.id == cancelled and j.cancel_requested:
            state = "cancelled" if j.status == "cancelled" else "asked to stop"
            notice = f"Training job {j.id} {state}."
    return page.render(
        "admin/jobs.html",
        {
            "jobs": jobs,
            "total": total,
            "metrics": metrics,
            "reasons": {j.id: one_line_reason(j.error) for j in jobs if j.status == "failed"},
            "notice": notice,
            "error": error.detail if error else None,
        },
        status_code=error.status_code if error else 200,
    )


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    page: PageDep, cancelled: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> Response:
    return _jobs_page(page, cancelled=cancelled)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, page: PageDep) -> Response:
    return _job_page(page, job_id)


@router.get("/jobs/{job_id}/log")
def job_log(job_id: str, page: PageDep) -> Response:
    """The full error text a failed attempt stored (message and traceback), as plain text."""
    with page.errors_shown():
        jid = parse_id(job_id, "training job")
        job = job_service.read_job(session=page.session, job_id=jid)
        if not job.error:
            raise NotFound(f"training job {jid} has no log: it did not fail")
    return PlainTextResponse(job.error, headers=NO_STORE)


@router.post("/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel_job(job_id: str, act: ActionDep) -> Response:
    try:
        jid = parse_id(job_id, "training job")
        job_service.cancel_job(session=act.session, job_id=jid)
    except NotFound as exc:
        return act.error(exc)
    except DomainError as exc:
        act.session.rollback()
        return _jobs_page(act, error=exc)
    return RedirectResponse(f"/admin/jobs?cancelled={jid}", status_code=303)


@router.get("/jobs/{job_id}/artifacts/{name}")
def job_artifact(job_id: str, name: str, page: PageDep) -> Response:
    with page.errors_shown():
        jid = parse_id(job_id, "training job")
        path = job_service.artifact_file(
            session=page.session, settings=page.settings, job_id=jid, name=name
        )
    media = job_service.ARTIFACT_MEDIA.get(path.suffix, "application/octet-stream")
    # The plot is shown inline on the job page; everything else downloads.
    disposition = "inline" if path.suffix == ".png" else "attachment"
    return FileResponse(
        path,
        media_type=media,
        filename=f"job{jid}-{path.name}",
        content_disposition_type=disposition,
    )
