# Init container of the API (api.models.source=download), run with the API image's python:
# downloads a .tar.gz of a model repository and extracts it into MODELS_DIR (an emptyDir).
# The archive's root is the repository root: <model>/<version>/{model.ubj,metadata.json}
# (make one with: tar czf models.tar.gz -C models .). Standard library only.
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

url = os.environ["MODELS_URL"]
expected = os.environ.get("MODELS_SHA256", "").strip().lower()
target = Path(os.environ.get("MODELS_DIR", "/models"))
timeout = float(os.environ.get("MODELS_TIMEOUT_SECONDS", "300"))

if not url.startswith(("https://", "http://")):
    sys.exit(f"fetch-models: MODELS_URL must be an http(s) URL, got {url!r}")
print(f"fetch-models: downloading {url}", flush=True)
digest = hashlib.sha256()
size = 0
target.mkdir(parents=True, exist_ok=True)
# The archive waits in the models volume itself (an unnamed file), whose size limit is the one the
# chart's api.models.download.sizeLimit sets, not in the small /tmp.
with tempfile.TemporaryFile(dir=target) as archive:
    # The scheme was checked above: only http(s), never file: or others.
    request = urllib.request.Request(url, headers={"User-Agent": "model-serving-fetch-models"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            archive.write(chunk)
            size += len(chunk)
    actual = digest.hexdigest()
    if expected and actual != expected:
        sys.exit(f"fetch-models: sha256 mismatch: expected {expected}, got {actual}")
    archive.seek(0)
    # A retried init container finds the previous attempt's files: start from an empty folder.
    for child in target.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    with tarfile.open(fileobj=archive, mode="r:gz") as tar:
        tar.extractall(target, filter="data")  # refuses absolute paths, .. and device files
bundles = sorted(str(p.parent.relative_to(target)) for p in target.rglob("metadata.json"))
if not bundles:
    sys.exit(f"fetch-models: the archive ({size} bytes) holds no bundle (no metadata.json)")
print(f"fetch-models: {size} bytes, sha256 {actual}, bundles: {', '.join(bundles)}", flush=True)
