"""MkDocs hook: the reference tables that would drift if written by hand, generated from the code.

A page asks for a table with a marker line such as ``<!-- generated: api-settings -->``; the hook
replaces it at build time. A marker nobody generates, a setting without a description and a Helm
value without a ``# --`` comment fail the build, so ``mkdocs build --strict`` is also a check.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import importlib
import io
import json
import os
import re
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from mkdocs.exceptions import PluginError

# Where every generated table is read from: the only lines to change when a module moves (issue
# 13 moves metrics to model_api.observability.metrics and objectives to model_api.serving).
SOURCES = {
    "api-settings": "model_api.settings:Settings",
    "ui-settings": "model_ui.settings:UISettings",
    "metrics": "model_api.observability.metrics",
    "objectives": "model_api.serving.objectives:readme_table",
    "api-cli": "model_api.cli:build_parser",
    "ui-cli": "model_ui.cli:command",
}
ROOT = Path(__file__).resolve().parents[2]
HELM_VALUES = ROOT / "charts" / "model-serving" / "values.yaml"
HELM_SCHEMA = ROOT / "charts" / "model-serving" / "values.schema.json"

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
ENV_NAME = re.compile(r"\bMODEL_(?:API|UI)_[A-Z_]*\*?")
# argparse wraps to the terminal; a fixed width keeps the pages the same on every machine.
HELP_COLUMNS = "100"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each marker line of a page by its generated table."""
    return MARKER.sub(lambda marker: generate(marker.group(1)), markdown)


def generate(name: str) -> str:
    generators: dict[str, Callable[[], str]] = {
        "api-settings": lambda: settings_table(load("api-settings")),
        "ui-settings": lambda: settings_table(load("ui-settings")),
        "metrics": lambda: metrics_table(load("metrics")),
        "objectives": lambda: str(load("objectives")()),
        "api-cli": api_cli_help,
        "ui-cli": ui_cli_help,
        "helm-values": helm_values_tables,
    }
    if name not in generators:
        raise PluginError(f"<!-- generated: {name} -->: no such table; known: {sorted(generators)}")
    return generators[name]()


def load(source: str) -> Any:
    module_name, _, attribute = SOURCES[source].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def prose(text: str) -> str:
    """Text from the code as Markdown: code spans kept, ``<name>`` and pipes shown literally,
    environment variable names as code."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    for index in range(0, len(parts), 2):  # the even parts are outside code spans
        plain = html.escape(parts[index], quote=False).replace("|", "\\|")
        parts[index] = ENV_NAME.sub(lambda name: f"`{name.group(0)}`", plain)
    return "".join(parts)


def code(value: str) -> str:
    return f"`{value}`" if value else "(empty)"


# --- settings ------------------------------------------------------------------------------

TYPE_WORDS = {
    int: "integer",
    float: "number",
    str: "text",
    bool: "boolean",
    Path: "path",
}


def type_words(annotation: Any) -> str:
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(code(str(a)) for a in arguments)
    if origin in (typing.Union, types.UnionType):
        kinds = [type_words(a) for a in arguments if a is not type(None)]
        return " or ".join(kinds) + (", or unset" if type(None) in arguments else "")
    if origin is list:
        return f"JSON list of {type_words(arguments[0])}"
    if annotation in TYPE_WORDS:
        return TYPE_WORDS[annotation]
    return "secret text" if getattr(annotation, "__name__", "") == "SecretStr" else str(annotation)


def bounds(metadata: list[Any]) -> str:
    """``≥ 1024``-style limits from pydantic's constraints (annotated-types)."""
    symbols = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    found = [
        f"{symbol} {getattr(item, name)}"
        for item in metadata
        for name, symbol in symbols.items()
        if getattr(item, name, None) is not None
    ]
    return f" ({', '.join(found)})" if found else ""


