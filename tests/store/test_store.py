"""The store on its own, on the embedded SQLite database and on a real PostgreSQL server: what
the log keeps of a matrix, feedback per author, pages, the export, agreement, retention, and a
queue that drops (counted) instead of blocking."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from model_api.errors import PredictionNotFoundError
from model_api.observability.metrics import REGISTRY
from model_api.store import (
    FeedbackIn,
    PredictionNotFound,
    PredictionRecord,
    Store,
    StoreConfig,
    StoreError,
    ids,
    migrate,
    writer,
)
from model_api.store.database import MIGRATIONS, SQLITE_PAGE_BYTES, database_url
from model_api.store.ids import new_token, parse_prediction_id, prediction_id, prediction_ids
from model_api.store.schema import prediction_requests
from sqlalchemy import create_engine, inspect, text

COLUMNS = ("bill length (mm)", "island", "smoker", "secret")
ISLANDS = ("Biscoe", "Dream", "Torgersen")
SPECIES = ("Adelie", "Gentoo")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'model-api.db'}"
    base: str = request.getfixturevalue("fresh_postgres_url")
    # A fresh database per test: its own tables, nothing left by the test before.
    return _new_database(base, f"t{new_token()}")


def _new_database(url: str, name: str) -> str:
    engine = create_engine(database_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return database_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    store = Store.open(StoreConfig(url=url, flush_seconds=0.05, exclude_features=frozenset()))
    yield store
    store.close()


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _record(
    matrix: np.ndarray,
    *,
    model: str = "penguins",
    version: str = "1",
    token: str | None = None,
    created_at: float | None = None,
) -> PredictionRecord:
    rows = len(matrix)
    return PredictionRecord(
        token=token or new_token(),
        created_at=time.time() if created_at is None else created_at,
        model=model,
        version=version,
        source="ui",
        request_id="req-1",
        columns=COLUMNS,
        matrix=matrix.astype(np.float32),
        categories={1: ISLANDS},
        booleans=frozenset({2}),
        output_kind="proba",
        output=np.tile(np.array([[0.9, 0.1]], dtype=np.float32), (rows, 1)),
        output_names=SPECIES,
    )


def _logged(store: Store, matrix: np.ndarray, **kwargs: Any) -> str:
    record = _record(matrix, **kwargs)
    store.record(record)
    store.flush()
    return record.token


def test_a_row_comes_back_as_the_user_sent_it(store: Store) -> None:
    matrix = np.array([[39.1, 2, 1, 7], [0.1, np.nan, 0, np.nan], [1e-7, 0, np.nan, 3]])
    token = _logged(store, matrix)
    first = store.prediction(prediction_id(token, 0))
    assert first is not None
    # float32 values as their shortest decimal, codes as labels, booleans, NaN as null.
    assert first.inputs == {
        "bill length (mm)": 39.1,
        "island": "Torgersen",
        "smoker": True,
        "secret": 7.0,
    }
    second = store.prediction(prediction_id(token, 1))
    assert second is not None
    assert second.inputs == {
        "bill length (mm)": 0.1,
        "island": None,
        "smoker": False,
        "secret": None,
    }
    third = store.prediction(prediction_id(token, 2))
    assert third is not None and third.inputs["bill length (mm)"] == 1e-7
    assert third.inputs["smoker"] is None
    p90, p10 = float(np.float32(0.9)), float(np.float32(0.1))
    assert first.output == {"label": "Adelie", "probabilities": {"Adelie": p90, "Gentoo": p10}}
    assert (first.model, first.version, first.source, first.request_id) == (
        "penguins",
        "1",
        "ui",
        "req-1",
    )
    assert first.created_at.tzinfo is not None
    assert abs((datetime.now(UTC) - first.created_at).total_seconds()) < 60
    # Past the request's rows, or a token never handed out: unknown.
    assert store.prediction(prediction_id(token, 3)) is None
    assert store.prediction(prediction_id(new_token(), 0)) is None
    assert store.prediction("not-an-id") is None


def test_a_requests_ids_are_its_token_and_row_numbers_at_any_size() -> None:
    token = new_token()
    # The suffixes grow past their first length, and past what is kept a request makes its own.
    for rows in (1, 3, 5000, 2, ids.ROW_SUFFIXES_KEPT, ids.ROW_SUFFIXES_KEPT + 1, 4):
        made = prediction_ids(token, rows)
        assert made == [prediction_id(token, row) for row in range(rows)]
        assert [parse_prediction_id(i) for i in made[:: max(1, rows // 7)]] == [
            (token, row) for row in range(0, rows, max(1, rows // 7))
        ]


def test_ids_are_unguessable_and_parse_back() -> None:
    before = int(time.time())
    made = [new_token() for _ in range(10_000)]
    after = int(time.time())
    assert all(len(t) == 20 and int(t, 16) >= 0 for t in made)
    # The second first (what keeps the database's index writes together), then the random part,
    # which alone tells the tokens of one second apart.
    seconds = {s & 0xFFFFFF for s in range(before, after + 1)}
    assert all(int(t[:6], 16) in seconds for t in made)
    assert len({t[6:] for t in made}) == 10_000
    tokens = set(made)
    token = next(iter(tokens))
    assert parse_prediction_id(prediction_id(token, 12)) == (token, 12)
    for bad in (f"{token}-", f"{token}-01", f"{token.upper()}-0", f"{token}0-0", f"{token}--1"):
        assert parse_prediction_id(bad) is None, bad


def test_tokens_from_threads_and_a_forked_child_are_never_reused() -> None:
    # Tokens are slices of a block read ahead: threads taking them at once, and a child that
    # inherited the parent's block, must each get their own.
    found: list[list[str]] = [[] for _ in range(4)]

    def take(into: list[str]) -> None:
        into.extend(new_token() for _ in range(2_000))

    threads = [threading.Thread(target=take, args=(f,)) for f in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [t for f in found for t in f]
    assert len(set(every)) == len(every) == 8_000
    # The fork runs in a fresh interpreter: forking pytest's own multi-threaded process is what
    # Python warns may deadlock, and the block must be read before the fork to test anything.
    script = """
