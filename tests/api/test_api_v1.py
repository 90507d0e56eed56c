"""The v1 JSON/CSV API against a real server process: every endpoint and every input error."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from model_api.authoring.examples import load_penguins_frame

from tests.support import (
    ADELIE,
    MASS_FEATURES,
    PREDICTION_ID,
    SPECIES_FEATURES,
    Server,
    csv_without_ids,
)


@pytest.fixture(scope="module")
def client(api_server: Server) -> httpx.Client:
    with httpx.Client(base_url=api_server.url, timeout=30) as http:
        yield http  # type: ignore[misc]


def xgboost_reference(
    repository: Path, name: str, frame: pd.DataFrame, features: list[str]
) -> np.ndarray:
    """What XGBoost itself predicts for these rows, from the bundle's model file and a DataFrame."""
    booster = xgb.Booster(model_file=str(repository / name / "1" / "model.ubj"))
    return booster.predict(xgb.DMatrix(frame[features], enable_categorical=True))


def records(frame: pd.DataFrame, features: list[str]) -> list[dict[str, object]]:
    rows = frame[features].astype(object).where(frame[features].notna(), None)
    return rows.to_dict(orient="records")  # type: ignore[return-value]


def test_list_models(client: httpx.Client) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    models = {m["name"]: m for m in response.json()["models"]}
    assert set(models) == {"penguin-species", "penguin-mass"}
    assert models["penguin-species"]["task"] == "multiclass"
    assert models["penguin-mass"]["versions"] == ["1"]


