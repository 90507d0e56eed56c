"""Shadow scoring against the real API: a second version scores what the default version answers
(v1 JSON, CSV and V2), off the request path; every disagreement is counted and stored with its
inputs, both answers and the prediction id the answer carried (on SQLite and on a real
PostgreSQL server), checked against what each version answers when asked directly. A shadow that
cannot shadow is reported by name while the model serves on; a full queue drops shadow rows,
never an answer."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from model_contract import ShadowReport

from tests.support import (
    MASS_FEATURES,
    SPECIES_FEATURES,
    Server,
    add_weak_mass_version,
    add_weak_species_version,
    start_api,
    strictly,
    without_ids,
)

SPECIES = "penguin-species"
MASS = "penguin-mass"
CSV = {"content-type": "text/csv"}


@pytest.fixture(scope="module")
def repository(example_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples, a weaker older species version "0" and mass version "0", and a species
    version "00" without the `sex` feature (it cannot shadow: other features)."""
    folder = tmp_path_factory.mktemp("shadow-models")
    shutil.copytree(example_repository, folder, dirs_exist_ok=True)
    add_weak_species_version(folder)
    add_weak_species_version(folder, "00", features=SPECIES_FEATURES[:-1])
    add_weak_mass_version(folder)
    return folder


@pytest.fixture(scope="module")
def api(
    repository: Path, tmp_path_factory: pytest.TempPathFactory, database: dict[str, str]
) -> Iterator[Server]:
    shadows = {SPECIES: "0", MASS: {"version": "0", "tolerance": 150}}
    server = start_api(
        repository,
        tmp_path_factory.mktemp("logs"),
        MODEL_API_SHADOW=json.dumps(shadows),
        **database,
    )
    yield server
    server.stop()


