"""The answers of evaluation: a model judged on labelled data (``POST .../evaluate``), and the
stored runs (``GET /v1/models/{name}/evaluations``, ``GET /v1/evaluations/{id}``).

Every metric is scikit-learn's definition, computed by scikit-learn on the model's own answers
for the rows that could be scored. A metric that is not defined for the data (ROC AUC when only
one class occurs, log loss for a model without probabilities) is null, with the reason in
``notes``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from model_contract.answers import _EveryFieldSent

# The metric ``headline`` names: accuracy (classifiers) or RMSE (regression, the median
# quantile of a quantile model).
HeadlineName = Literal["accuracy", "rmse"]


class Headline(_EveryFieldSent):
    """The one number to read first."""

    name: HeadlineName
    value: float | None
    higher_is_better: bool


class ClassMetrics(_EveryFieldSent):
    """One class as ``sklearn.metrics.precision_recall_fscore_support`` sees it."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int = Field(description="Rows whose actual class is this one.")


class CalibrationBin(_EveryFieldSent):
    """Rows whose predicted probability fell in [lower, upper) (the last bin includes 1)."""

    lower: float
    upper: float
    rows: int
    mean_predicted: float = Field(description="The mean predicted probability in the bin.")
    observed: float = Field(description="The share of the bin's rows where it came true.")


class Calibration(_EveryFieldSent):
    """A reliability table, binned as ``sklearn.calibration.calibration_curve`` bins (uniform,
    10 bins); empty bins are left out."""

    kind: Literal["positive_class", "top_label"] = Field(
        description="positive_class: P(positive class) against how often it was the actual class "
        "(binary models); top_label: the probability of the predicted class against how often "
        "the prediction was right (multiclass)."
    )
    label: str | None = Field(None, description="positive_class: the class.")
    bins: list[CalibrationBin]


class ClassificationMetrics(_EveryFieldSent):
    labels: list[str] = Field(description="The model's classes, in the order of the tables.")
    accuracy: float
    balanced_accuracy: float
    log_loss: float | None = Field(description="Null for a model without probabilities.")
    roc_auc: float | None = Field(
        description="Binary: of the positive class; multiclass: one-vs-rest, macro average."
    )
    per_class: list[ClassMetrics]
    confusion_matrix: list[list[int]] = Field(
        description="Rows: the actual class, columns: the predicted one, both in `labels` order."
    )
    calibration: Calibration | None


class QuantileMetrics(_EveryFieldSent):
    """One output of a quantile model."""

    output: str
    alpha: float
    coverage: float = Field(description="The share of rows whose actual value is at most it.")
    pinball_loss: float


class IntervalCoverage(_EveryFieldSent):
    """A central interval between two quantile outputs."""

    lower: str
    upper: str
    nominal: float = Field(description="upper's alpha minus lower's.")
    coverage: float = Field(description="The share of rows whose actual value is inside it.")


class RegressionMetrics(_EveryFieldSent):
    output: str | None = Field(
        description="The output the point metrics are of: a quantile model's quantile nearest "
        "the median, or the target named; null for a single-output model."
    )
    rmse: float
    mae: float
    r2: float | None = Field(description="Null when the actual values are all the same.")
    residual_quantiles: dict[str, float] = Field(
        description="Quantiles of actual minus predicted, by name (q0.05 ... q0.95)."
    )
    quantiles: list[QuantileMetrics] | None = Field(description="Quantile models only.")
    intervals: list[IntervalCoverage] | None = Field(description="Quantile models only.")


class Slice(_EveryFieldSent):
    """The rows of one value of a categorical (or boolean) feature, or of one range of a numeric
    one, with the headline metric on them."""

    feature: str
    kind: Literal["category", "range", "missing"]
    value: str = Field(description="The category, or the range as [lower, upper).")
    lower: float | None = None
    upper: float | None = None
    rows: int
    metric: float | None
    difference: float | None = Field(description="metric minus the metric on every row.")


