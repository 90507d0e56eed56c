"""The Open Inference Protocol (V2) against a real server, including an unmodified V2 client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton
import xgboost as xgb
from model_api.authoring.examples import load_penguins_frame
from model_api.codecs.v2_json import SIMDJSON_MIN_BYTES

from tests.support import Server, running_api

FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "island", "sex"]
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]


@pytest.fixture(scope="module")
def client(api_server: Server) -> httpx.Client:
    with httpx.Client(base_url=api_server.url, timeout=30) as http:
        yield http  # type: ignore[misc]


@pytest.fixture(scope="module")
def penguins() -> tuple[np.ndarray, np.ndarray, list[list[object]]]:
    """(tensor with category codes, XGBoost's own probabilities, raw rows)."""
    frame = load_penguins_frame().dropna(subset=["sex", "bill_length_mm"]).head(50)
    tensor = np.column_stack(
        [
            frame[f].cat.codes.to_numpy() if f in ("island", "sex") else frame[f].to_numpy()
            for f in FEATURES
        ]
    ).astype(np.float32)
    return tensor, frame, frame[FEATURES].astype(object).values.tolist()  # type: ignore[return-value]


def reference(repository: Path, frame: object) -> np.ndarray:
    booster = xgb.Booster(model_file=str(repository / "penguin-species" / "1" / "model.ubj"))
    return booster.predict(xgb.DMatrix(frame[FEATURES], enable_categorical=True))  # type: ignore[index]


def test_server_and_health(client: httpx.Client) -> None:
    assert client.get("/v2").json()["extensions"] == ["binary_tensor_data"]
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/penguin-species/ready").json() == {
        "name": "penguin-species",
        "ready": True,
    }
    assert client.get("/v2/models/penguin-species/versions/1/ready").status_code == 200


def test_model_metadata(client: httpx.Client) -> None:
    body = client.get("/v2/models/penguin-species").json()
    assert [i["name"] for i in body["inputs"]] == FEATURES
    assert body["inputs"][4] == {"name": "island", "datatype": "BYTES", "shape": [-1]}
    assert body["outputs"][1] == {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]}
    assert body["parameters"]["tensor_input"]["categories"]["sex"] == ["female", "male"]
    assert client.get("/v2/models/penguin-species/versions/1").json() == body


@pytest.mark.parametrize("rows", [3, 50])  # orjson reads the small body, simdjson the large one
def test_tensor_input(client: httpx.Client, penguins, example_repository: Path, rows: int) -> None:  # type: ignore[no-untyped-def]
    tensor, frame = penguins[0][:rows], penguins[1].head(rows)
    request = {
        "id": "r1",
        "inputs": [
            {
                "name": "input-0",
                "shape": list(tensor.shape),
                "datatype": "FP32",
                "data": tensor.tolist(),
            }
        ],
    }
    content = orjson.dumps(request)
    assert (len(content) >= SIMDJSON_MIN_BYTES) == (rows == 50)
    response = client.post(
        "/v2/models/penguin-species/infer",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    body = response.json()
    assert (
        body["id"] == "r1"
        and body["model_name"] == "penguin-species"
        and body["model_version"] == "1"
    )
    outputs = {o["name"]: o for o in body["outputs"]}
    proba = np.array(outputs["predict_proba"]["data"]).reshape(outputs["predict_proba"]["shape"])
    np.testing.assert_allclose(proba, reference(example_repository, frame), rtol=1e-5, atol=1e-7)
    assert outputs["predict"]["data"] == [CLASSES[i] for i in proba.argmax(axis=1)]


def test_one_input_per_feature(client: httpx.Client, penguins, example_repository: Path) -> None:  # type: ignore[no-untyped-def]
    _, frame, rows = penguins
    inputs = []
    for j, name in enumerate(FEATURES):
        column = [row[j] for row in rows]
        datatype = "BYTES" if name in ("island", "sex") else "FP64"
        inputs.append({"name": name, "shape": [len(rows), 1], "datatype": datatype, "data": column})
    request = {"inputs": inputs, "outputs": [{"name": "predict_proba"}]}
    response = client.post("/v2/models/penguin-species/versions/1/infer", json=request)
    assert response.status_code == 200
    outputs = response.json()["outputs"]
    assert [o["name"] for o in outputs] == ["predict_proba"]
    proba = np.array(outputs[0]["data"]).reshape(-1, 3)
    np.testing.assert_allclose(proba, reference(example_repository, frame), rtol=1e-5, atol=1e-7)


def test_bytes_tensor_with_category_names(client: httpx.Client) -> None:
    row = [39.1, 18.7, 181, 3750, "Torgersen", "male"]
    request = {"inputs": [{"name": "rows", "shape": [1, 6], "datatype": "BYTES", "data": [row]}]}
    response = client.post("/v2/models/penguin-species/infer", json=request)
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == ["Adelie"]


def test_regression_output(client: httpx.Client) -> None:
    request = {
        "inputs": [
            {"name": "x", "shape": [1, 6], "datatype": "FP32", "data": [39.1, 18.7, 181, 0, 2, 1]}
        ]
    }
    body = client.post("/v2/models/penguin-mass/infer", json=request).json()
    assert [o["name"] for o in body["outputs"]] == ["predict"]
    assert body["outputs"][0]["datatype"] == "FP64"
    assert 2500 < body["outputs"][0]["data"][0] < 6500


@pytest.mark.parametrize(
    ("request_body", "status", "needle"),
    [
        (
            {
                "inputs": [
                    {"name": "x", "shape": [1, 5], "datatype": "FP32", "data": [1, 2, 3, 4, 5]}
                ]
            },
            400,
            "expected [N, 6]",
        ),
        (
            {"inputs": [{"name": "x", "shape": [2, 6], "datatype": "FP32", "data": [1, 2, 3]}]},
            400,
            "needs 12 values, got 3",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 6], "datatype": "FP128", "data": [1] * 6}]},
            400,
            "unknown datatype 'FP128'",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 6], "datatype": "FP32", "data": ["a"] * 6}]},
            400,
            "FP32 data must be numbers or null",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [1, 6], "datatype": "FP32", "data": [1, 1, 1, 1, 7, 0]}
                ]
            },
            400,
            "not a category code of 'island'",
        ),
        (
            {"inputs": [{"name": "island", "shape": [1], "datatype": "BYTES", "data": ["Biscoe"]}]},
            400,
            "missing inputs",
        ),
        ({"inputs": []}, 400, "'inputs' must be a non-empty list"),
        (
            {
                "inputs": [{"name": "x", "shape": [1, 6], "datatype": "FP32", "data": [1] * 6}],
                "outputs": [{"name": "nope"}],
            },
            400,
            "unknown output 'nope'",
        ),
    ],
)
def test_errors_use_the_protocol_shape(
    client: httpx.Client, request_body: object, status: int, needle: str
) -> None:
    response = client.post("/v2/models/penguin-species/infer", json=request_body)
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["error"]
    assert needle in body["error"]


