"""Retake the README's screenshot of the UI: ``uv run python docs/_scripts/screenshot.py``.

Trains the example models into a temporary folder, starts the API and the UI on free loopback
ports (as ``make run`` does), presses Predict on the Predict page in Debian's chromium and writes
a palette PNG to docs/assets/ui-predict.png (a palette keeps the file small enough for a README).
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
from tests.support import ADELIE, free_port, start_server  # noqa: E402

OUTPUT = ROOT / "docs" / "assets" / "ui-predict.png"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        subprocess.run(
            [sys.executable, "-m", "model_api.cli", "build-examples", "--repository", str(models)],
            check=True,
        )
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
        finally:
            ui.stop()
            api.stop()
        compress(Path(tmp) / "shot.png", OUTPUT)
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size // 1024} KiB)")


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
