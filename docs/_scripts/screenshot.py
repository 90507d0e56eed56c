"""Retake the docs' screenshots of the UI: ``uv run python docs/_scripts/screenshot.py``.

Trains the example models into a temporary folder, starts the API and the UI on free loopback
ports (as ``make run`` does), and in Debian's chromium presses Predict on the Predict page
(docs/assets/ui-predict.png), evaluates the penguins file on the Evaluate page
(docs/assets/ui-evaluate.png) and compares the species model with a weaker version of it on the
same file on the Compare page (docs/assets/ui-compare.png); palette PNGs keep the files small
enough for a README.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.browser import chromium, new_page  # noqa: E402
from tests.support import ADELIE, add_weak_species_version, free_port, start_server  # noqa: E402

OUTPUT = ROOT / "docs" / "assets" / "ui-predict.png"
EVALUATE_OUTPUT = ROOT / "docs" / "assets" / "ui-evaluate.png"
COMPARE_OUTPUT = ROOT / "docs" / "assets" / "ui-compare.png"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        subprocess.run(
            [sys.executable, "-m", "model_api.cli", "build-examples", "--repository", str(models)],
            check=True,
        )
        add_weak_species_version(models)  # something for the Compare page to set beside it
        api_port, ui_port = free_port(), free_port()
        api = start_server(
            [sys.executable, "-m", "model_api.cli", "serve", "--repository", str(models),
             "--port", str(api_port)],
            api_port, "/readyz", Path(tmp) / "api.log",
        )  # fmt: skip
        ui = start_server(
            [sys.executable, "-m", "model_ui.cli", "--api-url", api.url, "--port", str(ui_port),
             "--address", "127.0.0.1"],
            ui_port, "/_stcore/health", Path(tmp) / "ui.log", cwd=ROOT,
        )  # fmt: skip
        try:
            shoot(ui.url, Path(tmp) / "shot.png")
            shoot_evaluate(ui.url, Path(tmp) / "penguins.csv", Path(tmp) / "evaluate.png")
            shoot_compare(ui.url, Path(tmp) / "penguins.csv", Path(tmp) / "compare.png")
        finally:
            ui.stop()
            api.stop()
        compress(Path(tmp) / "shot.png", OUTPUT)
        compress(Path(tmp) / "evaluate.png", EVALUATE_OUTPUT)
        compress(Path(tmp) / "compare.png", COMPARE_OUTPUT)
    for written in (OUTPUT, EVALUATE_OUTPUT, COMPARE_OUTPUT):
        print(f"wrote {written} ({written.stat().st_size // 1024} KiB)")


def shoot(ui_url: str, path: Path) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        page = new_page(browser, width=1280, height=1400)
        page.goto(ui_url)
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_role("combobox").first.click()
        page.get_by_role("option", name="penguin-species (multiclass)").click()
        expect(page.get_by_role("heading", name="Predict · penguin-species")).to_be_visible()
        fill_form(page, ADELIE)
        page.get_by_role("button", name="Predict").click()
        expect(
            page.get_by_role("heading", name="Why: contribution of each feature")
        ).to_be_visible()
        page.wait_for_timeout(1500)  # the charts draw after their data arrives
        page.screenshot(path=str(path), full_page=True)


def shoot_evaluate(ui_url: str, labelled: Path, path: Path) -> None:
    """The Evaluate page after evaluating the species model on the penguins file."""
    from model_api.authoring.examples import load_penguins_frame
    from playwright.sync_api import expect

    load_penguins_frame().to_csv(labelled, index=False)
    with chromium() as browser:
        page = new_page(browser, width=1280, height=1400)
        page.goto(f"{ui_url}/evaluate")
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_role("combobox").first.click()
        page.get_by_role("option", name="penguin-species (multiclass)").click()
        page.locator("input[type=file]").set_input_files(str(labelled))
        page.get_by_role("button", name="Evaluate on 342 rows").click()
        expect(page.get_by_role("heading", name="Confusion matrix")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(path), full_page=False)


def shoot_compare(ui_url: str, labelled: Path, path: Path) -> None:
    """The Compare page after judging version 1 of the species model beside the weak version 0
    on the penguins file (written by ``shoot_evaluate``)."""
    from playwright.sync_api import expect

    with chromium() as browser:
        page = new_page(browser, width=1280, height=1500)
        page.goto(f"{ui_url}/compare")
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_role("combobox").first.click()
        page.get_by_role("option", name="penguin-species (multiclass)").click()
        expect(page.get_by_role("heading", name="Compare · penguin-species")).to_be_visible()
        page.get_by_text("On a labelled file").click()
        page.locator("input[type=file]").set_input_files(str(labelled))
        page.get_by_role("button", name="Compare on 342 rows").click()
        expect(page.get_by_role("heading", name="penguin-species version 0")).to_be_visible(
            timeout=60_000
        )
        page.wait_for_timeout(1500)
        page.screenshot(path=str(path), full_page=False)


def fill_form(page: Any, row: dict[str, Any]) -> None:
    """A real penguin rather than the form's medians, which sit between the species."""
    for name, value in row.items():
        if isinstance(value, str):
            page.get_by_role("combobox", name=name).click()
            page.get_by_role("option", name=value, exact=True).click()
        else:
            field = page.get_by_role("spinbutton", name=re.compile(rf"^{name} \("))
            field.fill(str(value))
            field.press("Tab")


def compress(source: Path, target: Path) -> None:
    image = Image.open(source).convert("RGB")
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


if __name__ == "__main__":
    main()
