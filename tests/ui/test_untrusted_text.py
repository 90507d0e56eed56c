"""Text from a bundle or an API answer is shown as text, in a real browser (chromium, real UI).

Every hostile string points its images and links at a real local HTTP server that counts the
requests it gets: it must get none, no ``<a>`` or ``<img>`` made of the text may appear, and the
text must be there to read, character for character.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import chromium, new_page
from tests.support import ROOT, Server, free_port, start_api, start_server
from tests.ui.helpers import small_classifier

MODEL = "hostile"
FAILED_BUNDLE = ":red[failed] $x$ **b**"


@dataclass
class Sink:
    """A real HTTP server that answers anything with an empty PNG and remembers each path asked."""

    origin: str
    hits: list[str] = field(default_factory=list)

    def evil(self, kind: str) -> str:
        """Markdown, HTML and Streamlit directives that would fetch ``<origin>/<kind>...``."""
        return (
            f"![x]({self.origin}/{kind}.png) [click]({self.origin}/{kind}-link) "
            f"<img src='{self.origin}/{kind}-raw.png'> <b>bold</b> {self.origin}/{kind}-auto "
            "www.example.com me@example.com :red[red] :material/home: :smile: $x^2$ **strong** "
            "_em_ ~~del~~ `code` &amp;"
        )


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Sink(f"http://127.0.0.1:{server.server_address[1]}", hits)
    server.shutdown()
    server.server_close()


def _feature_name(sink: Sink) -> str:
    # XGBoost refuses "[", "]" and "<" in feature names; everything else is allowed.
    return f"**w** $x$ :material/home: {sink.origin}/feature-name"


def _hostile_frame(sink: Sink) -> Any:
    """The training rows, their numeric feature and one category named in hostile text."""
    _, frame = small_classifier()
    frame = frame.rename(columns={"size": _feature_name(sink)})
    frame["colour"] = frame["colour"].cat.rename_categories(["plain", sink.evil("category")])
    return frame


@pytest.fixture(scope="module")
def hostile_repository(sink: Sink, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid bundle whose every free text is hostile, an older version of it that answers
    every row the other way (to compare with, and to shadow it), and a bundle that fails to
    load."""
    import xgboost as xgb
    from model_api.authoring import save_bundle

    frame = _hostile_frame(sink)
    repository = tmp_path_factory.mktemp("hostile")
    for version, target in (
        ("1", frame[_feature_name(sink)] > 10),
        ("0", frame[_feature_name(sink)] <= 10),
    ):
        model = xgb.XGBClassifier(n_estimators=3, max_depth=2, enable_categorical=True, n_jobs=1)
        model.fit(frame, target.astype(int))
        save_bundle(
            model,
            frame,
            repository / MODEL / version,
            name=MODEL,
            version=version,
            target=sink.evil("target"),
            class_labels=[sink.evil("class-a"), sink.evil("class-b")],
            description=sink.evil("description"),
            feature_descriptions={
                _feature_name(sink): sink.evil("feature-help"),
                "colour": sink.evil("colour"),
            },
            metrics={sink.evil("metric"): 0.5},
        )
    broken = repository / FAILED_BUNDLE / "1"
    broken.mkdir(parents=True)
    (broken / "metadata.json").write_text(json.dumps({"name": "broken"}))
    return repository


