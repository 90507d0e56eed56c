"""The shared contract (model_contract) holds for real: every v1 answer the UI reads, from the
example models and from awkward user models (quantiles, a hinge classifier, several versions),
validates against the contract's models with unknown fields forbidden, carries every field the
document requires, and the document's response schemas are the contract's own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from model_contract import (
    ExplainResponse,
    ModelList,
    ModelMetadata,
    PredictResponse,
)
from pydantic import BaseModel, ValidationError

from tests.support import Server, running_api

COMPONENTS = "#/components/schemas/"


@pytest.fixture(scope="module")
def awkward_server(
    awkward_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with running_api(awkward_repository, tmp_path_factory.mktemp("contract-logs")) as server:
        yield server


@dataclass(frozen=True)
class Answer:
    """One answer of the API, the contract model it must be, and where the document has it."""

    documented: str  # the document's path of the operation
    method: str
    model: type[BaseModel]
    body: Any


class Served:
    """One server's document and every v1 answer the UI reads from it."""

    def __init__(self, server: Server) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            self.client = client
            self.document: dict[str, Any] = self._get("/openapi.json")
            self.answers = list(self._every_answer())

    def _get(self, path: str) -> Any:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def _post(self, path: str, rows: list[dict[str, Any]], **params: str) -> Answer:
        response = self.client.post(path, json={"instances": rows}, params=params)
        assert response.status_code == 200, (path, response.text)
        model = PredictResponse if path.endswith("/predict") else ExplainResponse
        return Answer(path, "post", model, response.json())

    def _every_answer(self) -> Iterator[Answer]:
        """The list; per model its metadata; per version its metadata, a prediction and an
        explanation (of each output, for a multi-output model) of a documented row and of a row
        with every value missing."""
        listing = self._get("/v1/models")
        yield Answer("/v1/models", "get", ModelList, listing)
        for summary in listing["models"]:
            name = summary["name"]
            yield Answer("/v1/models/{name}", "get", ModelMetadata, self._get(f"/v1/models/{name}"))
            for version in summary["versions"]:
                base = f"/v1/models/{name}/versions/{version}"
                metadata = self._get(base)
                yield Answer("/v1/models/{name}/versions/{version}", "get", ModelMetadata, metadata)
                rows = [
                    self._example_row(f"{base}/predict"),
                    dict.fromkeys(f["name"] for f in metadata["features"]),
                ]
                yield self._post(f"{base}/predict", rows)
                yield self._post(f"{base}/explain", rows)
                for output in metadata["outputs"] or []:
                    yield self._post(f"{base}/explain", rows, output=output["name"])

    def _example_row(self, path: str) -> dict[str, Any]:
        """The documented example of a model version's predict operation."""
        content = self.document["paths"][path]["post"]["requestBody"]["content"]
        row: dict[str, Any] = content["application/json"]["example"]["instances"][0]
        return row

    def response_schema(self, answer: Answer) -> dict[str, Any]:
        """The document's schema of the answer, with the components it refers to."""
        operation = self.document["paths"][answer.documented][answer.method]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        return {**schema, "components": self.document["components"]}


@pytest.fixture(scope="module")
def served(api_server: Server, awkward_server: Server) -> dict[str, Served]:
    return {"examples": Served(api_server), "awkward": Served(awkward_server)}


@pytest.mark.parametrize("which", ["examples", "awkward"])
def test_every_answer_is_exactly_what_the_contract_declares(
    served: dict[str, Served], which: str
) -> None:
    server = served[which]
    for answer in server.answers:
        try:  # a field the API sends and the contract lacks fails here, nested ones too
            answer.model.model_validate(answer.body, extra="forbid")
        except ValidationError as exc:
            pytest.fail(f"{answer.documented}: not the contract's {answer.model.__name__}:\n{exc}")
        # Every field the document requires is sent, with the documented type.
        jsonschema.validate(answer.body, server.response_schema(answer))
    models = {answer.model for answer in server.answers}
    assert models == {ModelList, ModelMetadata, PredictResponse, ExplainResponse}


def test_the_answers_checked_hold_every_kind_of_row(served: dict[str, Served]) -> None:
    """Multi-output rows, label-only rows, both kinds of explanation: otherwise their fields
    would go unchecked."""
    answers = served["awkward"].answers
    predictions = [a.body["predictions"] for a in answers if a.model is PredictResponse]
    kinds = {frozenset(row) - {"id"} for rows in predictions for row in rows}
    assert {
        frozenset({"label", "probabilities"}),
        frozenset({"label"}),  # binary:hinge
        frozenset({"value"}),
        frozenset({"values"}),  # quantiles
    } <= kinds
    explanations = [a.body["explanations"] for a in answers if a.model is ExplainResponse]
    fields = {field for rows in explanations for row in rows for field in row}
    assert {"explained_class", "explained_output", "margin_output", "values"} <= fields


def test_a_field_the_contract_lacks_is_refused(api_server: Server) -> None:
    """The check above can fail: an unknown field, at the top or nested, is refused."""
    metadata = httpx.get(f"{api_server.url}/v1/models/penguin-species", timeout=30).json()
    ModelMetadata.model_validate(metadata, extra="forbid")
    with pytest.raises(ValidationError, match="new_field"):
        ModelMetadata.model_validate({**metadata, "new_field": 1}, extra="forbid")
    feature = {**metadata["features"][0], "unit": "mm"}
    with pytest.raises(ValidationError, match="unit"):
        ModelMetadata.model_validate({**metadata, "features": [feature]}, extra="forbid")
    # ... while a reader (the UI) takes both, ignoring what it does not know.
    assert ModelMetadata.model_validate({**metadata, "new_field": 1}).name == "penguin-species"


def documented_answer(path: str) -> type[BaseModel] | None:
    """The contract model a /v1 operation answers with (None: not one the UI reads)."""
    if path in ("/v1/models", "/v1/models/{name}", "/v1/models/{name}/versions/{version}"):
        return ModelList if path == "/v1/models" else ModelMetadata
    if path.startswith("/v1/models/") and path.endswith(("/predict", "/explain")):
        return PredictResponse if path.endswith("/predict") else ExplainResponse
    return None


def documented_by_fastapi(models: list[type[BaseModel]]) -> dict[str, Any]:
    """The component schemas FastAPI writes for these response models, and the models in them."""
    app = FastAPI()
    for model in models:
        app.get(f"/{model.__name__}", response_model=model)(lambda: None)
    document = get_openapi(title="contract", version="0", routes=app.routes)
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def test_the_documents_response_schemas_are_the_contracts(served: dict[str, Served]) -> None:
    contract = documented_by_fastapi([ModelList, ModelMetadata, PredictResponse, ExplainResponse])
    for server in served.values():
        schemas = server.document["components"]["schemas"]
        for name, schema in contract.items():  # the answers and every model inside them
            assert schemas[name] == schema, name
        checked = set()
        for path, item in server.document["paths"].items():
            model = documented_answer(path)
            for operation in item.values() if model else ():
                answer = operation["responses"]["200"]["content"]["application/json"]
                assert answer["schema"] == {"$ref": COMPONENTS + model.__name__}, path
                checked.add(path)
        # The typed operations of every model version were among them.
        assert {answer.documented for answer in server.answers} <= checked
