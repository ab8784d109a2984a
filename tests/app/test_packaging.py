"""What an installed copy needs at run time travels in the wheel: migrations (mapped from the
top-level migrations/ by setup.py), templates, static files, the packaged data sets; and
`frtrain db upgrade` works from the unpacked wheel in a folder with nothing beside it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (whl,) = out.glob("frtrain-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_carries_migrations_templates_static_and_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for src in sorted((ROOT / "migrations").rglob("*")):
        if src.is_file() and src.suffix in (".py", ".mako"):
            assert f"app/migrations/{src.relative_to(ROOT / 'migrations')}" in names, src
    for folder in ("templates", "static"):
        for src in (ROOT / "app" / folder).rglob("*"):
            if src.is_file():
                assert f"app/{src.relative_to(ROOT / 'app')}" in names, src
    packed = {n for n in names if n.startswith("trainer/datasets/files/")}
    assert len(packed) == sum(1 for _ in (ROOT / "trainer/datasets/files").rglob("*.xz"))
    assert not any(n.startswith(("migrations/", "tests/")) for n in names)


@pytest.mark.slow
def test_db_upgrade_from_the_unpacked_wheel_in_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    code = (
        "import sys; from app.cli import main; "
        "from app.core.migrate import script_location; print(script_location()); "
        "sys.argv = ['frtrain', 'db', 'upgrade']; main()"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == str(site / "app" / "migrations")
    assert re.search(r"database sqlite:///\./frtrain\.db at \d{4}_", run.stdout)
    assert (empty / "frtrain.db").is_file()


def test_checkout_falls_back_to_the_top_level_migrations() -> None:
    from app.core.migrate import script_location

    # Editable installs and tests have no app/migrations copy: the source of truth is used.
    assert script_location() == ROOT / "migrations"


def test_dockerfile_installs_the_built_wheel_not_the_checkout() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip wheel" in text and "pip install --no-deps /tmp/wheels/frtrain-" in text
    assert "-e ." not in text
    assert "shared" not in text
