"""Shape model outputs into the v1 response rows (labels, probabilities, values, contributions)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from model_api.serving.bundle import BundleMetadata
from model_api.serving.runtime import Contributions, Prediction

MANY_ROWS = 16


def prediction_rows(
    metadata: BundleMetadata, prediction: Prediction, token: str | None = None
) -> list[dict[str, Any]]:
    """One v1 prediction object per row; with a prediction log ``token`` each row's id
    (``<token>-<row>``) is its first key."""
    rows = _prediction_rows(metadata, prediction)
    if token is None:
        return rows
    return [{"id": f"{token}-{i}", **row} for i, row in enumerate(rows)]


def _prediction_rows(metadata: BundleMetadata, prediction: Prediction) -> list[dict[str, Any]]:
    if prediction.classes is not None:  # a classifier without probabilities: the label alone
        labels = metadata.labels
        return [{"label": labels[c]} for c in prediction.classes.tolist()]
    if prediction.proba is None:
        assert prediction.values is not None
        if prediction.values.ndim == 2:  # every output of a multi-output regressor, named
            names = metadata.output_names
            return [
                {"values": dict(zip(names, v, strict=True))} for v in prediction.values.tolist()
            ]
        return [{"value": v} for v in prediction.values.tolist()]
    labels = metadata.labels
    winners = np.argmax(prediction.proba, axis=1).tolist()
    probabilities = prediction.proba.tolist()
    if len(labels) == 2:  # the common case, spelled out: a dict literal beats dict(zip(...))
        first, second = labels
        return [
            {"label": labels[w], "probabilities": {first: p0, second: p1}}
            for w, (p0, p1) in zip(winners, probabilities, strict=True)
        ]
    return [
        {"label": labels[w], "probabilities": dict(zip(labels, p, strict=True))}
        for w, p in zip(winners, probabilities, strict=True)
    ]


def prediction_rows_json(
    metadata: BundleMetadata, prediction: Prediction, token: str | None = None
) -> bytes:
    """``orjson.dumps(prediction_rows(...))``, byte for byte, without a dict per row.

    Building and freeing a dict per row would cost a large share of a request of many rows; here
    orjson writes every number from the numpy array in one call and the rows are joined from
    constant pieces. Fewer than ``MANY_ROWS`` rows still go through the dicts (the pieces cost
    more to prepare than the dicts of a handful of rows).
    """
    if len(prediction) < MANY_ROWS:
        if token is not None and len(prediction) == 1:
            # The usual logged answer, one row: its id written in front, not a second dict.
            (row,) = _prediction_rows(metadata, prediction)
            return b"[" + _id_opening(token) + b'0",' + orjson.dumps(row)[1:] + b"]"
        return orjson.dumps(prediction_rows(metadata, prediction, token))
    if prediction.classes is not None:
        if token is not None:
            # Row i: {"id":"<token>-  i",  "label":<label>},
            count = len(prediction)
            labels = [b'"label":' + orjson.dumps(label) + b"}," for label in metadata.labels]
            pieces: list[bytes] = [b""] * (3 * count)
            pieces[0::3] = [_id_opening(token)] * count
            pieces[1::3] = _row_numbers(count)
            pieces[2::3] = [labels[c] for c in prediction.classes.tolist()]
            return b"[" + b"".join(pieces)[:-1] + b"]"  # without the last row's comma
        rows = [b'{"label":' + orjson.dumps(label) + b"}" for label in metadata.labels]
        return b"[" + b",".join([rows[c] for c in prediction.classes.tolist()]) + b"]"
    ids = None if token is None else _id_opening(token)
    if prediction.proba is None:
        assert prediction.values is not None
        if prediction.values.ndim == 2:
            # Row i: {"values":{"<name 0>": v0, "<name 1>": v1, ...}}
            names = [orjson.dumps(name) + b":" for name in metadata.output_names]
            separators = [b"," + name for name in names[1:]]
            return _rows_json(
                prediction.values, [b'{"values":{' + names[0]], [*separators, b"}}"], id_opening=ids
            )
        return _rows_json(prediction.values.reshape(-1, 1), [b'{"value":'], [b"}"], id_opening=ids)
    labels = [orjson.dumps(label) for label in metadata.labels]
    # Row i: prefix[winner] p0 sep[1] p1 ... sep[K-1] p(K-1) "}}"
    prefixes = [b'{"label":' + label + b',"probabilities":{' + labels[0] + b":" for label in labels]
    separators = [b"," + label + b":" for label in labels[1:]]
    winners = np.argmax(prediction.proba, axis=1)
    return _rows_json(prediction.proba, prefixes, [*separators, b"}}"], winners, ids)


def _id_opening(token: str) -> bytes:
    """What opens every row of a logged answer: ``{"id":"<token>-`` (the row number follows)."""
    return b'{"id":"' + token.encode() + b"-"


# Row numbers as they close an id (``12",``), made once: an answer takes a slice of them.
_ROW_NUMBERS: list[bytes] = []
ROW_NUMBERS_KEPT = 65_536  # past this, each answer makes its own (rare, and bounded memory)


def _row_numbers(rows: int) -> list[bytes]:
    # A cache rebound whole (atomic): two threads that miss it at once only both make it.
    global _ROW_NUMBERS
    if rows > ROW_NUMBERS_KEPT:
        return [b'%d",' % i for i in range(rows)]
    if len(_ROW_NUMBERS) < rows:
        _ROW_NUMBERS = [b'%d",' % i for i in range(min(ROW_NUMBERS_KEPT, max(rows, 1_024)))]
    return _ROW_NUMBERS[:rows]


def _rows_json(
    values: np.ndarray,
    row_starts: list[bytes],
    separators: list[bytes],
    choices: np.ndarray | None = None,
    id_opening: bytes | None = None,
) -> bytes:
    """A JSON array with one object per row of ``values`` [N, K].

    Row i is ``row_starts[choices[i]]`` (without choices the only one), then each value followed
    by its separator; the last separator closes the row. orjson writes every number from the
    array in one call, exactly as it writes a Python float (shortest round trip, NaN and
    infinities as null), and the rows are joined from the constant pieces around them. With
    ``id_opening`` each row opens with its id instead: ``{"id":"<token>-<i>",`` and the row's
    first key.
    """
    rows, width = values.shape
    if rows == 0:
        return b"[]"
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    numbers = orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY)
    tokens = numbers[1:-1].split(b",")
    first = 0 if id_opening is None else 2  # where the row's own opening piece is
    stride = first + 1 + 2 * width
    pieces: list[bytes] = [b""] * (rows * stride)
    starts = row_starts if id_opening is None else [start[1:] for start in row_starts]
    if choices is None:
        pieces[first::stride] = starts * rows
    else:
        pieces[first::stride] = [starts[c] for c in choices.tolist()]
    if id_opening is not None:
        pieces[0::stride] = [id_opening] * rows
        pieces[1::stride] = _row_numbers(rows)
    for k in range(width):
        pieces[first + 1 + 2 * k :: stride] = tokens[k::width]
        pieces[first + 2 + 2 * k :: stride] = [separators[k]] * rows
    # Rows are separated by commas: append one to every closing piece but the last.
    pieces[stride - 1 : -1 : stride] = [separators[-1] + b","] * (rows - 1)
    return b"[" + b"".join(pieces) + b"]"


