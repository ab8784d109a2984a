"""/docs (Swagger UI) and /redoc render the API's operations in real headless Chromium with
every request off this machine refused: their assets ship with the package (fastapi-offline)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.config import Settings
from app.core.db import make_engine
from app.core.migrate import upgrade
from app.workflows.replay import serve_app

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; the browser tests need Debian's chromium")
    url = f"sqlite:///{tmp_path / 'docs.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade(conn)
    engine.dispose()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, environment="test", database_url=url, secret_key="docs-test"
    )
    with serve_app(settings) as served:
        yield served


@pytest.fixture
def offline_page(base: str) -> Iterator[tuple[Any, list[str]]]:
    """A page whose requests to anywhere but the local server are aborted (and recorded)."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(base):
            r.continue_()
        else:
            outside.append(f"{r.request.resource_type} {r.request.url}")
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context()
        context.route("**/*", route)
        yield context.new_page(), outside
        browser.close()


def test_swagger_ui_lists_the_operations_offline(
    base: str, offline_page: tuple[Any, list[str]]
) -> None:
    page, outside = offline_page
    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/projects" in p for p in paths), paths[:5]
    assert any("/api/v1/training-jobs" in p for p in paths), paths[:5]
    assert outside == []


def test_redoc_lists_the_operations_offline(base: str, offline_page: tuple[Any, list[str]]) -> None:
    page, outside = offline_page
    page.goto(f"{base}/redoc")
    # ReDoc renders one section per operation, headed by its summary.
    page.wait_for_function("document.body.innerText.includes('Create Project')", timeout=30_000)
    text = page.inner_text("body")
    assert "Upload Examples" in text and "/api/v1/projects" in text
    # ReDoc's "powered by" badge links an image on the vendor's CDN; nothing it needs to
    # render (script, style, font, the schema) leaves the machine.
    assert [u for u in outside if not u.startswith("image ")] == []
