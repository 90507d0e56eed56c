"""The UI's "API docs" links (sidebar and API page) lead to docs that work, key or no key."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support import Server
from tests.ui.helpers import API_KEY, MIXED_MODEL, open_app


def docs_links(at: object) -> list[str]:
    sidebar = " ".join(m.value for m in at.sidebar.markdown)  # type: ignore[attr-defined]
    return re.findall(r"\]\((\S+/docs)\)", sidebar)


def assert_docs_work(url: str) -> None:
    """What a browser does with the link: no key (a link carries none), the page, its script."""
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    script = re.search(r'<script src="([^"]+)"', page.text)
    assert script is not None
    bundle = httpx.get(httpx.URL(url).join(script[1]), timeout=30)
    assert bundle.status_code == 200
    assert "SwaggerUIBundle" in bundle.text
    document = httpx.get(httpx.URL(url).join("/openapi.json"), timeout=30)
    assert document.status_code == 200  # the public document, without the key


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "API key"])
def test_the_docs_links_lead_to_working_docs(
    keyed: bool, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    server: Server = request.getfixturevalue("keyed_api" if keyed else "api_server")
    monkeypatch.setenv("MODEL_UI_API_URL", server.url)
    if keyed:
        monkeypatch.setenv("MODEL_UI_API_KEY", API_KEY)
    else:
        monkeypatch.delenv("MODEL_UI_API_KEY", raising=False)
    at = open_app(page="api", model=MIXED_MODEL if keyed else "penguin-species")
    links = [*docs_links(at), at.get("link_button")[0].proto.url]
    assert links == [f"{server.url}/docs"] * 2
    assert_docs_work(links[0])