def explanation_space(metadata: BundleMetadata, output: int | None) -> dict[str, Any]:
    """What ``/explain`` contributions add up to, for people and programs.

    ``output_space`` (value, margin, log, logit), its name in words, and how the served value
    follows from the margin (``margin_to_value``: identity, exp, sigmoid, softmax, step).
    """
    spec = metadata.spec
    names = metadata.output_names
    index = metadata.primary_output if output is None else output
    target = metadata.target
    if names and metadata.outputs and metadata.outputs[index].quantile is None:
        target = names[index]  # multi-target: the explained target's own name
    labels = metadata.labels
    return {
        "output_space": spec.output_space,
        "space_name": spec.space(target=target, positive=labels[-1] if labels else ""),
        "margin_to_value": spec.margin_to_value,
    }


def explanation_rows(
    metadata: BundleMetadata, prediction: Prediction, contributions: Contributions
) -> list[dict[str, Any]]:
    """Per row: the prediction without probabilities, what is explained, base value, contributions.

    ``explained_value`` is the served number the explained margin (base_value + sum) maps to:
    the value of the explained output, or the explained class's probability (hinge: 0 or 1).
    """
    names = [f.name for f in metadata.features]
    base_rows = _prediction_rows(metadata, prediction)
    labels = metadata.labels
    explained = contributions.explained_class
    output = contributions.explained_output
    explained_values = _explained_values(prediction, contributions).tolist()
    rows = []
    for i, (values, base) in enumerate(
        zip(contributions.values.tolist(), contributions.base_values.tolist(), strict=True)
    ):
        row: dict[str, Any] = {k: v for k, v in base_rows[i].items() if k != "probabilities"}
        if explained is not None:
            row["explained_class"] = labels[int(explained[i])]
        if output is not None:
            row["explained_output"] = metadata.output_names[output]
        if contributions.margin_output is not None:
            row["margin_output"] = metadata.output_names[int(contributions.margin_output[i])]
        row["explained_value"] = explained_values[i]
        row["base_value"] = base
        row["contributions"] = dict(zip(names, values, strict=True))
        rows.append(row)
    return rows


def _explained_values(prediction: Prediction, contributions: Contributions) -> np.ndarray:
    if prediction.values is not None:
        values = prediction.values
        return values if values.ndim == 1 else values[:, contributions.explained_output or 0]
    if prediction.classes is not None:
        return prediction.classes.astype(np.float64)
    assert prediction.proba is not None
    assert contributions.explained_class is not None
    rows = np.arange(len(prediction.proba))
    picked: np.ndarray = prediction.proba[rows, contributions.explained_class]
    return picked
