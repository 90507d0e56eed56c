"""``log_bundle``: a bundle (as ``save_bundle`` writes it) logged to an MLflow tracking server and
registered as a new version of a registered model, which ``model-api`` can then serve by
following an alias (``MODEL_API_MLFLOW_MODELS``, ``models:/<name>@<alias>``)."""

from __future__ import annotations

from pathlib import Path

from model_api.serving.registry import check_bundle

ARTIFACT_PATH = "bundle"


def log_bundle(
    bundle: str | Path,
    registered_model: str,
    *,
    alias: str | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
) -> str:
    """Log the bundle folder ``bundle`` as the artifacts of a new run (under ``bundle/``) and
    register them as a new version of ``registered_model`` (created when it does not exist);
    with ``alias``, point that alias at it. Returns the new model version.

    The bundle is checked first, exactly as the server checks one: a bundle the server would
    refuse is never registered. ``tracking_uri``: the server (default: MLflow's own
    ``MLFLOW_TRACKING_URI``); ``experiment``: the experiment of the run (default: MLflow's).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    folder = Path(bundle)
    metadata = check_bundle(folder)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment_id = "0"
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(
        experiment_id,
        tags={
            "model_serving_stack.model": metadata.name,
            "model_serving_stack.version": metadata.version,
            "model_serving_stack.model_sha256": metadata.model_sha256,
        },
    )
    try:
        client.log_artifacts(run.info.run_id, str(folder), artifact_path=ARTIFACT_PATH)
    except Exception:
        client.set_terminated(run.info.run_id, status="FAILED")
        raise
    client.set_terminated(run.info.run_id)
    try:
        client.create_registered_model(registered_model)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(
        registered_model,
        source=f"{run.info.artifact_uri}/{ARTIFACT_PATH}",
        run_id=run.info.run_id,
        tags={"model_serving_stack.model_sha256": metadata.model_sha256},
    )
    if alias is not None:
        client.set_registered_model_alias(registered_model, alias, version.version)
    return str(version.version)
