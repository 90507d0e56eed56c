"""The model bundle format: a folder with an XGBoost model file and ``metadata.json``.

A bundle is what the API serves. ``load_bundle`` reads one and checks it, failing with a message
that names the problem; ``authoring.save_bundle`` writes one from a trained model plus a sample
of its training data (the sample gives the feature schema), with pandas, which serving never
imports.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import json
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_contract import NAME_PATTERN, FeatureType, Scalar, Task
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from model_api.errors import BundleError
from model_api.serving.objectives import (
    DEFAULT_FOR_TASK,
    OBJECTIVES,
    ModelObjective,
    Objective,
    learner_config,
    model_objective,
    quantile_name,
)

if TYPE_CHECKING:
    import numpy as np
    import xgboost as xgb

FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
MODEL_FILES = ("model.ubj", "model.json")

# Characters no feature name may hold: the v1 JSON decoder (msgspec) cannot map a field to a name
# with a quote, a backslash or a control character, and XGBoost refuses "[", "]" and "<".
UNSERVABLE_NAME_CHARACTERS = re.compile(r'["\\\[\]<\x00-\x1f]')


def name_problem(name: str) -> str | None:
    """Why the API cannot serve a feature of this name (None when it can)."""
    found = UNSERVABLE_NAME_CHARACTERS.search(name)
    if found:
        return (
            f"feature name {name!r} holds {found.group()!r}; a feature name cannot hold "
            "quotes, backslashes, control characters, '[', ']' or '<'"
        )
    if not name.isprintable() and not _is_utf8(name):
        return f"feature name {name!r} is not valid Unicode (it holds a lone surrogate)"
    if name != name.strip():  # CSV headers are matched with surrounding whitespace stripped
        return f"feature name {name!r} starts or ends with whitespace"
    return None


def _is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8, the encoding of bundles and requests."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class FeatureSpec(BaseModel):
    """One input column of the model, in the order the model expects it."""

    name: str = Field(min_length=1)
    type: FeatureType
    categories: list[str] | None = Field(
        None, description="Allowed values of a categorical feature; its code is the list index."
    )
    min: float | None = Field(None, description="Smallest value seen in the training sample.")
    max: float | None = Field(None, description="Largest value seen in the training sample.")
    default: Scalar = Field(
        None, description="A typical value (median or most frequent) used to prefill forms."
    )
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _servable_name(cls, name: str) -> str:
        problem = name_problem(name)
        if problem:
            raise ValueError(problem)
        return name

    @model_validator(mode="after")
    def _categories_match_type(self) -> FeatureSpec:
        if self.type == "categorical" and not self.categories:
            raise ValueError(f"categorical feature {self.name!r} needs a non-empty categories list")
        if self.type != "categorical" and self.categories:
            raise ValueError(f"feature {self.name!r} of type {self.type} cannot have categories")
        if self.categories and len(set(self.categories)) != len(self.categories):
            # A value's code is its index: a repeated value would have two codes.
            repeated = sorted(c for c, n in Counter(self.categories).items() if n > 1)
            raise ValueError(
                f"categorical feature {self.name!r} repeats categories: {', '.join(repeated)}"
            )
        return self


class OutputSpec(BaseModel):
    """One output of a multi-output regressor: a target, or a quantile of one target."""

    name: str = Field(min_length=1, description="How answers name it: a target or q<alpha>.")
    quantile: float | None = Field(None, description="reg:quantileerror: the output's alpha.")


class BundleMetadata(BaseModel):
    """Everything ``metadata.json`` holds about a bundle."""

    format_version: int = FORMAT_VERSION
    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=NAME_PATTERN)
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
        repeated = sorted(
            n for n, count in Counter(f.name for f in self.features).items() if count > 1
        )
        if repeated:
            raise ValueError(f"feature names must be unique; repeated: {', '.join(repeated)}")
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
            one_quantile = len(self.outputs) == 1 and self.outputs[0].quantile is not None
            if self.task != "regression" or (len(output_names) < 2 and not one_quantile):
                raise ValueError(
                    "outputs lists the 2 or more outputs of a regression model (or the one "
                    "quantile of a quantile model)"
                )
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
        """Names of a multi-output regressor's outputs (a quantile model's, even one); empty
        for other single-output models."""
        return [o.name for o in self.outputs or []]

    @property
    def primary_output(self) -> int:
        """The output explained and watched by default: the median quantile, else the first."""
        return primary_output(self.outputs)


def primary_output(outputs: list[OutputSpec] | None) -> int:
    """Index of the median quantile among ``outputs``, else 0."""
    return next((i for i, o in enumerate(outputs or []) if o.quantile == 0.5), 0)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks so large models do not sit in memory twice."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def quoted_listing(values: Sequence[str]) -> str:
    return "[" + ", ".join(repr(v) for v in values) + "]"


def model_categories(booster: xgb.Booster) -> list[list[str] | None] | None:
    """Each feature's categories as the model stores them, in code order (None for a numeric
    feature); None when it stores none (trained on codes rather than pandas categories).

    XGBoost (3.1 and later) keeps the categories it was trained on in the model, and codes a
    category by its position there. Integer categories come back as their decimal text, which
    is how the API takes them. (This is ``Booster.get_categories(export_to_arrow=True)``
    without pyarrow, which the API does not depend on.)
    """
    import xgboost as xgb
    from xgboost import _c_api

    booster.num_features()  # configures a freshly loaded model, as get_categories does
    handle, exported = ctypes.c_void_p(), ctypes.c_char_p()
    try:
        _c_api._check_call(
            _c_api._LIB.XGBoosterGetCategoriesExportToArrow(
                booster.handle, None, ctypes.byref(handle), ctypes.byref(exported)
            )
        )
        if exported.value is None:
            return None
        return [_category_values(spec) for spec in json.loads(exported.value)]
    except (AttributeError, xgb.core.XGBoostError) as exc:
        raise BundleError("cannot read the categories stored in the model") from exc
    finally:
        if handle.value:
            _c_api._LIB.XGBCategoriesFree(handle)


def _category_values(spec: dict[str, Any] | None) -> list[str] | None:
    """One feature's exported categories: strings (UTF-8 offsets and bytes) or integers."""
    if spec is None:
        return None
    if "offsets" in spec:
        offsets = _copied_array(spec["offsets"]).tolist()
        text = _copied_array(spec["values"]).tobytes()
        return [text[start:end].decode() for start, end in itertools.pairwise(offsets)]
    return [str(v) for v in _copied_array(spec).tolist()]


