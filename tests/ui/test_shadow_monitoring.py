"""Monitoring page (AppTest) on a real API whose species model is shadowed by a weaker version:
the rate and the newest disagreeing rows with both answers; a model without a shadow says how to
get one, and a shadow that cannot shadow says why."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import SPECIES_FEATURES, Server, add_weak_species_version, start_api
from tests.ui.helpers import open_app, texts

SPECIES = "penguin-species"
MASS = "penguin-mass"


@pytest.fixture(scope="module")
def shadowed_api(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("shadowed-models")
    shutil.copytree(example_repository, folder, dirs_exist_ok=True)
    add_weak_species_version(folder)
    shadows = {SPECIES: "0", MASS: "7"}  # the mass model has no version 7
    server = start_api(
        folder, tmp_path_factory.mktemp("logs"), MODEL_API_SHADOW=json.dumps(shadows)
    )
    yield server
    server.stop()


def test_the_monitoring_page_shows_the_shadow_and_its_disagreements(
    monkeypatch: pytest.MonkeyPatch, shadowed_api: Server
) -> None:
    from model_api.authoring.examples import load_penguins_frame

    rows = json.loads(load_penguins_frame()[SPECIES_FEATURES].to_json(orient="records"))
    answer = httpx.post(
        f"{shadowed_api.url}/v1/models/{SPECIES}/predict", json={"instances": rows}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 30
    while True:
        shadow = httpx.get(f"{shadowed_api.url}/v1/models/{SPECIES}/shadow", timeout=30).json()
        if shadow["shadow"]["compared"] >= len(rows) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    disagreed = shadow["shadow"]["disagreed"]
    assert disagreed > 0
    monkeypatch.setenv("MODEL_UI_API_URL", shadowed_api.url)
    monkeypatch.delenv("MODEL_UI_PROMETHEUS_URL", raising=False)

    at = open_app("monitoring", model=SPECIES)
    shown = texts(at)
    assert "Shadow scoring of penguin-species" in shown
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Shadow version"] == "0 beside 1"
    assert metrics["Rows compared"] == f"{len(rows):,}"
    assert metrics["Disagreed"] == f"{disagreed:,}"
    assert metrics["Disagreement rate"] == f"{disagreed / len(rows):.0%}"
    table = next(frame.value for frame in at.dataframe if "shadow (v0)" in frame.value.columns)
    first = shadow["disagreements"][0]
    assert table.iloc[0]["prediction id"] == first["prediction_id"]
    assert table.iloc[0]["answer (v1)"] == first["answer"]["label"]
    assert table.iloc[0]["shadow (v0)"] == first["shadow_answer"]["label"]
    assert table.iloc[0]["input: island"] == first["inputs"]["island"]

    at.sidebar.selectbox(key="model").set_value(MASS).run()
    assert not at.exception
    assert "Version 7 does not shadow this model" in texts(at)
    assert "has no version '7'" in texts(at)
