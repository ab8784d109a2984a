"""`frtrain` entry point: composes the command groups (thin; commands call services)."""

from __future__ import annotations

from importlib.metadata import entry_points

# Importing each module registers its commands on the groups in app.commands.
from app.commands import admin as _admin  # noqa: F401
from app.commands import budget as _budget  # noqa: F401
from app.commands import crowd as _crowd  # noqa: F401
from app.commands import data as _data  # noqa: F401
from app.commands import db as _db  # noqa: F401
from app.commands import demo as _demo  # noqa: F401
from app.commands import hits as _hits  # noqa: F401
from app.commands import lifecycle as _lifecycle  # noqa: F401
from app.commands import mturk as _mturk  # noqa: F401
from app.commands import replay as _replay  # noqa: F401
from app.commands import review as _review  # noqa: F401
from app.commands import root
from app.commands import serve as _serve  # noqa: F401
from app.commands import worker as _worker  # noqa: F401

# The trainer's commands (`train`, `predict`, `reproduce ...`) are a plugin: trainer.cli sits
# above trainer.api in the trainer's layers, so app (which reaches trainer only through
# trainer.api) loads them from the "frtrain.commands" entry point instead of importing them.
for _plugin in entry_points(group="frtrain.commands"):
    _plugin.load()(root)


def main() -> None:
    """Run `frtrain`; a bad argument is one line (which argument, what was expected), exit 2."""
    import sys

    import typer

    try:
        code = root(standalone_mode=False)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except typer.TyperException as exc:  # Typer's usage and parameter errors
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message.strip():  # empty after a group's help (called without a command)
            typer.echo(f"error: {where}{' '.join(message.split())}", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