def default_words(name: str, value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return code(str(value).lower())
    if isinstance(value, list):
        return code(json.dumps(value))
    if isinstance(value, int) and name.endswith("bytes") and value >= 1024 and value % 1024 == 0:
        size = f"{value // 1048576} MiB" if value % 1048576 == 0 else f"{value // 1024} KiB"
        return f"{code(str(value))} ({size})"
    return code(str(value))


def settings_table(settings_class: Any) -> str:
    """One row per field of a pydantic-settings class: its variable, type, default, meaning."""
    prefix = settings_class.model_config.get("env_prefix", "")
    rows = []
    for name, field in settings_class.model_fields.items():
        if not field.description:
            raise PluginError(f"{settings_class.__name__}.{name} has no description")
        default = field.default_factory() if field.default_factory else field.default
        rows.append(
            [
                code(prefix + name.upper()),
                type_words(field.annotation) + bounds(field.metadata),
                default_words(name, default),
                prose(field.description),
            ]
        )
    return table(["variable", "type", "default", "meaning"], rows)


# --- metrics -------------------------------------------------------------------------------


def metrics_table(module: types.ModuleType) -> str:
    """Every metric the module declares, in declaration order, as Prometheus exposes it."""
    from prometheus_client.metrics import MetricWrapperBase

    rows: list[list[str]] = []
    for value in vars(module).values():
        if isinstance(value, MetricWrapperBase):
            kind = str(value._type)
            name = f"{value._name}_total" if kind == "counter" else value._name
            labels = ", ".join(value._labelnames)
            rows.append([code(name), kind, labels, prose(value._documentation)])
    if not rows:
        raise PluginError(f"{module.__name__} declares no Prometheus metric")
    return table(["metric", "type", "labels", "meaning"], rows)


# --- command lines -------------------------------------------------------------------------


def help_output(show: Callable[[], object]) -> str:
    """What ``show`` prints for ``--help`` (argparse prints it, then exits)."""
    output = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        with contextlib.redirect_stdout(output), contextlib.suppress(SystemExit):
            show()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return output.getvalue().rstrip()


def fenced(title: str, text: str) -> str:
    return f"## `{title}`\n\n```text\n{text}\n```"


def api_cli_help() -> str:
    parser: argparse.ArgumentParser = load("api-cli")()
    sections = [fenced(parser.prog, help_output(parser.print_help))]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                sections.append(fenced(f"{parser.prog} {name}", help_output(command.print_help)))
    return "\n\n".join(sections)


def ui_cli_help() -> str:
    command = load("ui-cli")
    return fenced("model-ui", help_output(lambda: command(["--help"])))


# --- Helm values ---------------------------------------------------------------------------

KEY_LINE = re.compile(r"^(\s*)([A-Za-z0-9_.-]+):(?:\s|$)")


def helm_comments(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """Per dotted key: its ``# --`` description (with the comment lines that follow it), and
    the plain comment above a key that has none (a section's introduction)."""
    described: dict[str, str] = {}
    sections: dict[str, str] = {}
    block: list[str] = []
    parents: list[tuple[int, str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            block.append(stripped.removeprefix("#").strip())
            continue
        match = KEY_LINE.match(line)
        if match:
            indent, key = len(match.group(1)), match.group(2)
            while parents and parents[-1][0] >= indent:
                parents.pop()
            path = ".".join([*(k for _, k in parents), key])
            parents.append((indent, key))
            starts = [i for i, comment in enumerate(block) if comment.startswith("--")]
            if starts:
                described[path] = " ".join(block[starts[0] :]).removeprefix("--").strip()
            elif block:
                sections[path] = " ".join(block)
        block = []
    return described, sections


def schema_type(schema: dict[str, Any], path: str) -> str | None:
    for key in path.split("."):
        schema = schema.get("properties", {}).get(key, {})
    kind = schema.get("type")
    if kind is None:
        return None
    words = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if "enum" in schema:
        words += ": " + ", ".join(str(v) for v in schema["enum"])
    return words


def yaml_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return "object" if isinstance(value, dict) else names.get(type(value), "null")


def helm_rows(
    values: dict[str, Any],
    prefix: str,
    comments: tuple[dict[str, str], dict[str, str]],
    schema: dict[str, Any],
) -> Iterator[list[str]]:
    """helm-docs' rule: a key with a ``# --`` comment is a row; a map without one is a section
    whose keys must all have one; a documented map is one row unless its own keys are documented.
    """
    described, sections = comments
    for key, value in values.items():
        path = prefix + key
        section = isinstance(value, dict) and bool(value)
        if path not in described and not section:
            raise PluginError(
                f"Helm values: `{path}` has no `# --` comment; document every value in values.yaml"
            )
        expanded = section and (
            path not in described or any(f"{path}.{k}" in described for k in value)
        )
        if path in described or path in sections:
            kind = schema_type(schema, path) or yaml_type(value)
            default = "(its keys below)" if expanded else code(json.dumps(value))
            text = described.get(path) or sections[path]
            yield [code(path), kind, default, prose(text)]
        if expanded:
            yield from helm_rows(value, f"{path}.", comments, schema)


def helm_values_tables(values_file: Path = HELM_VALUES, schema_file: Path = HELM_SCHEMA) -> str:
    """One table per top-level key of the chart's values.yaml, introduced by its comment."""
    text = values_file.read_text(encoding="utf-8")
    values = yaml.safe_load(text)
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    comments = helm_comments(text)
    header = ["key", "type", "default", "description"]
    top = {k: v for k, v in values.items() if not (isinstance(v, dict) and v)}
    parts = ["## Top level", table(header, list(helm_rows(top, "", comments, schema)))]
    for key, value in values.items():
        if key in top:
            continue
        parts.append(f"## `{key}`")
        intro = comments[1].get(key) or comments[0].get(key)
        if intro:
            parts.append(prose(intro))
        rows = list(helm_rows(value, f"{key}.", comments, schema))
        parts.append(table(header, rows))
    return "\n\n".join(parts)