def test_model_metadata(client: httpx.Client) -> None:
    response = client.get("/v1/models/penguin-species")
    assert response.status_code == 200
    body = response.json()
    assert [f["name"] for f in body["features"]] == SPECIES_FEATURES
    island = body["features"][4]
    assert island == {
        **island,
        "type": "categorical",
        "categories": ["Biscoe", "Dream", "Torgersen"],
    }
    assert body["class_labels"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert body["metrics"]["accuracy"] > 0.9
    assert len(body["model_sha256"]) == 64
    assert body["endpoints"]["predict"] == "/v1/models/penguin-species/versions/1/predict"
    assert client.get("/v1/models/penguin-species/versions/1").json() == body


def test_predictions_equal_xgboost_for_every_penguin(
    client: httpx.Client, example_repository: Path
) -> None:
    frame = load_penguins_frame()
    response = client.post(
        "/v1/models/penguin-species/predict", json={"instances": records(frame, SPECIES_FEATURES)}
    )
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    expected = xgboost_reference(example_repository, "penguin-species", frame, SPECIES_FEATURES)
    got = np.array(
        [[p["probabilities"][c] for c in ("Adelie", "Chinstrap", "Gentoo")] for p in predictions]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    labels = [p["label"] for p in predictions]
    assert labels == [["Adelie", "Chinstrap", "Gentoo"][i] for i in expected.argmax(axis=1)]
    assert np.mean(np.array(labels) == frame["species"].astype(str).to_numpy()) > 0.95


def test_regression_equals_xgboost(client: httpx.Client, example_repository: Path) -> None:
    frame = load_penguins_frame()
    response = client.post(
        "/v1/models/penguin-mass/versions/1/predict",
        json={"instances": records(frame, MASS_FEATURES)},
    )
    assert response.status_code == 200
    got = np.array([p["value"] for p in response.json()["predictions"]])
    np.testing.assert_allclose(
        got, xgboost_reference(example_repository, "penguin-mass", frame, MASS_FEATURES), rtol=1e-5
    )


def test_explain_contributions_add_up_to_the_margin(
    client: httpx.Client, example_repository: Path
) -> None:
    frame = load_penguins_frame().head(20)
    response = client.post(
        "/v1/models/penguin-species/explain", json={"instances": records(frame, SPECIES_FEATURES)}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["output_space"] == "margin"
    booster = xgb.Booster(
        model_file=str(example_repository / "penguin-species" / "1" / "model.ubj")
    )
    margins = booster.predict(
        xgb.DMatrix(frame[SPECIES_FEATURES], enable_categorical=True), output_margin=True
    )
    for i, row in enumerate(body["explanations"]):
        assert set(row["contributions"]) == set(SPECIES_FEATURES)
        assert row["explained_class"] == row["label"]
        k = ["Adelie", "Chinstrap", "Gentoo"].index(row["explained_class"])
        assert row["base_value"] + sum(row["contributions"].values()) == pytest.approx(
            margins[i, k], abs=1e-3
        )


def test_explain_regression(client: httpx.Client) -> None:
    row = {**{k: v for k, v in ADELIE.items() if k != "body_mass_g"}, "species": "Adelie"}
    response = client.post("/v1/models/penguin-mass/explain", json={"instances": [row]})
    assert response.status_code == 200
    explanation = response.json()["explanations"][0]
    assert explanation["base_value"] + sum(explanation["contributions"].values()) == pytest.approx(
        explanation["value"], rel=1e-4
    )


def test_csv_in_csv_out(client: httpx.Client, example_repository: Path) -> None:
    frame = load_penguins_frame()
    text = frame[[*SPECIES_FEATURES, "year"]].to_csv(index=False)
    text += "abc,18,190,4000,Dream,male,2009\n"  # a bad row is reported, not fatal
    response = client.post(
        "/v1/models/penguin-species/predict", content=text, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-ignored-columns"] == "year"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(frame) + 1
    assert list(rows[0]) == [
        "row",
        "prediction_id",  # the prediction log is on: each scored row's id
        "label",
        "proba_Adelie",
        "proba_Chinstrap",
        "proba_Gentoo",
        "error",
    ]
    expected = xgboost_reference(example_repository, "penguin-species", frame, SPECIES_FEATURES)
    got = np.array(
        [[float(r[f"proba_{c}"]) for c in ("Adelie", "Chinstrap", "Gentoo")] for r in rows[:-1]]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    assert rows[-1]["label"] == "" and rows[-1]["prediction_id"] == ""
    assert all(PREDICTION_ID.match(r["prediction_id"]) for r in rows[:-1])
    assert "bill_length_mm: 'abc' is not a number" in rows[-1]["error"]


def test_csv_with_semicolons(client: httpx.Client) -> None:
    text = ";".join(SPECIES_FEATURES) + "\n" + ";".join(str(v) for v in ADELIE.values()) + "\n"
    wrong = client.post(
        "/v1/models/penguin-species/predict", content=text, headers={"content-type": "text/csv"}
    )
    assert wrong.status_code == 422
    assert "another delimiter" in wrong.json()["error"]["message"]
    right = client.post(
        "/v1/models/penguin-species/predict?delimiter=;",
        content=text,
        headers={"content-type": "text/csv"},
    )
    assert right.status_code == 200
    assert csv_without_ids(right.text).splitlines()[1].startswith("1,Adelie,")


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (
            {"instances": [{k: v for k, v in ADELIE.items() if k != "sex"}]},
            422,
            "instances.0.sex: missing feature",
        ),
        ({"instances": [{**ADELIE, "beak": 1}]}, 422, "instances.0.beak: unknown feature"),
        ({"instances": [{**ADELIE, "body_mass_g": "heavy"}]}, 422, "expected a number"),
        (
            {"instances": [{**ADELIE, "island": "Atlantis"}]},
            422,
            "unknown category 'Atlantis'; expected one of Biscoe, Dream, Torgersen",
        ),
        ({"instances": []}, 422, "non-empty array"),
        ({"rows": []}, 422, "'instances'"),
        ({"instances": [ADELIE], "extra": 1}, 422, "unknown top-level field(s): extra"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: httpx.Client, body: object, status: int, needle: str
) -> None:
    response = client.post("/v1/models/penguin-species/predict", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert needle in error["message"]
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_every_wrong_field_is_listed(client: httpx.Client) -> None:
    body = {
        "instances": [
            {**ADELIE, "island": "Atlantis", "sex": 3},
            {**ADELIE, "bill_depth_mm": "deep"},
        ]
    }
    response = client.post("/v1/models/penguin-species/predict", json=body)
    assert response.status_code == 422
    locs = [d["loc"] for d in response.json()["error"]["details"]]
    assert sorted(locs) == [
        ["instances", 0, "island"],
        ["instances", 0, "sex"],
        ["instances", 1, "bill_depth_mm"],
    ]


def test_malformed_json_and_wrong_content_type(client: httpx.Client) -> None:
    broken = client.post(
        "/v1/models/penguin-species/predict",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["error"]["message"]
    form = client.post(
        "/v1/models/penguin-species/predict",
        content=b"a=1",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415
    assert "application/json" in form.json()["error"]["message"]


def test_unknown_model_and_version_are_404(client: httpx.Client) -> None:
    response = client.post("/v1/models/unicorn/predict", json={"instances": [ADELIE]})
    assert response.status_code == 404
    assert (
        response.json()["error"]["message"]
        == "model 'unicorn' not found; available models: penguin-mass, penguin-species"
    )
    response = client.get("/v1/models/penguin-species/versions/9")
    assert response.status_code == 404
    assert "no version '9'; available versions: 1" in response.json()["error"]["message"]
    assert client.get("/v1/nothing-here").status_code == 404


def test_body_over_the_limit_is_413(example_repository: Path, tmp_path: Path) -> None:
    from tests.support import running_api

    with running_api(
        example_repository,
        tmp_path,
        MODEL_API_MAX_REQUEST_BYTES="2048",
        MODEL_API_MAX_ROWS_PER_REQUEST="5",
    ) as server:
        big = {"instances": [ADELIE] * 40}
        response = httpx.post(f"{server.url}/v1/models/penguin-species/predict", json=big)
        assert response.status_code == 413
        assert "exceeds the limit of 2048" in response.json()["error"]["message"]

        def chunks():  # no Content-Length: the limit still holds while streaming
            yield b'{"instances": ['
            for _ in range(40):
                yield httpx.Request("POST", "/", json=ADELIE).content + b","
            yield b"{}]}"

        streamed = httpx.post(
            f"{server.url}/v1/models/penguin-species/predict",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert streamed.status_code == 413
        # refused while streaming (the row limit below would also give a 413)
        assert "request body exceeds the limit of 2048" in streamed.json()["error"]["message"]
        csv_text = ",".join(ADELIE) + "\n" + (",".join(map(str, ADELIE.values())) + "\n") * 100
        assert len(csv_text) > 2048
        for csv_type in ("text/csv", "application/csv"):  # CSV has its own, larger limit
            scored = httpx.post(
                f"{server.url}/v1/models/penguin-species/predict",
                content=csv_text,
                headers={"content-type": csv_type},
            )
            assert scored.status_code == 200, scored.text
            assert len(scored.text.splitlines()) == 101
        too_many = httpx.post(
            f"{server.url}/v1/models/penguin-species/predict", json={"instances": [ADELIE] * 6}
        )
        assert too_many.status_code == 413
        assert "6 rows exceed the limit of 5" in too_many.json()["error"]["message"]
        ok = httpx.post(
            f"{server.url}/v1/models/penguin-species/predict", json={"instances": [ADELIE]}
        )
        assert ok.status_code == 200


def test_openapi_has_a_typed_schema_per_model(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    instance = schemas["penguin-species.1.Instance"]
    assert instance["required"] == SPECIES_FEATURES
    assert instance["additionalProperties"] is False
    island = instance["properties"]["island"]
    assert island["enum"] == ["Biscoe", "Dream", "Torgersen", None]
    bill = instance["properties"]["bill_length_mm"]
    assert bill["x-training-min"] == pytest.approx(32.1)
    assert "training range 32.1 to 59.6" in bill["description"]
    operation = document["paths"]["/v1/models/penguin-species/predict"]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/penguin-species.1.PredictRequest"}
    assert body["example"]["instances"][0]["island"] == "Biscoe"
    assert "/v1/models/penguin-mass/explain" in document["paths"]
    assert "/v1/models/penguin-mass/versions/1/explain" in document["paths"]
    assert client.get("/docs").status_code == 200
