# Init container of the API (api.models.source=download), run with the API image's python:
# downloads a .tar.gz of a model repository and extracts it into MODELS_DIR (an emptyDir).
# The archive's root is the repository root: <model>/<version>/{model.ubj,metadata.json}
# (make one with: tar czf models.tar.gz -C models .). Standard library only.
#
# Environment, set by templates/api/deployment.yaml from api.models.download:
#   MODELS_URL                     http(s) URL of the archive (url)
#   MODELS_SHA256                  its SHA-256 (sha256); required unless the next one is "true"
#   MODELS_INSECURE_SKIP_CHECKSUM  "true" = accept an archive nobody vouched for (insecureSkipChecksum)
#   MODELS_SIZE_LIMIT              the models emptyDir's sizeLimit (sizeLimit): the archive and its
#                                  extracted files share that volume, so together they must fit
#   MODELS_TIMEOUT_SECONDS         deadline of the whole download: connect, headers, every read
#                                  (timeoutSeconds)
#   MODELS_DIR                     where the repository goes (/models)
from __future__ import annotations

import contextlib
import decimal
import hashlib
import http.client
import os
import re
import shutil
import signal
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
# Disk usage is counted in allocation blocks: a 1-byte file or an empty folder still takes one, so an
# archive of many tiny members cannot fill the volume while its byte count looks small.
BLOCK = 4096
# Kubernetes quantity suffixes (the chart's schema allows these for sizeLimit).
SUFFIXES = {
    "": 1, "m": decimal.Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
    "Ei": 2**60,
}  # fmt: skip
QUANTITY = re.compile(
    r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?(m|k|M|G|T|P|E|[KMGTPE]i)?"
)
NO_CHECKSUM = (
    "no checksum given: set api.models.download.sha256 (MODELS_SHA256) to the archive's SHA-256 "
    "(`sha256sum models.tar.gz`), or accept an unchecked archive by name with "
    "api.models.download.insecureSkipChecksum: true (MODELS_INSECURE_SKIP_CHECKSUM=true)"
)


class FetchError(Exception):
    """Why the init container fails, printed as one line (the pod then never starts without models)."""


@dataclass(frozen=True)
class Settings:
    url: str
    sha256: str  # empty only when the user opted out of the check by name
    size_limit: str  # as the user wrote it, for messages
    max_bytes: int
    deadline_seconds: float
    target: Path

    @classmethod
    def from_environment(cls) -> Settings:
        url = os.environ.get("MODELS_URL", "")
        if not url.startswith(("https://", "http://")):
            raise FetchError(f"MODELS_URL must be an http(s) URL, got {url!r}")
        sha256 = os.environ.get("MODELS_SHA256", "").strip().lower()
        if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise FetchError(f"MODELS_SHA256 must be 64 hexadecimal digits, got {sha256!r}")
        if not sha256 and os.environ.get("MODELS_INSECURE_SKIP_CHECKSUM", "") != "true":
            raise FetchError(NO_CHECKSUM)
        size_limit = os.environ.get("MODELS_SIZE_LIMIT", "").strip()
        return cls(
            url=url,
            sha256=sha256,
            size_limit=size_limit,
            max_bytes=quantity_bytes(size_limit),
            deadline_seconds=deadline_seconds(os.environ.get("MODELS_TIMEOUT_SECONDS", "300")),
            target=Path(os.environ.get("MODELS_DIR", "/models")),
        )

    def over_cap(self, what: str) -> FetchError:
        return FetchError(
            f"{what}: over the size cap of {self.size_limit} ({self.max_bytes} bytes, "
            "api.models.download.sizeLimit, which the archive and its extracted files share); "
            "raise the limit or make the archive smaller"
        )


def quantity_bytes(text: str) -> int:
    """Bytes of a Kubernetes quantity such as ``512Mi``, ``1G`` or ``1.073741824e+09``, rounded up."""
    match = QUANTITY.fullmatch(text)
    if not match:
        raise FetchError(
            f"MODELS_SIZE_LIMIT must be a Kubernetes quantity such as 1Gi, got {text!r}"
        )
    number, exponent, suffix = match.groups()
    value = decimal.Decimal(number).scaleb(int(exponent or 0)) * SUFFIXES[suffix or ""]
    size = int(value.to_integral_value(rounding=decimal.ROUND_CEILING))
    if size <= 0:
        raise FetchError(f"MODELS_SIZE_LIMIT must be more than 0 bytes, got {text!r}")
    return size


