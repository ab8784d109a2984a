"""The crowdsourcing lifecycle from the command line: projects, examples, gold, answers,
labels and exports (review: app.commands.review). Each command is a thin call of the service
function the API route of the same name calls (app/api/routes/*), on DATABASE_URL."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import typer

from app.commands import (
    answers_app,
    examples_app,
    exports_app,
    gold_app,
    projects_app,
    root,
)
from app.commands._cli import (
    JsonOpt,
    ProjectOpt,
    console,
    csv_list,
    fail,
    output,
    print_record,
    print_table,
    read_file,
    service,
    validate,
    validation_line,
)
from app.schemas.crowd import AggregationMethod

# --- projects -------------------------------------------------------------------------------

#: Model field -> the option that sets it (so a validation error names the option).
PROJECT_OPTIONS = {
    "name": "--name",
    "description": "--description",
    "question": "--question",
    "scale_labels": "--scale-labels",
    "threshold": "--threshold",
    "max_answers": "--max-answers",
    "questions_per_hit": "--questions-per-hit",
    "reward_per_answer": "--reward",
    "gold_per_hit": "--gold-per-hit",
    "quiz_per_hit": "--quiz-per-hit",
    "worker_filter": "--worker-filter",
    "visible_columns": "--visible-columns",
    "sensitive_column": "--sensitive-column",
    "provider": "--provider",
    "allow_live": "--allow-live",
    "budget_cap": "--budget-cap",
}
PROJECT_COLUMNS = ("id", "name", "provider", "examples", "answers", "N", "threshold", "reward")


def _project_row(p: Any) -> tuple[Any, ...]:
    return (
        p.id,
        p.name,
        p.provider,
        p.n_examples,
        p.n_answers,
        p.max_answers,
        p.threshold,
        f"${p.reward_per_answer:.2f}",
    )


def _show_project(p: Any) -> None:
    print_record(f"project {p.id}", p.model_dump())


#: Options named otherwise than the request model's field.
_FIELD = {"reward": "reward_per_answer"}


def _project_fields(**values: Any) -> dict[str, Any]:
    """The options given (None = not given), parsed into the request model's fields."""
    out = {_FIELD.get(k, k): v for k, v in values.items() if v is not None}
    for key in ("scale_labels", "visible_columns"):
        if key in out:
            out[key] = csv_list(out[key])
    if "worker_filter" in out:
        try:
            out["worker_filter"] = json.loads(out["worker_filter"])
        except json.JSONDecodeError as exc:
            fail(f"--worker-filter: expected a JSON object ({exc.msg})")
    return out


_Name = typer.Option(None, help="Project name.")
_Desc = typer.Option(None, help="Free-text description.")
_Question = typer.Option(None, help="The question shown to workers.")
_Scale = typer.Option(None, help="Four answer labels, lowest first, comma-separated.")
_Threshold = typer.Option(None, help="Mean score above which the label is +1 (1 < t < 4).")
_MaxAnswers = typer.Option(None, help="Answers N per example.")
_QPerHit = typer.Option(None, help="Questions per HIT.")
_Reward = typer.Option(None, help="Reward per answer in dollars.")
_Gold = typer.Option(None, help="Hidden gold checks per HIT.")
_Quiz = typer.Option(None, help="Training-quiz questions per HIT.")
_Filter = typer.Option(None, help="Worker filter rule as JSON, e.g. '{\"min_accuracy\": 0.6}'.")
_Visible = typer.Option(None, help="Columns workers see, comma-separated (default: all).")
_Sensitive = typer.Option(None, help="The sensitive-attribute column.")
_Provider = typer.Option(
    None, help="A registered recruiting provider (an unknown name is refused, naming them)."
)
_Live = typer.Option(None, "--allow-live/--no-allow-live", help="Allow the live marketplace.")
_Cap = typer.Option(None, help="Budget cap in dollars.")


def _settings_options(
    description: str | None = _Desc,
    scale_labels: str | None = _Scale,
    threshold: float | None = _Threshold,
    max_answers: int | None = _MaxAnswers,
    questions_per_hit: int | None = _QPerHit,
    reward: float | None = _Reward,
    gold_per_hit: int | None = _Gold,
    quiz_per_hit: int | None = _Quiz,
    worker_filter: str | None = _Filter,
    visible_columns: str | None = _Visible,
    sensitive_column: str | None = _Sensitive,
    provider: str | None = _Provider,
    allow_live: bool | None = _Live,
    budget_cap: float | None = _Cap,
) -> None:
    """The project settings ``create`` and ``update`` both take, as options (None: not given)."""


