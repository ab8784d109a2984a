"""The narrow interface the service calls. `app` imports nothing else from `trainer`."""

from __future__ import annotations

from typing import Any


def register_cli(root: Any) -> None:
    """Attach the trainer's commands (`train`, `reproduce ...`) to the `frtrain` Typer app."""
    from trainer.cli import register

    register(root)
