"""Versions, aliases and promotion in the UI (AppTest) against a real API with its admin API on:
the Model page lists what names each version; with the admin key the UI makes a version the
default (and rolls back), the API answering with it at once; without it, it says how."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ADELIE, Server, add_weak_species_version, start_api
from tests.ui.helpers import open_app, texts

ADMIN_KEY = "admin-key-for-the-ui-tests-0123"
SPECIES = "penguin-species"


@pytest.fixture
def admin_api(example_repository: Path, tmp_path: Path) -> Iterator[Server]:
    folder = tmp_path / "models"
    shutil.copytree(example_repository, folder)
    add_weak_species_version(folder)  # version "0", older than "1"
    server = start_api(folder, tmp_path / "logs", MODEL_API_ADMIN_KEY=ADMIN_KEY)
    yield server
    server.stop()


@pytest.fixture
def ui_admin(monkeypatch: pytest.MonkeyPatch, admin_api: Server) -> Server:
    monkeypatch.setenv("MODEL_UI_API_URL", admin_api.url)
    monkeypatch.setenv("MODEL_UI_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("MODEL_UI_METADATA_TTL_SECONDS", "0")
    return admin_api


def _species(api: Server) -> dict[str, Any]:
    listed = httpx.get(f"{api.url}/v1/models", timeout=10).json()["models"]
    found: dict[str, Any] = next(m for m in listed if m["name"] == SPECIES)
    return found


def _button(at: Any, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def test_the_model_page_promotes_a_version_and_rolls_it_back(ui_admin: Server) -> None:
    at = open_app("model")
    table = next(df.value for df in at.dataframe if "answers by default" in df.value.columns)
    assert list(table["version"]) == ["1", "0"]
    assert list(table["answers by default"]) == [True, False]
    version = at.sidebar.selectbox(key=f"version:{SPECIES}")
    assert version.value == "1" and version.format_func("1") == "1 · default"

    _button(at, "Make version 0 the default (and production)").click().run()
    assert not at.exception, at.exception
    assert "Version 0 of penguin-species answers by default now" in texts(at)
    species = _species(ui_admin)
    assert species["version"] == "0"
    assert species["aliases"] == {"production": "0", "previous": "1"}
    answer = httpx.post(
        f"{ui_admin.url}/v1/models/{SPECIES}/predict",
        json={"instances": [ADELIE]},
        timeout=10,
    )
    assert answer.json()["version"] == "0"  # at once, without a restart

    # The rollback: the previous version back as the default.
    at.run()
    assert at.sidebar.selectbox(key=f"version:{SPECIES}").format_func("0") == (
        "0 · default, production"
    )
    _button(at, "Make version 1 the default (and production)").click().run()
    assert not at.exception, at.exception
    species = _species(ui_admin)
    assert species["version"] == "1"
    assert species["aliases"] == {"production": "1", "previous": "0"}


def test_the_compare_page_offers_to_promote_the_version_compared(ui_admin: Server) -> None:
    at = open_app("compare")
    assert "Promote" in texts(at)
    _button(at, "Make version 0 the default (and production)").click().run()
    assert not at.exception, at.exception
    assert _species(ui_admin)["version"] == "0"


def test_without_the_admin_key_the_ui_says_how_to_promote(
    monkeypatch: pytest.MonkeyPatch, admin_api: Server
) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", admin_api.url)
    monkeypatch.delenv("MODEL_UI_ADMIN_KEY", raising=False)
    at = open_app("model")
    assert "give the UI the API's admin key" in texts(at)
    assert not [b for b in at.button if b.label.startswith("Make version")]
