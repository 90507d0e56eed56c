"""When the API is down or slow, every page shows a banner with the URL and a Retry, never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import start_api
from tests.ui.helpers import open_app, plain, texts

PAGES = ["predict", "batch", "evaluate", "model", "api", "monitoring"]


@pytest.fixture(scope="module")
def stopped_api_url(example_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a real API that served the models and has been stopped."""
    server = start_api(example_repository, tmp_path_factory.mktemp("stopped-logs"))
    server.stop()
    return server.url


@pytest.fixture
def silent_api_url() -> Iterator[str]:
    """A port that accepts connections and never answers: a hung API."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("page", PAGES)
def test_stopped_api_shows_a_banner_on_every_page(
    page: str, stopped_api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", stopped_api_url)
    monkeypatch.setenv("MODEL_UI_RETRY_BACKOFF_SECONDS", "0.01")
    at = open_app(page, model=None)
    assert not at.exception
    assert at.sidebar.error[0].value.startswith("Unreachable · ConnectError")
    banner = at.error[0].value
    assert "**The model API cannot be reached**" in banner
    assert f"URL tried: `{stopped_api_url}/" in banner
    assert "ConnectError" in banner
    assert f"`MODEL_UI_API_URL` points to it (now `{stopped_api_url}`)" in banner
    retry = next(b for b in at.button if b.label == "Retry")
    retry.click().run()
    assert not at.exception
    assert "cannot be reached" in at.error[0].value


def test_hung_api_times_out_with_a_clear_banner(
    silent_api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", silent_api_url)
    monkeypatch.setenv("MODEL_UI_TIMEOUT_SECONDS", "0.5")
    at = open_app(model=None)
    assert not at.exception
    assert (
        plain(at.sidebar.error[0].value) == "Not answering · no answer within 0.5 s (ReadTimeout)"
    )
    banner = plain(at.error[0].value)
    assert "**The model API did not answer in time** while listing the models" in banner
    assert f"URL tried: `{silent_api_url}/v1/models`" in banner
    assert "Traceback" not in texts(at)


def test_the_ui_recovers_when_the_api_comes_back(
    example_repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same UI session throughout: working, then a banner while the API is away, then working."""
    server = start_api(example_repository, tmp_path / "first")
    port = int(server.url.rsplit(":", 1)[1])
    monkeypatch.setenv("MODEL_UI_API_URL", server.url)
    monkeypatch.setenv("MODEL_UI_RETRY_BACKOFF_SECONDS", "0.01")
    at = open_app("predict")
    assert not at.error
    assert [s.value for s in at.sidebar.success] == ["Ready · 2 models"]

    server.stop()
    at.run()
    assert not at.exception
    shown = [e.value for e in at.error]
    assert any("Unreachable · ConnectError" in text for text in shown), shown

    again = start_api(example_repository, tmp_path / "second", port=port)
    try:
        retry = [b for b in at.button if b.label == "Retry"]
        (retry[0].click() if retry else at).run()  # the next interaction, as a user would
        assert not at.exception
        assert not at.error, [e.value for e in at.error]
        assert not at.sidebar.error
        assert at.sidebar.selectbox(key="model").value == "penguin-species"
    finally:
        again.stop()
