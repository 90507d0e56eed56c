"""The Compare page (AppTest) against a real API serving two versions of the species model:
both answers and explanations for the form's inputs, and both evaluations of a labelled file
with the difference the API computed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Server, add_weak_species_version, start_api
from tests.ui.helpers import chart_data, open_app, texts


@pytest.fixture(scope="module")
def two_versions_api(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("compare-models")
    shutil.copytree(example_repository, folder, dirs_exist_ok=True)
    add_weak_species_version(folder)
    server = start_api(folder, tmp_path_factory.mktemp("compare-api"))
    yield server
    server.stop()


@pytest.fixture
def compare_env(monkeypatch: pytest.MonkeyPatch, two_versions_api: Server) -> Server:
    monkeypatch.setenv("MODEL_UI_API_URL", two_versions_api.url)
    monkeypatch.delenv("MODEL_UI_API_KEY", raising=False)
    return two_versions_api


def test_the_form_shows_both_answers_and_both_explanations(compare_env: Server) -> None:
    at = open_app("compare")
    picked = at.selectbox(key="compare_with")
    assert picked.options == ["penguin-species@0"]  # the mass model has other features
    next(b for b in at.button if b.label == "Compare the two answers").click().run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "penguin-species version 1" in shown and "penguin-species version 0" in shown
    labels = [m.value for m in at.metric if m.label.startswith("Predicted")]
    row = {
        w.key.rsplit(":", 1)[1]: w.value
        for w in [*at.number_input, *at.selectbox]
        if (w.key or "").startswith("feature:")
    }
    expected = []
    for version in ("1", "0"):
        answer = httpx.post(
            f"{compare_env.url}/v1/models/penguin-species/versions/{version}/predict",
            json={"instances": [row]},
            timeout=10,
        ).json()
        expected.append(answer["predictions"][0]["label"])
    assert labels == expected
    contributions = [c for c in chart_data(at) if c and "contribution" in c[0]]
    assert len(contributions) == 2  # one explanation each


def test_a_file_shows_both_evaluations_and_the_difference(compare_env: Server) -> None:
    from model_api.authoring.examples import load_penguins_frame

    data = load_penguins_frame().to_csv(index=False).encode()
    at = open_app("compare")
    at.radio(key="compare_mode").set_value("On a labelled file").run()
    at.file_uploader[0].set_value(("penguins.csv", data, "text/csv")).run()
    assert at.selectbox(key="compare_target").value == "species"
    next(b for b in at.button if b.label == "Compare on 342 rows").click().run()
    assert not at.exception, at.exception
    result = httpx.post(
        f"{compare_env.url}/v1/models/penguin-species/versions/1/compare",
        params={"other_version": "0"},
        content=data,
        headers={"Content-Type": "text/csv"},
        timeout=120,
    ).json()
    shown = texts(at)
    assert "is better" in shown and "penguin-species@1 is better" in shown
    assert "lower with penguin-species version 0 than with penguin-species version 1" in shown
    disagree = next(m for m in at.metric if m.label == "Rows where they disagree")
    assert disagree.value == f"{result['disagreements']['rows']:,}"
    listed = next(df.value for df in at.dataframe if "actual" in df.value.columns)
    assert list(listed["row"]) == [d["row"] for d in result["disagreements"]["listed"]]
    confusions = [c for c in chart_data(at) if c and "predicted" in c[0] and "actual" in c[0]]
    assert len(confusions) == 2