import os
from model_api.store.ids import new_token
new_token()
read, write = os.pipe()
child = os.fork()
if child == 0:
    os.close(read)
    os.write(write, " ".join(new_token() for _ in range(3)).encode())
    os._exit(0)
os.close(write)
with os.fdopen(read) as pipe:
    childs = pipe.read().split()
os.waitpid(child, 0)
parents = [new_token() for _ in range(3)]
print(len(childs), len(set(childs) & set(parents)))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["3", "0"], run.stderr


def test_excluded_features_never_reach_the_database(url: str) -> None:
    config = StoreConfig(url=url, flush_seconds=0.05, exclude_features=frozenset({"secret"}))
    store = Store.open(config)
    try:
        token = _logged(store, np.array([[39.1, 0, 1, 123456789]]))
        logged = store.prediction(prediction_id(token, 0))
        assert logged is not None and "secret" not in logged.inputs
        assert logged.inputs["island"] == "Biscoe"
    finally:
        store.close()
    engine = create_engine(database_url(url))
    with engine.connect() as connection:
        layout, inputs = connection.execute(
            text("SELECT layout, inputs FROM prediction_batches")
        ).one()
    engine.dispose()
    # What is written of the matrix: the kept columns only, float32 little-endian.
    assert json.loads(layout)["columns"] == ["bill length (mm)", "island", "smoker"]
    assert "secret" not in layout
    stored = np.frombuffer(bytes(inputs), dtype="<f4")
    assert stored.tolist() == np.array([39.1, 0, 1], dtype=np.float32).tolist()


def test_feedback_is_one_per_author_and_updates(store: Store) -> None:
    token = _logged(store, np.array([[39.1, 0, 1, 7]]))
    pid = prediction_id(token, 0)
    before = _metric("model_api_feedback_total", model="penguins", version="1", verdict="wrong")
    saved, created = store.put_feedback(FeedbackIn(pid, "wrong", "Gentoo", "bill too long", "ana"))
    assert created and saved.verdict == "wrong" and saved.actual == "Gentoo"
    again, created_again = store.put_feedback(FeedbackIn(pid, "wrong", "Chinstrap", None, "ana"))
    assert not created_again and again.actual == "Chinstrap" and again.comment is None
    assert again.created_at == saved.created_at and again.updated_at >= saved.updated_at
    _other, created_other = store.put_feedback(FeedbackIn(pid, "right", None, None, "bo"))
    assert created_other
    logged = store.prediction(pid)
    assert logged is not None
    assert sorted((f.author, f.verdict) for f in logged.feedback) == [
        ("ana", "wrong"),
        ("bo", "right"),
    ]
    # The counter counts feedback, and a verdict again only when it changes.
    after = _metric("model_api_feedback_total", model="penguins", version="1", verdict="wrong")
    assert after - before == 1
    assert _metric("model_api_feedback_agreement_ratio", model="penguins", version="1") == 0.5
    with pytest.raises(PredictionNotFound) as unknown:
        store.put_feedback(FeedbackIn(prediction_id(token, 1), "right", None, None, "ana"))
    assert isinstance(unknown.value, PredictionNotFoundError)
    assert unknown.value.status == 404 and unknown.value.code == "prediction_not_found"


