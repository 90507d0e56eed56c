"""The admin API against the real API: off without its key, open only to that key (never the
client's), bundle archives uploaded, checked and served at once (a broken or unsafe one refused
with what serves unchanged), aliases set, moved and removed with promotion and rollback taking
effect at once, a version removed; and clients asking throughout get no failed request."""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from model_api.settings import Settings
from pydantic import ValidationError

from tests.api.test_live_repository import ROW, SPECIES, Hammer
from tests.support import Server, add_weak_species_version, start_api

ADMIN_KEY = "admin-key-for-the-tests-0123456789"  # pragma: allowlist secret
CLIENT_KEY = "client-key-for-the-tests"  # pragma: allowlist secret
ADMIN = {"X-Admin-Key": ADMIN_KEY}
CLIENT = {"X-API-Key": CLIENT_KEY}
TAR_GZ = {**ADMIN, "Content-Type": "application/gzip"}


def _archive(folder: Path, *, top: str | None = None) -> bytes:
    """A tar.gz of the bundle ``folder``'s files (in a folder ``top`` of the archive, if named)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name if top is None else f"{top}/{path.name}")
    return data.getvalue()


def _with_member(member: tarfile.TarInfo, content: bytes = b"") -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        tar.addfile(member, io.BytesIO(content) if member.isfile() else None)
    return data.getvalue()


@pytest.fixture
def repository(example_repository: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(example_repository, folder)
    return folder


@pytest.fixture
def weak_bundle(tmp_path: Path) -> Path:
    elsewhere = tmp_path / "elsewhere"
    add_weak_species_version(elsewhere, "2")
    return elsewhere / SPECIES / "2"


@pytest.fixture
def api(repository: Path, tmp_path: Path) -> Iterator[Server]:
    server = start_api(
        repository,
        tmp_path / "logs",
        MODEL_API_ADMIN_KEY=ADMIN_KEY,
        MODEL_API_API_KEY=CLIENT_KEY,
        MODEL_API_REPOSITORY_POLL_SECONDS="0.5",
    )
    yield server
    server.stop()


def _predict(api: Server, version: str | None = None) -> dict[str, Any]:
    path = f"/versions/{version}" if version else ""
    answer = httpx.post(
        f"{api.url}/v1/models/{SPECIES}{path}/predict",
        json={"instances": [ROW]},
        headers=CLIENT,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _admin(api: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", ADMIN)
    return httpx.request(method, f"{api.url}/v1/admin{path}", headers=headers, timeout=60, **kwargs)


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


def test_the_admin_api_is_off_without_its_key(api_server: Server) -> None:
    answer = httpx.get(f"{api_server.url}/v1/admin/models/{SPECIES}/aliases", timeout=10)
    assert "MODEL_API_ADMIN_KEY" in _error(answer, 404, "not_found")


def test_only_the_admin_key_opens_it(api: Server) -> None:
    path = f"/models/{SPECIES}/aliases"
    assert "X-Admin-Key" in _error(_admin(api, "GET", path, headers={}), 401, "unauthorized")
    # The client key opens the model endpoints, never the admin API, wherever it is sent.
    for headers in (CLIENT, {"X-Admin-Key": CLIENT_KEY}, {"Authorization": f"Bearer {ADMIN_KEY}"}):
        assert _admin(api, "GET", path, headers=headers).status_code == 401, headers
    answer = _admin(api, "GET", path)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "model": SPECIES, "default": None, "answering": "1", "aliases": {}, "versions": ["1"],
    }  # fmt: skip
    # And the admin key opens nothing else.
    refused = httpx.get(f"{api.url}/v1/models", headers=ADMIN, timeout=10)
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"MODEL_API_ADMIN_KEY": CLIENT_KEY, "MODEL_API_API_KEY": CLIENT_KEY}, "must differ"),
        ({"MODEL_API_ADMIN_KEY": "short"}, "at least 16 characters"),
    ],
)
def test_an_admin_key_that_would_be_weak_is_refused_at_start_up(
    change: dict[str, str], words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in change.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=words):
        Settings()


def test_an_uploaded_bundle_is_checked_written_and_served_at_once(
    api: Server, repository: Path, weak_bundle: Path
) -> None:
    first = _predict(api)
    with Hammer(api, headers=CLIENT) as hammer:
        answer = _admin(
            api, "POST", f"/models/{SPECIES}/versions/2", content=_archive(weak_bundle),
            headers=TAR_GZ,
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        uploaded = answer.json()
        assert (uploaded["version"], uploaded["replaced"], uploaded["answering"]) == (
            "2", False, "2",
        )  # fmt: skip
        # Served as soon as the answer came: no wait for the watcher.
        assert _predict(api)["version"] == "2"
        weak = _predict(api, "2")["predictions"][0]["probabilities"]
        assert weak != first["predictions"][0]["probabilities"]

        # The same version again: refused unless replacing; a bundle in a folder of the
        # archive is taken as well.
        again = _archive(repository / SPECIES / "1", top="bundle")
        path = f"/models/{SPECIES}/versions/2"
        assert "replace=true" in _error(
            _admin(api, "POST", path, content=again, headers=TAR_GZ), 409, "conflict"
        )
        replaced = _admin(api, "POST", path + "?replace=true", content=again, headers=TAR_GZ)
        assert replaced.status_code == 201 and replaced.json()["replaced"] is True
        assert (
            _predict(api, "2")["predictions"][0]["probabilities"]
            == (first["predictions"][0]["probabilities"])
        )

        # Taken out: served no more, at once.
        assert _admin(api, "DELETE", path).status_code == 204
        assert _predict(api)["version"] == "1"
    assert hammer.failures == [], hammer.failures[:3]
    assert not [p for p in (repository / SPECIES).iterdir() if p.name.startswith(".")]


def test_a_broken_bundle_is_refused_and_nothing_changes(
    api: Server, repository: Path, weak_bundle: Path
) -> None:
    model_file = weak_bundle / "model.ubj"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    answer = _admin(
        api, "POST", f"/models/{SPECIES}/versions/2", content=_archive(weak_bundle),
        headers=TAR_GZ,
    )  # fmt: skip
    message = _error(answer, 422, "invalid_input")
    assert message.startswith("the bundle is refused: ") and "hash mismatch" in message, message
    assert _predict(api)["version"] == "1"
    assert sorted(p.name for p in (repository / SPECIES).iterdir()) == ["1"]


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = tarfile.SYMTYPE, target
    return member


def _file(name: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.size = 2
    return member


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "words"),
    [
        (_with_member(_file("../escaped"), b"{}"), "application/gzip", 422, "invalid_input",
         "refused"),
        (_with_member(_file("/etc/escaped"), b"{}"), "application/gzip", 422, "invalid_input",
         "refused"),
        (_with_member(_symlink("metadata.json", "/etc/passwd")), "application/gzip", 422,
         "invalid_input", "refused"),
        (b"not an archive at all", "application/gzip", 422, "invalid_input", "not a readable tar"),
        (b"{}", "application/json", 415, "unsupported_media_type", "tar"),
    ],
)  # fmt: skip
def test_unsafe_or_unreadable_uploads_are_refused(
    api: Server,
    repository: Path,
    body: bytes,
    content_type: str,
    status: int,
    code: str,
    words: str,
) -> None:
    answer = _admin(
        api, "POST", f"/models/{SPECIES}/versions/3", content=body,
        headers={**ADMIN, "Content-Type": content_type},
    )  # fmt: skip
    assert words in _error(answer, status, code)
    assert sorted(p.name for p in (repository / SPECIES).iterdir()) == ["1"]
    assert not (repository.parent / "escaped").exists()


def test_aliases_promote_and_roll_back_at_once(
    api: Server, repository: Path, weak_bundle: Path
) -> None:
    upload = _admin(
        api, "POST", f"/models/{SPECIES}/versions/2", content=_archive(weak_bundle),
        headers=TAR_GZ,
    )  # fmt: skip
    assert upload.status_code == 201, upload.text
    aliases = f"/models/{SPECIES}/aliases"

    # Refused, naming the problem: a version that is not served, an alias named like a version.
    refused = _admin(api, "PUT", aliases, json={"default": "9", "aliases": {"production": "1"}})
    assert "'9' is not served" in _error(refused, 422, "invalid_input")
    refused = _admin(api, "PUT", aliases, json={"aliases": {"1": "2"}})
    assert "a version's name" in _error(refused, 422, "invalid_input")
    refused = _admin(api, "PUT", aliases, json={"aliases": {"bad name": "2"}})
    _error(refused, 422, "invalid_input")

    # Version 1 stays in production while 2 is the candidate.
    kept = _admin(
        api, "PUT", aliases,
        json={"default": "1", "aliases": {"production": "1", "candidate": "2"}},
    )  # fmt: skip
    assert kept.status_code == 200, kept.text
    assert kept.json()["answering"] == "1"
    assert _predict(api)["version"] == "1" and _predict(api, "candidate")["version"] == "2"
    saved = (repository / SPECIES / "aliases.json").read_text()
    assert '"candidate": "2"' in saved

    # Promoted: production and the default move to 2; rolled back: they move back.
    with Hammer(api, headers=CLIENT) as hammer:
        promoted = _admin(
            api, "PUT", aliases,
            json={"default": "2", "aliases": {"production": "2", "candidate": "2"}},
        )  # fmt: skip
        assert promoted.json()["answering"] == "2"
        assert _predict(api)["version"] == "2" and _predict(api, "production")["version"] == "2"
        moved = _admin(api, "PUT", f"{aliases}/production", json={"version": "1"})
        assert moved.status_code == 200 and moved.json()["aliases"]["production"] == "1"
        rolled_back = _admin(
            api, "PUT", aliases, json={"default": "1", "aliases": moved.json()["aliases"]}
        )
        assert rolled_back.json()["answering"] == "1"
        assert _predict(api)["version"] == "1"
    assert hammer.failures == [], hammer.failures[:3]

    # A version an alias names is not removed; once the alias is gone it is.
    version_2 = f"/models/{SPECIES}/versions/2"
    assert "candidate" in _error(_admin(api, "DELETE", version_2), 409, "conflict")
    removed = _admin(api, "DELETE", f"{aliases}/candidate")
    assert removed.status_code == 200 and "candidate" not in removed.json()["aliases"]
    assert _error(_admin(api, "DELETE", f"{aliases}/candidate"), 404, "model_not_found")
    assert _admin(api, "DELETE", version_2).status_code == 204
    listed = httpx.get(f"{api.url}/v1/models", headers=CLIENT, timeout=10).json()
    species = next(m for m in listed["models"] if m["name"] == SPECIES)
    assert species["versions"] == ["1"] and species["aliases"] == {"production": "1"}
