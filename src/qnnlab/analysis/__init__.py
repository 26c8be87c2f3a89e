"""Analyses of QNNs: gradient-variance (barren plateau) scans and scaling fits."""

from qnnlab.analysis.fits import ScalingFits, fit_scaling
from qnnlab.analysis.variance import (
    TOY_THEORY,
    VarianceEstimate,
    VarianceScan,
    VarianceScanConfig,
    estimate_gradient_variance,
    gradient_samples,
    parse_qubits,
    sample_statistics,
    variance_scan,
)

__all__ = [
    "TOY_THEORY",
    "ScalingFits",
    "VarianceEstimate",
    "VarianceScan",
    "VarianceScanConfig",
    "estimate_gradient_variance",
    "fit_scaling",
    "gradient_samples",
    "parse_qubits",
    "sample_statistics",
    "variance_scan",
]
