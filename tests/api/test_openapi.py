"""The OpenAPI document: valid, typed for any feature name, honest about what the API accepts,
offline, and usable with an API key."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx
import jsonschema
import pytest
from model_api.codecs.features import FLOAT32_MAX
from model_api.protocol.v2 import COLUMN_DATATYPES
from model_api.serving.bundle import BundleMetadata, FeatureSpec
from openapi_spec_validator import validate

from tests.api.conftest import AWKWARD_FEATURES, QUANTILE_ALPHAS
from tests.api.test_slow_clients import connect, read_answer
from tests.support import ADELIE, Server, csv_without_ids, running_api

KEY = "docs-key-0123456789abcdef"
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")
# Every name a DataFrame column can hold, including those msgspec, pydantic or CSV find awkward.
ANY_NAMES = [
    "_x", "model_config", '"', 'q"uote', "\\", "back\\slash", "with space", " lead", "trail ",
    "a/b", "a,b", "café", "🐧", "123", "0", "$ref", "$schema", "properties", "x\ny", "tab\there",
    "\x00nul", "{name}", "a.b", "Instance",
]  # fmt: skip


def document(server: Server, **headers: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/openapi.json", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def awkward_server(
    awkward_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with running_api(awkward_repository, tmp_path_factory.mktemp("openapi-logs")) as server:
        yield server


@pytest.fixture(scope="module")
def keyed_server(
    awkward_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with running_api(
        awkward_repository, tmp_path_factory.mktemp("openapi-keyed"), MODEL_API_API_KEY=KEY
    ) as server:
        yield server


# --------------------------------------------------------------------------- a valid document
def test_the_examples_document_is_valid_openapi(api_server: Server) -> None:
    validate(document(api_server))  # no dangling $ref, no stray keys, unique operation ids


def test_user_models_get_a_valid_typed_document(awkward_server: Server) -> None:
    spec = document(awkward_server)
    validate(spec)
    schemas = spec["components"]["schemas"]
    assert all(COMPONENT_KEY.match(key) for key in schemas)
    newest = spec["paths"]["/v1/models/Odd.Model_v-2/predict"]["post"]
    ref = newest["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request = schemas[ref.rsplit("/", 1)[1]]
    instance = schemas[request["properties"]["instances"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert instance["required"] == [*AWKWARD_FEATURES]  # version 10: every awkward name
    assert instance["additionalProperties"] is False
    assert instance["properties"]["model_config"]["type"] == ["integer", "null"]
    assert instance["properties"]["with space"]["type"] == ["boolean", "null"]
    assert instance["properties"]["café/🐧"]["enum"] == ["a,b", 'say "hi"', "plain", None]
    older = spec["paths"]["/v1/models/Odd.Model_v-2/versions/1/predict"]["post"]
    old_ref = older["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    old_request = schemas[old_ref.rsplit("/", 1)[1]]
    old_instance = old_request["properties"]["instances"]["items"]["$ref"].rsplit("/", 1)[1]
    assert schemas[old_instance]["required"] == ["_x", "model_config", "with space", "café/🐧"]


# A valid value of each feature type in each datatype its input takes.
V2_VALUES = {
    "numeric": {"FP32": 1.5, "FP64": 1.5, "INT32": 2, "INT64": 2, "BYTES": "1.5"},
    "integer": {"FP32": 3, "FP64": 3, "INT32": 3, "INT64": 3, "BYTES": "3"},
    "boolean": {"BOOL": True, "FP32": 1, "FP64": 1, "INT32": 1, "INT64": 1, "BYTES": "true"},
    "categorical": {"BYTES": "plain", "FP32": 2, "FP64": 2, "INT32": 2, "INT64": 2},
}


def test_each_model_has_a_typed_v2_inference_that_is_exact(awkward_server: Server) -> None:
    """The typed V2 request lists each feature's input with every datatype the API reads for it:
    a value of each is valid and answered, a datatype not listed is invalid and refused."""
    spec = document(awkward_server)
    assert "/v2/models/{name}/infer" not in spec["paths"]  # replaced, as the v1 operations are
    path = "/v2/models/Odd.Model_v-2/infer"
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["$ref"]
    schema = {"$ref": ref, "components": spec["components"]}
    inputs = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]["inputs"]
    assert [i["anyOf"][0]["properties"]["name"]["const"] for i in inputs["prefixItems"]] == [
        *AWKWARD_FEATURES
    ]
    jsonschema.validate(body["example"], schema)
    assert httpx.post(f"{awkward_server.url}{path}", json=body["example"]).status_code == 200
    for position, (feature, kind) in enumerate(AWKWARD_FEATURES.items()):
        listed = [
            datatype
            for variant in inputs["prefixItems"][position]["anyOf"]
            for datatype in variant["properties"]["datatype"]["enum"]
        ]
        assert sorted(listed) == sorted(V2_VALUES[kind]), feature
        for datatype, value in [*V2_VALUES[kind].items(), ("FP16", 1), ("INT8", 1)]:
            request = json.loads(json.dumps(body["example"]))
            request["inputs"][position].update(datatype=datatype, data=[value])
            answer = httpx.post(f"{awkward_server.url}{path}", json=request)
            valid = jsonschema.Draft202012Validator(schema).is_valid(request)
            assert valid == (datatype in listed), (feature, datatype)
            assert answer.status_code == (200 if valid else 400), (feature, datatype, answer.text)
            if not valid:
                assert f"a feature's input takes {', '.join(COLUMN_DATATYPES[kind])}" in answer.text


def test_names_that_differ_in_case_or_punctuation_keep_their_own_schemas(
    awkward_server: Server,
) -> None:
    spec = document(awkward_server)
    bodies = {
        name: spec["paths"][f"/v1/models/{name}/predict"]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]["$ref"]
        for name in ("my-model", "My_Model")
    }
    assert bodies["my-model"] != bodies["My_Model"]
    schemas = spec["components"]["schemas"]
    features = {}
    for name, ref in bodies.items():
        items = schemas[ref.rsplit("/", 1)[1]]["properties"]["instances"]["items"]["$ref"]
        features[name] = schemas[items.rsplit("/", 1)[1]]["required"]
    assert features == {
        "my-model": ["123", "$ref", "with space"],
        "My_Model": ["_x", "a,b", "café/🐧"],
    }


@pytest.mark.parametrize("name", ANY_NAMES)
def test_any_dataframe_name_is_a_property_with_a_valid_schema_or_refused_by_name(
    name: str,
) -> None:
    from model_api.http.openapi import (
        csv_example,
        csv_header,
        csv_pattern,
        instance_schema,
        predict_request_schema,
    )
    from model_api.serving.bundle import name_problem

    if name_problem(name) is not None:  # refused at packaging (test_packaging), naming it
        with pytest.raises(ValueError, match=re.escape(repr(name))):
            FeatureSpec(name=name, type="numeric")
        return
    features = [
        FeatureSpec(name=name, type="numeric", min=0, max=1, default=0.5),
        FeatureSpec(name=f"{name}!", type="categorical", categories=['a"b', "c"], default="c"),
    ]
    metadata = BundleMetadata.model_construct(features=features)
    instance = instance_schema(metadata)
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {
            "schemas": {
                "m.1.Instance": instance,
                "m.1.PredictRequest": predict_request_schema("m.1.Instance", 10),
            }
        },
    }
    validate(spec)
    jsonschema.Draft202012Validator.check_schema(instance)
    valid = jsonschema.Draft202012Validator(instance)
    assert valid.is_valid({name: 0.25, f"{name}!": 'a"b'})
    assert not valid.is_valid({name: 0.25})  # every feature is required
    assert not valid.is_valid({name: "0.25", f"{name}!": "c"})
    # The CSV header names the feature as csv reads it back, and the pattern takes the example,
    # in any column order, among other columns; not without a feature, nor with one twice.
    header = csv_header(metadata)
    assert next(csv.reader(io.StringIO(header))) == [name, f"{name}!"]
    pattern = re.compile(csv_pattern(metadata))
    assert pattern.match(csv_example(metadata))
    assert pattern.match(csv_line("x", f"{name}!", name, "y") + "1,2\n")
    assert not pattern.match(csv_line("x", f"{name}!") + "1,2\n")
    assert not pattern.match(csv_line(name, f"{name}!", name))


def test_the_csv_pattern_counts_a_name_twice_as_the_api_does() -> None:
    """Header names are stripped of any whitespace str.strip() knows: such a field names the
    feature again, and the API refuses the header; so does the pattern, in Python and ECMA 262."""
    import jsonschema_rs
    from model_api.http.openapi import csv_pattern

    features = [FeatureSpec(name="a", type="numeric"), FeatureSpec(name="b,c", type="numeric")]
    pattern = csv_pattern(BundleMetadata.model_construct(features=features))
    python, ecma = re.compile(pattern), jsonschema_rs.Draft202012Validator({"pattern": pattern})
    assert python.match('a,"b,c",d\n') and ecma.is_valid('a,"b,c",d\n')
    twice = ['\ufeffa,"b,c",a\n']  # the API drops a byte order mark
    for space in (chr(c) for c in range(0x10000) if chr(c).isspace()):
        twice.append(f'a,"b,c","{space}b,c{space}"\n')
        if space not in "\r\n":  # they end an unquoted field
            twice.append(f'a,"b,c",{space}a{space}\n')
    for body in twice:
        assert not python.match(body), repr(body)
        assert not ecma.is_valid(body), repr(body)


def csv_line(*cells: object) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


# --------------------------------------------------------------------------- what the API accepts
def test_every_documented_example_is_accepted(awkward_server: Server, api_server: Server) -> None:
    for server in (api_server, awkward_server):
        spec = document(server)
        typed = [p for p in spec["paths"] if p.endswith(("/predict", "/explain"))]
        assert typed and not any("{" in p for p in typed)  # the generic forms are replaced
        for path in typed:
            content = spec["paths"][path]["post"]["requestBody"]["content"]
            json_body = content["application/json"]["example"]
            answer = httpx.post(server.url + path, json=json_body, timeout=30)
            assert answer.status_code == 200, (path, answer.text)
            if "text/csv" in content:
                text = content["text/csv"]["example"]
                assert re.match(content["text/csv"]["schema"]["pattern"], text)
                scored = httpx.post(
                    server.url + path, content=text, headers={"content-type": "text/csv"}
                )
                assert scored.status_code == 200, (path, scored.text)
                assert scored.text.splitlines()[1].endswith(","), scored.text  # no row error


def typed(spec: dict[str, Any], path: str) -> dict[str, Any]:
    return spec["paths"][path]["post"]  # type: ignore[no-any-return]


def test_typed_operations_keep_their_query_parameters(awkward_server: Server) -> None:
    from model_api.codecs.csv import DELIMITERS

    spec = document(awkward_server)
    outputs = [f"q{alpha}" for alpha in QUANTILE_ALPHAS]
    for path in ("/v1/models/quantiles/explain", "/v1/models/quantiles/versions/1/explain"):
        (output,) = typed(spec, path)["parameters"]
        assert (output["name"], output["in"]) == ("output", "query")
        assert output["schema"] == {"type": "string", "enum": outputs, "default": "q0.5"}
    body = typed(spec, "/v1/models/quantiles/explain")["requestBody"]["content"]
    url = f"{awkward_server.url}/v1/models/quantiles/explain"
    explained = httpx.post(url, params={"output": "q0.9"}, json=body["application/json"]["example"])
    assert explained.status_code == 200, explained.text
    assert explained.json()["explanations"][0]["explained_output"] == "q0.9"
    # A single-output model refuses ``output``: its operation does not offer it.
    assert "parameters" not in typed(spec, "/v1/models/hinge/explain")
    for path in spec["paths"]:
        if path.endswith("/predict"):
            (delimiter,) = typed(spec, path)["parameters"]
            assert delimiter["name"] == "delimiter"
            assert delimiter["schema"]["enum"] == list(DELIMITERS)


def test_the_csv_answer_example_has_the_answers_columns(awkward_server: Server) -> None:
    spec = document(awkward_server)
    for name in ("hinge", "quantiles", "Odd.Model_v-2", "My_Model", "my-model"):
        operation = typed(spec, f"/v1/models/{name}/predict")
        example = operation["responses"]["200"]["content"]["text/csv"]["example"]
        body = operation["requestBody"]["content"]["text/csv"]["example"]
        scored = httpx.post(
            f"{awkward_server.url}/v1/models/{name}/predict",
            content=body,
            headers={"content-type": "text/csv"},
        )
        header, *rows = csv.reader(io.StringIO(example))
        assert header == next(csv.reader(io.StringIO(scored.text))), name
        assert rows and all(len(row) == len(header) for row in rows), (name, example)


def test_the_csv_pattern_takes_any_column_order_and_extra_columns(awkward_server: Server) -> None:
    import jsonschema_rs

    path = "/v1/models/Odd.Model_v-2/predict"
    schema = typed(document(awkward_server), path)["requestBody"]["content"]["text/csv"]["schema"]
    pattern = re.compile(schema["pattern"])
    ecma = jsonschema_rs.Draft202012Validator(schema)  # as validators read ECMA 262
    row = {"_x": 1.5, "model_config": 3, "with space": "true", "café/🐧": "plain"}
    row |= {"123": 2.5, "$ref": 4, "a,b": -1}
    names = [*reversed(row), "extra, column"]
    bodies = {
        "reversed, one extra": (csv_line(*names) + csv_line(*reversed(row.values()), "x"), 200),
        "one lacking": (csv_line(*names[1:]) + csv_line(*list(reversed(row.values()))[1:]), 422),
        "one twice": (csv_line(*names, " _x") + csv_line(*reversed(row.values()), "x", 1), 422),
    }
    for case, (body, status) in bodies.items():
        assert bool(pattern.match(body)) is (status == 200), case
        assert ecma.is_valid(body) is (status == 200), case
        scored = httpx.post(
            awkward_server.url + path, content=body, headers={"content-type": "text/csv"}
        )
        assert scored.status_code == status, (case, scored.text)
        if status == 200:
            assert scored.text.splitlines()[1].endswith(","), scored.text  # no row error
            assert scored.headers["x-ignored-columns"] == "extra%2C%20column"


def test_the_delimiters_documented_are_those_accepted(api_server: Server) -> None:
    url = f"{api_server.url}/v1/models/penguin-species/predict"
    (parameter,) = typed(document(api_server), "/v1/models/penguin-species/predict")["parameters"]
    accepted = parameter["schema"]["enum"]
    refused = httpx.post(url, params={"delimiter": "AAA"}, json={"instances": [ADELIE]})
    message = refused.json()["error"]["message"]
    assert all(repr(value) in message for value in accepted), message
    for value in accepted:
        separator = "\t" if value == "tab" else value
        body = separator.join(ADELIE) + "\n" + separator.join(map(str, ADELIE.values())) + "\n"
        scored = httpx.post(
            url, params={"delimiter": value}, content=body, headers={"content-type": "text/csv"}
        )
        assert scored.status_code == 200, (value, scored.text)
        assert csv_without_ids(scored.text).splitlines()[1].startswith("1,Adelie,"), value


@pytest.fixture(scope="module")
def strict_server(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Small heads, and bodies that must arrive within a second."""
    with running_api(
        example_repository,
        tmp_path_factory.mktemp("openapi-strict"),
        MODEL_API_MAX_HEADER_BYTES="4096",
        MODEL_API_BODY_TIMEOUT_SECONDS="1",
    ) as server:
        yield server


