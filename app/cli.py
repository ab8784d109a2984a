"""`frtrain` entry point: composes the command groups (thin; commands call services)."""

from __future__ import annotations

# Importing each module registers its commands on the groups in app.commands.
from app.commands import admin as _admin  # noqa: F401
from app.commands import budget as _budget  # noqa: F401
from app.commands import crowd as _crowd  # noqa: F401
from app.commands import db as _db  # noqa: F401
from app.commands import demo as _demo  # noqa: F401
from app.commands import hits as _hits  # noqa: F401
from app.commands import mturk as _mturk  # noqa: F401
from app.commands import replay as _replay  # noqa: F401
from app.commands import root
from app.commands import serve as _serve  # noqa: F401
from app.commands import worker as _worker  # noqa: F401
from trainer.api import register_cli

register_cli(root)


def main() -> None:
    root()


if __name__ == "__main__":
    main()
