"""Typer groups of the `frtrain` command. Each command module decorates one of these."""

from __future__ import annotations

import typer

root = typer.Typer(
    name="frtrain",
    help="Fair and robust training with a crowdsourced clean validation set (FR-Train).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
admin_app = typer.Typer(help="Admin tokens.", no_args_is_help=True)
crowd_app = typer.Typer(help="Crowd data: Table 6, replay through MTurk.", no_args_is_help=True)
hits_app = typer.Typer(help="Publish, sync and review HITs.", no_args_is_help=True)
jobs_app = typer.Typer(help="Training jobs.", no_args_is_help=True)

root.add_typer(db_app, name="db")
root.add_typer(admin_app, name="admin")
root.add_typer(crowd_app, name="crowd")
root.add_typer(hits_app, name="hits")
root.add_typer(jobs_app, name="jobs")
