"""Auth, health probes, the start-up migration check, schema drift and the admin CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, delete, insert, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import app.models  # noqa: F401  (complete metadata)
from app.core.config import Settings, get_settings
from app.core.db import Base, make_engine, make_session_factory
from app.core.migrate import DatabaseNotMigrated, alembic_config, check_migrated, upgrade
from app.main import create_app
from app.models import Project
from app.services import auth

from .api_helpers import post_project

UNAUTHORIZED = {"error": "unauthorized", "detail": auth.UNAUTHORIZED_DETAIL}


def _api_requests(app: FastAPI) -> list[tuple[str, str]]:
    out = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api/v1"):
            concrete = path.replace("{project_id}", "1").replace("{export_id}", "1")
            out += [(method.upper(), concrete) for method in sorted(operations)]
    return out


def test_every_api_route_needs_a_valid_token(
    app: FastAPI, client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    post_project(client, admin_headers)  # there is data a leaky 401 could show
    revoked = auth.create_token(session=session, name="old")
    auth.revoke_token(session=session, token_id=revoked.id)
    requests = _api_requests(app)
    assert len(requests) >= 12
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": f"Bearer {revoked.token}"},
    ):
        for method, path in requests:
            r = client.request(method, path, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.json() == UNAUTHORIZED
            assert r.headers["www-authenticate"] == "Bearer"


def test_token_is_stored_hashed(session: Session) -> None:
    issued = auth.create_token(session=session, name="ci")
    rows = auth.list_tokens(session=session)
    stored = next(r for r in rows if r.id == issued.id)
    assert stored.token_hash == auth.hash_token(issued.token) != issued.token
    assert auth.verify_token(session=session, token=issued.token).id == issued.id


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok"}
    assert client.get("/openapi.json").json()["info"]["title"] == "frtrain"
    assert client.get("/docs").status_code == 200


def test_unknown_route_and_method(client: TestClient, admin_headers: dict[str, str]) -> None:
    r = client.get("/api/v1/nope", headers=admin_headers)
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = client.delete("/api/v1/projects", headers=admin_headers)
    assert (r.status_code, r.json()["error"]) == (405, "method_not_allowed")


def test_nul_text_is_422_not_a_database_error(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    r = client.post(
        "/api/v1/projects", json={"name": "a\x00b", "question": "q"}, headers=admin_headers
    )
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    pid = post_project(client, admin_headers)
    r = client.post(
        f"/api/v1/projects/{pid}/gold",
        json=[{"example_id": "a\x00", "label": 1}],
        headers=admin_headers,
    )
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    r = client.post(
        f"/api/v1/projects/{pid}/examples",
        files={"file": ("x.json", b'[{"example_id": "a", "f": "x\\u0000"}]')},
        headers=admin_headers,
    )
    assert r.status_code == 422 and "NUL" in r.json()["detail"]


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


#: The migration before 0008_provider_registry, which dropped the provider_known constraints.
BEFORE_REGISTRY = "0006_crowd_quality"
UNREGISTERED = "elsewhere"  # a provider name no migration ever listed


def _provider_checks(conn: Connection) -> set[str]:
    inspector = inspect(conn)
    return {
        str(check["name"])
        for table in ("projects", "hits")
        for check in inspector.get_check_constraints(table)
        if str(check["name"]).endswith("provider_known")
    }


def _insert_project(conn: Connection, provider: str) -> None:
    values = {"name": "p", "question": "q", "scale_labels": ["1", "2", "3", "4"]}
    conn.execute(insert(Project).values(**values, worker_filter={}, provider=provider))


def _stores_provider(conn: Connection, name: str) -> bool:
    """Whether a project row with provider ``name`` can be stored (it is removed again)."""
    try:
        with conn.begin_nested():
            _insert_project(conn, name)
    except IntegrityError:
        return False
    conn.execute(delete(Project).where(Project.provider == name))
    return True


def test_provider_names_are_the_registrys_not_a_database_constraint(engine: Engine) -> None:
    """0008_provider_registry drops the provider_known CHECK constraints of projects and hits
    (the registry in app.services.recruiting is the one list of names); its downgrade restores
    them, and refuses while a row holds a name they do not list. All in one rolled-back
    transaction (DDL is transactional on both databases)."""

    def downgrade(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, BEFORE_REGISTRY)

    with engine.connect() as conn:
        outer = conn.begin()
        try:
            assert _provider_checks(conn) == set()
            assert _stores_provider(conn, UNREGISTERED)
            _insert_project(conn, UNREGISTERED)
            with pytest.raises(IntegrityError), conn.begin_nested():
                downgrade(conn)
            conn.execute(delete(Project).where(Project.provider == UNREGISTERED))
            downgrade(conn)
            assert _provider_checks(conn) == {
                "ck_projects_provider_known",
                "ck_hits_provider_known",
            }
            assert not _stores_provider(conn, UNREGISTERED)
            assert _stores_provider(conn, "prolific")
            upgrade(conn)
            assert _provider_checks(conn) == set()
            assert _stores_provider(conn, UNREGISTERED)
        finally:
            outer.rollback()


def test_app_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    with (
        pytest.raises(DatabaseNotMigrated, match="frtrain db upgrade"),
        TestClient(create_app(settings)),
    ):
        pass


def test_cli_upgrade_create_and_revoke_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.commands import admin as _admin  # noqa: F401
    from app.commands import db as _db  # noqa: F401
    from app.commands import root

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        refused = runner.invoke(root, ["admin", "create-token"])
        assert refused.exit_code == 2 and "frtrain db upgrade" in refused.output
        up = runner.invoke(root, ["db", "upgrade"])
        assert up.exit_code == 0, up.output
        engine = make_engine(url)
        check_migrated(engine)
        made = runner.invoke(root, ["admin", "create-token", "--name", "ops"])
        assert made.exit_code == 0, made.output
        token = made.stdout.strip().splitlines()[-1]
        factory = make_session_factory(engine)
        with factory() as s:
            assert auth.verify_token(session=s, token=token).name == "ops"
        listed = runner.invoke(root, ["admin", "list-tokens"])
        assert token not in listed.output and "ops" in listed.output
        assert runner.invoke(root, ["admin", "revoke-token", "--token", token]).exit_code == 0
        with factory() as s, pytest.raises(auth.Unauthorized):
            auth.verify_token(session=s, token=token)
        engine.dispose()
    finally:
        get_settings.cache_clear()