def _copied_array(interface: dict[str, Any]) -> np.ndarray:
    """A copy of the 1-d contiguous array an array interface points at (XGBoost owns it)."""
    import numpy as np

    dtype = np.dtype(interface["typestr"])
    (count,) = interface["shape"]
    if interface.get("strides") not in (None, [dtype.itemsize]):
        raise BundleError("the model's stored categories are not in a layout this server reads")
    if count == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(ctypes.string_at(interface["data"][0], count * dtype.itemsize), dtype)


def category_disagreement(name: str, listed: list[str], stored: list[str]) -> str | None:
    """Why a feature's category list is not the one the model stores (None when it is)."""
    if listed == stored:
        return None
    return (
        f"feature {name!r}: categories {quoted_listing(listed)} are not the model's "
        f"{quoted_listing(stored)} (in code order)"
    )


def output_specs(served: ModelObjective, targets: list[str]) -> list[OutputSpec] | None:
    """Name each output of a multi-output regressor or quantile model (None for a single
    output of any other model).

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


def validation_problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'metadata'}: {err['msg']}"
        for err in exc.errors()
    )


def _inside(path: Path, folders: Sequence[Path]) -> bool:
    """Whether ``path``, symlinks followed, lies in one of ``folders`` (symlinks followed)."""
    resolved = path.resolve()
    return any(resolved.is_relative_to(folder.resolve()) for folder in folders)


def _bundle_file(
    folder: Path, file_name: str, label: str, root: Path | None, role: str = ""
) -> Path:
    """A bundle file, refused when it is a symlink leading out of the bundle and repository.

    Symlinks inside the repository keep working (Kubernetes mounts ConfigMaps and Secrets as
    symlinks into the same volume); one leading elsewhere could make the server read, and a
    failure message describe, a file outside what it was given to serve.
    """
    path = folder / file_name
    if not path.exists() and not path.is_symlink():
        raise BundleError(f"bundle {label}: missing {role}{file_name}")
    if not _inside(path, [folder] + ([root] if root else [])):
        raise BundleError(
            f"bundle {label}: {file_name} is a symlink to a file outside the bundle's folder "
            "and model repository"
        )
    if not path.is_file():
        raise BundleError(f"bundle {label}: {file_name} is not a file")
    return path


def read_metadata(
    folder: Path, label: str | None = None, root: Path | None = None
) -> BundleMetadata:
    """Parse and validate ``metadata.json``; the error names the bundle and the field."""
    label = label or str(folder)
    meta_path = _bundle_file(folder, METADATA_FILE, label, root)
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle {label}: {METADATA_FILE} is not valid JSON ({exc})") from exc
    except OSError as exc:
        raise BundleError(f"bundle {label}: cannot read {METADATA_FILE}: {exc.strerror}") from exc
    if isinstance(raw, dict) and raw.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise BundleError(
            f"bundle {label}: unknown format_version {raw.get('format_version')!r} "
            f"(this server reads {FORMAT_VERSION})"
        )
    try:
        return BundleMetadata.model_validate(raw)
    except ValidationError as exc:
        raise BundleError(
            f"bundle {label}: invalid {METADATA_FILE}: {validation_problems(exc)}"
        ) from exc


def load_bundle(
    folder: str | Path, *, label: str | None = None, root: Path | None = None
) -> tuple[BundleMetadata, xgb.Booster]:
    """Read a bundle, check its hash and that the model agrees with the metadata.

    ``label`` names the bundle in error messages (default: its path); ``root`` is the model
    repository, inside which the bundle's files may be symlinks.
    """
    import xgboost as xgb

    folder = Path(folder)
    label = label or str(folder)
    metadata = read_metadata(folder, label, root)
    model_file = metadata.model_file
    model_path = _bundle_file(folder, model_file, label, root, role="model file ")
    try:
        digest = sha256_of(model_path)
    except OSError as exc:
        raise BundleError(f"bundle {label}: cannot read {model_file}: {exc.strerror}") from exc
    if digest != metadata.model_sha256:
        raise BundleError(
            f"bundle {label}: {model_file} hash mismatch "
            f"(metadata says {metadata.model_sha256[:12]}…, file is {digest[:12]}…)"
        )
    try:
        booster = xgb.Booster(model_file=str(model_path))
    except xgb.core.XGBoostError as exc:
        # XGBoost's message quotes the file's path and first byte: neither belongs in an answer.
        raise BundleError(
            f"bundle {label}: cannot read {model_file}: not a model XGBoost {xgb.__version__} "
            "can load"
        ) from exc
    return check_model_matches(label, metadata, booster), booster


def check_model_matches(
    label: str, metadata: BundleMetadata, booster: xgb.Booster
) -> BundleMetadata:
    """Fail when the model's features, categories, objective, task or outputs disagree with the
    metadata.

    Returns the metadata completed from the model: its objective and the names of its outputs
    (bundles written before they were recorded get them here).
    """
    _check_features(label, metadata, booster)
    _check_categories(label, metadata, booster)
    try:
        served = model_objective(booster)
    except BundleError as exc:
        raise BundleError(f"bundle {label}: {exc}") from None
    name = served.objective.name
    if metadata.objective is not None and metadata.objective != name:
        raise BundleError(
            f"bundle {label}: metadata objective is {metadata.objective} but the model's is {name}"
        )
    if served.objective.task != metadata.task:
        raise BundleError(
            f"bundle {label}: metadata task is {metadata.task} but the model's objective is "
            f"{served.objective.task} ({name})"
        )
    if metadata.task == "multiclass":
        num_class = int(learner_config(booster)["learner_model_param"]["num_class"])
        if num_class != len(metadata.labels):
            raise BundleError(
                f"bundle {label}: model has {num_class} classes, metadata lists "
                f"{len(metadata.labels)} class_labels"
            )
    outputs = _checked_outputs(label, metadata, served)
    return metadata.model_copy(update={"objective": name, "outputs": outputs})


def _check_features(label: str, metadata: BundleMetadata, booster: xgb.Booster) -> None:
    if booster.num_features() != len(metadata.features):
        raise BundleError(
            f"bundle {label}: model expects {booster.num_features()} features, "
            f"metadata lists {len(metadata.features)}"
        )
    names = [f.name for f in metadata.features]
    if booster.feature_names and list(booster.feature_names) != names:
        raise BundleError(
            f"bundle {label}: feature names differ: model has {list(booster.feature_names)}, "
            f"metadata has {names}"
        )
    if booster.feature_types:
        for spec, kind in zip(metadata.features, booster.feature_types, strict=True):
            if (kind == "c") != (spec.type == "categorical"):
                raise BundleError(
                    f"bundle {label}: feature {spec.name!r} is {spec.type} in metadata but "
                    f"{'categorical' if kind == 'c' else 'not categorical'} in the model"
                )


def _check_categories(label: str, metadata: BundleMetadata, booster: xgb.Booster) -> None:
    """Every category list must be the one the model stores: the API sends a value's position in
    the list as its code, and a different order would score every row with the wrong codes."""
    if not any(f.type == "categorical" for f in metadata.features):
        return
    stored = model_categories(booster)
    if stored is None:
        return  # trained on codes: the order given at packaging is all there is
    for spec, model_order in zip(metadata.features, stored, strict=True):
        if spec.type != "categorical":
            continue
        if model_order is None:
            raise BundleError(
                f"bundle {label}: feature {spec.name!r} is categorical in metadata but the "
                "model stores no categories for it"
            )
        problem = category_disagreement(spec.name, spec.categories or [], model_order)
        if problem:
            raise BundleError(f"bundle {label}: {problem}")


def _checked_outputs(
    label: str, metadata: BundleMetadata, served: ModelObjective
) -> list[OutputSpec] | None:
    """The metadata's outputs when they fit the model, derived from the model when absent."""
    if metadata.outputs is None:
        try:
            return output_specs(served, [metadata.target])
        except BundleError as exc:
            raise BundleError(f"bundle {label}: {exc}") from None
    if len(metadata.outputs) != served.outputs:
        raise BundleError(
            f"bundle {label}: metadata lists {len(metadata.outputs)} outputs, the model "
            f"predicts {served.outputs}"
        )
    alphas = [o.quantile for o in metadata.outputs]
    expected: list[float | None] = [None] * served.outputs
    if served.quantiles is not None:
        expected = [*served.quantiles]
    if alphas != expected:
        raise BundleError(
            f"bundle {label}: metadata output quantiles {alphas} differ from the model's "
            f"quantile_alpha {served.quantiles}"
        )
    return metadata.outputs
