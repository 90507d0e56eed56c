"""Every XGBoost objective is served truthfully, or refused at packaging by name.

One small model per objective, trained on real data that ships with scikit-learn, is packaged with
``save_bundle`` and served by one real API process; its v1 JSON, CSV, V2 and explain answers are
compared with XGBoost's own ``predict`` (values, output margins, ``pred_contribs``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from model_api.authoring import save_bundle
from model_api.errors import BundleError
from model_api.serving.bundle import load_bundle
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_linnerud

from tests.support import Server, running_api

ROWS = 20  # more than outputs.MANY_ROWS: the native row writer; the first 3 rows: the dict path
ROUNDS = 8
# Close alphas: the trees of neighbouring quantiles cross for some of the first rows.
ALPHAS = [0.05, 0.45, 0.5, 0.55, 0.95]
QUANTILES = ["q0.05", "q0.45", "q0.5", "q0.55", "q0.95"]


@dataclass
class Case:
    """One objective's model, the frame it learned from and what the API must say about it."""

    objective: str
    booster: xgb.Booster
    frame: pd.DataFrame
    output_space: str
    margin_to_value: str
    bundle: dict[str, Any] = field(default_factory=dict)  # extra save_bundle arguments
    outputs: list[str] | None = None  # expected output names (multi-output, or a quantile)
    suffix: str | None = None  # of the served name (default: "-multi" with outputs)
    actual: np.ndarray | None = None  # what the model learned: [N], or [N, T] for T targets

    @property
    def name(self) -> str:
        suffix = self.suffix if self.suffix is not None else ("-multi" if self.outputs else "")
        return self.objective.replace(":", "-") + suffix

    def reference(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """XGBoost's own prediction, output margin and SHAP contributions for these rows."""
        matrix = xgb.DMatrix(rows)
        predicted = self.booster.predict(matrix).astype(np.float64)
        margin = self.booster.predict(matrix, output_margin=True).astype(np.float64)
        contribs = self.booster.predict(matrix, pred_contribs=True).astype(np.float64)
        if self.outputs and predicted.ndim == 1:  # one named output (a quantile): [N, 1]
            return predicted[:, None], margin[:, None], contribs[:, None, :]
        return predicted, margin, contribs


def _train(params: dict[str, Any], data: xgb.DMatrix) -> xgb.Booster:
    return xgb.train({"max_depth": 3, "nthread": 1, "seed": 0, **params}, data, ROUNDS)


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    diabetes = load_diabetes(as_frame=True)
    x, y = diabetes.data, diabetes.target.to_numpy()
    cancer = load_breast_cancer(as_frame=True)
    xb, yb = cancer.data, cancer.target.to_numpy()
    iris = load_iris(as_frame=True)
    xi, yi = iris.data, iris.target.to_numpy()
    linnerud = load_linnerud(as_frame=True)
    xl, yl = linnerud.data, linnerud.target

    def regression(objective: str, space: str, link: str, **params: Any) -> Case:
        booster = _train({"objective": objective, **params}, xgb.DMatrix(x, label=y))
        return Case(objective, booster, x, space, link, {"target": "progression"}, actual=y)

    # survival:cox reads negative times as censored; survival:aft takes a time interval.
    cox = xgb.DMatrix(x, label=np.where(np.arange(len(y)) % 4 == 0, -y, y))
    aft = xgb.DMatrix(x, label_lower_bound=y, label_upper_bound=np.where(y > 250, np.inf, y))
    built = [
        regression("reg:squarederror", "value", "identity"),
        regression("reg:squaredlogerror", "value", "identity"),
        regression("reg:pseudohubererror", "value", "identity", huber_slope=50.0),
        regression("reg:absoluteerror", "value", "identity"),
        regression("reg:gamma", "log", "exp"),
        regression("reg:tweedie", "log", "exp"),
        regression("count:poisson", "log", "exp"),
        Case("survival:cox", _train({"objective": "survival:cox"}, cox), x, "log", "exp", actual=y),
        Case("survival:aft", _train({"objective": "survival:aft"}, aft), x, "log", "exp", actual=y),
        Case(
            "reg:quantileerror",
            _train(
                {"objective": "reg:quantileerror", "quantile_alpha": ALPHAS},
                xgb.DMatrix(x, label=y),
            ),
            x,
            "value",
            "identity",
            {"target": "progression"},
            QUANTILES,
            actual=y,
        ),
        Case(  # one alpha: still a quantile, named so (its value is not a mean)
            "reg:quantileerror",
            _train(
                {"objective": "reg:quantileerror", "quantile_alpha": 0.9},
                xgb.DMatrix(x, label=y),
            ),
            x,
            "value",
            "identity",
            {"target": "progression"},
            ["q0.9"],
            "-one",
            actual=y,
        ),
        Case(
            "reg:squarederror",
            _train({"objective": "reg:squarederror"}, xgb.DMatrix(xl, label=yl)),
            xl,
            "value",
            "identity",
            {"target": list(yl.columns)},
            list(yl.columns),
            actual=yl.to_numpy(dtype=np.float64),
        ),
        Case(
            "count:poisson",
            _train({"objective": "count:poisson"}, xgb.DMatrix(xl, label=yl)),
            xl,
            "log",
            "exp",
            {},
            ["target_0", "target_1", "target_2"],
            actual=yl.to_numpy(dtype=np.float64),
        ),
    ]
    for objective, space, link in [
        ("reg:logistic", "logit", "sigmoid"),
        ("binary:logistic", "margin", "sigmoid"),
        ("binary:logitraw", "margin", "sigmoid"),
        ("binary:hinge", "margin", "step"),
    ]:
        booster = _train({"objective": objective}, xgb.DMatrix(xb, label=yb))
        labels = {} if objective == "reg:logistic" else {"class_labels": ["malignant", "benign"]}
        built.append(Case(objective, booster, xb, space, link, labels, actual=yb))
    for objective in ("multi:softmax", "multi:softprob"):
        booster = _train({"objective": objective, "num_class": 3}, xgb.DMatrix(xi, label=yi))
        classes = {"class_labels": list(iris.target_names)}
        built.append(Case(objective, booster, xi, "margin", "softmax", classes, actual=yi))
    return {case.name: case for case in built}


@pytest.fixture(scope="module")
def api(cases: dict[str, Case], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    repository = tmp_path_factory.mktemp("objectives")
    for case in cases.values():
        save_bundle(
            case.booster,
            case.frame.head(200),
            repository / case.name,
            name=case.name,
            **case.bundle,
        )
    with running_api(repository, tmp_path_factory.mktemp("objective-logs")) as server:
        yield server


@pytest.fixture(scope="module")
def http(api: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        yield client


CASE_NAMES = [
    "reg-squarederror",
    "reg-squaredlogerror",
    "reg-pseudohubererror",
    "reg-absoluteerror",
    "reg-gamma",
    "reg-tweedie",
    "count-poisson",
    "survival-cox",
    "survival-aft",
    "reg-quantileerror-multi",
    "reg-quantileerror-one",
    "reg-squarederror-multi",
    "count-poisson-multi",
    "reg-logistic",
    "binary-logistic",
    "binary-logitraw",
    "binary-hinge",
    "multi-softmax",
    "multi-softprob",
]
LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda m: m,
    "exp": np.exp,
    "sigmoid": lambda m: 1.0 / (1.0 + np.exp(-m)),
    "step": lambda m: (m > 0).astype(np.float64),
}


def _softmax(margin: np.ndarray) -> np.ndarray:
    shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return rows.to_dict(orient="records")  # type: ignore[return-value]


def _expected_probabilities(case: Case, rows: pd.DataFrame) -> np.ndarray | None:
    """Each class's probability, as XGBoost states or implies it (None: the model has none)."""
    predicted, margin, _ = case.reference(rows)
    if case.margin_to_value == "softmax":
        return _softmax(margin)
    if case.margin_to_value == "sigmoid" and "class_labels" in case.bundle:
        positive = LINKS["sigmoid"](margin) if case.objective == "binary:logitraw" else predicted
        return np.column_stack((1.0 - positive, positive))
    return None


def _close(got: Any, expected: Any) -> None:
    # Served numbers are XGBoost's float32 outputs as doubles; probabilities computed from margins
    # are computed in float64 on both sides.
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("count", [3, ROWS])
def test_v1_json_answers_what_xgboost_predicts(
    http: httpx.Client, cases: dict[str, Case], name: str, count: int
) -> None:
    case = cases[name]
    rows = case.frame.head(count)
    answer = http.post(f"/v1/models/{name}/predict", json={"instances": _records(rows)})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert len(predictions) == count
    # Each row opens with its prediction id (the log is on): <token>-<row>, one token per request.
    ids = [p.pop("id") for p in predictions]
    assert ids == [f"{ids[0][:20]}-{i}" for i in range(count)], ids
    predicted, _, _ = case.reference(rows)
    labels = case.bundle.get("class_labels")
    probabilities = _expected_probabilities(case, rows)
    if case.outputs:
        assert [list(p) for p in predictions] == [["values"]] * count
        assert all(list(p["values"]) == case.outputs for p in predictions)
        _close([list(p["values"].values()) for p in predictions], predicted)
    elif labels is None:
        _close([p["value"] for p in predictions], predicted)
    elif probabilities is None:  # binary:hinge: the label, and no invented probabilities
        assert predictions == [{"label": labels[int(v)]} for v in predicted]
    else:
        assert [p["label"] for p in predictions] == [labels[i] for i in probabilities.argmax(1)]
        _close([list(p["probabilities"].values()) for p in predictions], probabilities)
        assert all(list(p["probabilities"]) == labels for p in predictions)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_csv_has_one_column_per_output_and_row(
    http: httpx.Client, cases: dict[str, Case], name: str
) -> None:
    case = cases[name]
    rows = case.frame.head(ROWS)
    answer = http.post(
        f"/v1/models/{name}/predict",
        content=rows.to_csv(index=False),
        headers={"content-type": "text/csv"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    header, *lines = list(csv.reader(io.StringIO(answer.text)))
    assert len(lines) == ROWS
    # The prediction id column follows the row number (the log is on); the answer's own after.
    assert header.pop(1) == "prediction_id"
    ids = [line.pop(1) for line in lines]
    assert ids == [f"{ids[0][:20]}-{i}" for i in range(ROWS)], ids
    assert [line[0] for line in lines] == [str(i) for i in range(1, ROWS + 1)]
    assert all(line[-1] == "" for line in lines)
    predicted, _, _ = case.reference(rows)
    labels = case.bundle.get("class_labels")
    probabilities = _expected_probabilities(case, rows)
    if case.outputs:
        assert header == ["row", *(f"value_{o}" for o in case.outputs), "error"]
        _close([[float(v) for v in line[1:-1]] for line in lines], predicted)
    elif labels is None:
        assert header == ["row", "value", "error"]
        _close([float(line[1]) for line in lines], predicted)
    elif probabilities is None:
        assert header == ["row", "label", "error"]
        assert [line[1] for line in lines] == [labels[int(v)] for v in predicted]
    else:
        assert header == ["row", "label", *(f"proba_{c}" for c in labels), "error"]
        _close([[float(v) for v in line[2:-1]] for line in lines], probabilities)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_v2_answers_every_output_per_row(
    http: httpx.Client, cases: dict[str, Case], name: str
) -> None:
    case = cases[name]
    rows = case.frame.head(ROWS)
    tensor = rows.to_numpy(dtype=np.float32)
    body = {
        "inputs": [
            {"name": "x", "shape": list(tensor.shape), "datatype": "FP32", "data": tensor.ravel()}
        ]
    }
    answer = http.post(
        f"/v2/models/{name}/infer",
        content=json.dumps(body, default=lambda a: a.tolist()),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    metadata = http.get(f"/v2/models/{name}").json()
    declared = {o["name"]: o for o in metadata["outputs"]}
    assert set(outputs) == set(declared)
    predicted, _, _ = case.reference(rows)
    probabilities = _expected_probabilities(case, rows)
    labels = case.bundle.get("class_labels")
    if labels is None:
        assert outputs["predict"]["datatype"] == "FP64"
        assert outputs["predict"]["shape"] == list(predicted.shape)
        _close(np.reshape(outputs["predict"]["data"], predicted.shape), predicted)
        width = [] if predicted.ndim == 1 else [predicted.shape[1]]
        assert declared["predict"]["shape"] == [-1, *width]
        if case.outputs:
            assert declared["predict"]["parameters"]["columns"] == case.outputs
        return
    winners = predicted.astype(int) if probabilities is None else probabilities.argmax(1)
    assert outputs["predict"]["data"] == [labels[i] for i in winners]
    if probabilities is None:
        assert "predict_proba" not in outputs
    else:
        assert outputs["predict_proba"]["shape"] == [ROWS, len(labels)]
        _close(np.reshape(outputs["predict_proba"]["data"], (ROWS, -1)), probabilities)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_explanations_add_up_to_the_margin_in_the_named_space(
    http: httpx.Client, cases: dict[str, Case], name: str
) -> None:
    case = cases[name]
    rows = case.frame.head(ROWS)
    answer = http.post(f"/v1/models/{name}/explain", json={"instances": _records(rows)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["output_space"], body["margin_to_value"]) == (
        case.output_space,
        case.margin_to_value,
    )
    assert body["space_name"]
    explanations = body["explanations"]
    predicted, margin, contribs = case.reference(rows)
    labels = case.bundle.get("class_labels")
    if case.outputs:  # the default explained output: the median quantile, else the first
        index = case.outputs.index("q0.5") if "q0.5" in case.outputs else 0
        assert {e["explained_output"] for e in explanations} == {case.outputs[index]}
        trees = np.full(ROWS, index)
        if case.objective == "reg:quantileerror":  # XGBoost serves each row's sorted margins
            trees = np.argsort(margin, axis=1, kind="stable")[:, index]
            assert [e["margin_output"] for e in explanations] == [case.outputs[k] for k in trees]
            if len(case.outputs) > 1:  # some rows cross: another alpha's trees are served
                assert (trees != index).any()
        rows = np.arange(ROWS)
        margin, contribs, predicted = (
            margin[rows, trees],
            contribs[rows, trees],
            predicted[:, index],
        )
    elif case.margin_to_value == "softmax":  # the predicted class of each row
        chosen = margin.argmax(1)
        assert [e["explained_class"] for e in explanations] == [labels[k] for k in chosen]
        predicted = _softmax(margin)[np.arange(ROWS), chosen]
        margin, contribs = margin[np.arange(ROWS), chosen], contribs[np.arange(ROWS), chosen]
    elif labels is not None:  # binary: always the positive class
        assert {e["explained_class"] for e in explanations} == {labels[1]}
        if case.objective == "binary:logitraw":
            predicted = LINKS["sigmoid"](margin)
    features = list(case.frame.columns)
    assert all(list(e["contributions"]) == features for e in explanations)
    _close([list(e["contributions"].values()) for e in explanations], contribs[:, :-1])
    _close([e["base_value"] for e in explanations], contribs[:, -1])
    total = np.array([e["base_value"] + sum(e["contributions"].values()) for e in explanations])
    np.testing.assert_allclose(total, margin, rtol=1e-5, atol=1e-4)  # SHAP adds up (float32)
    _close([e["explained_value"] for e in explanations], predicted)
    if case.margin_to_value in LINKS:  # and the named link turns that margin into the answer
        np.testing.assert_allclose(
            LINKS[case.margin_to_value](total), predicted, rtol=1e-4, atol=1e-6
        )


def test_survival_models_answer_time_and_hazard_ratio(
    http: httpx.Client, cases: dict[str, Case]
) -> None:
    """exp(margin) is AFT's predicted time and Cox's hazard ratio, as XGBoost itself says."""
    for name in ("survival-aft", "survival-cox"):
        case = cases[name]
        rows = case.frame.head(5)
        _, margin, _ = case.reference(rows)
        answer = http.post(f"/v1/models/{name}/predict", json={"instances": _records(rows)})
        np.testing.assert_allclose(
            [p["value"] for p in answer.json()["predictions"]], np.exp(margin), rtol=1e-5
        )


def test_metadata_names_the_objective_and_every_output(
    http: httpx.Client, cases: dict[str, Case]
) -> None:
    quantiles = http.get("/v1/models/reg-quantileerror-multi").json()
    assert quantiles["objective"] == "reg:quantileerror"
    assert quantiles["outputs"] == [
        {"name": n, "quantile": a} for n, a in zip(QUANTILES, ALPHAS, strict=True)
    ]
    assert quantiles["explanation"]["space_name"] == "progression, in its own units"
    targets = http.get("/v1/models/reg-squarederror-multi").json()
    assert [o["name"] for o in targets["outputs"]] == ["Weight", "Waist", "Pulse"]
    assert targets["target"] == "Weight, Waist, Pulse"
    hinge = http.get("/v1/models/binary-hinge").json()
    assert (hinge["objective"], hinge["probabilities"]) == ("binary:hinge", False)
    assert hinge["explanation"]["space_name"] == "hinge score for benign (above 0 means benign)"
    poisson = http.get("/v1/models/count-poisson").json()
    assert poisson["explanation"] == {
        "output_space": "log",
        "space_name": "log of the predicted count",
        "margin_to_value": "exp",
    }
    v2 = http.get("/v2/models/reg-quantileerror-multi").json()
    assert v2["outputs"] == [
        {
            "name": "predict",
            "datatype": "FP64",
            "shape": [-1, 5],
            "parameters": {"columns": QUANTILES, "quantiles": ALPHAS},
        }
    ]


def test_explain_takes_the_output_to_explain_by_name(
    http: httpx.Client, cases: dict[str, Case]
) -> None:
    case = cases["reg-quantileerror-multi"]
    rows = case.frame.head(4)
    url = f"/v1/models/{case.name}/explain"
    answer = http.post(url, params={"output": "q0.95"}, json={"instances": _records(rows)})
    assert answer.status_code == 200, answer.text
    explanations = answer.json()["explanations"]
    predicted, margin, contribs = case.reference(rows)
    trees = np.argsort(margin, axis=1, kind="stable")[:, 4]  # the largest margin is served as q0.95
    assert {e["explained_output"] for e in explanations} == {"q0.95"}
    assert [e["margin_output"] for e in explanations] == [QUANTILES[k] for k in trees]
    _close([e["explained_value"] for e in explanations], predicted[:, 4])
    picked = contribs[np.arange(len(rows)), trees]
    _close([list(e["contributions"].values()) for e in explanations], picked[:, :-1])

    unknown = http.post(url, params={"output": "q0.7"}, json={"instances": _records(rows)})
    assert unknown.status_code == 422
    error = unknown.json()["error"]
    assert "output 'q0.7'" in error["message"] and ", ".join(QUANTILES) in error["message"]
    assert error["details"][0]["loc"] == ["query", "output"]
    single = http.post(
        "/v1/models/count-poisson/explain",
        params={"output": "value"},
        json={"instances": _records(cases["count-poisson"].frame.head(1))},
    )
    assert single.status_code == 422
    assert "single output" in single.json()["error"]["message"]


def _value_histogram(http: httpx.Client, model: str) -> tuple[float, float]:
    """(count, sum) of the model's predicted-value histogram on /metrics."""
    found = {}
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("model_api_predicted_value_") and f'model="{model}"' in line:
            found[line.split("{", 1)[0]] = float(line.rsplit(" ", 1)[1])
    return found["model_api_predicted_value_count"], found["model_api_predicted_value_sum"]


def test_prediction_metrics_watch_the_median_quantile(
    http: httpx.Client, cases: dict[str, Case]
) -> None:
    case = cases["reg-quantileerror-multi"]
    rows = case.frame.head(7)
    before = _value_histogram(http, case.name)
    http.post(f"/v1/models/{case.name}/predict", json={"instances": _records(rows)})
    after = _value_histogram(http, case.name)
    predicted, _, _ = case.reference(rows)
    assert after[0] - before[0] == 7  # one value per row, not one per output
    assert after[1] - before[1] == pytest.approx(predicted[:, 2].sum(), rel=1e-6)


# ------------------------------------------------------------------ refused at packaging
def _ranker(objective: str) -> xgb.Booster:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    data = xgb.DMatrix(x, label=(y.to_numpy() > 150).astype(int), qid=np.arange(len(y)) // 20)
    return _train({"objective": objective}, data)


def _refused_models() -> dict[str, Callable[[], tuple[xgb.Booster, pd.DataFrame]]]:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    xl, yl = load_linnerud(return_X_y=True, as_frame=True)
    return {
        "rank:ndcg": lambda: (_ranker("rank:ndcg"), x),
        "rank:pairwise": lambda: (_ranker("rank:pairwise"), x),
        "rank:map": lambda: (_ranker("rank:map"), x),
        "reg:expectileerror": lambda: (
            _train(
                {"objective": "reg:expectileerror", "expectile_alpha": [0.1, 0.9]},
                xgb.DMatrix(x, label=y),
            ),
            x,
        ),
        "binary:logistic": lambda: (  # several targets: multi-label classification
            _train(
                {"objective": "binary:logistic"},
                xgb.DMatrix(xl, label=(yl > yl.median()).astype(int)),
            ),
            xl,
        ),
        "reg:quantileerror": lambda: (  # one alpha twice: two outputs with one name
            _train(
                {"objective": "reg:quantileerror", "quantile_alpha": [0.5, 0.5]},
                xgb.DMatrix(x, label=y),
            ),
            x,
        ),
    }


REFUSED = {
    "rank:ndcg": "only order the items of one query group",
    "rank:pairwise": "only order the items of one query group",
    "rank:map": "only order the items of one query group",
    "reg:expectileerror": "softplus",
    "binary:logistic": "3 targets (multi-label classification)",
    "reg:quantileerror": "quantile_alpha repeats 0.5",
}


@pytest.mark.parametrize("objective", list(REFUSED))
def test_unservable_objectives_are_refused_by_name(objective: str, tmp_path: Path) -> None:
    booster, frame = _refused_models()[objective]()
    expected = rf"objective '{objective}'.*{re.escape(REFUSED[objective])}"
    with pytest.raises(BundleError, match=expected):
        save_bundle(booster, frame, tmp_path / "saved", name="refused")
    assert not (tmp_path / "saved" / "metadata.json").exists()

    # A bundle made by hand (or by an older packager) is refused when the server loads it.
    folder = tmp_path / "by-hand"
    folder.mkdir()
    booster.save_model(str(folder / "model.json"))
    digest = hashlib.sha256((folder / "model.json").read_bytes()).hexdigest()
    metadata = {
        "name": "refused",
        "version": "1",
        "task": "binary" if objective == "binary:logistic" else "regression",
        "features": [{"name": str(c), "type": "numeric"} for c in frame.columns],
        "created_at": "2025-01-01T00:00:00Z",
        "xgboost_version": xgb.__version__,
        "model_file": "model.json",
        "model_sha256": digest,
    }
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match=rf"{folder}.*objective '{objective}'"):
        load_bundle(folder)


def test_target_names_must_fit_the_outputs(tmp_path: Path) -> None:
    xl, yl = load_linnerud(return_X_y=True, as_frame=True)
    booster = _train({"objective": "reg:squarederror"}, xgb.DMatrix(xl, label=yl))
    with pytest.raises(BundleError, match="2 target names given, but the model predicts 3"):
        save_bundle(booster, xl, tmp_path / "b", name="m", target=["Weight", "Waist"])


# ------------------------------------------------------------------ bundles of today's format
def test_bundle_without_objective_or_outputs_gets_them_from_the_model(
    cases: dict[str, Case], tmp_path: Path
) -> None:
    """format_version 1 bundles written before these fields existed load, derived from the model."""
    for name, outputs in [
        ("reg-quantileerror-multi", QUANTILES),
        ("count-poisson-multi", ["target_0", "target_1", "target_2"]),
        ("binary-hinge", None),
    ]:
        case = cases[name]
        folder = tmp_path / name
        save_bundle(case.booster, case.frame.head(50), folder, name=name, **case.bundle)
        raw = json.loads((folder / "metadata.json").read_text())
        raw.pop("objective")
        raw.pop("outputs")
        raw["target"] = "target"
        (folder / "metadata.json").write_text(json.dumps(raw))
        metadata, _ = load_bundle(folder)
        assert metadata.objective == case.objective
        assert metadata.output_names == (outputs or [])


def test_old_alias_reg_linear_is_served_as_squared_error(tmp_path: Path) -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    with pytest.warns(UserWarning, match="reg:linear is now deprecated"):
        booster = _train({"objective": "reg:linear"}, xgb.DMatrix(x, label=y))
    metadata = save_bundle(booster, x, tmp_path / "b", name="linear")
    assert (metadata.objective, metadata.task) == ("reg:squarederror", "regression")


def _labelled_csv(case: Case, target: str) -> tuple[str, np.ndarray]:
    """The case's whole frame with its actual values in the column ``target``, as CSV, and the
    actual values judged (a class's label for classifiers)."""
    assert case.actual is not None
    actual = case.actual
    if actual.ndim == 2:
        assert case.outputs is not None
        actual = actual[:, case.outputs.index(target)]
    labels = case.bundle.get("class_labels")
    frame = case.frame.copy()
    frame[target] = [labels[int(v)] for v in actual] if labels else actual
    return frame.to_csv(index=False), actual


def _expected_metrics(case: Case, actual: np.ndarray, target: str) -> dict[str, Any]:
    """scikit-learn's metrics of XGBoost's own predictions of the case's rows."""
    from sklearn import metrics as sk

    predicted, _, _ = case.reference(case.frame)
    labels = case.bundle.get("class_labels")
    if labels:
        proba = _expected_probabilities(case, case.frame)
        codes = actual.astype(int)
        winners = predicted.astype(int) if proba is None else np.argmax(proba, axis=1)
        precision, recall, f1, support = sk.precision_recall_fscore_support(
            codes, winners, labels=range(len(labels)), zero_division=0.0
        )
        expected: dict[str, Any] = {
            "accuracy": sk.accuracy_score(codes, winners),
            "balanced_accuracy": sk.balanced_accuracy_score(codes, winners),
            "confusion_matrix": sk.confusion_matrix(codes, winners).tolist(),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support.tolist(),
        }
        if proba is not None:
            from sklearn.calibration import calibration_curve

            expected["log_loss"] = sk.log_loss(codes, proba)
            if len(labels) == 2:  # P(positive) against the positive class's frequency
                scores, hits = proba[:, 1], codes == 1
            else:  # the predicted class's probability against how often it was right
                scores, hits = proba[np.arange(len(codes)), winners], winners == codes
            observed, predicted_mean = calibration_curve(hits, scores, n_bins=10, pos_label=True)
            expected["calibration"] = (list(predicted_mean), list(observed))
            expected["roc_auc"] = (
                sk.roc_auc_score(codes, proba[:, 1])
                if len(labels) == 2
                else sk.roc_auc_score(codes, proba, multi_class="ovr")
            )
        return expected
    table = predicted.reshape(len(predicted), -1)
    names = case.outputs or []
    quantiles = [float(n[1:]) for n in names if re.fullmatch(r"q[0-9.]+", n)]
    # A target named by the request; else a quantile model's quantile nearest the median.
    point = names.index(target) if target in names else 0
    if quantiles and target not in names:
        point = min(range(len(quantiles)), key=lambda j: (abs(quantiles[j] - 0.5), quantiles[j]))
    values = table[:, point]
    expected = {
        "rmse": sk.root_mean_squared_error(actual, values),
        "mae": sk.mean_absolute_error(actual, values),
        "r2": sk.r2_score(actual, values),
        "residual_quantiles": np.quantile(actual - values, [0.05, 0.25, 0.5, 0.75, 0.95]),
    }
    if quantiles:
        expected["coverage"] = [np.mean(actual <= table[:, j]) for j in range(len(quantiles))]
        expected["pinball_loss"] = [
            sk.mean_pinball_loss(actual, table[:, j], alpha=a) for j, a in enumerate(quantiles)
        ]
        # The central intervals: the outermost quantiles, then inwards, around the median.
        expected["intervals"] = [
            (
                names[i],
                names[-1 - i],
                np.mean((table[:, i] <= actual) & (actual <= table[:, -1 - i])),
            )
            for i in range(len(names) // 2)
        ]
    return expected


def _metric_close(got: Any, expected: Any) -> None:
    # The API judges XGBoost's float32 answers; the reference is computed from them in float64.
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_evaluate_equals_scikit_learn_on_xgboosts_own_predictions(
    http: httpx.Client, cases: dict[str, Case], name: str
) -> None:
    case = cases[name]
    metadata = http.get(f"/v1/models/{name}").json()
    several_targets = case.outputs and not case.outputs[0].startswith("q")
    target = case.outputs[-1] if several_targets else metadata["target"]
    text, actual = _labelled_csv(case, target)
    answer = http.post(
        f"/v1/models/{name}/evaluate",
        params={"target": target} if several_targets else None,
        content=text.encode(),
        headers={"content-type": "text/csv"},
    )
    if case.objective.startswith("survival:"):  # a hazard ratio, or censored times: refused
        assert answer.status_code == 422, answer.text
        assert case.objective in answer.json()["error"]["message"]
        return
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["rows"], result["scored"], result["failed"]) == (len(actual), len(actual), 0)
    assert result["data_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    expected = _expected_metrics(case, actual, target)
    if case.bundle.get("class_labels"):
        got = result["classification"]
        assert result["regression"] is None
        assert result["headline"] == {
            "name": "accuracy",
            "value": got["accuracy"],
            "higher_is_better": True,
        }
        assert got["confusion_matrix"] == expected["confusion_matrix"]
        assert [c["support"] for c in got["per_class"]] == expected["support"]
        for metric in ("accuracy", "balanced_accuracy"):
            _metric_close(got[metric], expected[metric])
        for metric in ("precision", "recall", "f1"):
            _metric_close([c[metric] for c in got["per_class"]], expected[metric])
        if "log_loss" in expected:
            _metric_close(
                [got["log_loss"], got["roc_auc"]], [expected["log_loss"], expected["roc_auc"]]
            )
            bins = got["calibration"]["bins"]
            assert sum(b["rows"] for b in bins) == len(actual)
            mean_predicted, observed = expected["calibration"]
            _metric_close([b["mean_predicted"] for b in bins], mean_predicted)
            _metric_close([b["observed"] for b in bins], observed)
        else:  # binary:hinge: no probabilities, so no metric that needs them
            assert (got["log_loss"], got["roc_auc"], got["calibration"]) == (None, None, None)
            assert any("probabilities" in note for note in result["notes"])
        return
    got = result["regression"]
    assert result["classification"] is None
    assert result["headline"]["name"] == "rmse"
    for metric in ("rmse", "mae", "r2"):
        _metric_close(got[metric], expected[metric])
    _metric_close(list(got["residual_quantiles"].values()), expected["residual_quantiles"])
    if "coverage" in expected:
        _metric_close([q["coverage"] for q in got["quantiles"]], expected["coverage"])
        _metric_close([q["pinball_loss"] for q in got["quantiles"]], expected["pinball_loss"])
        intervals = [(i["lower"], i["upper"], i["coverage"]) for i in got["intervals"]]
        assert [i[:2] for i in intervals] == [i[:2] for i in expected["intervals"]]
        _metric_close([i[2] for i in intervals], [i[2] for i in expected["intervals"]])
    else:
        assert got["quantiles"] is None
