"""Slow and stalled clients: bodies and headers that stop arriving time out and free what they
held, uploads are admitted by the bytes they hold, and nobody else is locked out meanwhile."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import httpx
import pytest
from model_api.settings import Settings
from pydantic import ValidationError

from tests.api.test_metrics import scrape, value
from tests.support import ADELIE, Server, running_api

PREDICT = "/v1/models/penguin-species/predict"
MiB = 1024 * 1024
CSV_HEADER = ",".join(ADELIE) + "\n"
CSV_ROW = ",".join(str(v) for v in ADELIE.values()) + "\n"


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_head(length: int, content_type: str = "application/json") -> bytes:
    return (
        f"POST {PREDICT} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_answer(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the next answer on ``sock`` (Content-Length framed)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed without an answer (got {data[:200]!r})")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """True when the server closes ``sock`` (EOF or reset) within ``timeout`` seconds."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def rss_bytes(server: Server) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) * 1024


def predict_latencies(server: Server, count: int) -> list[float]:
    """Seconds each of ``count`` single-row predictions took; each must succeed."""
    latencies = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(count):
            started = time.monotonic()
            response = client.post(PREDICT, json={"instances": [ADELIE]})
            assert response.status_code == 200, response.text
            latencies.append(time.monotonic() - started)
    return latencies


def wait_for_metric(server: Server, name: str, target: float, **labels: str) -> float:
    """Poll /metrics (up to 15 s) until the sample reaches ``target``; the last value seen."""
    deadline = time.monotonic() + 15
    seen = value(scrape(server), name, **labels)
    while seen != target and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = value(scrape(server), name, **labels)
    return seen


def answered(sock: socket.socket) -> bool:
    """True once the server has written something (an answer) to ``sock``."""
    return bool(select.select([sock], [], [], 0)[0])


PERIOD = 4  # MODEL_API_BODY_TIMEOUT_SECONDS of the shared server
MIN_RATE = 256  # MODEL_API_BODY_MIN_BYTES_PER_SECOND: 1 KiB per period
HEAD_TIMEOUT = 2  # MODEL_API_HEADER_TIMEOUT_SECONDS


