"""``model-ui``: start the Streamlit UI against any model API.

    model-ui --api-url http://localhost:8000 --port 8501

The options of ``services/ui/.streamlit/config.toml`` are passed to Streamlit as flags, so they
hold whatever the working directory (Streamlit itself only reads ``./.streamlit/config.toml``).
Arguments it does not know are handed to ``streamlit run`` unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

APP = Path(__file__).resolve().parent / "app.py"
SOURCE_CONFIG = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"


def default_config() -> Path | None:
    """The service's config.toml: next to the sources, else in the working directory."""
    for candidate in (SOURCE_CONFIG, Path.cwd() / ".streamlit" / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def _flag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def config_flags(path: Path) -> list[str]:
    """``--section.option=value`` for every option of a Streamlit config.toml."""
    flags: list[str] = []

    def walk(prefix: str, table: dict[str, Any]) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                walk(f"{prefix}{key}.", value)
            else:
                flags.append(f"--{prefix}{key}={_flag_value(value)}")

    with path.open("rb") as handle:
        walk("", tomllib.load(handle))
    return flags


def command(argv: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line and environment for these arguments."""
    parser = argparse.ArgumentParser(
        prog="model-ui", description="Start the Streamlit UI of the model serving stack."
    )
    parser.add_argument("--api-url", help="model API base URL (default: $MODEL_UI_API_URL)")
    parser.add_argument("--port", type=int, help="port to serve on (default: config, 8501)")
    parser.add_argument("--address", help="interface to bind (0.0.0.0 in containers)")
    parser.add_argument("--config", type=Path, help="Streamlit config.toml to apply as flags")
    args, rest = parser.parse_known_args(argv)
    environment = dict(os.environ)
    if args.api_url:
        environment["MODEL_UI_API_URL"] = args.api_url
    config = args.config or default_config()
    flags = config_flags(config) if config else []
    if args.port:
        flags.append(f"--server.port={args.port}")
    if args.address:
        flags.append(f"--server.address={args.address}")
    return [sys.executable, "-m", "streamlit", "run", str(APP), *flags, *rest], environment


def main(argv: list[str] | None = None) -> None:
    """Replace this process by Streamlit (signals then reach Streamlit directly)."""
    arguments, environment = command(argv)
    os.execve(sys.executable, arguments, environment)  # noqa: S606


if __name__ == "__main__":
    main()
