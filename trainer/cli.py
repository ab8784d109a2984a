"""Trainer commands: `frtrain train` and `frtrain reproduce ...`."""

from __future__ import annotations

from typing import Any

import typer

reproduce_app = typer.Typer(help="Regenerate the paper's tables and figures.", no_args_is_help=True)


def register(root: Any) -> None:
    root.add_typer(reproduce_app, name="reproduce")
