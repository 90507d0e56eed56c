"""Authoring: making bundles (``save_bundle``), the example models, and the CLI's packaging
commands (``model-api bundle | validate | build-examples``). pandas and the example data are
imported here only; ``cli`` is its only importer, lazily, so ``model-api serve`` never loads it.
"""

from model_api.authoring.bundles import save_bundle
from model_api.authoring.mlflow_registry import log_bundle

__all__ = ["log_bundle", "save_bundle"]
