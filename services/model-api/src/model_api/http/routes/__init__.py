"""The routers: health and metrics, and the v1 and V2 metadata and health routes; the model
operations (predict, explain, infer) are registered into them by ``http.operations``."""