def deadline_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise FetchError(
            f"MODELS_TIMEOUT_SECONDS must be a number of seconds above 0, got {text!r}"
        )
    return seconds


def blocks(size: int) -> int:
    """Bytes of disk a file of ``size`` bytes takes (at least one block)."""
    return max(1, -(-size // BLOCK)) * BLOCK


@contextlib.contextmanager
def deadline(seconds: float, message: str) -> Iterator[None]:
    """Raise ``FetchError(message)`` once the block has run ``seconds``.

    A socket timeout bounds each read only: a server sending a byte a second never trips it. The
    alarm interrupts whatever blocks (connect, TLS handshake, headers, body) when time is up.
    """

    def expire(signum: int, frame: object) -> None:
        raise FetchError(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def download(settings: Settings, archive: BinaryIO) -> tuple[int, str]:
    """Stream the archive into ``archive`` within the deadline and the size cap: (bytes, sha256)."""
    digest = hashlib.sha256()
    size = 0
    late = (
        f"the download of {settings.url} did not finish within its deadline of "
        f"{settings.deadline_seconds:g} s (api.models.download.timeoutSeconds)"
    )
    # The scheme was checked: only http(s), never file: or others.
    request = urllib.request.Request(  # noqa: S310
        settings.url, headers={"User-Agent": "model-serving-fetch-models"}
    )
    try:
        with (
            deadline(settings.deadline_seconds, late),
            urllib.request.urlopen(request, timeout=settings.deadline_seconds) as response,  # noqa: S310
        ):
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > settings.max_bytes:
                raise settings.over_cap(f"the archive is {declared} bytes (its Content-Length)")
            while chunk := response.read(CHUNK):
                size += len(chunk)
                if size > settings.max_bytes:
                    raise settings.over_cap(f"the archive passed {settings.max_bytes} bytes")
                digest.update(chunk)
                archive.write(chunk)
    except (OSError, http.client.HTTPException) as error:  # URLError and HTTPError are OSErrors
        raise FetchError(f"the download of {settings.url} failed: {error}") from error
    return size, digest.hexdigest()


def empty(target: Path) -> None:
    """A retried init container finds the previous attempt's files: start from an empty folder."""
    for child in target.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def extract(settings: Settings, archive: BinaryIO, archive_size: int) -> None:
    """Unpack the safe members, refusing the first one that would pass the size cap."""
    used = blocks(archive_size)  # the archive stays in the volume while it unpacks

    def safe_and_within_cap(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        nonlocal used
        member = tarfile.data_filter(member, path)  # refuses absolute paths, .. and device files
        used += blocks(member.size)
        if used > settings.max_bytes:
            raise settings.over_cap(f"unpacking {member.name!r} would fill {used} bytes")
        return member

    try:
        with tarfile.open(fileobj=archive, mode="r:gz") as tar:
            # The filter is tarfile.data_filter plus the size cap.
            tar.extractall(settings.target, filter=safe_and_within_cap)  # noqa: S202
    except tarfile.FilterError as error:
        raise FetchError(f"the archive holds an unsafe member: {error}") from error
    except (tarfile.TarError, OSError, EOFError) as error:  # EOFError: a truncated gzip stream
        raise FetchError(f"the archive is not a readable .tar.gz: {error}") from error


def fetch(settings: Settings) -> None:
    print(f"fetch-models: downloading {settings.url}", flush=True)
    settings.target.mkdir(parents=True, exist_ok=True)
    # The archive waits in the models volume itself (an unnamed file), whose size limit is the one
    # the chart's api.models.download.sizeLimit sets, not in the small /tmp.
    with tempfile.TemporaryFile(dir=settings.target) as archive:
        size, actual = download(settings, archive)
        if settings.sha256 and actual != settings.sha256:
            raise FetchError(f"sha256 mismatch: expected {settings.sha256}, got {actual}")
        archive.seek(0)
        empty(settings.target)
        extract(settings, archive, size)
    target = settings.target
    bundles = sorted(str(p.parent.relative_to(target)) for p in target.rglob("metadata.json"))
    if not bundles:
        raise FetchError(f"the archive ({size} bytes) holds no bundle (no metadata.json)")
    checked = "checked" if settings.sha256 else "NOT checked (insecureSkipChecksum)"
    print(
        f"fetch-models: {size} bytes, sha256 {actual} {checked}, bundles: {', '.join(bundles)}",
        flush=True,
    )


def main() -> None:
    try:
        fetch(Settings.from_environment())
    except FetchError as error:
        sys.exit(f"fetch-models: {error}")


if __name__ == "__main__":
    main()
