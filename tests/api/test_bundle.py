"""The bundle format: save, load, schema inference and every validation failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from model_api.authoring import save_bundle
from model_api.cli import main as cli_main
from model_api.errors import BundleError
from model_api.serving.bundle import load_bundle, sha256_of
from model_api.serving.runtime import ModelRuntime


def encode(frame: pd.DataFrame) -> np.ndarray:
    """The matrix the runtime expects: categorical columns as their codes, NaN for missing."""
    columns = []
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy().astype(np.float32)
            codes[codes < 0] = np.nan
            columns.append(codes)
        else:
            columns.append(column.to_numpy(dtype=np.float32))
    return np.column_stack(columns)


def test_schema_is_inferred_from_the_sample(binary_bundle: Path) -> None:
    metadata, booster = load_bundle(binary_bundle)
    types = {f.name: f.type for f in metadata.features}
    assert types == {
        "size": "numeric",
        "count": "integer",
        "flag": "boolean",
        "colour": "categorical",
    }
    colour = metadata.features[3]
    assert colour.categories == ["blue", "green", "red"]  # the category order the model learned
    size = metadata.features[0]
    assert size.min is not None and size.max is not None and size.min < size.default < size.max  # type: ignore[operator]
    assert metadata.task == "binary"
    assert metadata.class_labels == ["no", "yes"]
    assert metadata.model_sha256 == sha256_of(binary_bundle / "model.ubj")
    assert metadata.xgboost_version == xgb.__version__
    assert booster.num_features() == 4


def test_sklearn_classifier_round_trip_predicts_like_xgboost(
    binary_bundle: Path, binary_classifier: xgb.XGBClassifier, mixed_frame: pd.DataFrame
) -> None:
    metadata, booster = load_bundle(binary_bundle)
    runtime = ModelRuntime(metadata, booster)
    prediction = runtime.predict(encode(mixed_frame))
    assert prediction.proba is not None
    np.testing.assert_allclose(
        prediction.proba, binary_classifier.predict_proba(mixed_frame), rtol=1e-6
    )


def test_booster_regression_round_trip(tmp_path: Path, mixed_frame: pd.DataFrame) -> None:
    target = mixed_frame["count"].to_numpy() * 2.0 + mixed_frame["size"].fillna(0).to_numpy()
    dtrain = xgb.DMatrix(mixed_frame, label=target, enable_categorical=True)
    booster = xgb.train({"max_depth": 3, "nthread": 1, "objective": "reg:squarederror"}, dtrain, 20)
    metadata = save_bundle(
        booster,
        mixed_frame,
        tmp_path / "reg",
        name="reg",
        target_sample=target,
        model_format="json",
    )
    assert metadata.task == "regression"
    assert metadata.model_file == "model.json"
    assert metadata.target_quantiles is not None and len(metadata.target_quantiles) == 9
    loaded_meta, loaded = load_bundle(tmp_path / "reg")
    values = ModelRuntime(loaded_meta, loaded).predict(encode(mixed_frame)).values
    np.testing.assert_allclose(values, booster.predict(dtrain), rtol=1e-6)  # type: ignore[arg-type]


def test_multiclass_booster_needs_and_keeps_labels(
    tmp_path: Path, mixed_frame: pd.DataFrame
) -> None:
    target = mixed_frame["colour"].cat.codes.to_numpy()
    features = mixed_frame.drop(columns=["colour"])
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(features, target)
    metadata = save_bundle(
        model, features, tmp_path / "mc", name="mc", class_labels=["b", "g", "r"]
    )
    assert metadata.task == "multiclass"
    assert metadata.labels == ["b", "g", "r"]


def _copy(bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "broken"
    shutil.copytree(bundle, target)
    return target


def _edit_metadata(folder: Path, **changes: object) -> None:
    path = folder / "metadata.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_missing_metadata_is_named(binary_bundle: Path, tmp_path: Path) -> None:
    folder = _copy(binary_bundle, tmp_path)
    (folder / "metadata.json").unlink()
    with pytest.raises(BundleError, match=r"broken: missing metadata\.json"):
        load_bundle(folder)


def test_missing_model_file_is_named(binary_bundle: Path, tmp_path: Path) -> None:
    folder = _copy(binary_bundle, tmp_path)
    (folder / "model.ubj").unlink()
    with pytest.raises(BundleError, match=r"missing model file model\.ubj"):
        load_bundle(folder)


def test_hash_mismatch_is_named(binary_bundle: Path, tmp_path: Path) -> None:
    folder = _copy(binary_bundle, tmp_path)
    with (folder / "model.ubj").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="hash mismatch"):
        load_bundle(folder)


def test_corrupt_model_file_is_named(binary_bundle: Path, tmp_path: Path) -> None:
    folder = _copy(binary_bundle, tmp_path)
    (folder / "model.ubj").write_bytes(b"not a model at all")
    _edit_metadata(folder, model_sha256=sha256_of(folder / "model.ubj"))
    with pytest.raises(BundleError, match=r"cannot read model\.ubj"):
        load_bundle(folder)


def test_feature_count_disagreement_is_named(binary_bundle: Path, tmp_path: Path) -> None:
    folder = _copy(binary_bundle, tmp_path)
    data = json.loads((folder / "metadata.json").read_text())
    _edit_metadata(folder, features=data["features"][:3])
    with pytest.raises(BundleError, match="model expects 4 features, metadata lists 3"):
        load_bundle(folder)


def test_feature_type_disagreement_is_named(binary_bundle: Path, tmp_path: Path) -> None:
    folder = _copy(binary_bundle, tmp_path)
    data = json.loads((folder / "metadata.json").read_text())
    data["features"][3] = {"name": "colour", "type": "numeric"}
    _edit_metadata(folder, features=data["features"])
    with pytest.raises(
        BundleError, match="'colour' is numeric in metadata but categorical in the model"
    ):
        load_bundle(folder)


def test_task_disagreement_is_named(binary_bundle: Path, tmp_path: Path) -> None:
    folder = _copy(binary_bundle, tmp_path)
    _edit_metadata(folder, task="regression", class_labels=None)
    with pytest.raises(BundleError, match="task is regression but the model's objective is binary"):
        load_bundle(folder)


def test_unknown_format_is_named(binary_bundle: Path, tmp_path: Path) -> None:
    folder = _copy(binary_bundle, tmp_path)
    _edit_metadata(folder, format_version=99)
    with pytest.raises(BundleError, match="unknown format_version 99"):
        load_bundle(folder)


def test_invalid_metadata_names_the_field(binary_bundle: Path, tmp_path: Path) -> None:
    folder = _copy(binary_bundle, tmp_path)
    _edit_metadata(folder, task="clustering")
    with pytest.raises(BundleError, match=r"invalid metadata\.json: task"):
        load_bundle(folder)
    (folder / "metadata.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(folder)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"class_labels": ["yes", "yes"]}, "class_labels must be unique"),
        ({"features": [{"name": "size", "type": "numeric"}] * 2}, "feature names must be unique"),
    ],
)
def test_repeated_names_are_refused(
    binary_bundle: Path, tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    folder = _copy(binary_bundle, tmp_path)
    _edit_metadata(folder, **changes)
    with pytest.raises(BundleError, match=message):
        load_bundle(folder)


def test_cli_bundles_and_validates(
    tmp_path: Path,
    binary_classifier: xgb.XGBClassifier,
    mixed_frame: pd.DataFrame,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_path = tmp_path / "model.json"
    binary_classifier.get_booster().save_model(model_path)
    sample = mixed_frame.assign(label=0)
    sample.to_csv(tmp_path / "sample.csv", index=False)
    code = cli_main(
        ["bundle", "--model", str(model_path), "--sample", str(tmp_path / "sample.csv"), "--name", "toy",
         "--target", "label", "--categorical", "colour", "--class-labels", "no,yes", "--output", str(tmp_path / "out")]
    )  # fmt: skip
    assert code == 0
    assert cli_main(["validate", str(tmp_path / "out")]) == 0
    assert "ok: toy 1 (binary, 4 features)" in capsys.readouterr().out
    (tmp_path / "out" / "metadata.json").unlink()
    assert cli_main(["validate", str(tmp_path / "out")]) == 1
    assert "missing metadata.json" in capsys.readouterr().err
