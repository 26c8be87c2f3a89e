"""Experiments: functions from a config to results on disk (one per paper figure, later)."""

from qnnlab.experiments.variance_run import VarianceRun, run_variance_scan, write_variance_scan

__all__ = ["VarianceRun", "run_variance_scan", "write_variance_scan"]
