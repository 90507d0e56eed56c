"""The documentation site builds without a warning, the README's links land on its pages, and the
generated reference pages are complete. One strict build per module, into a temporary folder."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import ROOT

README = ROOT / "README.md"
HOOKS = ROOT / "docs" / "_scripts" / "reference_hooks.py"
README_MAX_LINES = 160
# A link target in Markdown: ](target) with no spaces in the target.
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    """The MkDocs hook module, loaded from its file as MkDocs loads it."""
    spec = importlib.util.spec_from_file_location("reference_hooks", HOOKS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mkdocs build --strict`` of the real site: any warning (a broken link or anchor, a page
    left out of the navigation, an undocumented Helm value) fails it."""
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return target


def page_of(site: Path, doc: str) -> Path:
    """The built HTML of ``docs/<doc>.md`` (MkDocs writes ``a/b.md`` to ``a/b/index.html``)."""
    stem = doc.removesuffix(".md")
    if stem == "index" or stem.endswith("/index"):
        return site / stem.removesuffix("index") / "index.html"
    return site / stem / "index.html"


def readme_links() -> list[str]:
    return LINK.findall(README.read_text(encoding="utf-8"))


def test_site_builds_strict_and_every_marker_is_replaced(site: Path) -> None:
    pages = list(site.rglob("*.html"))
    assert len(pages) > 30, sorted(p.name for p in pages)
    leftovers = [p for p in pages if "<!-- generated:" in p.read_text(encoding="utf-8")]
    assert leftovers == []


def test_readme_links_into_the_docs_land_on_built_pages(site: Path) -> None:
    into_docs = [link for link in readme_links() if link.startswith("docs/")]
    assert len(into_docs) >= 20, into_docs  # the README's table of contents is made of them
    for link in into_docs:
        path, _, anchor = link.removeprefix("docs/").partition("#")
        if not path.endswith(".md"):
            assert (ROOT / "docs" / path).is_file(), link
            continue
        page = page_of(site, path)
        assert page.is_file(), f"README links to {link}, which the site does not have"
        if anchor:
            assert f'id="{anchor}"' in page.read_text(encoding="utf-8"), link


def test_readme_links_to_repository_files_exist() -> None:
    local = [
        link.partition("#")[0]
        for link in readme_links()
        if not link.startswith(("http://", "https://", "docs/"))
    ]
    assert local, "the README links to CHANGELOG.md at least"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert missing == []


def test_readme_stays_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_objectives_page_lists_every_objective(site: Path, hooks: ModuleType) -> None:
    objectives = importlib.import_module(hooks.SOURCES["objectives"].partition(":")[0])
    page = page_of(site, "reference/objectives.md").read_text(encoding="utf-8")
    rows = re.findall(r"<tr>\s*<td><code>([^<]+)</code></td>", page)
    assert rows == list(objectives.OBJECTIVES)


def test_a_helm_value_without_a_comment_fails_the_build(hooks: ModuleType, tmp_path: Path) -> None:
    schema = tmp_path / "values.schema.json"
    schema.write_text('{"properties": {"api": {"properties": {"port": {"type": "integer"}}}}}')
    values = tmp_path / "values.yaml"
    values.write_text(
        "# The API.\napi:\n  # -- Port the API\n  # listens on.\n  port: 8000\n  replicas: 1\n"
    )
    with pytest.raises(hooks.PluginError, match=r"`api\.replicas` has no `# --` comment"):
        hooks.helm_values_tables(values, schema)
    values.write_text("# The API.\napi:\n  # -- Port the API\n  # listens on.\n  port: 8000\n")
    tables = hooks.helm_values_tables(values, schema)
    assert "| `api.port` | integer | `8000` | Port the API listens on. |" in tables
    assert "The API." in tables


def test_a_setting_without_a_description_fails_the_build(hooks: ModuleType) -> None:
    from pydantic import Field
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Described(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="DEMO_")
        size_bytes: int = Field(2048, ge=1024, description="How big, <in bytes>.")

    class Undescribed(Described):
        port: int = 1

    assert hooks.settings_table(Described).splitlines()[2] == (
        "| `DEMO_SIZE_BYTES` | integer (≥ 1024) | `2048` (2 KiB) | How big, &lt;in bytes&gt;. |"
    )
    with pytest.raises(hooks.PluginError, match=r"Undescribed\.port has no description"):
        hooks.settings_table(Undescribed)


def test_the_readme_save_bundle_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's Python example, as a user pastes it after training a model."""
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    example = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert example is not None and "save_bundle(" in example.group(1)
    rng = np.random.default_rng(0)
    X_train = pd.DataFrame(
        {
            "tenure_months": rng.integers(1, 72, 1200),
            "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], 1200)),
        }
    )
    churned = (X_train["tenure_months"] < 12).astype(int)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, enable_categorical=True)
    model.fit(X_train, churned)
    monkeypatch.chdir(tmp_path)
    exec(example.group(1), {"model": model, "X_train": X_train})  # noqa: S102
    from model_api.cli import main

    assert main(["validate", "models/churn/1"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith("ok: churn 1 (binary, 2 features)")