class FailedRow(_EveryFieldSent):
    row: int = Field(
        description="The data row's number (1: the first row after the header; feedback: the "
        "judged prediction's, oldest first)."
    )
    error: str


class EvaluationSummary(_EveryFieldSent):
    """A stored evaluation run, without its tables."""

    id: str | None = Field(description="The stored run's id; null when it was not stored.")
    model: str
    version: str
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    source: Literal["csv", "feedback"] = Field(
        description="csv: an uploaded file; feedback: the judged predictions of the prediction log."
    )
    target: str
    data_sha256: str = Field(
        description="SHA-256 of the uploaded file's bytes (feedback: of the judged predictions' "
        "ids, verdicts and actual answers)."
    )
    rows: int = Field(description="Data rows read.")
    scored: int = Field(description="Rows scored and judged.")
    failed: int = Field(description="Rows that could not be scored or judged.")
    headline: Headline


class EvaluationResponse(EvaluationSummary):
    """A model judged on labelled data."""

    failed_rows: list[FailedRow] = Field(description="The first failed rows (at most 100).")
    classification: ClassificationMetrics | None
    regression: RegressionMetrics | None
    slices: list[Slice] = Field(
        description="Worst first: the values of each categorical feature and the quartile ranges "
        "of the most important numeric features, each of at least 10 rows."
    )
    notes: list[str] = Field(description="Why a metric is null, or what was left out.")


class EvaluationList(_EveryFieldSent):
    evaluations: list[EvaluationSummary] = Field(description="Newest first.")


class CompareDifference(_EveryFieldSent):
    """The headline metric of the other minus this one's, with a paired bootstrap interval."""

    metric: HeadlineName
    value: float | None = Field(description="The other's metric minus this one's.")
    lower: float | None = Field(description="The interval's lower end.")
    upper: float | None = Field(description="The interval's upper end.")
    confidence: float = Field(description="The interval's confidence level (0.95).")
    resamples: int = Field(description="Bootstrap resamples of the judged rows (paired).")
    better: str | None = Field(
        description="`<model>@<version>` of the better one when the interval leaves out 0; "
        "null when the data cannot tell them apart."
    )


class Disagreement(_EveryFieldSent):
    row: int = Field(description="The data row's number (1: the first row after the header).")
    actual: str | float
    answers: list[str | float] = Field(description="This one's answer, then the other's.")


class Disagreements(_EveryFieldSent):
    rows: int = Field(description="Judged rows where the two answers differ.")
    share: float | None = Field(description="rows / judged rows.")
    tolerance: float | None = Field(
        description="Regression: answers further apart than this differ (default a tenth of the "
        "actual values' standard deviation); null for classifiers (a different class)."
    )
    listed: list[Disagreement] = Field(description="The first disagreeing rows (at most 100).")


class ComparisonResponse(_EveryFieldSent):
    """Two models (or two versions of one) judged on the same labelled rows."""

    model: str
    version: str
    other_model: str
    other_version: str
    target: str
    data_sha256: str
    rows: int = Field(description="Data rows read.")
    scored: int = Field(description="Rows both scored and judged.")
    failed: int
    failed_rows: list[FailedRow]
    evaluations: list[EvaluationResponse] = Field(
        description="This one's evaluation, then the other's (each stored as a run)."
    )
    difference: CompareDifference
    disagreements: Disagreements


class EvaluationProgress(_EveryFieldSent):
    """How far a labelled file's evaluation (or comparison) has got: one line of the progress
    stream sent for ``Accept: application/x-ndjson``."""

    rows: int = Field(description="Data rows read and judged so far.")
    fraction: float = Field(description="The share of the file read so far, 0 to 1.")
    stage: Literal["scoring", "metrics"] = Field(
        description="scoring: the rows are being read and scored; metrics: every row is read "
        "and the metrics (for compare, the bootstrap interval) are being computed."
    )


class StreamedError(_EveryFieldSent):
    """An error found after a progress stream has started (its status line already sent)."""

    status: int = Field(description="The HTTP status the plain request would have answered.")
    code: str
    message: str
    details: list[dict[str, object]]
