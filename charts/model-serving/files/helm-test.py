# `helm test` pods run this with the API image's python (standard library only):
#   helm-test.py api   the API is ready, lists models, and answers a prediction for each of them
#   helm-test.py ui    the UI's health endpoint answers through its Service
# Reads API_URL, UI_URL and API_KEY (optional) from the environment.
import json
import os
import sys
import time
import urllib.error
import urllib.request


def call(url, body=None, key=""):
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if key:
        headers["X-API-Key"] = key
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (http only)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def retry(check, attempts=30, pause=2.0):
    for attempt in range(1, attempts + 1):
        try:
            return check()
        except (AssertionError, OSError) as error:
            if attempt == attempts:
                raise
            print(f"attempt {attempt}: {error}; retrying", flush=True)
            time.sleep(pause)
    return None


def example(feature):
    if feature.get("default") is not None:
        return feature["default"]
    if feature["type"] == "categorical":
        return (feature.get("categories") or [None])[0]
    if feature["type"] == "boolean":
        return False
    low, high = feature.get("min"), feature.get("max")
    if low is not None and high is not None:
        return (low + high) / 2
    return None


def test_api():
    base = os.environ["API_URL"].rstrip("/")
    key = os.environ.get("API_KEY", "")

    def ready():
        status, body = call(f"{base}/readyz")
        assert status == 200, f"/readyz answered {status}: {body[:300]!r}"

    retry(ready)
    status, body = call(f"{base}/v1/models", key=key)
    assert status == 200, f"/v1/models answered {status}: {body[:300]!r}"
    models = json.loads(body)["models"]
    assert models, "the API serves no model"
    for model in models:
        status, body = call(f"{base}/v1/models/{model['name']}", key=key)
        assert status == 200, f"metadata of {model['name']} answered {status}: {body[:300]!r}"
        metadata = json.loads(body)
        instance = {f["name"]: example(f) for f in metadata["features"]}
        predict = f"{base}/v1/models/{model['name']}/predict"
        status, body = call(predict, {"instances": [instance]}, key)
        assert status == 200, f"predict on {model['name']} answered {status}: {body[:300]!r}"
        predictions = json.loads(body)["predictions"]
        assert len(predictions) == 1, f"expected one prediction, got {predictions!r}"
        print(f"ok: {model['name']} v{model['version']} -> {predictions[0]}", flush=True)
    if key:
        status, _ = call(f"{base}/v1/models")
        assert status == 401, f"a request without the API key answered {status}, not 401"
        print("ok: requests without the API key are refused", flush=True)


def test_ui():
    base = os.environ["UI_URL"].rstrip("/")

    def healthy():
        status, body = call(f"{base}/_stcore/health")
        assert status == 200, f"/_stcore/health answered {status}: {body[:300]!r}"
        print(f"ok: UI health {body[:50]!r}", flush=True)

    retry(healthy)


if __name__ == "__main__":
    {"api": test_api, "ui": test_ui}[sys.argv[1]]()
    print("passed", flush=True)
