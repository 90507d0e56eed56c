"""The feedback loop in the UI (AppTest) against a real API recording predictions in SQLite:
the Predict widget, the Batch page's ground truth, the Feedback page and Monitoring's agreement.
Each figure the UI shows is checked against what the API itself answers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from tests.support import Server, start_api
from tests.ui.helpers import FORM_ROW, api_json, chart_data, open_app, plain, texts

SPECIES = "penguin-species"
COMMENT = "Look at the flippers: [surely](http://evil.example) <b>Gentoo</b>"
# Real penguins with their species: the model gets some right and (we make sure) one wrong.
HEADER = "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex,species"
ROWS = [
    "39.1,18.7,181,3750,Torgersen,male,Adelie",
    "46.5,17.9,192,3500,Dream,female,Chinstrap",
    "50.0,15.2,218,5700,Biscoe,male,Gentoo",
    "abc,17.0,197,4050,Biscoe,male,Adelie",  # rejected by the API: left out
    "49.5,19.0,200,3800,Dream,male,",  # no actual: left out
    "45.2,14.8,212,5200,Biscoe,female,Adelie",  # a Gentoo called an Adelie: judged wrong
]
UPLOAD = ("\n".join([HEADER, *ROWS]) + "\n").encode()


@pytest.fixture(scope="module")
def feedback_api(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """An API of its own (its own SQLite database), so the feedback the tests see is theirs."""
    server = start_api(
        example_repository,
        tmp_path_factory.mktemp("feedback-api"),
        MODEL_API_PREDICTION_LOG="true",
        MODEL_API_PREDICTION_LOG_SAMPLE_RATE="0",  # API clients unsampled: the UI is always kept
    )
    yield server
    server.stop()


@pytest.fixture
def feedback_env(monkeypatch: pytest.MonkeyPatch, feedback_api: Server) -> Server:
    monkeypatch.setenv("MODEL_UI_API_URL", feedback_api.url)
    monkeypatch.delenv("MODEL_UI_API_KEY", raising=False)
    monkeypatch.setenv("MODEL_UI_RETRY_BACKOFF_SECONDS", "0.05")
    return feedback_api


def predict(at: AppTest, row: dict[str, Any]) -> str:
    """Fill the Predict form with ``row``, press Predict; the answer's prediction id."""
    for name, value in row.items():
        widget_key = f"feature:{SPECIES}:1:{name}"
        if isinstance(value, str):
            at.selectbox(key=widget_key).set_value(value)
        else:
            at.number_input(key=widget_key).set_value(value)
    at.button[0].click().run()
    assert not at.exception, at.exception
    save = next(b for b in at.button if (b.key or "").startswith("save:"))
    return str(save.key).removeprefix("save:")


def test_predict_feedback_is_saved_confirmed_and_remembered(feedback_env: Server) -> None:
    at = open_app(model=SPECIES)
    prediction_id = predict(at, FORM_ROW)
    logged = api_json(feedback_env, "GET", f"/v1/predictions/{prediction_id}")
    assert logged["source"] == "ui"  # the UI's predictions say so (X-Prediction-Source: ui)
    assert logged["inputs"] == FORM_ROW
    predicted = logged["output"]["label"]
    assert at.metric[0].value == predicted

    # Saving with nothing to say, or without a name, is refused before anything is sent.
    at.button(key=f"save:{prediction_id}").click().run()
    assert "Give a thumbs up or down, or say what it should have been" in texts(at)
    at.feedback[0].set_value(0)  # thumbs down
    at.selectbox(key=f"actual:{prediction_id}").set_value("Gentoo")
    at.text_area(key=f"comment:{prediction_id}").input(COMMENT)
    at.button(key=f"save:{prediction_id}").click().run()
    assert "Say who you are" in texts(at)
    assert api_json(feedback_env, "GET", f"/v1/predictions/{prediction_id}")["feedback"] == []

    at.text_input(key="feedback_author_input").input("  Ann  ").run()
    at.button(key=f"save:{prediction_id}").click().run()
    assert not at.exception and not at.error
    (saved,) = [s for s in at.success if s.value.startswith("Saved")]
    assert plain(saved.value) == (
        f"Saved: verdict **wrong**, actual **Gentoo**, comment “{COMMENT}”, as Ann."
    )
    assert "](http" not in saved.value and "<b>" not in saved.value  # shown as text
    (stored,) = api_json(feedback_env, "GET", f"/v1/predictions/{prediction_id}")["feedback"]
    assert (stored["verdict"], stored["actual"], stored["comment"], stored["author"]) == (
        "wrong",
        "Gentoo",
        COMMENT,
        "Ann",
    )
    assert at.query_params["author"] == "Ann"  # a reload keeps it

    # Again for the same prediction and author: the API updates it, and the UI says so.
    at.feedback[0].set_value(1)
    at.selectbox(key=f"actual:{prediction_id}").set_value(None)
    at.text_area(key=f"comment:{prediction_id}").input("")
    at.button(key=f"save:{prediction_id}").click().run()
    assert plain(at.success[0].value) == (
        "Updated your earlier feedback: verdict **right**, actual **not given**, comment none, "
        "as Ann."
    )

    # A new session opened from the address: the name is there, nothing to type.
    again = AppTest.from_file(at._script_path, default_timeout=60)
    again.query_params["author"] = "Ann"
    again.run()
    again.sidebar.selectbox(key="model").set_value(SPECIES).run()
    predict(again, FORM_ROW)
    assert again.text_input(key="feedback_author_input").value == "Ann"


