"""The issue's "done means", in a real browser: a colleague predicts a penguin, says thumbs down,
"it should have been Gentoo", with a comment and their name; the engineer finds it on the
Feedback page with the inputs and the comment, in the CSV export, and in the API's /metrics."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.browser import chromium, new_page
from tests.support import Server, start_api, start_ui
from tests.ui.helpers import FORM_ROW as ROW
from tests.ui.test_browser import LABELS

SPECIES = "penguin-species"
COMMENT = "The flippers are far too long for an Adelie: <b>look</b> *here*"
AUTHOR = "Ann Colleague"


@pytest.fixture(scope="module")
def logging_api(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """An API recording predictions in its own SQLite database."""
    server = start_api(
        example_repository,
        tmp_path_factory.mktemp("feedback-browser-api"),
        MODEL_API_PREDICTION_LOG="true",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def feedback_ui(logging_api: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_ui(
        logging_api.url, tmp_path_factory.mktemp("feedback-ui-logs") / "streamlit.log"
    )
    try:
        yield server
    finally:
        server.stop()


def feedback_counts(api: Server) -> dict[tuple[str, str, str], float]:
    text = httpx.get(f"{api.url}/metrics", timeout=30).text
    return {
        (s.labels["model"], s.labels["version"], s.labels["verdict"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "model_api_feedback"
        for s in family.samples
        if s.name == "model_api_feedback_total"
    }


def test_a_colleague_says_it_should_have_been_gentoo(
    feedback_ui: Server, logging_api: Server, output_dir: Path
) -> None:
    from playwright.sync_api import expect

    before = feedback_counts(logging_api).get((SPECIES, "1", "wrong"), 0.0)
    with chromium() as browser:
        page = new_page(browser)
        page.goto(feedback_ui.url)
        sidebar = page.get_by_test_id("stSidebar")
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
        expect(page.get_by_role("heading", name="Was it right?")).to_be_visible()
        predicted = page.get_by_test_id("stMetricValue").first.inner_text()
        assert predicted != "Gentoo"  # the colleague corrects it

        # Thumbs down, "it should have been Gentoo", a comment, the name (asked once).
        page.get_by_role("radio", name="Thumbs down").click()
        page.get_by_role("combobox", name="What should it have been?").click()
        page.get_by_role("option", name="Gentoo", exact=True).click()
        comment = page.get_by_role("textbox", name="Comment")
        comment.fill(COMMENT)
        comment.press("Control+Enter")  # apply the text area
        author = page.get_by_role("textbox", name="Your name")
        author.fill(AUTHOR)
        author.press("Enter")
        expect(page).to_have_url(f"{feedback_ui.url}/?author=Ann+Colleague")
        page.get_by_role("button", name="Save feedback").click()
        confirmation = page.get_by_test_id("stMainBlockContainer").get_by_test_id(
            "stAlertContentSuccess"
        )  # the sidebar has its own ("Ready · 2 models")
        expect(confirmation).to_contain_text("Saved: verdict wrong, actual Gentoo, comment")
        expect(confirmation).to_contain_text(COMMENT)  # as text: the tags and link literal
        expect(confirmation.locator("b, em")).to_have_count(0)
        page.screenshot(path=str(output_dir / "ui-feedback-widget.png"), full_page=True)

        # The engineer: the Feedback page shows it, with the inputs and the comment.
        page.get_by_role("link", name="Feedback").click()
        expect(page.get_by_role("heading", name="Feedback · penguin-species")).to_be_visible()
        # In a paragraph (the grid below has it too, in a cell)
        expect(page.get_by_role("paragraph").filter(has_text=COMMENT).first).to_be_visible()
        expect(
            page.get_by_text(
                f"{AUTHOR} on version 1 · predicted {predicted} · verdict wrong · actual Gentoo"
            )
        ).to_be_visible()
        inputs = " · ".join(f"{name} {value}" for name, value in ROW.items())
        expect(page.get_by_text(f"Inputs: {inputs}")).to_be_visible()
        table = page.get_by_test_id("stDataFrame").first
        expect(table).to_be_visible()  # its cells: the grid's accessible table (under a canvas)
        expect(table.locator("td[role=gridcell]", has_text="Gentoo").first).to_be_attached()
        expect(table.locator("td[role=gridcell]", has_text=AUTHOR).first).to_be_attached()
        expect(page).to_have_url(f"{feedback_ui.url}/feedback?author=Ann+Colleague")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(output_dir / "ui-feedback-page.png"), full_page=True)

        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download the feedback as CSV").click()
        download = download_info.value
        assert download.suggested_filename == f"{SPECIES}-feedback.csv"
        exported = Path(download.path()).read_text(encoding="utf-8")

    (row,) = list(csv.DictReader(io.StringIO(exported)))
    for name, value in ROW.items():  # the inputs as typed
        assert row[name] == str(value) or float(row[name]) == pytest.approx(value)
    assert row["species"] == "Gentoo"  # the target column holds the actual
    assert (row["verdict"], row["comment"], row["author"]) == ("wrong", COMMENT, AUTHOR)
    assert row["predicted"] == predicted
    after = feedback_counts(logging_api)[(SPECIES, "1", "wrong")]
    assert after == before + 1
