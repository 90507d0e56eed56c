"""Writing bundles: ``save_bundle`` packages a trained model and a sample of its training data.

The sample (a pandas DataFrame) gives the feature schema: types, categories, training ranges,
defaults. The bundle is checked exactly as the server will load it (``serving.registry.
check_bundle``) before it is moved into place. pandas is imported here only, never by serving.
"""

from __future__ import annotations

import math
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from model_contract import Task
from pydantic import ValidationError

from model_api.errors import BundleError
from model_api.serving.bundle import (
    METADATA_FILE,
    MODEL_FILES,
    BundleMetadata,
    FeatureSpec,
    OutputSpec,
    category_disagreement,
    model_categories,
    name_problem,
    output_specs,
    primary_output,
    quoted_listing,
    sha256_of,
    validation_problems,
)
from model_api.serving.objectives import learner_config, model_objective
from model_api.serving.registry import check_bundle

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb


def infer_features(
    sample: pd.DataFrame, categories: Mapping[str, list[str]] | None = None
) -> list[FeatureSpec]:
    """Derive the feature schema (types, categories, ranges, defaults) from a training sample.

    ``categories`` gives each categorical feature's values in code order (see
    ``category_orders``); the sample's values are checked against it, never used to build it.
    """
    import pandas as pd

    categories = categories or {}
    features: list[FeatureSpec] = []
    for label in sample.columns:
        name, column = str(label), sample[label]
        dtype = column.dtype
        if name in categories:
            features.append(_categorical_feature(name, column, categories[name]))
        elif pd.api.types.is_bool_dtype(dtype):
            mode = column.dropna().mode()
            default = bool(mode.iloc[0]) if len(mode) else False
            features.append(FeatureSpec(name=name, type="boolean", default=default))
        elif holds_categories(column):
            raise BundleError(f"feature {name!r} holds categories or text; {GIVE_ORDER}")
        else:
            features.append(_number_feature(name, column))
    return features


def _number_feature(name: str, column: pd.Series) -> FeatureSpec:
    """A numeric or integer feature: its training range, and a default the form can show as is.

    The default is the sample's lower median, a value the sample holds: inside the range and
    whole for an integer feature (an interpolated or rounded median may be neither).
    """
    import pandas as pd

    values = column.dropna()
    is_int = pd.api.types.is_integer_dtype(column.dtype)
    if not len(values):
        return FeatureSpec(name=name, type="integer" if is_int else "numeric", default=0)
    median = values.quantile(0.5, interpolation="lower")
    return FeatureSpec(
        name=name,
        type="integer" if is_int else "numeric",
        min=float(values.min()),
        max=float(values.max()),
        default=int(median) if is_int else float(median),
    )


def _categorical_feature(name: str, column: pd.Series, order: list[str]) -> FeatureSpec:
    """A categorical feature with the model's category order; the sample must agree with it."""
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        listed = [str(c) for c in column.dtype.categories]
        if listed != order:
            raise BundleError(
                f"feature {name!r}: the sample's categories are {quoted_listing(listed)} but the "
                f"model's are {quoted_listing(order)} (in code order); give the sample the model's "
                "categories"
            )
    counts = Counter(str(v) for v in column.dropna())
    unknown = sorted(set(counts) - set(order))
    if unknown:
        raise BundleError(
            f"feature {name!r}: the sample holds {quoted_listing(unknown[:10])}, which the model does "
            f"not know; its categories are {quoted_listing(order)}"
        )
    # The most frequent value; a tie goes to the lowest code, so any sample spelling agrees.
    default = max(order, key=lambda c: counts.get(c, 0))
    return FeatureSpec(name=name, type="categorical", categories=order, default=default)


GIVE_ORDER = (
    "give its categories in the order of the codes it was trained on (save_bundle: "
    "categories=; CLI: --categories)"
)


