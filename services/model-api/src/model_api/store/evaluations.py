"""Evaluation runs: saved whole (their summary in columns, the answer as JSON), listed per model
and version, read back by id. Each function takes a connection; ``Store`` opens them."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from sqlalchemy import Connection, select

from model_api.store.records import EvaluationRun
from model_api.store.schema import evaluation_runs

RUN_ID_BYTES = 16


def new_run_id() -> str:
    """A run's id: 32 random hex characters."""
    return secrets.token_hex(RUN_ID_BYTES)


def save(connection: Connection, run: EvaluationRun) -> None:
    connection.execute(
        evaluation_runs.insert().values(
            id=run.id,
            model=run.model,
            version=run.version,
            created_at=run.created_at,
            source=run.source,
            target=run.target,
            data_sha256=run.data_sha256,
            n_rows=run.rows,
            n_scored=run.scored,
            n_failed=run.failed,
            headline=run.headline,
            headline_value=run.headline_value,
            result=orjson.dumps(run.result).decode(),
        )
    )


def runs(
    connection: Connection, model: str, version: str | None, limit: int
) -> list[dict[str, Any]]:
    """A model's runs (of one version, when given), newest first: each one's answer without
    its tables (the summary fields of ``model_contract.EvaluationSummary``)."""
    query = select(evaluation_runs.c.result).where(evaluation_runs.c.model == model)
    if version is not None:
        query = query.where(evaluation_runs.c.version == version)
    query = query.order_by(evaluation_runs.c.created_at.desc(), evaluation_runs.c.id).limit(limit)
    return [_summary(orjson.loads(text)) for (text,) in connection.execute(query)]


def run(connection: Connection, run_id: str) -> dict[str, Any] | None:
    """One run's whole answer, or None."""
    text = connection.execute(
        select(evaluation_runs.c.result).where(evaluation_runs.c.id == run_id)
    ).scalar_one_or_none()
    return None if text is None else orjson.loads(text)


SUMMARY_FIELDS = (
    "id", "model", "version", "created_at", "source", "target", "data_sha256",
    "rows", "scored", "failed", "headline",
)  # fmt: skip


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {name: result[name] for name in SUMMARY_FIELDS}
