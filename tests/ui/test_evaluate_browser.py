"""The Evaluate and Compare pages' "done means", in a real browser: the penguins file with its
species column is uploaded, and the Evaluate page shows the accuracy, the confusion matrix and
the worst slice, as the API computed them (and a progress bar while a large file is judged); the
Compare page sets two versions side by side on the form and on the file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser import chromium, new_page
from tests.support import Server, add_weak_species_version, start_api, start_ui


@pytest.fixture(scope="module")
def evaluate_ui(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """The examples with a weaker, older version "0" of the species model to compare with."""
    repository = tmp_path_factory.mktemp("evaluate-browser-models")
    shutil.copytree(example_repository, repository, dirs_exist_ok=True)
    add_weak_species_version(repository)
    api = start_api(repository, tmp_path_factory.mktemp("evaluate-browser-api"))
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


def test_two_versions_side_by_side_on_the_form_and_on_the_file(
    evaluate_ui: tuple[Server, Server], tmp_path: Path, output_dir: Path
) -> None:
    from model_api.authoring.examples import load_penguins_frame
    from playwright.sync_api import expect

    api, ui = evaluate_ui
    labelled = tmp_path / "penguins.csv"
    load_penguins_frame().to_csv(labelled, index=False)
    with chromium() as browser:
        page = new_page(browser, height=1600)
        page.goto(ui.url)
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_role("combobox").first.click()
        page.get_by_role("option", name="penguin-species (multiclass)").click()
        page.get_by_role("link", name="Compare").click()
        expect(page.get_by_role("heading", name="Compare · penguin-species")).to_be_visible()
        expect(page.get_by_text("beside penguin-species version 0 (right)")).to_be_visible()

        # On the form: the form's inputs (the medians) scored and explained by both.
        page.get_by_role("button", name="Compare the two answers").click()
        for version in ("1", "0"):
            expect(
                page.get_by_role("heading", name=f"penguin-species version {version}")
            ).to_be_visible(timeout=30_000)
        predicted = page.get_by_test_id("stMetric").filter(has_text="Predicted species")
        expect(predicted).to_have_count(2)
        expect(page.get_by_text("Why (contributions to")).to_have_count(2)
        shown = [m.inner_text() for m in predicted.all()]
        verdict = page.get_by_text("Both give the same answer for these inputs.").or_(
            page.get_by_text("They disagree on these inputs.")
        )
        expect(verdict).to_be_visible()

        # On the file: both judged on the same rows, the difference with its interval.
        page.get_by_text("On a labelled file").click()
        page.locator("input[type=file]").set_input_files(str(labelled))
        page.get_by_role("button", name="Compare on 342 rows").click()
        expect(page.get_by_role("heading", name="Rows where they disagree")).to_be_visible(
            timeout=60_000
        )
        # (Names are shown with invisible word joiners that keep Markdown from reading them.)
        said = page.inner_text("body").replace("\u2060", "")
        assert "penguin-species@1 is better" in said
        result = httpx.post(
            f"{api.url}/v1/models/penguin-species/versions/1/compare",
            params={"other_version": "0"},
            content=labelled.read_bytes(),
            headers={"Content-Type": "text/csv"},
            timeout=120,
        ).json()
        for evaluation in result["evaluations"]:
            accuracy = f"{evaluation['classification']['accuracy']:.1%}"
            metric = page.get_by_test_id("stMetric").filter(
                has_text=f"Accuracy · penguin-species version {evaluation['version']}"
            )
            expect(metric).to_contain_text(accuracy)
        disagree = page.get_by_test_id("stMetric").filter(has_text="Rows where they disagree")
        expect(disagree).to_contain_text(f"{result['disagreements']['rows']:,}")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(output_dir / "ui-compare.png"), full_page=True)

    # Each answer is a species with its probability (test_compare_page.py checks that they are
    # the two versions' own answers for the form's inputs).
    for text in shown:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        assert lines[0] == "Predicted species" and lines[1] in {"Adelie", "Chinstrap", "Gentoo"}
        assert lines[2].endswith("% probability"), text
