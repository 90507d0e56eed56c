"""The model bundle format: a folder with an XGBoost model file and ``metadata.json``.

A bundle is what the API serves. ``save_bundle`` writes one from a trained model plus a sample of
its training data (the sample gives the feature schema); ``load_bundle`` reads one back and checks
it, failing with a message that names the problem.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from model_api.errors import BundleError
from model_api.objectives import (
    DEFAULT_FOR_TASK,
    OBJECTIVES,
    ModelObjective,
    Objective,
    Task,
    model_objective,
    quantile_name,
)

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
MODEL_FILES = ("model.ubj", "model.json")

FeatureType = Literal["numeric", "integer", "boolean", "categorical"]


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


class OutputSpec(BaseModel):
    """One output of a multi-output regressor: a target, or a quantile of one target."""

    name: str = Field(min_length=1, description="How answers name it: a target or q<alpha>.")
    quantile: float | None = Field(None, description="reg:quantileerror: the output's alpha.")


class BundleMetadata(BaseModel):
    """Everything ``metadata.json`` holds about a bundle."""

    format_version: int = FORMAT_VERSION
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
    version: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
    task: Task
    objective: str | None = Field(
        None, description="The model's XGBoost objective (read from the model when absent)."
    )
    description: str | None = None
    features: list[FeatureSpec] = Field(min_length=1)
    target: str = "target"
    outputs: list[OutputSpec] | None = Field(
        None,
        description="Multi-output regression: each output per row, in model order "
        "(derived from the model when absent: quantiles by alpha, else target_0, target_1, …).",
    )
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
        if self.outputs is not None:
            output_names = [o.name for o in self.outputs]
            if self.task != "regression" or len(output_names) < 2:
                raise ValueError("outputs lists the 2 or more outputs of a regression model")
            if len(set(output_names)) != len(output_names):
                raise ValueError("output names must be unique")
        if self.objective is not None and self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}")
        if self.model_file not in MODEL_FILES:
            raise ValueError(f"model_file must be one of {', '.join(MODEL_FILES)}")
        return self

    @property
    def labels(self) -> list[str]:
        """Class labels of a classifier (binary defaults to "0", "1"); empty for regression."""
        if self.task == "regression":
            return []
        return self.class_labels or ["0", "1"]

    @property
    def spec(self) -> Objective:
        """What the API makes of the model's objective (metadata without one: by its task)."""
        return OBJECTIVES[self.objective or DEFAULT_FOR_TASK[self.task]]

    @property
    def output_names(self) -> list[str]:
        """Names of a multi-output regressor's outputs; empty for single-output models."""
        return [o.name for o in self.outputs or []]

    @property
    def primary_output(self) -> int:
        """The output explained and watched by default: the median quantile, else the first."""
        for index, output in enumerate(self.outputs or []):
            if output.quantile == 0.5:
                return index
        return 0


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
    """The model's task, from the objectives table; BundleError naming a refused objective."""
    task = model_objective(booster).objective.task
    assert task is not None  # model_objective refuses objectives without one
    return task


def _output_specs(served: ModelObjective, targets: list[str]) -> list[OutputSpec] | None:
    """Name each output of a multi-output regressor (None for a single output).

    Quantiles are named by their alpha; targets by the names given, else ``<target>_<i>``.
    """
    if served.outputs == 1 or served.quantiles is not None:
        if len(targets) != 1:
            raise BundleError(
                f"{len(targets)} target names given, but the model predicts one target"
                + (" (at several quantiles)" if served.quantiles else "")
            )
        if served.quantiles is None:
            return None
        return [OutputSpec(name=quantile_name(a), quantile=a) for a in served.quantiles]
    if len(targets) == 1:
        return [OutputSpec(name=f"{targets[0]}_{i}") for i in range(served.outputs)]
    if len(targets) != served.outputs:
        raise BundleError(
            f"{len(targets)} target names given, but the model predicts {served.outputs} targets"
        )
    if len(set(targets)) != len(targets):
        raise BundleError(f"target names must be unique, got {targets}")
    return [OutputSpec(name=t) for t in targets]


