"""Packaging: category codes from the model, the CLI and save_bundle agreeing, feature names,
atomic writes, defaults, what failures reveal; every bundle is served right or refused by name.

One real API serves a repository holding every case (starting a server is the slow part)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from model_api.authoring import save_bundle
from model_api.cli import main as cli_main
from model_api.codecs.features import FeatureEncoder
from model_api.errors import BundleError
from model_api.serving.bundle import load_bundle
from model_api.serving.registry import ModelRegistry
from model_api.serving.runtime import ModelRuntime
from model_api.settings import Settings

from tests.support import Server, start_api

# diamonds' ``cut``, in its own (quality) order: alphabetical order would give other codes.
CUTS = ["Fair", "Good", "Very Good", "Premium", "Ideal"]
# Integer categories in an order that is not numeric order.
GRADES = [10, 1, 2, 3]
SERVED_NAMES = ["café", "with space", "paren(x)", "a/b", "_lead", "model_config", "x" * 300, "1"]
REFUSED_NAMES = ['a"b', "back\\slash", "tab\there", "bell\x07", "a[0]", " padded", "padded "]
SECRET = b"Sup3rSecret\n"
PARAMS = {"objective": "reg:squarederror", "max_depth": 3, "eta": 0.5, "nthread": 1, "seed": 0}


@pytest.fixture(scope="module")
def diamonds() -> pd.DataFrame:
    """A diamonds-like table: carat, the ordered ``cut`` and an integer-coded ``grade``."""
    rng = np.random.default_rng(5)
    n = 400
    cut = pd.Categorical(rng.choice(CUTS, n), categories=CUTS, ordered=True)
    grade = pd.Categorical(rng.choice(GRADES, n), categories=GRADES)
    carat = rng.uniform(0.2, 2.5, n).round(2)
    price = 3000 * carat + 400.0 * cut.codes + 150.0 * grade.codes + rng.normal(0, 50, n)
    return pd.DataFrame({"carat": carat, "cut": cut, "grade": grade, "price": price})


@pytest.fixture(scope="module")
def features(diamonds: pd.DataFrame) -> pd.DataFrame:
    return diamonds[["carat", "cut", "grade"]]


@pytest.fixture(scope="module")
def booster(diamonds: pd.DataFrame, features: pd.DataFrame) -> xgb.Booster:
    """Trained on pandas categories, so the model stores them (XGBoost 3.x)."""
    dtrain = xgb.DMatrix(features, label=diamonds["price"], enable_categorical=True)
    return xgb.train(PARAMS, dtrain, num_boost_round=20)


@pytest.fixture(scope="module")
def code_booster(diamonds: pd.DataFrame, features: pd.DataFrame) -> xgb.Booster:
    """Trained on bare category codes: the model stores no category list."""
    codes = np.column_stack(
        [features["carat"], features["cut"].cat.codes, features["grade"].cat.codes]
    ).astype(np.float32)
    dtrain = xgb.DMatrix(
        codes,
        label=diamonds["price"],
        feature_names=["carat", "cut", "grade"],
        feature_types=["q", "c", "c"],
        enable_categorical=True,
    )
    return xgb.train(PARAMS, dtrain, num_boost_round=20)


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The sample as a CSV holds it: categories as plain text, no category dtype."""
    return frame.astype({"cut": str, "grade": str})


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {"carat": float(r.carat), "cut": str(r.cut), "grade": str(r.grade)}
        for r in frame.itertuples()
    ]


def served_values(url: str, model: str, frame: pd.DataFrame) -> np.ndarray:
    response = httpx.post(
        f"{url}/v1/models/{model}/predict", json={"instances": records(frame)}, timeout=30
    )
    assert response.status_code == 200, response.text
    return np.array([p["value"] for p in response.json()["predictions"]])


def cli_bundle(model: Path, sample: Path, output: Path, *extra: str) -> int:
    return cli_main(
        ["bundle", "--model", str(model), "--sample", str(sample), "--name", "diamonds",
         "--target", "price", "--output", str(output), *extra]
    )  # fmt: skip


def comparable(folder: Path, *ignored: str) -> dict[str, object]:
    metadata = json.loads((folder / "metadata.json").read_text())
    for key in ("created_at", *ignored):
        metadata.pop(key)
    return metadata  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def names_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    names = [*SERVED_NAMES, *REFUSED_NAMES]
    return pd.DataFrame(rng.normal(size=(60, len(names))), columns=names)


@pytest.fixture(scope="module")
def names_booster(names_frame: pd.DataFrame) -> xgb.Booster:
    served = names_frame[SERVED_NAMES]
    return xgb.train(PARAMS, xgb.DMatrix(served, label=served.sum(axis=1)), 5)


