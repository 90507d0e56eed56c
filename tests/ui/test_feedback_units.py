"""Pure helpers of the UI's feedback loop: verdicts, the confirmation, tables, ground truth."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest
from model_contract import Feature, ModelMetadata
from model_ui import csvbatch, feedback
from model_ui.client import ApiClient
from model_ui.schemas import Feedback, FeedbackItem, FeedbackSummary, IdentifiedPredictions
from model_ui.settings import UISettings

from tests.ui.helpers import plain


def metadata(task: str = "multiclass", **extra: object) -> ModelMetadata:
    return ModelMetadata.model_validate(
        {
            "name": "m",
            "version": "1",
            "task": task,
            "features": [Feature(name="size", type="numeric").model_dump()],
            "target": "species",
            "class_labels": ["Adelie", "Gentoo"] if task != "regression" else None,
            "created_at": "2026-01-01T00:00:00Z",
            "xgboost_version": "3.0",
            "model_file": "model.ubj",
            "model_sha256": "0" * 64,
            "versions": ["1"],
            "endpoints": {},
            **extra,
        }
    )


def test_thumbs_become_verdicts() -> None:
    assert feedback.verdict_of(0) == "wrong"
    assert feedback.verdict_of(1) == "right"
    assert feedback.verdict_of(None) is None


def test_the_confirmation_says_what_the_api_stored_as_text() -> None:
    saved = Feedback(
        prediction_id="0" * 20 + "-0",
        verdict="wrong",
        actual="Gentoo",
        comment="[click](http://evil.example) <b>bold</b>",
        author="**Ann**",
    )
    text = feedback.confirmation(saved, created=True)
    assert plain(text) == (
        "Saved: verdict **wrong**, actual **Gentoo**, comment "
        "“[click](http://evil.example) <b>bold</b>”, as **Ann**."
    )
    assert "](http" not in text and "<b>" not in text  # no link, no HTML
    assert plain(feedback.confirmation(saved.model_copy(update={"comment": None}), False)) == (
        "Updated your earlier feedback: verdict **wrong**, actual **Gentoo**, comment none, "
        "as **Ann**."
    )


def test_actuals_are_offered_for_one_answer_only() -> None:
    assert feedback.takes_actual(metadata())
    assert feedback.takes_actual(metadata("regression"))
    two = [{"name": "a"}, {"name": "b"}]
    assert not feedback.takes_actual(metadata("regression", outputs=two))


def test_the_table_has_the_judgement_then_the_inputs() -> None:
    item = FeedbackItem(
        prediction_id="a" * 20 + "-3",
        version="2",
        verdict="wrong",
        actual="Gentoo",
        comment="=cmd()",
        author="Ann",
        inputs={"size": 4.5, "extra": "x"},
        output={"label": "Adelie", "probabilities": {"Adelie": 0.9}},
        updated_at="2026-03-01T10:00:00Z",  # type: ignore[arg-type]
    )
    frame = feedback.items_frame([item], ["size", "missing"])
    assert list(frame.columns) == [
        "judged at",
        "version",
        "predicted",
        "verdict",
        "actual",
        "author",
        "comment",
        "size",
        "missing",
        "extra",
        "prediction id",
        "predicted at",
    ]
    line = frame.iloc[0]
    assert (line["predicted"], line["actual"], line["comment"]) == ("Adelie", "Gentoo", "=cmd()")
    assert line["size"] == 4.5 and line["missing"] is None and line["extra"] == "x"
    assert feedback.predicted({"value": 1.5}) == "1.5"
    assert feedback.predicted({"values": {"q0.5": 2.0}}) == "q0.5 2"


def test_agreement_frames_leave_out_days_without_verdicts() -> None:
    summary = FeedbackSummary.model_validate(
        {
            "versions": [{"version": "1", "judged": 4, "right": 3, "wrong": 1, "agreement": 0.75}],
            "daily": [
                {"day": "2026-03-01", "version": "1", "judged": 4, "right": 3, "agreement": 0.75},
                {"day": "2026-03-02", "version": "1", "judged": 0, "right": 0, "agreement": None},
            ],
            "total_feedback": 5,
        }
    )
    assert feedback.versions_frame(summary).to_dict("records") == [
        {"version": "1", "judged": 4, "right": 3, "wrong": 1, "agreement": 0.75}
    ]
    daily = feedback.daily_frame(summary)
    assert list(daily["day"]) == [pd.Timestamp("2026-03-01")]
    assert feedback.agreement_text(0.75) == "75%" and feedback.agreement_text(None) == "–"


def test_ground_truth_pairs_each_scored_row_with_its_actual() -> None:
    upload = csvbatch.parse_upload(b"size,species\n1,Gentoo\n2,\nabc,Adelie\n4, Adelie \n")
    scored = pd.DataFrame(
        {
            "row": [1, 2, 3, 4],
            "prediction_id": ["t-0", "t-1", "", "t-3"],
            "error": ["", "", "not a number", ""],
        }
    )
    truth = feedback.ground_truth(upload, scored, "species", metadata())
    assert truth.rows == [("t-0", "Gentoo"), ("t-3", "Adelie")]
    assert (truth.blank, truth.unscored, truth.not_numbers) == (1, 1, 0)

    numbers = csvbatch.parse_upload(b"size,y\n1,2.5\n2,nan\n3,x\n")
    scored = pd.DataFrame({"row": [1, 2, 3], "prediction_id": ["t-0", "t-1", "t-2"]})
    truth = feedback.ground_truth(numbers, scored, "y", metadata("regression"))
    assert truth.rows == [("t-0", 2.5)] and truth.not_numbers == 2


def test_author_names_are_trimmed_to_what_the_api_keeps() -> None:
    assert feedback.clean_author("  Ann  ") == "Ann"
    assert feedback.clean_author(None) == ""
    assert len(feedback.clean_author("x" * 300)) == 100


class Recorder(BaseHTTPRequestHandler):
    """A real HTTP server that records each request (path, query, headers) and answers like the
    API would: a prediction with an id, an empty feedback page, an empty summary."""

    seen: list[tuple[str, dict[str, str], dict[str, str]]] = []  # noqa: RUF012  (reset per test)

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        Recorder.seen.append((url.path, dict(parse_qsl(url.query)), dict(self.headers.items())))
        body: dict[str, object] = {"model": "m", "items": [], "next_cursor": None}
        content_type = "application/json"
        if url.path.endswith("/predict") and "csv" in self.headers.get("Content-Type", ""):
            content_type, text = "text/csv", "row,prediction_id,label,error\n1,x-0,Adelie,\n"
        elif url.path.endswith("/predict"):
            row = {"id": "b" * 20 + "-0", "label": "Adelie"}
            body = {"model": "m", "version": "1", "predictions": [row]}
        elif url.path.endswith("/summary"):
            body = {"model": "m", "days": 7}
        payload = text.encode() if content_type == "text/csv" else json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder_url() -> Iterator[str]:
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_client_marks_predictions_as_the_uis_and_sends_filters(recorder_url: str) -> None:
    api = ApiClient(UISettings(api_url=recorder_url))
    scored = api.predict("m", "1", [{"size": 1.0}])
    assert scored.ids == ["b" * 20 + "-0"] and isinstance(scored, IdentifiedPredictions)
    api.predict_csv("m", None, "size\n1\n")
    assert [h.get("X-Prediction-Source") for _, _, h in Recorder.seen] == ["ui", "ui"]

    api.feedback_page("m", version="2", verdict="wrong", since=date(2026, 3, 1),
                      until=date(2026, 3, 31), limit=50)  # fmt: skip
    path, query, headers = Recorder.seen[-1]
    assert path == "/v1/models/m/feedback"
    assert query == {
        "version": "2",
        "verdict": "wrong",
        "since": "2026-03-01T00:00:00Z",
        "until": "2026-04-01T00:00:00Z",  # the whole last day
        "limit": "50",
    }
    assert "X-Prediction-Source" not in headers  # reads are not predictions
    api.feedback_summary("m", days=7)
    assert Recorder.seen[-1][:2] == ("/v1/models/m/feedback/summary", {"days": "7"})
    api.close()


def test_inputs_are_listed_features_first() -> None:
    text = feedback.inputs_text({"z": 1, "size": None, "colour": "red"}, ["size", "colour"])
    assert text == "size missing · colour red · z 1"
