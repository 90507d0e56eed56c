"""Ready-to-copy requests for one model and one row: curl, Python (httpx) and V2 (OIP)."""

from __future__ import annotations

import json
from typing import Any

from model_contract import MISSING_V2_DATATYPE, V2_DATATYPES, Feature, ModelMetadata, Scalar

KEY_VARIABLE = "MODEL_API_KEY"


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def paths(metadata: ModelMetadata) -> dict[str, str]:
    """The model version's endpoints (as the API announces them, or built the same way)."""
    base = f"/v1/models/{metadata.name}/versions/{metadata.version}"
    return {
        "predict": metadata.endpoints.get("predict", f"{base}/predict"),
        "v2_infer": metadata.endpoints.get(
            "v2_infer", f"/v2/models/{metadata.name}/versions/{metadata.version}/infer"
        ),
    }


def _curl(url: str, content_type: str, key: bool, data: str) -> str:
    """A POST with curl: the URL, its Content-Type, the key from the shell when needed, the data."""
    lines = [f"curl -sS -X POST {_shell_quote(url)}", f"  -H 'Content-Type: {content_type}'"]
    if key:
        lines.append(f'  -H "X-API-Key: ${KEY_VARIABLE}"')
    lines.append(f"  {data}")
    return " \\\n".join(lines)


def _v2_datatype(feature: Feature, value: Scalar) -> str:
    """The feature's V2 datatype; a missing integer or boolean goes as FP32 null."""
    if value is None and feature.type in ("integer", "boolean"):
        return MISSING_V2_DATATYPE
    return V2_DATATYPES[feature.type]


def v2_request(metadata: ModelMetadata, row: dict[str, Scalar]) -> dict[str, Any]:
    """An Open Inference Protocol request: one [1]-shaped input per feature."""
    inputs = []
    for feature in metadata.features:
        value = row.get(feature.name)
        if feature.type == "integer" and isinstance(value, float):
            value = round(value)
        inputs.append(
            {
                "name": feature.name,
                "shape": [1],
                "datatype": _v2_datatype(feature, value),
                "data": [value],
            }
        )
    return {"inputs": inputs}


def curl_predict(base_url: str, metadata: ModelMetadata, row: dict[str, Scalar], key: bool) -> str:
    body = json.dumps({"instances": [row]})
    url = base_url + paths(metadata)["predict"]
    return _curl(url, "application/json", key, f"-d {_shell_quote(body)}")


def curl_csv(base_url: str, metadata: ModelMetadata, key: bool) -> str:
    url = base_url + paths(metadata)["predict"]
    return _curl(url, "text/csv", key, "--data-binary @rows.csv -o scored.csv")


def _python_literal(value: Scalar) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def python_predict(
    base_url: str, metadata: ModelMetadata, row: dict[str, Scalar], key: bool
) -> str:
    fields = "".join(
        f"            {json.dumps(name)}: {_python_literal(value)},\n"
        for name, value in row.items()
    )
    headers = f'    headers={{"X-API-Key": os.environ["{KEY_VARIABLE}"]}},\n' if key else ""
    imports = "import os\n\nimport httpx\n" if key else "import httpx\n"
    return (
        f"{imports}\n"
        "response = httpx.post(\n"
        f'    "{base_url}{paths(metadata)["predict"]}",\n'
        '    json={"instances": [\n'
        "        {\n"
        f"{fields}"
        "        },\n"
        "    ]},\n"
        f"{headers}"
        "    timeout=10,\n"
        ")\n"
        "response.raise_for_status()\n"
        'print(response.json()["predictions"][0])\n'
    )


def curl_v2(base_url: str, metadata: ModelMetadata, row: dict[str, Scalar], key: bool) -> str:
    body = json.dumps(v2_request(metadata, row))
    url = base_url + paths(metadata)["v2_infer"]
    return _curl(url, "application/json", key, f"-d {_shell_quote(body)}")