@pytest.fixture(scope="module")
def repository(
    tmp_path_factory: pytest.TempPathFactory,
    diamonds: pd.DataFrame,
    features: pd.DataFrame,
    booster: xgb.Booster,
    names_frame: pd.DataFrame,
    names_booster: xgb.Booster,
) -> Path:
    """Every case served side by side (each test below says what it checks in it)."""
    work = tmp_path_factory.mktemp("packaging")
    repository = work / "repo"
    # The same model and sample, packaged from a DataFrame and by the CLI from a CSV.
    sample = diamonds.iloc[:24]
    save_bundle(booster, sample[features.columns], repository / "from-frame" / "1",
                name="diamonds", target="price", target_sample=sample["price"])  # fmt: skip
    booster.save_model(work / "model.ubj")
    sample.to_csv(work / "sample.csv", index=False)
    csv_bundle = repository / "from-csv" / "1"
    assert (
        cli_bundle(
            work / "model.ubj", work / "sample.csv", csv_bundle, "--categorical", "cut", "grade"
        )
        == 0
    )
    # Feature names a DataFrame can hold, served.
    save_bundle(names_booster, names_frame[SERVED_NAMES], repository / "names" / "1", name="names")
    # Version 2 shares version 1's model file through a symlink inside the repository.
    diamonds_dir = repository / "diamonds"
    save_bundle(booster, features, diamonds_dir / "1", name="diamonds")
    shutil.copytree(diamonds_dir / "1", diamonds_dir / "2")
    (diamonds_dir / "2" / "model.ubj").unlink()
    (diamonds_dir / "2" / "model.ubj").symlink_to("../1/model.ubj")
    # A save refused once written (the model is a regressor), and one killed half-way.
    with pytest.raises(BundleError, match="task is binary"):
        save_bundle(booster, features, repository / "refused" / "1", name="refused", task="binary")
    (diamonds_dir / ".3.saving-interrupted").mkdir()
    shutil.copy(diamonds_dir / "1" / "model.ubj", diamonds_dir / ".3.saving-interrupted")
    # Model files that are not models: a symlink out of the repository, and a text file
    # inside it; both hashes match, so XGBoost gets to read them.
    (work / "secret.txt").write_bytes(SECRET)
    for name, link in (("outside", work / "secret.txt"), ("garbled", Path("notes.txt"))):
        folder = repository / name / "1"
        shutil.copytree(diamonds_dir / "1", folder)
        (folder / "notes.txt").write_bytes(SECRET)
        (folder / "model.ubj").unlink()
        (folder / "model.ubj").symlink_to(link)
        metadata = json.loads((folder / "metadata.json").read_text())
        metadata["model_sha256"] = hashlib.sha256(SECRET).hexdigest()
        (folder / "metadata.json").write_text(json.dumps(metadata))
    return repository


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[Server]:
    """The API serving ``repository``, once loading has finished (with two bundles failed)."""
    api = start_api(repository, repository.parent / "logs", ready=False)
    try:
        deadline = time.monotonic() + 60
        while httpx.get(f"{api.url}/readyz").json()["status"] == "loading":
            assert time.monotonic() < deadline, "models still loading"
            time.sleep(0.1)
        yield api
    finally:
        api.stop()


# ---------------------------------------------------------------------------- category codes


def test_both_packaging_paths_score_with_the_models_codes(
    repository: Path, server: Server, features: pd.DataFrame, booster: xgb.Booster
) -> None:
    """The same model and sample, packaged from a DataFrame and by the CLI from a CSV, give the
    same metadata, and the API scores every row as XGBoost does on the pandas categories."""
    expected = booster.inplace_predict(features)
    for model in ("from-frame", "from-csv"):
        np.testing.assert_allclose(served_values(server.url, model, features), expected, rtol=1e-6)
    from_frame = comparable(repository / "from-frame" / "1")
    assert from_frame == comparable(repository / "from-csv" / "1")
    kinds = {f["name"]: f.get("categories") for f in from_frame["features"]}  # type: ignore[attr-defined]
    assert kinds == {"carat": None, "cut": CUTS, "grade": ["10", "1", "2", "3"]}


