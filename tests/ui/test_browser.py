"""End to end in a real browser: chromium drives the real Streamlit process against the real API."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser import chromium, new_page
from tests.support import ROOT, Server, free_port, start_server
from tests.ui.helpers import FORM_ROW as ROW

LABELS = {
    "bill_length_mm": "bill_length_mm (32.1–59.6)",
    "bill_depth_mm": "bill_depth_mm (13.1–21.5)",
    "flipper_length_mm": "flipper_length_mm (172–231)",
    "body_mass_g": "body_mass_g (2700–6300)",
}


@pytest.fixture(scope="module")
def ui_server(api_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``model-ui`` (the console entry point's module) from the repository root, on a free port."""
    port = free_port()
    server = start_server(
        [sys.executable, "-m", "model_ui.cli", "--api-url", api_server.url,
         "--port", str(port), "--address", "127.0.0.1"],
        port,
        "/_stcore/health",
        tmp_path_factory.mktemp("ui-logs") / "streamlit.log",
        cwd=ROOT,  # not services/ui: the service's config.toml must still apply
    )  # fmt: skip
    try:
        yield server
    finally:
        server.stop()


def test_predict_in_a_real_browser(ui_server: Server, api_server: Server, output_dir: Path) -> None:
    from playwright.sync_api import expect

    expected = httpx.post(
        f"{api_server.url}/v1/models/penguin-species/predict", json={"instances": [ROW]}, timeout=30
    ).json()["predictions"][0]

    with chromium() as browser:
        page = new_page(browser)
        page.goto(ui_server.url)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("Ready · 2 models")).to_be_visible()
        expect(sidebar.get_by_text(api_server.url)).to_be_visible()

        sidebar.get_by_role("combobox").first.click()
        page.get_by_role("option", name="penguin-species (multiclass)").click()
        expect(page.get_by_role("heading", name="Predict · penguin-species")).to_be_visible()
        for name, label in LABELS.items():
            field = page.get_by_role("spinbutton", name=label)
            field.fill(str(ROW[name]))
            field.press("Tab")
        for name in ("island", "sex"):
            page.get_by_role("combobox", name=name).click()
            page.get_by_role("option", name=str(ROW[name]), exact=True).click()
        page.get_by_role("button", name="Predict").click()

        value = page.get_by_test_id("stMetricValue").first
        expect(value).to_have_text(expected["label"])
        probability = expected["probabilities"][expected["label"]]
        expect(page.get_by_text(f"{probability:.1%} probability")).to_be_visible()
        expect(
            page.get_by_role("heading", name="Why: contribution of each feature")
        ).to_be_visible()
        charts = page.locator(
            "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"
        )
        expect(charts.first).to_be_visible()
        expect(page.get_by_text("island = Dream").first).to_be_attached()  # a chart label
        page.wait_for_timeout(1000)  # let the charts finish drawing for the screenshot
        page.screenshot(path=str(output_dir / "ui-predict.png"), full_page=True)

        # The service's config.toml reached Streamlit as flags: its upload limit is shown.
        page.get_by_role("link", name="Batch").click()
        expect(page.get_by_text("20MB per file")).to_be_visible()
