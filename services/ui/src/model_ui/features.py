"""Pure helpers around a model's feature metadata: form defaults, input steps, sample rows."""

from __future__ import annotations

import math
import random

from model_contract import Feature, Scalar


def default_value(feature: Feature) -> Scalar:
    """The value a form starts with: the metadata default, else something valid."""
    if feature.type == "categorical":
        categories = feature.categories or [""]
        return str(feature.default) if feature.default in categories else categories[0]
    if feature.type == "boolean":
        return bool(feature.default) if feature.default is not None else False
    if isinstance(feature.default, int | float) and not isinstance(feature.default, bool):
        number = float(feature.default)
    elif feature.min is not None and feature.max is not None:
        number = (feature.min + feature.max) / 2
    else:
        number = feature.min if feature.min is not None else 0.0
    return round(number) if feature.type == "integer" else number


def default_row(features: list[Feature]) -> dict[str, Scalar]:
    return {f.name: default_value(f) for f in features}


def number_step(feature: Feature) -> float:
    """A step about a hundredth of the observed range, rounded to a power of ten."""
    if feature.type == "integer":
        return 1.0
    if feature.min is None or feature.max is None or feature.max <= feature.min:
        return 0.1
    return float(10 ** math.floor(math.log10((feature.max - feature.min) / 100)))


def number_format(step: float, value: Scalar = None) -> str:
    """printf format with the step's decimals, or more when the value needs them (max 6)."""
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        decimals = max(decimals, len(text.split(".")[1]) if "." in text else 0)
    return f"%.{decimals}f"


def range_label(feature: Feature) -> str:
    """A short range for a form label, e.g. ``32.1–59.6``; empty when unknown."""
    if (
        feature.type in ("numeric", "integer")
        and feature.min is not None
        and feature.max is not None
    ):
        return f"{feature.min:g}–{feature.max:g}"
    return ""


def range_text(feature: Feature) -> str:
    """The observed training range or categories, in words."""
    if feature.type == "categorical":
        return "one of " + ", ".join(feature.categories or [])
    if feature.type == "boolean":
        return "true or false"
    if feature.min is None or feature.max is None:
        return "no range recorded"
    return f"training range {feature.min:g} to {feature.max:g}"


def out_of_range(feature: Feature, value: Scalar) -> bool:
    if feature.type not in ("numeric", "integer") or not isinstance(value, int | float):
        return False
    low = feature.min if feature.min is not None else -math.inf
    high = feature.max if feature.max is not None else math.inf
    return not low <= float(value) <= high


def synthetic_rows(features: list[Feature], count: int, seed: int = 0) -> list[dict[str, Scalar]]:
    """Rows drawn uniformly and independently within each feature's observed range or categories.

    This is not the training data (the API does not serve it); it covers the region the model was
    trained on, so importance computed on it measures how much each feature moves the model there.
    """
    rng = random.Random(seed)  # noqa: S311  (a reproducible sample, not a secret)
    rows: list[dict[str, Scalar]] = []
    for _ in range(count):
        row: dict[str, Scalar] = {}
        for feature in features:
            if feature.type == "categorical":
                row[feature.name] = rng.choice(feature.categories or [""])
            elif feature.type == "boolean":
                row[feature.name] = rng.random() < 0.5
            elif feature.min is not None and feature.max is not None:
                value = rng.uniform(feature.min, feature.max)
                row[feature.name] = round(value) if feature.type == "integer" else round(value, 6)
            else:
                row[feature.name] = default_value(feature)
        rows.append(row)
    return rows
