"""Evaluation against the real API: the penguin models judged on the penguins file with its
actual species and masses, bad rows counted and listed, slices worst first, runs stored and read
back (on SQLite and on a real PostgreSQL server), and every mistake a 4xx that says what to do.
(tests/api/test_objectives.py checks the metrics of every objective against scikit-learn's.)"""

from __future__ import annotations

import concurrent.futures
import csv
import hashlib
import io
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from model_contract import ComparisonResponse, EvaluationList, EvaluationResponse
from sklearn import metrics as sk

from tests.support import Server, add_weak_species_version, start_api, strictly

SPECIES = "penguin-species"
MASS = "penguin-mass"
CSV = {"content-type": "text/csv"}


@pytest.fixture(scope="module")
def repository(example_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples, and a weaker, older version "0" of the species model to compare with."""
    folder = tmp_path_factory.mktemp("evaluate-models")
    shutil.copytree(example_repository, folder, dirs_exist_ok=True)
    add_weak_species_version(folder)
    return folder


@pytest.fixture(scope="module")
def api(
    repository: Path, tmp_path_factory: pytest.TempPathFactory, database: dict[str, str]
) -> Iterator[Server]:
    server = start_api(repository, tmp_path_factory.mktemp("logs"), **database)
    yield server
    server.stop()


def _evaluate(api: Server, text: str, model: str = SPECIES, **params: str) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/models/{model}/evaluate",
        params=params,
        content=text.encode(),
        headers=CSV,
        timeout=60,
    )


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


def _served_labels(api: Server, text: str) -> list[str]:
    """The species the API predicts for each row of a CSV (its predict answer)."""
    answer = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/predict", content=text.encode(), headers=CSV, timeout=60
    )
    assert answer.status_code == 200, answer.text
    return [row["label"] for row in csv.DictReader(io.StringIO(answer.text))]


def test_the_penguins_file_is_judged_with_bad_rows_counted_and_listed(
    api: Server, penguins: pd.DataFrame
) -> None:
    text = penguins.to_csv(index=False)
    lines = text.splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")

    def spoiled(line: str, column: str, value: str) -> str:
        cells = line.rstrip("\n").split(",")
        cells[header.index(column)] = value
        return ",".join(cells) + "\n"

    bad = {
        3: spoiled(lines[3], "species", "Dodo"),  # not a class of the model
        10: spoiled(lines[10], "species", ""),  # no actual value
        20: spoiled(lines[20], "bill_length_mm", "long"),  # a feature that is not a number
        30: lines[30].rstrip("\n") + ",extra\n",  # a field too many
    }
    spoilt = "".join(bad.get(i, line) for i, line in enumerate(lines))
    answer = _evaluate(api, spoilt)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    strictly(EvaluationResponse, result)
    assert (result["rows"], result["scored"], result["failed"]) == (
        len(penguins),
        len(penguins) - 4,
        4,
    )
    assert [f["row"] for f in result["failed_rows"]] == sorted(bad)
    reasons = {f["row"]: f["error"] for f in result["failed_rows"]}
    assert "'Dodo' is not a class" in reasons[3] and "Adelie, Chinstrap, Gentoo" in reasons[3]
    assert "empty" in reasons[10]
    assert "bill_length_mm" in reasons[20]
    assert "fields" in reasons[30]
    assert result["data_sha256"] == hashlib.sha256(spoilt.encode()).hexdigest()

    # The metrics are scikit-learn's on the rows that were judged, with the API's own answers.
    good = penguins.drop(index=penguins.index[[i - 1 for i in bad]])
    actual = good["species"].tolist()
    predicted = _served_labels(api, good.to_csv(index=False))
    labels = ["Adelie", "Chinstrap", "Gentoo"]
    got = result["classification"]
    assert got["labels"] == labels
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(actual, predicted))
    assert got["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(actual, predicted))
    assert got["confusion_matrix"] == sk.confusion_matrix(actual, predicted, labels=labels).tolist()
    assert result["headline"] == {
        "name": "accuracy",
        "value": got["accuracy"],
        "higher_is_better": True,
    }
    assert 0.9 < got["accuracy"] <= 1.0 and 0.0 < got["log_loss"] < 0.3
    assert got["calibration"]["kind"] == "top_label"

    # Slices, worst first: each island's accuracy is the accuracy on that island's rows.
    slices = result["slices"]
    metrics = [s["metric"] for s in slices]
    assert metrics == sorted(metrics)
    islands = {s["value"]: s for s in slices if s["feature"] == "island"}
    assert set(islands) == {"Biscoe", "Dream", "Torgersen"}
    for island, found in islands.items():
        rows = [i for i, v in enumerate(good["island"]) if v == island]
        assert found["rows"] == len(rows)
        assert found["metric"] == pytest.approx(
            sk.accuracy_score([actual[i] for i in rows], [predicted[i] for i in rows])
        )
        assert found["difference"] == pytest.approx(found["metric"] - got["accuracy"])
    ranged = [s for s in slices if s["kind"] == "range"]
    assert ranged, "the most important numeric features are sliced by range"


def test_a_regression_is_judged_by_its_errors(api: Server, penguins: pd.DataFrame) -> None:
    answer = _evaluate(api, penguins.to_csv(index=False), MASS)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["target"] == "body_mass_g"  # the bundle's own target
    got = result["regression"]
    assert result["headline"] == {"name": "rmse", "value": got["rmse"], "higher_is_better": False}
    predicted = httpx.post(
        f"{api.url}/v1/models/{MASS}/predict",
        content=penguins.to_csv(index=False).encode(),
        headers=CSV,
        timeout=60,
    )
    values = np.array([float(r["value"]) for r in csv.DictReader(io.StringIO(predicted.text))])
    actual = penguins["body_mass_g"].to_numpy(dtype=np.float64)
    assert got["rmse"] == pytest.approx(sk.root_mean_squared_error(actual, values))
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(actual, values))
    assert got["r2"] == pytest.approx(sk.r2_score(actual, values))
    assert got["quantiles"] is None
    metrics = [s["metric"] for s in result["slices"]]
    assert metrics == sorted(metrics, reverse=True)  # worst (largest RMSE) first


def test_runs_are_stored_listed_per_version_and_read_back(
    api: Server, penguins: pd.DataFrame
) -> None:
    first = _evaluate(api, penguins.head(100).to_csv(index=False)).json()
    second = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/versions/0/evaluate",
        content=penguins.to_csv(index=False).encode(),
        headers=CSV,
        timeout=60,
    ).json()
    assert first["id"] and second["id"] and first["id"] != second["id"]
    listed = httpx.get(f"{api.url}/v1/models/{SPECIES}/evaluations", timeout=10)
    assert listed.status_code == 200, listed.text
    strictly(EvaluationList, listed.json())
    runs = listed.json()["evaluations"]
    ids = [r["id"] for r in runs]
    assert ids.index(second["id"]) < ids.index(first["id"])  # newest first
    summary = next(r for r in runs if r["id"] == second["id"])
    assert summary == {k: second[k] for k in summary}
    assert (summary["rows"], summary["source"]) == (len(penguins), "csv")
    version_0 = httpx.get(
        f"{api.url}/v1/models/{SPECIES}/evaluations", params={"version": "0"}, timeout=10
    ).json()["evaluations"]
    assert second["id"] in [r["id"] for r in version_0]
    assert first["id"] not in [r["id"] for r in version_0]
    assert httpx.get(
        f"{api.url}/v1/models/{SPECIES}/evaluations", params={"version": "7"}, timeout=10
    ).json() == {"evaluations": []}
    assert (
        httpx.get(
            f"{api.url}/v1/models/{SPECIES}/evaluations", params={"limit": 1}, timeout=10
        ).json()["evaluations"][0]["id"]
        == ids[0]
    )
    read = httpx.get(f"{api.url}/v1/evaluations/{second['id']}", timeout=10)
    assert read.status_code == 200
    assert read.json() == second
    _error(
        httpx.get(f"{api.url}/v1/evaluations/{'0' * 32}", timeout=10), 404, "evaluation_not_found"
    )
    _error(httpx.get(f"{api.url}/v1/evaluations/not-an-id", timeout=10), 422, "invalid_input")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda f: f.drop(columns="species"), "target column 'species'"),
        (lambda f: f.drop(columns="island"), "island"),
    ],
)
def test_a_file_without_its_columns_says_which(
    api: Server, penguins: pd.DataFrame, change: Any, words: str
) -> None:
    message = _error(_evaluate(api, change(penguins).to_csv(index=False)), 422, "invalid_input")
    assert words in message


@pytest.mark.parametrize("change", [lambda f: f.assign(species="Dodo"), lambda f: f.head(0)])
def test_a_file_with_no_row_to_judge_is_answered_with_its_reasons(
    api: Server, penguins: pd.DataFrame, change: Any
) -> None:
    spoilt = change(penguins)
    answer = _evaluate(api, spoilt.to_csv(index=False))
    assert answer.status_code == 200, answer.text
    result = strictly(EvaluationResponse, answer.json())
    assert (result.rows, result.scored, result.failed) == (len(spoilt), 0, len(spoilt))
    assert result.headline.value is None and result.classification is None
    assert any("no row could be scored" in note for note in result.notes)
    assert all("'Dodo' is not a class" in f.error for f in result.failed_rows)


def test_mistakes_in_the_request_are_named(api: Server, penguins: pd.DataFrame) -> None:
    text = penguins.to_csv(index=False)
    assert "is one of the model's features" in _error(
        _evaluate(api, text, target="island"), 422, "invalid_input"
    )
    assert "target column 'weight'" in _error(
        _evaluate(api, text, target="weight"), 422, "invalid_input"
    )
    json_body = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/evaluate", json={"instances": []}, timeout=10
    )
    assert "text/csv" in _error(json_body, 415, "unsupported_media_type")
    _error(_evaluate(api, ""), 400, "bad_request")
    _error(_evaluate(api, text, delimiter="x"), 400, "bad_request")
    _error(_evaluate(api, text, model="no-such-model"), 404, "model_not_found")


def test_without_the_prediction_log_an_evaluation_is_answered_not_stored(
    example_repository: Path, tmp_path: Path, penguins: pd.DataFrame
) -> None:
    server = start_api(example_repository, tmp_path, MODEL_API_PREDICTION_LOG="false")
    try:
        answer = _evaluate(server, penguins.to_csv(index=False))
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["id"] is None
        assert any("not stored" in note for note in result["notes"])
        _error(
            httpx.get(f"{server.url}/v1/models/{SPECIES}/evaluations", timeout=10),
            503,
            "feedback_unavailable",
        )
    finally:
        server.stop()


def test_one_evaluation_at_a_time_the_next_is_told_to_retry(
    api: Server, penguins: pd.DataFrame
) -> None:
    text = penguins.to_csv(index=False).encode()
    started = threading.Event()

    def trickle() -> Iterator[bytes]:
        yield text[:100]
        started.set()
        time.sleep(1.5)  # the first evaluation holds the server's one slot meanwhile
        yield text[100:]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            httpx.post,
            f"{api.url}/v1/models/{SPECIES}/evaluate",
            content=trickle(),
            headers=CSV,
            timeout=60,
        )
        assert started.wait(10)
        time.sleep(0.3)
        busy = _evaluate(api, text.decode())
        assert first.result().status_code == 200
    assert "MODEL_API_MAX_CONCURRENT_EVALUATIONS" in _error(busy, 503, "overloaded")
    assert busy.headers["retry-after"] == "1"
    assert _evaluate(api, text.decode()).status_code == 200  # the slot is free again


def _peak_memory_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_a_million_rows_are_judged_in_bounded_memory(
    example_repository: Path, tmp_path: Path, penguins: pd.DataFrame
) -> None:
    rows = 1_000_000
    repeated = penguins.iloc[np.arange(rows) % len(penguins)]
    text = repeated.to_csv(index=False).encode()
    server = start_api(
        example_repository,
        tmp_path,
        MODEL_API_PREDICTION_LOG="false",
        MODEL_API_MAX_EVALUATE_ROWS=str(rows),
    )
    try:
        warm = _evaluate(server, penguins.to_csv(index=False))
        assert warm.status_code == 200
        before = _peak_memory_kib(server.process.pid)
        answer = httpx.post(
            f"{server.url}/v1/models/{SPECIES}/evaluate", content=text, headers=CSV, timeout=600
        )
        assert answer.status_code == 200, answer.text[:500]
        result = answer.json()
        assert (result["rows"], result["scored"]) == (rows, rows - result["failed"])
        grown_mib = (_peak_memory_kib(server.process.pid) - before) / 1024
        print(
            f"1,000,000 rows ({len(text) >> 20} MiB of CSV): peak memory grew {grown_mib:.0f} MiB"
        )
        # A few numbers per row (at the peak, ROC AUC's sort of every row's scores) and never
        # the parsed text: the file's cells as Python strings would take over 500 MiB.
        assert grown_mib < 200
        # One row more than the limit is refused, naming the setting.
        over = text + text.splitlines(keepends=True)[1]
        message = _error(
            httpx.post(
                f"{server.url}/v1/models/{SPECIES}/evaluate", content=over, headers=CSV, timeout=600
            ),
            413,
            "payload_too_large",
        )
        assert "MODEL_API_MAX_EVALUATE_ROWS" in message
    finally:
        server.stop()


def test_the_feedback_so_far_is_an_evaluation_source(api: Server, penguins: pd.DataFrame) -> None:
    rows = penguins.drop(columns=["species", "year"]).head(12)
    instances = [
        {k: (None if pd.isna(v) else v) for k, v in row.items()} for row in rows.to_dict("records")
    ]
    answer = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/predict",
        json={"instances": instances},
        headers={"X-Prediction-Source": "ui"},
        timeout=10,
    )
    predictions = answer.json()["predictions"]
    labels = ["Adelie", "Chinstrap", "Gentoo"]
    author = f"evaluator-{time.time_ns()}"
    expected_actual: list[str] = []
    expected_predicted: list[str] = []
    for i, prediction in enumerate(predictions):
        other = next(label for label in labels if label != prediction["label"])
        if i < 6:
            body = {"verdict": "right"}  # the actual class: the one predicted
            expected_actual.append(prediction["label"])
        elif i < 10:
            body = {"verdict": "wrong", "actual": other}
            expected_actual.append(other)
        else:  # wrong, but which class it is nobody said: left out, listed
            body = {"verdict": "wrong"}
        if i < 10:
            expected_predicted.append(prediction["label"])
        posted = httpx.post(
            f"{api.url}/v1/feedback",
            json={"prediction_id": prediction["id"], "author": author, **body},
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
    since = httpx.get(f"{api.url}/v1/predictions/{predictions[0]['id']}", timeout=10)
    assert since.status_code == 200
    judged_at = since.json()["feedback"][0]["updated_at"]
    evaluated = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/feedback/evaluate",
        params={"since": judged_at},
        timeout=30,
    )
    assert evaluated.status_code == 200, evaluated.text
    result = strictly(EvaluationResponse, evaluated.json())
    assert (result.source, result.rows, result.scored, result.failed) == ("feedback", 12, 10, 2)
    assert all("without the actual class" in f.error for f in result.failed_rows)
    assert result.classification is not None
    assert result.classification.accuracy == pytest.approx(0.6)
    assert (
        result.classification.confusion_matrix
        == sk.confusion_matrix(expected_actual, expected_predicted, labels=labels).tolist()
    )
    stored = httpx.get(f"{api.url}/v1/evaluations/{result.id}", timeout=10).json()
    assert stored["source"] == "feedback" and stored["scored"] == 10


def _compare(api: Server, text: str, version: str = "0", **params: str) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/models/{SPECIES}/versions/{version}/compare",
        params=params,
        content=text.encode(),
        headers=CSV,
        timeout=120,
    )


def test_two_versions_are_compared_on_the_same_rows(api: Server, penguins: pd.DataFrame) -> None:
    text = penguins.to_csv(index=False)
    answer = _compare(api, text, other_version="1")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    strictly(ComparisonResponse, result)
    assert (result["version"], result["other_model"], result["other_version"]) == (
        "0",
        SPECIES,
        "1",
    )
    weak, strong = result["evaluations"]
    assert (weak["version"], strong["version"]) == ("0", "1")
    # Without other_version, the newest compares with the newest other: 1 with 0.
    default = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/compare", content=text.encode(), headers=CSV, timeout=120
    ).json()
    assert (default["version"], default["other_version"]) == ("1", "0")
    assert weak["scored"] == strong["scored"] == result["scored"] == len(penguins)
    # Each evaluation is the one evaluate gives for that version (and is stored as a run).
    for evaluated in (weak, strong):
        alone = httpx.post(
            f"{api.url}/v1/models/{SPECIES}/versions/{evaluated['version']}/evaluate",
            content=text.encode(),
            headers=CSV,
            timeout=60,
        ).json()
        assert evaluated["classification"] == alone["classification"]
        assert evaluated["id"] and evaluated["id"] != alone["id"]

    # The difference: the other's accuracy minus this one's, inside its bootstrap interval.
    difference = result["difference"]
    gain = strong["classification"]["accuracy"] - weak["classification"]["accuracy"]
    assert difference["metric"] == "accuracy"
    assert difference["value"] == pytest.approx(gain)
    assert difference["lower"] <= difference["value"] <= difference["upper"]
    assert (difference["confidence"], difference["resamples"]) == (0.95, 1000)
    assert gain > 0.02 and difference["lower"] > 0  # version 1 is plainly better here
    assert difference["better"] == f"{SPECIES}@1"
    # The same file gives the same interval (the resampling is seeded).
    again = _compare(api, text, other_version="1").json()["difference"]
    assert (again["lower"], again["upper"]) == (difference["lower"], difference["upper"])

    # Disagreements: the rows whose answers differ, with both answers and the actual.
    served = {v: _served_labels_of(api, v, penguins.to_csv(index=False)) for v in ("1", "0")}
    differ = [i for i, (a, b) in enumerate(zip(served["0"], served["1"], strict=True)) if a != b]
    disagreements = result["disagreements"]
    assert disagreements["rows"] == len(differ)
    assert disagreements["share"] == pytest.approx(len(differ) / len(penguins))
    assert disagreements["tolerance"] is None
    listed = disagreements["listed"]
    assert [d["row"] for d in listed] == [i + 1 for i in differ[:100]]
    first = differ[0]
    assert listed[0]["answers"] == [served["0"][first], served["1"][first]]
    assert listed[0]["actual"] == penguins["species"].iloc[first]


def _served_labels_of(api: Server, version: str, text: str) -> list[str]:
    answer = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/versions/{version}/predict",
        content=text.encode(),
        headers=CSV,
        timeout=60,
    )
    return [row["label"] for row in csv.DictReader(io.StringIO(answer.text))]


def test_a_regression_compared_with_itself_differs_by_nothing(
    api: Server, penguins: pd.DataFrame
) -> None:
    answer = httpx.post(
        f"{api.url}/v1/models/{MASS}/compare",
        content=penguins.to_csv(index=False).encode(),
        headers=CSV,
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["other_version"] == result["version"] == "1"  # its only version
    difference = result["difference"]
    assert difference["metric"] == "rmse"
    assert (difference["value"], difference["lower"], difference["upper"]) == (0.0, 0.0, 0.0)
    assert difference["better"] is None
    assert result["disagreements"]["rows"] == 0
    spread = float(np.std(penguins["body_mass_g"].to_numpy(dtype=np.float64)))
    assert result["disagreements"]["tolerance"] == pytest.approx(0.1 * spread)


def test_models_that_cannot_be_compared_are_named(api: Server, penguins: pd.DataFrame) -> None:
    text = penguins.to_csv(index=False)
    message = _error(_compare(api, text, other_model=MASS), 422, "invalid_input")
    assert "cannot be compared" in message and "features differ" in message
    _error(_compare(api, text, other_version="9"), 404, "model_not_found")
    _error(_compare(api, text, other_version="1", tolerance="-1"), 422, "invalid_input")


def test_a_quantile_models_point_metrics_are_of_the_quantile_nearest_the_median() -> None:
    from types import SimpleNamespace

    from model_api.protocol.evaluate import point_quantile

    def outputs(*alphas: float | None) -> Any:
        return SimpleNamespace(outputs=[SimpleNamespace(quantile=a) for a in alphas])

    assert point_quantile(outputs(0.1, 0.5, 0.9)) == 1
    assert point_quantile(outputs(0.05, 0.45, 0.55, 0.95)) == 1  # two as near: the lower
    assert point_quantile(outputs(0.9)) == 0
    assert point_quantile(outputs(None, None)) == 0  # several targets: not quantiles
    assert point_quantile(SimpleNamespace(outputs=None)) == 0


def test_importance_of_a_booster_without_feature_names_is_read_by_column() -> None:
    import xgboost as xgb
    from model_api.evaluation import gain_by_feature

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(x, label=x[:, 2]), 5)
    assert booster.feature_names is None
    scores = booster.get_score(importance_type="total_gain")
    assert set(scores) <= {"f0", "f1", "f2"} and "f2" in scores
    gains = gain_by_feature(scores, ["a", "b", "c"], named=False)
    assert max(gains, key=gains.__getitem__) == "c"  # the column the label is made of
    assert gain_by_feature({"c": 1.5, "zzz": 2.0}, ["a", "c"], named=True) == {"c": 1.5}
