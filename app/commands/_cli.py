"""What every service-backed command shares: a session on DATABASE_URL, one-line errors,
human tables by default and ``--json`` for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings

console = Console()
M = TypeVar("M", bound=BaseModel)

JsonOpt = typer.Option(False, "--json", help="Print JSON (for scripts) instead of a table.")
ProjectOpt = typer.Option(..., "--project", "-p", min=1, help="Project id.")


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit (2: bad argument; 1: the service refused)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _option(loc: Sequence[Any], options: Mapping[str, str]) -> str:
    parts = [str(p) for p in loc]
    head = parts[0] if parts else ""
    if head in options:
        return options[head] + ("." + ".".join(parts[1:]) if parts[1:] else "")
    return ".".join(parts) or "input"


def validation_line(exc: ValidationError, options: Mapping[str, str] | None = None) -> str:
    """A pydantic error as one line naming the option (or field) and what it expects."""
    errors = exc.errors()
    first = errors[0]
    where = _option(first.get("loc", ()), options or {})
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid value')}{more}"


def validate(model: type[M], data: Any, options: Mapping[str, str] | None = None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fail(validation_line(exc, options))


@contextmanager
def service() -> Iterator[tuple[Session, Settings]]:
    """A session on a migrated DATABASE_URL; a refused request becomes one line and exit 1."""
    from app.core.db import make_engine, make_session_factory
    from app.core.errors import DomainError
    from app.core.migrate import DatabaseNotMigrated, check_migrated

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        check_migrated(engine)
        with make_session_factory(engine)() as session:
            yield session, settings
    except DatabaseNotMigrated as exc:
        fail(str(exc), 1)
    except DomainError as exc:
        fail(exc.detail, 1)
    finally:
        engine.dispose()


def read_file(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        fail(f"{option}: file not found: {path}")
    except IsADirectoryError:
        fail(f"{option}: {path} is a folder, expected a file")
    except OSError as exc:
        fail(f"{option}: cannot read {path} ({exc.strerror})")


def jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Decimal | Path):
        return str(obj)
    return obj


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(jsonable(obj), indent=2))


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(escape(cell(v)) for v in row))
    console.print(table)


def print_record(title: str, record: Mapping[str, Any]) -> None:
    """A two-column key/value table (one object)."""
    print_table(title, ("field", "value"), [(k, v) for k, v in record.items()])


def output(obj: Any, as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        print_json(obj)
    else:
        human()


def csv_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]
