"""The sidebar (AppTest, real APIs): the chosen version's description; a refused key is no "Ready"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support import Server, start_api
from tests.ui.helpers import API_KEY, MIXED_MODEL, VERSIONED_MODEL, open_app, plain


@pytest.fixture(scope="module")
def versioned_api(
    versioned_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    server = start_api(versioned_repository, tmp_path_factory.mktemp("versioned-logs"))
    yield server
    server.stop()


def captions(at: AppTest) -> list[str]:
    return [plain(c.value) for c in at.sidebar.caption]


def test_the_sidebar_describes_the_chosen_version(
    monkeypatch: pytest.MonkeyPatch, versioned_api: Server
) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", versioned_api.url)
    at = open_app("model", model=VERSIONED_MODEL)
    versions = at.sidebar.selectbox(key=f"version:{VERSIONED_MODEL}")
    assert versions.options == ["2 · default", "1"] and versions.value == "2"
    assert "Version 2 of the model, trained on its own data." in captions(at)

    versions.set_value("1").run()
    assert not at.exception
    assert "Version 1 of the model, trained on its own data." in captions(at)
    assert not any("Version 2 of the model" in c for c in captions(at))


@pytest.mark.parametrize(
    ("key", "message", "advice"),
    [
        (None, "missing API key: send it in the X-API-Key header", "set `MODEL_UI_API_KEY`"),
        ("not-the-key", "invalid API key", "is not the one the API expects"),
    ],
)
def test_a_refused_key_is_shown_in_the_status_not_ready(
    monkeypatch: pytest.MonkeyPatch, keyed_api: Server, key: str | None, message: str, advice: str
) -> None:
    """/readyz needs no key, so the API is "ready" while it refuses every call the UI makes."""
    monkeypatch.setenv("MODEL_UI_API_URL", keyed_api.url)
    if key is None:
        monkeypatch.delenv("MODEL_UI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("MODEL_UI_API_KEY", key)
    at = open_app(model=None)
    assert not at.exception
    assert not at.sidebar.success, [s.value for s in at.sidebar.success]
    assert [plain(e.value) for e in at.sidebar.error] == [
        f"Refuses the UI's calls · 401: {message}"
    ]
    assert any(advice in c for c in captions(at))
    banner = plain(at.error[0].value)  # the page says the same, with what to do
    assert message in banner and advice in banner


def test_with_the_right_key_the_status_is_ready(
    monkeypatch: pytest.MonkeyPatch, keyed_api: Server
) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", keyed_api.url)
    monkeypatch.setenv("MODEL_UI_API_KEY", API_KEY)
    at = open_app(model=MIXED_MODEL)
    assert [s.value for s in at.sidebar.success] == ["Ready · 1 model"]
    assert not at.sidebar.error
