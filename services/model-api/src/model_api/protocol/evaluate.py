"""v1 evaluate: a labelled CSV file scored and judged against its target column.

The file is read like a CSV to predict (``codecs.csv``: spooled, its header checked first, rows
in chunks, a bad row reported and skipped, never fatal), in a worker thread. Each chunk's rows
are scored by the model's runtime and their actual values read from the target column; the
evaluation package computes the metrics once the file is read. The run is stored with the
prediction log (when it is on), listed per model and version.
"""

from __future__ import annotations

import hashlib
import io
import math
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import anyio
import numpy as np
import orjson

from model_api.codecs.csv import (
    CSV_MEDIA_TYPES,
    DELIMITERS,
    UNKNOWN_DELIMITER,
    column_positions,
    read_header,
    row_chunks,
    spool_upload,
)
from model_api.errors import (
    BadRequestError,
    InvalidInputError,
    OverloadedError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from model_api.evaluation import Judge, gain_by_feature, slice_features
from model_api.protocol.messages import Answer, Incoming, Services, StreamedAnswer
from model_api.protocol.progress import PROGRESS_MEDIA_TYPE, progress_lines, wants_progress
from model_api.serving.bundle import BundleMetadata
from model_api.serving.registry import LoadedModel
from model_api.store import EvaluationRun, Store, StoreUnavailable, new_run_id

FAILED_ROWS_LISTED = 100
HASH_BLOCK = 1 << 20


async def evaluate(
    model: LoadedModel, incoming: Incoming, services: Services
) -> Answer | StreamedAnswer:
    """A labelled CSV in (the features and the target column: the bundle's ``target``, or
    ``?target=``); the evaluation out, stored when the prediction log is on."""
    sep = checked_request(model, incoming, "evaluate")
    target, point_output = target_of(model, incoming.query("target"))
    return await judge_upload(
        model,
        incoming,
        services,
        sep,
        target,
        point_output,
        (),
        lambda digest, judged: finish(model, target, digest, judged, services),
        "evaluate",
    )


async def judge_upload(
    model: LoadedModel,
    incoming: Incoming,
    services: Services,
    sep: str,
    target: str,
    point_output: int,
    others: Sequence[tuple[LoadedModel, int]],
    answer: Callable[[str, Judged], dict[str, Any]],
    verb: str,
) -> Answer | StreamedAnswer:
    """A labelled upload judged by ``model`` (and ``others``) in one of the server's evaluation
    slots; ``answer`` makes the answer of the file's digest and what was judged.

    The upload is spooled and its header checked first (a 4xx for the whole file); the rows are
    then judged in a worker thread, or, for a client asking for progress, while the progress
    stream is sent (the slot held until it ends)."""
    release = _slot_release(services)
    try:
        settings = services.settings
        spool = await spool_upload(incoming.chunks(), settings.max_csv_bytes)
    except BaseException:
        release()
        raise
    try:
        digest, size = await anyio.to_thread.run_sync(sha256_of, spool)
        text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
        header, header_lines = read_header(text, sep, settings)
        positions, _ = column_positions(model, header, sep)
        position = target_position(model, header, target)
        chunks = row_chunks(
            text, sep, settings.max_csv_row_bytes, header_lines + 1, settings.csv_chunk_rows
        )
        steps = judging(
            model,
            chunks,
            positions,
            len(header),
            position,
            point_output,
            settings.max_evaluate_rows,
            others,
        )
    except BaseException:
        spool.close()
        release()
        raise
    model.count_request(verb)
    for other, _ in others:
        other.count_request(verb)

    def done() -> None:
        spool.close()
        release()

    if wants_progress(incoming):

        def lines() -> Iterator[str]:
            try:
                yield from progress_lines(steps, spool, size, lambda j: answer(digest, j))
            finally:
                done()

        streamed = lines()
        # A stream the server never starts (the client went away first) never runs its
        # ``finally``: the slot is released when the stream is collected.
        weakref.finalize(streamed, done)
        return StreamedAnswer(streamed, PROGRESS_MEDIA_TYPE, {})
    try:
        judged = await anyio.to_thread.run_sync(drain, steps)
        spool.close()
        result = await anyio.to_thread.run_sync(answer, digest, judged)
    finally:
        done()
    return Answer(orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY))


