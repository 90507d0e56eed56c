"""Command line: ``model-api serve | build-examples | bundle | validate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from model_api.logs import configure_logging
    from model_api.main import create_app
    from model_api.server import server_config
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
    from model_api.examples import build_examples

    built = build_examples(Path(args.repository), force=args.force)
    for folder in built:
        print(f"built {folder}")
    if not built:
        print(f"example models already in {args.repository} (use --force to rebuild)")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    import pandas as pd
    import xgboost as xgb

    from model_api.bundle import save_bundle

    sample = pd.read_csv(args.sample)
    target = None
    if args.target and args.target in sample.columns:
        target = sample.pop(args.target)
    for column in args.categorical or []:
        sample[column] = sample[column].astype("category")
    booster = xgb.Booster(model_file=args.model)
    if booster.feature_names:
        missing = [f for f in booster.feature_names if f not in sample.columns]
        if missing:
            print(
                f"error: sample lacks the model's features: {', '.join(missing)}", file=sys.stderr
            )
            return 2
        sample = sample[list(booster.feature_names)]
    metadata = save_bundle(
        booster,
        sample,
        args.output,
        name=args.name,
        version=args.version,
        target=args.target or "target",
        class_labels=args.class_labels.split(",") if args.class_labels else None,
        description=args.description,
        target_sample=target if target is not None and args.task in (None, "regression") else None,
        model_format="json" if args.model.endswith(".json") else "ubj",
    )
    print(f"wrote bundle {args.output} ({metadata.task}, {len(metadata.features)} features)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from model_api.bundle import load_bundle
    from model_api.errors import BundleError

    try:
        metadata, _ = load_bundle(args.path)
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
    bundle.add_argument("--target", help="target column (dropped from the sample if present)")
    bundle.add_argument("--task", choices=["binary", "multiclass", "regression"])
    bundle.add_argument("--class-labels", help="comma-separated class names, index order")
    bundle.add_argument("--categorical", nargs="*", help="columns to treat as categorical")
    bundle.add_argument("--description")
    bundle.add_argument("--output", required=True, help="bundle folder to write")
    bundle.set_defaults(func=_bundle)

    validate = commands.add_parser("validate", help="check a bundle folder")
    validate.add_argument("path", type=Path)
    validate.set_defaults(func=_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
