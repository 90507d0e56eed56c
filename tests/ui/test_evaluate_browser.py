"""The Evaluate page's "done means", in a real browser: the penguins file with its species
column is uploaded, and the page shows the accuracy, the confusion matrix and the worst slice,
as the API computed them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser import chromium, new_page
from tests.support import Server, start_api, start_ui


@pytest.fixture(scope="module")
def evaluate_ui(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    api = start_api(example_repository, tmp_path_factory.mktemp("evaluate-browser-api"))
    try:
        ui = start_ui(api.url, tmp_path_factory.mktemp("evaluate-ui-logs") / "streamlit.log")
        try:
            yield api, ui
        finally:
            ui.stop()
    finally:
        api.stop()


def test_the_penguins_file_shows_accuracy_the_confusion_matrix_and_the_worst_slice(
    evaluate_ui: tuple[Server, Server], tmp_path: Path, output_dir: Path
) -> None:
    from model_api.authoring.examples import load_penguins_frame
    from playwright.sync_api import expect

    api, ui = evaluate_ui
    labelled = tmp_path / "penguins.csv"
    load_penguins_frame().to_csv(labelled, index=False)
    with chromium() as browser:
        page = new_page(browser)
        page.goto(ui.url)
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_role("combobox").first.click()
        page.get_by_role("option", name="penguin-species (multiclass)").click()
        page.get_by_role("link", name="Evaluate").click()
        expect(page.get_by_role("heading", name="Evaluate · penguin-species")).to_be_visible()
        page.locator("input[type=file]").set_input_files(str(labelled))
        button = page.get_by_role("button", name="Evaluate on 342 rows")
        expect(button).to_be_visible()
        button.click()
        expect(page.get_by_role("heading", name="Confusion matrix")).to_be_visible(timeout=60_000)

        runs = httpx.get(f"{api.url}/v1/models/penguin-species/evaluations", timeout=10).json()
        result = httpx.get(
            f"{api.url}/v1/evaluations/{runs['evaluations'][0]['id']}", timeout=10
        ).json()
        accuracy = f"{result['classification']['accuracy']:.1%}"
        metric = page.get_by_test_id("stMetric").filter(has_text="Accuracy").first
        expect(metric).to_contain_text(accuracy)
        worst = result["slices"][0]
        expect(page.get_by_role("heading", name="Where it does worst")).to_be_visible()
        first_sentence = page.get_by_test_id("stMarkdownContainer").locator("li").first
        expect(first_sentence).to_contain_text(f"({worst['rows']:,} rows)")
        expect(first_sentence).to_contain_text(worst["feature"])
        # The charts are drawn (Vega renders into a canvas or an SVG).
        expect(page.locator(".vega-embed").first).to_be_visible()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(output_dir / "ui-evaluate.png"), full_page=True)


# Records every text a progress bar shows while the page runs (a bar lives for seconds only).
WATCH_PROGRESS = """() => {
    window.progressTexts = [];
    new MutationObserver(() => {
        for (const bar of document.querySelectorAll('[data-testid="stProgress"]')) {
            const text = bar.innerText.trim();
            if (text && !window.progressTexts.includes(text)) window.progressTexts.push(text);
        }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_a_large_file_shows_a_progress_bar_while_it_is_judged(
    evaluate_ui: tuple[Server, Server], tmp_path: Path
) -> None:
    import numpy as np
    from model_api.authoring.examples import load_penguins_frame
    from playwright.sync_api import expect

    _, ui = evaluate_ui
    rows = 400_000
    penguins = load_penguins_frame()
    labelled = tmp_path / "many-penguins.csv"
    penguins.iloc[np.arange(rows) % len(penguins)].to_csv(labelled, index=False)
    with chromium() as browser:
        page = new_page(browser)
        page.goto(f"{ui.url}/evaluate")
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_role("combobox").first.click()
        page.get_by_role("option", name="penguin-species (multiclass)").click()
        expect(page.get_by_role("heading", name="Evaluate · penguin-species")).to_be_visible()
        page.locator("input[type=file]").set_input_files(str(labelled))
        button = page.get_by_role("button", name=f"Evaluate on {rows:,} rows")
        expect(button).to_be_visible(timeout=60_000)
        page.evaluate(WATCH_PROGRESS)
        button.click()
        expect(page.get_by_role("heading", name="Confusion matrix")).to_be_visible(timeout=120_000)
        shown: list[str] = page.evaluate("window.progressTexts")
        expect(page.get_by_test_id("stProgress")).to_have_count(0)  # gone once it is done
    assert any(f"of {rows:,} rows (" in text and "% of the file)" in text for text in shown), shown
    assert any("computing the metrics" in text for text in shown), shown
    print("the progress bar said:", *shown, sep="\n  ")