def _records(frame: pd.DataFrame, features: list[str]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(frame[features].to_json(orient="records"))
    return records


def _report(api: Server, model: str, **params: Any) -> dict[str, Any]:
    answer = httpx.get(f"{api.url}/v1/models/{model}/shadow", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    strictly(ShadowReport, report)
    return report


def _compared(api: Server, model: str, rows: int) -> dict[str, Any]:
    """The report once the shadow has compared ``rows`` rows (it works off the request path)."""
    deadline = time.monotonic() + 30
    while True:
        report = _report(api, model, limit=1000)
        shadow = report["shadow"]
        if shadow["compared"] + shadow["dropped"] >= rows or time.monotonic() > deadline:
            return report
        time.sleep(0.1)


def _all_disagreements(api: Server, model: str) -> list[dict[str, Any]]:
    """Every stored disagreement, newest first, read a page of 7 at a time."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        report = _report(api, model, **params)
        rows += report["disagreements"]
        cursor = report["next_cursor"]
        if cursor is None:
            return rows


def test_a_shadow_classifier_is_compared_on_every_row_and_its_disagreements_stored(
    api: Server, api_server: Server, penguins: pd.DataFrame
) -> None:
    records = _records(penguins, SPECIES_FEATURES)
    served = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/predict", json={"instances": records}, timeout=30
    ).json()
    # The answers are the default version's, as a server without a shadow gives them.
    unshadowed = httpx.post(
        f"{api_server.url}/v1/models/{SPECIES}/predict", json={"instances": records}, timeout=30
    ).json()
    assert without_ids(served) == without_ids(unshadowed)
    assert served["version"] == "1"
    # What the shadow version answers when asked itself.
    direct = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/versions/0/predict", json={"instances": records}, timeout=30
    ).json()["predictions"]
    differ = [
        i for i, (a, b) in enumerate(zip(served["predictions"], direct, strict=True))
        if a["label"] != b["label"]
    ]  # fmt: skip
    assert 0 < len(differ) < len(records)  # a weaker model: some rows, not all

    report = _compared(api, SPECIES, len(records))
    shadow = report["shadow"]
    assert shadow["active"] and shadow["problem"] is None
    assert (shadow["version"], shadow["serving_version"]) == ("0", "1")
    assert shadow["tolerance"] is None  # a classifier: the class is compared
    assert shadow["compared"] == len(records) and shadow["dropped"] == 0
    assert shadow["disagreed"] == len(differ)
    assert shadow["disagreement_rate"] == pytest.approx(len(differ) / len(records))
    assert report["stored"] is True

    stored = _all_disagreements(api, SPECIES)
    assert len(stored) == len(differ)
    by_id = {row["id"]: (i, row) for i, row in enumerate(served["predictions"])}
    for disagreement in stored:
        i, answered = by_id[disagreement["prediction_id"]]
        assert i in differ
        assert disagreement["version"] == "1" and disagreement["shadow_version"] == "0"
        assert disagreement["answer"] == {k: v for k, v in answered.items() if k != "id"}
        assert disagreement["shadow_answer"]["label"] == direct[i]["label"]
        assert disagreement["shadow_answer"]["probabilities"] == pytest.approx(
            direct[i]["probabilities"]
        )
        assert disagreement["inputs"] == pytest.approx(records[i])
    # The same rows are in the prediction log under the same ids.
    logged = httpx.get(f"{api.url}/v1/predictions/{stored[0]['prediction_id']}", timeout=30)
    assert logged.status_code == 200 and logged.json()["output"] == stored[0]["answer"]

    metrics = httpx.get(f"{api.url}/metrics", timeout=30).text
    labels = f'model="{SPECIES}",outcome="disagreed",shadow_version="0",version="1"'
    assert f"model_api_shadow_rows_total{{{labels}}} {float(len(differ))}" in metrics
    assert f'model_api_shadow_active{{model="{SPECIES}",shadow_version="0"}} 1.0' in metrics


def test_csv_and_v2_requests_are_shadowed_too(api: Server, penguins: pd.DataFrame) -> None:
    before = _report(api, SPECIES)["shadow"]["compared"]
    rows = penguins[SPECIES_FEATURES].dropna().head(60)
    answer = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/predict",
        content=rows.to_csv(index=False).encode(),
        headers=CSV,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    inputs = []
    for name in SPECIES_FEATURES:
        column = rows[name]
        numeric = name not in ("island", "sex")
        inputs.append(
            {
                "name": name,
                "shape": [len(rows)],
                "datatype": "FP32" if numeric else "BYTES",
                "data": column.astype(float).tolist() if numeric else column.astype(str).tolist(),
            }
        )
    v2 = httpx.post(f"{api.url}/v2/models/{SPECIES}/infer", json={"inputs": inputs}, timeout=30)
    assert v2.status_code == 200, v2.text
    report = _compared(api, SPECIES, before + 2 * len(rows))
    assert report["shadow"]["compared"] == before + 2 * len(rows)


def test_a_shadow_regressor_disagrees_beyond_its_tolerance(
    api: Server, penguins: pd.DataFrame
) -> None:
    records = _records(penguins, MASS_FEATURES)
    served = httpx.post(
        f"{api.url}/v1/models/{MASS}/predict", json={"instances": records}, timeout=30
    ).json()["predictions"]
    direct = httpx.post(
        f"{api.url}/v1/models/{MASS}/versions/0/predict", json={"instances": records}, timeout=30
    ).json()["predictions"]
    apart = np.abs(np.array([r["value"] for r in served]) - [r["value"] for r in direct])
    assert 0 < (apart > 150).sum() < len(records)
    report = _compared(api, MASS, len(records))
    shadow = report["shadow"]
    assert shadow["tolerance"] == 150
    assert shadow["compared"] == len(records)
    assert shadow["disagreed"] == int((apart > 150).sum())
    for disagreement in _all_disagreements(api, MASS):
        gap = abs(disagreement["answer"]["value"] - disagreement["shadow_answer"]["value"])
        assert gap > 150


def test_the_report_of_a_model_without_a_shadow_and_of_no_model(api: Server) -> None:
    missing = httpx.get(f"{api.url}/v1/models/no-such-model/shadow", timeout=30)
    assert missing.status_code == 404, missing.text
    assert missing.json()["error"]["code"] == "model_not_found"
    bad_cursor = httpx.get(f"{api.url}/v1/models/{SPECIES}/shadow?cursor=abc", timeout=30)
    assert bad_cursor.status_code == 422, bad_cursor.text
    assert "cursor" in bad_cursor.text


def test_a_shadow_that_cannot_shadow_is_named_and_the_model_serves_on(
    repository: Path, tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame
) -> None:
    shadows = {SPECIES: "00", MASS: "1", "no-such-model": "1"}
    logs = tmp_path_factory.mktemp("logs")
    server = start_api(repository, logs, MODEL_API_SHADOW=json.dumps(shadows))
    try:
        assert httpx.get(f"{server.url}/readyz", timeout=30).status_code == 200
        species = _report(server, SPECIES)["shadow"]
        assert species["active"] is False
        assert "their features differ" in species["problem"]
        mass = _report(server, MASS)["shadow"]
        assert mass["active"] is False and "cannot shadow itself" in mass["problem"]
        records = _records(penguins.head(3), SPECIES_FEATURES)
        answer = httpx.post(
            f"{server.url}/v1/models/{SPECIES}/predict", json={"instances": records}, timeout=30
        )
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3
        metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
        assert f'model_api_shadow_active{{model="{SPECIES}",shadow_version="00"}} 0.0' in metrics
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "shadow scoring off for a model" in log
    assert "model 'no-such-model' not found" in log


def test_a_full_shadow_queue_drops_shadow_rows_never_answers(
    repository: Path, tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame
) -> None:
    logs = tmp_path_factory.mktemp("logs")
    server = start_api(
        repository,
        logs,
        MODEL_API_SHADOW=json.dumps({SPECIES: "0"}),
        MODEL_API_SHADOW_QUEUE_ROWS="10",
        MODEL_API_PREDICTION_LOG="false",
    )
    try:
        records = _records(penguins.head(50), SPECIES_FEATURES)
        answer = httpx.post(
            f"{server.url}/v1/models/{SPECIES}/predict", json={"instances": records}, timeout=30
        )
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 50
        small = httpx.post(
            f"{server.url}/v1/models/{SPECIES}/predict",
            json={"instances": records[:5]},
            timeout=30,
        )
        assert small.status_code == 200
        report = _compared(server, SPECIES, 55)
        assert report["shadow"]["dropped"] == 50
        assert report["shadow"]["compared"] == 5
        # The log is off: counted, nothing stored.
        assert report["stored"] is False and report["disagreements"] == []
    finally:
        server.stop()


def test_the_shadow_setting_refuses_what_it_cannot_use() -> None:
    from model_api.settings import Settings
    from pydantic import ValidationError

    settings = Settings(shadow={"a": "1", "b": {"version": "2", "tolerance": 0.5}})
    assert settings.shadow["a"].version == "1" and settings.shadow["a"].tolerance is None
    assert settings.shadow["b"].tolerance == 0.5
    for wrong in ({"version": "1", "tolerance": -1}, {"versions": "1"}, {"version": ""}, 3):
        with pytest.raises(ValidationError):
            Settings(shadow={"a": wrong})


def test_the_default_regression_tolerance_is_a_tenth_of_the_targets_spread() -> None:
    from types import SimpleNamespace

    from model_api.protocol.shadow import default_tolerance

    deciles = [float(d) for d in range(1, 10)]  # 1..9: 8 apart, 8 / 2.5631 standard deviations
    model: Any = SimpleNamespace(metadata=SimpleNamespace(target_quantiles=deciles))
    assert default_tolerance(model) == pytest.approx(0.1 * 8 / 2.5631)
    model.metadata.target_quantiles = None
    assert default_tolerance(model) is None
