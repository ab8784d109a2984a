"""Dockerfile and docker-compose.yml, checked without a container engine (none runs here):
the compose file parses and wires what the job service needs, and every command the containers run
exists in the CLI with the options they pass."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import root

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_services_and_ordering(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"db", "migrate", "api", "worker", "mturk"}
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        cond = services[name]["depends_on"]["migrate"]["condition"]
        assert cond == "service_completed_successfully"
    # API and worker share the artifact store (the API serves what the worker wrote).
    assert any("artifacts:" in v for v in services["api"]["volumes"])
    assert any("artifacts:" in v for v in services["worker"]["volumes"])


def test_no_secret_is_baked_in(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    env = compose["services"]["api"]["environment"]
    # Required secrets fail fast when unset instead of defaulting to something guessable.
    assert env["SECRET_KEY"] == "${SECRET_KEY:?set SECRET_KEY}"
    assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"]
    assert env["MTURK_SANDBOX"].endswith(":-true}") and env["MTURK_ALLOW_LIVE"].endswith("false}")
    assert not re.search(r"(PASSWORD|SECRET|KEY)[A-Z_]*:\s*[\"']?[A-Za-z0-9]{6,}", text)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "SECRET_KEY" not in dockerfile and "PASSWORD" not in dockerfile


def test_dockerfile_is_slim_non_root_and_installs_cpu_torch_first() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM python:3.11-slim") == 1
    assert {"api", "worker"} <= set(re.findall(r"^FROM app AS (\w+)", text, re.M))
    torch_at = text.index("torch==2.13.0")
    assert "download.pytorch.org/whl/cpu" in text[text.rfind("\n", 0, torch_at) : torch_at]
    assert torch_at < text.index("pip install .")
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and all(u not in ("root", "0") for u in user)
    for src in re.findall(r"^COPY (\S+)", text, re.M):
        if not src.startswith("--"):
            assert (ROOT / src).exists(), src


@pytest.mark.parametrize("service", ["migrate", "api", "worker", "mturk"])
def test_container_commands_exist(compose: dict[str, Any], service: str) -> None:
    command = [str(c) for c in compose["services"][service]["command"]]
    assert command[0] == "frtrain"
    words = [c for c in command[1:] if not c.startswith("-") and "/" not in c]
    subcommand = [w for w in words if not re.fullmatch(r"[\d.]+|\$\{.*\}", w)]
    result = CliRunner().invoke(root, [*subcommand, "--help"])
    assert result.exit_code == 0, result.output
    for option in (c for c in command if c.startswith("--")):
        assert option in result.output, f"{service}: {option} not an option of {subcommand}"
