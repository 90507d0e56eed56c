"""The model bundle format: a folder with an XGBoost model file and ``metadata.json``.

A bundle is what the API serves. ``save_bundle`` writes one from a trained model plus a sample of
its training data (the sample gives the feature schema); ``load_bundle`` reads one back and checks
it, failing with a message that names the problem.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from model_api.errors import BundleError

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
MODEL_FILES = ("model.ubj", "model.json")

FeatureType = Literal["numeric", "integer", "boolean", "categorical"]
Task = Literal["binary", "multiclass", "regression"]


class FeatureSpec(BaseModel):
    """One input column of the model, in the order the model expects it."""

    name: str = Field(min_length=1)
    type: FeatureType
    categories: list[str] | None = Field(
        None, description="Allowed values of a categorical feature; its code is the list index."
    )
    min: float | None = Field(None, description="Smallest value seen in the training sample.")
    max: float | None = Field(None, description="Largest value seen in the training sample.")
    default: float | int | bool | str | None = Field(
        None, description="A typical value (median or most frequent) used to prefill forms."
    )
    description: str | None = None

    @model_validator(mode="after")
    def _categories_match_type(self) -> FeatureSpec:
        if self.type == "categorical" and not self.categories:
            raise ValueError(f"categorical feature {self.name!r} needs a non-empty categories list")
        if self.type != "categorical" and self.categories:
            raise ValueError(f"feature {self.name!r} of type {self.type} cannot have categories")
        return self


class BundleMetadata(BaseModel):
    """Everything ``metadata.json`` holds about a bundle."""

    format_version: int = FORMAT_VERSION
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
    version: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
    task: Task
    description: str | None = None
    features: list[FeatureSpec] = Field(min_length=1)
    target: str = "target"
    class_labels: list[str] | None = None
    target_quantiles: list[float] | None = Field(
        None, description="Regression: deciles of the training target, for drift watching."
    )
    metrics: dict[str, float] = Field(default_factory=dict)
    created_at: datetime
    xgboost_version: str
    model_file: str
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _consistent(self) -> BundleMetadata:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        if self.class_labels and len(set(self.class_labels)) != len(self.class_labels):
            # Labels key each row's probabilities: a repeated one would hide a class.
            raise ValueError("class_labels must be unique")
        if self.task == "regression" and self.class_labels:
            raise ValueError("a regression model has no class_labels")
        if self.task == "binary" and self.class_labels and len(self.class_labels) != 2:
            raise ValueError("a binary model needs exactly 2 class_labels")
        if self.task == "multiclass" and (not self.class_labels or len(self.class_labels) < 3):
            raise ValueError("a multiclass model needs class_labels with 3 or more entries")
        if self.model_file not in MODEL_FILES:
            raise ValueError(f"model_file must be one of {', '.join(MODEL_FILES)}")
        return self

    @property
    def labels(self) -> list[str]:
        """Class labels of a classifier (binary defaults to "0", "1"); empty for regression."""
        if self.task == "regression":
            return []
        return self.class_labels or ["0", "1"]


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks so large models do not sit in memory twice."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def infer_features(sample: pd.DataFrame) -> list[FeatureSpec]:
    """Derive the feature schema (types, categories, ranges, defaults) from a training sample."""
    import pandas as pd

    features: list[FeatureSpec] = []
    for name in sample.columns:
        column = sample[name]
        dtype = column.dtype
        if pd.api.types.is_bool_dtype(dtype):
            mode = column.dropna().mode()
            features.append(
                FeatureSpec(
                    name=str(name),
                    type="boolean",
                    default=bool(mode.iloc[0]) if len(mode) else False,
                )
            )
        elif isinstance(dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(dtype):
            if isinstance(dtype, pd.CategoricalDtype):
                categories = [str(c) for c in dtype.categories]
            else:
                categories = sorted({str(v) for v in column.dropna().unique()})
            mode = column.dropna().astype(str).mode()
            features.append(
                FeatureSpec(
                    name=str(name),
                    type="categorical",
                    categories=categories,
                    default=str(mode.iloc[0]) if len(mode) else categories[0],
                )
            )
        else:
            is_int = pd.api.types.is_integer_dtype(dtype)
            values = column.dropna()
            low = float(values.min()) if len(values) else None
            high = float(values.max()) if len(values) else None
            median = float(values.median()) if len(values) else 0.0
            features.append(
                FeatureSpec(
                    name=str(name),
                    type="integer" if is_int else "numeric",
                    min=low,
                    max=high,
                    default=round(median) if is_int else round(median, 6),
                )
            )
    return features


def _booster_of(model: Any) -> xgb.Booster:
    import xgboost as xgb

    if isinstance(model, xgb.Booster):
        return model
    if hasattr(model, "get_booster"):
        booster: xgb.Booster = model.get_booster()
        return booster
    raise TypeError(f"expected an xgboost Booster or sklearn wrapper, got {type(model).__name__}")


def _infer_task(booster: xgb.Booster) -> Task:
    config = json.loads(booster.save_config())
    objective = config["learner"]["objective"]["name"]
    if objective.startswith("multi:"):
        return "multiclass"
    if objective.startswith("binary:"):
        return "binary"
    if objective.startswith(("reg:", "count:", "survival:")):
        return "regression"
    raise BundleError(
        f"objective {objective!r} is not supported (binary, multiclass or regression)"
    )


def save_bundle(
    model: Any,
    sample: pd.DataFrame,
    path: str | Path,
    *,
    name: str,
    version: str = "1",
    target: str = "target",
    class_labels: list[str] | None = None,
    task: Task | None = None,
    metrics: dict[str, float] | None = None,
    description: str | None = None,
    feature_descriptions: dict[str, str] | None = None,
    target_sample: Any = None,
    model_format: Literal["ubj", "json"] = "ubj",
) -> BundleMetadata:
    """Package a trained model and a sample of its training features into a bundle folder.

    ``sample`` holds the feature columns in the order the model was trained on; pandas
    ``category`` columns keep their category order, which is the code order the model learned.
    ``class_labels`` maps class indexes to names (an sklearn classifier's ``classes_`` is used
    when not given). ``target_sample`` (regression) records the target's deciles for drift metrics.
    """
    import numpy as np
    import xgboost as xgb

    booster = _booster_of(model)
    task = task or _infer_task(booster)
    if class_labels is None and task != "regression" and hasattr(model, "classes_"):
        class_labels = [str(c) for c in model.classes_]
    if task == "multiclass" and class_labels is None:
        num_class = int(
            json.loads(booster.save_config())["learner"]["learner_model_param"]["num_class"]
        )
        class_labels = [str(i) for i in range(num_class)]

    features = infer_features(sample)
    for feature in features:
        if feature_descriptions and feature.name in feature_descriptions:
            feature.description = feature_descriptions[feature.name]

    quantiles = None
    if task == "regression" and target_sample is not None:
        values = np.asarray(target_sample, dtype=np.float64)
        values = values[~np.isnan(values)]
        if values.size:
            quantiles = [float(q) for q in np.quantile(values, np.linspace(0.1, 0.9, 9))]

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    model_file = f"model.{model_format}"
    booster.save_model(str(folder / model_file))
    metadata = BundleMetadata(
        name=name,
        version=version,
        task=task,
        description=description,
        features=features,
        target=target,
        class_labels=class_labels,
        target_quantiles=quantiles,
        metrics={k: float(v) for k, v in (metrics or {}).items() if math.isfinite(float(v))},
        created_at=datetime.now(UTC).replace(microsecond=0),
        xgboost_version=xgb.__version__,
        model_file=model_file,
        model_sha256=sha256_of(folder / model_file),
    )
    (folder / METADATA_FILE).write_text(metadata.model_dump_json(indent=2) + "\n", encoding="utf-8")
    # Validate what was written exactly as the server will, so a bad bundle fails here, not in prod.
    load_bundle(folder)
    return metadata


def read_metadata(folder: Path) -> BundleMetadata:
    """Parse and validate ``metadata.json``; the error names the bundle and the field."""
    meta_path = folder / METADATA_FILE
    if not meta_path.is_file():
        raise BundleError(f"bundle {folder}: missing {METADATA_FILE}")
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle {folder}: {METADATA_FILE} is not valid JSON ({exc})") from exc
    if isinstance(raw, dict) and raw.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise BundleError(
            f"bundle {folder}: unknown format_version {raw.get('format_version')!r} "
            f"(this server reads {FORMAT_VERSION})"
        )
    try:
        return BundleMetadata.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'metadata'}: {err['msg']}"
            for err in exc.errors()
        )
        raise BundleError(f"bundle {folder}: invalid {METADATA_FILE}: {problems}") from exc


def load_bundle(folder: str | Path) -> tuple[BundleMetadata, xgb.Booster]:
    """Read a bundle, check its hash and that the model agrees with the metadata."""
    import xgboost as xgb

    folder = Path(folder)
    metadata = read_metadata(folder)
    model_path = folder / metadata.model_file
    if not model_path.is_file():
        raise BundleError(f"bundle {folder}: missing model file {metadata.model_file}")
    digest = sha256_of(model_path)
    if digest != metadata.model_sha256:
        raise BundleError(
            f"bundle {folder}: {metadata.model_file} hash mismatch "
            f"(metadata says {metadata.model_sha256[:12]}…, file is {digest[:12]}…)"
        )
    try:
        booster = xgb.Booster(model_file=str(model_path))
    except xgb.core.XGBoostError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise BundleError(
            f"bundle {folder}: cannot read {metadata.model_file}: {first_line}"
        ) from exc
    check_model_matches(folder, metadata, booster)
    return metadata, booster


def check_model_matches(folder: Path, metadata: BundleMetadata, booster: xgb.Booster) -> None:
    """Fail when the model's feature count, names, types or task disagree with the metadata."""
    if booster.num_features() != len(metadata.features):
        raise BundleError(
            f"bundle {folder}: model expects {booster.num_features()} features, "
            f"metadata lists {len(metadata.features)}"
        )
    names = [f.name for f in metadata.features]
    if booster.feature_names and list(booster.feature_names) != names:
        raise BundleError(
            f"bundle {folder}: feature names differ: model has {list(booster.feature_names)}, "
            f"metadata has {names}"
        )
    if booster.feature_types:
        for spec, kind in zip(metadata.features, booster.feature_types, strict=True):
            if (kind == "c") != (spec.type == "categorical"):
                raise BundleError(
                    f"bundle {folder}: feature {spec.name!r} is {spec.type} in metadata but "
                    f"{'categorical' if kind == 'c' else 'not categorical'} in the model"
                )
    model_task = _infer_task(booster)
    if model_task != metadata.task:
        raise BundleError(
            f"bundle {folder}: metadata task is {metadata.task} but the model's objective is "
            f"{model_task}"
        )
    if metadata.task == "multiclass":
        config = json.loads(booster.save_config())
        num_class = int(config["learner"]["learner_model_param"]["num_class"])
        if num_class != len(metadata.labels):
            raise BundleError(
                f"bundle {folder}: model has {num_class} classes, metadata lists "
                f"{len(metadata.labels)} class_labels"
            )
