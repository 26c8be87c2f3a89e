"""Scaling fits for gradient variances: exponential vs power law, and which one the data prefer.

Both models are straight lines after a logarithm, fitted by weighted least squares on
``y = ln Var`` with ``sigma_y = stderr / Var`` (delta method):

* exponential: ``Var = A * b^n``      <=>  ``ln Var = ln A + n ln b``   (barren plateau when b < 1)
* power law:   ``Var = A * n^(-p)``   <=>  ``ln Var = ln A - p ln n``   (polynomial decay)

Both have two parameters, so the better model is the one with the smaller weighted residual
``chi^2`` (equivalently the smaller AIC). The verdict is *decisive* when the AIC difference exceeds
``DECISIVE_DELTA_AIC`` (10: an evidence ratio ``exp(5) ~ 150``; Burnham & Anderson).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

DECISIVE_DELTA_AIC = 10.0


@dataclass(frozen=True)
class LineFit:
    """``y = intercept + slope * x`` with 1-sigma errors and goodness of fit."""

    model: str
    intercept: float
    slope: float
    intercept_err: float
    slope_err: float
    chi2: float
    dof: int
    aic: float
    r2: float

    def to_dict(self) -> dict:
        return asdict(self)


def weighted_line_fit(model: str, x, y, sigma) -> LineFit:
    """Weighted least squares for a straight line (closed form, covariance from the weights)."""
    x, y, sigma = (np.asarray(a, dtype=float) for a in (x, y, sigma))
    w = 1.0 / sigma**2
    design = np.stack([np.ones_like(x), x], axis=1)
    normal = design.T @ (w[:, None] * design)
    cov = np.linalg.inv(normal)
    coef = cov @ (design.T @ (w * y))
    resid = y - design @ coef
    chi2 = float(np.sum(w * resid**2))
    total = float(np.sum(w * (y - np.average(y, weights=w)) ** 2))
    dof = len(x) - 2
    # Scale the covariance by the reduced chi^2 when the scatter exceeds the error bars.
    scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    err = np.sqrt(np.diag(cov) * scale)
    return LineFit(
        model=model,
        intercept=float(coef[0]),
        slope=float(coef[1]),
        intercept_err=float(err[0]),
        slope_err=float(err[1]),
        chi2=chi2,
        dof=dof,
        aic=chi2 + 2 * 2,
        r2=1.0 - chi2 / total if total > 0 else 1.0,
    )


@dataclass(frozen=True)
class ScalingFits:
    """Both fits and the verdict."""

    exponential: LineFit
    power_law: LineFit
    better: str
    delta_aic: float
    decisive: bool

    @property
    def decay_base(self) -> float:
        """``b`` in ``Var ~ b^n`` (exponential model)."""
        return float(np.exp(self.exponential.slope))

    @property
    def power(self) -> float:
        """``p`` in ``Var ~ n^-p`` (power-law model)."""
        return float(-self.power_law.slope)

    def predict(self, model: str, n) -> np.ndarray:
        n = np.asarray(n, dtype=float)
        if model == "exponential":
            fit = self.exponential
            return np.exp(fit.intercept + fit.slope * n)
        fit = self.power_law
        return np.exp(fit.intercept + fit.slope * np.log(n))

    def to_dict(self) -> dict:
        return {
            "exponential": {
                **self.exponential.to_dict(),
                "formula": "Var = A * b^n",
                "A": float(np.exp(self.exponential.intercept)),
                "b": self.decay_base,
                "b_err": float(self.decay_base * self.exponential.slope_err),
            },
            "power_law": {
                **self.power_law.to_dict(),
                "formula": "Var = A * n^(-p)",
                "A": float(np.exp(self.power_law.intercept)),
                "p": self.power,
                "p_err": float(self.power_law.slope_err),
            },
            "better": self.better,
            "delta_aic": self.delta_aic,
            "decisive": self.decisive,
        }

    def summary(self) -> str:
        verdict = "decisively" if self.decisive else "marginally"
        return (
            f"exponential Var ~ {self.decay_base:.4g}^n (chi2={self.exponential.chi2:.3g}), "
            f"power law Var ~ n^-{self.power:.3g} (chi2={self.power_law.chi2:.3g}): "
            f"{self.better} fits {verdict} better (dAIC={self.delta_aic:.3g})"
        )


def fit_scaling(qubits, variance, stderr) -> ScalingFits:
    """Fit exponential and power-law decay to ``variance(qubits)`` with error bars ``stderr``.

    Raises:
        ValueError: fewer than 3 points, non-positive variances or error bars.
    """
    n = np.asarray(qubits, dtype=float)
    v = np.asarray(variance, dtype=float)
    se = np.asarray(stderr, dtype=float)
    if len(n) < 3:
        raise ValueError(
            f"need at least 3 qubit counts to compare two 2-parameter fits, got {len(n)}."
        )
    if np.any(v <= 0) or np.any(se <= 0) or not np.all(np.isfinite(v)):
        raise ValueError("variances and standard errors must be positive and finite to fit logs.")
    if np.any(n < 1):
        raise ValueError("qubit counts must be >= 1 for the power-law fit (log n).")
    y = np.log(v)
    sigma = se / v
    exp_fit = weighted_line_fit("exponential", n, y, sigma)
    pow_fit = weighted_line_fit("power_law", np.log(n), y, sigma)
    better = "exponential" if exp_fit.aic < pow_fit.aic else "power_law"
    delta = abs(exp_fit.aic - pow_fit.aic)
    return ScalingFits(exp_fit, pow_fit, better, float(delta), bool(delta > DECISIVE_DELTA_AIC))
