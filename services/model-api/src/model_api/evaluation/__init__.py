"""Evaluation: a model's answers on labelled rows judged against the actual values, with
scikit-learn's metrics, on every row and on slices of them. Knows nothing of HTTP, CSV or the
database: the protocol feeds it arrays and stores what it returns."""

from model_api.evaluation.judge import Judge, SliceFeature, gain_by_feature, slice_features

__all__ = ["Judge", "SliceFeature", "gain_by_feature", "slice_features"]