def _with_settings_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` (which takes them as ``**options``) the options of
    :func:`_settings_options`, placed before its ``--json``: typer reads a command's options
    from its signature."""
    own = list(inspect.signature(command, eval_str=True).parameters.values())
    own = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
    shared = list(inspect.signature(_settings_options, eval_str=True).parameters.values())
    at = [p.name for p in own].index("as_json")
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*own[:at], *shared, *own[at:]], return_annotation=None
    )
    return command


@projects_app.command("create")
@_with_settings_options
def projects_create(
    name: str = typer.Option(..., help="Project name."),
    question: str = typer.Option(..., help="The question shown to workers."),
    as_json: bool = JsonOpt,
    **options: Any,
) -> None:
    """Create a labeling project (paper §4.4 defaults: threshold 2.5, N 11, $0.03)."""
    from app.schemas.crowd import ProjectCreate
    from app.services import projects as svc

    fields = _project_fields(name=name, question=question, **options)
    body = validate(ProjectCreate, fields, PROJECT_OPTIONS)
    with service() as (session, _settings):
        project = svc.create_project(session=session, data=body)
    output(project, as_json, lambda: _show_project(project))


@projects_app.command("list")
def projects_list(
    offset: int = typer.Option(0, min=0, help="Skip this many."),
    limit: int = typer.Option(100, min=1, max=1000, help="At most this many."),
    as_json: bool = JsonOpt,
) -> None:
    """List projects with their example and answer counts."""
    from app.services import projects as svc

    with service() as (session, _settings):
        data, count = svc.list_projects(session=session, offset=offset, limit=limit)
    output(
        {"data": data, "count": count},
        as_json,
        lambda: print_table(
            f"{count} project(s)", PROJECT_COLUMNS, [_project_row(p) for p in data]
        ),
    )


ProjectArg = typer.Argument(..., min=1, help="Project id.")


@projects_app.command("show")
def projects_show(project_id: int = ProjectArg, as_json: bool = JsonOpt) -> None:
    """Every setting and count of one project."""
    from app.services import projects as svc

    with service() as (session, _settings):
        project = svc.read_project(session=session, project_id=project_id)
    output(project, as_json, lambda: _show_project(project))


@projects_app.command("update")
@_with_settings_options
def projects_update(
    project_id: int = ProjectArg,
    name: str | None = _Name,
    question: str | None = _Question,
    as_json: bool = JsonOpt,
    **options: Any,
) -> None:
    """Change the settings given; the others stay as they are."""
    from app.schemas.crowd import ProjectUpdate
    from app.services import projects as svc

    fields = _project_fields(name=name, question=question, **options)
    if not fields:
        fail("nothing to update: give at least one option (see --help)")
    body = validate(ProjectUpdate, fields, PROJECT_OPTIONS)
    with service() as (session, _settings):
        project = svc.update_project(session=session, project_id=project_id, data=body)
    output(project, as_json, lambda: _show_project(project))


# --- examples, gold, answers ----------------------------------------------------------------

FileArg = typer.Argument(..., help="CSV, Parquet, JSON or JSON Lines file.")
_FORMATS = ("csv", "parquet", "json")


def _format(fmt: str | None) -> str | None:
    if fmt is not None and fmt not in _FORMATS:
        fail(f"--format: expected one of {', '.join(_FORMATS)}, got {fmt!r}")
    return fmt


@examples_app.command("upload")
def examples_upload(
    file: Path = FileArg,
    project: int = ProjectOpt,
    fmt: str | None = typer.Option(None, "--format", help="csv, parquet or json (default: name)."),
    id_column: str = typer.Option("example_id", help="Column with the example ids."),
    label_column: str | None = typer.Option(None, help="Known +1/-1 labels (default true_label)."),
    as_json: bool = JsonOpt,
) -> None:
    """Upload examples; atomic (a bad file stores nothing)."""
    from app.services.crowd import examples as svc

    data = read_file(file, "FILE")
    with service() as (session, _settings):
        result = svc.upload_examples(
            session=session,
            project_id=project,
            data=data,
            filename=file.name,
            fmt=_format(fmt),
            id_column=id_column,
            label_column=label_column,
        )
    output(
        result,
        as_json,
        lambda: console.print(
            f"project {project}: {result.created} example(s) stored; feature columns: "
            f"{', '.join(result.columns) or '(none)'}"
        ),
    )


@examples_app.command("list")
def examples_list(
    project: int = ProjectOpt,
    offset: int = typer.Option(0, min=0),
    limit: int = typer.Option(100, min=1, max=10_000),
    as_json: bool = JsonOpt,
) -> None:
    """A page of the project's examples."""
    from app.services.crowd import examples as svc

    with service() as (session, _settings):
        data, count = svc.list_examples(
            session=session, project_id=project, offset=offset, limit=limit
        )
    rows = [e.model_dump() for e in data]
    cols = list(rows[0]) if rows else ["example_id"]
    output(
        {"data": data, "count": count},
        as_json,
        lambda: print_table(
            f"{count} example(s), project {project}", cols, [list(r.values()) for r in rows]
        ),
    )


GOLD_OPTIONS = {"0": "--example"}


@gold_app.command("add")
def gold_add(
    project: int = ProjectOpt,
    file: Path | None = typer.Argument(
        None, help="CSV or JSON list with example_id, label[, explanation, kind]."
    ),
    example: str | None = typer.Option(None, "--example", help="One example id (no FILE)."),
    label: int | None = typer.Option(None, help="Its gold label, +1 or -1."),
    explanation: str | None = typer.Option(None, help="Shown after a training-quiz answer."),
    kind: str = typer.Option("hidden_check", help="hidden_check (scores) or training_quiz."),
    as_json: bool = JsonOpt,
) -> None:
    """Mark existing examples as gold: from FILE, or one with --example/--label."""
    import io

    import pandas as pd
    from pydantic import TypeAdapter, ValidationError

    from app.schemas.crowd import GoldCreate
    from app.services.crowd import examples as svc

    if file is not None and example is not None:
        fail("give FILE or --example/--label, not both")
    if file is None:
        if example is None or label is None:
            fail("--example and --label are required without FILE")
        items: Any = [
            {"example_id": example, "label": label, "explanation": explanation, "kind": kind}
        ]
    else:
        raw = read_file(file, "FILE")
        try:
            if file.suffix.lower() == ".json":
                items = json.loads(raw)
            else:
                frame = pd.read_csv(io.BytesIO(raw), dtype={"example_id": str})
                items = frame.where(frame.notna(), None).to_dict(orient="records")
        except (ValueError, pd.errors.ParserError) as exc:
            fail(f"FILE: cannot read {file} ({str(exc).splitlines()[0]})")
    adapter = TypeAdapter(list[GoldCreate])
    try:
        gold = adapter.validate_python(items)
    except ValidationError as exc:
        fail(("FILE row " if file else "") + validation_line(exc, GOLD_OPTIONS))
    with service() as (session, _settings):
        data = svc.add_gold(session=session, project_id=project, items=gold)
    output(
        {"data": data, "count": len(data)},
        as_json,
        lambda: print_table(
            f"{len(data)} gold question(s) added, project {project}",
            ("id", "example", "label", "kind", "explanation"),
            [(g.id, g.example_id, g.label, g.kind, g.explanation) for g in data],
        ),
    )


@answers_app.command("import")
def answers_import(
    file: Path = FileArg,
    project: int = ProjectOpt,
    layout: str = typer.Option("auto", help="auto, long or wide (the released MTurk layout)."),
    fmt: str | None = typer.Option(None, "--format", help="csv, parquet or json (default: name)."),
    create_workers: bool = typer.Option(True, help="Create unknown workers."),
    as_json: bool = JsonOpt,
) -> None:
    """Bulk-import answers; all rows or none (see POST /api/v1/projects/{id}/answers/import)."""
    from app.services.crowd import answers as svc

    if layout not in ("auto", "long", "wide"):
        fail(f"--layout: expected auto, long or wide, got {layout!r}")
    data = read_file(file, "FILE")
    with service() as (session, _settings):
        result = svc.import_answers(
            session=session,
            project_id=project,
            data=data,
            filename=file.name,
            fmt=_format(fmt),
            layout=layout,  # type: ignore[arg-type]
            create_workers=create_workers,
        )
    output(
        result,
        as_json,
        lambda: console.print(
            f"project {project} ({result.layout} layout): {result.answers_created} answer(s), "
            f"{result.workers_created} new worker(s), {result.examples_created} new example(s)"
        ),
    )


#: Every registered method (``AggregationMethod`` lists ``app.crowd.METHODS``, test-checked);
#: read from the schema so that the CLI starts without importing pandas.
_METHODS: tuple[str, ...] = get_args(AggregationMethod)
_MethodOpt = typer.Option("mean", help="One of: " + ", ".join(_METHODS) + ".")
_NOpt = typer.Option(None, min=1, max=1000, help="N answers (default: project's).")


def _check_method(method: str) -> None:
    if method not in _METHODS:
        fail(f"--method: expected one of {', '.join(_METHODS)}, got {method!r}")


@root.command("labels")
def labels(
    project: int = ProjectOpt,
    method: str = _MethodOpt,
    n: int | None = _NOpt,
    limit: int = typer.Option(20, min=1, help="Rows printed in the table (--json: all)."),
    as_json: bool = JsonOpt,
) -> None:
    """Aggregated labels by METHOD: the first N answers of trusted workers per example."""
    from app.services.crowd import labels as svc
    from app.services.projects import get_project

    _check_method(method)
    with service() as (session, _settings):
        frame = svc.compute_labels(session=session, project_id=project, method=method, n=n)
        p = get_project(session=session, project_id=project)
        used_n = n if n is not None else p.max_answers
        data = svc.labels_public(frame)
    payload = {
        "method": method,
        "n": used_n,
        "threshold": p.threshold,
        "data": data,
        "count": len(data),
    }

    def human() -> None:
        pos = sum(1 for d in data if d.label == 1)
        print_table(
            f"{len(data)} label(s), project {project}, {method}, N={used_n}"
            + (f" (first {limit})" if len(data) > limit else ""),
            ("example", "label", "answers", "mean score", "confidence", "gold"),
            [
                (d.example_id, d.label, d.answers_used, d.mean_score, d.confidence, d.is_gold)
                for d in data[:limit]
            ],
        )
        console.print(f"+1: {pos}, -1: {len(data) - pos}")

    output(payload, as_json, human)


# --- exports --------------------------------------------------------------------------------

EXPORT_COLUMNS = ("id", "version", "method", "N", "rows", "threshold", "checksum", "created")


def _export_row(e: Any) -> tuple[Any, ...]:
    return (
        e.id,
        e.version,
        e.method,
        e.n_max,
        e.row_count,
        e.threshold,
        e.checksum[:16],
        e.created_at,
    )


@exports_app.command("create")
def exports_create(
    project: int = ProjectOpt,
    method: str = _MethodOpt,
    n: int | None = _NOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Freeze the current labels into a new immutable export version."""
    from app.services.crowd import exports as svc

    _check_method(method)
    with service() as (session, _settings):
        export = svc.create_export(session=session, project_id=project, method=method, n=n)
    output(
        export,
        as_json,
        lambda: print_table(f"export {export.id}", EXPORT_COLUMNS, [_export_row(export)]),
    )


@exports_app.command("list")
def exports_list(project: int = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """The project's export versions, oldest first."""
    from app.services.crowd import exports as svc

    with service() as (session, _settings):
        data = svc.list_exports(session=session, project_id=project)
    output(
        {"data": data, "count": len(data)},
        as_json,
        lambda: print_table(
            f"{len(data)} export(s), project {project}",
            EXPORT_COLUMNS,
            [_export_row(e) for e in data],
        ),
    )


@exports_app.command("download")
def exports_download(
    export_id: int = typer.Argument(..., min=1, help="Export id (see `exports list`)."),
    fmt: str = typer.Option("csv", "--format", help="csv, parquet or jsonl."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="File to write (default: projectP-export-vV.FMT here)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Write a snapshot to a file; prints its row count and SHA-256 (of the CSV rendering)."""
    from app.services.crowd import exports as svc

    if fmt not in ("csv", "parquet", "jsonl"):
        fail(f"--format: expected csv, parquet or jsonl, got {fmt!r}")
    with service() as (session, _settings):
        chunks, _media, name, facts = svc.export_stream(
            session=session, export_id=export_id, fmt=fmt
        )
        target = out or Path(name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
        except OSError as exc:
            fail(f"--out: cannot write {target} ({exc.strerror})")
    result = {"path": str(target), "rows": facts["rows"], "checksum": facts["checksum"]}
    output(
        result,
        as_json,
        lambda: console.print(
            f"wrote {target}: {facts['rows']} row(s), SHA-256 of the CSV {facts['checksum']}"
        ),
    )