@pytest.fixture(scope="module")
def hostile_api(
    hostile_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    server = start_api(
        hostile_repository,
        tmp_path_factory.mktemp("hostile-logs"),
        ready=False,
        MODEL_API_SHADOW=json.dumps({MODEL: "0"}),
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hostile_answers(sink: Sink) -> Iterator[str]:
    """A server answering like an API whose words are hostile: failed bundles, a 401 with details."""
    readiness = {"status": "not_ready", "models": {}, "failed": {"m/1": sink.evil("failed")}}
    refusal = {
        "error": {
            "code": "unauthorized",
            "message": sink.evil("message"),
            "details": [{"loc": ["body", "x"], "msg": sink.evil("detail")}],
        }
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = (503, readiness) if self.path == "/readyz" else (401, refusal)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _ui(api_url: str, log: Path) -> Server:
    port = free_port()
    return start_server(
        [sys.executable, "-m", "model_ui.cli", "--api-url", api_url, "--port", str(port),
         "--address", "127.0.0.1"],
        port,
        "/_stcore/health",
        log,
        cwd=ROOT,
    )  # fmt: skip


@pytest.fixture
def browser() -> Iterator[Any]:
    """A page of a fresh chromium (tall: the whole card at once)."""
    with chromium() as launched:
        yield new_page(launched, height=2000)


def _show_everything(page: Any) -> str:
    """Let the page settle, then open every help tooltip (they render their Markdown on hover).

    Returns the tooltips' texts (each is gone once the pointer moves on)."""
    page.wait_for_timeout(1500)
    shown = []
    for icon in page.get_by_test_id("stTooltipIcon").all():
        icon.hover()
        tooltip = page.get_by_test_id("stTooltipContent").last
        tooltip.wait_for()
        shown.append(tooltip.inner_text())
    return "\n".join(shown).replace("\u2060", "")


def _made_of_the_text(page: Any, sink: Sink) -> list[str]:
    """Links and images on the page that lead to the sink: they can only come from the text."""
    found: list[str] = page.eval_on_selector_all(
        "a[href], img[src], [srcset]",
        "els => els.map(e => e.getAttribute('href') || e.getAttribute('src') || e.srcset)",
    )
    return [url for url in found if sink.origin.split("//")[1] in url]


def _read(page: Any) -> str:
    """The page's text as a reader sees it (the invisible word joiners taken out)."""
    text: str = page.inner_text("body")
    return text.replace("\u2060", "")


def test_bundle_text_is_shown_as_text_on_every_page(
    browser: Any, sink: Sink, hostile_api: Server, tmp_path: Path, output_dir: Path
) -> None:
    from playwright.sync_api import expect

    for _ in range(2):  # the Monitoring page then has predicted classes with hostile labels
        row = {_feature_name(sink): 12.0, "colour": "plain"}
        response = httpx.post(
            f"{hostile_api.url}/v1/models/{MODEL}/predict", json={"instances": [row]}, timeout=30
        )
        assert response.status_code == 200, response.text
    ui = _ui(hostile_api.url, tmp_path / "streamlit.log")
    try:
        page = browser
        page.goto(ui.url)
        expect(page.get_by_role("heading", name=f"Predict · {MODEL}")).to_be_visible()
        page.get_by_role("combobox", name="colour").click()  # the categories, as options
        expect(page.get_by_role("option").first).to_be_visible()
        options = page.get_by_role("option").all_inner_texts()
        page.keyboard.press("Escape")
        tooltips = _show_everything(page)
        # The answer names the target and the class labels (headline, metric, explanation).
        page.get_by_role("button", name="Predict").click()
        expect(
            page.get_by_role("heading", name="Why: contribution of each feature")
        ).to_be_visible()
        assert not _made_of_the_text(page, sink), "the answer"
        seen = {"predict": "\n".join([_read(page), tooltips, *options])}
        for title in ("Model", "Batch", "API", "Monitoring"):
            page.get_by_role("link", name=title).click()
            expect(page.get_by_role("heading", name=title, exact=False).first).to_be_visible()
            seen[title.lower()] = _show_everything(page) + "\n" + _read(page)
            assert not _made_of_the_text(page, sink), title
        page.get_by_role("link", name="Model").click()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(output_dir / "ui-untrusted-text.png"), full_page=True)
    finally:
        ui.stop()

    assert sink.hits == [], f"the browser fetched {sink.hits} from text of the bundle"
    assert sink.evil("description") in seen["model"]  # read as written, in the sidebar and card
    assert sink.evil("target") in seen["model"]
    assert sink.evil("class-a") in seen["model"]
    assert _feature_name(sink) in seen["predict"]
    assert sink.evil("feature-help") in seen["predict"]  # the help tooltip
    assert f"Failed bundles: {FAILED_BUNDLE}/1" in seen["predict"]
    assert sink.evil("category") in seen["predict"]
    assert f"Predicted {sink.evil('target')}" in seen["predict"]  # the answer's metric label
    assert sink.evil("class-b") in seen["predict"]  # the predicted class, read as written
    assert f"Predictions by class of {MODEL} version 1" in seen["monitoring"]


def test_api_answers_are_shown_as_text(
    browser: Any, sink: Sink, hostile_answers: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    ui = _ui(hostile_answers, tmp_path / "streamlit.log")
    try:
        page = browser
        page.goto(ui.url)
        expect(page.get_by_text("Refuses the UI's calls").first).to_be_visible()
        # The banners come as the script runs: read the page once the run has finished.
        expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=30_000)
        _show_everything(page)
        links = _made_of_the_text(page, sink)
        seen = _read(page)
    finally:
        ui.stop()
    assert sink.hits == [] and links == []
    assert f"Refuses the UI's calls · 401: {sink.evil('message')}" in seen
    assert f"body.x: {sink.evil('detail')}" in seen  # the banner's details
    assert f"Failed bundles: m/1: {sink.evil('failed')}" in seen


def test_the_escaping_keeps_the_text_and_plain_names_as_they_are() -> None:
    from model_ui.text import md

    from tests.ui.helpers import plain

    hostile = (
        "- ![x](http://h/p.png) <b>b</b> :red[r] :smile: $x$ a\\b `c` _i_ a__b__ www.h.io\n# h"
    )
    assert plain(md(hostile)) == " ".join(hostile.split())
    for name in ("bill_length_mm", "penguin-species", "Bill (culmen) length in mm", "Type: x"):
        assert md(name) == name  # nothing to escape: labels and accessible names stay readable


def _labelled_file(sink: Sink, path: Path) -> int:
    """The training rows with their actual classes in the target's (hostile) column, every other
    row of the hostile category judged the other way: that slice is the worst. Returns the rows."""
    import numpy as np

    frame = _hostile_frame(sink)
    right = (frame[_feature_name(sink)] > 10).to_numpy()
    odd = (frame["colour"] == sink.evil("category")).to_numpy() & (np.arange(len(frame)) % 2 == 1)
    actual = right ^ odd
    labels = np.where(actual, sink.evil("class-b"), sink.evil("class-a"))
    frame.assign(**{sink.evil("target"): labels}).to_csv(path, index=False)
    return len(frame)


def test_evaluate_compare_and_the_shadow_show_the_text_as_text(
    browser: Any, sink: Sink, hostile_api: Server, tmp_path: Path, output_dir: Path
) -> None:
    from playwright.sync_api import expect

    # Live traffic, which the older version answers the other way: shadow disagreements.
    rows = [{_feature_name(sink): 12.0, "colour": "plain"}, {_feature_name(sink): 3.0,
            "colour": sink.evil("category")}]  # fmt: skip
    answer = httpx.post(
        f"{hostile_api.url}/v1/models/{MODEL}/predict", json={"instances": rows}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    shadow_url = f"{hostile_api.url}/v1/models/{MODEL}/shadow"
    for _ in range(100):
        if httpx.get(shadow_url, timeout=10).json()["disagreements"]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no shadow disagreement was stored")
    labelled = tmp_path / "labelled.csv"
    count = _labelled_file(sink, labelled)
    seen: dict[str, str] = {}
    ui = _ui(hostile_api.url, tmp_path / "streamlit.log")
    try:
        page = browser
        page.goto(ui.url)
        expect(page.get_by_role("heading", name=f"Predict · {MODEL}")).to_be_visible()

        page.get_by_role("link", name="Evaluate").click()
        expect(page.get_by_role("heading", name=f"Evaluate · {MODEL}")).to_be_visible()
        page.locator("input[type=file]").set_input_files(str(labelled))
        page.get_by_role("button", name=f"Evaluate on {count} rows").click()
        expect(page.get_by_role("heading", name="Confusion matrix")).to_be_visible(timeout=60_000)
        seen["evaluate"] = _show_everything(page) + "\n" + _read(page)
        assert not _made_of_the_text(page, sink), "the Evaluate page"

        page.get_by_role("link", name="Compare").click()
        expect(page.get_by_role("heading", name=f"Compare · {MODEL}")).to_be_visible()
        page.get_by_role("button", name="Compare the two answers").click()
        expect(page.get_by_text("They disagree on these inputs.")).to_be_visible()
        seen["compare on the form"] = _show_everything(page) + "\n" + _read(page)
        assert not _made_of_the_text(page, sink), "the Compare page, on the form"
        page.get_by_text("On a labelled file").click()
        page.locator("input[type=file]").set_input_files(str(labelled))
        page.get_by_role("button", name=f"Compare on {count} rows").click()
        expect(page.get_by_role("heading", name=f"{MODEL} version 0")).to_be_visible(timeout=60_000)
        seen["compare on a file"] = _show_everything(page) + "\n" + _read(page)
        assert not _made_of_the_text(page, sink), "the Compare page, on a file"

        page.get_by_role("link", name="Monitoring").click()
        expect(page.get_by_text(f"Shadow scoring of {MODEL}")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Newest disagreements")).to_be_visible()
        seen["monitoring"] = _show_everything(page) + "\n" + _read(page)
        assert not _made_of_the_text(page, sink), "the Monitoring page's shadow"
        page.screenshot(path=str(output_dir / "ui-untrusted-shadow.png"), full_page=True)
    finally:
        ui.stop()

    assert sink.hits == [], f"the browser fetched {sink.hits} from text of the bundle"
    target = sink.evil("target")
    assert f"(target {target}; {count} rows read)" in seen["evaluate"]
    # The worst slice, in words, names the hostile category as it is written.
    assert f"on colour = {sink.evil('category')} (" in seen["evaluate"]
    # Both answers on the form: the predicted class of each, under the target's name.
    assert seen["compare on the form"].count(f"Predicted {target}") == 2
    assert sink.evil("class-a") in seen["compare on the form"]
    assert sink.evil("class-b") in seen["compare on the form"]
    assert f"Accuracy · {MODEL} version 0" in seen["compare on a file"]
    assert "0 beside 1" in seen["monitoring"]
