"""Training building blocks: fidelity costs, classification losses, splits, the fit loop and a
scikit-learn style QCNN classifier."""

from qnnlab.training.costs import (
    COSTS,
    AffineCost,
    build_cost,
    global_fidelity_cost,
    local_fidelity_cost,
)
from qnnlab.training.estimator import NotFittedError, QCNNClassifier
from qnnlab.training.fit import (
    FitResult,
    SeedsResult,
    evaluate,
    fit,
    fit_seeds,
    init_params,
    predict_expvals,
    shot_estimate,
)
from qnnlab.training.losses import LOSSES, accuracy, bce_loss, get_loss, mse_loss, probabilities
from qnnlab.training.splits import train_val_test_split

__all__ = [
    "COSTS",
    "LOSSES",
    "AffineCost",
    "FitResult",
    "NotFittedError",
    "QCNNClassifier",
    "SeedsResult",
    "accuracy",
    "bce_loss",
    "build_cost",
    "evaluate",
    "fit",
    "fit_seeds",
    "get_loss",
    "global_fidelity_cost",
    "init_params",
    "local_fidelity_cost",
    "mse_loss",
    "predict_expvals",
    "probabilities",
    "shot_estimate",
    "train_val_test_split",
]