def refused(server: Server, path: str, *parts: str) -> tuple[int, Any]:
    """POST ``path`` with a JSON body, the request's other ``parts`` sent one after another; the
    status and JSON body of the answer."""
    with connect(server) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nContent-Type: application/json\r\n".encode())
        for part in parts:
            time.sleep(0.05)  # a read of its own: heads are measured from their second read on
            sock.sendall(part.encode())
        status, _, answer = read_answer(sock, timeout=10)
    return status, json.loads(answer)


def test_refusals_before_the_route_are_documented_with_their_shape(
    strict_server: Server,
) -> None:
    spec = document(strict_server)
    for path, item in spec["paths"].items():
        for operation in item.values():
            assert "431" in operation["responses"], path
            if "requestBody" in operation:
                assert {"408", "503"} <= set(operation["responses"]), path
    operations = {
        "/v1/models/penguin-species/predict": "/v1/models/penguin-species/predict",
        "/v2/models/penguin-mass/infer": "/v2/models/penguin-mass/infer",
    }
    for path, documented in operations.items():
        responses = typed(spec, documented)["responses"]
        answers = [
            refused(strict_server, path, f"X-Large: {'a' * 5000}", "\r\n\r\n"),
            refused(strict_server, path, "Content-Length: 100\r\n\r\n", "{"),
        ]
        for status, answer in answers:
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            jsonschema.validate(answer, {**schema, "components": spec["components"]})
        assert [status for status, _ in answers] == [431, 408]


