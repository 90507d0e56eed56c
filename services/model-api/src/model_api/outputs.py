"""Shape model outputs into the v1 response rows (labels, probabilities, values, contributions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from model_api.bundle import BundleMetadata
from model_api.runtime import Contributions, Prediction


def prediction_rows(metadata: BundleMetadata, prediction: Prediction) -> list[dict[str, Any]]:
    if prediction.proba is None:
        assert prediction.values is not None
        return [{"value": v} for v in prediction.values.tolist()]
    labels = metadata.labels
    winners = np.argmax(prediction.proba, axis=1).tolist()
    probabilities = prediction.proba.tolist()
    if len(labels) == 2:  # the common case, spelled out: twice as fast as dict(zip(...))
        first, second = labels
        return [
            {"label": labels[w], "probabilities": {first: p0, second: p1}}
            for w, (p0, p1) in zip(winners, probabilities, strict=True)
        ]
    return [
        {"label": labels[w], "probabilities": dict(zip(labels, p, strict=True))}
        for w, p in zip(winners, probabilities, strict=True)
    ]


def explanation_rows(
    metadata: BundleMetadata, prediction: Prediction, contributions: Contributions
) -> list[dict[str, Any]]:
    names = [f.name for f in metadata.features]
    base_rows = prediction_rows(metadata, prediction)
    labels = metadata.labels
    explained = contributions.explained_class
    rows = []
    for i, (values, base) in enumerate(
        zip(contributions.values.tolist(), contributions.base_values.tolist(), strict=True)
    ):
        row: dict[str, Any] = {k: v for k, v in base_rows[i].items() if k != "probabilities"}
        if explained is not None:
            row["explained_class"] = labels[int(explained[i])]
        row["base_value"] = base
        row["contributions"] = dict(zip(names, values, strict=True))
        rows.append(row)
    return rows
