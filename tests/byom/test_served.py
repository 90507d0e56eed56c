"""Every zoo model answers every endpoint exactly as XGBoost itself does on the same rows."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from tests.byom.conftest import Packaged, PackagingRefusedError, package
from tests.byom.zoo import CASES, Case
from tests.support import Server

SERVED = [c.name for c in CASES if not c.refused]
# The API computes in float32 like XGBoost; probabilities of softmax/logitraw models are
# squashed from the margins in float64 on the API's side, in float32 inside XGBoost.
RTOL, ATOL = 2e-6, 2e-6


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a JSON client sends them: numbers, booleans, category names, null for missing."""
    rows = []
    for _, row in frame.iterrows():
        out: dict[str, Any] = {}
        for name, value in row.items():
            if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
                out[str(name)] = None
            elif isinstance(frame[name].dtype, pd.CategoricalDtype):
                out[str(name)] = str(value)
            elif isinstance(value, bool | np.bool_):
                out[str(name)] = bool(value)
            elif isinstance(value, int | np.integer):
                out[str(name)] = int(value)
            else:
                out[str(name)] = float(value)
        rows.append(out)
    return rows


def xgboost_answer(booster: xgb.Booster, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """What XGBoost itself says for ``frame`` (pandas categories re-coded by the model)."""
    matrix = xgb.DMatrix(frame, enable_categorical=True)
    return {
        "output": booster.predict(matrix),
        "margin": booster.predict(matrix, output_margin=True),
        "contribs": booster.predict(matrix, pred_contribs=True),
    }


def objective(booster: xgb.Booster) -> str:
    import json

    return str(json.loads(booster.save_config())["learner"]["objective"]["name"])


# What an explanation's base_value + sum(contributions) is, per objective, and how the served
# value follows from it: written down here from XGBoost's documentation, independently of the
# API's own table, so a wrong entry there cannot pass.
SPACES = {
    **dict.fromkeys(
        ["reg:squarederror", "reg:squaredlogerror", "reg:pseudohubererror",
         "reg:absoluteerror", "reg:quantileerror"],
        ("value", lambda m: m),
    ),
    **dict.fromkeys(
        ["reg:gamma", "reg:tweedie", "count:poisson", "survival:cox", "survival:aft"],
        ("log", np.exp),
    ),
    "reg:logistic": ("logit", lambda m: 1 / (1 + np.exp(-m))),
    **dict.fromkeys(["binary:logistic", "binary:logitraw", "binary:hinge"], ("margin", None)),
    **dict.fromkeys(["multi:softprob", "multi:softmax"], ("margin", None)),
}  # fmt: skip


def output_names(packaged: Packaged) -> list[str] | None:
    """Names of a multi-output regressor's outputs, as the user would expect to read them."""
    booster = packaged.trained.booster
    import json

    config = json.loads(booster.save_config())
    if objective(booster) == "reg:quantileerror":
        alphas = json.loads(config["learner"]["objective"]["quantile_loss_param"]["quantile_alpha"])
        return [f"q{a!r}" for a in alphas] if len(alphas) > 1 else None
    target = packaged.trained.bundle_kwargs.get("target")
    return list(target) if isinstance(target, list) else None


def expected_rows(packaged: Packaged, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The v1 prediction rows the API must answer, from XGBoost's own outputs."""
    booster = packaged.trained.booster
    answer = xgboost_answer(booster, frame)
    kind = objective(booster)
    labels = packaged.trained.bundle_kwargs.get("class_labels")
    if kind in ("multi:softprob", "multi:softmax"):
        margin = answer["margin"].astype(np.float64)
        shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
        proba = shifted / shifted.sum(axis=1, keepdims=True)
        if kind == "multi:softprob":
            np.testing.assert_allclose(proba, answer["output"], rtol=1e-5, atol=1e-6)
        else:  # XGBoost itself answers the class index
            np.testing.assert_array_equal(np.argmax(proba, axis=1), answer["output"])
        return [
            {"label": labels[int(np.argmax(p))], "probabilities": dict(zip(labels, p, strict=True))}
            for p in proba
        ]
    if kind in ("binary:logistic", "binary:logitraw"):
        positive = 1 / (1 + np.exp(-answer["margin"].astype(np.float64)))
        if kind == "binary:logistic":
            np.testing.assert_allclose(positive, answer["output"], rtol=1e-5, atol=1e-6)
        return [
            {
                "label": labels[int(p > 0.5)],
                "probabilities": {labels[0]: 1 - p, labels[1]: p},
            }
            for p in positive
        ]
    if kind == "binary:hinge":  # a label and nothing invented
        return [{"label": labels[int(v)], "probabilities": None} for v in answer["output"]]
    names = output_names(packaged)
    values = answer["output"].reshape(len(frame), -1).astype(np.float64)
    if names is not None:
        return [{"values": dict(zip(names, row, strict=True))} for row in values]
    return [{"value": float(v)} for v in values[:, 0]]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)


def assert_rows_match(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected)
    for i, (row, want) in enumerate(zip(got, expected, strict=True)):
        if "label" in want:
            assert row["label"] == want["label"], (i, row, want)
        if want.get("probabilities") is None:
            assert row.get("probabilities") is None, (i, row)
        else:
            assert row["probabilities"].keys() == want["probabilities"].keys()
            for label, p in want["probabilities"].items():
                assert close(row["probabilities"][label], p), (i, label, row, want)
        if "value" in want:
            assert close(row["value"], want["value"]), (i, row, want)
        if "values" in want:
            assert list(row["values"]) == list(want["values"]), (i, row, want)
            for name, v in want["values"].items():
                assert close(row["values"][name], v), (i, name, row, want)


@pytest.fixture(scope="module")
def client(zoo_api: Server) -> httpx.Client:
    return httpx.Client(base_url=zoo_api.url, timeout=60)


def test_every_model_loads(client: httpx.Client, zoo: dict[str, Packaged]) -> None:
    listing = client.get("/v1/models").json()
    assert listing["failed"] == {}
    assert sorted(m["name"] for m in listing["models"]) == sorted(zoo)


@pytest.mark.parametrize("name", SERVED)
def test_v1_json_equals_xgboost(name: str, client: httpx.Client, zoo: dict[str, Packaged]) -> None:
    packaged = zoo[name]
    test = packaged.trained.test
    response = client.post(f"/v1/models/{name}/predict", json={"instances": records(test)})
    assert response.status_code == 200, response.text
    assert_rows_match(response.json()["predictions"], expected_rows(packaged, test))


@pytest.mark.parametrize("name", SERVED)
def test_csv_equals_xgboost(name: str, client: httpx.Client, zoo: dict[str, Packaged]) -> None:
    packaged = zoo[name]
    test = packaged.trained.test
    body = test.to_csv(index=False)
    response = client.post(
        f"/v1/models/{name}/predict", content=body, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["error"] for row in table] == [""] * len(test)
    want = expected_rows(packaged, test)
    assert len(table) == len(want)
    got = []
    for row in table:
        parsed: dict[str, Any] = {}
        if "label" in row:
            parsed["label"] = row["label"]
        probabilities = {k[6:]: float(v) for k, v in row.items() if k.startswith("proba_")}
        if probabilities:
            parsed["probabilities"] = probabilities
        if "value" in row:
            parsed["value"] = float(row["value"])
        values = {k[6:]: float(v) for k, v in row.items() if k.startswith("value_")}
        if values:
            parsed["values"] = values
        got.append(parsed)
    assert_rows_match(got, want)


@pytest.mark.parametrize("name", SERVED)
def test_explain_equals_xgboost(name: str, client: httpx.Client, zoo: dict[str, Packaged]) -> None:
    """Contributions are XGBoost's own, in the space the answer names, and that space maps to
    the served value the way the objective says."""
    packaged = zoo[name]
    test = packaged.trained.test
    response = client.post(f"/v1/models/{name}/explain", json={"instances": records(test)})
    assert response.status_code == 200, response.text
    body = response.json()
    kind = objective(packaged.trained.booster)
    space, to_value = SPACES[kind]
    assert body["output_space"] == space
    answer = xgboost_answer(packaged.trained.booster, test)
    contribs, margins = answer["contribs"], answer["margin"].reshape(len(test), -1)
    served = expected_rows(packaged, test)
    names, outputs = list(test.columns), output_names(packaged)
    for i, row in enumerate(body["explanations"]):
        if outputs is not None:  # one output explained, named; its trees named too
            assert row["explained_output"] in outputs
            index = outputs.index(row.get("margin_output") or row["explained_output"])
            expected = contribs[i, index]
            assert close(row["explained_value"], served[i]["values"][row["explained_output"]])
        elif contribs.ndim == 3:  # multiclass: the predicted class is explained
            index = int(np.argmax(margins[i]))
            expected = contribs[i, index]
            assert row["explained_class"] == served[i]["label"]
        else:
            index = 0
            expected = contribs[i]
        got = [row["contributions"][n] for n in names]
        np.testing.assert_allclose(got, expected[:-1], rtol=1e-5, atol=1e-5)
        assert math.isclose(row["base_value"], float(expected[-1]), rel_tol=1e-5, abs_tol=1e-5)
        margin = row["base_value"] + sum(got)
        assert math.isclose(margin, float(margins[i, index]), rel_tol=1e-4, abs_tol=1e-4)
        if to_value is not None:  # regression: the margin, through the link, is the value
            value = served[i]["value"] if outputs is None else row["explained_value"]
            assert math.isclose(float(to_value(margin)), value, rel_tol=1e-4, abs_tol=1e-5)


def per_feature_inputs(frame: pd.DataFrame, binary: bool) -> list[Any]:
    """One V2 input per feature, as tritonclient sends numpy columns: FP64, BOOL, and BYTES names
    for categories ("" = missing). JSON has no NaN, so in JSON mode a number column with missing
    values goes as BYTES text cells ("" = missing), as docs/guides/v2-clients.md says; binary FP64
    carries NaN."""
    import tritonclient.http as triton

    inputs = []
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            data = np.array(["" if pd.isna(v) else str(v) for v in column], dtype=object)
            kind = "BYTES"
        elif column.dtype == bool:
            data, kind = column.to_numpy(), "BOOL"
        elif not binary and column.isna().any():
            data = np.array(["" if pd.isna(v) else repr(float(v)) for v in column], dtype=object)
            kind = "BYTES"
        else:
            data, kind = column.to_numpy(dtype=np.float64), "FP64"
        tensor = triton.InferInput(str(name), [len(frame)], kind)
        tensor.set_data_from_numpy(data, binary_data=binary)
        inputs.append(tensor)
    return inputs


def rows_tensor(frame: pd.DataFrame, binary: bool) -> list[Any]:
    """The whole table as one BYTES [N, F] tensor: what tritonclient makes of a mixed DataFrame."""
    import tritonclient.http as triton

    cells = np.array(
        [["" if pd.isna(v) else str(v) for v in row] for row in frame.astype(object).to_numpy()],
        dtype=object,
    )
    tensor = triton.InferInput("rows", list(cells.shape), "BYTES")
    tensor.set_data_from_numpy(cells, binary_data=binary)
    return [tensor]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("shape", ["per-feature", "rows-tensor"])
@pytest.mark.parametrize("name", SERVED)
def test_v2_equals_xgboost(
    name: str, shape: str, binary: bool, zoo_api: Server, zoo: dict[str, Packaged]
) -> None:
    """A standard Open Inference Protocol client (tritonclient) gets XGBoost's answers."""
    from urllib.parse import urlsplit

    import tritonclient.http as triton

    packaged = zoo[name]
    test = packaged.trained.test
    want = expected_rows(packaged, test)
    client = triton.InferenceServerClient(urlsplit(zoo_api.url).netloc)
    metadata = client.get_model_metadata(name)
    available = [o["name"] for o in metadata["outputs"]]
    outputs = [triton.InferRequestedOutput(o, binary_data=binary) for o in available]
    inputs = (
        per_feature_inputs(test, binary) if shape == "per-feature" else rows_tensor(test, binary)
    )
    result = client.infer(name, inputs, outputs=outputs)
    client.close()
    predict = result.as_numpy("predict")
    if "label" in want[0]:
        labels = [v.decode() if isinstance(v, bytes) else v for v in predict.reshape(-1)]
        assert labels == [w["label"] for w in want]
        if want[0]["probabilities"] is None:
            assert available == ["predict"]
        else:
            expected = np.array([list(w["probabilities"].values()) for w in want])
            np.testing.assert_allclose(result.as_numpy("predict_proba"), expected, RTOL, ATOL)
    elif "values" in want[0]:
        expected = np.array([list(w["values"].values()) for w in want])
        assert predict.shape == expected.shape  # [N, T], not flattened
        np.testing.assert_allclose(predict, expected, RTOL, ATOL)
    else:
        np.testing.assert_allclose(predict, [w["value"] for w in want], RTOL, ATOL)


REFUSED = [c for c in CASES if c.refused]


@pytest.mark.parametrize("case", REFUSED, ids=str)
@pytest.mark.parametrize("packaging", ["save_bundle", "cli"])
def test_what_cannot_be_served_is_refused_by_name(
    case: Case, packaging: str, tmp_path: Path
) -> None:
    """Both packaging paths refuse the model, naming why, and leave nothing to serve."""
    from model_api.errors import BundleError

    trained = case.build()
    folder = tmp_path / "models" / case.name / "1"
    refusal = PackagingRefusedError if packaging == "cli" else BundleError
    with pytest.raises(refusal) as refused:
        package(replace(case, packaging=packaging), trained, folder)
    assert case.refused in str(refused.value)
    assert not (tmp_path / "models" / case.name).exists()


def test_the_document_is_valid_and_every_model_is_typed(
    client: httpx.Client, zoo: dict[str, Packaged]
) -> None:
    """The OpenAPI document of the whole zoo validates, and each model's typed example (its
    defaults) scores; the typed request names every feature of the model."""
    from openapi_spec_validator import validate

    spec = client.get("/openapi.json").json()
    validate(spec)
    for name, packaged in zoo.items():
        path = f"/v1/models/{name}/predict"
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        example = body["example"]
        assert sorted(example["instances"][0]) == sorted(map(str, packaged.trained.train.columns))
        response = client.post(path, json=example)
        assert response.status_code == 200, (name, response.text)