@pytest.fixture(scope="module")
def server(example_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One API with short body and head deadlines for the tests that need no budgets of their own."""
    with running_api(
        example_repository,
        tmp_path_factory.mktemp("logs"),
        MODEL_API_BODY_TIMEOUT_SECONDS=str(PERIOD),
        MODEL_API_BODY_MIN_BYTES_PER_SECOND=str(MIN_RATE),
        MODEL_API_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT),
    ) as api:
        yield api


@pytest.fixture
def stalled_sockets() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def test_stalled_bodies_lock_nobody_out_and_get_a_408(
    server: Server, stalled_sockets: list[socket.socket]
) -> None:
    stalled = 300  # more than MODEL_API_MAX_IN_FLIGHT (256)
    before = scrape(server)
    for _ in range(stalled):
        sock = connect(server)
        sock.sendall(request_head(200) + b'{"instances": [')
        stalled_sockets.append(sock)
    receiving = wait_for_metric(server, "model_api_http_bodies_receiving", stalled)

    # While every stalled client is still within its deadline, others are served at once.
    latencies = predict_latencies(server, 20)
    assert max(latencies) < 2, latencies
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    assert receiving == value(scrape(server), "model_api_http_bodies_receiving") == stalled

    for sock in stalled_sockets:
        status, headers, body = read_answer(sock, timeout=3 * PERIOD)
        assert status == 408
        assert headers["connection"] == "close"
        message = json.loads(body)["error"]["message"]
        assert "request body too slow" in message and "15 bytes received" in message
        assert closed_by_server(sock, timeout=5)
    after = scrape(server)
    timeouts = "model_api_errors_total"
    assert (
        value(after, timeouts, kind="request_timeout")
        - value(before, timeouts, kind="request_timeout")
        == stalled
    )
    assert value(after, "model_api_http_bodies_receiving") == 0
    assert value(after, "model_api_http_body_bytes", where="memory") == 0
    assert value(after, "model_api_http_requests_in_flight") == 0


def test_a_trickling_body_is_cut_but_a_slow_steady_one_is_served(server: Server) -> None:
    # One byte every half second is never idle for long, yet far below the minimum rate.
    trickle = connect(server)
    trickle.sendall(request_head(1000))
    started = time.monotonic()
    sent = 0
    while not answered(trickle) and sent < 8 * PERIOD:
        trickle.sendall(b" ")
        sent += 1
        time.sleep(0.5)
    status, _, _ = read_answer(trickle, timeout=1)
    assert status == 408
    assert time.monotonic() - started < 2 * PERIOD
    trickle.close()

    # 2 KiB per second, for longer than one period: slow, steady, served.
    body = json.dumps({"instances": [ADELIE] * 100}).encode()
    steady = connect(server)
    steady.sendall(request_head(len(body)))
    started = time.monotonic()
    for start in range(0, len(body), 1024):
        steady.sendall(body[start : start + 1024])
        time.sleep(0.5)
    assert time.monotonic() - started > PERIOD
    status, _, answer = read_answer(steady, timeout=10)
    assert status == 200, answer
    assert len(json.loads(answer)["predictions"]) == 100
    steady.close()


def test_headers_that_never_finish_are_closed_and_lock_nobody_out(
    server: Server, stalled_sockets: list[socket.socket]
) -> None:
    closed = "model_api_http_connections_closed_total"
    before = value(scrape(server), closed, reason="header_timeout")
    for number in range(200):
        sock = connect(server)
        if number % 2:  # half send part of a head, half send nothing at all
            sock.sendall(b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: test\r\nContent-")
        stalled_sockets.append(sock)
    # A kept-alive connection that starts its second request's head and stops.
    kept = connect(server)
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    assert read_answer(kept, timeout=5)[0] == 200
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHo")
    stalled_sockets.append(kept)

    latencies = predict_latencies(server, 20)
    assert max(latencies) < 2, latencies
    started = time.monotonic()
    assert all(closed_by_server(sock, timeout=10) for sock in stalled_sockets)
    assert time.monotonic() - started < 5 * HEAD_TIMEOUT
    assert value(scrape(server), closed, reason="header_timeout") - before == 201


def test_endless_headers_get_a_431_and_hold_no_memory(server: Server) -> None:
    closed = "model_api_http_connections_closed_total"
    refused_before = value(scrape(server), closed, reason="header_too_large")
    before = rss_bytes(server)
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Endless: ")
    sent = 0
    while not answered(sock) and sent < 256 * MiB:
        sock.sendall(b"a" * 65536)
        sent += 65536
        if sent % MiB == 0:
            time.sleep(0.01)  # let the server's answer arrive
    assert sent <= 2 * MiB, f"{sent} bytes of one header taken without an answer"
    assert rss_bytes(server) - before < 16 * MiB
    status, headers, body = read_answer(sock, timeout=5)
    assert status == 431
    assert headers["connection"] == "close"
    assert "MODEL_API_MAX_HEADER_BYTES" in json.loads(body)["error"]["message"]
    assert closed_by_server(sock, timeout=5)
    sock.close()
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert value(scrape(server), closed, reason="header_too_large") - refused_before == 1


def test_unfinished_uploads_hold_no_more_memory_than_the_budget(
    example_repository: Path, tmp_path: Path, stalled_sockets: list[socket.socket]
) -> None:
    """Bodies hold the bytes that arrived, within the budget less the small bodies' reserve;
    past it an upload gets a 503, and small predictions are served all the while."""
    budget = 64 * MiB
    reserve = Settings(max_body_memory_bytes=budget).body_memory_reserve
    settings = {
        "MODEL_API_MAX_BODY_MEMORY_BYTES": str(budget),
        "MODEL_API_BODY_TIMEOUT_SECONDS": "3",
    }
    with running_api(example_repository, tmp_path, **settings) as server:
        assert predict_latencies(server, 5)  # warm: allocations of a first request are done
        before = rss_bytes(server)
        part = b" " * (7 * MiB)
        peak = 0
        for _ in range(40):
            sock = connect(server)
            # Refused (503) and closed while it may still be sending.
            with suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(request_head(8 * MiB) + part)  # 7 of 8 MiB, then nothing more
            stalled_sockets.append(sock)
            peak = max(peak, rss_bytes(server))
        held = value(scrape(server), "model_api_http_body_bytes", where="memory")
        # The uploads fill the budget but its reserve; small predictions still get through.
        assert budget - reserve - 8 * MiB < held <= budget - reserve, held / MiB
        assert predict_latencies(server, 5)
        for _ in range(10):
            peak = max(peak, rss_bytes(server))
            time.sleep(0.1)
        # 40 x 7 MiB would be 280 MiB.
        assert peak - before < budget + 48 * MiB, (peak - before) / MiB

        answers = [read_answer(sock, timeout=15) for sock in stalled_sockets]
        statuses = [status for status, _, _ in answers]
        held_bodies = (budget - reserve) // (7 * MiB)
        assert statuses.count(408) == held_bodies, statuses  # the stalled ones that fitted
        assert statuses.count(503) == 40 - held_bodies, statuses
        refused = next(answer for answer in answers if answer[0] == 503)
        assert refused[1]["retry-after"] == "1"
        assert "MODEL_API_MAX_BODY_MEMORY_BYTES" in json.loads(refused[2])["error"]["message"]
        assert wait_for_metric(server, "model_api_http_bodies_receiving", 0) == 0
        assert value(scrape(server), "model_api_http_body_bytes", where="memory") == 0
        assert predict_latencies(server, 3)


def test_declared_lengths_hold_nothing_until_bytes_arrive(
    server: Server, stalled_sockets: list[socket.socket]
) -> None:
    """Heads that declare the largest body and send none of it take no budget: a few dozen of
    them (more than the memory budget would hold if declared lengths counted) refuse nobody."""
    for _ in range(48):  # 48 x 8 MiB = 384 MiB declared, past the 256 MiB default budget
        sock = connect(server)
        sock.sendall(request_head(8 * MiB))
        stalled_sockets.append(sock)
    assert wait_for_metric(server, "model_api_http_bodies_receiving", 48) == 48
    assert value(scrape(server), "model_api_http_body_bytes", where="memory") == 0
    assert predict_latencies(server, 5)
    with httpx.Client(base_url=server.url, timeout=30) as client:  # and a body of 1,000 rows
        rows = client.post(PREDICT, json={"instances": [ADELIE] * 1000})
        assert rows.status_code == 200 and len(rows.json()["predictions"]) == 1000


def csv_of(rows: int) -> bytes:
    return (CSV_HEADER + CSV_ROW * rows).encode()


def test_csv_uploads_are_admitted_by_the_disk_they_spool_to(
    example_repository: Path, tmp_path: Path
) -> None:
    settings = {
        "MODEL_API_MAX_REQUEST_BYTES": str(1 * MiB),
        "MODEL_API_MAX_BODY_MEMORY_BYTES": str(16 * MiB),
        "MODEL_API_MAX_CSV_BYTES": str(24 * MiB),
        "MODEL_API_MAX_BODY_DISK_BYTES": str(32 * MiB),
    }
    large = csv_of(600_000)  # about 20 MiB: more than the memory budget, spooled to disk
    assert 16 * MiB < len(large) < 24 * MiB
    with running_api(example_repository, tmp_path, **settings) as server, ExitStack() as stack:
        holder = stack.enter_context(connect(server))
        holder.sendall(request_head(len(large), "text/csv") + large[: 16 * MiB])
        held = wait_for_metric(server, "model_api_http_body_bytes", 16 * MiB, where="disk")

        with httpx.Client(base_url=server.url, timeout=60) as client:
            csv = {"content-type": "text/csv"}
            refused = client.post(PREDICT, content=large, headers=csv)
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert "MODEL_API_MAX_BODY_DISK_BYTES" in refused.json()["error"]["message"]
            assert held == 16 * MiB  # the bytes that arrived, not the length declared

            def chunked() -> Iterator[bytes]:  # no Content-Length: held as it arrives too
                for start in range(0, len(large), MiB):
                    yield large[start : start + MiB]

            refused = client.post(PREDICT, content=chunked(), headers=csv)
            assert refused.status_code == 503
            assert "MODEL_API_MAX_BODY_DISK_BYTES" in refused.json()["error"]["message"]

            small = client.post(PREDICT, content=csv_of(1000), headers=csv)  # fits in memory
            assert small.status_code == 200
            assert small.text.count("\n") == 1 + 1000

            holder.close()
            assert wait_for_metric(server, "model_api_http_body_bytes", 0, where="disk") == 0
            served = client.post(PREDICT, content=large, headers=csv)
            assert served.status_code == 200
            assert served.text.count("\n") == 1 + 600_000
        samples = scrape(server)
        assert value(samples, "model_api_http_body_bytes", where="disk") == 0
        assert value(samples, "model_api_http_body_bytes", where="memory") == 0


@pytest.mark.parametrize(
    ("limits", "needle"),
    [
        (
            {"max_body_memory_bytes": MiB},
            r"MODEL_API_MAX_BODY_MEMORY_BYTES \(1048576\) must be at least 8388608",
        ),
        (
            {"max_request_bytes": 64 * MiB, "max_body_memory_bytes": 32 * MiB},
            "MODEL_API_MAX_BODY_MEMORY_BYTES",
        ),
        (
            {"max_csv_bytes": 100 * MiB, "max_body_disk_bytes": 50 * MiB},
            "MODEL_API_MAX_BODY_DISK_BYTES .* must be at least MODEL_API_MAX_CSV_BYTES",
        ),
    ],
)
def test_budgets_too_small_for_one_body_are_refused_at_start(
    limits: dict[str, int], needle: str
) -> None:
    with pytest.raises(ValidationError, match=needle):
        Settings(**limits)


def test_default_budgets_follow_the_size_limits() -> None:
    defaults = Settings()
    assert (defaults.body_memory_budget, defaults.body_disk_budget) == (256 * MiB, 1024 * MiB)
    assert defaults.body_memory_reserve == 16 * MiB
    # Never so large that the largest body would not fit beside it.
    assert Settings(max_body_memory_bytes=12 * MiB).body_memory_reserve == 4 * MiB
    raised = Settings(max_request_bytes=16 * MiB, max_csv_bytes=2048 * MiB)
    assert (raised.body_memory_budget, raised.body_disk_budget) == (512 * MiB, 4096 * MiB)
    # A small JSON limit leaves room for CSV uploads, which hold up to 8 MiB before spooling.
    assert Settings(max_request_bytes=2048).body_memory_budget == 256 * MiB