def category_orders(
    booster: xgb.Booster, sample: pd.DataFrame, given: Mapping[str, Sequence[Any]]
) -> dict[str, list[str]]:
    """The code order of every categorical feature: the model's own, else the order ``given``.

    Refused, by feature name: a given order that is not the model's, a categorical feature with
    neither, and a given feature the model does not have.
    """
    names = [str(c) for c in sample.columns]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise BundleError(f"categories given for features the model lacks: {', '.join(unknown)}")
    stored = model_categories(booster) or [None] * len(names)
    if len(stored) != len(names):
        raise BundleError(f"model expects {len(stored)} features, the sample has {len(names)}")
    types = booster.feature_types
    orders: dict[str, list[str]] = {}
    for j, (name, model_order) in enumerate(zip(names, stored, strict=True)):
        explicit = [str(c) for c in given[name]] if name in given else None
        if model_order is not None:
            problem = explicit and category_disagreement(name, explicit, model_order)
            if problem:
                raise BundleError(f"{problem}; leave it out and the model's own order is used")
            orders[name] = model_order
        elif explicit is not None:
            orders[name] = explicit
        elif types and types[j] == "c":
            raise BundleError(
                f"feature {name!r} is categorical but the model stores no category list (it was "
                f"trained on codes, not pandas categories); {GIVE_ORDER}"
            )
        elif holds_categories(sample.iloc[:, j]):
            if types:
                raise BundleError(
                    f"feature {name!r} holds categories or text in the sample, but the model "
                    "takes it as a number"
                )
            raise BundleError(
                f"feature {name!r} holds categories or text in the sample, but the model stores "
                f"no category list for it; {GIVE_ORDER}"
            )
    return orders


def holds_categories(column: pd.Series) -> bool:
    """Whether a sample column holds categories or text (anything but numbers and booleans)."""
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    return not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))


def _booster_of(model: Any) -> xgb.Booster:
    import xgboost as xgb

    if isinstance(model, xgb.Booster):
        return model
    if hasattr(model, "get_booster"):
        booster: xgb.Booster = model.get_booster()
        return booster
    raise TypeError(f"expected an xgboost Booster or sklearn wrapper, got {type(model).__name__}")


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
    categories: Mapping[str, Sequence[Any]] | None = None,
) -> BundleMetadata:
    """Package a trained model and a sample of its training features into a bundle folder.

    ``sample`` holds the model's feature columns (picked by name when the model has names, else
    in the order the model was trained on). A categorical feature's categories, in code order,
    come from the model, which stores them when it was trained on pandas ``category`` columns;
    for a model trained on bare codes, give them as ``categories={"feature": [...]}``. The
    sample's values must be among them. ``class_labels`` maps class indexes to names (an sklearn
    classifier's ``classes_`` is used when not given). ``target_sample`` (regression) records
    the target's deciles for drift metrics. ``target`` names the target column, or each target
    of a multi-target regressor in model order (a single name for such a model becomes
    ``<name>_0``, ``<name>_1``, …). Objectives the API cannot serve truthfully (ranking,
    multi-label, …) are refused, by name.

    The bundle is written into a hidden sibling folder, checked there exactly as the server
    loads it, and only then moved to ``path``: a refused bundle leaves nothing behind (and does
    not touch a bundle already at ``path``). Refusals raise ``BundleError`` naming the problem.
    """
    import xgboost as xgb

    booster = _booster_of(model)
    target_folder = Path(path)
    if target_folder.is_symlink():
        target_folder = target_folder.resolve()  # replace the folder it points to, not the link
    try:
        sample = _model_columns(booster, sample)
        served = model_objective(booster)
        task = task or served.objective.task
        assert task is not None  # model_objective refuses objectives without a task
        targets = [target] if isinstance(target, str) else [str(t) for t in target]
        outputs = output_specs(served, targets)
        if class_labels is None and task != "regression" and hasattr(model, "classes_"):
            class_labels = [str(c) for c in model.classes_]
        if task == "multiclass" and class_labels is None:
            num_class = int(learner_config(booster)["learner_model_param"]["num_class"])
            class_labels = [str(i) for i in range(num_class)]
        features = infer_features(sample, category_orders(booster, sample, categories or {}))
        for feature in features:
            if feature_descriptions and feature.name in feature_descriptions:
                feature.description = feature_descriptions[feature.name]
        fields: dict[str, Any] = {
            "name": name,
            "version": version,
            "task": task,
            "objective": served.objective.name,
            "description": description,
            "features": features,
            "target": ", ".join(targets),
            "outputs": outputs,
            "class_labels": class_labels,
            "target_quantiles": _primary_deciles(task, outputs, target_sample),
            "metrics": {k: float(v) for k, v in (metrics or {}).items() if math.isfinite(float(v))},
            "created_at": datetime.now(UTC).replace(microsecond=0),
            "xgboost_version": xgb.__version__,
            "model_file": f"model.{model_format}",
        }
        BundleMetadata.model_validate({**fields, "model_sha256": "0" * 64})  # fail before writing
    except ValidationError as exc:
        raise BundleError(f"bundle {target_folder}: {validation_problems(exc)}") from exc
    except BundleError as exc:
        raise BundleError(f"bundle {target_folder}: {exc}") from exc
    with _staged(target_folder) as folder:
        model_path = folder / fields["model_file"]
        booster.save_model(str(model_path))
        metadata = BundleMetadata(**fields, model_sha256=sha256_of(model_path))
        (folder / METADATA_FILE).write_text(
            metadata.model_dump_json(indent=2) + "\n", encoding="utf-8"
        )
        # Load what was written exactly as the server will, so a bad bundle fails here.
        check_bundle(folder, label=str(target_folder))
    return metadata


