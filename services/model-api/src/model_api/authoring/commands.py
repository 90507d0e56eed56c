"""The CLI's packaging commands: ``model-api bundle``, ``validate`` and ``build-examples``
(``cli`` parses the arguments and imports this module only when one of them runs)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from model_api.authoring import examples
from model_api.authoring.bundles import save_bundle
from model_api.errors import BundleError
from model_api.serving.registry import check_bundle


def build_examples(args: argparse.Namespace) -> int:
    built = examples.build_examples(Path(args.repository), force=args.force)
    for folder in built:
        print(f"built {folder}")
    if not built:
        print(f"example models already in {args.repository} (use --force to rebuild)")
    return 0


def bundle(args: argparse.Namespace) -> int:
    import pandas as pd

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


def validate(args: argparse.Namespace) -> int:
    try:
        metadata = check_bundle(args.path, repository=args.repository)
    except BundleError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    print(
        f"ok: {metadata.name} {metadata.version} ({metadata.task}, {len(metadata.features)} features)"
    )
    return 0
