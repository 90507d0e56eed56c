"""Command line: ``model-api serve | build-examples | bundle | validate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


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


def _build_examples(args: argparse.Namespace) -> int:
    from model_api.authoring.examples import build_examples

    built = build_examples(Path(args.repository), force=args.force)
    for folder in built:
        print(f"built {folder}")
    if not built:
        print(f"example models already in {args.repository} (use --force to rebuild)")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    import pandas as pd

    from model_api.errors import BundleError
    from model_api.serving.bundle import save_bundle

    try:
        categories = _given_categories(args.categories or [], args.categories_file)
        booster = _read_model(args.model)
        # Category values are read as text, as the API receives them ("01" stays "01").
        text_columns = {
            *_model_categorical_features(booster),
            *categories,
            *(args.categorical or []),
        }
        sample = pd.read_csv(args.sample, dtype=dict.fromkeys(text_columns, str))
        targets: list[str] = args.target or ["target"]
        present = [t for t in targets if t in sample.columns]
        # The target's values (all targets' for a multi-target model) give the drift deciles.
        target = sample[present] if len(present) > 1 else sample[present[0]] if present else None
        sample = sample.drop(columns=present)
        metadata = save_bundle(
            booster,
            sample,
            args.output,
            name=args.name,
            version=args.version,
            target=targets[0] if len(targets) == 1 else targets,
            class_labels=args.class_labels.split(",") if args.class_labels else None,
            task=args.task,
            description=args.description,
            target_sample=target,
            model_format="json" if args.model.endswith(".json") else "ubj",
            categories=categories,
        )
    except (BundleError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote bundle {args.output} ({metadata.task}, {len(metadata.features)} features)")
    return 0


def _read_model(path: str) -> Any:
    import xgboost as xgb

    try:
        return xgb.Booster(model_file=path)
    except xgb.core.XGBoostError as exc:
        raise ValueError(f"{path} is not a model XGBoost {xgb.__version__} can load") from exc


def _model_categorical_features(booster: Any) -> list[str]:
    names, types = booster.feature_names or [], booster.feature_types or []
    return [name for name, kind in zip(names, types, strict=False) if kind == "c"]


def _given_categories(pairs: list[str], file: Path | None) -> dict[str, list[str]]:
    """``--categories NAME=A,B,C`` or ``NAME=["A", "B, with comma"]`` (repeatable), and a JSON
    file ``{"name": ["A", "B"]}`` for any names."""
    given: dict[str, list[str]] = {}
    if file is not None:
        loaded = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict) or not all(isinstance(v, list) for v in loaded.values()):
            raise ValueError(f"{file}: expected a JSON object of category lists")
        given.update({str(k): [str(c) for c in v] for k, v in loaded.items()})
    for pair in pairs:
        name, equals, values = pair.partition("=")
        if not equals or not name:
            raise ValueError(f"--categories {pair!r}: expected NAME=A,B,C or NAME=[JSON list]")
        if values.lstrip().startswith("["):
            listed = json.loads(values)
            if not isinstance(listed, list):
                raise ValueError(f"--categories {pair!r}: expected a JSON list after '='")
            given[name] = [str(c) for c in listed]
        else:
            given[name] = values.split(",")
    return given


def _validate(args: argparse.Namespace) -> int:
    from model_api.errors import BundleError
    from model_api.serving.registry import check_bundle

    try:
        metadata = check_bundle(args.path, repository=args.repository)
    except BundleError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    print(
        f"ok: {metadata.name} {metadata.version} ({metadata.task}, {len(metadata.features)} features)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (settings from MODEL_API_* variables)")
    serve.add_argument("--repository", type=Path, help="model repository folder")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)

    examples = commands.add_parser("build-examples", help="train the penguin example models")
    examples.add_argument("--repository", default="models")
    examples.add_argument("--force", action="store_true", help="rebuild even when present")
    examples.set_defaults(func=_build_examples)

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
    bundle.set_defaults(func=_bundle)

    validate = commands.add_parser("validate", help="check a bundle folder as the server loads it")
    validate.add_argument("path", type=Path)
    validate.add_argument(
        "--repository",
        type=Path,
        help="model repository it is served from (its files may be symlinks anywhere inside)",
    )
    validate.set_defaults(func=_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