def _model_columns(booster: xgb.Booster, sample: pd.DataFrame) -> pd.DataFrame:
    """The sample's columns the model takes, in its order, named as text."""
    labels = {str(c): c for c in sample.columns}
    if len(labels) != len(sample.columns):
        repeated = sorted(n for n, k in Counter(map(str, sample.columns)).items() if k > 1)
        raise BundleError(f"the sample repeats the columns {', '.join(repeated)}")
    names = list(booster.feature_names or labels)
    for name in names:  # before pandas handles the names: it cannot hold some (lone surrogates)
        problem = name_problem(name)
        if problem:
            raise BundleError(problem)
    missing = [n for n in names if n not in labels]
    if missing:
        raise BundleError(f"the sample lacks the model's features: {', '.join(missing)}")
    import pandas as pd

    position = {label: j for j, label in enumerate(labels)}
    chosen = sample.iloc[:, [position[n] for n in names]]  # by position: any label works
    chosen.columns = pd.Index(names, dtype=object)
    return chosen


def _primary_deciles(
    task: Task, outputs: list[OutputSpec] | None, target_sample: Any
) -> list[float] | None:
    """Regression: deciles of the target the drift metric watches (the median quantile's, or
    the first target's)."""
    if task != "regression" or target_sample is None:
        return None
    return _target_deciles(target_sample, primary_output(outputs))


BUNDLE_FILES = frozenset({METADATA_FILE, *MODEL_FILES})


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A new folder to write a bundle into, moved to ``target`` when the block succeeds.

    It is a hidden sibling (the server skips folders whose names start with "."), made at the
    first folder of ``target`` that does not exist yet, so a refused bundle leaves no empty
    model folder behind either. A bundle already at ``target`` is replaced only on success.
    """
    if target.exists() and not target.is_dir():
        raise BundleError(f"bundle {target}: exists and is not a folder")
    if target.is_dir():
        others = sorted(p.name for p in target.iterdir() if p.name not in BUNDLE_FILES)
        if others:
            raise BundleError(
                f"bundle {target}: the folder holds files that are not part of a bundle "
                f"({', '.join(others[:5])}); save into a new or empty folder"
            )
    anchor = target
    while not anchor.parent.exists():
        anchor = anchor.parent
    work = anchor.parent / f".{anchor.name}.saving-{uuid.uuid4().hex[:12]}"
    folder = work / target.relative_to(anchor)
    folder.mkdir(parents=True)
    try:
        yield folder
        _move_into_place(work, anchor)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # already gone after a successful move


def _move_into_place(work: Path, anchor: Path) -> None:
    if not anchor.exists():
        work.rename(anchor)
        return
    replaced = anchor.parent / f".{anchor.name}.replaced-{uuid.uuid4().hex[:12]}"
    anchor.rename(replaced)
    try:
        work.rename(anchor)
    except OSError:
        replaced.rename(anchor)
        raise
    shutil.rmtree(replaced, ignore_errors=True)
