"""Typer groups of the `frtrain` command. Each command module decorates one of these.

Command bodies import the services they call inside the function: `frtrain --help` and every
command load all command modules, and importing every service (pandas, SQLAlchemy models, boto3,
torch through trainer.api) for each of them would make the CLI slow to start."""

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
projects_app = typer.Typer(help="Labeling projects.", no_args_is_help=True)
examples_app = typer.Typer(help="A project's examples.", no_args_is_help=True)
gold_app = typer.Typer(help="Gold questions (hidden checks, training quiz).", no_args_is_help=True)
answers_app = typer.Typer(help="Crowd answers.", no_args_is_help=True)
exports_app = typer.Typer(help="Frozen validation-set snapshots.", no_args_is_help=True)
review_app = typer.Typer(help="Approve, reject, bonus, block.", no_args_is_help=True)
data_app = typer.Typer(help="Data sets: list, fetch (checksummed).", no_args_is_help=True)

root.add_typer(db_app, name="db")
root.add_typer(admin_app, name="admin")
root.add_typer(crowd_app, name="crowd")
root.add_typer(hits_app, name="hits")
root.add_typer(jobs_app, name="jobs")
root.add_typer(projects_app, name="projects")
root.add_typer(examples_app, name="examples")
root.add_typer(gold_app, name="gold")
root.add_typer(answers_app, name="answers")
root.add_typer(exports_app, name="exports")
root.add_typer(review_app, name="review")
root.add_typer(data_app, name="data")
