"""Command line: ``model-api serve | migrate | build-examples | bundle | validate``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from model_api.http.app import create_app
    from model_api.http.server import server_config
    from model_api.observability.logs import configure_logging
    from model_api.settings import Settings

    overrides = {
        k: v
        for k, v in {
            "host": args.host,
            "port": args.port,
            "model_repository": args.repository,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    configure_logging(settings.log_level)
    uvicorn.Server(server_config(create_app(settings), settings)).run()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    """Apply the database migrations (MODEL_API_DATABASE_URL, else SQLite in MODEL_API_DATA_DIR)."""
    from model_api.http.app import masked_url
    from model_api.settings import Settings
    from model_api.store import migrate

    overrides = {"data_dir": args.data_dir} if args.data_dir is not None else {}
    settings = Settings(**overrides)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.database_url_value
    migrate(url)
    print(f"database migrated: {masked_url(url)}")
    return 0


def _authoring(command: str) -> Callable[[argparse.Namespace], int]:
    """The packaging command ``command`` of ``authoring.commands``, imported when it runs (it
    brings pandas, which ``serve`` never needs)."""

    def run(args: argparse.Namespace) -> int:
        from model_api.authoring import commands

        result: int = getattr(commands, command)(args)
        return result

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (settings from MODEL_API_* variables)")
    serve.add_argument("--repository", type=Path, help="model repository folder")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)

    migrate = commands.add_parser(
        "migrate",
        help="apply the prediction log's database migrations and exit (MODEL_API_DATABASE_URL, "
        "else SQLite in MODEL_API_DATA_DIR)",
    )
    migrate.add_argument("--data-dir", type=Path, help="folder of the SQLite database")
    migrate.set_defaults(func=_migrate)

    examples = commands.add_parser("build-examples", help="train the penguin example models")
    examples.add_argument("--repository", default="models")
    examples.add_argument("--force", action="store_true", help="rebuild even when present")
    examples.set_defaults(func=_authoring("build_examples"))

    bundle = commands.add_parser("bundle", help="package a saved model and a sample CSV")
    bundle.add_argument("--model", required=True, help="model file (.ubj or .json)")
    bundle.add_argument("--sample", required=True, help="CSV sample of the training features")
    bundle.add_argument("--name", required=True)
    bundle.add_argument("--version", default="1")
    bundle.add_argument(
        "--target",
        action="append",
        help="target column (dropped from the sample if present); repeat it for each target of "
        "a multi-target regressor, in model order",
    )
    bundle.add_argument("--task", choices=["binary", "multiclass", "regression"])
    bundle.add_argument("--class-labels", help="comma-separated class names, index order")
    bundle.add_argument(
        "--categories",
        action="append",
        metavar="NAME=VALUES",
        help="a categorical feature's categories in code order, for a model that does not store "
        'them: NAME=A,B,C or NAME=["A","B, C"] (JSON); repeatable',
    )
    bundle.add_argument(
        "--categories-file",
        type=Path,
        help='JSON file {"feature": ["A", "B"], ...}: categories in code order, any names',
    )
    bundle.add_argument(
        "--categorical",
        nargs="*",
        help="columns to read as categories (the model's own categorical features always are)",
    )
    bundle.add_argument("--description")
    bundle.add_argument("--output", required=True, help="bundle folder to write")
    bundle.set_defaults(func=_authoring("bundle"))

    validate = commands.add_parser("validate", help="check a bundle folder as the server loads it")
    validate.add_argument("path", type=Path)
    validate.add_argument(
        "--repository",
        type=Path,
        help="model repository it is served from (its files may be symlinks anywhere inside)",
    )
    validate.set_defaults(func=_authoring("validate"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
