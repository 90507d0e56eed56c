"""The HTTP floor: FastAPI on the API's uvicorn stack that parses the body and never predicts.

Same uvicorn options as ``model-api serve`` (httptools, uvloop, no access log, no server header),
same paths as the API, the body read and parsed with orjson, and a fixed answer of the shape a
one-row prediction has. What the API does beyond this is the cost of serving a model.

Run: ``python -m bench.floor --port 8001``; ready when ``/readyz`` answers 200.
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

V1_ANSWER = orjson.dumps(
    {
        "model": "floor",
        "version": "1",
        "predictions": [{"label": "1", "probabilities": {"0": 0.25, "1": 0.75}}],
    }
)
V2_ANSWER = orjson.dumps(
    {
        "model_name": "floor",
        "model_version": "1",
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [1], "data": ["1"]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [1, 2], "data": [0.25, 0.75]},
        ],
    }
)


def create_floor_app() -> FastAPI:
    app = FastAPI(title="HTTP floor", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/readyz")
    async def readyz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(V1_ANSWER, media_type="application/json")

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(V2_ANSWER, media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = uvicorn.Config(
        create_floor_app(),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