def _target_deciles(target_sample: Any, primary: int) -> list[float] | None:
    """Deciles of the training target (of the primary output's target when there are several)."""
    import numpy as np

    values = np.asarray(target_sample, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, primary if values.shape[1] > primary else 0]
    values = values[~np.isnan(values)]
    if not values.size:
        return None
    return [float(q) for q in np.quantile(values, np.linspace(0.1, 0.9, 9))]


def save_bundle(
    model: Any,
    sample: pd.DataFrame,
    path: str | Path,
    *,
    name: str,
    version: str = "1",
    target: str | Sequence[str] = "target",
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
    ``target`` names the target column, or each target of a multi-target regressor in model
    order (a single name for such a model becomes ``<name>_0``, ``<name>_1``, …).
    Objectives the API cannot serve truthfully (ranking, multi-label, …) are refused here, by name.
    """
    import xgboost as xgb

    booster = _booster_of(model)
    served = model_objective(booster)
    task = task or _infer_task(booster)
    targets = [target] if isinstance(target, str) else [str(t) for t in target]
    outputs = _output_specs(served, targets)
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

    deciles = None
    if task == "regression" and target_sample is not None:
        primary = next((i for i, o in enumerate(outputs or []) if o.quantile == 0.5), 0)
        deciles = _target_deciles(target_sample, primary)

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    model_file = f"model.{model_format}"
    booster.save_model(str(folder / model_file))
    metadata = BundleMetadata(
        name=name,
        version=version,
        task=task,
        objective=served.objective.name,
        description=description,
        features=features,
        target=", ".join(targets),
        outputs=outputs,
        class_labels=class_labels,
        target_quantiles=deciles,
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
    return check_model_matches(folder, metadata, booster), booster


def check_model_matches(
    folder: Path, metadata: BundleMetadata, booster: xgb.Booster
) -> BundleMetadata:
    """Fail when the model's features, objective, task or outputs disagree with the metadata.

    Returns the metadata completed from the model: its objective and the names of its outputs
    (bundles written before they were recorded get them here).
    """
    _check_features(folder, metadata, booster)
    try:
        served = model_objective(booster)
    except BundleError as exc:
        raise BundleError(f"bundle {folder}: {exc}") from None
    name = served.objective.name
    if metadata.objective is not None and metadata.objective != name:
        raise BundleError(
            f"bundle {folder}: metadata objective is {metadata.objective} but the model's is {name}"
        )
    if served.objective.task != metadata.task:
        raise BundleError(
            f"bundle {folder}: metadata task is {metadata.task} but the model's objective is "
            f"{served.objective.task} ({name})"
        )
    if metadata.task == "multiclass":
        config = json.loads(booster.save_config())
        num_class = int(config["learner"]["learner_model_param"]["num_class"])
        if num_class != len(metadata.labels):
            raise BundleError(
                f"bundle {folder}: model has {num_class} classes, metadata lists "
                f"{len(metadata.labels)} class_labels"
            )
    outputs = _checked_outputs(folder, metadata, served)
    return metadata.model_copy(update={"objective": name, "outputs": outputs})


def _check_features(folder: Path, metadata: BundleMetadata, booster: xgb.Booster) -> None:
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


def _checked_outputs(
    folder: Path, metadata: BundleMetadata, served: ModelObjective
) -> list[OutputSpec] | None:
    """The metadata's outputs when they fit the model, derived from the model when absent."""
    if metadata.outputs is None:
        try:
            return _output_specs(served, [metadata.target])
        except BundleError as exc:
            raise BundleError(f"bundle {folder}: {exc}") from None
    if len(metadata.outputs) != served.outputs:
        raise BundleError(
            f"bundle {folder}: metadata lists {len(metadata.outputs)} outputs, the model "
            f"predicts {served.outputs}"
        )
    alphas = [o.quantile for o in metadata.outputs]
    expected: list[float | None] = [None] * served.outputs
    if served.quantiles is not None:
        expected = [*served.quantiles]
    if alphas != expected:
        raise BundleError(
            f"bundle {folder}: metadata output quantiles {alphas} differ from the model's "
            f"quantile_alpha {served.quantiles}"
        )
    return metadata.outputs
