"""The real API plus two routes that fail on purpose, served exactly as ``model-api serve`` does.

Run as ``python -m tests.api.failing_server`` (settings from ``MODEL_API_*`` variables): the
routes raise an unexpected exception before and after their response starts, so the tests can
watch what a genuine bug does to the answer, the connection and the logs.
"""

from __future__ import annotations

from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from model_api.http.app import create_app
from model_api.http.server import server_config
from model_api.observability.logs import configure_logging
from model_api.settings import Settings
from starlette.responses import StreamingResponse

FAILS = "/v1/test-failures/raise"
FAILS_WHILE_STREAMING = "/v1/test-failures/raise-while-streaming"


def create_failing_app(settings: Settings) -> FastAPI:
    app = create_app(settings)

    @app.get(FAILS)
    async def fails() -> None:
        raise RuntimeError("failure on purpose")

    @app.get(FAILS_WHILE_STREAMING)
    async def fails_while_streaming() -> StreamingResponse:
        def rows() -> Iterator[str]:
            yield "row,value\n"
            yield "1,0.5\n"
            raise RuntimeError("failure on purpose, mid-stream")

        return StreamingResponse(rows(), media_type="text/csv")

    return app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    uvicorn.Server(server_config(create_failing_app(settings), settings)).run()


if __name__ == "__main__":
    main()
