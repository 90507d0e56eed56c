"""Model API: serves packaged XGBoost models over a typed REST API and the Open Inference Protocol."""

__version__ = "0.1.0"