def test_unknown_model_is_404_in_protocol_shape(client: httpx.Client) -> None:
    response = client.post("/v2/models/nope/infer", json={"inputs": []})
    assert response.status_code == 404
    assert "not found" in response.json()["error"]
    assert client.get("/v2/models/nope/ready").status_code == 404
    malformed = client.post(
        "/v2/models/penguin-species/infer",
        content=b"[",
        headers={"content-type": "application/json"},
    )
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["error"]


@pytest.mark.parametrize("binary", [False, True])
def test_a_standard_v2_client_works_unchanged(
    api_server: Server, penguins, example_repository: Path, binary: bool
) -> None:  # type: ignore[no-untyped-def]
    tensor, frame, rows = penguins
    client = triton.InferenceServerClient(urlparse(api_server.url).netloc)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("penguin-species")
    metadata = client.get_model_metadata("penguin-species")
    assert metadata["platform"] == "xgboost"

    tensor_input = triton.InferInput("input-0", list(tensor.shape), "FP32")
    tensor_input.set_data_from_numpy(tensor, binary_data=binary)
    outputs = [
        triton.InferRequestedOutput(name, binary_data=binary)
        for name in ("predict", "predict_proba")
    ]
    result = client.infer("penguin-species", [tensor_input], outputs=outputs)
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), reference(example_repository, frame), rtol=1e-5, atol=1e-7
    )
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict")]
    assert labels == [CLASSES[i] for i in reference(example_repository, frame).argmax(axis=1)]

    island = triton.InferInput("island", [len(rows)], "BYTES")
    island.set_data_from_numpy(np.array([r[4] for r in rows], dtype=object), binary_data=binary)
    columns = [island]
    for j, name in enumerate(FEATURES):
        if name == "island":
            continue
        values = np.array([r[j] for r in rows], dtype=object if name == "sex" else np.float32)
        column = triton.InferInput(name, [len(rows)], "BYTES" if name == "sex" else "FP32")
        column.set_data_from_numpy(values, binary_data=binary)
        columns.append(column)
    by_column = client.infer("penguin-species", columns, outputs=outputs)
    np.testing.assert_allclose(
        by_column.as_numpy("predict_proba"), result.as_numpy("predict_proba"), rtol=1e-6
    )
    client.close()