def test_concurrent_feedback_of_one_author_makes_one_row(store: Store) -> None:
    token = _logged(store, np.array([[39.1, 0, 1, 7]]))
    pid = prediction_id(token, 0)
    results: list[bool] = []
    errors: list[BaseException] = []

    def give(verdict: str) -> None:
        try:
            results.append(store.put_feedback(FeedbackIn(pid, verdict, None, None, "ana"))[1])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=give, args=("right",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results.count(True) == 1 and len(results) == 8
    logged = store.prediction(pid)
    assert logged is not None and len(logged.feedback) == 1


def _judge_many(store: Store, count: int, version: str = "1") -> list[str]:
    token = _logged(store, np.zeros((count, 4)), version=version)
    ids = [prediction_id(token, i) for i in range(count)]
    for i, pid in enumerate(ids):
        store.put_feedback(FeedbackIn(pid, "right" if i % 3 else "wrong", None, f"c{i}", "ana"))
    return ids


def test_pages_follow_the_cursor_newest_first(store: Store) -> None:
    ids = _judge_many(store, 25)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.feedback_page("penguins", limit=10, cursor=cursor)
        seen += [item.prediction_id for item in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3 and seen == ids[::-1]
    wrong = store.feedback_page("penguins", verdict="wrong", limit=100)
    assert [i.prediction_id for i in wrong.items] == [p for i, p in enumerate(ids) if i % 3 == 0][
        ::-1
    ]
    assert (
        wrong.items[0].inputs["island"] == "Biscoe" and wrong.items[0].output["label"] == "Adelie"
    )
    assert store.feedback_page("penguins", version="2").items == []
    assert store.feedback_page("other").items == []
    future = datetime.now(UTC) + timedelta(hours=1)
    assert store.feedback_page("penguins", since=future).items == []
    assert len(store.feedback_page("penguins", until=future, limit=1000).items) == 25
    # A cursor is a position (microseconds since 1970 . feedback number): any one pages on.
    assert store.feedback_page("penguins", cursor="0.0").items == []
    far = f"{int(future.timestamp() * 1e6)}.0"
    assert len(store.feedback_page("penguins", cursor=far, limit=1000).items) == 25


def test_export_streams_every_judged_row_oldest_first(store: Store) -> None:
    ids = _judge_many(store, 1234)
    rows = list(store.export_rows("penguins"))
    assert [r.prediction_id for r in rows] == ids
    assert rows[5].comment == "c5" and rows[5].author == "ana" and rows[5].inputs["smoker"] is False
    assert next(iter(store.export_rows("penguins", verdict="wrong"))).prediction_id == ids[0]
    assert list(store.export_rows("nobody")) == []


def test_summary_counts_agreement_per_version_and_day(store: Store) -> None:
    _judge_many(store, 6, version="1")  # 4 right, 2 wrong
    _judge_many(store, 3, version="2")  # 2 right, 1 wrong
    token = _logged(store, np.zeros((1, 4)), version="2")
    store.put_feedback(FeedbackIn(prediction_id(token, 0), None, 3.5, None, "ana"))  # no verdict
    summary = store.summary("penguins", days=7)
    by_version = {v.version: v for v in summary.versions}
    assert (by_version["1"].judged, by_version["1"].right, by_version["1"].wrong) == (6, 4, 2)
    assert by_version["1"].agreement == pytest.approx(4 / 6)
    assert (by_version["2"].judged, by_version["2"].right) == (3, 2)
    assert summary.total_feedback == 10
    today = datetime.now(UTC).date()
    assert [(d.day, d.version, d.judged, d.right) for d in summary.daily] == [
        (today, "1", 6, 4),
        (today, "2", 3, 2),
    ]
    assert store.summary("penguins", version="2").versions[0].judged == 3


def test_retention_purges_old_unjudged_predictions_and_keeps_judged_ones(url: str) -> None:
    old = time.time() - 40 * 86400
    keep_all = Store.open(StoreConfig(url=url, flush_seconds=0.05, retention_days=0))
    try:
        judged = _logged(keep_all, np.zeros((2, 4)), created_at=old)
        forgotten = _logged(keep_all, np.zeros((1, 4)), created_at=old)
        recent = _logged(keep_all, np.zeros((1, 4)))
        keep_all.put_feedback(FeedbackIn(prediction_id(judged, 1), "right", None, None, "ana"))
        assert keep_all.purge(datetime.now(UTC) + timedelta(days=3650)) == 0  # 0: keep forever
        assert keep_all.prediction(prediction_id(forgotten, 0)) is not None
    finally:
        keep_all.close()
    # 30 days: the writer purges when it starts (and hourly), and so does purge().
    store = Store.open(StoreConfig(url=url, flush_seconds=0.05, retention_days=30))
    try:
        store.purge()
        assert store.prediction(prediction_id(forgotten, 0)) is None
        assert store.prediction(prediction_id(judged, 0)) is not None  # its request is kept
        assert store.prediction(prediction_id(recent, 0)) is not None
        assert store.purge() == 0
        assert store.purge(datetime.now(UTC) + timedelta(days=31)) == 1  # now the recent one
    finally:
        store.close()


def test_a_full_queue_drops_and_counts_without_blocking(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long interval and no early wake-up: nothing is written while the queue fills.
    monkeypatch.setattr(writer, "WAKE_SHARE", 2.0)
    store = Store.open(StoreConfig(url=url, flush_seconds=30, queue_rows=1000))
    try:
        dropped = _metric("model_api_prediction_log_rows_total", outcome="dropped")
        written = _metric("model_api_prediction_log_rows_total", outcome="written")
        matrix = np.zeros((100, 4))
        started = time.perf_counter()
        for _ in range(15):
            store.record(_record(matrix))
        elapsed = time.perf_counter() - started
        assert _metric("model_api_prediction_log_rows_total", outcome="dropped") - dropped == 500
        store.flush(timeout=30)
        assert _metric("model_api_prediction_log_rows_total", outcome="written") - written == 1000
        assert _metric("model_api_prediction_log_queue_rows") == 0
        assert elapsed < 5  # no I/O on the way in: 15 appends, not 15 writes
    finally:
        store.close()


def test_a_quarter_full_queue_is_written_before_the_interval(url: str) -> None:
    store = Store.open(StoreConfig(url=url, flush_seconds=30, queue_rows=1000))
    try:
        written = _metric("model_api_prediction_log_rows_total", outcome="written")
        store.record(_record(np.zeros((200, 4))))
        time.sleep(1.0)
        assert _metric("model_api_prediction_log_rows_total", outcome="written") == written
        store.record(_record(np.zeros((100, 4))))  # 300 of 1,000 rows wait: a quarter
        deadline = time.monotonic() + 10
        while _metric("model_api_prediction_log_rows_total", outcome="written") - written < 300:
            assert time.monotonic() < deadline, "the writer waited for its 30 s interval"
            time.sleep(0.05)
    finally:
        store.close()


def _head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def _upgrade_to(url: str, revision: str) -> None:
    engine = create_engine(database_url(url))
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        config.attributes["version_table"] = "model_api_alembic_version"
        command.upgrade(config, revision)
    engine.dispose()


def test_a_database_from_the_first_schema_keeps_its_predictions(url: str) -> None:
    # Rows as the writer of revision 0001 wrote them (one per request, in prediction_requests):
    # after the upgrade they read, take feedback and are purged as before.
    _upgrade_to(url, "0001")
    layout = {
        "columns": list(COLUMNS),
        "categories": {"island": list(ISLANDS)},
        "booleans": ["smoker"],
        "output": {"kind": "proba", "names": list(SPECIES), "dtype": "<f4"},
    }
    old_token, judged_token = new_token(), new_token()
    engine = create_engine(database_url(url))
    with engine.begin() as connection:
        for token, days in ((old_token, 40), (judged_token, 40)):
            connection.execute(
                prediction_requests.insert().values(
                    token=token,
                    created_at=datetime.now(UTC) - timedelta(days=days),
                    model="penguins",
                    version="1",
                    source="api",
                    request_id=None,
                    n_rows=1,
                    layout=json.dumps(layout),
                    inputs=np.array([[39.5, 1, 0, 3]], dtype="<f4").tobytes(),
                    outputs=np.array([[0.25, 0.75]], dtype="<f4").tobytes(),
                )
            )
    engine.dispose()
    store = Store.open(StoreConfig(url=url, flush_seconds=0.05, retention_days=30))
    try:
        found = store.prediction(prediction_id(old_token, 0))
        assert found is not None and found.inputs["island"] == "Dream"
        assert found.output["label"] == "Gentoo"
        store.put_feedback(FeedbackIn(prediction_id(judged_token, 0), "wrong", None, None, "ana"))
        store.purge()  # (the writer's own purge at start may have come first)
        assert store.purge() == 0
        assert store.prediction(prediction_id(old_token, 0)) is None
        assert store.prediction(prediction_id(judged_token, 0)) is not None
    finally:
        store.close()


def test_a_batch_of_many_requests_gives_each_back(url: str) -> None:
    # A long interval: every record is written in one flush, in a few batch rows (per model
    # version and token second), and each comes back with its own rows, times and source.
    store = Store.open(StoreConfig(url=url, flush_seconds=30))
    rng = np.random.default_rng(7)
    made: list[tuple[PredictionRecord, np.ndarray]] = []
    try:
        for i in range(60):
            rows = 1 + i % 3
            matrix = np.column_stack(
                [
                    rng.normal(40, 5, rows),
                    rng.integers(0, 3, rows),
                    rng.integers(0, 2, rows),
                    rng.normal(0, 1, rows),
                ]
            )
            record = _record(matrix, model=("penguins", "otter")[i % 2], version=str(i % 4))
            record.created_at -= i
            record.source = ("ui", "api")[i % 3 == 0]
            record.output = rng.random((rows, 2)).astype(np.float32)
            store.record(record)
            made.append((record, matrix.astype(np.float32)))
        store.flush()
        engine = create_engine(database_url(url))
        with engine.connect() as connection:
            batches = connection.execute(text("SELECT count(*) FROM prediction_batches")).scalar()
        engine.dispose()
        assert batches is not None and 4 <= batches <= 8  # 4 model versions, 1 or 2 seconds
        for record, matrix in made:
            for row in range(len(matrix)):
                found = store.prediction(prediction_id(record.token, row))
                assert found is not None
                assert (found.model, found.version, found.source) == (
                    record.model,
                    record.version,
                    record.source,
                )
                assert found.created_at.timestamp() == pytest.approx(record.created_at, abs=1e-5)
                assert np.float32(found.inputs["bill length (mm)"]) == matrix[row, 0]
                assert found.inputs["island"] == ISLANDS[int(matrix[row, 1])]
                assert found.output["probabilities"] == dict(
                    zip(SPECIES, record.output[row].tolist(), strict=True)
                )
            assert store.prediction(prediction_id(record.token, len(matrix))) is None
    finally:
        store.close()


def test_a_large_batch_is_cut_into_rows_and_judged_requests_leave_it(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "BATCH_INPUT_BYTES", 1000)  # 62 rows of 4 float32: 12 requests
    store = Store.open(StoreConfig(url=url, flush_seconds=30, retention_days=30))
    try:
        tokens = []
        for i in range(40):
            record = _record(np.full((5, 4), float(i)))
            store.record(record)
            tokens.append(record.token)
        store.flush()
        engine = create_engine(database_url(url))
        with engine.connect() as connection:
            sizes = connection.execute(text("SELECT n_rows FROM prediction_batches")).all()
        engine.dispose()
        assert sorted(n for (n,) in sizes) == [20, 60, 60, 60]  # whole requests in each
        assert sum(n for (n,) in sizes) == 200
        for i, token in enumerate(tokens):
            found = store.prediction(prediction_id(token, 4))
            assert found is not None and found.inputs["bill length (mm)"] == float(i)
        # Two authors judge one request; it leaves its batch once, and outlives the purge.
        judged = prediction_id(tokens[17], 2)
        store.put_feedback(FeedbackIn(judged, "right", None, None, "ana"))
        store.put_feedback(FeedbackIn(judged, "wrong", None, None, "bo"))
        assert store.purge(datetime.now(UTC) + timedelta(days=31)) == 39  # all but the judged
        assert store.prediction(prediction_id(tokens[16], 0)) is None
        kept = store.prediction(prediction_id(tokens[17], 4))
        assert kept is not None and kept.inputs["bill length (mm)"] == 17.0
        assert sorted(f.author for f in store.prediction(judged).feedback) == ["ana", "bo"]
    finally:
        store.close()


def test_migrations_apply_from_empty_and_again(url: str) -> None:
    migrate(url)
    migrate(url)
    engine = create_engine(database_url(url))
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {
        "prediction_requests",
        "prediction_batches",
        "feedback",
        "model_api_alembic_version",
    } <= tables


def test_concurrent_migrations_do_not_race(fresh_postgres_url: str) -> None:
    url = _new_database(fresh_postgres_url, f"m{new_token()}")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = create_engine(database_url(url))
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM model_api_alembic_version"))
        assert [v for (v,) in versions] == [_head_revision()]
    engine.dispose()


def test_a_new_sqlite_database_takes_large_pages_and_an_old_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    new_file, old_file = tmp_path / "new.db", tmp_path / "old.db"
    old = create_engine(f"sqlite:///{old_file}")
    with old.begin() as connection:
        connection.execute(text("PRAGMA journal_mode=WAL"))
        connection.execute(text("CREATE TABLE before_upgrade (x INTEGER)"))
    old.dispose()
    for path, page_bytes in ((new_file, SQLITE_PAGE_BYTES), (old_file, 4096)):
        store = Store.open(StoreConfig(url=f"sqlite:///{path}", flush_seconds=0.05))
        store.close()
        engine = create_engine(f"sqlite:///{path}")
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA page_size")).scalar() == page_bytes
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert "prediction_requests" in inspect(connection).get_table_names()
        engine.dispose()


def test_an_unopenable_sqlite_database_is_a_start_up_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreError, match="cannot be opened"):
        Store.open(StoreConfig(url=f"sqlite:///{tmp_path / 'file' / 'model-api.db'}"))


def test_postgresql_down_drops_records_then_writing_resumes(
    postgres_server: Any, fresh_postgres_url: str
) -> None:
    url = _new_database(fresh_postgres_url, f"d{new_token()}")
    store = Store.open(StoreConfig(url=url, flush_seconds=0.05))
    try:
        _logged(store, np.zeros((1, 4)))
        assert _metric("model_api_database_up") == 1
        dropped = _metric("model_api_prediction_log_rows_total", outcome="dropped")
        postgres_server.stop()
        try:
            started = time.perf_counter()
            for _ in range(50):
                store.record(_record(np.zeros((1, 4))))
            assert time.perf_counter() - started < 1  # recording never waits for the database
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (
                _metric("model_api_prediction_log_rows_total", outcome="dropped") - dropped < 50
            ):
                time.sleep(0.1)
            assert _metric("model_api_prediction_log_rows_total", outcome="dropped") - dropped == 50
            assert _metric("model_api_database_up") == 0
        finally:
            postgres_server.start()
        deadline = time.monotonic() + 60
        token = None
        while time.monotonic() < deadline:
            token = _logged(store, np.zeros((1, 4)))
            if store.prediction(prediction_id(token, 0)) is not None:
                break
            time.sleep(0.5)
        assert token is not None and store.prediction(prediction_id(token, 0)) is not None
        assert _metric("model_api_database_up") == 1
    finally:
        store.close()


def test_postgresql_unreachable_at_start_up_is_not_fatal(
    postgres_server: Any, fresh_postgres_url: str
) -> None:
    url = _new_database(fresh_postgres_url, f"s{new_token()}")
    postgres_server.stop()
    try:
        store = Store.open(StoreConfig(url=url, flush_seconds=0.05))
    finally:
        postgres_server.start()
    try:
        assert _metric("model_api_database_up") == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            token = _logged(store, np.zeros((1, 4)))
            if store.prediction(prediction_id(token, 0)) is not None:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the store never reached the database after it came back")
    finally:
        store.close()