def test_float32_bounds_are_documented_and_enforced(awkward_server: Server) -> None:
    # Numbers are read as float64 (ties to even), then checked against float32's largest value:
    # the largest integer read as at most that is halfway to the next float64.
    FLOAT32_LIMIT = int(FLOAT32_MAX) + 2**74
    assert float(FLOAT32_LIMIT) == FLOAT32_MAX and float(FLOAT32_LIMIT + 1) > FLOAT32_MAX
    spec = document(awkward_server)
    instance = spec["components"]["schemas"]["my-model.1.Instance"]["properties"]
    for name in ("123", "$ref"):  # a numeric and an integer feature
        assert instance[name]["maximum"] == FLOAT32_LIMIT
        assert instance[name]["minimum"] == -FLOAT32_LIMIT
    url = f"{awkward_server.url}/v1/models/my-model/predict"

    def status(value: float) -> int:
        row = {"123": value, "$ref": 1, "with space": True}
        return httpx.post(url, json={"instances": [row]}, timeout=30).status_code

    assert status(FLOAT32_LIMIT) == 200  # json writes the integer exactly
    assert status(-FLOAT32_LIMIT) == 200
    assert status(FLOAT32_LIMIT + 1) == 422
    assert status(-FLOAT32_LIMIT - 1) == 422
    assert status(1e39) == 422