@pytest.fixture(scope="module")
def mixed_server(
    tmp_path_factory: pytest.TempPathFactory,
    binary_classifier: xgb.XGBClassifier,
    mixed_frame: pd.DataFrame,
) -> Iterator[tuple[Server, xgb.Booster]]:
    """A real API serving a model with every feature type: numeric, integer, boolean, categorical."""
    from model_api.authoring import save_bundle
    from model_api.serving.bundle import load_bundle

    repository = tmp_path_factory.mktemp("mixed")
    folder = repository / "toy" / "1"
    save_bundle(binary_classifier, mixed_frame, folder, name="toy", class_labels=["no", "yes"])
    with running_api(repository, tmp_path_factory.mktemp("logs")) as server:
        yield server, load_bundle(folder)[1]


def xgboost_says(booster: xgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    positive = booster.predict(xgb.DMatrix(frame, enable_categorical=True))
    return np.column_stack([1 - positive, positive])


@pytest.mark.parametrize("binary", [False, True])
def test_tritonclient_sends_mixed_rows_as_one_bytes_tensor(
    mixed_server: tuple[Server, xgb.Booster], mixed_frame: pd.DataFrame, binary: bool
) -> None:
    """An object array (floats with NaN, ints, bools, names) is the only way tritonclient can
    send a mixed row: it goes as BYTES, every cell as its str()."""
    server, booster = mixed_server
    frame = mixed_frame.head(40)
    assert frame["size"].isna().any()
    rows = frame.astype(object).to_numpy()
    client = triton.InferenceServerClient(urlparse(server.url).netloc)
    tensor = triton.InferInput("rows", list(rows.shape), "BYTES")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    wanted = [triton.InferRequestedOutput("predict_proba", binary_data=binary)]
    result = client.infer("toy", [tensor], outputs=wanted)
    client.close()
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), xgboost_says(booster, frame), rtol=1e-5, atol=1e-7
    )


def test_bytes_cells_take_decimal_text_and_missing_values(
    mixed_server: tuple[Server, xgb.Booster], mixed_frame: pd.DataFrame
) -> None:
    server, booster = mixed_server
    cells = [
        ["5.1", "3", "true", "red"],
        ["-3e2", "0", "0", "blue"],
        ["", "12", "False", "green"],
        ["NaN", "None", "1", ""],
        [" 9.75 ", "7.0", "yes", "red"],
    ]
    same = pd.DataFrame(
        {
            "size": [5.1, -300.0, np.nan, np.nan, 9.75],
            "count": [3, 0, 12, np.nan, 7],
            "flag": [1.0, 0.0, 0.0, 1.0, 1.0],
            "colour": pd.Categorical(
                ["red", "blue", "green", None, "red"], categories=["blue", "green", "red"]
            ),
        }
    )
    request = {"inputs": [{"name": "rows", "shape": [5, 4], "datatype": "BYTES", "data": cells}]}
    response = httpx.post(f"{server.url}/v2/models/toy/infer", json=request, timeout=30)
    assert response.status_code == 200, response.text
    proba = next(o for o in response.json()["outputs"] if o["name"] == "predict_proba")
    np.testing.assert_allclose(
        np.array(proba["data"]).reshape(5, 2), xgboost_says(booster, same), rtol=1e-5, atol=1e-7
    )
    bad = {**request["inputs"][0], "data": [*cells[:4], ["9.75", "7.5", "yes", "red"]]}
    refused = httpx.post(f"{server.url}/v2/models/toy/infer", json={"inputs": [bad]}, timeout=30)
    assert refused.status_code == 400
    assert refused.json() == {"error": "rows.4.count: '7.5' is not an integer"}


def test_integer_data_is_never_cut_to_a_whole_number(
    mixed_server: tuple[Server, xgb.Booster],
) -> None:
    """numpy would read INT64 data [2.5] as 2 without a word."""
    server, _ = mixed_server

    def infer(count: list[object]) -> httpx.Response:
        inputs = [
            {"name": "size", "shape": [1], "datatype": "FP32", "data": [9.5]},
            {"name": "count", "shape": [1], "datatype": "INT64", "data": count},
            {"name": "flag", "shape": [1], "datatype": "BOOL", "data": [True]},
            {"name": "colour", "shape": [1], "datatype": "BYTES", "data": ["red"]},
        ]
        return httpx.post(f"{server.url}/v2/models/toy/infer", json={"inputs": inputs}, timeout=30)

    assert infer([2]).status_code == 200
    assert infer([2.0]).json()["outputs"] == infer([2]).json()["outputs"]
    for wrong in ([2.5], [None], [2**64]):
        response = infer(wrong)
        assert response.status_code == 400, (wrong, response.text)
        assert response.json()["error"].startswith(
            "input 'count': INT64 data must be whole numbers"
        )
