"""Pure helpers of the UI: metrics parsing, CSV work, feature defaults, the CLI and settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from model_contract import Feature, ModelMetadata
from model_ui import cli, csvbatch, features, prom
from model_ui.settings import UISettings

from tests.support import ROOT

METRICS = """\
# TYPE model_api_http_requests_total counter
model_api_http_requests_total{method="POST",route="/v1/models/{name}/predict",status="200"} 8.0
model_api_http_requests_total{method="POST",route="/v1/models/{name}/predict",status="422"} 2.0
# TYPE model_api_http_request_duration_seconds histogram
model_api_http_request_duration_seconds_bucket{le="0.01",method="POST",route="/v1/models/{name}/predict"} 4.0
model_api_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/v1/models/{name}/predict"} 10.0
model_api_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/models/{name}/predict"} 10.0
model_api_http_request_duration_seconds_count{method="POST",route="/v1/models/{name}/predict"} 10.0
model_api_http_request_duration_seconds_sum{method="POST",route="/v1/models/{name}/predict"} 0.3
# TYPE model_api_predictions_total counter
model_api_predictions_total{label="Adelie",model="penguin-species",version="1"} 5.0
# TYPE model_api_ready gauge
model_api_ready 1.0
# TYPE python_info gauge
python_info{version="3.12.1"} 1.0
"""


def test_metrics_are_parsed_and_quantiles_interpolated() -> None:
    snapshot = prom.parse(METRICS, at=100.0)
    assert snapshot.total_requests == 10 and snapshot.failed_requests == 2
    assert snapshot.predictions == {("penguin-species", "1", "Adelie"): 5.0}
    assert snapshot.ready == 1.0
    buckets = snapshot.all_latency()
    assert prom.quantile(0.4, buckets) == pytest.approx(0.01)
    assert prom.quantile(0.5, buckets) == pytest.approx(0.01 + 0.09 * (1 / 6))
    assert prom.quantile(0.5, {}) is None

    later = prom.parse(METRICS.replace("} 8.0", "} 18.0").replace("} 10.0", "} 20.0"), at=110.0)
    window = prom.window(later, snapshot)
    assert window.request_rate == pytest.approx(1.0)
    assert window.error_rate == 0
    assert window.latency[0.5] == pytest.approx(0.01 + 0.09 * 0.5)


SPECIES = ModelMetadata(
    name="m",
    version="1",
    versions=["1"],
    endpoints={},
    task="multiclass",
    class_labels=["a", "b", "c"],
    created_at="2026-01-01T00:00:00Z",
    xgboost_version="3.4.1",
    model_file="model.ubj",
    model_sha256="0" * 64,
    features=[
        Feature(name="x", type="numeric", min=1.0, max=3.0, default=2.5),
        Feature(name="n", type="integer", min=0, max=9, default=4),
        Feature(name="flag", type="boolean", default=True),
        Feature(name="colour", type="categorical", categories=["red", "blue"], default="blue"),
    ],
)


def test_csv_upload_checks_and_assembly() -> None:
    upload = csvbatch.parse_upload(
        "\ufeffx;n;flag;other\n1;2;true;z\n\n4;5;no;w\n".encode(), "auto"
    )
    assert (
        upload.delimiter == ";"
        and upload.header == ["x", "n", "flag", "other"]
        and len(upload.rows) == 2
    )
    check = csvbatch.check_columns(upload.header, SPECIES)
    assert (check.missing, check.unknown, check.ok) == (["colour"], ["other"], False)
    assert csvbatch.check_columns(["x", "x", "n", "flag", "colour"], SPECIES).duplicated == ["x"]
    assert [offset for offset, _ in csvbatch.chunks([[str(i)] for i in range(5)], 2)] == [0, 2, 4]

    header, rows = csvbatch.parse_scores("row,label,proba_a,error\n1,a,0.9,\n2,,,bad\n", offset=10)
    assert header == ["row", "label", "proba_a", "error"] and [r[0] for r in rows] == ["11", "12"]
    frame = csvbatch.assemble(
        upload, *csvbatch.parse_scores("row,label,proba_a,error\n1,a,0.9,\n2,,,bad\n", 0)
    )
    assert list(frame.columns) == ["row", "x", "n", "flag", "other", "label", "proba_a", "error"]
    assert frame["proba_a"].iloc[0] == 0.9 and frame["error"].tolist() == ["", "bad"]
    with pytest.raises(ValueError, match="not UTF-8"):
        csvbatch.parse_upload(b"\xff\xfe", ",")
    with pytest.raises(ValueError, match="empty"):
        csvbatch.parse_upload(b"", ",")


def test_feature_defaults_steps_and_synthetic_rows() -> None:
    x = SPECIES.features[0]
    assert [features.default_value(f) for f in SPECIES.features] == [2.5, 4, True, "blue"]
    assert features.number_step(x) == 0.01 and features.number_format(0.01, 2.5) == "%.2f"
    assert (
        features.number_format(10.0, 4050.0) == "%.0f"
        and features.number_format(0.1, 44.45) == "%.2f"
    )
    assert features.out_of_range(x, 3.5) and not features.out_of_range(x, 3.0)
    rows = features.synthetic_rows(SPECIES.features, 50)
    assert rows == features.synthetic_rows(SPECIES.features, 50)  # reproducible
    assert all(isinstance(r["x"], float) and 1 <= r["x"] <= 3 for r in rows)
    assert all(isinstance(r["n"], int) and r["colour"] in ("red", "blue") for r in rows)
    assert {r["flag"] for r in rows} == {True, False}


def test_cli_turns_the_service_config_into_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # away from services/ui: the config must still apply
    command, environment = cli.command(
        ["--api-url", "http://api:8000", "--port", "8600", "--server.runOnSave=false"]
    )
    assert command[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert command[4] == str(ROOT / "services/ui/src/model_ui/app.py")
    assert cli.default_config() == ROOT / "services/ui/.streamlit/config.toml"
    for flag in (
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--server.maxUploadSize=20",
        "--theme.primaryColor=#0b6e4f",
    ):
        assert flag in command
    assert command[-2:] == ["--server.port=8600", "--server.runOnSave=false"]
    assert environment["MODEL_UI_API_URL"] == "http://api:8000"


def test_settings_come_from_model_ui_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", "http://model-api:8000/")
    monkeypatch.setenv("MODEL_UI_API_KEY", "s3cret")
    settings = UISettings()
    assert (
        settings.base_url == "http://model-api:8000"
        and settings.shown_url == "http://model-api:8000"
    )
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    for name, field in UISettings.model_fields.items():
        assert field.description, f"{name} has no description"