def test_an_unknown_delimiter_is_refused_on_any_predict_request(api_server: Server) -> None:
    url = f"{api_server.url}/v1/models/penguin-species/predict"
    body = {"instances": [ADELIE]}
    refused = httpx.post(url, params={"delimiter": "AAA"}, json=body)
    assert refused.status_code == 400
    assert "delimiter 'AAA' is not supported" in refused.json()["error"]["message"]
    assert httpx.post(url, params={"delimiter": ";"}, json=body).status_code == 200
    csv_refused = httpx.post(
        url, params={"delimiter": "AAA"}, content="a\n1\n", headers={"content-type": "text/csv"}
    )
    assert csv_refused.status_code == 400


@pytest.mark.parametrize(
    "tensor",
    [
        {"name": "x", "shape": [], "datatype": "BOOL", "data": False},  # a scalar tensor
        {"name": "x", "shape": [1], "datatype": {}, "data": [1.0]},  # a datatype that is no name
    ],
)
def test_malformed_v2_inputs_are_refused_not_a_server_error(
    api_server: Server, tensor: dict[str, Any]
) -> None:
    answer = httpx.post(
        f"{api_server.url}/v2/models/penguin-mass/infer", json={"inputs": [tensor]}, timeout=30
    )
    assert answer.status_code == 400, answer.text
    assert "error" in answer.json()


