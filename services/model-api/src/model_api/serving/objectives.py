"""Every objective XGBoost has: what the API answers for it, or why it refuses it.

One table drives packaging (a refused objective never becomes a bundle), the runtime (which
XGBoost output becomes the served value), ``/explain`` (the space SHAP contributions are in and
how that space maps to the served value), the UI's sentences and the docs' objectives table, so none of
them can tell a different story about a model.

SHAP contributions (XGBoost's ``pred_contribs``) always add up to the model's *margin*, the raw
sum of the trees. Only for identity links is that the served value; for the others the margin is
a log, a log-odds or a hinge score, and the table names it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from model_contract import MarginToValue, OutputSpace, Task

from model_api.errors import BundleError

if TYPE_CHECKING:
    import xgboost as xgb


@dataclass(frozen=True, slots=True)
class Objective:
    """What the API makes of one XGBoost objective."""

    name: str
    task: Task | None  # None: refused at packaging (``refusal`` says why)
    answers: str  # what a prediction holds, in a user's words (the docs' objectives table)
    margin_to_value: MarginToValue = "identity"
    output_space: OutputSpace = "value"
    # That space in words; {target} and {positive} are filled in per model.
    space_name: str = "{target}, in its own units"
    # XGBoost's own predict gives something else (a class index, a raw score): serve from margin.
    from_margin: bool = False
    refusal: str | None = None
    # Why evaluate (metrics against one column of actual values) would mislead for it.
    not_evaluated: str | None = None

    @property
    def probabilities(self) -> bool:
        """Whether the model gives class probabilities (hinge classifiers give only a label)."""
        return self.task in ("binary", "multiclass") and self.margin_to_value != "step"

    def space(self, target: str, positive: str) -> str:
        return self.space_name.format(target=target, positive=positive)


_RANKING = (
    "ranking scores only order the items of one query group against each other; the API scores "
    "rows one by one and would present them as values they are not"
)


def _log_link(
    name: str, answers: str, space_name: str, not_evaluated: str | None = None
) -> Objective:
    """A regression served as exp(margin): its explanation adds up to the log of the value."""
    return Objective(
        name, "regression", answers, "exp", "log", space_name, not_evaluated=not_evaluated
    )


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("reg:squarederror", "regression", "the predicted value"),
        Objective(
            "reg:linear",
            "regression",
            "as reg:squarederror (an old alias; XGBoost saves the model under the new name)",
        ),
        Objective(
            "reg:squaredlogerror",
            "regression",
            "the predicted value (XGBoost predicts the value itself; only the loss is on log1p)",
        ),
        Objective("reg:pseudohubererror", "regression", "the predicted value"),
        Objective("reg:absoluteerror", "regression", "the predicted value (a median estimate)"),
        Objective(
            "reg:quantileerror",
            "regression",
            "one value per quantile, named by its alpha (`q0.05`, `q0.5`, …)",
        ),
        Objective(
            "reg:logistic",
            "regression",
            "the predicted value, between 0 and 1",
            margin_to_value="sigmoid",
            output_space="logit",
            space_name="log-odds of the predicted {target}",
        ),
        _log_link(
            "reg:gamma",
            "the predicted value (the mean of a gamma distribution)",
            space_name="log of the predicted {target}",
        ),
        _log_link(
            "reg:tweedie",
            "the predicted value (the mean of a Tweedie distribution)",
            space_name="log of the predicted {target}",
        ),
        _log_link(
            "count:poisson",
            "the predicted count (the mean of a Poisson distribution)",
            space_name="log of the predicted count",
        ),
        _log_link(
            "survival:cox",
            "the hazard ratio: the risk relative to the baseline (above 1: higher risk)",
            space_name="log of the hazard ratio",
            not_evaluated="its answer is a hazard ratio, not a value of the target: errors "
            "against the actual times would mean nothing",
        ),
        _log_link(
            "survival:aft",
            "the predicted survival time",
            space_name="log of the predicted survival time",
            not_evaluated="its actual values are censored times (intervals), which one column "
            "cannot hold and these metrics do not take into account",
        ),
        Objective(
            "binary:logistic",
            "binary",
            "the label and both classes' probabilities",
            margin_to_value="sigmoid",
            output_space="margin",
            space_name="log-odds of {positive}",
        ),
        Objective(
            "binary:logitraw",
            "binary",
            "the label and both classes' probabilities (the sigmoid of XGBoost's raw score: the "
            "model was trained with the logistic loss)",
            margin_to_value="sigmoid",
            output_space="margin",
            space_name="log-odds of {positive}",
            from_margin=True,
        ),
        Objective(
            "binary:hinge",
            "binary",
            "the label only (the hinge loss gives no probabilities)",
            margin_to_value="step",
            output_space="margin",
            space_name="hinge score for {positive} (above 0 means {positive})",
        ),
        Objective(
            "multi:softmax",
            "multiclass",
            "the label and every class's probability (the softmax of the class scores, the loss "
            "it was trained with)",
            margin_to_value="softmax",
            output_space="margin",
            space_name="softmax score of the explained class",
            from_margin=True,
        ),
        Objective(
            "multi:softprob",
            "multiclass",
            "the label and every class's probability",
            margin_to_value="softmax",
            output_space="margin",
            space_name="softmax score of the explained class",
        ),
        Objective(
            "reg:expectileerror",
            None,
            "refused",
            refusal="its expectiles after the first are the previous one plus a softplus of a "
            "margin, so SHAP contributions cannot be stated in the predicted values; use "
            "reg:quantileerror for intervals",
        ),
        Objective("rank:ndcg", None, "refused", refusal=_RANKING),
        Objective("rank:pairwise", None, "refused", refusal=_RANKING),
        Objective("rank:map", None, "refused", refusal=_RANKING),
    )
}
# What metadata written before objectives were recorded means by its task.
DEFAULT_FOR_TASK: dict[str, str] = {
    "binary": "binary:logistic",
    "multiclass": "multi:softprob",
    "regression": "reg:squarederror",
}
# The same words for the explanation's link, for people and for the docs.
MARGIN_TO_VALUE_WORDS: dict[str, str] = {
    "identity": "the margin is the value",
    "exp": "value = exp(margin)",
    "sigmoid": "value = 1 / (1 + exp(-margin))",
    "softmax": "probability = softmax over the classes' margins",
    "step": "label = positive class when margin > 0",
}


@dataclass(frozen=True, slots=True)
class ModelObjective:
    """The objective of one trained model, with its number of outputs and quantile alphas."""

    objective: Objective
    outputs: int  # values per row: 1, or num_target of a multi-output regressor
    quantiles: list[float] | None  # reg:quantileerror: the alphas (one or more), in output order


def learner_config(booster: xgb.Booster) -> dict[str, Any]:
    learner: dict[str, Any] = json.loads(booster.save_config())["learner"]
    return learner


def model_objective(booster: xgb.Booster) -> ModelObjective:
    """The served objective of ``booster``; BundleError naming it when the API refuses it."""
    learner = learner_config(booster)
    name = learner["objective"]["name"]
    objective = OBJECTIVES.get(name)
    if objective is None:
        raise BundleError(
            f"objective {name!r} is not known to this server; it serves "
            + ", ".join(n for n, o in OBJECTIVES.items() if o.task is not None)
        )
    if objective.refusal is not None:
        raise BundleError(f"objective {name!r} is not served: {objective.refusal}")
    outputs = int(learner["learner_model_param"].get("num_target", "1") or 1)
    if outputs > 1 and objective.task != "regression":
        raise BundleError(
            f"objective {name!r} with {outputs} targets (multi-label classification) is not "
            "served; package one classifier per label"
        )
    quantiles = _quantile_alphas(learner) if name == "reg:quantileerror" else None
    # A quantile model names its outputs by their alphas, one alpha too: its value is that
    # quantile, not a mean, and the answer must say which.
    return ModelObjective(objective, outputs, quantiles)


def _quantile_alphas(learner: dict[str, Any]) -> list[float]:
    raw = learner["objective"].get("quantile_loss_param", {}).get("quantile_alpha", "[0.5]")
    parsed = json.loads(raw) if isinstance(raw, str) else raw
    alphas = [float(a) for a in (parsed if isinstance(parsed, list) else [parsed])]
    repeated = sorted({a for a in alphas if alphas.count(a) > 1})
    if repeated:
        raise BundleError(
            f"objective 'reg:quantileerror': quantile_alpha repeats {', '.join(map(str, repeated))};"
            " each quantile names one output"
        )
    return alphas


def quantile_name(alpha: float) -> str:
    """``q0.05`` for alpha 0.05: the output's name in every answer (shortest exact digits, so
    two alphas never share a name)."""
    return f"q{alpha!r}"


def readme_table() -> str:
    """The objectives table of the docs (docs/reference/objectives.md is generated from it)."""
    lines = [
        "| objective | the API answers | `/explain` adds up to (`output_space`) |",
        "|---|---|---|",
    ]
    for objective in OBJECTIVES.values():
        if objective.task is None:
            lines.append(f"| `{objective.name}` | refused at packaging: {objective.refusal} | — |")
            continue
        space = objective.space(target="*target*", positive="the positive class")
        link = MARGIN_TO_VALUE_WORDS[objective.margin_to_value]
        lines.append(
            f"| `{objective.name}` | {objective.task}: {objective.answers} | "
            f"{space} (`{objective.output_space}`; {link}) |"
        )
    return "\n".join(lines)