def test_an_actual_alone_is_judged_by_the_api(feedback_env: Server) -> None:
    at = open_app(model=SPECIES)
    prediction_id = predict(at, FORM_ROW)
    predicted = api_json(feedback_env, "GET", f"/v1/predictions/{prediction_id}")["output"]
    at.text_input(key="feedback_author_input").input("Bo").run()
    at.selectbox(key=f"actual:{prediction_id}").set_value(predicted["label"])
    at.button(key=f"save:{prediction_id}").click().run()
    assert plain(at.success[0].value).startswith(
        f"Saved: verdict **right**, actual **{predicted['label']}**"
    )


def scored_by_the_api(server: Server) -> dict[int, dict[str, str]]:
    response = httpx.post(
        f"{server.url}/v1/models/{SPECIES}/predict",
        content=UPLOAD,
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    return {int(r["row"]): r for r in csv.DictReader(io.StringIO(response.text))}


def test_batch_sends_the_files_actual_column_as_ground_truth(feedback_env: Server) -> None:
    at = open_app("batch")
    at.file_uploader[0].set_value(("penguins.csv", UPLOAD, "text/csv")).run()
    next(b for b in at.button if b.label.startswith("Score")).click().run()
    assert not at.exception
    column = next(s for s in at.selectbox if (s.key or "").startswith("actual_column:"))
    assert column.value == "species"  # the model's target, picked for you
    assert "4 rows have an actual species in species; left out: 1 with the column empty, 1 " in (
        texts(at)
    )
    send = next(b for b in at.button if b.label.startswith("Send"))
    assert send.label == "Send 4 rows as ground truth"
    send.click().run()
    assert "Say who you are" in texts(at)
    at.text_input(key="feedback_author_input").input("Batch Bot").run()
    next(b for b in at.button if b.label.startswith("Send")).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Sent 4 actual answers from species as ground truth: 4 new, 0 updated." in texts(at)

    scored = next(df.value for df in at.dataframe if "prediction_id" in df.value.columns)
    expected = scored_by_the_api(feedback_env)  # the same rows: the same answers
    verdicts = []
    for line in scored.itertuples():
        actual = ROWS[int(line.row) - 1].rsplit(",", 1)[1]
        if not line.prediction_id:  # rejected: no id
            assert line.error
            continue
        logged = api_json(feedback_env, "GET", f"/v1/predictions/{line.prediction_id}")
        if not actual:
            assert logged["feedback"] == []
            continue
        (feedback,) = logged["feedback"]
        assert logged["output"]["label"] == expected[int(line.row)]["label"] == line.label
        assert feedback["actual"] == actual and feedback["author"] == "Batch Bot"
        verdicts.append(feedback["verdict"])
        assert feedback["verdict"] == ("right" if actual == line.label else "wrong")
    assert len(verdicts) == 4 and "wrong" in verdicts and "right" in verdicts

    next(b for b in at.button if b.label.startswith("Send")).click().run()  # again: updates
    assert "Sent 4 actual answers from species as ground truth: 0 new, 4 updated." in texts(at)


def test_feedback_page_shows_judged_predictions_agreement_comments_and_export(
    feedback_env: Server, capture_downloads: list[tuple[str | None, bytes]]
) -> None:
    at = open_app(model=SPECIES)
    prediction_id = predict(at, FORM_ROW)
    at.text_input(key="feedback_author_input").input("Cy").run()
    at.feedback[0].set_value(0)
    at.selectbox(key=f"actual:{prediction_id}").set_value("Gentoo")
    at.text_area(key=f"comment:{prediction_id}").input(COMMENT)
    at.button(key=f"save:{prediction_id}").click().run()
    capture_downloads.clear()
    at.switch_page("app_pages/feedback.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert plain(at.title[0].value) == f"Feedback · {SPECIES}"

    today = date.today()
    window = {
        "since": f"{today - timedelta(days=29)}T00:00:00Z",
        "until": f"{today + timedelta(days=1)}T00:00:00Z",
    }
    page = api_json(feedback_env, "GET", f"/v1/models/{SPECIES}/feedback", params=window)
    table = next(df.value for df in at.dataframe if "prediction id" in df.value.columns)
    assert list(table["prediction id"]) == [i["prediction_id"] for i in page["items"]]
    line = table[table["prediction id"] == prediction_id].iloc[0]
    assert (line["verdict"], line["actual"], line["author"], line["comment"]) == (
        "wrong",
        "Gentoo",
        "Cy",
        COMMENT,
    )
    assert {k: line[k] for k in FORM_ROW} == FORM_ROW  # the inputs it was made with
    assert f"Cy on version 1 · predicted {line['predicted']} · verdict wrong" in texts(at)
    assert COMMENT in texts(at)  # the comment, as text
    links = {t for m in at.markdown for t in re.findall(r"(?<!\\)\]\((http[^)]*)\)", m.value)}
    assert all("evil.example" not in t for t in links), links  # only the sidebar's API docs link

    summary = api_json(
        feedback_env, "GET", f"/v1/models/{SPECIES}/feedback/summary", params={"days": 30}
    )
    (version,) = summary["versions"]
    assert {m.label: m.value for m in at.metric}["Version 1"] == f"{version['agreement']:.0%}"
    (daily,) = chart_data(at)
    assert [(r["version"], r["agreement"]) for r in daily] == [
        (d["version"], pytest.approx(d["agreement"]))
        for d in summary["daily"]
        if d["agreement"] is not None
    ]

    export = httpx.get(
        f"{feedback_env.url}/v1/models/{SPECIES}/feedback/export", params=window, timeout=30
    )
    assert capture_downloads == [(f"{SPECIES}-feedback.csv", export.content)]
    rows = list(csv.DictReader(io.StringIO(export.text)))
    mine = next(r for r in rows if r["prediction_id"] == prediction_id)
    assert mine["species"] == "Gentoo" and mine["comment"] == COMMENT

    # Filters reach the API: only the right ones.
    at.selectbox(key="feedback_verdict").set_value("Right").run()
    table = next(df.value for df in at.dataframe if "prediction id" in df.value.columns)
    assert set(table["verdict"]) <= {"right"}


def test_monitoring_shows_the_agreement_rate_and_feedback_counts(feedback_env: Server) -> None:
    at = open_app(model=SPECIES)
    prediction_id = predict(at, FORM_ROW)
    at.text_input(key="feedback_author_input").input("Dee").run()
    at.feedback[0].set_value(0)
    at.button(key=f"save:{prediction_id}").click().run()
    at.switch_page("app_pages/monitoring.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    summary = api_json(
        feedback_env, "GET", f"/v1/models/{SPECIES}/feedback/summary", params={"days": 30}
    )
    judged = sum(v["judged"] for v in summary["versions"])
    right = sum(v["right"] for v in summary["versions"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Feedback given"] == f"{summary['total_feedback']:,}"
    assert metrics["Judged (with a verdict)"] == f"{judged:,}"
    assert metrics["Judged wrong"] == f"{judged - right:,}"
    assert metrics["Agreement (right / judged)"] == f"{right / judged:.0%}"
    versions = next(df.value for df in at.dataframe if "agreement" in df.value.columns)
    assert list(versions["judged"]) == [v["judged"] for v in summary["versions"]]
    assert "Feedback on penguin-species" in texts(at)


def test_without_the_prediction_log_nothing_asks_for_feedback(
    example_repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_api(example_repository, tmp_path, MODEL_API_PREDICTION_LOG="false")
    try:
        monkeypatch.setenv("MODEL_UI_API_URL", server.url)
        at = open_app(model=SPECIES)
        at.button[0].click().run()
        assert not at.exception
        assert "cannot be judged here" in texts(at)
        assert not at.feedback and not any((b.key or "").startswith("save:") for b in at.button)
        at.switch_page("app_pages/feedback.py").run()
        assert not at.exception and not at.error
        assert "Feedback is not available now" in texts(at)
        at.switch_page("app_pages/monitoring.py").run()
        assert not at.error and "No feedback:" in texts(at)
    finally:
        server.stop()