def _slot_release(services: Services) -> Callable[[], None]:
    """Take one of the server's evaluation slots (503, retry, when none is free); the function
    that gives it back (once, however often it is called)."""
    slots = services.evaluations
    if not slots.acquire(blocking=False):
        raise OverloadedError(
            f"{services.settings.max_concurrent_evaluations} evaluation(s) already running on "
            "this server (MODEL_API_MAX_CONCURRENT_EVALUATIONS); retry in a moment"
        )
    held = [True]

    def release() -> None:
        if held and held.pop():
            slots.release()

    return release


def checked_request(model: LoadedModel, incoming: Incoming, verb: str) -> str:
    """What every labelled-file request is checked for first: a CSV, a known delimiter (the
    separator is returned) and a model these metrics judge."""
    if incoming.content_type not in CSV_MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"content type {incoming.content_type!r} is not supported here; {verb} takes a "
            "labelled CSV file (text/csv) with the features and the target column"
        )
    delimiter = incoming.query("delimiter")
    sep = DELIMITERS.get("," if delimiter is None else delimiter)
    if sep is None:
        raise BadRequestError(UNKNOWN_DELIMITER.format(delimiter))
    refuse_unevaluated(model)
    return sep


def refuse_unevaluated(model: LoadedModel) -> None:
    """422 for a model whose objective these metrics would misjudge, naming why."""
    refused = model.metadata.spec.not_evaluated
    if refused is not None:
        raise InvalidInputError(
            f"{model.name} is not evaluated: its objective {model.metadata.spec.name} is not "
            f"judged by these metrics ({refused})",
            [{"loc": ["model"], "msg": "objective not evaluated"}],
        )


@contextmanager
def evaluation_slot(services: Services) -> Iterator[None]:
    """Hold one of the server's evaluation slots; 503 (retry) when none is free."""
    release = _slot_release(services)
    try:
        yield
    finally:
        release()


def target_position(model: LoadedModel, header: list[str], target: str) -> int:
    """The target column's position in the header; 422 when it is missing or a feature."""
    names = [h.strip() for h in header]
    if target not in names:
        raise InvalidInputError(
            f"CSV header lacks the target column {target!r}: the actual values are needed "
            "beside the features (name another column with ?target=)",
            [{"loc": ["header", target], "msg": "missing target column"}],
        )
    if target in model.encoder.name_set:
        raise InvalidInputError(
            f"the target column {target!r} is one of the model's features; name the column "
            "of actual values with ?target=",
            [{"loc": ["query", "target"], "msg": "a feature, not a target"}],
        )
    return names.index(target)


def finish(
    model: LoadedModel,
    target: str,
    digest: str,
    judged: Judged,
    services: Services,
    source: str = "csv",
) -> dict[str, Any]:
    """The evaluation's answer, stored as a run when the prediction log is on (blocking)."""
    store = None if services.log is None else services.log.store
    result = _answer(model, target, digest, judged, source)
    if store is None:
        result["id"] = None
        result["notes"].append("not stored: the prediction log is off on this server")
    elif not _save(store, result):
        result["id"] = None
        result["notes"].append("not stored: the database cannot be reached right now")
    return result


def evaluated_targets(metadata: BundleMetadata) -> tuple[list[str], str | None]:
    """The target columns ``?target=`` may name, and the default (None: it must be named): the
    bundle's target, or one of a multi-target model's outputs."""
    names = metadata.output_names
    if not names or any(o.quantile is not None for o in metadata.outputs or []):
        return [metadata.target], metadata.target
    return names, metadata.target if metadata.target in names else None


