"""Issue 16's "done means", in a real browser: while clients keep asking, a version is uploaded,
promoted and rolled back from the UI's Model page, and removed; the UI's version picker follows
each change without a restart, and no client request fails."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_admin import ADMIN, TAR_GZ, _archive
from tests.api.test_live_repository import SPECIES, Hammer
from tests.browser import chromium, new_page
from tests.support import Server, add_weak_species_version, start_api, start_ui

ADMIN_KEY = ADMIN["X-Admin-Key"]


@pytest.fixture
def lifecycle_ui(
    example_repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Server, Server]]:
    repository = tmp_path / "models"
    shutil.copytree(example_repository, repository)
    api = start_api(
        repository,
        tmp_path / "logs",
        MODEL_API_ADMIN_KEY=ADMIN_KEY,
        MODEL_API_REPOSITORY_POLL_SECONDS="0.3",
    )
    monkeypatch.setenv("MODEL_UI_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("MODEL_UI_METADATA_TTL_SECONDS", "1")
    try:
        ui = start_ui(api.url, tmp_path / "streamlit.log")
        try:
            yield api, ui
        finally:
            ui.stop()
    finally:
        api.stop()


def _answering(api: Server) -> str:
    listed = httpx.get(f"{api.url}/v1/models", timeout=10).json()["models"]
    version: str = next(m["version"] for m in listed if m["name"] == SPECIES)
    return version


def _picker_options(page: Any) -> list[str]:
    """The sidebar's version picker's options, as shown (``2 · default, production``)."""
    picker = page.get_by_test_id("stSidebar").get_by_role("combobox").nth(1)
    picker.click()
    options = [o.strip() for o in page.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    return options


def _model_page(page: Any, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/model")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("combobox").first.click()
    page.get_by_role("option", name="penguin-species (multiclass)").click()
    # The species model's page, not the first model's still on the screen.
    expect(page.get_by_role("heading", name="Model · penguin-species")).to_be_visible()
    expect(page.get_by_role("heading", name="Versions and aliases")).to_be_visible()


def test_a_version_uploaded_promoted_rolled_back_and_removed_with_the_ui_following(
    lifecycle_ui: tuple[Server, Server], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    api, ui = lifecycle_ui
    add_weak_species_version(tmp_path / "weak", "2")
    with Hammer(api) as hammer, chromium() as browser:
        page = new_page(browser)
        _model_page(page, ui.url)
        assert _picker_options(page) == ["1 · default"]

        uploaded = httpx.post(
            f"{api.url}/v1/admin/models/{SPECIES}/versions/2",
            content=_archive(tmp_path / "weak" / SPECIES / "2"),
            headers=TAR_GZ,
            timeout=60,
        )
        assert uploaded.status_code == 201, uploaded.text
        page.wait_for_timeout(1500)  # the UI's model list is cached for a second
        _model_page(page, ui.url)
        assert _picker_options(page) == ["2 · default", "1"]

        # Promote version 1 back to the default (version 2 stays, by name): from the UI.
        page.get_by_role("button", name="Make version 1 the default (and production)").click()
        expect(page.get_by_text("answers by default now").first).to_be_visible()
        assert _answering(api) == "1"
        _model_page(page, ui.url)
        assert _picker_options(page) == ["2 · previous", "1 · default, production"]

        # Roll back to version 2, then forward again.
        page.get_by_role("button", name="Make version 2 the default (and production)").click()
        expect(page.get_by_text("answers by default now").first).to_be_visible()
        assert _answering(api) == "2"
        _model_page(page, ui.url)
        page.get_by_role("button", name="Make version 1 the default (and production)").click()
        expect(page.get_by_text("answers by default now").first).to_be_visible()
        assert _answering(api) == "1"

        # Removed: its aliases first (the API refuses otherwise), then the version.
        cleared = httpx.put(
            f"{api.url}/v1/admin/models/{SPECIES}/aliases",
            json={"default": "1", "aliases": {"production": "1"}},
            headers=ADMIN,
            timeout=30,
        )
        assert cleared.status_code == 200, cleared.text
        removed = httpx.delete(
            f"{api.url}/v1/admin/models/{SPECIES}/versions/2", headers=ADMIN, timeout=30
        )
        assert removed.status_code == 204, removed.text
        page.wait_for_timeout(1500)
        _model_page(page, ui.url)
        assert _picker_options(page) == ["1 · default, production"]
    assert hammer.failures == [], hammer.failures[:3]
    assert len(hammer.statuses) > 100
