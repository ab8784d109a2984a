"""`frtrain data list|fetch`: the data sets the product knows (trainer.datasets)."""

from __future__ import annotations

from pathlib import Path

import typer

from app.commands import data_app
from app.commands._cli import JsonOpt, console, fail, output, print_table

DirOpt = typer.Option(
    None, "--dir", help="Data directory (default: FRTRAIN_DATA_DIR or the per-user cache)."
)


@data_app.command("list")
def list_data(root: Path | None = DirOpt, as_json: bool = JsonOpt) -> None:
    """Every registered file: verified in the data directory, packaged (decompressed on first
    use), missing (`frtrain data fetch NAME`) or checksum mismatch."""
    from trainer.datasets import REGISTRY, data_dir, status

    where = root or data_dir()
    rows = status(where)
    payload = {
        "data_dir": str(where),
        "datasets": {
            name: {
                "title": ds.title,
                "licence": ds.licence,
                "homepage": ds.homepage,
                "files": [
                    {
                        "file": r.file,
                        "state": r.state,
                        "size": r.size,
                        "path": str(r.path),
                        "url": r.url,
                        "sha256": f.sha256,
                    }
                    for r, f in zip((r for r in rows if r.dataset == name), ds.files, strict=True)
                ],
            }
            for name, ds in REGISTRY.items()
        },
    }

    def human() -> None:
        print_table(
            f"data sets in {where}",
            ("data set", "file", "state", "size", "source"),
            [(r.dataset, r.file, r.state, f"{r.size / 1e6:.2f} MB", r.url) for r in rows],
        )
        for name, ds in REGISTRY.items():
            console.print(f"[bold]{name}[/bold]: {ds.title}. Licence: {ds.licence}.")

    output(payload, as_json, human)


@data_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="Data set name (see `frtrain data list`)."),
    root: Path | None = DirOpt,
    mirror: str | None = typer.Option(
        None, help="Base URL serving <folder>/<file> instead of the canonical source URLs."
    ),
    force: bool = typer.Option(False, help="Download again even if a verified copy exists."),
    timeout: float = typer.Option(30.0, min=1.0, help="Seconds per connection attempt."),
    as_json: bool = JsonOpt,
) -> None:
    """Download data set NAME from its canonical public URL and verify each file's SHA-256."""
    from tqdm import tqdm

    from trainer.datasets import REGISTRY, DatasetError
    from trainer.datasets import fetch as fetch_data

    if name not in REGISTRY:
        fail(f"NAME: unknown data set {name!r}; expected one of {', '.join(REGISTRY)}")
    bars: dict[str, tqdm] = {}

    def progress(file: str, done: int, total: int) -> None:
        if file not in bars:
            bars[file] = tqdm(total=total, unit="B", unit_scale=True, desc=file, leave=False)
        bars[file].update(done - bars[file].n)

    try:
        paths = fetch_data(
            name, root, mirror=mirror, force=force, timeout=timeout, progress=progress
        )
    except DatasetError as exc:
        fail(str(exc), 1)
    finally:
        for bar in bars.values():
            bar.close()
    output(
        {"dataset": name, "files": [str(p) for p in paths], "verified": True},
        as_json,
        lambda: console.print(
            f"{name}: {len(paths)} file(s) verified (SHA-256) in {paths[0].parent}"
        ),
    )


@data_app.command("path")
def path(
    name: str = typer.Argument(..., help="Data set name (see `frtrain data list`)."),
    file: str | None = typer.Argument(None, help="One of its files (default: the first)."),
    root: Path | None = DirOpt,
) -> None:
    """Print the verified path of a data set's file (decompressing the packaged copy first),
    e.g. `frtrain crowd table6 --csv "$(frtrain data path compas-crowd)"`."""
    from trainer.datasets import REGISTRY, DatasetError, file_path

    if name not in REGISTRY:
        fail(f"NAME: unknown data set {name!r}; expected one of {', '.join(REGISTRY)}")
    try:
        typer.echo(file_path(name, file or REGISTRY[name].files[0].name, root))
    except DatasetError as exc:
        fail(str(exc), 1)