def target_of(model: LoadedModel, asked: str | None) -> tuple[str, int]:
    """The target column's name, and the output the point metrics are of."""
    metadata = model.metadata
    targets, default = evaluated_targets(metadata)
    if asked is not None and not asked.strip():
        problem = "target is empty; name the column of actual values, or leave target out"
        raise InvalidInputError(problem, [{"loc": ["query", "target"], "msg": problem}])
    if targets == [metadata.target] and default is not None:
        return (asked or default), point_quantile(metadata)
    # Several targets: one is judged at a time, its actual values in the column of its name.
    target = asked or default
    if target not in targets:
        raise InvalidInputError(
            f"{model.name} predicts several targets ({', '.join(targets)}); name the one to "
            "evaluate with ?target= (its actual values in the column of that name)",
            [{"loc": ["query", "target"], "msg": f"expected one of {', '.join(targets)}"}],
        )
    return target, targets.index(target)


def point_quantile(metadata: BundleMetadata) -> int:
    """The output a quantile model's point metrics are of: the quantile nearest the median (the
    lower of two as near); 0 for a single-output model."""
    alphas = [o.quantile for o in metadata.outputs or [] if o.quantile is not None]
    if not alphas or len(alphas) != len(metadata.outputs or []):
        return 0
    return min(range(len(alphas)), key=lambda j: (abs(alphas[j] - 0.5), alphas[j]))


def sha256_of(spool: IO[bytes]) -> tuple[str, int]:
    """The upload's SHA-256 and size; it is read again from its start."""
    digest = hashlib.sha256()
    size = 0
    for block in iter(lambda: spool.read(HASH_BLOCK), b""):
        digest.update(block)
        size += len(block)
    spool.seek(0)
    return digest.hexdigest(), size


class Judged:
    """A file's rows judged by one model or more (``judges``, in order), and what failed."""

    def __init__(
        self,
        judges: list[Judge],
        rows: int,
        failed: int,
        failed_rows: list[dict[str, Any]],
        scored_rows: list[np.ndarray],
    ) -> None:
        self.judges, self.rows, self.failed, self.failed_rows = judges, rows, failed, failed_rows
        self.scored_rows = scored_rows  # per chunk, the data row numbers of the rows judged

    @property
    def judge(self) -> Judge:
        return self.judges[0]


def drain[Done](steps: Generator[Any, None, Done]) -> Done:
    """Run ``steps`` to their end; what they return."""
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            done: Done = finished.value
            return done


def judging(
    model: LoadedModel,
    chunks: Any,
    positions: list[int],
    columns: int,
    target_position: int,
    point_output: int,
    max_rows: int,
    others: Sequence[tuple[LoadedModel, int]] = (),
) -> Generator[int, None, Judged]:
    """Read, score and judge the chunks of rows, one at a time: the rows read so far are yielded
    after each, and what was judged returned at the end. ``others``: more models with the same
    features and answers, each with the output its point metrics are of, judged on the same
    rows (a row one of them cannot score fails for all)."""
    metadata = model.metadata
    labels = metadata.labels
    scorers = [(model, point_output), *others]
    judges = [_judge(m, output) for m, output in scorers]
    codes = {label: i for i, label in enumerate(labels)}
    failed_rows: list[dict[str, Any]] = []
    scored_rows: list[np.ndarray] = []
    failed = rows_read = 0
    for rows, unreadable in chunks:
        first = rows_read + 1
        rows_read += len(rows)
        if rows_read > max_rows:
            raise PayloadTooLargeError(
                f"the file has more than {max_rows} rows, the most one evaluation takes "
                "(MODEL_API_MAX_EVALUATE_ROWS); evaluate a sample of it"
            )
        matrix, errors = model.encoder.from_text_rows(rows, positions, columns)
        errors.update(unreadable)
        cells = [row[target_position] if len(row) > target_position else "" for row in rows]
        actual = _actual(cells, codes, errors)
        valid = np.ones(len(rows), dtype=bool)
        valid[list(errors)] = False
        if errors:
            failed += len(errors)
            for i in sorted(errors):
                if len(failed_rows) < FAILED_ROWS_LISTED:
                    failed_rows.append({"row": first + i, "error": errors[i]})
        if valid.any():
            scored = matrix[valid]
            scored_rows.append((np.flatnonzero(valid) + first).astype(np.int64))
            for (scorer, _), judge in zip(scorers, judges, strict=True):
                # Not observed: the prediction metrics (classes, values, drift) watch live
                # traffic, which a file of a million labelled rows would drown.
                judge.add(actual[valid], scorer.runtime.predict(scored), scored)
        yield rows_read
    return Judged(judges, rows_read, failed, failed_rows, scored_rows)


