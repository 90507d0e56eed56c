"""The contract between the model API and its clients: the words and the answers both sides use.

The API writes these answers and documents them (they are its OpenAPI response models); the UI
reads them. Declared once here, a field or a feature type the API gains is one the UI knows of,
and a test (tests/api/test_contract.py) checks the API's real answers against these models.

Readers are lenient: unknown fields are ignored, so an older UI reads a newer API.

What must never go in: FastAPI, Starlette, Streamlit, numpy, xgboost, pandas, or anything else
beyond pydantic. Both images install this package; the UI image must stay free of the API's
serving stack, and a client that only wants to read answers should not pull a model runtime.
"""

from model_contract.answers import (
    ExplainResponse,
    ExplanationSpace,
    Feature,
    FeedbackLink,
    ModelList,
    ModelMetadata,
    ModelSummary,
    Output,
    PredictResponse,
    RowExplanation,
    RowPrediction,
)
from model_contract.feedback import (
    MAX_AUTHOR,
    MAX_COMMENT,
    PREDICTION_ID_FORM,
    PREDICTION_ID_PATTERN,
    DailyAgreement,
    Feedback,
    FeedbackItem,
    FeedbackPage,
    FeedbackRequest,
    FeedbackResponse,
    FeedbackSummary,
    LoggedPrediction,
    Verdict,
    VersionAgreement,
    is_prediction_id,
)
from model_contract.vocabulary import (
    CSV_DELIMITERS,
    MISSING_V2_DATATYPE,
    NAME_PATTERN,
    V2_DATATYPES,
    FeatureType,
    MarginToValue,
    OutputSpace,
    Scalar,
    Task,
)

__all__ = [
    "CSV_DELIMITERS",
    "MAX_AUTHOR",
    "MAX_COMMENT",
    "MISSING_V2_DATATYPE",
    "NAME_PATTERN",
    "PREDICTION_ID_FORM",
    "PREDICTION_ID_PATTERN",
    "V2_DATATYPES",
    "DailyAgreement",
    "ExplainResponse",
    "ExplanationSpace",
    "Feature",
    "FeatureType",
    "Feedback",
    "FeedbackItem",
    "FeedbackLink",
    "FeedbackPage",
    "FeedbackRequest",
    "FeedbackResponse",
    "FeedbackSummary",
    "LoggedPrediction",
    "MarginToValue",
    "ModelList",
    "ModelMetadata",
    "ModelSummary",
    "Output",
    "OutputSpace",
    "PredictResponse",
    "RowExplanation",
    "RowPrediction",
    "Scalar",
    "Task",
    "Verdict",
    "VersionAgreement",
    "is_prediction_id",
]
