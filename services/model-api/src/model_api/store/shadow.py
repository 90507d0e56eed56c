"""Shadow disagreements: saved in batches by the shadow scorer's thread, read back newest
first for review, purged with the prediction log. Each function takes a connection; ``Store``
opens them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from model_api.store.records import ShadowDisagreement
from model_api.store.schema import shadow_disagreements as shadow_t


def save(connection: Connection, rows: list[ShadowDisagreement]) -> None:
    connection.execute(
        shadow_t.insert(),
        [
            {
                "created_at": row.created_at,
                "model": row.model,
                "version": row.version,
                "shadow_version": row.shadow_version,
                "prediction_id": row.prediction_id,
                "inputs": orjson.dumps(row.inputs).decode(),
                "answer": orjson.dumps(row.answer).decode(),
                "shadow_answer": orjson.dumps(row.shadow_answer).decode(),
            }
            for row in rows
        ],
    )


def page(
    connection: Connection,
    model: str,
    *,
    version: str | None,
    shadow_version: str | None,
    before: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], int | None]:
    """A model's disagreements newest first (``before``: the cursor, an id), and the cursor of
    the next page (None: this was the last)."""
    query = select(shadow_t).where(shadow_t.c.model == model)
    if version is not None:
        query = query.where(shadow_t.c.version == version)
    if shadow_version is not None:
        query = query.where(shadow_t.c.shadow_version == shadow_version)
    if before is not None:
        query = query.where(shadow_t.c.id < before)
    found = connection.execute(query.order_by(shadow_t.c.id.desc()).limit(limit + 1)).all()
    rows = [
        {
            "created_at": row.created_at,
            "version": row.version,
            "shadow_version": row.shadow_version,
            "prediction_id": row.prediction_id,
            "inputs": orjson.loads(row.inputs),
            "answer": orjson.loads(row.answer),
            "shadow_answer": orjson.loads(row.shadow_answer),
        }
        for row in found[:limit]
    ]
    return rows, (found[limit - 1].id if len(found) > limit else None)


def purge(connection: Connection, before: datetime) -> int:
    """Delete the disagreements recorded before ``before``; how many."""
    result = connection.execute(shadow_t.delete().where(shadow_t.c.created_at < before))
    return int(result.rowcount or 0)