def _judge(model: LoadedModel, point_output: int) -> Judge:
    metadata = model.metadata
    alphas = [o.quantile for o in metadata.outputs or [] if o.quantile is not None]
    booster = model.runtime.booster
    importance = gain_by_feature(
        booster.get_score(importance_type="total_gain"),
        [f.name for f in metadata.features],
        named=bool(booster.feature_names),
    )
    return Judge(
        metadata.labels,
        metadata.output_names,
        point_output,
        alphas if len(alphas) == len(metadata.output_names) and alphas else None,
        slice_features(metadata.features, importance),
    )


def _actual(cells: list[str], codes: dict[str, int], errors: dict[int, str]) -> np.ndarray:
    """The target cells as class indexes (``codes``: a classifier's, label -> index) or as
    numbers (``codes`` empty: regression); a cell that is neither is the row's error."""
    if codes:
        actual = np.zeros(len(cells), dtype=np.int32)
        for i, cell in enumerate(cells):
            text = cell.strip()
            code = codes.get(text)
            if code is None:
                code = codes.get(_integral(text) or "")
            if code is None:
                if i not in errors:
                    errors[i] = (
                        f"target {text!r} is not a class of the model"
                        if text
                        else "target is empty"
                    ) + f"; expected one of {', '.join(codes)}"
                continue
            actual[i] = code
        return actual
    values = np.zeros(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        text = cell.strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            if i not in errors:
                errors[i] = f"target {text!r} is not a number" if text else "target is empty"
            continue
        values[i] = value
    return values


def _integral(text: str) -> str | None:
    """``"1.0"`` → ``"1"``: a class written as a number the way a spreadsheet writes it."""
    try:
        value = float(text)
    except ValueError:
        return None
    return str(int(value)) if value.is_integer() else None


def evaluate_feedback(
    model: LoadedModel,
    services: Services,
    store: Store,
    *,
    predictions_of: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The labels colleagues gave as an evaluation source: every judged prediction of the model
    (made by ``predictions_of``, when given), its logged inputs scored by ``model`` and judged
    against the actual answer the feedback implies (blocking: the store's reads and the scoring).

    One row per prediction, its latest feedback. The actual answer: the one given; else, for a
    classifier judged right, the class it predicted, and judged wrong, the other class of a
    binary model. A prediction whose actual answer is unknown (judged wrong among several
    classes, or a value judged without one) is counted and listed, like a row that cannot be
    scored (a feature left out of the log, a version with other features).
    """
    with evaluation_slot(services):
        return _evaluate_feedback(model, services, store, predictions_of, since, until)


def _evaluate_feedback(
    model: LoadedModel,
    services: Services,
    store: Store,
    predictions_of: str | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    metadata = model.metadata
    labels = metadata.labels
    refuse_unevaluated(model)
    # Feedback gives one actual value: of the target, or of a multi-target model's primary output.
    target, point_output = (
        target_of(model, None)
        if evaluated_targets(metadata)[0] == [metadata.target]
        else (metadata.output_names[metadata.primary_output], metadata.primary_output)
    )
    latest: dict[str, Any] = {}  # prediction id -> its latest feedback (oldest first: overwrite)
    for row in store.export_rows(model.name, version=predictions_of, since=since, until=until):
        latest[row.prediction_id] = row
    judge = _judge(model, point_output)
    digest = hashlib.sha256()
    failed_rows: list[dict[str, Any]] = []
    failed = 0
    kept_rows: list[np.ndarray] = []
    kept_actual: list[Any] = []
    names = model.encoder.names
    for number, (prediction_id, row) in enumerate(latest.items(), start=1):
        digest.update(orjson.dumps([prediction_id, row.verdict, row.actual]))
        actual, problem = _feedback_actual(row, labels)
        if problem is None:
            problem = _missing_features(model, row.inputs)
        if problem is None:
            try:  # one at a time: a row this version cannot read fails alone
                kept_rows.append(model.encoder.from_records([{n: row.inputs[n] for n in names}]))
            except InvalidInputError as exc:
                problem = f"this version cannot read its logged inputs ({exc.message})"
        if problem is not None:
            failed += 1
            if len(failed_rows) < FAILED_ROWS_LISTED:
                failed_rows.append({"row": number, "error": f"{prediction_id}: {problem}"})
            continue
        kept_actual.append(actual)
    if kept_rows:
        matrix = np.concatenate(kept_rows)
        prediction = model.runtime.predict(matrix)  # not observed, as in judging
        dtype = np.int32 if labels else np.float64
        judge.add(np.asarray(kept_actual, dtype=dtype), prediction, matrix)
    model.count_request("evaluate")
    judged = Judged([judge], len(latest), failed, failed_rows, [])
    result = finish(model, target, digest.hexdigest(), judged, services, source="feedback")
    if not latest:
        result["notes"].append("no feedback on this model's predictions yet")
    return result


def _feedback_actual(row: Any, labels: list[str]) -> tuple[Any, str | None]:
    """The actual answer a feedback implies (a class index, or a number), or why there is none."""
    given = row.actual
    if labels:
        if given is not None:
            label = str(given)
            if label not in labels:
                return None, f"actual {label!r} is not a class of the model"
            return labels.index(label), None
        predicted = row.output.get("label")
        if row.verdict == "right" and predicted in labels:
            return labels.index(predicted), None
        if row.verdict == "wrong" and len(labels) == 2 and predicted in labels:
            return 1 - labels.index(predicted), None
        return None, "judged wrong without the actual class"
    if isinstance(given, bool) or not isinstance(given, int | float) or not math.isfinite(given):
        return None, "judged without the actual value"
    return float(given), None


def _missing_features(model: LoadedModel, inputs: dict[str, Any]) -> str | None:
    missing = [name for name in model.encoder.names if name not in inputs]
    if missing:
        return (
            f"its logged inputs lack {', '.join(missing)} (left out of the log, or another "
            "version's features)"
        )
    return None


def _answer(
    model: LoadedModel, target: str, digest: str, judged: Judged, source: str = "csv"
) -> dict[str, Any]:
    metrics = judged.judge.result()
    return {
        "id": new_run_id(),
        "model": model.name,
        "version": model.version,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source": source,
        "target": target,
        "data_sha256": digest,
        "rows": judged.rows,
        "scored": judged.judge.rows,
        "failed": judged.failed,
        "headline": metrics["headline"],
        "failed_rows": judged.failed_rows,
        "classification": metrics["classification"],
        "regression": metrics["regression"],
        "slices": metrics["slices"],
        "notes": metrics["notes"],
    }


def _save(store: Store, result: dict[str, Any]) -> bool:
    headline = result["headline"]
    run = EvaluationRun(
        id=result["id"],
        model=result["model"],
        version=result["version"],
        created_at=datetime.fromisoformat(result["created_at"]),
        source=result["source"],
        target=result["target"],
        data_sha256=result["data_sha256"],
        rows=result["rows"],
        scored=result["scored"],
        failed=result["failed"],
        headline=headline["name"],
        headline_value=headline["value"],
        result=result,
    )
    try:
        store.save_evaluation(run)
    except StoreUnavailable:
        return False
    return True