def test_a_sample_with_other_categories_is_refused_by_name(
    tmp_path: Path, features: pd.DataFrame, booster: xgb.Booster
) -> None:
    alphabetical = features.assign(cut=features["cut"].astype(str).astype("category"))
    with pytest.raises(
        BundleError, match=r"'cut'.*'Fair', 'Good', 'Ideal'.*'Fair', 'Good', 'Very Good'"
    ):
        save_bundle(booster, alphabetical, tmp_path / "b", name="diamonds")
    unknown = as_text(features).assign(cut=["Superb", *features["cut"].astype(str)[1:]])
    with pytest.raises(BundleError, match=r"feature 'cut': the sample holds \['Superb'\]"):
        save_bundle(booster, unknown, tmp_path / "b", name="diamonds")
    with pytest.raises(BundleError, match=r"feature 'cut': categories .* are not the model's"):
        save_bundle(
            booster, features, tmp_path / "b", name="diamonds", categories={"cut": sorted(CUTS)}
        )
    assert not (tmp_path / "b").exists()


def test_a_model_trained_on_codes_needs_the_order_given(
    tmp_path: Path,
    features: pd.DataFrame,
    code_booster: xgb.Booster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(BundleError, match=r"feature 'cut' is categorical but the model stores no"):
        save_bundle(code_booster, features, tmp_path / "refused", name="diamonds")
    given = {"cut": CUTS, "grade": GRADES}
    metadata = save_bundle(
        code_booster,
        as_text(features),
        tmp_path / "frame",
        name="diamonds",
        target="price",
        categories=given,
    )
    matrix = FeatureEncoder(metadata).from_records(records(features))
    served = ModelRuntime(metadata, code_booster).predict(matrix).values
    codes = np.column_stack(
        [features["carat"], features["cut"].cat.codes, features["grade"].cat.codes]
    )
    np.testing.assert_allclose(
        served, code_booster.inplace_predict(codes.astype(np.float32)), rtol=1e-6
    )  # type: ignore[arg-type]

    as_text(features).to_csv(tmp_path / "sample.csv", index=False)
    code_booster.save_model(tmp_path / "codes.ubj")
    (tmp_path / "grades.json").write_text(json.dumps({"grade": GRADES}))
    assert cli_bundle(
        tmp_path / "codes.ubj", tmp_path / "sample.csv", tmp_path / "csv",
        "--categories", "cut=Fair,Good,Very Good,Premium,Ideal", "--categories-file", str(tmp_path / "grades.json"),
    ) == 0  # fmt: skip
    assert comparable(tmp_path / "frame") == comparable(tmp_path / "csv")
    # A JSON list after "=" carries values with commas.
    assert cli_bundle(
        tmp_path / "codes.ubj", tmp_path / "sample.csv", tmp_path / "bad",
        "--categories", 'cut=["Fair", "Good, or better"]', "--categories", "grade=10,1,2,3",
    ) == 2  # fmt: skip
    assert "its categories are ['Fair', 'Good, or better']" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_metadata_categories_that_are_not_the_models_are_refused_at_load(
    tmp_path: Path, features: pd.DataFrame, booster: xgb.Booster, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "reordered"
    save_bundle(booster, features, folder, name="diamonds")
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["features"][1]["categories"] = sorted(CUTS)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match=r"feature 'cut': categories \['Fair', 'Good', 'Ideal'"):
        load_bundle(folder)
    assert cli_main(["validate", str(folder)]) == 1
    assert "feature 'cut': categories" in capsys.readouterr().err


# ---------------------------------------------------------------------------- feature names


def test_every_feature_name_is_served_or_refused_by_name(
    tmp_path: Path, server: Server, names_frame: pd.DataFrame, names_booster: xgb.Booster
) -> None:
    label = names_frame.sum(axis=1)
    unnamed = xgb.train(PARAMS, xgb.DMatrix(names_frame[["1"]].to_numpy(), label=label), 2)
    for name in REFUSED_NAMES:  # XGBoost refuses some names itself: this model has none
        with pytest.raises(BundleError, match=re.escape(f"feature name {name!r}")):
            save_bundle(unnamed, names_frame[[name]], tmp_path / "refused", name="refused")
        assert not (tmp_path / "refused").exists()
    rows = names_frame[SERVED_NAMES].iloc[:5]
    body = {
        "instances": [dict(zip(SERVED_NAMES, map(float, r), strict=True)) for r in rows.to_numpy()]
    }
    answer = httpx.post(f"{server.url}/v1/models/names/predict", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    values = [p["value"] for p in answer.json()["predictions"]]
    np.testing.assert_allclose(values, names_booster.inplace_predict(rows), rtol=1e-6)
    csv = httpx.post(
        f"{server.url}/v1/models/names/predict", content=rows.to_csv(index=False),
        headers={"content-type": "text/csv"}, timeout=30,
    )  # fmt: skip
    lines = csv.text.splitlines()
    assert csv.status_code == 200 and len(lines) == 6 and not lines[1].split(",")[-1], csv.text


def test_validate_refuses_what_the_server_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand-written bundle whose feature name the server cannot serve fails validate too."""
    rng = np.random.default_rng(2)
    booster = xgb.train(PARAMS, xgb.DMatrix(rng.normal(size=(40, 1)), label=rng.normal(size=40)), 2)
    folder = tmp_path / "quoted"
    save_bundle(booster, pd.DataFrame({"plain": rng.normal(size=40)}), folder, name="quoted")
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["features"][0]["name"] = 'weight "kg"'
    (folder / "metadata.json").write_text(json.dumps(metadata))
    assert cli_main(["validate", str(folder)]) == 1
    assert "feature name 'weight \"kg\"' holds '\"'" in capsys.readouterr().err


def test_names_repeated_once_made_text_are_named(tmp_path: Path) -> None:
    frame = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], columns=pd.Index([1, "1"], dtype=object))
    booster = xgb.train(PARAMS, xgb.DMatrix(frame.to_numpy(), label=[0.0, 1.0]), 1)
    with pytest.raises(BundleError, match="repeats the columns 1"):
        save_bundle(booster, frame, tmp_path / "dup", name="dup")


def test_a_name_pandas_keeps_only_as_an_object_is_refused_by_name(tmp_path: Path) -> None:
    frame = pd.DataFrame(np.ones((3, 1)), columns=pd.Index(["lone \ud800"], dtype=object))
    booster = xgb.train(PARAMS, xgb.DMatrix(frame.to_numpy(), label=[0.0, 1.0, 0.0]), 1)
    with pytest.raises(BundleError, match=r"feature name 'lone \\ud800' is not valid Unicode"):
        save_bundle(booster, frame, tmp_path / "lone", name="lone")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- atomic bundles


def test_a_refused_save_leaves_nothing_and_keeps_the_bundle_there(
    tmp_path: Path, repository: Path, server: Server, features: pd.DataFrame, booster: xgb.Booster
) -> None:
    # Refused before anything is written (the name), and once written (the task).
    with pytest.raises(BundleError, match="name: String should match pattern"):
        save_bundle(booster, features, tmp_path / "repo" / "d" / "1", name="no spaces allowed")
    with pytest.raises(BundleError, match="task is binary"):
        save_bundle(booster, features, tmp_path / "repo" / "d" / "1", name="d", task="binary")
    assert list(tmp_path.iterdir()) == []

    good = tmp_path / "repo" / "d" / "1"
    save_bundle(booster, features, good, name="d")
    before = {p.name: p.read_bytes() for p in good.iterdir()}
    with pytest.raises(BundleError, match="task is binary"):
        save_bundle(booster, features, good, name="d", task="binary")
    assert {p.name: p.read_bytes() for p in good.iterdir()} == before
    assert [p.name for p in (tmp_path / "repo" / "d").iterdir()] == ["1"]

    # Served: the refused save left no "refused" model, the interrupted one is not picked up.
    assert not (repository / "refused").exists()
    listed = httpx.get(f"{server.url}/readyz").json()
    assert listed["models"]["diamonds"] == ["2", "1"]
    assert not any(label.startswith(("refused", "diamonds")) for label in listed["failed"])


def test_saving_again_replaces_a_bundle_but_not_other_files(
    tmp_path: Path, features: pd.DataFrame, booster: xgb.Booster
) -> None:
    folder = tmp_path / "diamonds"
    save_bundle(booster, features, folder, name="diamonds", version="1")
    assert save_bundle(booster, features, folder, name="diamonds", version="2").version == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diamonds"]
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(
        BundleError, match=r"holds files that are not part of a bundle \(notes\.txt\)"
    ):
        save_bundle(booster, features, folder, name="diamonds")
    assert (folder / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------------- defaults


def test_defaults_are_values_the_form_shows_without_a_warning(tmp_path: Path) -> None:
    """diabetes ``sex`` holds two scaled values; a rounded median fell outside them."""
    from sklearn.datasets import load_diabetes

    frame, target = load_diabetes(return_X_y=True, as_frame=True)
    frame = frame.assign(visits=(frame["age"] * 100).round().astype("int64") + 10)
    booster = xgb.train(PARAMS, xgb.DMatrix(frame, label=target), 3)
    metadata = save_bundle(booster, frame, tmp_path / "diabetes", name="diabetes")
    for feature in metadata.features:
        assert feature.min is not None and feature.max is not None
        assert feature.min <= feature.default <= feature.max, feature  # type: ignore[operator]
        assert feature.default in set(frame[feature.name]), feature
        if feature.type == "integer":
            assert type(feature.default) is int, feature
    sex = next(f for f in metadata.features if f.name == "sex")
    assert sex.default in (sex.min, sex.max)


# ---------------------------------------------------------------------------- what failures reveal


def test_failures_name_bundles_without_paths_or_file_content(
    repository: Path, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 503
    for answer in (ready.text, httpx.get(f"{server.url}/v1/models").text):
        assert str(repository.parent) not in answer
        assert "Sup3r" not in answer and "S vs" not in answer
    failed = ready.json()["failed"]
    assert set(failed) == {"outside/1", "garbled/1"}
    assert "outside/1: model.ubj is a symlink to a file outside" in failed["outside/1"]
    assert "garbled/1: cannot read model.ubj: not a model XGBoost" in failed["garbled/1"]

    # validate judges symlinks as the server does once it knows the repository.
    assert cli_main(["validate", str(repository / "diamonds" / "2")]) == 1
    assert "symlink to a file outside" in capsys.readouterr().err
    assert (
        cli_main(["validate", str(repository / "diamonds" / "2"), "--repository", str(repository)])
        == 0
    )


def test_configmap_style_symlinks_load_and_links_out_do_not(
    tmp_path: Path,
    features: pd.DataFrame,
    booster: xgb.Booster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Kubernetes mounts a ConfigMap as links into a timestamped folder of the same volume."""
    built = tmp_path / "built"
    save_bundle(booster, features, built, name="diamonds")
    mount = tmp_path / "repo" / "diamonds"
    (mount / "..2024_01_01").mkdir(parents=True)
    for file in ("model.ubj", "metadata.json"):
        shutil.copy(built / file, mount / "..2024_01_01" / file)
    (mount / "..data").symlink_to("..2024_01_01")
    for file in ("model.ubj", "metadata.json"):
        (mount / file).symlink_to(f"..data/{file}")
    assert cli_main(["validate", str(mount)]) == 0
    (mount / "metadata.json").unlink()
    (mount / "metadata.json").symlink_to(built / "metadata.json")
    assert cli_main(["validate", str(mount)]) == 1
    assert "metadata.json is a symlink to a file outside" in capsys.readouterr().err


def test_a_missing_repository_is_reported_without_its_path(tmp_path: Path) -> None:
    nowhere = ModelRegistry(Settings(model_repository=tmp_path / "nowhere"))
    nowhere.load_all()
    assert nowhere.failures == {
        "<repository>": "the model repository does not exist or is not a folder"
    }


def test_the_cli_packages_a_multi_target_model_as_save_bundle_does(tmp_path: Path) -> None:
    """One --target per target of a multi-target regressor: the outputs are named by them and
    the bundle equals save_bundle's for the same model and sample."""
    from sklearn.datasets import load_linnerud

    data = load_linnerud(as_frame=True)  # 3 exercises -> Weight, Waist, Pulse
    booster = xgb.train(PARAMS, xgb.DMatrix(data.data, label=data.target), num_boost_round=4)
    targets = list(data.target.columns)
    booster.save_model(tmp_path / "model.json")
    data.frame.to_csv(tmp_path / "sample.csv", index=False)  # features and targets, as exported
    arguments = ["bundle", "--model", str(tmp_path / "model.json"), "--sample"]
    arguments += [str(tmp_path / "sample.csv"), "--name", "fitness", "--output"]
    arguments += [str(tmp_path / "cli" / "1")]
    assert cli_main([*arguments, *(a for t in targets for a in ("--target", t))]) == 0
    from_cli = json.loads((tmp_path / "cli" / "1" / "metadata.json").read_text())
    assert [o["name"] for o in from_cli["outputs"]] == targets
    save_bundle(
        booster,
        data.data,
        tmp_path / "api" / "1",
        name="fitness",
        target=targets,
        target_sample=data.target,
        model_format="json",
    )
    from_api = json.loads((tmp_path / "api" / "1" / "metadata.json").read_text())
    for metadata in (from_cli, from_api):
        metadata.pop("created_at")
    assert from_cli == from_api


def test_checking_a_bundle_leaves_no_metric_series(
    tmp_path: Path, booster: xgb.Booster, features: pd.DataFrame
) -> None:
    """save_bundle and validate build the server's objects but serve nothing: no series
    labelled with the bundle's path may appear in the process's metrics."""
    from model_api.observability.metrics import REGISTRY
    from prometheus_client import generate_latest

    folder = tmp_path / "unique-folder-name" / "1"
    save_bundle(booster, features, folder, name="checked")
    assert cli_main(["validate", str(folder)]) == 0
    assert "unique-folder-name" not in generate_latest(REGISTRY).decode()
