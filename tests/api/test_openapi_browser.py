"""/docs in a real browser (chromium), with nothing but loopback reachable: the page renders the
operations, and with an API key, Authorize and "Try it out" get answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.browser import chromium, new_page
from tests.support import Server, running_api

KEY = "browser-key-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed_api(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with running_api(
        example_repository, tmp_path_factory.mktemp("docs-keyed"), MODEL_API_API_KEY=KEY
    ) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def offline_page(browser: Any, elsewhere: list[str]) -> Any:
    """A page that can reach loopback only; every other request is refused and recorded."""
    page = new_page(browser, height=1800)

    def only_loopback(route: Any) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    return page


def test_docs_render_offline(browser: Any, api_server: Server, output_dir: Path) -> None:
    from playwright.sync_api import expect

    elsewhere: list[str] = []
    page = offline_page(browser, elsewhere)
    page.goto(f"{api_server.url}/docs")
    typed = page.locator(".opblock-summary", has_text="/v1/models/penguin-species/predict")
    expect(typed.first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() >= 20
    expect(page.get_by_text("Failed to load API definition")).to_have_count(0)
    expect(page.locator(".errors-wrapper")).to_have_count(0)  # no resolver errors
    page.screenshot(path=str(output_dir / "docs.png"), full_page=False)
    assert elsewhere == []


def test_authorize_and_try_it_out_with_a_key(
    browser: Any, keyed_api: Server, output_dir: Path
) -> None:
    from playwright.sync_api import expect

    elsewhere: list[str] = []
    page = offline_page(browser, elsewhere)
    page.goto(f"{keyed_api.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    typed = page.locator(".opblock-summary", has_text="/v1/models/penguin-species/predict")
    expect(typed).to_have_count(0)  # the public document: no model details without the key

    page.locator("button.authorize").first.click()
    header_scheme = page.locator(".auth-container", has_text="APIKeyHeader")
    header_scheme.locator("input").fill(KEY)
    header_scheme.locator("button.authorize").click()
    page.locator("button.btn-done").first.click()
    expect(typed.first).to_be_visible()  # the document came again, with the models

    listing = page.locator(".opblock", has_text="/v1/models").filter(has_text="List the models")
    predict = page.locator(".opblock").filter(
        has=page.get_by_text("/v1/models/penguin-species/predict", exact=True)
    )
    for operation in (listing, predict):  # the predict body is the document's example
        operation.locator(".opblock-summary").click()
        operation.locator("button.try-out__btn").click()
        operation.locator("button.execute").click()
        status = operation.locator(".live-responses-table tbody .response-col_status").first
        expect(status).to_have_text("200")
    expect(predict.get_by_text('"label"').first).to_be_visible()
    page.screenshot(path=str(output_dir / "docs-authorized.png"), full_page=False)
    assert elsewhere == []