# --------------------------------------------------------------------------- the docs page
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def docs_assets(server: Server) -> dict[str, str]:
    """Every URL the docs page references -> the content type the API serves it with."""
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = _Links()
    links.feed(page.text)
    served = {}
    for url in links.urls:
        absolute = urljoin(f"{server.url}/docs", url)
        assert urlparse(absolute).netloc == urlparse(server.url).netloc, url  # no CDN
        answer = httpx.get(absolute)
        assert answer.status_code == 200, url
        served[urlparse(absolute).path] = answer.headers["content-type"].split(";")[0]
    return served


def test_the_docs_page_and_its_assets_come_from_the_api(api_server: Server) -> None:
    assert docs_assets(api_server) == {
        "/docs/assets/swagger-ui.css": "text/css",
        "/docs/assets/favicon.png": "image/png",
        "/docs/assets/swagger-ui-bundle.js": "text/javascript",
    }
    page = httpx.get(f"{api_server.url}/docs").text
    assert "://" not in page  # no other host named anywhere (URLs are relative)


def test_with_a_key_the_docs_load_and_the_document_declares_it(keyed_server: Server) -> None:
    assert len(docs_assets(keyed_server)) == 3  # without any key
    public = document(keyed_server)
    validate(public)
    assert not any(path.startswith("/v1/models/Odd") for path in public["paths"])
    assert "Odd.Model_v-2" not in str(public)  # no model details without the key
    schemes = public["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The API key (MODEL_API_API_KEY).",
    }
    assert schemes["BearerToken"]["scheme"] == "bearer"
    for path, item in public["paths"].items():
        for operation in item.values():
            open_path = path in ("/healthz", "/readyz", "/metrics") or "/health/" in path
            assert ("security" in operation) != open_path, path
            assert ("401" in operation["responses"]) != open_path, path

    full = document(keyed_server, **{"X-API-Key": KEY})
    validate(full)
    assert "/v1/models/Odd.Model_v-2/versions/10/predict" in full["paths"]
    assert document(keyed_server, Authorization=f"Bearer {KEY}") == full
    wrong = httpx.get(f"{keyed_server.url}/openapi.json", headers={"X-API-Key": "wrong"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"] == "invalid API key"


def test_without_a_key_the_document_declares_no_security(api_server: Server) -> None:
    spec = document(api_server)
    assert "securitySchemes" not in spec["components"]
    assert not any("security" in op for item in spec["paths"].values() for op in item.values())


def test_the_document_and_the_middleware_judge_keys_alike(keyed_server: Server) -> None:
    from model_api.errors import MissingAPIKeyError, UnauthorizedError
    from model_api.http.middleware import api_key_refusal

    offers: dict[str, dict[str, str]] = {
        "none": {},
        "basic": {"authorization": "Basic a2V5"},
        "wrong": {"x-api-key": "wrong"},
        "wrong bearer": {"authorization": "bearer wrong"},
        "right": {"x-api-key": KEY},
        "right bearer": {"authorization": f"Bearer {KEY}"},
    }
    for offer, headers in offers.items():
        refusal = api_key_refusal(headers, KEY.encode())
        if offer.startswith("right"):
            assert refusal is None, offer
        elif offer in ("none", "basic"):
            assert isinstance(refusal, MissingAPIKeyError), offer
        else:
            assert type(refusal) is UnauthorizedError, offer
        served = httpx.get(f"{keyed_server.url}/v1/models", headers=headers)
        documented = httpx.get(f"{keyed_server.url}/openapi.json", headers=headers)
        assert served.status_code == (200 if refusal is None else 401), offer
        # Without a key the document is the public one; a wrong key is refused as anywhere.
        assert documented.status_code == (401 if type(refusal) is UnauthorizedError else 200)
        full = "/v1/models/Odd.Model_v-2/predict" in documented.text
        assert full is (refusal is None), offer
