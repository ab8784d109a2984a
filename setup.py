"""Packaging step that pyproject.toml cannot express: ship the top-level `migrations/` folder
inside the wheel as the package data `app/migrations/` (package-dir mapping).

`migrations/` stays the single source of truth (new revisions go under migrations/versions/);
the wheel carries a copy at app/migrations so `frtrain db upgrade` works from any folder with
only the installed package. app.core.migrate looks for the packaged copy first and falls back
to the checkout's `migrations/` (editable installs, tests).
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["app", "app.*", "trainer", "trainer.*"]),
        "app.migrations",
        "app.migrations.versions",
    ],
    package_dir={"app.migrations": "migrations"},
    package_data={"app.migrations": ["script.py.mako", "versions/*.py"]},
)
